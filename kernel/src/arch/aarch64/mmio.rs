//! Reaching device registers whose address came from firmware tables.
//!
//! Nothing new is mapped: the loader's direct map covers every physical
//! address below `BootInfo::phys_map_size`, RAM as normal memory and all
//! else as Device-nGnRnE. A register window named by the firmware is used
//! only if it lies in that window, is page aligned and overlaps no RAM
//! (which the direct map caches, and which belongs to the kernel or to
//! user space): a table that points elsewhere is reported, not followed.

use abi::boot::{BootInfo, MemoryKind, PAGE_SIZE};

/// The direct-map address of the device registers at physical
/// `[base, base + len)`, or why the range is unusable.
pub fn device_window(bi: &BootInfo, base: u64, len: u64) -> Result<u64, &'static str> {
    let end = base.checked_add(len).ok_or("range wraps around")?;
    if len == 0 || !base.is_multiple_of(PAGE_SIZE) {
        return Err("range empty or not page aligned");
    }
    if end > bi.phys_map_size {
        return Err("range lies beyond the direct map");
    }
    let ram = bi
        .memory()
        .iter()
        .filter(|r| !matches!(r.kind(), MemoryKind::Mmio | MemoryKind::Reserved));
    for r in ram {
        if base < r.end() && r.start < end {
            return Err("range overlaps RAM");
        }
    }
    Ok(crate::memory::phys_to_virt(base))
}
