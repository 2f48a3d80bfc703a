//! A CSpace slot allocator: which slots of a range of the program's own
//! CNode are free (pure bookkeeping; no system call).
//!
//! The kernel never chooses a slot: Retype, Copy, Mint and Move name
//! their destination by index (spec: UT-3, CNODE-1), and a destination
//! that is not empty is refused with `DeleteFirst`. A program therefore
//! keeps its own record of the free slots of its CNode. [`SlotAllocator`]
//! is a bitmap over at most [`MAX_SLOTS`] consecutive slots of one CNode
//! (a radix-12 CNode, the root task's and every spawned process's, has
//! 4096); slots are handed out singly or as a run of consecutive slots
//! (Retype fills consecutive slots) and can be freed for reuse once the
//! program has emptied them (CNode Delete or Move).

use abi::cptr::CPtr;
use abi::root_task::SlotRange;

/// Most slots one allocator covers.
pub const MAX_SLOTS: u64 = 4096;

const WORDS: usize = (MAX_SLOTS / 64) as usize;

/// Why a slot allocator cannot be made or a slot not freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotError {
    /// The range is empty-ended the wrong way, longer than [`MAX_SLOTS`],
    /// or reaches past the CNode (`2^radix` slots), or the radix cannot
    /// be an address depth.
    BadRange,
    /// The slot is outside the allocator's range.
    OutOfRange(u64),
    /// The slot is not allocated (a double free).
    NotAllocated(u64),
    /// The slot is already allocated (reserving it twice).
    AlreadyAllocated(u64),
}

/// Free slots of `[start, end)` of a CNode of radix `radix`, addressed in
/// the program's CSpace with depth `radix` (a one-level CSpace, CS-5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotAllocator {
    start: u64,
    end: u64,
    radix: u32,
    used: [u64; WORDS],
    /// Where the next search starts (an allocator that only allocates
    /// hands out slots in ascending order).
    hint: u64,
}

impl SlotAllocator {
    /// All of `[start, end)` free, in a CNode of radix `radix`.
    pub const fn new(start: u64, end: u64, radix: u32) -> Result<SlotAllocator, SlotError> {
        if radix == 0
            || radix > abi::cptr::MAX_DEPTH
            || radix >= 64
            || start > end
            || end - start > MAX_SLOTS
            || end > 1u64 << radix
        {
            return Err(SlotError::BadRange);
        }
        Ok(SlotAllocator {
            start,
            end,
            radix,
            used: [0; WORDS],
            hint: 0,
        })
    }

    /// The range covered.
    pub const fn range(&self) -> SlotRange {
        SlotRange {
            start: self.start,
            count: self.end - self.start,
        }
    }

    /// The radix of the CNode (the depth of its addresses).
    pub const fn radix(&self) -> u32 {
        self.radix
    }

    /// The capability address of `slot` (depth = radix).
    pub fn cptr(&self, slot: u64) -> Option<CPtr> {
        CPtr::new(slot, self.radix).ok()
    }

    fn bit(&self, slot: u64) -> Option<(usize, u64)> {
        if slot < self.start || slot >= self.end {
            return None;
        }
        let i = slot - self.start;
        Some(((i / 64) as usize, 1 << (i % 64)))
    }

    /// Whether `slot` is allocated (`None` outside the range).
    pub fn is_allocated(&self, slot: u64) -> Option<bool> {
        let (w, m) = self.bit(slot)?;
        Some(self.used[w] & m != 0)
    }

    fn set(&mut self, slot: u64, on: bool) {
        if let Some((w, m)) = self.bit(slot) {
            if on {
                self.used[w] |= m;
            } else {
                self.used[w] &= !m;
            }
        }
    }

    /// Number of free slots.
    pub fn available(&self) -> u64 {
        let used: u64 = self.used.iter().map(|w| u64::from(w.count_ones())).sum();
        (self.end - self.start) - used
    }

    /// One free slot, now allocated.
    pub fn alloc(&mut self) -> Option<u64> {
        self.alloc_range(1).map(|r| r.start)
    }

    /// `count ≥ 1` consecutive free slots, now allocated (the lowest such
    /// run at or after the last allocation, else the lowest overall).
    pub fn alloc_range(&mut self, count: u64) -> Option<SlotRange> {
        if count == 0 || count > self.end - self.start {
            return None;
        }
        let from = self.start + self.hint;
        let start = self
            .find_run(from, count)
            .or_else(|| self.find_run(self.start, count))?;
        for s in start..start + count {
            self.set(s, true);
        }
        self.hint = start + count - self.start;
        Some(SlotRange { start, count })
    }

    /// The first run of `count` free slots starting at or after `from`.
    fn find_run(&self, from: u64, count: u64) -> Option<u64> {
        let mut run_start = from;
        let mut run = 0;
        let mut s = from;
        while s < self.end {
            if self.is_allocated(s) == Some(true) {
                run = 0;
                run_start = s + 1;
            } else {
                run += 1;
                if run == count {
                    return Some(run_start);
                }
            }
            s += 1;
        }
        None
    }

    /// Mark `slot` allocated (a slot the program filled by other means,
    /// e.g. one the kernel or a creator put a capability in).
    pub fn reserve(&mut self, slot: u64) -> Result<(), SlotError> {
        match self.is_allocated(slot) {
            None => Err(SlotError::OutOfRange(slot)),
            Some(true) => Err(SlotError::AlreadyAllocated(slot)),
            Some(false) => {
                self.set(slot, true);
                Ok(())
            }
        }
    }

