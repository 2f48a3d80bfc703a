//! The generic timer: the system counter as the kernel's reference clock,
//! and the periodic tick from the EL1 physical timer.
//!
//! `CNTPCT_EL0` counts at `CNTFRQ_EL0` Hz from power-on and never stops:
//! it is the reference clock as it stands, nothing to calibrate. The tick
//! comes from the EL1 physical timer (`CNTP_*_EL0`), programmed with an
//! absolute compare value (`CNTP_CVAL_EL0`) that the interrupt handler
//! advances by one period: the tick does not drift with interrupt
//! latency, and after a stall longer than a period it restarts from now
//! instead of firing a burst of late ticks.
//!
//! The timer's interrupt is a PPI whose ID the firmware publishes: the
//! non-secure EL1 timer GSIV of the ACPI GTDT, or the second entry of the
//! device tree's `arm,armv8-timer` node. If neither gives a usable PPI the
//! kernel falls back to INTID 30, the ID the Arm Server Base System
//! Architecture assigns (and QEMU `virt` uses), and says so. Before the
//! tick starts, the timer is fired once with IRQs masked and the INTID
//! must then show up pending at the GIC: a wrong description would
//! otherwise leave the kernel asleep in `wfi` forever, waiting for an
//! interrupt that is not enabled.

use super::gic::{Gic, Trigger};
use super::tables::{Firmware, dt_cells, read_u32};
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    CNTFRQ_EL0, CNTP_CTL_EL0, CNTP_CVAL_EL0, CNTPCT_EL0, Readable, Writeable,
};
use acpi::AcpiTable;
use acpi::sdt::{SdtHeader, Signature};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// Counts per tick, once the tick runs.
static PERIOD: AtomicU64 = AtomicU64::new(0);
/// The timer's interrupt ID, once the tick runs.
static INTID: AtomicU32 = AtomicU32::new(u32::MAX);
static RUNNING: AtomicBool = AtomicBool::new(false);

/// INTID of the EL1 physical timer when the firmware does not say.
const DEFAULT_INTID: u32 = 30;
/// How many times to look for the timer's interrupt at the GIC after
/// firing it (each look is a device read; the GIC sees it at once).
const ROUTE_POLLS: u32 = 10_000;
/// PPIs are INTIDs 16–31.
const PPI_BASE: u32 = 16;
const PPI_END: u32 = 32;

/// Monotonic time since power-on in nanoseconds, from the system counter.
pub fn now_ns() -> u64 {
    let freq = CNTFRQ_EL0.get().max(1);
    // The counter read may otherwise be performed early, out of order
    // with the code before it.
    barrier::isb(barrier::SY);
    let ticks = CNTPCT_EL0.get();
    ((ticks as u128 * 1_000_000_000) / freq as u128) as u64
}

/// Whether the periodic tick runs (there is something to wait for).
pub fn is_running() -> bool {
    RUNNING.load(Ordering::Relaxed)
}

/// The timer's interrupt ID, if the tick runs.
pub fn intid() -> Option<u32> {
    is_running().then(|| INTID.load(Ordering::Relaxed))
}

/// The timer's interrupt as the firmware describes it.
struct TimerIrq {
    intid: u32,
    trigger: Trigger,
    source: &'static str,
}

/// Find the timer's interrupt, enable it at the GIC and start the tick at
/// `crate::time::TICK_HZ`. Logs the frequency and INTID, or why not.
pub fn init(fw: &Firmware, gic: Option<&Gic>) {
    let freq = CNTFRQ_EL0.get();
    let period = freq / crate::time::TICK_HZ;
    if period == 0 {
        log::error!("clock: CNTFRQ_EL0 is {freq} Hz: no usable reference clock or tick");
        return;
    }
    let irq = find_irq(fw);
    let Some(gic) = gic else {
        log::error!(
            "clock: generic timer at {freq} Hz, but no interrupt controller: no periodic tick"
        );
        return;
    };
    gic.enable_ppi(irq.intid, irq.trigger);
    // Fire the timer once, now, with IRQs masked, and check that the GIC
    // sees it on the INTID the firmware named; then set the first tick.
    CNTP_CVAL_EL0.set(CNTPCT_EL0.get());
    CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::SET + CNTP_CTL_EL0::IMASK::CLEAR);
    barrier::isb(barrier::SY);
    let routed = (0..ROUTE_POLLS).any(|_| gic.ppi_pending(irq.intid));
    CNTP_CVAL_EL0.set(CNTPCT_EL0.get() + period);
    barrier::isb(barrier::SY);
    if !routed {
        CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::CLEAR + CNTP_CTL_EL0::IMASK::SET);
        gic.disable(irq.intid);
        log::error!(
            "clock: the timer fired, but INTID {} (from the {}) never became pending at the GIC: no periodic tick",
            irq.intid,
            irq.source
        );
        return;
    }
    PERIOD.store(period, Ordering::Relaxed);
    INTID.store(irq.intid, Ordering::Relaxed);
    RUNNING.store(true, Ordering::Relaxed);
    log::info!(
        "clock: generic timer at {freq} Hz; tick from the EL1 physical timer, INTID {} ({}, from the {}), every {period} counts ({} Hz)",
        irq.intid,
        irq.trigger,
        irq.source,
        crate::time::TICK_HZ
    );
}

