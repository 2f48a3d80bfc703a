//! The scheduler's ready queues: one FIFO per priority and a bitmap of the
//! non-empty ones, so both enqueue and "highest runnable priority" are O(1)
//! (four words to scan for 256 priorities).

use crate::{
    mem::{Memory, PAddr},
    queue::Queue,
};

/// Number of priorities; 0 is lowest.
pub const PRIORITIES: usize = 256;
const WORDS: usize = PRIORITIES / 64;

/// Ready queues and their bitmap.
#[derive(Clone, Debug)]
pub struct ReadyQueues {
    queues: [Queue; PRIORITIES],
    bitmap: [u64; WORDS],
}

impl Default for ReadyQueues {
    fn default() -> Self {
        ReadyQueues {
            queues: [Queue::default(); PRIORITIES],
            bitmap: [0; WORDS],
        }
    }
}

impl ReadyQueues {
    /// Append `tcb` (links at `links_at`) to the queue of `prio`.
    pub fn enqueue(&mut self, m: &mut impl Memory, tcb: PAddr, prio: u8, links_at: u64) {
        let p = prio as usize;
        self.queues[p].push_back(m, tcb, links_at);
        self.bitmap[p / 64] |= 1 << (p % 64);
    }

    /// Insert `tcb` at the head of the queue of `prio` (a preempted thread
    /// resumes first among its equals, spec: SCHED-5).
    pub fn enqueue_front(&mut self, m: &mut impl Memory, tcb: PAddr, prio: u8, links_at: u64) {
        let p = prio as usize;
        self.queues[p].push_front(m, tcb, links_at);
        self.bitmap[p / 64] |= 1 << (p % 64);
    }

    /// Remove `tcb` from the queue of `prio`; it must be there.
    pub fn remove(&mut self, m: &mut impl Memory, tcb: PAddr, prio: u8, links_at: u64) {
        let p = prio as usize;
        self.queues[p].remove(m, tcb, links_at);
        if self.queues[p].is_empty() {
            self.bitmap[p / 64] &= !(1 << (p % 64));
        }
    }

    /// The highest priority with a runnable thread.
    pub fn highest(&self) -> Option<u8> {
        (0..WORDS)
            .rev()
            .find(|&w| self.bitmap[w] != 0)
            .map(|w| (w * 64 + 63 - self.bitmap[w].leading_zeros() as usize) as u8)
    }

    /// Take the first thread of the highest non-empty priority.
    pub fn pop_highest(&mut self, m: &mut impl Memory, links_at: u64) -> Option<(PAddr, u8)> {
        let prio = self.highest()?;
        let tcb = self.queues[prio as usize].head;
        self.remove(m, tcb, prio, links_at);
        Some((tcb, prio))
    }

    /// The queue of one priority (for invariant checks and projections).
    pub fn queue(&self, prio: u8) -> &Queue {
        &self.queues[prio as usize]
    }

    /// Whether the bitmap bit of `prio` is set.
    pub fn bit(&self, prio: u8) -> bool {
        self.bitmap[prio as usize / 64] & (1 << (prio % 64)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::BufferMemory;

    #[test]
    fn highest_priority_first_then_fifo() {
        let mut m = BufferMemory::new(0x1000, 0x1000);
        let mut r = ReadyQueues::default();
        assert_eq!(r.highest(), None);
        r.enqueue(&mut m, 0x1000, 3, 0);
        r.enqueue(&mut m, 0x1100, 200, 0);
        r.enqueue(&mut m, 0x1200, 200, 0);
        r.enqueue(&mut m, 0x1300, 64, 0);
        assert_eq!(r.highest(), Some(200));
        assert!(r.bit(3) && r.bit(64) && r.bit(200) && !r.bit(4) && !r.bit(0));
        assert_eq!(r.pop_highest(&mut m, 0), Some((0x1100, 200)));
        assert_eq!(r.pop_highest(&mut m, 0), Some((0x1200, 200)));
        assert!(!r.bit(200));
        assert_eq!(r.pop_highest(&mut m, 0), Some((0x1300, 64)));
        r.remove(&mut m, 0x1000, 3, 0);
        assert_eq!(r.highest(), None);
        r.enqueue(&mut m, 0x1000, 255, 0);
        r.enqueue(&mut m, 0x1100, 0, 0);
        assert_eq!(r.highest(), Some(255));
        r.remove(&mut m, 0x1000, 255, 0);
        assert_eq!(r.highest(), Some(0));
    }
}
