//! Turning free physical memory into untyped blocks.
//!
//! An untyped capability covers a naturally aligned power-of-two range
//! (spec: untyped size rules), so each free region is cut greedily into the
//! largest aligned blocks that fit, front to back. A region of `n` pages
//! yields at most about `2 * log2(n)` blocks, and every byte of the region
//! is covered by exactly one block (nothing is lost but sub-minimum
//! fragments at unaligned edges, which the loader's page alignment rules
//! out).

/// Smallest block handed out: one page.
pub const MIN_BLOCK_BITS: u32 = 12;
/// Largest block handed out (2^47 bytes, the size of one 48-bit half).
pub const MAX_BLOCK_BITS: u32 = 47;
/// RAM at or above this address is not handed out (spec: UT-14): slot
/// addresses must fit the derivation-tree links (`slot::SLOT_ADDR_LIMIT`).
pub const RAM_LIMIT: u64 = crate::slot::SLOT_ADDR_LIMIT;

/// The aligned power-of-two blocks covering `[start, end)`, as
/// `(base, size_bits)`, in address order. Bytes below one page at either
/// unaligned edge, and bytes at or above [`RAM_LIMIT`], are skipped.
pub fn untyped_blocks(start: u64, end: u64) -> impl Iterator<Item = (u64, u32)> {
    let page = 1u64 << MIN_BLOCK_BITS;
    let mut at = start.saturating_add(page - 1) & !(page - 1);
    let end = end.min(RAM_LIMIT) & !(page - 1);
    core::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let align_bits = if at == 0 {
            MAX_BLOCK_BITS
        } else {
            at.trailing_zeros().min(MAX_BLOCK_BITS)
        };
        let fit_bits = 63 - (end - at).leading_zeros();
        let bits = align_bits.min(fit_bits);
        let block = (at, bits);
        at += 1 << bits;
        Some(block)
    })
}

