//! Capabilities: the decoded form the core computes with, and the 16-byte
//! form stored in a slot (spec: ST-5, ABI-14).
//!
//! Why a hand-written encoding: a slot is 32 bytes (ABI-14), of which the
//! capability gets 16, and `bitflags`/`zerocopy` do not pack tagged unions
//! of this shape. The encoding relies on alignment: every object is at
//! least 16-byte aligned (INV-1), so an object address leaves bits 0 … 3
//! free for the type tag, and physical addresses are below 2^52 (x86_64
//! and aarch64 alike), leaving bits 52 … 63 for small fields.

use crate::mem::PAddr;
use abi::rights::Rights;

/// Which object a Zombie finalises (spec: DER-14).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZombieKind {
    /// A CNode of this radix.
    CNode {
        /// 1 ..= 24.
        radix: u8,
    },
    /// A TCB.
    Tcb,
}

impl ZombieKind {
    /// How many slots the object has.
    pub const fn slot_count(self) -> u64 {
        match self {
            ZombieKind::CNode { radix } => 1 << radix,
            ZombieKind::Tcb => abi::invocation::TCB_SLOTS as u64,
        }
    }

    /// log2 of the object's size.
    pub const fn obj_bits(self) -> u32 {
        match self {
            ZombieKind::CNode { radix } => radix as u32 + abi::object::SLOT_BITS,
            ZombieKind::Tcb => abi::object::TCB_BITS,
        }
    }
}

/// A capability (spec: ST-5). `Null` is the empty slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Cap {
    /// An empty slot.
    #[default]
    Null,
    /// An untyped region (spec: UT-2).
    Untyped {
        /// Base, aligned to `2^size_bits`.
        base: PAddr,
        /// 4 ..= 47.
        size_bits: u8,
        /// Device memory.
        device: bool,
        /// Bytes from `base` below which children may live.
        watermark: u64,
    },
    /// A CNode; the radix travels in the capability because the CNode is
    /// nothing but its slots.
    CNode {
        /// The object.
        obj: PAddr,
        /// 1 ..= 24.
        radix: u8,
    },
    /// An endpoint.
    Endpoint {
        /// The object.
        obj: PAddr,
        /// 0: unbadged.
        badge: u64,
        /// Rights.
        rights: Rights,
    },
    /// A notification.
    Notification {
        /// The object.
        obj: PAddr,
        /// 0: unbadged.
        badge: u64,
        /// Rights.
        rights: Rights,
    },
    /// A thread.
    Tcb {
        /// The object.
        obj: PAddr,
    },
    /// A one-shot reply to `caller` (spec: IPC-16).
    Reply {
        /// The TCB waiting for the reply.
        caller: PAddr,
        /// Counts as Grant.
        can_grant: bool,
    },
    /// The authority to claim IRQ lines.
    IrqControl,
    /// The authority to handle one line.
    IrqHandler {
        /// The line, below `IRQ_LINES`.
        line: u16,
    },
    /// A frame.
    Frame {
        /// The object.
        obj: PAddr,
        /// 12, 21 or 30.
        size_bits: u8,
        /// Device memory.
        device: bool,
        /// Read and Write only.
        rights: Rights,
        /// `(asid, vaddr)` while mapped.
        mapping: Option<(u16, u64)>,
    },
    /// A page table.
    PageTable {
        /// The object.
        obj: PAddr,
        /// `(asid, vaddr, level)` while linked.
        mapping: Option<(u16, u64, u8)>,
    },
    /// A top-level table (its ASID is kept in the table, see
    /// `object::vspace`).
    VSpace {
        /// The object.
        obj: PAddr,
    },
    /// The authority to make ASID pools (spec: ASID-2).
    AsidControl,
    /// An ASID pool.
    AsidPool {
        /// The object.
        obj: PAddr,
        /// The pool's first ASID.
        asid_base: u16,
    },
    /// A CNode or TCB whose deletion is unfinished (spec: DER-14).
    Zombie {
        /// The object kind.
        kind: ZombieKind,
        /// The object.
        obj: PAddr,
        /// Slots not yet known to be empty.
        remaining: u64,
        /// Slot to resume in once this object is gone, 0 for none.
        resume: PAddr,
    },
}

