//! Building the kernel's initial translation tables.
//!
//! Both architectures use four levels of 512-entry tables over a 48-bit
//! virtual space with a 4 KiB granule, so one walker serves both; only the
//! bits of an entry differ ([`Format`]). Leaves are 4 KiB pages, 2 MiB
//! blocks or (where allowed) 1 GiB blocks, chosen by alignment.
//!
//! Tables come from a [`TableSource`], which the UEFI build backs with
//! firmware page allocations and the host tests back with a vector.

/// Entry format of one architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// x86_64 4-level paging (PML4).
    X86_64,
    /// AArch64 VMSAv8-64, 4 KiB granule, 48-bit.
    Aarch64,
}

/// How a range is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attributes {
    /// Writable.
    pub write: bool,
    /// Executable (by the kernel; user access is never granted here).
    pub execute: bool,
    /// Device / uncached memory rather than normal write-back memory.
    pub device: bool,
}

impl Attributes {
    /// Read-only data.
    pub const RO: Self = Self {
        write: false,
        execute: false,
        device: false,
    };
    /// Read-write data.
    pub const RW: Self = Self {
        write: true,
        execute: false,
        device: false,
    };
    /// Code.
    pub const RX: Self = Self {
        write: false,
        execute: true,
        device: false,
    };
    /// Device registers.
    pub const DEVICE: Self = Self {
        write: true,
        execute: false,
        device: true,
    };
}

/// Why a mapping could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// Address or length not page aligned, or the range wraps.
    Misaligned,
    /// Part of the range is already mapped.
    AlreadyMapped(u64),
    /// The table source is exhausted.
    OutOfTables,
}

/// Where new (zeroed) tables come from and how they are reached.
pub trait TableSource {
    /// A new zeroed table; returns its physical address.
    fn alloc(&mut self) -> Option<u64>;
    /// The table at physical address `phys`.
    fn table(&mut self, phys: u64) -> &mut [u64; 512];
}

const PAGE: u64 = 4096;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

mod x86 {
    pub const PRESENT: u64 = 1 << 0;
    pub const WRITE: u64 = 1 << 1;
    pub const PWT: u64 = 1 << 3;
    pub const PCD: u64 = 1 << 4;
    pub const HUGE: u64 = 1 << 7;
    pub const GLOBAL: u64 = 1 << 8;
    pub const NX: u64 = 1 << 63;
}

mod arm {
    pub const VALID: u64 = 1 << 0;
    pub const TABLE_OR_PAGE: u64 = 1 << 1;
    pub const ATTR_SHIFT: u64 = 2;
    pub const AP_RO: u64 = 1 << 7;
    pub const SH_INNER: u64 = 3 << 8;
    pub const AF: u64 = 1 << 10;
    pub const PXN: u64 = 1 << 53;
    pub const UXN: u64 = 1 << 54;
}

impl Format {
    fn table_entry(self, phys: u64) -> u64 {
        match self {
            Format::X86_64 => phys | x86::PRESENT | x86::WRITE,
            Format::Aarch64 => phys | arm::VALID | arm::TABLE_OR_PAGE,
        }
    }

    /// A leaf at `level` (1 = 1 GiB, 2 = 2 MiB, 3 = 4 KiB).
    fn leaf_entry(self, level: usize, phys: u64, a: Attributes) -> u64 {
        match self {
            Format::X86_64 => {
                let mut e = phys | x86::PRESENT | x86::GLOBAL;
                if level < 3 {
                    e |= x86::HUGE;
                }
                if a.write {
                    e |= x86::WRITE;
                }
                if !a.execute {
                    e |= x86::NX;
                }
                if a.device {
                    e |= x86::PCD | x86::PWT;
                }
                e
            }
            Format::Aarch64 => {
                use abi::boot::aarch64_mair::{DEVICE, NORMAL};
                let mut e = phys | arm::VALID | arm::AF | arm::UXN;
                if level == 3 {
                    e |= arm::TABLE_OR_PAGE;
                }
                if a.device {
                    e |= DEVICE << arm::ATTR_SHIFT;
                } else {
                    e |= (NORMAL << arm::ATTR_SHIFT) | arm::SH_INNER;
                }
                if !a.write {
                    e |= arm::AP_RO;
                }
                if !a.execute {
                    e |= arm::PXN;
                }
                e
            }
        }
    }

    fn is_present(self, e: u64) -> bool {
        match self {
            Format::X86_64 => e & x86::PRESENT != 0,
            Format::Aarch64 => e & arm::VALID != 0,
        }
    }

