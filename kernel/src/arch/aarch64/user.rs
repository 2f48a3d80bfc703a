//! aarch64 side of the user-mode boundary (`crate::user`): EL0 and its
//! address spaces.
//!
//! # Address spaces
//!
//! User address spaces live in the lower half and are walked through
//! `TTBR0_EL1` (`TCR_EL1`: T0SZ = 16, 4 KiB granule, inner/outer
//! write-back, inner shareable, as `entry` programs them). `TCR_EL1.A1`
//! is 0, so `TTBR0_EL1` also carries the current ASID; user mappings are
//! non-global (nG), the kernel's own upper-half mappings are global. The
//! walks through `TTBR0_EL1`, off since entry (see [`super::paging`]),
//! are on exactly while an address space is current: from the first
//! [`activate`] with a VSpace on, and off again for a thread without one
//! (ASID 0). Without an address space there is no table worth walking,
//! and leaving walks on with `TTBR0_EL1` pointing anywhere else (physical
//! 0, say) would let a walk, even a speculative one, read whatever is
//! there as page tables.
//!
//! ASIDs are 16 bits wide when `ID_AA64MMFR0_EL1.ASIDBits` says so
//! (`TCR_EL1.AS` = 1); every VSpace's ASID (1 … 65535, spec: ASID-1) is
//! then its hardware tag, and switching address spaces is one register
//! write. A CPU with only 8-bit ASIDs cannot tag 16-bit ones, so there
//! every address space runs under hardware ASID 0 and [`activate`] drops
//! the whole TLB whenever it changes `TTBR0_EL1`: correct, only slower.
//!
//! # The EL0 environment
//!
//! [`init`] sets up what EL0 may touch, and the rest is as `entry` left
//! it:
//! - FP/SIMD (and SVE, SME) trap at EL0 (`CPACR_EL1.FPEN` = 0b01: EL1 may
//!   use them, EL0 may not): user FP is not supported yet, and the
//!   registers hold whatever the kernel last computed in them, so they
//!   must stay out of reach. A user FP/SIMD instruction is a
//!   `UserException` fault with EC 0x07. User programs must therefore be
//!   built without FP/SIMD code (`aarch64-unknown-none-softfloat`, or
//!   `-C target-feature=-neon,-fp-armv8`).
//! - `SCTLR_EL1` traps EL0's cache maintenance by VA (`UCI` = 0), reads of
//!   `CTR_EL0` (`UCT` = 0), `DAIF` access (`UMA` = 0), `DC ZVA` (`DZE` =
//!   0), `WFI` and `WFE` (`nTWI` = `nTWE` = 0); each traps with EC 0x18 or
//!   0x01 and becomes a `UserException` fault. EL0 is little-endian and
//!   its stack pointer is alignment-checked (`SA0`). `WXN` stays on: a
//!   user page that is writable is never executable at EL0 (a fetch from
//!   it is an instruction-abort permission fault); the core's W^X rule
//!   (spec: VM-5, INV-33) never asks for such a page anyway. Every page
//!   writable at EL0 is also never executable at EL1 (the architecture's
//!   rule), and the core sets PXN on every user page.
//! - `CNTKCTL_EL1` lets EL0 read the virtual counter only (a clock, as
//!   `rdtsc` on x86_64) and denies it the physical counter and every timer
//!   (above all the EL1 physical timer that drives the tick); `MDSCR_EL1.TDCC` denies it
//!   the debug communication channel (a covert channel between threads);
//!   `PMUSERENR_EL0` = 0 denies it the performance monitors.
//! - PSTATE at EL0 is EL0t (AArch64, `SP_EL0`) with D, A, I, F clear: only
//!   the condition flags come from the thread's context (spec: ABI-10,
//!   [`abi::context::aarch64::sanitise_spsr`]). EL0 in AArch32 is never
//!   entered (`SPSR.M[4]` is always 0). The one exception: without an
//!   interrupt controller, user mode runs with I set, as nothing could
//!   acknowledge an interrupt (see [`irq::handle`]).
//!
//! # Traps from EL0
//!
//! Exceptions from EL0 arrive through the "lower EL, AArch64" entries of
//! the vector table (8 … 11) with the usual [`TrapFrame`] on the kernel
//! stack, which is the boot stack, empty at that moment: [`enter_user`]
//! resets `SP_EL1` to `KERNEL_STACK_TOP` and every return to EL0 unwinds
//! the frame again. [`synchronous`], [`irq`] and [`serror`] turn the frame
//! into a [`Context`] (adding `TPIDR_EL0` and `TPIDRRO_EL0`, which the
//! frame does not hold), call [`crate::user::from_user`], and write the
//! context it hands back (possibly another thread's) into the frame and
//! the two thread registers; the vector code then `eret`s into it.
//!
//! - Synchronous: `svc` (EC 0x15, any immediate) is a system call, with
//!   the PC already after the instruction; instruction aborts (EC 0x20,
//!   0x21) and data aborts (EC 0x24) are `Fault::Vm` with `FAR_EL1` (0
//!   when `ESR.FnV` says it is not valid) and the whole ESR; every other
//!   class (undefined instruction 0x00, WFI/WFE 0x01, FP/SIMD 0x07,
//!   system register 0x18, PC alignment 0x22, SP alignment 0x26, `brk`
//!   0x3c, …) is `Fault::UserException { number: EC, code: ESR }`.
//! - IRQ: acknowledged and handled as in the kernel ([`irq::handle`]);
//!   the tick then enters the core as `Trap::Tick`, anything else
//!   (disabled at the GIC, no user interrupt delivery yet) resumes the
//!   thread untouched.
//! - SError: a `UserException` fault (EC 0x2f) of the running thread (see
//!   [`serror`]).
//! - FIQ, and anything from EL0 in AArch32: reported and fatal, like an
//!   unexpected exception in the kernel (see [`super::exceptions`]).
//!
//! The FP/SIMD part of the frame is neither saved nor restored for these
//! entries (the vector code checks the entry number and the mode being
//! returned to): EL0 cannot read or write those registers, so they only
//! hold kernel values, which the kernel never needs back.