/// The stored form of a capability: two words (spec: ABI-14).
pub type RawCap = [u64; 2];

mod tag {
    pub const NULL: u64 = 0;
    pub const UNTYPED: u64 = 1;
    pub const CNODE: u64 = 2;
    pub const ENDPOINT: u64 = 3;
    pub const NOTIFICATION: u64 = 4;
    pub const TCB: u64 = 5;
    pub const REPLY: u64 = 6;
    pub const IRQ_CONTROL: u64 = 7;
    pub const IRQ_HANDLER: u64 = 8;
    pub const FRAME: u64 = 9;
    pub const PAGE_TABLE: u64 = 10;
    pub const VSPACE: u64 = 11;
    pub const ASID_CONTROL: u64 = 12;
    pub const ASID_POOL: u64 = 13;
    pub const ZOMBIE: u64 = 14;
}

const TAG_MASK: u64 = 0xf;
const ADDR_MASK: u64 = ((1 << 52) - 1) & !TAG_MASK;
const HI: u32 = 52;

fn field(w: u64, at: u32, bits: u32) -> u64 {
    (w >> at) & ((1 << bits) - 1)
}

fn rights(w: u64) -> Rights {
    // Only ever stored from a valid `Rights`; masking keeps decoding total.
    match Rights::from_word(field(w, HI, 4)) {
        Ok(r) => r,
        Err(_) => Rights::NONE,
    }
}

fn frame_bits(code: u64) -> u8 {
    match code {
        0 => 12,
        1 => 21,
        _ => 30,
    }
}

fn frame_code(bits: u8) -> u64 {
    match bits {
        12 => 0,
        21 => 1,
        _ => 2,
    }
}

impl Cap {
    /// Encode for storage in a slot.
    pub fn encode(self) -> RawCap {
        match self {
            Cap::Null => [0, 0],
            Cap::Untyped {
                base,
                size_bits,
                device,
                watermark,
            } => [
                base | tag::UNTYPED | (size_bits as u64) << HI | (device as u64) << 58,
                watermark,
            ],
            Cap::CNode { obj, radix } => [obj | tag::CNODE | (radix as u64) << HI, 0],
            Cap::Endpoint { obj, badge, rights } => {
                [obj | tag::ENDPOINT | rights.bits() << HI, badge]
            }
            Cap::Notification { obj, badge, rights } => {
                [obj | tag::NOTIFICATION | rights.bits() << HI, badge]
            }
            Cap::Tcb { obj } => [obj | tag::TCB, 0],
            Cap::Reply { caller, can_grant } => [caller | tag::REPLY | (can_grant as u64) << HI, 0],
            Cap::IrqControl => [tag::IRQ_CONTROL, 0],
            Cap::IrqHandler { line } => [tag::IRQ_HANDLER, line as u64],
            Cap::Frame {
                obj,
                size_bits,
                device,
                rights,
                mapping,
            } => {
                let (mapped, asid, vaddr) = match mapping {
                    Some((a, v)) => (1, a as u64, v),
                    None => (0, 0, 0),
                };
                [
                    obj | tag::FRAME
                        | rights.bits() << HI
                        | frame_code(size_bits) << 56
                        | (device as u64) << 58
                        | mapped << 59,
                    asid << 48 | vaddr,
                ]
            }
            Cap::PageTable { obj, mapping } => {
                let (linked, asid, vaddr, level) = match mapping {
                    Some((a, v, l)) => (1, a as u64, v, l as u64),
                    None => (0, 0, 0, 0),
                };
                [
                    obj | tag::PAGE_TABLE | linked << HI | level << 53,
                    asid << 48 | vaddr,
                ]
            }
            Cap::VSpace { obj } => [obj | tag::VSPACE, 0],
            Cap::AsidControl => [tag::ASID_CONTROL, 0],
            Cap::AsidPool { obj, asid_base } => [obj | tag::ASID_POOL, asid_base as u64],
            Cap::Zombie {
                kind,
                obj,
                remaining,
                resume,
            } => {
                // `remaining` (at most the slot count, `radix + 1` bits) sits
                // in the object's own alignment bits above the tag: a CNode
                // is aligned to 2^(radix + 5), a TCB to 2^11.
                let (k, radix) = match kind {
                    ZombieKind::CNode { radix } => (0, radix as u64),
                    ZombieKind::Tcb => (1, 0),
                };
                [
                    obj | remaining << 4 | tag::ZOMBIE | k << HI | radix << 53,
                    resume,
                ]
            }
        }
    }

