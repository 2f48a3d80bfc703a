//! What a process built by `cap-runtime`'s `spawn` starts with: its CNode
//! layout and its address space (spec: ABI-20).
//!
//! Every process but the root task is built so. The address space is the
//! root task's (ABI-18, [`crate::root_task`]) without the boot-info frame
//! and the initial image; the CNode is a radix-12 CNode like the root
//! task's, with its own TCB, CNode, VSpace and IPC-buffer frame in the
//! root task's slots for them and the capabilities its creator passed from
//! [`slot::FIRST_PASSED`] on.

use crate::root_task;

/// Radix of a spawned process's CNode (its CSpace root); its capability
/// addresses use this depth.
pub const CNODE_RADIX: u32 = 12;

/// Fixed slots of a spawned process's CNode (spec: ABI-20). Slot 0 and
/// every slot not named here (4 … 6, 8 … 15) are empty.
pub mod slot {
    /// Its own TCB.
    pub const TCB: u64 = 1;
    /// Its own CNode.
    pub const CNODE: u64 = 2;
    /// Its own VSpace (it has an ASID).
    pub const VSPACE: u64 = 3;
    /// Its IPC-buffer frame (a copy: this capability has no mapping; the
    /// mapped one stays with the creator).
    pub const IPC_BUFFER: u64 = 7;
    /// The first of the capabilities the creator passed, in the order it
    /// gave them; every slot after the last is empty.
    pub const FIRST_PASSED: u64 = 16;
}

/// Most capabilities a creator can pass: the slots from
/// [`slot::FIRST_PASSED`] to the end of the CNode.
pub const MAX_PASSED: usize = (1 << CNODE_RADIX) - slot::FIRST_PASSED as usize;

/// Virtual address of the IPC buffer (the first 1 KiB of the slot 7
/// frame), as in the root task.
pub const IPC_BUFFER_VADDR: u64 = root_task::IPC_BUFFER_VADDR;
/// Lowest address of the stack; the page below is never mapped (a guard).
pub const STACK_BOTTOM: u64 = root_task::STACK_BOTTOM;
/// One past the top of the stack: the initial stack pointer.
pub const STACK_TOP: u64 = root_task::STACK_TOP;
/// The ELF segments must lie in `[IMAGE_LOW, IMAGE_HIGH)`.
pub const IMAGE_LOW: u64 = root_task::IMAGE_LOW;
/// See [`IMAGE_LOW`].
pub const IMAGE_HIGH: u64 = root_task::IMAGE_HIGH;
/// A page neither the kernel (in the root task) nor `spawn` ever maps, in
/// the 2 MiB region of the IPC buffer, so its level-3 table exists in
/// every process: a process maps a frame there for a moment to write it
/// (`spawn` fills a new process's pages through it).
pub const SCRATCH_VADDR: u64 = 0x1000_2000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::root_slot;

    #[test]
    fn abi_20_process_layout_matches_the_root_tasks_where_it_shares_it() {
        // spec: ABI-20
        assert_eq!(CNODE_RADIX, root_slot::ROOT_CNODE_RADIX);
        assert_eq!(
            [slot::TCB, slot::CNODE, slot::VSPACE, slot::IPC_BUFFER],
            [
                root_slot::TCB,
                root_slot::CNODE,
                root_slot::VSPACE,
                root_slot::IPC_BUFFER
            ]
        );
        assert_eq!(slot::FIRST_PASSED, 16);
        assert_eq!(MAX_PASSED, 4096 - 16);
        assert_eq!(
            (IPC_BUFFER_VADDR, STACK_BOTTOM, STACK_TOP),
            (0x1000_0000, 0x1001_0000, 0x1002_0000)
        );
        // The scratch page: page aligned, in the IPC buffer's 2 MiB region,
        // clear of the IPC buffer, the root task's boot-info frame, the
        // stack and its guard page.
        let page = 4096;
        assert_eq!(SCRATCH_VADDR % page, 0);
        assert_eq!(SCRATCH_VADDR >> 21, IPC_BUFFER_VADDR >> 21);
        for used in [IPC_BUFFER_VADDR, root_task::BOOT_INFO_VADDR] {
            assert_ne!(SCRATCH_VADDR, used);
        }
        assert!(SCRATCH_VADDR + page <= STACK_BOTTOM - page);
        const { assert!(SCRATCH_VADDR >= IMAGE_HIGH) };
    }
}
