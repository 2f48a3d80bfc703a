//! Capability rights (spec: CAP-4, CAP-5, ABI-12).
//!
//! A small `Copy` set over four bits. Rights only ever shrink: the kernel
//! computes a derived capability's rights with [`Rights::intersect`]
//! (spec: CAP-6). Words from user space are decoded with
//! [`Rights::from_word`], which refuses unknown bits (spec: ERR-5).

/// A set of capability rights (spec: CAP-4).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rights(u8);

/// A rights word with bits beyond the defined ones (spec: ERR-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownRights(pub u64);

impl Rights {
    /// No rights.
    pub const NONE: Rights = Rights(0);
    /// Receive on an endpoint; wait/poll/bind a notification; readable
    /// mappings (spec: CAP-5).
    pub const READ: Rights = Rights(1);
    /// Send/Call on an endpoint; signal a notification; writable mappings.
    pub const WRITE: Rights = Rights(2);
    /// Transfer capabilities through an endpoint (spec: IPC-13).
    pub const GRANT: Rights = Rights(4);
    /// Call an endpoint without the general Grant right (spec: IPC-2).
    pub const GRANT_REPLY: Rights = Rights(8);
    /// All four rights (a new capability's, spec: CAP-3).
    pub const ALL: Rights = Rights(15);
    /// The two rights a Frame Map `rights` word may hold (spec: VM-6).
    pub const READ_WRITE: Rights = Rights(3);

    /// Decode a rights word from an invocation argument (spec: ERR-5).
    pub const fn from_word(word: u64) -> Result<Rights, UnknownRights> {
        if word & !(Rights::ALL.0 as u64) != 0 {
            Err(UnknownRights(word))
        } else {
            Ok(Rights(word as u8))
        }
    }

    /// The bits as a word.
    pub const fn bits(self) -> u64 {
        self.0 as u64
    }

    /// Whether every right of `other` is in `self`.
    pub const fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    /// The rights in both (spec: CAP-6).
    pub const fn intersect(self, other: Rights) -> Rights {
        Rights(self.0 & other.0)
    }

    /// The rights in either.
    pub const fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    /// Whether `self` has no right.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_fixed() {
        // spec: ABI-12
        assert_eq!(Rights::READ.bits(), 1);
        assert_eq!(Rights::WRITE.bits(), 2);
        assert_eq!(Rights::GRANT.bits(), 4);
        assert_eq!(Rights::GRANT_REPLY.bits(), 8);
        assert_eq!(
            Rights::READ
                .union(Rights::WRITE)
                .union(Rights::GRANT)
                .union(Rights::GRANT_REPLY),
            Rights::ALL
        );
    }

    #[test]
    fn words_round_trip_and_unknown_bits_are_refused() {
        for w in 0..16 {
            assert_eq!(Rights::from_word(w).unwrap().bits(), w);
        }
        for w in [16, 0x100, u64::MAX, 1 << 63] {
            assert_eq!(Rights::from_word(w), Err(UnknownRights(w)));
        }
    }

    #[test]
    fn intersection_only_shrinks() {
        for a in 0..16 {
            for b in 0..16 {
                let (ra, rb) = (Rights::from_word(a).unwrap(), Rights::from_word(b).unwrap());
                let i = ra.intersect(rb);
                assert!(ra.contains(i) && rb.contains(i));
            }
        }
        assert!(Rights::NONE.is_empty());
        assert!(!Rights::READ.contains(Rights::WRITE));
    }
}