    /// Decode a stored capability. Slots are written only by the core, so
    /// an unknown tag is a broken kernel invariant.
    pub fn decode(raw: RawCap) -> Cap {
        let [w0, w1] = raw;
        let obj = w0 & ADDR_MASK;
        match w0 & TAG_MASK {
            tag::NULL => Cap::Null,
            tag::UNTYPED => Cap::Untyped {
                base: obj,
                size_bits: field(w0, HI, 6) as u8,
                device: field(w0, 58, 1) != 0,
                watermark: w1,
            },
            tag::CNODE => Cap::CNode {
                obj,
                radix: field(w0, HI, 5) as u8,
            },
            tag::ENDPOINT => Cap::Endpoint {
                obj,
                badge: w1,
                rights: rights(w0),
            },
            tag::NOTIFICATION => Cap::Notification {
                obj,
                badge: w1,
                rights: rights(w0),
            },
            tag::TCB => Cap::Tcb { obj },
            tag::REPLY => Cap::Reply {
                caller: obj,
                can_grant: field(w0, HI, 1) != 0,
            },
            tag::IRQ_CONTROL => Cap::IrqControl,
            tag::IRQ_HANDLER => Cap::IrqHandler { line: w1 as u16 },
            tag::FRAME => Cap::Frame {
                obj,
                size_bits: frame_bits(field(w0, 56, 2)),
                device: field(w0, 58, 1) != 0,
                rights: rights(w0).intersect(Rights::READ_WRITE),
                mapping: (field(w0, 59, 1) != 0)
                    .then_some(((w1 >> 48) as u16, w1 & ((1 << 48) - 1))),
            },
            tag::PAGE_TABLE => Cap::PageTable {
                obj,
                mapping: (field(w0, HI, 1) != 0).then_some((
                    (w1 >> 48) as u16,
                    w1 & ((1 << 48) - 1),
                    field(w0, 53, 2) as u8,
                )),
            },
            tag::VSPACE => Cap::VSpace { obj },
            tag::ASID_CONTROL => Cap::AsidControl,
            tag::ASID_POOL => Cap::AsidPool {
                obj,
                asid_base: w1 as u16,
            },
            tag::ZOMBIE => {
                let kind = if field(w0, HI, 1) == 0 {
                    ZombieKind::CNode {
                        radix: field(w0, 53, 5) as u8,
                    }
                } else {
                    ZombieKind::Tcb
                };
                let align = (1u64 << kind.obj_bits()) - 1;
                Cap::Zombie {
                    kind,
                    obj: obj & !align,
                    remaining: (obj & align) >> 4,
                    resume: w1,
                }
            }
            other => panic!("corrupt capability tag {other} in a slot"),
        }
    }

    /// Whether the slot is empty.
    pub fn is_null(self) -> bool {
        matches!(self, Cap::Null)
    }

