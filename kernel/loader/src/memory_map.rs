//! Turning the firmware's memory map into the kernel's inventory.
//!
//! UEFI reports ~100 descriptors of many types; the kernel wants a short,
//! sorted, non-overlapping list of [`MemoryRegion`]s classified by what the
//! kernel may do with them. Loader code and data, and boot-services memory,
//! become [`MemoryKind::Free`] (the loader is gone once the kernel runs);
//! what the loader allocated *for* the kernel carries one of the loader's
//! own OS memory types and keeps its role.

use abi::boot::{MAX_MEMORY_REGIONS, MemoryKind, MemoryRegion, PAGE_SIZE};

/// OS-defined UEFI memory type for the kernel image.
pub const OS_TYPE_KERNEL: u32 = 0x8000_0001;
/// OS-defined UEFI memory type for boot modules.
pub const OS_TYPE_MODULES: u32 = 0x8000_0002;
/// OS-defined UEFI memory type for page tables, boot stack, BootInfo, DTB copy.
pub const OS_TYPE_BOOT_DATA: u32 = 0x8000_0003;

/// Classify one UEFI memory type (UEFI 2.10 §7.2, EFI_MEMORY_TYPE).
pub fn classify(uefi_type: u32) -> MemoryKind {
    match uefi_type {
        // Loader code/data, boot-services code/data, conventional memory.
        1..=4 | 7 => MemoryKind::Free,
        5 | 6 => MemoryKind::FirmwareRuntime,
        8 => MemoryKind::Faulty,
        9 => MemoryKind::AcpiReclaimable,
        10 => MemoryKind::AcpiNvs,
        11 | 12 => MemoryKind::Mmio,
        OS_TYPE_KERNEL => MemoryKind::Kernel,
        OS_TYPE_MODULES => MemoryKind::BootModules,
        OS_TYPE_BOOT_DATA => MemoryKind::BootData,
        // Reserved, PAL code, persistent and unaccepted memory, and anything
        // unknown: never handed out.
        _ => MemoryKind::Reserved,
    }
}

/// Whether memory of this kind is RAM (mapped write-back in the direct map)
/// rather than device space (mapped uncached).
pub fn is_ram(kind: MemoryKind) -> bool {
    !matches!(kind, MemoryKind::Mmio | MemoryKind::Reserved)
}

/// A sorted, merged region list being built in fixed storage (no heap: it is
/// filled after boot services are gone).
pub struct Inventory<'a> {
    regions: &'a mut [MemoryRegion; MAX_MEMORY_REGIONS],
    len: usize,
    /// Regions that did not fit and were left out (memory the kernel will
    /// simply not use; never a correctness problem).
    pub dropped: usize,
}

impl<'a> Inventory<'a> {
    /// An empty inventory over `regions`.
    pub fn new(regions: &'a mut [MemoryRegion; MAX_MEMORY_REGIONS]) -> Self {
        Inventory {
            regions,
            len: 0,
            dropped: 0,
        }
    }

    /// Add a firmware descriptor. Descriptors with zero pages or that wrap
    /// the address space are ignored.
    pub fn add(&mut self, start: u64, pages: u64, kind: MemoryKind) {
        let Some(len) = pages.checked_mul(PAGE_SIZE) else {
            return;
        };
        if len == 0 || !start.is_multiple_of(PAGE_SIZE) || start.checked_add(len).is_none() {
            return;
        }
        if self.len == MAX_MEMORY_REGIONS {
            self.dropped += 1;
            return;
        }
        self.regions[self.len] = MemoryRegion {
            start,
            len,
            kind: kind as u32,
            _reserved: 0,
        };
        self.len += 1;
    }