/// The timer interrupt: schedule the next tick, then count this one.
pub fn on_interrupt() {
    let period = PERIOD.load(Ordering::Relaxed);
    let next = CNTP_CVAL_EL0.get().wrapping_add(period);
    let now = CNTPCT_EL0.get();
    CNTP_CVAL_EL0.set(if next > now { next } else { now + period });
    // The new compare value must take effect (and the level-triggered
    // interrupt drop) before the caller ends the interrupt at the GIC.
    barrier::isb(barrier::SY);
    crate::time::on_tick();
}

fn find_irq(fw: &Firmware) -> TimerIrq {
    if fw.acpi.is_some() {
        match from_gtdt(fw).and_then(check_ppi) {
            Ok(irq) => return irq,
            Err(e) => log::error!("clock: ACPI GTDT: {e}"),
        }
    }
    if fw.dt.is_some() {
        match from_device_tree(fw).and_then(check_ppi) {
            Ok(irq) => return irq,
            Err(e) => log::error!("clock: device tree: {e}"),
        }
    }
    log::error!(
        "clock: no usable timer interrupt described; assuming INTID {DEFAULT_INTID}, level-triggered"
    );
    TimerIrq {
        intid: DEFAULT_INTID,
        trigger: Trigger::Level,
        source: "architecture's default",
    }
}

/// The EL1 physical timer is wired to a PPI on every Arm system.
fn check_ppi(irq: TimerIrq) -> Result<TimerIrq, &'static str> {
    if (PPI_BASE..PPI_END).contains(&irq.intid) {
        Ok(irq)
    } else {
        Err("the timer interrupt is not a PPI")
    }
}

/// The GTDT, as far as the `acpi` crate needs to find it; its fields are
/// read from the checked bytes.
#[repr(transparent)]
struct Gtdt {
    header: SdtHeader,
}

// SAFETY: every ACPI table starts with the standard header, which is all
// this type claims to contain.
unsafe impl AcpiTable for Gtdt {
    const SIGNATURE: Signature = Signature::GTDT;

    fn header(&self) -> &SdtHeader {
        &self.header
    }
}

/// GTDT offsets: non-secure EL1 timer GSIV and flags.
const GTDT_NS_EL1_GSIV: usize = 56;
const GTDT_NS_EL1_FLAGS: usize = 60;
/// GTDT timer flags: edge-triggered.
const GTDT_EDGE: u32 = 1 << 0;

fn from_gtdt(fw: &Firmware) -> Result<TimerIrq, &'static str> {
    let gtdt = fw.acpi_table::<Gtdt>()?;
    let (Some(gsiv), Some(flags)) = (
        read_u32(gtdt, GTDT_NS_EL1_GSIV),
        read_u32(gtdt, GTDT_NS_EL1_FLAGS),
    ) else {
        return Err("too short to hold the non-secure EL1 timer");
    };
    Ok(TimerIrq {
        intid: gsiv,
        trigger: if flags & GTDT_EDGE != 0 {
            Trigger::Edge
        } else {
            Trigger::Level
        },
        source: "ACPI GTDT",
    })
}

/// Device-tree GIC interrupt specifier: type cell (1 = PPI), number cell,
/// flags cell whose low bits give the trigger (1, 2 = edge; 4, 8 = level).
const DT_PPI: u32 = 1;
const DT_SPI: u32 = 0;
const DT_EDGE_MASK: u32 = 0x3;
/// Index of the non-secure EL1 physical timer in the timer node's
/// `interrupts` (secure, non-secure, virtual, hypervisor).
const DT_NS_PHYS_INDEX: usize = 1;

fn from_device_tree(fw: &Firmware) -> Result<TimerIrq, &'static str> {
    let dt = fw.dt.as_ref().ok_or("no device tree")?;
    let node = dt
        .find_compatible(&["arm,armv8-timer", "arm,armv7-timer"])
        .ok_or("no arm,armv8-timer node")?;
    // Cells per specifier: the interrupt parent's #interrupt-cells (the
    // node's own interrupt-parent, else the root's), 3 for a GIC.
    let parent = node
        .property("interrupt-parent")
        .or_else(|| dt.root().property("interrupt-parent"))
        .and_then(|p| p.as_usize())
        .and_then(|phandle| dt.find_phandle(phandle as u32));
    let cells = parent.and_then(|p| p.interrupt_cells()).unwrap_or(3);
    if cells < 3 {
        return Err("the interrupt parent's #interrupt-cells is below 3: not a GIC");
    }
    let value = node
        .property("interrupts")
        .ok_or("the timer node has no interrupts property")?
        .value;
    let mut spec = dt_cells(value).skip(DT_NS_PHYS_INDEX * cells);
    let (Some(kind), Some(number), Some(flags)) = (spec.next(), spec.next(), spec.next()) else {
        return Err("the timer node lists no non-secure physical timer interrupt");
    };
    let intid = match kind {
        DT_PPI => number.saturating_add(PPI_BASE),
        DT_SPI => number.saturating_add(PPI_END),
        _ => return Err("the timer interrupt has an unknown type cell"),
    };
    Ok(TimerIrq {
        intid,
        trigger: if flags & DT_EDGE_MASK != 0 {
            Trigger::Edge
        } else {
            Trigger::Level
        },
        source: "device tree",
    })
}
