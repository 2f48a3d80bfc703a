//! aarch64 hand-over, following the arm64 Linux boot convention: the kernel
//! is entered at its *physical* entry point with the MMU and data cache off
//! and the BootInfo's physical address in `x0`, at whatever exception level
//! the firmware ran the loader (EL2 or EL1). The kernel drops to EL1 and
//! turns the MMU on with the tables named in the BootInfo: the upper half
//! for `TTBR1_EL1` and a small identity map of the kernel image for
//! `TTBR0_EL1`, which this module builds separately.

use super::Handover;
use crate::LoaderError;
use loader::{
    kernel_elf::Machine,
    paging::{Format, MapError, PageTables, TableSource},
};

pub const NAME: &str = "aarch64";
pub const MACHINE: Machine = Machine::Aarch64;
pub const FORMAT: Format = Format::Aarch64;

/// The kernel image: its entry code turns the MMU on while running at its
/// physical address.
pub fn handover_code_range(kernel_phys: u64, kernel_len: u64) -> (u64, u64) {
    (kernel_phys, kernel_len)
}

/// A separate tree for `TTBR0_EL1`.
pub fn separate_identity_tables(
    src: &mut impl TableSource,
) -> Result<Option<PageTables>, LoaderError> {
    Ok(Some(
        PageTables::new(FORMAT, src).map_err(|e: MapError| LoaderError::Map(e))?,
    ))
}

/// Clean `[start, start+len)` from the data cache to the point of coherency,
/// so the kernel sees it with its caches off.
fn clean_to_poc(start: u64, len: u64) {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    let line = 4u64 << ((ctr >> 16) & 0xf);
    let mut a = start & !(line - 1);
    while a < start + len {
        // SAFETY: cache maintenance by address on memory the loader owns;
        // it changes no data, only where the data lives.
        unsafe { core::arch::asm!("dc cvac, {}", in(reg) a, options(nostack)) };
        a += line;
    }
    // SAFETY: a barrier has no memory effects of its own.
    unsafe { core::arch::asm!("dsb sy", options(nostack)) };
}

/// Turn the MMU off at the current exception level and jump to the kernel's
/// physical entry.
pub fn enter_kernel(h: &Handover) -> ! {
    for &(start, len) in &h.flush {
        clean_to_poc(start, len);
    }
    // SAFETY: boot services are gone; firmware maps all memory identity, so
    // this code keeps running at the same address with the MMU off. The
    // kernel image was cleaned to the point of coherency above, and the
    // instruction cache is invalidated before the jump. Nothing after the
    // MMU is off touches memory.
    unsafe {
        core::arch::asm!(
            "msr daifset, #0xf",
            "mrs x9, CurrentEL",
            "cmp x9, #8",
            "b.ne 1f",
            "mrs x9, sctlr_el2",
            "bic x9, x9, #1",
            "bic x9, x9, #4",
            "msr sctlr_el2, x9",
            "isb",
            "b 2f",
            "1:",
            "mrs x9, sctlr_el1",
            "bic x9, x9, #1",
            "bic x9, x9, #4",
            "msr sctlr_el1, x9",
            "isb",
            "2:",
            "ic iallu",
            "dsb sy",
            "isb",
            "br x10",
            in("x0") h.bootinfo_phys,
            in("x10") h.entry_phys,
            options(noreturn),
        )
    }
}