    fn is_table(self, level: usize, e: u64) -> bool {
        self.is_present(e)
            && level < 3
            && match self {
                Format::X86_64 => e & x86::HUGE == 0,
                Format::Aarch64 => e & arm::TABLE_OR_PAGE != 0,
            }
    }
}

fn index(va: u64, level: usize) -> usize {
    ((va >> (39 - 9 * level as u64)) & 0x1ff) as usize
}

fn level_size(level: usize) -> u64 {
    1 << (39 - 9 * level as u64)
}

/// A four-level table tree under construction.
pub struct PageTables {
    /// Physical address of the root table.
    pub root: u64,
    format: Format,
    /// Whether 1 GiB leaves may be used.
    pub allow_1g: bool,
}

impl PageTables {
    /// A new empty tree.
    pub fn new(format: Format, src: &mut impl TableSource) -> Result<Self, MapError> {
        let root = src.alloc().ok_or(MapError::OutOfTables)?;
        Ok(PageTables {
            root,
            format,
            allow_1g: false,
        })
    }

    /// Map `[va, va+len)` to `[pa, pa+len)` with `attrs`, using the largest
    /// leaves alignment allows. Fails without mapping anything further on
    /// the first conflict (tables already built stay, which is harmless:
    /// the loader gives up on any error).
    pub fn map(
        &mut self,
        src: &mut impl TableSource,
        va: u64,
        pa: u64,
        len: u64,
        attrs: Attributes,
    ) -> Result<(), MapError> {
        if !va.is_multiple_of(PAGE) || !pa.is_multiple_of(PAGE) || !len.is_multiple_of(PAGE) {
            return Err(MapError::Misaligned);
        }
        va.checked_add(len).ok_or(MapError::Misaligned)?;
        pa.checked_add(len).ok_or(MapError::Misaligned)?;
        let mut off = 0;
        while off < len {
            let (v, p, rest) = (va + off, pa + off, len - off);
            let level = if self.allow_1g && (v | p) % level_size(1) == 0 && rest >= level_size(1) {
                1
            } else if (v | p) % level_size(2) == 0 && rest >= level_size(2) {
                2
            } else {
                3
            };
            self.map_one(src, v, p, level, attrs)?;
            off += level_size(level);
        }
        Ok(())
    }

    fn map_one(
        &mut self,
        src: &mut impl TableSource,
        va: u64,
        pa: u64,
        leaf_level: usize,
        attrs: Attributes,
    ) -> Result<(), MapError> {
        let mut table = self.root;
        for level in 0..leaf_level {
            let i = index(va, level);
            let e = src.table(table)[i];
            table = if self.format.is_table(level, e) {
                e & ADDR_MASK
            } else if self.format.is_present(e) {
                return Err(MapError::AlreadyMapped(va));
            } else {
                let new = src.alloc().ok_or(MapError::OutOfTables)?;
                src.table(table)[i] = self.format.table_entry(new);
                new
            };
        }
        let slot = &mut src.table(table)[index(va, leaf_level)];
        if self.format.is_present(*slot) {
            return Err(MapError::AlreadyMapped(va));
        }
        *slot = self.format.leaf_entry(leaf_level, pa, attrs);
        Ok(())
    }

    /// Walk the tree for `va`: the physical address and the raw leaf entry,
    /// if mapped. Used by tests and by the loader's self-check.
    pub fn translate(&self, src: &mut impl TableSource, va: u64) -> Option<(u64, u64)> {
        let mut table = self.root;
        for level in 0..4 {
            let e = src.table(table)[index(va, level)];
            if !self.format.is_present(e) {
                return None;
            }
            if self.format.is_table(level, e) {
                table = e & ADDR_MASK;
                continue;
            }
            let size = level_size(level);
            return Some(((e & ADDR_MASK & !(size - 1)) + (va & (size - 1)), e));
        }
        None
    }

