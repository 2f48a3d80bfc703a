//! Object types, their sizes, and the memory limits of Retype.
//!
//! Every kernel object lives in memory carved from an untyped region
//! (spec: UT-1); its size is `2^size_bits` bytes and its base is aligned to
//! it (spec: INV-1). Sizes and limits are fixed here (spec: ABI-14).

/// Smallest untyped region, log2 bytes (spec: UT-2).
pub const MIN_UNTYPED_BITS: u32 = 4;
/// Largest untyped region, log2 bytes (spec: UT-2).
pub const MAX_UNTYPED_BITS: u32 = 47;
/// Smallest CNode radix (spec: UT-4).
pub const MIN_CNODE_RADIX: u32 = 1;
/// Largest CNode radix (spec: UT-4).
pub const MAX_CNODE_RADIX: u32 = 24;
/// Size of one CNode slot, log2 bytes: 16 bytes of capability, 16 of
/// derivation-tree links (spec: ABI-14).
pub const SLOT_BITS: u32 = 5;
/// Most objects one Retype creates (spec: UT-5).
pub const RETYPE_FAN_OUT_LIMIT: u64 = 256;
/// Untyped memory is zeroed in chunks of this many log2 bytes, with a
/// preemption point after each (spec: UT-10).
pub const RESET_CHUNK_BITS: u32 = 12;
/// Endpoint size, log2 bytes.
pub const ENDPOINT_BITS: u32 = 4;
/// Notification size, log2 bytes.
pub const NOTIFICATION_BITS: u32 = 5;
/// TCB size, log2 bytes.
pub const TCB_BITS: u32 = 11;
/// Page-table, VSpace and ASID-pool size, log2 bytes.
pub const TABLE_BITS: u32 = 12;
/// ASID-pool size, log2 bytes (made by MakePool, spec: ASID-4).
pub const ASID_POOL_BITS: u32 = 12;

/// Object types a Retype can create (spec: ABI-13, UT-3).
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectType {
    /// A smaller untyped region; size from the `size_bits` argument.
    Untyped = 0,
    /// A thread control block.
    Tcb = 1,
    /// A synchronous endpoint.
    Endpoint = 2,
    /// A notification.
    Notification = 3,
    /// A CNode; radix from the `size_bits` argument.
    CNode = 4,
    /// A 4 KiB frame.
    Frame4K = 5,
    /// A 2 MiB frame.
    Frame2M = 6,
    /// A 1 GiB frame.
    Frame1G = 7,
    /// A page table of levels 1 … 3 (spec: VM-1).
    PageTable = 8,
    /// A top-level table (spec: VM-1).
    VSpace = 9,
}

/// A raw word that is not an object type (Retype fails with
/// `InvalidArgument(0)`, spec: UT-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownObjectType(pub u64);

/// A `size_bits` argument out of range (spec: UT-5 check 3); carries the
/// allowed range for the `RangeError` detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeOutOfRange {
    /// Smallest allowed value.
    pub min: u32,
    /// Largest allowed value.
    pub max: u32,
}

impl ObjectType {
    /// Every type, in number order.
    pub const ALL: [ObjectType; 10] = [
        ObjectType::Untyped,
        ObjectType::Tcb,
        ObjectType::Endpoint,
        ObjectType::Notification,
        ObjectType::CNode,
        ObjectType::Frame4K,
        ObjectType::Frame2M,
        ObjectType::Frame1G,
        ObjectType::PageTable,
        ObjectType::VSpace,
    ];

    /// Whether this is one of the frame types.
    pub const fn is_frame(self) -> bool {
        matches!(
            self,
            ObjectType::Frame4K | ObjectType::Frame2M | ObjectType::Frame1G
        )
    }

    /// Whether a device untyped may yield it (spec: UT-13).
    pub const fn allowed_from_device(self) -> bool {
        self.is_frame() || matches!(self, ObjectType::Untyped)
    }

    /// Size of a fixed-size type, `None` for Untyped and CNode.
    pub const fn fixed_size_bits(self) -> Option<u32> {
        match self {
            ObjectType::Untyped | ObjectType::CNode => None,
            ObjectType::Tcb => Some(TCB_BITS),
            ObjectType::Endpoint => Some(ENDPOINT_BITS),
            ObjectType::Notification => Some(NOTIFICATION_BITS),
            ObjectType::Frame4K => Some(12),
            ObjectType::Frame2M => Some(21),
            ObjectType::Frame1G => Some(30),
            ObjectType::PageTable | ObjectType::VSpace => Some(TABLE_BITS),
        }
    }

