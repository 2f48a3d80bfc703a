//! What the kernel hands the root task: where its address space has what,
//! and the boot-info frame that lists its capabilities (spec: ST-10,
//! ABI-16, ABI-18).
//!
//! The kernel builds the root task's address space before the task first
//! runs, by making on the root thread's behalf the same `Untyped Retype`,
//! `PageTable Map` and `Frame Map` invocations any thread could make (ST-11).
//! The objects come from one untyped (`boot_untyped`); their capabilities
//! occupy the root CNode slots listed here, right after the untypeds.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `"CAIRNRT1"`: the boot-info frame's magic word.
pub const ROOT_INFO_MAGIC: u64 = u64::from_le_bytes(*b"CAIRNRT1");

/// Virtual address of the root task's IPC buffer (its 4 KiB frame is root
/// slot 7, the buffer is the frame's first 1 KiB).
pub const IPC_BUFFER_VADDR: u64 = 0x1000_0000;
/// Virtual address of the boot-info frame (root slot 8), mapped read-only.
pub const BOOT_INFO_VADDR: u64 = 0x1000_1000;
/// Lowest address of the root task's stack; the page below it is never
/// mapped (a guard).
pub const STACK_BOTTOM: u64 = 0x1001_0000;
/// Size of the root task's stack.
pub const STACK_SIZE: u64 = 64 * 1024;
/// One past the top of the stack: the initial stack pointer.
pub const STACK_TOP: u64 = STACK_BOTTOM + STACK_SIZE;
/// Virtual address of the initial image (the `initrd.cpio` boot module),
/// mapped read-only.
pub const INITRD_VADDR: u64 = 0x2000_0000;
/// The root task's ELF segments must lie in `[IMAGE_LOW, IMAGE_HIGH)`.
pub const IMAGE_LOW: u64 = 0x20_0000;
/// See [`IMAGE_LOW`].
pub const IMAGE_HIGH: u64 = 0x1000_0000;
/// Most untyped capabilities the boot-info frame lists. Free memory that
/// would need more (badly fragmented firmware maps) is left out, the
/// smallest blocks first, and the kernel logs it.
pub const MAX_UNTYPEDS: usize = 230;

/// A range of root CNode slots `[start, start + count)`.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct SlotRange {
    /// First slot.
    pub start: u64,
    /// Number of slots.
    pub count: u64,
}

impl SlotRange {
    /// One past the last slot.
    pub const fn end(&self) -> u64 {
        self.start + self.count
    }
}

/// One untyped capability of the root task.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct UntypedDesc {
    /// Physical base address.
    pub paddr: u64,
    /// log2 of the size in bytes.
    pub size_bits: u8,
    /// 1 for device memory, 0 for RAM.
    pub device: u8,
    /// Zero.
    pub _pad: [u8; 6],
}

/// The boot-info frame's contents (spec: ABI-18). Untyped `i` of
/// `untypeds` is in root slot `untyped_slots.start + i`.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct RootInfo {
    /// [`ROOT_INFO_MAGIC`].
    pub magic: u64,
    /// Radix of the root CNode (addresses use this depth).
    pub cnode_radix: u64,
    /// The untyped capabilities.
    pub untyped_slots: SlotRange,
    /// Slot of the untyped the kernel built the address space from;
    /// `boot_untyped_used` bytes at its start are taken.
    pub boot_untyped_slot: u64,
    /// See `boot_untyped_slot`.
    pub boot_untyped_used: u64,
    /// The page tables of the root address space.
    pub page_table_slots: SlotRange,
    /// The frames of the ELF image, in address order.
    pub image_frame_slots: SlotRange,
    /// The stack frames.
    pub stack_frame_slots: SlotRange,
    /// The frames of the initial image, in address order.
    pub initrd_frame_slots: SlotRange,
    /// Length in bytes of the initial image at [`INITRD_VADDR`] (0: none).
    pub initrd_len: u64,
    /// The first slot nothing occupies; every slot from here on is empty.
    pub first_free_slot: u64,
    /// Kernel tick period, microseconds.
    pub tick_us: u64,
    /// Reserved, zero.
    pub _reserved: [u64; 2],
    /// The untypeds; `untyped_slots.count` are valid.
    pub untypeds: [UntypedDesc; MAX_UNTYPEDS],
}

const _: () = assert!(core::mem::size_of::<RootInfo>() <= 4096);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_18_root_layout_is_disjoint_aligned_and_below_one_gib() {
        let page = 4096;
        for a in [
            IPC_BUFFER_VADDR,
            BOOT_INFO_VADDR,
            STACK_BOTTOM,
            STACK_TOP,
            INITRD_VADDR,
        ] {
            assert_eq!(a % page, 0, "{a:#x}");
        }
        // The image window ends where the boot area starts; the stack has
        // an unmapped guard page below it, above the boot-info frame.
        const {
            assert!(IMAGE_LOW >= 2 << 20 && IMAGE_HIGH <= IPC_BUFFER_VADDR);
            assert!(BOOT_INFO_VADDR + 4096 < STACK_BOTTOM);
            assert!(STACK_TOP <= INITRD_VADDR && INITRD_VADDR < 1 << 30);
            assert!(core::mem::size_of::<RootInfo>() <= 4096);
        }
        assert_eq!(core::mem::size_of::<UntypedDesc>(), 16);
        assert_eq!(core::mem::offset_of!(RootInfo, untypeds) % 8, 0);
        assert_eq!(
            SlotRange {
                start: 20,
                count: 5
            }
            .end(),
            25
        );
    }
}