use super::irq;
use super::vectors::TrapFrame;
use crate::user::{Context, Trap};
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    CNTKCTL_EL1, CPACR_EL1, ELR_EL1, ESR_EL1, FAR_EL1, ID_AA64DFR0_EL1, ID_AA64MMFR0_EL1,
    MDSCR_EL1, ReadWriteable, Readable, SCTLR_EL1, SP_EL0, SPSR_EL1, TCR_EL1, TPIDR_EL0,
    TPIDRRO_EL0, TTBR0_EL1, Writeable,
};
use abi::boot::layout::KERNEL_STACK_TOP;
use abi::context::aarch64::{self as regs, sanitise_spsr};
use core::sync::atomic::{AtomicBool, Ordering};
use kernel_core::fault::Fault;
use kernel_core::object::tcb::MAX_CONTEXT_WORDS;

/// The register layout of the core (spec: ABI-5, ABI-10).
pub const LAYOUT: abi::context::Layout = abi::context::Layout::AARCH64;

const _: () =
    assert!(LAYOUT.words == regs::CONTEXT_WORDS && regs::CONTEXT_WORDS <= MAX_CONTEXT_WORDS);
const _: () = assert!(regs::X0 + 31 == regs::TPIDR_EL0 && regs::TPIDR_EL0 + 1 == regs::TPIDRRO_EL0);
const _: () = assert!(LAYOUT.pc == regs::PC && LAYOUT.sp == regs::SP && LAYOUT.flags == regs::SPSR);
/// No SPSR value a thread can hold leaves EL0t in AArch64 (M[4:0] = 0) or
/// masks an exception (D, A, I, F), and SS and IL stay clear.
const _: () = assert!(sanitise_spsr(u64::MAX) & SPSR_NOT_USER == 0);
/// M[4:0], F, I, A, D, IL, SS.
const SPSR_NOT_USER: u64 = 0x1f | (0xf << 6) | (1 << 20) | (1 << 21);

/// Exception classes (`ESR_EL1.EC`) the trap path tells apart.
const EC_SVC64: u64 = 0x15;
const EC_INSTRUCTION_ABORT_LOWER: u64 = 0x20;
const EC_INSTRUCTION_ABORT_SAME: u64 = 0x21;
const EC_DATA_ABORT_LOWER: u64 = 0x24;
/// `ISS.FnV` of an abort: `FAR_EL1` does not hold the faulting address.
const ESR_FNV: u64 = 1 << 10;

/// Whether `TCR_EL1.AS` is set: 16-bit hardware ASIDs (see the module
/// documentation for the 8-bit fallback).
static ASID16: AtomicBool = AtomicBool::new(false);
/// Whether walks through `TTBR0_EL1` are on: whether [`activate`] last
/// made an address space current.
static LOWER_HALF: AtomicBool = AtomicBool::new(false);