    /// The object size in log2 bytes for Retype's `size_bits` argument
    /// (spec: UT-4): the argument itself for Untyped, radix + 5 for CNode,
    /// the fixed size otherwise (argument ignored).
    pub const fn size_bits(self, arg: u64) -> Result<u32, SizeOutOfRange> {
        match self {
            ObjectType::Untyped => {
                if arg < MIN_UNTYPED_BITS as u64 || arg > MAX_UNTYPED_BITS as u64 {
                    Err(SizeOutOfRange {
                        min: MIN_UNTYPED_BITS,
                        max: MAX_UNTYPED_BITS,
                    })
                } else {
                    Ok(arg as u32)
                }
            }
            ObjectType::CNode => {
                if arg < MIN_CNODE_RADIX as u64 || arg > MAX_CNODE_RADIX as u64 {
                    Err(SizeOutOfRange {
                        min: MIN_CNODE_RADIX,
                        max: MAX_CNODE_RADIX,
                    })
                } else {
                    Ok(arg as u32 + SLOT_BITS)
                }
            }
            other => match other.fixed_size_bits() {
                Some(bits) => Ok(bits),
                None => Err(SizeOutOfRange { min: 0, max: 0 }),
            },
        }
    }
}

impl TryFrom<u64> for ObjectType {
    type Error = UnknownObjectType;

    fn try_from(raw: u64) -> Result<Self, UnknownObjectType> {
        Ok(match raw {
            0 => ObjectType::Untyped,
            1 => ObjectType::Tcb,
            2 => ObjectType::Endpoint,
            3 => ObjectType::Notification,
            4 => ObjectType::CNode,
            5 => ObjectType::Frame4K,
            6 => ObjectType::Frame2M,
            7 => ObjectType::Frame1G,
            8 => ObjectType::PageTable,
            9 => ObjectType::VSpace,
            other => return Err(UnknownObjectType(other)),
        })
    }
}

/// Fixed slots of the root task's CNode (spec: ABI-16, ST-10).
pub mod root_slot {
    /// Radix of the root CNode; its addresses use this depth.
    pub const ROOT_CNODE_RADIX: u32 = 12;
    /// The root task's TCB.
    pub const TCB: u64 = 1;
    /// The root CNode itself.
    pub const CNODE: u64 = 2;
    /// The root VSpace (ASID 1).
    pub const VSPACE: u64 = 3;
    /// The IRQControl capability.
    pub const IRQ_CONTROL: u64 = 4;
    /// The ASIDControl capability.
    pub const ASID_CONTROL: u64 = 5;
    /// The initial ASID pool (holds the root VSpace).
    pub const ASID_POOL: u64 = 6;
    /// The root task's IPC-buffer frame.
    pub const IPC_BUFFER: u64 = 7;
    /// The boot-info frame.
    pub const BOOT_INFO: u64 = 8;
    /// First slot of the untyped capabilities.
    pub const FIRST_UNTYPED: u64 = 16;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_round_trip() {
        for (i, t) in ObjectType::ALL.iter().enumerate() {
            assert_eq!(*t as u64, i as u64);
            assert_eq!(ObjectType::try_from(i as u64), Ok(*t));
        }
        for raw in [10, 11, 255, u64::MAX] {
            assert_eq!(ObjectType::try_from(raw), Err(UnknownObjectType(raw)));
        }
    }

    #[test]
    fn sizes_follow_the_spec() {
        // spec: ABI-14
        assert_eq!(ObjectType::Endpoint.size_bits(99), Ok(4));
        assert_eq!(ObjectType::Notification.size_bits(0), Ok(5));
        assert_eq!(ObjectType::Tcb.size_bits(0), Ok(11));
        assert_eq!(ObjectType::Frame2M.size_bits(0), Ok(21));
        assert_eq!(ObjectType::Frame1G.size_bits(0), Ok(30));
        assert_eq!(ObjectType::VSpace.size_bits(0), Ok(12));
        assert_eq!(ObjectType::CNode.size_bits(12), Ok(17));
        assert_eq!(ObjectType::Untyped.size_bits(47), Ok(47));
    }

    #[test]
    fn variable_sizes_are_range_checked() {
        // spec: UT-5 check 3
        let ut = SizeOutOfRange { min: 4, max: 47 };
        assert_eq!(ObjectType::Untyped.size_bits(3), Err(ut));
        assert_eq!(ObjectType::Untyped.size_bits(48), Err(ut));
        assert_eq!(ObjectType::Untyped.size_bits(u64::MAX), Err(ut));
        let cn = SizeOutOfRange { min: 1, max: 24 };
        assert_eq!(ObjectType::CNode.size_bits(0), Err(cn));
        assert_eq!(ObjectType::CNode.size_bits(25), Err(cn));
    }

    #[test]
    fn root_cnode_slots_are_fixed() {
        // spec: ABI-16
        use root_slot::*;
        assert_eq!(ROOT_CNODE_RADIX, 12);
        assert_eq!(
            [
                TCB,
                CNODE,
                VSPACE,
                IRQ_CONTROL,
                ASID_CONTROL,
                ASID_POOL,
                IPC_BUFFER,
                BOOT_INFO
            ],
            [1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(FIRST_UNTYPED, 16);
    }

    #[test]
    fn device_untyped_yields_only_frames_and_untypeds() {
        // spec: UT-13
        let allowed: [bool; 10] = ObjectType::ALL.map(|t| t.allowed_from_device());
        assert_eq!(
            allowed,
            [
                true, false, false, false, false, true, true, true, false, false
            ]
        );
    }
}