    /// Make the root entries `[0, n)` (the lower half) point at the same
    /// next-level tables as root entries `[from, from + n)`: an identity map
    /// sharing the direct map's tables. x86_64 uses it for the hand-over.
    pub fn alias_root_entries(&self, src: &mut impl TableSource, from: usize, n: usize) {
        let root = src.table(self.root);
        for i in 0..n.min(512 - from) {
            root[i] = root[from + i];
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::{boxed::Box, vec::Vec};

    struct VecTables(Vec<Box<[u64; 512]>>, usize);
    impl TableSource for VecTables {
        fn alloc(&mut self) -> Option<u64> {
            if self.0.len() >= self.1 {
                return None;
            }
            self.0.push(Box::new([0; 512]));
            Some(((self.0.len() - 1) as u64 + 1) * PAGE)
        }
        fn table(&mut self, phys: u64) -> &mut [u64; 512] {
            &mut self.0[(phys / PAGE - 1) as usize]
        }
    }

    const HIGH: u64 = 0xffff_8000_0000_0000;

    #[test]
    fn maps_with_large_leaves_and_translates_on_both_formats() {
        for format in [Format::X86_64, Format::Aarch64] {
            let mut src = VecTables(Vec::new(), 64);
            let mut pt = PageTables::new(format, &mut src).unwrap();
            // 4 KiB head, 2 MiB blocks, 4 KiB tail.
            pt.map(
                &mut src,
                HIGH + 0x1ff000,
                0x1ff000,
                0x402000,
                Attributes::RW,
            )
            .unwrap();
            assert_eq!(pt.translate(&mut src, HIGH + 0x1ff123).unwrap().0, 0x1ff123);
            assert_eq!(pt.translate(&mut src, HIGH + 0x345678).unwrap().0, 0x345678);
            assert_eq!(pt.translate(&mut src, HIGH + 0x600fff).unwrap().0, 0x600fff);
            assert!(pt.translate(&mut src, HIGH + 0x601000).is_none());
            assert!(pt.translate(&mut src, HIGH + 0x1fe000).is_none());
            // Tables used: root, L1, L2, two L3 — the middle is blocks.
            assert_eq!(src.0.len(), 5, "{format:?}");
            assert_eq!(
                pt.map(&mut src, HIGH + 0x400000, 0, PAGE, Attributes::RO),
                Err(MapError::AlreadyMapped(HIGH + 0x400000))
            );
        }
    }

    #[test]
    fn encodes_wx_and_device_attributes() {
        let mut src = VecTables(Vec::new(), 16);
        let mut pt = PageTables::new(Format::X86_64, &mut src).unwrap();
        pt.map(&mut src, HIGH, 0x1000, PAGE, Attributes::RX)
            .unwrap();
        pt.map(&mut src, HIGH + PAGE, 0x2000, PAGE, Attributes::DEVICE)
            .unwrap();
        let (_, code) = pt.translate(&mut src, HIGH).unwrap();
        let (_, dev) = pt.translate(&mut src, HIGH + PAGE).unwrap();
        assert_eq!(code & (x86::WRITE | x86::NX), 0);
        assert_eq!(
            dev & (x86::WRITE | x86::NX | x86::PCD),
            x86::WRITE | x86::NX | x86::PCD
        );

        let mut src = VecTables(Vec::new(), 16);
        let mut pt = PageTables::new(Format::Aarch64, &mut src).unwrap();
        pt.map(&mut src, HIGH, 0x1000, PAGE, Attributes::RX)
            .unwrap();
        pt.map(&mut src, HIGH + PAGE, 0x2000, PAGE, Attributes::RW)
            .unwrap();
        let (_, code) = pt.translate(&mut src, HIGH).unwrap();
        let (_, data) = pt.translate(&mut src, HIGH + PAGE).unwrap();
        assert_eq!(
            code & (arm::PXN | arm::AP_RO | arm::UXN | arm::AF),
            arm::AP_RO | arm::UXN | arm::AF
        );
        assert_eq!(data & (arm::PXN | arm::AP_RO), arm::PXN);
    }

    #[test]
    fn errors_are_reported() {
        let mut src = VecTables(Vec::new(), 2);
        let mut pt = PageTables::new(Format::X86_64, &mut src).unwrap();
        assert_eq!(
            pt.map(&mut src, 1, 0, PAGE, Attributes::RO),
            Err(MapError::Misaligned)
        );
        assert_eq!(
            pt.map(&mut src, !0xfff, 0, 2 * PAGE, Attributes::RO),
            Err(MapError::Misaligned)
        );
        assert_eq!(
            pt.map(&mut src, HIGH, 0, PAGE, Attributes::RO),
            Err(MapError::OutOfTables)
        );
    }

    #[test]
    fn one_gib_leaves_only_when_allowed() {
        let mut src = VecTables(Vec::new(), 8);
        let mut pt = PageTables::new(Format::X86_64, &mut src).unwrap();
        pt.allow_1g = true;
        pt.map(&mut src, HIGH, 0, 1 << 30, Attributes::RW).unwrap();
        assert_eq!(src.0.len(), 2);
        pt.alias_root_entries(&mut src, 256, 1);
        assert_eq!(pt.translate(&mut src, 0x1234).unwrap().0, 0x1234);
    }
}
