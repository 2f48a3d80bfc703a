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
}
