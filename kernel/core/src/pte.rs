//! Page-table entries in the hardware's own format, for both
//! architectures (spec: VM-2, VM-5). Page tables live in retyped memory and
//! the MMU walks them directly, so the core writes real entries; this
//! module is the only place that knows their bits. The choice of format is
//! a value (`abi::context::Paging`), not a `cfg`, so the host tests run
//! both.

use abi::boot::aarch64_mair;
use abi::context::Paging;

/// A decoded entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pte {
    /// Empty.
    Empty,
    /// A link to the next-level table at this address.
    Table(u64),
    /// A user mapping of the frame at `frame`.
    Page {
        /// The frame's base.
        frame: u64,
        /// Writable (Read is always there).
        write: bool,
        /// Executable.
        execute: bool,
        /// Memory type.
        memory: Memory,
    },
}

/// The memory type of a mapping (spec: VM-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Memory {
    /// Write-back cached.
    WriteBack,
    /// Normal, uncached.
    Uncached,
    /// Device memory.
    Device,
}

const ADDR: u64 = 0x000f_ffff_ffff_f000;

mod x86 {
    pub const P: u64 = 1 << 0;
    pub const RW: u64 = 1 << 1;
    pub const US: u64 = 1 << 2;
    pub const PWT: u64 = 1 << 3;
    pub const PCD: u64 = 1 << 4;
    pub const PS: u64 = 1 << 7;
    pub const NX: u64 = 1 << 63;
}

mod arm {
    pub const VALID: u64 = 1 << 0;
    pub const TABLE_OR_PAGE: u64 = 1 << 1;
    pub const ATTR_SHIFT: u64 = 2;
    pub const AP_EL0: u64 = 1 << 6;
    pub const AP_RO: u64 = 1 << 7;
    pub const SH_INNER: u64 = 3 << 8;
    pub const AF: u64 = 1 << 10;
    pub const NG: u64 = 1 << 11;
    pub const PXN: u64 = 1 << 53;
    pub const UXN: u64 = 1 << 54;
}

/// Encode `e` for a table of `level` (0 … 3).
pub fn encode(p: Paging, level: u32, e: Pte) -> u64 {
    match (p, e) {
        (_, Pte::Empty) => 0,
        (Paging::X86_64, Pte::Table(t)) => t | x86::P | x86::RW | x86::US,
        (Paging::Aarch64, Pte::Table(t)) => t | arm::VALID | arm::TABLE_OR_PAGE,
        (
            Paging::X86_64,
            Pte::Page {
                frame,
                write,
                execute,
                memory,
            },
        ) => {
            let mut v = frame | x86::P | x86::US;
            if write {
                v |= x86::RW;
            }
            if !execute {
                v |= x86::NX;
            }
            if level < 3 {
                v |= x86::PS;
            }
            match memory {
                Memory::WriteBack => {}
                // UC through PCD|PWT with the default PAT.
                Memory::Uncached | Memory::Device => v |= x86::PCD | x86::PWT,
            }
            v
        }
        (
            Paging::Aarch64,
            Pte::Page {
                frame,
                write,
                execute,
                memory,
            },
        ) => {
            let attr = match memory {
                Memory::WriteBack => aarch64_mair::NORMAL,
                Memory::Uncached => aarch64_mair::NORMAL_NC,
                Memory::Device => aarch64_mair::DEVICE,
            };
            let mut v = frame
                | arm::VALID
                | arm::AF
                | arm::NG
                | arm::AP_EL0
                | arm::PXN
                | attr << arm::ATTR_SHIFT;
            if level == 3 {
                v |= arm::TABLE_OR_PAGE;
            }
            if memory != Memory::Device {
                v |= arm::SH_INNER;
            }
            if !write {
                v |= arm::AP_RO;
            }
            if !execute {
                v |= arm::UXN;
            }
            v
        }
    }
}

/// Decode an entry of a table of `level`; only entries [`encode`] wrote
/// occur.
pub fn decode(p: Paging, level: u32, v: u64) -> Pte {
    match p {
        Paging::X86_64 => {
            if v & x86::P == 0 {
                return Pte::Empty;
            }
            if level == 0 || (level < 3 && v & x86::PS == 0) {
                return Pte::Table(v & ADDR);
            }
            Pte::Page {
                frame: v & ADDR,
                write: v & x86::RW != 0,
                execute: v & x86::NX == 0,
                // Both uncached kinds are UC for the MMU; the kernel
                // marks device mappings with an available bit (bit 9).
                memory: if v & (1 << 9) != 0 {
                    Memory::Device
                } else if v & x86::PCD != 0 {
                    Memory::Uncached
                } else {
                    Memory::WriteBack
                },
            }
        }
        Paging::Aarch64 => {
            if v & arm::VALID == 0 {
                return Pte::Empty;
            }
            if level < 3 && v & arm::TABLE_OR_PAGE != 0 {
                return Pte::Table(v & ADDR);
            }
            Pte::Page {
                frame: v & ADDR,
                write: v & arm::AP_RO == 0,
                execute: v & arm::UXN == 0,
                memory: match (v >> arm::ATTR_SHIFT) & 7 {
                    aarch64_mair::NORMAL => Memory::WriteBack,
                    aarch64_mair::NORMAL_NC => Memory::Uncached,
                    _ => Memory::Device,
                },
            }
        }
    }
}

