//! The periodic tick: the LAPIC timer in periodic mode at `time::TICK_HZ`.
//!
//! Periodic mode rather than one-shot or TSC-deadline: the portable kernel
//! only asks for a steady tick, and periodic mode needs no re-arming in the
//! handler. The reload count comes from the calibration in `clock`, so the
//! tick and `now_ns` are measured against the same reference.

use super::apic::{self, Lapic, TIMER_DIVISOR};
use super::idt::TIMER_VECTOR;
use crate::time::TICK_HZ;
use core::sync::atomic::{AtomicBool, Ordering};

static RUNNING: AtomicBool = AtomicBool::new(false);

/// Start the tick; `lapic_hz` is the timer's input clock before its divider.
pub fn start(lapic: &Lapic, lapic_hz: u64) {
    let count = lapic_hz / TIMER_DIVISOR / TICK_HZ;
    let Ok(count) = u32::try_from(count) else {
        log::error!("lapic: reload count {count} does not fit the timer: no periodic tick");
        return;
    };
    if count == 0 {
        log::error!("lapic: timer input too slow for {TICK_HZ} Hz: no periodic tick");
        return;
    }
    lapic.timer_start_periodic(TIMER_VECTOR, count);
    RUNNING.store(true, Ordering::Relaxed);
    log::info!(
        "lapic: periodic tick at {TICK_HZ} Hz on vector {TIMER_VECTOR:#x} (reload {count}, input / {TIMER_DIVISOR})"
    );
}

/// Whether the periodic tick is running (and will wake a halted CPU).
pub fn is_running() -> bool {
    RUNNING.load(Ordering::Relaxed)
}

/// The timer interrupt.
pub fn on_interrupt() {
    crate::time::on_tick();
    if let Some(lapic) = apic::lapic() {
        lapic.eoi();
    }
}