/// The gaps: the parts of `[start, top)` no excluded range covers, in
/// address order, each as `(start, end)`. `excluded` calls its argument
/// with every excluded range `(start, end)` (end exclusive; any order,
/// overlapping, empty or inverted ranges allowed — firmware memory maps
/// are untrusted input). Computed without allocating: each step asks for
/// every excluded range again (quadratic in their number, which is a few
/// hundred at most) and moves past the lowest one reaching beyond the
/// cursor.
pub fn gaps<F>(start: u64, top: u64, excluded: F) -> impl Iterator<Item = (u64, u64)>
where
    F: Fn(&mut dyn FnMut(u64, u64)),
{
    let mut at = start;
    core::iter::from_fn(move || {
        while at < top {
            let here = at;
            // How far excluded ranges covering `here` reach, and where the
            // next excluded range above `here` starts.
            let (mut covered_to, mut next_start) = (here, top);
            excluded(&mut |s, e| {
                if s <= here && e > here {
                    covered_to = covered_to.max(e);
                } else if s > here && e > s {
                    next_start = next_start.min(s);
                }
            });
            if covered_to > here {
                at = covered_to;
                continue;
            }
            at = next_start;
            return Some((here, next_start));
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn blocks_are_aligned_disjoint_and_cover_the_region() {
        for &(s, e) in &[
            (0x1000u64, 0x9000u64),
            (0x0, 0x4000_0000),
            (0x10_3000, 0x1fb7_e000),
            (0x4000_0000, 0x6000_0000),
            (0x1234, 0x5678),
        ] {
            let blocks: Vec<_> = untyped_blocks(s, e).collect();
            let mut expect = (s + 0xfff) & !0xfff;
            for &(base, bits) in &blocks {
                assert_eq!(base, expect, "contiguous, in order");
                assert_eq!(base % (1 << bits), 0, "aligned to its size");
                assert!((MIN_BLOCK_BITS..=MAX_BLOCK_BITS).contains(&bits));
                expect = base + (1 << bits);
            }
            assert_eq!(expect, e & !0xfff, "covers up to the last whole page");
            assert!(blocks.len() <= 2 * 64);
        }
    }

    #[test]
    fn tiny_or_empty_regions_yield_nothing() {
        assert_eq!(untyped_blocks(0x1001, 0x1fff).count(), 0);
        assert_eq!(untyped_blocks(0x5000, 0x5000).count(), 0);
        assert_eq!(untyped_blocks(0x6000, 0x5000).count(), 0);
        assert_eq!(untyped_blocks(u64::MAX - 0x10, u64::MAX).count(), 0);
    }

    #[test]
    fn a_large_aligned_region_is_one_block() {
        assert_eq!(
            untyped_blocks(0x4000_0000, 0x8000_0000).collect::<Vec<_>>(),
            [(0x4000_0000, 30)]
        );
    }

    #[test]
    fn ram_above_the_limit_is_not_handed_out() {
        // spec: UT-14
        let blocks: Vec<_> = untyped_blocks(RAM_LIMIT - 0x2000, RAM_LIMIT + 0x10_0000).collect();
        assert_eq!(blocks, [(RAM_LIMIT - 0x2000, 13)]);
        assert_eq!(untyped_blocks(RAM_LIMIT, RAM_LIMIT << 1).count(), 0);
    }

    /// Every address of `[start, top)` is in exactly one of: a gap, an
    /// excluded range; the gaps are sorted, disjoint and non-empty.
    fn check_gaps(start: u64, top: u64, ex: &[(u64, u64)]) {
        let gaps: Vec<_> = gaps(start, top, |f| {
            for &(s, e) in ex {
                f(s, e)
            }
        })
        .collect();
        let excluded = |a: u64| ex.iter().any(|&(s, e)| s <= a && a < e);
        let mut prev = start;
        for &(s, e) in &gaps {
            assert!(s >= prev && s < e && e <= top, "{gaps:x?}");
            // The edges and the middle of every gap are free.
            for a in [s, e - 1, s + (e - s) / 2] {
                assert!(
                    !excluded(a),
                    "{a:#x} in gap of {gaps:x?} excluded by {ex:x?}"
                );
            }
            // The address before a gap (past the start) is excluded.
            if s > start {
                assert!(excluded(s - 1) || s == prev, "{gaps:x?} / {ex:x?}");
            }
            prev = e;
        }
        // Between gaps, and after the last, everything is excluded: check
        // each excluded range's interior edges lie outside every gap.
        for &(s, e) in ex.iter().filter(|r| r.0 < r.1) {
            for a in [s, e - 1] {
                if (start..top).contains(&a) {
                    assert!(!gaps.iter().any(|g| g.0 <= a && a < g.1));
                }
            }
        }
        // And the points right after each gap, if below top, are excluded.
        for &(_, e) in &gaps {
            if e < top {
                assert!(excluded(e), "{e:#x} after a gap is not excluded: {ex:x?}");
            }
        }
    }

    #[test]
    fn gaps_of_a_typical_map() {
        let ex = [
            (0x4000_0000, 0x6000_0000),
            (0x800_0000, 0x802_0000),
            (0x900_0000, 0x900_1000),
        ];
        let g: Vec<_> = gaps(0x1000, 1 << 40, |f| {
            for &(s, e) in &ex {
                f(s, e)
            }
        })
        .collect();
        assert_eq!(
            g,
            [
                (0x1000, 0x800_0000),
                (0x802_0000, 0x900_0000),
                (0x900_1000, 0x4000_0000),
                (0x6000_0000, 1 << 40)
            ]
        );
        check_gaps(0x1000, 1 << 40, &ex);
    }

    proptest::proptest! {
        #[test]
        fn gaps_cover_exactly_what_is_not_excluded(
            ex in proptest::collection::vec((0u64..0x10_0000, 0u64..0x10_0000), 0..12),
            start in 0u64..0x1000,
            top in 0u64..0x12_0000,
        ) {
            check_gaps(start, top, &ex);
        }
    }
}