    /// The object the capability refers to, for "same object" (spec: ST-5,
    /// DER-6): type family and address. Untyped, Reply, IRQControl and
    /// the null capability refer to nothing shared.
    pub fn object(self) -> Option<ObjRef> {
        Some(match self {
            Cap::CNode { obj, .. }
            | Cap::Zombie {
                kind: ZombieKind::CNode { .. },
                obj,
                ..
            } => ObjRef::CNode(obj),
            Cap::Tcb { obj }
            | Cap::Zombie {
                kind: ZombieKind::Tcb,
                obj,
                ..
            } => ObjRef::Tcb(obj),
            Cap::Endpoint { obj, .. } => ObjRef::Endpoint(obj),
            Cap::Notification { obj, .. } => ObjRef::Notification(obj),
            Cap::Frame { obj, .. } => ObjRef::Frame(obj),
            Cap::PageTable { obj, .. } => ObjRef::PageTable(obj),
            Cap::VSpace { obj } => ObjRef::VSpace(obj),
            Cap::AsidPool { obj, .. } => ObjRef::AsidPool(obj),
            Cap::IrqHandler { line } => ObjRef::IrqLine(line),
            Cap::Null
            | Cap::Untyped { .. }
            | Cap::Reply { .. }
            | Cap::IrqControl
            | Cap::AsidControl => return None,
        })
    }

    /// The rights a mask applies to (spec: CAP-4; Reply's `can_grant`
    /// counts as Grant), `None` for types without rights.
    pub fn rights(self) -> Option<Rights> {
        match self {
            Cap::Endpoint { rights, .. }
            | Cap::Notification { rights, .. }
            | Cap::Frame { rights, .. } => Some(rights),
            Cap::Reply { can_grant, .. } => Some(if can_grant {
                Rights::GRANT
            } else {
                Rights::NONE
            }),
            _ => None,
        }
    }

    /// The capability with its rights intersected with `mask` (spec:
    /// CAP-6); everything else is kept.
    pub fn masked(self, mask: Rights) -> Cap {
        match self {
            Cap::Endpoint { obj, badge, rights } => Cap::Endpoint {
                obj,
                badge,
                rights: rights.intersect(mask),
            },
            Cap::Notification { obj, badge, rights } => Cap::Notification {
                obj,
                badge,
                rights: rights.intersect(mask),
            },
            Cap::Frame {
                obj,
                size_bits,
                device,
                rights,
                mapping,
            } => Cap::Frame {
                obj,
                size_bits,
                device,
                rights: rights.intersect(mask),
                mapping,
            },
            Cap::Reply { caller, can_grant } => Cap::Reply {
                caller,
                can_grant: can_grant && mask.contains(Rights::GRANT),
            },
            other => other,
        }
    }

    /// A derived copy (spec: CNODE-2, IPC-13): rights intersected with
    /// `mask`, and a Frame copy is unmapped.
    pub fn derived(self, mask: Rights) -> Cap {
        match self.masked(mask) {
            Cap::Frame {
                obj,
                size_bits,
                device,
                rights,
                ..
            } => Cap::Frame {
                obj,
                size_bits,
                device,
                rights,
                mapping: None,
            },
            other => other,
        }
    }

    /// The badge of an Endpoint or Notification capability.
    pub fn badge(self) -> Option<u64> {
        match self {
            Cap::Endpoint { badge, .. } | Cap::Notification { badge, .. } => Some(badge),
            _ => None,
        }
    }

    /// The capability with badge `badge` (only Endpoint and Notification).
    pub fn with_badge(self, badge: u64) -> Cap {
        match self {
            Cap::Endpoint { obj, rights, .. } => Cap::Endpoint { obj, badge, rights },
            Cap::Notification { obj, rights, .. } => Cap::Notification { obj, badge, rights },
            other => other,
        }
    }

    /// Whether Copy, Mint and transfer may derive from it (spec: CAP-9),
    /// for every type but VSpace, whose answer depends on whether its
    /// VSpace has an ASID (`Kernel::derivable`).
    pub fn is_derivable_type(self) -> bool {
        !matches!(
            self,
            Cap::Null
                | Cap::Untyped { .. }
                | Cap::Reply { .. }
                | Cap::IrqControl
                | Cap::AsidControl
                | Cap::PageTable { .. }
                | Cap::Zombie { .. }
        )
    }
}

