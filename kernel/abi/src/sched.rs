//! Scheduling constants (spec: SCHED-1, SCHED-3, ABI-15).

/// Number of priorities; 0 is lowest, 255 highest (spec: SCHED-1).
pub const NUM_PRIORITIES: usize = 256;
/// Highest priority and highest maximum controlled priority.
pub const MAX_PRIORITY: u64 = 255;
/// Ticks in a full time slice (spec: SCHED-3).
pub const TIME_SLICE_TICKS: u32 = 5;
/// Timer tick period in microseconds (spec: SCHED-3).
pub const TICK_MICROS: u64 = 2000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_is_ten_milliseconds() {
        // spec: ABI-15, SCHED-3
        assert_eq!(TIME_SLICE_TICKS as u64 * TICK_MICROS, 10_000);
        assert_eq!(MAX_PRIORITY as usize + 1, NUM_PRIORITIES);
    }
}
