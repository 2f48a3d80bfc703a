//! Portable timekeeping: the tick counter fed by the architecture's
//! periodic timer interrupt, and the boot-time check that the interrupt
//! really arrives at the programmed rate.

use core::sync::atomic::{AtomicU64, Ordering};

/// Rate of the periodic timer interrupt: one tick every
/// `abi::sched::TICK_MICROS` (2 ms, spec: ABI-15).
pub const TICK_HZ: u64 = 1_000_000 / abi::sched::TICK_MICROS;

static TICKS: AtomicU64 = AtomicU64::new(0);

/// Called by the architecture's timer interrupt handler, once per tick.
pub fn on_tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

/// Timer interrupts taken since boot.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Count timer interrupts over `interval_ms` of the reference clock
/// (`arch::now_ns`) with interrupts enabled, and log the result as
/// `timer: N interrupts in M ms (expected about E at TICK_HZ Hz)`.
/// Returns the count.
pub fn measure(interval_ms: u64) -> u64 {
    let start_ticks = ticks();
    let start = crate::arch::now_ns();
    let end = start + interval_ms * 1_000_000;
    crate::arch::enable_interrupts();
    let mut now = start;
    while now < end {
        crate::arch::wait_for_interrupt();
        now = crate::arch::now_ns();
    }
    crate::arch::disable_interrupts();
    let n = ticks() - start_ticks;
    let ms = (now - start) / 1_000_000;
    log::info!(
        "timer: {n} interrupts in {ms} ms (expected about {} at {TICK_HZ} Hz)",
        ms * TICK_HZ / 1000
    );
    n
}
