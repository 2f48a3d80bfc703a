//! Dropping the loader's lower-half identity map.
//!
//! The loader maps its own code at its physical address in the lower half
//! (PML4 entries 0..256) so that execution survives its CR3 switch. Once
//! the kernel runs that mapping is dead weight and a hazard: the lower half
//! belongs to user address spaces, and the kernel must keep nothing there.
//!
//! The loader marks every leaf global, so reloading CR3 would leave those
//! translations in the TLB; toggling CR4.PGE flushes global entries too.
//! The orphaned lower-half tables stay in boot-data memory, unused.

use crate::memory::phys_to_virt;
use x86_64::instructions::tlb;
use x86_64::registers::control::{Cr3, Cr4, Cr4Flags};
use x86_64::structures::paging::PageTable;

/// Clear PML4 entries 0..256 of the live tables and flush the whole TLB.
pub fn drop_lower_half() {
    let (root, _) = Cr3::read();
    let pml4 = phys_to_virt(root.start_address().as_u64()) as *mut PageTable;
    // SAFETY: CR3 holds the physical address of the live PML4, which the
    // loader allocated in RAM below the top of the direct map; the kernel
    // runs on one CPU with interrupts masked, so nothing else walks or
    // edits the table while this reference exists.
    let pml4 = unsafe { &mut *pml4 };
    let mut cleared = 0;
    for entry in pml4.iter_mut().take(256) {
        if !entry.is_unused() {
            entry.set_unused();
            cleared += 1;
        }
    }
    flush_tlb_including_global();
    log::info!(
        "paging: lower half unmapped (PML4 entries 0..256 cleared, {cleared} of them in use; TLB flushed including global pages)"
    );
}

fn flush_tlb_including_global() {
    let cr4 = Cr4::read();
    if cr4.contains(Cr4Flags::PAGE_GLOBAL) {
        // SAFETY: clearing CR4.PGE and setting it again changes no
        // translation; the architectural side effect is a flush of all TLB
        // entries, global ones included.
        unsafe {
            Cr4::write(cr4 - Cr4Flags::PAGE_GLOBAL);
            Cr4::write(cr4);
        }
    } else {
        // Without PGE no entry is global and a CR3 reload flushes them all.
        tlb::flush_all();
    }
}
