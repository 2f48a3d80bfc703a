//! Capability addresses: one 64-bit word that carries its own depth.
//!
//! Bits 0 ..= 55 are address bits, bits 56 ..= 63 the depth: how many of
//! the low address bits to resolve, most significant first, starting at
//! the thread's root CNode (spec: CS-1 … CS-4). There are no guards. A
//! word is well formed when `1 <= depth <= 56` and no address bit at or
//! above `depth` is set (spec: CS-2); the all-zero word is the null
//! address and never names a capability (spec: CS-3).

/// Number of address bits a capability address can carry (spec: ABI-3).
pub const ADDRESS_BITS: u32 = 56;
/// Largest depth of a well-formed address (spec: CS-2).
pub const MAX_DEPTH: u32 = ADDRESS_BITS;
const ADDRESS_MASK: u64 = (1 << ADDRESS_BITS) - 1;

/// A capability address word (spec: CS-1, ABI-3). Any `u64` is a `CPtr`;
/// [`CPtr::check`] says whether it is well formed.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CPtr(u64);

/// Why a word is not a well-formed address (lookup failure
/// `MalformedAddress`, spec: CS-2, ERR-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MalformedAddress {
    /// Depth 0 (which includes the null address).
    ZeroDepth,
    /// Depth above [`MAX_DEPTH`].
    DepthTooLarge(u32),
    /// An address bit at or above the depth is set.
    StrayBits,
}

impl CPtr {
    /// The null address (spec: CS-3).
    pub const NULL: CPtr = CPtr(0);

    /// The address of `address` resolved with `depth` bits. Fails on
    /// exactly the words [`CPtr::check`] would reject.
    pub const fn new(address: u64, depth: u32) -> Result<CPtr, MalformedAddress> {
        if depth == 0 {
            return Err(MalformedAddress::ZeroDepth);
        }
        if depth > MAX_DEPTH {
            return Err(MalformedAddress::DepthTooLarge(depth));
        }
        if address >> depth != 0 {
            return Err(MalformedAddress::StrayBits);
        }
        Ok(CPtr(((depth as u64) << ADDRESS_BITS) | address))
    }

    /// Reinterpret a raw word (from a register or the IPC buffer).
    pub const fn from_raw(raw: u64) -> CPtr {
        CPtr(raw)
    }

    /// The raw word.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The depth field (bits 56 ..= 63), whether or not it is valid.
    pub const fn depth(self) -> u32 {
        (self.0 >> ADDRESS_BITS) as u32
    }

    /// The address field (bits 0 ..= 55), whether or not it is valid.
    pub const fn address(self) -> u64 {
        self.0 & ADDRESS_MASK
    }

    /// Whether the word is well formed (spec: CS-2); `Ok((depth, address))`
    /// if so.
    pub const fn check(self) -> Result<(u32, u64), MalformedAddress> {
        match CPtr::new(self.address(), self.depth()) {
            Ok(_) => Ok((self.depth(), self.address())),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        // spec: ABI-3, CS-1
        for (addr, depth) in [
            (0u64, 1u32),
            (5, 12),
            ((3 << 10) | 7, 18),
            (ADDRESS_MASK, 56),
        ] {
            let c = CPtr::new(addr, depth).unwrap();
            assert_eq!(c.check(), Ok((depth, addr)));
            assert_eq!(CPtr::from_raw(c.raw()), c);
        }
        // spec: CS-5 example.
        assert_eq!(CPtr::new(5, 12).unwrap().raw(), (12 << 56) | 5);
    }

    #[test]
    fn malformed_words_are_rejected() {
        // spec: CS-2, CS-3
        assert_eq!(CPtr::NULL.check(), Err(MalformedAddress::ZeroDepth));
        assert_eq!(CPtr::from_raw(7).check(), Err(MalformedAddress::ZeroDepth));
        assert_eq!(
            CPtr::from_raw(57 << 56).check(),
            Err(MalformedAddress::DepthTooLarge(57))
        );
        assert_eq!(
            CPtr::from_raw(u64::MAX).check(),
            Err(MalformedAddress::DepthTooLarge(255))
        );
        assert_eq!(
            CPtr::from_raw((4 << 56) | 0x10).check(),
            Err(MalformedAddress::StrayBits)
        );
        assert_eq!(CPtr::new(1 << 56, 56), Err(MalformedAddress::StrayBits));
        assert_eq!(CPtr::new(0, 0), Err(MalformedAddress::ZeroDepth));
    }
}
