//! The hand-over from the UEFI loader to the kernel.
//!
//! The loader fills one [`BootInfo`] in memory it allocates, builds the
//! kernel's initial page tables and enters the kernel with the *physical*
//! address of the `BootInfo` in the first argument register (`rdi` on
//! x86_64, `x0` on aarch64). Everything here is plain `repr(C)` data with
//! fixed-size arrays: no pointers into loader memory, no lifetimes, so the
//! kernel can read it through its direct physical map with `zerocopy`.
//!
//! The structure carries a magic number and a version; the kernel refuses a
//! `BootInfo` whose magic or version it does not know rather than guessing.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `"CAPKBOOT"` in little-endian ASCII.
pub const BOOT_MAGIC: u64 = u64::from_le_bytes(*b"CAPKBOOT");
/// Bumped whenever the layout below changes.
pub const BOOT_VERSION: u32 = 1;

/// Most memory-map entries the loader hands over (after merging adjacent
/// entries of the same kind). OVMF produces about 100 raw entries.
pub const MAX_MEMORY_REGIONS: usize = 256;
/// Most boot modules (files of the initial image) the loader hands over.
pub const MAX_BOOT_MODULES: usize = 8;
/// Length of a boot module's name, NUL-padded.
pub const MODULE_NAME_LEN: usize = 32;
/// Length of the kernel command line, NUL-padded.
pub const CMDLINE_LEN: usize = 256;

/// Size of a small page on both architectures.
pub const PAGE_SIZE: u64 = 4096;

/// Virtual layout shared by loader and kernel (48-bit, 4 KiB granule, both
/// architectures). All of it lies in the upper half: `TTBR1_EL1` on
/// aarch64, PML4 entries 256..512 on x86_64.
pub mod layout {
    /// Every byte of physical memory below `BootInfo::phys_map_size` is
    /// mapped at `PHYS_MAP_BASE + paddr`: RAM as normal write-back, all
    /// else as device (uncached) memory. Never executable.
    pub const PHYS_MAP_BASE: u64 = 0xffff_8000_0000_0000;
    /// Kernel image link address (top 2 GiB, as the x86_64 `kernel` code
    /// model requires). The kernel ELF is linked here.
    pub const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;
    /// Top of the boot stack the loader maps for the kernel. The page below
    /// the stack's lowest page is left unmapped as a guard.
    pub const KERNEL_STACK_TOP: u64 = 0xffff_ffff_7000_0000;
    /// Size of that boot stack.
    pub const KERNEL_STACK_SIZE: u64 = 64 * 1024;
}

/// aarch64 memory attribute indices used in page-table entries. The kernel
/// programs `MAIR_EL1` with exactly these; the loader builds its tables
/// with the same indices.
pub mod aarch64_mair {
    /// Attr0: Device-nGnRnE.
    pub const DEVICE: u64 = 0;
    /// Attr1: Normal, inner/outer write-back read/write-allocate.
    pub const NORMAL: u64 = 1;
    /// Attr2: Normal, non-cacheable (framebuffers).
    pub const NORMAL_NC: u64 = 2;
    /// The `MAIR_EL1` value that gives the indices above their meaning
    /// (Attr0 is 0x00, Device-nGnRnE, so it contributes no bits).
    pub const MAIR_VALUE: u64 = (0xff << 8) | (0x44 << 16);
}

/// What a memory region is. Only [`MemoryKind::Free`] becomes untyped memory.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// RAM nobody uses: becomes untyped memory.
    Free = 0,
    /// Firmware-reserved, unusable, or unknown.
    Reserved = 1,
    /// ACPI tables; reclaimable once the tables have been read.
    AcpiReclaimable = 2,
    /// ACPI non-volatile storage: never touched.
    AcpiNvs = 3,
    /// Memory-mapped I/O described by the firmware.
    Mmio = 4,
    /// UEFI runtime services code and data (kept, never reused).
    FirmwareRuntime = 5,
    /// The loaded kernel image.
    Kernel = 6,
    /// The boot modules (initial image).
    BootModules = 7,
    /// Memory the loader allocated for the kernel: page tables, boot stack,
    /// this `BootInfo`. In use when the kernel starts.
    BootData = 8,
    /// RAM reported faulty by the firmware.
    Faulty = 9,
}

impl MemoryKind {
    /// Decode a raw kind word; an unknown value is treated as reserved.
    pub fn from_raw(raw: u32) -> Self {
        match raw {
            0 => Self::Free,
            2 => Self::AcpiReclaimable,
            3 => Self::AcpiNvs,
            4 => Self::Mmio,
            5 => Self::FirmwareRuntime,
            6 => Self::Kernel,
            7 => Self::BootModules,
            8 => Self::BootData,
            9 => Self::Faulty,
            _ => Self::Reserved,
        }
    }
}

/// One physically contiguous region, page aligned.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct MemoryRegion {
    /// Physical start address (page aligned).
    pub start: u64,
    /// Length in bytes (a multiple of [`PAGE_SIZE`]).
    pub len: u64,
    /// A [`MemoryKind`] as its raw `u32`.
    pub kind: u32,
    /// Zero.
    pub _reserved: u32,
}

impl MemoryRegion {
    /// The region's kind.
    pub fn kind(&self) -> MemoryKind {
        MemoryKind::from_raw(self.kind)
    }
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }
}

/// Pixel layout of a linear framebuffer.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    /// No framebuffer was found.
    None = 0,
    /// 32 bits per pixel, bytes R, G, B, reserved.
    Rgbx = 1,
    /// 32 bits per pixel, bytes B, G, R, reserved.
    Bgrx = 2,
}