    /// Free `slot` for reuse. The caller must have emptied it first (or
    /// never filled it): the allocator cannot see the CNode.
    pub fn free(&mut self, slot: u64) -> Result<(), SlotError> {
        match self.is_allocated(slot) {
            None => Err(SlotError::OutOfRange(slot)),
            Some(false) => Err(SlotError::NotAllocated(slot)),
            Some(true) => {
                self.set(slot, false);
                Ok(())
            }
        }
    }

    /// Free every slot of `range` (see [`SlotAllocator::free`]); stops at
    /// the first slot that cannot be freed.
    pub fn free_range(&mut self, range: SlotRange) -> Result<(), SlotError> {
        for s in range.start..range.end() {
            self.free(s)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ranges_are_checked() {
        assert!(SlotAllocator::new(16, 4096, 12).is_ok());
        assert_eq!(
            SlotAllocator::new(16, 4097, 12),
            Err(SlotError::BadRange),
            "past the CNode"
        );
        assert_eq!(SlotAllocator::new(5, 4, 12), Err(SlotError::BadRange));
        assert_eq!(SlotAllocator::new(0, 5000, 20), Err(SlotError::BadRange));
        assert_eq!(SlotAllocator::new(0, 1, 0), Err(SlotError::BadRange));
        assert_eq!(SlotAllocator::new(0, 1, 57), Err(SlotError::BadRange));
        let empty = SlotAllocator::new(7, 7, 12);
        assert_eq!(empty.clone().map(|mut a| a.alloc()), Ok(None));
    }

    #[test]
    fn slots_are_handed_out_once_and_reused_after_free() {
        let mut a = SlotAllocator::new(100, 104, 12).unwrap();
        assert_eq!(a.available(), 4);
        assert_eq!(a.alloc(), Some(100));
        assert_eq!(a.alloc(), Some(101));
        assert_eq!(
            a.alloc_range(2),
            Some(SlotRange {
                start: 102,
                count: 2
            })
        );
        assert_eq!(a.alloc(), None);
        assert_eq!(a.free(101), Ok(()));
        assert_eq!(a.free(101), Err(SlotError::NotAllocated(101)));
        assert_eq!(a.free(99), Err(SlotError::OutOfRange(99)));
        assert_eq!(a.alloc_range(2), None, "no two free in a row");
        assert_eq!(a.alloc(), Some(101));
        assert_eq!(a.available(), 0);
        // A slot CS-5 addresses with depth 12.
        assert_eq!(a.cptr(101), Some(CPtr::new(101, 12).unwrap()));
        assert_eq!(a.cptr(1 << 12), None);
    }

    #[test]
    fn runs_skip_allocated_slots_and_reserve_marks_one() {
        let mut a = SlotAllocator::new(0, 64 * 3, 12).unwrap();
        a.reserve(5).unwrap();
        assert_eq!(a.reserve(5), Err(SlotError::AlreadyAllocated(5)));
        assert_eq!(a.reserve(64 * 3), Err(SlotError::OutOfRange(192)));
        // Crossing a bitmap word boundary.
        let r = a.alloc_range(70).unwrap();
        assert_eq!(
            r,
            SlotRange {
                start: 6,
                count: 70
            }
        );
        assert_eq!(a.is_allocated(75), Some(true));
        assert_eq!(a.is_allocated(76), Some(false));
        a.free_range(r).unwrap();
        assert_eq!(a.available(), 191);
        // After the hint runs past the end, the search wraps around.
        assert_eq!(a.alloc_range(120).map(|r| r.start), Some(6));
        assert_eq!(a.alloc_range(70).map(|r| r.start), None);
        assert_eq!(a.alloc_range(66).map(|r| r.start), Some(126));
        assert_eq!(a.alloc_range(5).map(|r| r.start), Some(0));
        assert_eq!(a.alloc_range(0), None);
    }

    proptest! {
        /// Against a plain model: no slot is handed out twice, every slot
        /// handed out is in range and was free, frees make slots reusable.
        #[test]
        fn behaves_like_a_set(ops in proptest::collection::vec((0u8..3, 1u64..9), 1..200)) {
            let (start, end) = (16u64, 16 + 130);
            let mut a = SlotAllocator::new(start, end, 12).unwrap();
            let mut model = std::collections::BTreeSet::new();
            for (op, n) in ops {
                match op {
                    0 => match a.alloc_range(n) {
                        Some(r) => {
                            prop_assert_eq!(r.count, n);
                            for s in r.start..r.end() {
                                prop_assert!((start..end).contains(&s));
                                prop_assert!(model.insert(s), "slot {} handed out twice", s);
                            }
                        }
                        None => {
                            // Then no run of n free slots exists.
                            let free_run = (start..=end - n.min(end - start))
                                .any(|s| (s..s + n).all(|x| x < end && !model.contains(&x)));
                            prop_assert!(!free_run);
                        }
                    },
                    1 => {
                        if let Some(&s) = model.iter().nth(n as usize) {
                            prop_assert_eq!(a.free(s), Ok(()));
                            model.remove(&s);
                        }
                    }
                    _ => {
                        let s = start + n * 7;
                        let r = a.reserve(s);
                        prop_assert_eq!(r.is_ok(), model.insert(s));
                    }
                }
                prop_assert_eq!(a.available(), (end - start) - model.len() as u64);
            }
        }
    }
}