/// The identity of the object a capability refers to (spec: ST-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjRef {
    /// A CNode (or its Zombie).
    CNode(PAddr),
    /// A TCB (or its Zombie).
    Tcb(PAddr),
    /// An endpoint.
    Endpoint(PAddr),
    /// A notification.
    Notification(PAddr),
    /// A frame.
    Frame(PAddr),
    /// A page table.
    PageTable(PAddr),
    /// A VSpace.
    VSpace(PAddr),
    /// An ASID pool.
    AsidPool(PAddr),
    /// An IRQ line (IRQHandler capabilities).
    IrqLine(u16),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> [Cap; 19] {
        [
            Cap::Null,
            Cap::Untyped {
                base: 0x8000_0000,
                size_bits: 31,
                device: true,
                watermark: 0x7fff_fff0,
            },
            Cap::CNode {
                obj: 0x1234_0000,
                radix: 24,
            },
            Cap::Endpoint {
                obj: 0xf_ffff_fff0,
                badge: u64::MAX,
                rights: Rights::ALL,
            },
            Cap::Notification {
                obj: 0x20,
                badge: 7,
                rights: Rights::READ,
            },
            Cap::Tcb { obj: 0x800 },
            Cap::Reply {
                caller: 0x1000,
                can_grant: true,
            },
            Cap::IrqControl,
            Cap::IrqHandler { line: 1023 },
            Cap::Frame {
                obj: 0x20_0000,
                size_bits: 21,
                device: true,
                rights: Rights::READ,
                mapping: None,
            },
            Cap::Frame {
                obj: 0x3000,
                size_bits: 12,
                device: false,
                rights: Rights::WRITE,
                mapping: Some((1, 0x1000)),
            },
            Cap::Frame {
                obj: 0x4000_0000,
                size_bits: 30,
                device: false,
                rights: Rights::READ_WRITE,
                mapping: Some((0xffff, 0x7fff_ffff_f000)),
            },
            Cap::PageTable {
                obj: 0x3000,
                mapping: Some((1, 0x20_0000, 3)),
            },
            Cap::VSpace { obj: 0x5000 },
            Cap::Reply {
                caller: 0x1800,
                can_grant: false,
            },
            Cap::AsidControl,
            Cap::AsidPool {
                obj: 0x7000,
                asid_base: 127 * 512,
            },
            Cap::Zombie {
                kind: ZombieKind::CNode { radix: 24 },
                obj: 0x2000_0000,
                remaining: 1 << 24,
                resume: 0xa0,
            },
            Cap::Zombie {
                kind: ZombieKind::Tcb,
                obj: 0x1_0000_0800,
                remaining: 5,
                resume: 0,
            },
        ]
    }

    #[test]
    fn every_kind_round_trips_with_extreme_fields() {
        for c in samples() {
            assert_eq!(Cap::decode(c.encode()), c, "{c:?}");
        }
    }

    #[test]
    fn the_empty_slot_is_all_zero() {
        assert_eq!(Cap::Null.encode(), [0, 0]);
    }

    #[test]
    fn masks_only_remove_rights() {
        // spec: CAP-6
        let ep = Cap::Endpoint {
            obj: 0x10,
            badge: 0,
            rights: Rights::READ.union(Rights::WRITE),
        };
        assert_eq!(
            ep.masked(Rights::ALL).rights(),
            Some(Rights::READ.union(Rights::WRITE))
        );
        assert_eq!(ep.masked(Rights::WRITE).rights(), Some(Rights::WRITE));
        let reply = Cap::Reply {
            caller: 0x800,
            can_grant: true,
        };
        assert_eq!(reply.masked(Rights::READ).rights(), Some(Rights::NONE));
        assert_eq!(Cap::Tcb { obj: 0x800 }.masked(Rights::NONE).rights(), None);
    }
}
