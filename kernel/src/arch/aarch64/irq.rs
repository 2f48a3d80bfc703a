//! Interrupt masking, waiting for an interrupt, and the IRQ handler.
//!
//! The kernel is not preemptible (as in seL4): IRQs are unmasked only
//! while it waits for one and in user mode, so an IRQ never finds the
//! kernel holding a lock and the handler may log. The same handler serves
//! IRQs taken in the kernel and in user mode (which then enter the core on
//! a tick, see [`super::user`]). FIQs stay masked in the kernel (nothing
//! is routed to them); SErrors are unmasked once the vectors are in
//! place, so that an asynchronous abort is reported rather than left
//! pending.
//!
//! `aarch64-cpu`'s register accessors are not compiler barriers (their
//! `asm!` is `nomem`), so masking and unmasking add compiler fences:
//! memory accesses inside a masked section stay inside it.

use super::vectors::TrapFrame;
use super::{gic, timer};
use aarch64_cpu::asm::{self, barrier};
use aarch64_cpu::registers::{DAIF, ReadWriteable, Readable, Writeable};
use core::sync::atomic::{Ordering, compiler_fence};

/// PSTATE.I in a saved SPSR.
const SPSR_I: u64 = 1 << 7;

/// Unmask IRQs on this CPU.
pub fn enable() {
    compiler_fence(Ordering::SeqCst);
    DAIF.modify(DAIF::I::Unmasked);
}

/// Mask IRQs on this CPU.
pub fn disable() {
    DAIF.modify(DAIF::I::Masked);
    compiler_fence(Ordering::SeqCst);
}

/// Whether an IRQ is pending at this CPU, masked or not (`ISR_EL1.I`):
/// the kernel's preemption points ask (spec: SYS-16).
pub fn pending() -> bool {
    let isr: u64;
    // SAFETY: reading ISR_EL1 at EL1 has no side effect.
    unsafe { core::arch::asm!("mrs {}, isr_el1", out(reg) isr, options(nomem, nostack)) };
    isr & (1 << 7) != 0
}

/// Unmask SErrors (the vectors must be installed).
pub fn unmask_serror() {
    DAIF.modify(DAIF::A::Unmasked);
}

/// Sleep until an interrupt arrives, and let it be taken.
///
/// `wfi` wakes on a pending interrupt whether or not IRQs are masked, so a
/// caller may mask, check its condition, and call this without losing an
/// interrupt that arrives in between. Here IRQs are masked around the
/// `wfi`, then unmasked briefly (the `isb` makes the change take effect,
/// so the pending interrupt is taken right there), and the caller's mask
/// state is restored.
///
/// With no periodic tick (broken firmware: no GIC or timer found) nothing
/// may ever wake the CPU, so it only pauses: callers that poll the clock
/// then finish instead of hanging.
pub fn wait_for_interrupt() {
    if !timer::is_running() {
        core::hint::spin_loop();
        return;
    }
    let saved = DAIF.get();
    disable();
    asm::wfi();
    enable();
    barrier::isb(barrier::SY);
    compiler_fence(Ordering::SeqCst);
    DAIF.set(saved);
    compiler_fence(Ordering::SeqCst);
}

/// What [`handle`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    /// Nothing to do for the caller (spurious, or dealt with here).
    Nothing,
    /// The periodic tick (already counted).
    Tick,
    /// A device interrupt on this line, already disabled at the GIC and
    /// ended (spec: IRQ-8): the object core is to signal it.
    Line(u64),
}

/// The IRQ handler (IRQs masked): acknowledge, handle, end.
///
/// Without a GIC driver nothing can acknowledge the interrupt, and it
/// would be taken again as soon as the handler returns, forever; the
/// interrupted code resumes with IRQs masked instead (`frame`'s saved
/// PSTATE.I), and user mode runs with them masked from then on (see
/// [`user_spsr_mask`]).
pub fn handle(frame: &mut TrapFrame) -> Taken {
    let Some(gic) = gic::get() else {
        frame.spsr |= SPSR_I;
        log::warn!("irq: interrupt without an interrupt controller: IRQs left masked");
        return Taken::Nothing;
    };
    let Some(ack) = gic.acknowledge() else {
        return Taken::Nothing; // spurious: another agent took it, or it went away
    };
    let taken = if Some(ack.intid) == timer::intid() {
        timer::on_interrupt();
        Taken::Tick
    } else if lines::handed_out(u64::from(ack.intid)) {
        // Disabled before the end of interrupt, so that a level-triggered
        // line still asserted is not taken again (spec: IRQ-8).
        crate::irq::delivered(u64::from(ack.intid));
        Taken::Line(u64::from(ack.intid))
    } else {
        // Nothing else is enabled on purpose; keep a stray source quiet.
        gic.disable(ack.intid);
        log::warn!("irq: unexpected interrupt {}: disabled", ack.intid);
        Taken::Nothing
    };
    gic.end(ack);
    taken
}

/// Device interrupt lines for user space (see `crate::irq`): GIC
/// interrupt IDs from 32 (the SPIs) below the number the distributor
/// implements; the SGIs and PPIs (0 … 31) are reserved (spec: IRQ-1).
pub mod lines {
    use super::gic::{self, Trigger};
    use abi::irq::{AARCH64_FIRST_SPI, TRIGGER_LEVEL};

    /// How many lines the platform has (0 without a GIC).
    pub fn count() -> u64 {
        gic::get().map_or(0, |g| u64::from(g.lines()))
    }

    /// Whether `line` is reserved (an SGI or a PPI).
    pub fn reserved(line: u64) -> bool {
        line < AARCH64_FIRST_SPI
    }

    /// Whether `line` may be claimed by user space.
    pub fn handed_out(line: u64) -> bool {
        !reserved(line) && line < count()
    }

    /// Configure `line` with the trigger word of IRQControl Get (bit 0:
    /// level) and enable it.
    pub fn unmask(line: u64, trigger: u64) {
        if let Some(g) = gic::get().filter(|_| handed_out(line)) {
            let t = if trigger & TRIGGER_LEVEL != 0 {
                Trigger::Level
            } else {
                Trigger::Edge
            };
            g.enable_spi(line as u32, t);
        }
    }

    /// Whether `line` is disabled, read back from the distributor
    /// (`None` for a line not handed out): the checking kernel compares
    /// it with the line's state (INV-36).
    #[cfg(feature = "check")]
    pub fn is_masked(line: u64) -> Option<bool> {
        let g = gic::get().filter(|_| handed_out(line))?;
        Some(!g.is_enabled(line as u32))
    }

    /// Disable `line`.
    pub fn mask(line: u64) {
        if let Some(g) = gic::get().filter(|_| handed_out(line)) {
            g.disable(line as u32);
        }
    }
}

/// The PSTATE bits user mode runs with masked: none, or I when there is no
/// interrupt controller to acknowledge an interrupt with (see [`handle`]).
pub fn user_spsr_mask() -> u64 {
    if gic::get().is_some() { 0 } else { SPSR_I }
}