/// The GOP framebuffer, if the firmware offered a linear one.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Framebuffer {
    /// Physical base address; 0 when there is none.
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
    /// Visible width in pixels.
    pub width: u32,
    /// Visible height in pixels.
    pub height: u32,
    /// Pixels per scan line (>= width).
    pub stride: u32,
    /// A [`PixelFormat`] as its raw `u32`.
    pub format: u32,
}

/// A file of the initial image, loaded by the loader into physical memory.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct BootModule {
    /// Physical start (page aligned).
    pub start: u64,
    /// Length in bytes (the file's size, not rounded).
    pub len: u64,
    /// File name, NUL-padded UTF-8.
    pub name: [u8; MODULE_NAME_LEN],
}

impl Default for BootModule {
    fn default() -> Self {
        Self {
            start: 0,
            len: 0,
            name: [0; MODULE_NAME_LEN],
        }
    }
}

impl BootModule {
    /// The module's name up to its first NUL (or `"?"` if not UTF-8).
    pub fn name(&self) -> &str {
        let n = self
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(MODULE_NAME_LEN);
        core::str::from_utf8(&self.name[..n]).unwrap_or("?")
    }
}

/// Everything the kernel learns from the loader.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct BootInfo {
    /// [`BOOT_MAGIC`].
    pub magic: u64,
    /// [`BOOT_VERSION`].
    pub version: u32,
    /// How many entries of `memory` are valid.
    pub memory_len: u32,
    /// The physical memory inventory, sorted by address, non-overlapping.
    pub memory: [MemoryRegion; MAX_MEMORY_REGIONS],
    /// Physical address of the ACPI RSDP (ACPI 2.0 preferred); 0 if none.
    pub acpi_rsdp: u64,
    /// Physical address of the flattened device tree; 0 if none.
    pub dtb: u64,
    /// The framebuffer, if any.
    pub framebuffer: Framebuffer,
    /// Physical base and size of the loaded kernel image.
    pub kernel_phys: u64,
    /// Size of the loaded kernel image in bytes.
    pub kernel_len: u64,
    /// How many entries of `modules` are valid.
    pub modules_len: u64,
    /// Boot modules (the initial image).
    pub modules: [BootModule; MAX_BOOT_MODULES],
    /// Physical memory below this address is reachable at
    /// [`layout::PHYS_MAP_BASE`] + address.
    pub phys_map_size: u64,
    /// Physical address of the top-level translation table for the upper
    /// half (x86_64 PML4 — which also holds the lower-half identity map
    /// used for the hand-over; aarch64 `TTBR1_EL1` table).
    pub page_table_root: u64,
    /// aarch64: physical address of the identity-map table for `TTBR0_EL1`
    /// used while the kernel turns the MMU on. 0 on x86_64.
    pub identity_root: u64,
    /// Length of `cmdline` in bytes.
    pub cmdline_len: u64,
    /// The kernel command line (from `cmdline.txt` on the ESP), UTF-8.
    pub cmdline: [u8; CMDLINE_LEN],
}

impl BootInfo {
    /// The command line as a string: at most `cmdline_len` bytes, cut at
    /// the first NUL; empty if it is not UTF-8.
    pub fn cmdline(&self) -> &str {
        let n = (self.cmdline_len as usize).min(CMDLINE_LEN);
        let bytes = &self.cmdline[..n];
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(n);
        core::str::from_utf8(&bytes[..end]).unwrap_or("")
    }
    /// The valid memory regions.
    pub fn memory(&self) -> &[MemoryRegion] {
        &self.memory[..(self.memory_len as usize).min(MAX_MEMORY_REGIONS)]
    }
    /// The valid boot modules.
    pub fn modules(&self) -> &[BootModule] {
        &self.modules[..(self.modules_len as usize).min(MAX_BOOT_MODULES)]
    }
    /// Whether the magic and version are the ones this build knows.
    pub fn is_valid(&self) -> bool {
        self.magic == BOOT_MAGIC && self.version == BOOT_VERSION
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::FromZeros;

    #[test]
    fn layout_is_stable_and_padding_free() {
        // IntoBytes derive already rejects padding; pin the size so a change
        // is a deliberate version bump.
        assert_eq!(core::mem::size_of::<MemoryRegion>(), 24);
        assert_eq!(core::mem::size_of::<BootModule>(), 48);
        assert_eq!(core::mem::size_of::<Framebuffer>(), 32);
        assert_eq!(core::mem::size_of::<BootInfo>() % 8, 0);
    }

    #[test]
    fn unknown_memory_kind_is_reserved() {
        assert_eq!(MemoryKind::from_raw(0), MemoryKind::Free);
        assert_eq!(MemoryKind::from_raw(77), MemoryKind::Reserved);
        assert_eq!(MemoryKind::from_raw(8), MemoryKind::BootData);
    }

    #[test]
    fn zeroed_bootinfo_is_rejected_and_lists_are_clamped() {
        let mut bi = BootInfo::new_zeroed();
        assert!(!bi.is_valid());
        bi.memory_len = u32::MAX;
        bi.modules_len = u64::MAX;
        bi.cmdline_len = u64::MAX;
        assert_eq!(bi.memory().len(), MAX_MEMORY_REGIONS);
        assert_eq!(bi.modules().len(), MAX_BOOT_MODULES);
        assert_eq!(bi.cmdline(), "");
        bi.magic = BOOT_MAGIC;
        bi.version = BOOT_VERSION;
        assert!(bi.is_valid());
    }
}
