//! Address-space constants: mapping attributes, levels and ASIDs
//! (spec: VM-1, VM-5, ASID-1, ABI-12, ABI-15).

pub use crate::context::USER_TOP;

/// Page-table levels, 0 (the VSpace) to 3 (spec: VM-1).
pub const LEVELS: u32 = 4;
/// Entries per table.
pub const ENTRIES_PER_TABLE: usize = 512;

/// Log2 of the bytes a level-`level` entry covers: 39, 30, 21, 12
/// (spec: VM-1). `None` above level 3.
pub const fn entry_bits(level: u32) -> Option<u32> {
    if level < LEVELS {
        Some(39 - 9 * level)
    } else {
        None
    }
}

/// Mapping attributes of Frame Map (spec: VM-5, ABI-12).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VmAttributes(u8);

/// An attributes word with undefined bits (`InvalidArgument(2)`,
/// spec: VM-6, ERR-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownAttributes(pub u64);

impl VmAttributes {
    /// No attribute: non-executable, cached.
    pub const NONE: VmAttributes = VmAttributes(0);
    /// The mapping is executable (never together with Write, spec: VM-11).
    pub const EXECUTE: VmAttributes = VmAttributes(1);
    /// The mapping is uncached (device frames always are).
    pub const UNCACHED: VmAttributes = VmAttributes(2);
    const DEFINED: u64 = 3;

    /// Decode an attributes word (spec: VM-6 check 5).
    pub const fn from_word(word: u64) -> Result<VmAttributes, UnknownAttributes> {
        if word & !Self::DEFINED != 0 {
            Err(UnknownAttributes(word))
        } else {
            Ok(VmAttributes(word as u8))
        }
    }

    /// The word.
    pub const fn bits(self) -> u64 {
        self.0 as u64
    }

    /// Whether every attribute of `other` is set.
    pub const fn contains(self, other: VmAttributes) -> bool {
        self.0 & other.0 == other.0
    }
}

/// Bits of an ASID that index the pool's entries (spec: ASID-1).
pub const ASID_LOW_BITS: u32 = 9;
/// Bits of an ASID that select the pool (spec: ASID-1).
pub const ASID_HIGH_BITS: u32 = 7;
/// Entries of the kernel's ASID table.
pub const ASID_POOLS: usize = 1 << ASID_HIGH_BITS;
/// ASIDs per pool.
pub const ASIDS_PER_POOL: usize = 1 << ASID_LOW_BITS;
/// The ASID the root task's VSpace gets (spec: ST-10).
pub const ROOT_ASID: u16 = 1;

/// Split an ASID into (pool index, entry index) (spec: ASID-1).
pub const fn split_asid(asid: u16) -> (usize, usize) {
    (
        (asid >> ASID_LOW_BITS) as usize,
        (asid as usize) & (ASIDS_PER_POOL - 1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_cover_the_spec_sizes() {
        assert_eq!(entry_bits(0), Some(39));
        assert_eq!(entry_bits(1), Some(30));
        assert_eq!(entry_bits(2), Some(21));
        assert_eq!(entry_bits(3), Some(12));
        assert_eq!(entry_bits(4), None);
        assert_eq!(USER_TOP, 1 << 47);
    }

    #[test]
    fn attributes_round_trip_and_unknown_bits_are_refused() {
        for w in 0..4 {
            assert_eq!(VmAttributes::from_word(w).unwrap().bits(), w);
        }
        for w in [4, 8, u64::MAX] {
            assert_eq!(VmAttributes::from_word(w), Err(UnknownAttributes(w)));
        }
        assert!(
            VmAttributes::from_word(3)
                .unwrap()
                .contains(VmAttributes::EXECUTE)
        );
    }

    #[test]
    fn asids_split() {
        // spec: ABI-15
        assert_eq!(ASID_POOLS * ASIDS_PER_POOL, 1 << 16);
        assert_eq!(split_asid(ROOT_ASID), (0, 1));
        assert_eq!(split_asid(u16::MAX), (127, 511));
        assert_eq!(split_asid(512), (1, 0));
    }
}
