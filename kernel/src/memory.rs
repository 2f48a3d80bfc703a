//! The physical-memory inventory and the direct map.
//!
//! At boot the firmware map (via the BootInfo) is reduced to the regions of
//! free RAM that will become untyped memory for the root task. The kernel
//! image, boot modules and the loader's hand-over data are never free.

use abi::boot::{BootInfo, MemoryKind, MemoryRegion, layout::PHYS_MAP_BASE};

/// Virtual address of physical address `pa` in the direct map.
pub const fn phys_to_virt(pa: u64) -> u64 {
    PHYS_MAP_BASE + pa
}

/// The free RAM regions, as the loader reported them.
pub struct Inventory {
    regions: &'static [MemoryRegion],
}

impl Inventory {
    /// Build the inventory from the BootInfo.
    pub fn from_boot_info(bi: &'static BootInfo) -> Self {
        Inventory {
            regions: bi.memory(),
        }
    }

    /// The free regions.
    pub fn free(&self) -> impl Iterator<Item = &MemoryRegion> {
        self.regions
            .iter()
            .filter(|r| r.kind() == MemoryKind::Free && r.len > 0)
    }

    /// The free memory as aligned power-of-two blocks, as `(base, size_bits)`:
    /// what the root task will receive as untyped capabilities.
    pub fn untyped_blocks(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.free()
            .flat_map(|r| kernel_core::region::untyped_blocks(r.start, r.end()))
    }

    /// Log the region count and size of free memory, and what is reserved.
    pub fn log_summary(&self) {
        let (count, bytes) = self
            .free()
            .fold((0u64, 0u64), |(c, b), r| (c + 1, b + r.len));
        let blocks = self.untyped_blocks().count();
        let sum = |k: MemoryKind| {
            self.regions
                .iter()
                .filter(|r| r.kind() == k)
                .map(|r| r.len)
                .sum::<u64>()
        };
        log::info!(
            "memory: {} free regions, {} MiB free as {} untyped blocks (kernel {} KiB, boot modules {} KiB, boot data {} KiB)",
            count,
            bytes >> 20,
            blocks,
            sum(MemoryKind::Kernel) >> 10,
            sum(MemoryKind::BootModules) >> 10,
            sum(MemoryKind::BootData) >> 10,
        );
    }
}