/// Make EL0 reachable: trap what EL0 must not use, and choose the ASID
/// size (see the module documentation). Call once, after `arch::init`
/// (it logs) and before the first [`activate`]; interrupts masked.
pub fn init() {
    // FP/SIMD for EL1 only; SVE and SME stay trapped everywhere.
    CPACR_EL1.modify(CPACR_EL1::FPEN::TrapEl0);
    // Re-state what `entry` set, so that EL0's reach is decided here.
    SCTLR_EL1.modify(
        SCTLR_EL1::UCI::Trap
            + SCTLR_EL1::UCT::Trap
            + SCTLR_EL1::UMA::Trap
            + SCTLR_EL1::DZE::Trap
            + SCTLR_EL1::NTWI::Trap
            + SCTLR_EL1::NTWE::Trap
            + SCTLR_EL1::E0E::LittleEndian
            + SCTLR_EL1::SA0::Enable
            + SCTLR_EL1::WXN::Enable,
    );
    // EL0 may read the virtual counter (and CNTFRQ_EL0), as on x86_64
    // `rdtsc` and as Linux allows for its vDSO clock: a clock, not a
    // capability. The physical counter, every timer and the event stream
    // stay denied.
    CNTKCTL_EL1.write(CNTKCTL_EL1::EL0VCTEN::SET);
    // No self-hosted debug; the debug communication channel traps at EL0.
    MDSCR_EL1.write(MDSCR_EL1::TDCC::SET);
    // PMUVer 1 … 14: an architected PMU, whose PMUSERENR_EL0 exists (0xf
    // is an IMPLEMENTATION DEFINED one, where the register may not).
    if (1..0xf).contains(&ID_AA64DFR0_EL1.read(ID_AA64DFR0_EL1::PMUVer)) {
        // SAFETY: the register exists (checked above); 0 only takes the
        // performance monitors away from EL0.
        unsafe { core::arch::asm!("msr pmuserenr_el0, xzr", options(nomem, nostack)) };
    }

    let asid16 = ID_AA64MMFR0_EL1.matches_all(ID_AA64MMFR0_EL1::ASIDBits::Bits_16);
    let asid_size = if asid16 {
        TCR_EL1::AS::ASID16Bits
    } else {
        TCR_EL1::AS::ASID8Bits
    };
    // TTBR0_EL1 holds the ASID; the top byte of a lower-half address is
    // part of it (no tagged user pointers). EPD0 stays set until
    // activate() makes an address space current.
    TCR_EL1.modify(asid_size + TCR_EL1::A1::TTBR0 + TCR_EL1::TBI0::Used);
    ASID16.store(asid16, Ordering::Relaxed);
    barrier::isb(barrier::SY);
    // TCR_EL1 fields may be held in TLB entries.
    flush_user_tlb();

    log::info!(
        "user: EL0 ready: {}; FP/SIMD, counters, timers, DCC and PMU trapped at EL0",
        if asid16 {
            "16-bit ASIDs"
        } else {
            "8-bit ASIDs only: one shared ASID, whole TLB dropped on every address-space switch"
        }
    );
}

/// Make the address space whose level-0 table is at physical `root` (4 KiB
/// aligned, below 2^48), tagged `asid`, the current user address space.
/// `asid` 0, which no VSpace has (spec: ASID-1), means none: walks
/// through `TTBR0_EL1` are turned off and every EL0 access faults (`root`
/// is ignored). Does nothing if the address space is already current.
pub fn activate(root: u64, asid: u16) {
    debug_assert!(root & !0x0000_ffff_ffff_f000 == 0, "VSpace root {root:#x}");
    let asid16 = ASID16.load(Ordering::Relaxed);
    let walks = asid != 0;
    let ttbr = match (walks, asid16) {
        (false, _) => 0,
        (true, true) => (u64::from(asid) << 48) | root,
        (true, false) => root,
    };
    let walks_were_on = LOWER_HALF.load(Ordering::Relaxed);
    if walks == walks_were_on && TTBR0_EL1.get() == ttbr {
        return;
    }
    // The walker may see two register writes in either order until a
    // context synchronisation, and must never see walks on together with
    // the 0 that TTBR0_EL1 holds without an address space (a walk of
    // whatever is at physical 0), so an isb separates the two.
    if walks {
        TTBR0_EL1.set(ttbr);
        if !walks_were_on {
            barrier::isb(barrier::SY);
            TCR_EL1.modify(TCR_EL1::EPD0::EnableTTBR0Walks);
        }
    } else {
        if walks_were_on {
            TCR_EL1.modify(TCR_EL1::EPD0::DisableTTBR0Walks);
            barrier::isb(barrier::SY);
        }
        TTBR0_EL1.set(0);
    }
    LOWER_HALF.store(walks, Ordering::Relaxed);
    barrier::isb(barrier::SY);
    // With 16-bit ASIDs, translations are tagged with their address
    // space's ASID, and no walk ever runs under ASID 0. With one shared
    // hardware ASID, the previous address space's translations must go.
    if !asid16 {
        flush_user_tlb();
    }
}