/// [`encode`] plus the x86_64 software bit that tells device mappings
/// from uncached normal ones (both are UC to the MMU).
pub fn encode_entry(p: Paging, level: u32, e: Pte) -> u64 {
    let v = encode(p, level, e);
    match (p, e) {
        (
            Paging::X86_64,
            Pte::Page {
                memory: Memory::Device,
                ..
            },
        ) => v | 1 << 9,
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_on_both_formats() {
        // spec: VM-2, VM-5
        for p in [Paging::X86_64, Paging::Aarch64] {
            for level in 0..4 {
                if level < 3 {
                    let t = Pte::Table(0x1234_5000);
                    assert_eq!(decode(p, level, encode_entry(p, level, t)), t);
                }
                if level == 0 {
                    continue;
                }
                for (write, execute, memory) in [
                    (true, false, Memory::WriteBack),
                    (false, true, Memory::WriteBack),
                    (false, false, Memory::Uncached),
                    (true, false, Memory::Device),
                ] {
                    let e = Pte::Page {
                        frame: 0x4000_0000,
                        write,
                        execute,
                        memory,
                    };
                    assert_eq!(
                        decode(p, level, encode_entry(p, level, e)),
                        e,
                        "{p:?} {level}"
                    );
                }
            }
            assert_eq!(decode(p, 2, 0), Pte::Empty);
        }
    }

    #[test]
    fn exact_hardware_words() {
        // spec: VM-2, VM-5 — known answers, bit by bit, from the Intel SDM
        // (P 0, R/W 1, U/S 2, PWT 3, PCD 4, PS 7, XD 63) and the Arm ARM
        // (valid 0, table/page 1, AttrIndx 2–4, AP[1] 6, AP[2] 7, SH 8–9,
        // AF 10, nG 11, PXN 53, UXN 54).
        let f = 0x4000_0000;
        let page = |write, execute, memory| Pte::Page {
            frame: f,
            write,
            execute,
            memory,
        };
        let x = |level, e| encode_entry(Paging::X86_64, level, e);
        assert_eq!(x(0, Pte::Table(0x5000)), 0x5007);
        assert_eq!(
            x(3, page(true, false, Memory::WriteBack)),
            f | 0x8000_0000_0000_0007
        );
        assert_eq!(x(2, page(false, true, Memory::Uncached)), f | 0x9d);
        assert_eq!(
            x(1, page(true, false, Memory::Device)),
            f | 0x8000_0000_0000_029f
        );
        let a = |level, e| encode_entry(Paging::Aarch64, level, e);
        assert_eq!(a(0, Pte::Table(0x5000)), 0x5003);
        // AttrIndx 1 (normal), AP[1], SH inner, AF, nG, PXN, UXN.
        assert_eq!(
            a(3, page(true, false, Memory::WriteBack)),
            f | 0x0060_0000_0000_0f47
        );
        // A block: bit 1 clear; read-only (AP[2]); non-cacheable (index 2).
        assert_eq!(
            a(2, page(false, true, Memory::Uncached)),
            f | 0x0020_0000_0000_0fc9
        );
        // Device (index 0), not shareable.
        assert_eq!(
            a(1, page(true, false, Memory::Device)),
            f | 0x0060_0000_0000_0c41
        );
    }

    #[test]
    fn hardware_bits_for_wx_and_device() {
        // spec: VM-11
        let dev = Pte::Page {
            frame: 0x1000,
            write: true,
            execute: false,
            memory: Memory::Device,
        };
        let x = encode_entry(Paging::X86_64, 3, dev);
        assert_ne!(x & x86::NX, 0);
        assert_eq!(x & (x86::PCD | x86::PWT), x86::PCD | x86::PWT);
        let a = encode_entry(Paging::Aarch64, 3, dev);
        assert_ne!(a & arm::UXN, 0);
        assert_eq!((a >> arm::ATTR_SHIFT) & 7, aarch64_mair::DEVICE);
    }
}