    /// Sort by address, resolve overlaps in favour of the more restrictive
    /// kind (firmware maps should not overlap, but hostile or buggy ones
    /// might), and merge adjacent regions of the same kind. Returns the
    /// final count.
    pub fn finish(self) -> usize {
        let regions = &mut self.regions[..self.len];
        // Insertion sort: no allocation, n is small.
        for i in 1..regions.len() {
            let mut j = i;
            while j > 0 && regions[j - 1].start > regions[j].start {
                regions.swap(j - 1, j);
                j -= 1;
            }
        }
        let mut out = 0usize;
        for i in 0..regions.len() {
            let mut r = regions[i];
            if out > 0 {
                let prev = &mut regions[out - 1];
                if r.start < prev.end() {
                    // Overlap: a Free region never wins over anything else.
                    if prev.kind() == MemoryKind::Free && r.kind() != MemoryKind::Free {
                        prev.len = r.start - prev.start;
                    } else {
                        let end = r.end();
                        if end <= prev.end() {
                            continue;
                        }
                        r.len = end - prev.end();
                        r.start = prev.end();
                    }
                    if prev.len == 0 {
                        out -= 1;
                    }
                }
            }
            if out > 0 {
                let prev = &mut regions[out - 1];
                if prev.kind == r.kind && prev.end() == r.start {
                    prev.len += r.len;
                    continue;
                }
            }
            regions[out] = r;
            out += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_and_merges() {
        let mut storage = [MemoryRegion::default(); MAX_MEMORY_REGIONS];
        let mut inv = Inventory::new(&mut storage);
        inv.add(0x3000, 1, classify(7));
        inv.add(0x0000, 2, classify(3)); // boot services code: free
        inv.add(0x2000, 1, classify(4));
        inv.add(0x5000, 4, classify(OS_TYPE_KERNEL));
        inv.add(0x9000, 0, classify(7)); // empty: ignored
        inv.add(0xa000, 1, classify(0x7000_0000)); // OEM: reserved
        let n = inv.finish();
        let r = &storage[..n];
        assert_eq!(n, 3);
        assert_eq!(
            (r[0].start, r[0].len, r[0].kind()),
            (0, 0x4000, MemoryKind::Free)
        );
        assert_eq!(
            (r[1].start, r[1].len, r[1].kind()),
            (0x5000, 0x4000, MemoryKind::Kernel)
        );
        assert_eq!(r[2].kind(), MemoryKind::Reserved);
    }

    #[test]
    fn overlaps_never_make_used_memory_free() {
        let mut storage = [MemoryRegion::default(); MAX_MEMORY_REGIONS];
        let mut inv = Inventory::new(&mut storage);
        inv.add(0x0, 16, MemoryKind::Free);
        inv.add(0x4000, 2, MemoryKind::AcpiNvs);
        inv.add(0x8000, 16, MemoryKind::Free);
        let n = inv.finish();
        let r = &storage[..n];
        for w in r.windows(2) {
            assert!(w[0].end() <= w[1].start, "sorted and disjoint: {r:?}");
        }
        let nvs = r.iter().find(|x| x.kind() == MemoryKind::AcpiNvs).unwrap();
        assert_eq!((nvs.start, nvs.len), (0x4000, 0x2000));
        assert!(
            !r.iter()
                .any(|x| x.kind() == MemoryKind::Free && x.start < 0x6000 && x.end() > 0x4000)
        );
    }

    #[test]
    fn hostile_descriptors_are_ignored_or_dropped() {
        let mut storage = [MemoryRegion::default(); MAX_MEMORY_REGIONS];
        let mut inv = Inventory::new(&mut storage);
        inv.add(u64::MAX - 0xfff, 2, MemoryKind::Free); // wraps
        inv.add(0x123, 1, MemoryKind::Free); // misaligned
        inv.add(0, u64::MAX, MemoryKind::Free); // size overflows
        for i in 0..(MAX_MEMORY_REGIONS as u64 + 5) {
            inv.add(i * 0x2000, 1, MemoryKind::Free);
        }
        assert_eq!(inv.dropped, 5);
        assert_eq!(inv.finish(), MAX_MEMORY_REGIONS);
    }
}
