//! Access to the loader's BootInfo through the direct physical map.

use crate::memory::phys_to_virt;
use abi::boot::{BootInfo, layout::PHYS_MAP_BASE};
use zerocopy::FromBytes;

/// The BootInfo at physical address `phys`, if it is readable and carries
/// the magic and version this kernel knows.
pub fn get(phys: u64) -> Option<&'static BootInfo> {
    let size = core::mem::size_of::<BootInfo>() as u64;
    // Refuse addresses the direct map cannot possibly hold before touching
    // them: the map is 2^47 bytes at most.
    if !phys.is_multiple_of(8) || phys.checked_add(size)? > (u64::MAX - PHYS_MAP_BASE) {
        return None;
    }
    let virt = phys_to_virt(phys) as *const u8;
    // SAFETY: the loader placed the BootInfo at `phys` in memory of kind
    // BootData, mapped by the direct map and never reused while the kernel
    // runs; BootInfo is plain data (FromBytes), so any bytes are a value.
    let bytes = unsafe { core::slice::from_raw_parts(virt, size as usize) };
    let bi = BootInfo::ref_from_bytes(bytes).ok()?;
    bi.is_valid().then_some(bi)
}
