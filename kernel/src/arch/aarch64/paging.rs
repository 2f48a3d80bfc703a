//! The kernel's view of its translation tables after the hand-over.
//!
//! The loader's tables stay in place: `TTBR1_EL1` (the upper half: direct
//! map, kernel image, boot stack) is the kernel's address space. `TTBR0_EL1`
//! still points at the identity map of the kernel image that `_start`
//! needed while it turned the MMU on; nothing uses it since the jump to
//! the upper half, and a lower-half mapping left in place would let a
//! kernel bug (or a user pointer) reach that memory. So walks through
//! `TTBR0_EL1` are turned off (`TCR_EL1.EPD0`) and the TLB dropped: any
//! lower-half access faults. The first user address space turns them back
//! on with its own tables (`super::user::activate`); from then on the
//! lower half is always the current thread's address space.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{ReadWriteable, TCR_EL1, TTBR0_EL1, Writeable};

/// Disable translation through `TTBR0_EL1` and drop whatever the TLB
/// still holds from it.
pub fn drop_lower_half() {
    TCR_EL1.modify(TCR_EL1::EPD0::DisableTTBR0Walks);
    TTBR0_EL1.set(0);
    barrier::isb(barrier::SY);
    // SAFETY: invalidating EL1 TLB entries only makes the MMU re-walk the
    // tables; the upper-half tables are unchanged, so nothing the kernel
    // uses disappears.
    unsafe { core::arch::asm!("tlbi vmalle1", options(nostack)) };
    barrier::dsb(barrier::NSH);
    barrier::isb(barrier::SY);
}