/// Drop every stage-1 EL1&0 translation on every CPU of the inner
/// shareable domain: all ASIDs, and walk caches. The kernel's own global
/// translations go too (they are refilled from its tables on demand):
/// simpler than invalidating ASID by ASID, and correct. The leading
/// barrier makes earlier page-table writes visible to the walkers first.
pub fn flush_user_tlb() {
    barrier::dsb(barrier::ISHST);
    // SAFETY: invalidating TLB entries only makes the MMU walk the tables
    // again; no table changes, so no access the kernel makes changes
    // meaning.
    unsafe { core::arch::asm!("tlbi vmalle1is", options(nostack, preserves_flags)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
}

/// `CTR_EL0.IDC`: cleaning the data cache to the point of unification is
/// not needed for instruction fetch to see data writes.
const CTR_IDC: u64 = 1 << 28;
/// `CTR_EL0.DIC`: invalidating the instruction cache is not needed.
const CTR_DIC: u64 = 1 << 29;

/// Make code the kernel wrote to `len` bytes at `range_start_va` (kernel
/// virtual addresses, normally the direct map) visible to instruction
/// fetch through any other mapping of the same memory, user mappings
/// included: clean the data cache by VA to the point of unification over
/// the range, then invalidate the whole instruction cache (by-VA
/// invalidation through the direct map would miss an aliasing VIPT
/// instruction cache's lines for the user address). Steps the CPU reports
/// unnecessary (`CTR_EL0.IDC`, `.DIC`) are left out. The range must be
/// mapped (a cache maintenance fault on it is a kernel exception).
pub fn sync_icache(range_start_va: u64, len: u64) {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 at EL1 has no side effect.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    if ctr & CTR_IDC == 0 {
        // DminLine: log2 of the smallest data cache line in 4-byte words.
        let line = 4u64 << ((ctr >> 16) & 0xf);
        let end = range_start_va.saturating_add(len);
        let mut va = range_start_va & !(line - 1);
        while va < end {
            // SAFETY: a clean writes dirty lines back without changing
            // the memory contents any observer sees.
            unsafe {
                core::arch::asm!("dc cvau, {}", in(reg) va, options(nostack, preserves_flags))
            };
            let Some(next) = va.checked_add(line) else {
                break;
            };
            va = next;
        }
    }
    barrier::dsb(barrier::ISH);
    if ctr & CTR_DIC == 0 {
        // SAFETY: invalidating the instruction cache only makes later
        // fetches read memory again.
        unsafe { core::arch::asm!("ic ialluis", options(nostack, preserves_flags)) };
        barrier::dsb(barrier::ISH);
    }
    barrier::isb(barrier::SY);
}

/// The PSTATE a thread runs with: the condition flags of its `spsr`, EL0t,
/// D, A, I, F clear — except I when the kernel has no interrupt controller
/// (see [`irq::user_spsr_mask`]).
fn user_spsr(spsr: u64) -> u64 {
    sanitise_spsr(spsr) | irq::user_spsr_mask()
}

/// Leave the boot stack for EL0 the first time, with the registers of
/// `ctx`. The address space must be current ([`activate`]), and [`init`]
/// must have run.
pub fn enter_user(ctx: &Context) -> ! {
    irq::disable();
    ELR_EL1.set(ctx[regs::PC]);
    SP_EL0.set(ctx[regs::SP]);
    SPSR_EL1.set(user_spsr(ctx[regs::SPSR]));
    TPIDR_EL0.set(ctx[regs::TPIDR_EL0]);
    TPIDRRO_EL0.set(ctx[regs::TPIDRRO_EL0]);
    let x = &ctx[regs::X0..regs::X0 + 31];
    // SAFETY: the kernel stack is abandoned: SP_EL1 goes back to its top,
    // which every later entry from EL0 builds its frame under; nothing on
    // it is used again (this function does not return, and IRQs are
    // masked until the eret). `x` points at 31 readable words, read
    // before anything else can overwrite the stack they may live on.
    // ELR, SPSR, SP_EL0 and the thread registers are set above; the
    // barrier makes the kernel's page-table writes visible to the walker
    // before EL0 can use them.
    unsafe {
        core::arch::asm!(
            "dsb ishst",
            "mov sp, {top}",
            "ldp x0, x1, [x30, #0]",
            "ldp x2, x3, [x30, #16]",
            "ldp x4, x5, [x30, #32]",
            "ldp x6, x7, [x30, #48]",
            "ldp x8, x9, [x30, #64]",
            "ldp x10, x11, [x30, #80]",
            "ldp x12, x13, [x30, #96]",
            "ldp x14, x15, [x30, #112]",
            "ldp x16, x17, [x30, #128]",
            "ldp x18, x19, [x30, #144]",
            "ldp x20, x21, [x30, #160]",
            "ldp x22, x23, [x30, #176]",
            "ldp x24, x25, [x30, #192]",
            "ldp x26, x27, [x30, #208]",
            "ldp x28, x29, [x30, #224]",
            "ldr x30, [x30, #240]",
            "eret",
            top = in(reg) KERNEL_STACK_TOP,
            in("x30") x.as_ptr(),
            options(noreturn, nostack),
        )
    }
}

/// A synchronous exception from EL0 (vector entry 8): a system call or a
/// fault of the current thread.
pub fn synchronous(frame: &mut TrapFrame) {
    let esr = ESR_EL1.get();
    let ec = exception_class(esr);
    let trap = match ec {
        // ELR already points after the `svc` (whatever its immediate).
        EC_SVC64 => Trap::Syscall,
        EC_INSTRUCTION_ABORT_LOWER | EC_INSTRUCTION_ABORT_SAME | EC_DATA_ABORT_LOWER => {
            Trap::Fault(Fault::Vm {
                address: fault_address(esr),
                instruction: ec != EC_DATA_ABORT_LOWER,
                status: esr,
            })
        }
        _ => Trap::Fault(Fault::UserException {
            number: ec,
            code: esr,
        }),
    };
    enter_core(frame, trap);
}

/// `FAR_EL1` for an abort, or 0 when the syndrome says it does not hold
/// the address (it could then hold another thread's fault address).
fn fault_address(esr: u64) -> u64 {
    if esr & ESR_FNV != 0 { 0 } else { FAR_EL1.get() }
}

/// An IRQ taken from EL0 (vector entry 9): the tick and device
/// interrupts enter the core; anything else is dealt with as in the
/// kernel (see [`irq::handle`]) and the thread resumes untouched.
pub fn irq(frame: &mut TrapFrame) {
    match irq::handle(frame) {
        irq::Taken::Tick => enter_core(frame, Trap::Tick),
        irq::Taken::Line(line) => enter_core(frame, Trap::Interrupt(line)),
        irq::Taken::Nothing => {}
    }
}

/// An SError taken from EL0 (vector entry 11): asynchronous, so not
/// necessarily the thread's doing, but it is the thread that runs when it
/// arrives, and without RAS error records there is nothing to tell the
/// difference by: a `UserException` fault (EC 0x2f) of that thread.
pub fn serror(frame: &mut TrapFrame) {
    let esr = ESR_EL1.get();
    let trap = Trap::Fault(Fault::UserException {
        number: exception_class(esr),
        code: esr,
    });
    enter_core(frame, trap);
}

/// `ESR_EL1.EC` of a syndrome.
fn exception_class(esr: u64) -> u64 {
    (esr >> 26) & 0x3f
}

/// Hand the interrupted thread's registers to the core with `trap`, then
/// put the registers it hands back where the return path finds them.
fn enter_core(frame: &mut TrapFrame, trap: Trap) {
    let mut ctx: Context = [0; MAX_CONTEXT_WORDS];
    ctx[regs::PC] = frame.elr;
    ctx[regs::SP] = frame.sp_el0;
    ctx[regs::SPSR] = sanitise_spsr(frame.spsr);
    ctx[regs::X0..regs::X0 + 31].copy_from_slice(&frame.x);
    ctx[regs::TPIDR_EL0] = TPIDR_EL0.get();
    ctx[regs::TPIDRRO_EL0] = TPIDRRO_EL0.get();

    crate::user::from_user(trap, &mut ctx);

    frame.x.copy_from_slice(&ctx[regs::X0..regs::X0 + 31]);
    frame.sp_el0 = ctx[regs::SP];
    frame.elr = ctx[regs::PC];
    frame.spsr = user_spsr(ctx[regs::SPSR]);
    TPIDR_EL0.set(ctx[regs::TPIDR_EL0]);
    TPIDRRO_EL0.set(ctx[regs::TPIDRRO_EL0]);
    // The kernel's page-table writes must reach the walker before EL0
    // runs (the eret after this synchronises the context, not memory).
    barrier::dsb(barrier::ISHST);
}
