//! Slots and the derivation tree stored in them (spec: ST-3, ST-4, DER-1 …
//! DER-4, DER-8).
//!
//! A slot is 32 bytes (ABI-14): 16 bytes of capability ([`crate::cap`]) and
//! 16 bytes of tree links. The links are three slot addresses — `prev`,
//! `next` and `child` — packed as 42-bit slot numbers (address / 32), which
//! is why every slot-holding object lies below [`SLOT_ADDR_LIMIT`]:
//!
//! - `child` is the first child; children form a list through `next`;
//! - `prev` is the previous sibling, or for a first child its parent. The
//!   two are told apart by asking whether `prev.child` is this slot.
//!
//! A parent pointer in every slot would need a fourth address; without it,
//! inserting a child (DER-3), moving a slot (DER-4) and finding whether a
//! capability is final (DER-6) are O(1), and removing a slot (DER-8) is
//! linear in its number of children only. Finding a slot's parent walks
//! back over its earlier siblings; only checks and projections need that.
//!
//! Parentless slots that refer to the same object are kept in one sibling
//! chain without parent, so that all capabilities to one object are
//! neighbours: the slots referring to an object form consecutive sibling
//! subtrees (Retype inserts a new object's capability at the front, copies
//! go to the front of their source's children, Move and exchange keep
//! positions, and Remove splices children in place). That makes finality a
//! look at the slot's neighbours ([`is_final`]).

use crate::cap::Cap;
use crate::mem::{Memory, PAddr, get, get_mut};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Size of a slot in bytes (spec: ABI-14).
pub const SLOT_SIZE: u64 = 1 << abi::object::SLOT_BITS;

/// Slot-holding objects (CNodes, TCBs, the kernel's IRQ table) lie below
/// this physical address, so a slot number fits in 42 bits.
pub const SLOT_ADDR_LIMIT: PAddr = 1 << 47;

const NUM_BITS: u32 = 42;
const NUM_MASK: u64 = (1 << NUM_BITS) - 1;

/// One slot as stored.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct RawSlot {
    /// The capability ([`Cap::encode`]).
    pub cap: [u64; 2],
    /// The packed tree links.
    pub links: [u64; 2],
}

/// A slot's tree links, decoded. 0 means none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// Previous sibling, or the parent for a first child.
    pub prev: PAddr,
    /// Next sibling.
    pub next: PAddr,
    /// First child.
    pub child: PAddr,
}

impl Links {
    fn pack(self) -> [u64; 2] {
        let num = |a: PAddr| {
            debug_assert!(a < SLOT_ADDR_LIMIT && a.is_multiple_of(SLOT_SIZE));
            a >> abi::object::SLOT_BITS
        };
        let (p, n, c) = (num(self.prev), num(self.next), num(self.child));
        [p | (n & ((1 << 22) - 1)) << NUM_BITS, n >> 22 | c << 20]
    }

    fn unpack(w: [u64; 2]) -> Links {
        let addr = |n: u64| (n & NUM_MASK) << abi::object::SLOT_BITS;
        Links {
            prev: addr(w[0]),
            next: addr(w[0] >> NUM_BITS | (w[1] & ((1 << 20) - 1)) << 22),
            child: addr(w[1] >> 20),
        }
    }

    fn map(self, f: impl Fn(PAddr) -> PAddr) -> Links {
        Links {
            prev: f(self.prev),
            next: f(self.next),
            child: f(self.child),
        }
    }
}

/// The capability in slot `s`.
pub fn cap(m: &impl Memory, s: PAddr) -> Cap {
    Cap::decode(get::<RawSlot>(m, s).cap)
}

/// Overwrite the capability in slot `s`, keeping its links.
pub fn set_cap(m: &mut impl Memory, s: PAddr, c: Cap) {
    get_mut::<RawSlot>(m, s).cap = c.encode();
}

/// The links of slot `s`.
pub fn links(m: &impl Memory, s: PAddr) -> Links {
    Links::unpack(get::<RawSlot>(m, s).links)
}

fn set_links(m: &mut impl Memory, s: PAddr, l: Links) {
    get_mut::<RawSlot>(m, s).links = l.pack();
}

/// The parent of `s` (walks back over earlier siblings).
pub fn parent(m: &impl Memory, s: PAddr) -> Option<PAddr> {
    let mut at = s;
    loop {
        let prev = links(m, at).prev;
        if prev == 0 {
            return None;
        }
        if links(m, prev).child == at {
            return Some(prev);
        }
        at = prev;
    }
}

/// The children of `s`, first first.
pub fn children<'m, M: Memory>(m: &'m M, s: PAddr) -> impl Iterator<Item = PAddr> + 'm {
    let mut at = links(m, s).child;
    core::iter::from_fn(move || {
        if at == 0 {
            return None;
        }
        let c = at;
        at = links(m, c).next;
        Some(c)
    })
}

/// Whether `s` has children.
pub fn has_children(m: &impl Memory, s: PAddr) -> bool {
    links(m, s).child != 0
}

/// Place `c` in the empty slot `s` as the first child of `parent`
/// (spec: DER-2, DER-3).
pub fn insert_child(m: &mut impl Memory, parent: PAddr, s: PAddr, c: Cap) {
    let p = links(m, parent);
    if p.child != 0 {
        let mut first = links(m, p.child);
        first.prev = s;
        set_links(m, p.child, first);
    }
    set_links(
        m,
        s,
        Links {
            prev: parent,
            next: p.child,
            child: 0,
        },
    );
    set_links(m, parent, Links { child: s, ..p });
    set_cap(m, s, c);
}

/// Place `c` in the empty slot `s` without parent, in the parentless chain
/// right after `sibling` (boot: parentless capabilities to one object are
/// kept as neighbours), or alone when `sibling` is `None`.
pub fn insert_root(m: &mut impl Memory, s: PAddr, c: Cap, sibling: Option<PAddr>) {
    let mut l = Links::default();
    if let Some(sib) = sibling {
        let mut sl = links(m, sib);
        debug_assert!(parent(m, sib).is_none());
        l.prev = sib;
        l.next = sl.next;
        if sl.next != 0 {
            let mut nl = links(m, sl.next);
            nl.prev = s;
            set_links(m, sl.next, nl);
        }
        sl.next = s;
        set_links(m, sib, sl);
    }
    set_links(m, s, l);
    set_cap(m, s, c);
}

/// Point whatever referred to `old` as its next sibling or first child at
/// `new` instead (the slot before `old` in its chain).
fn relink_prev(m: &mut impl Memory, prev: PAddr, old: PAddr, new: PAddr) {
    if prev == 0 {
        return;
    }
    let mut pl = links(m, prev);
    if pl.child == old {
        pl.child = new;
    } else {
        pl.next = new;
    }
    set_links(m, prev, pl);
}

/// Remove the capability in `s` (spec: DER-8): its children take its place
/// among its parent's children, in order, and `s` becomes empty. No
/// deletion effect.
pub fn remove(m: &mut impl Memory, s: PAddr) {
    let l = links(m, s);
    if l.child == 0 {
        relink_prev(m, l.prev, s, l.next);
        if l.next != 0 {
            let mut nl = links(m, l.next);
            nl.prev = l.prev;
            set_links(m, l.next, nl);
        }
    } else {
        let first = l.child;
        let mut last = first;
        loop {
            let next = links(m, last).next;
            if next == 0 {
                break;
            }
            last = next;
        }
        relink_prev(m, l.prev, s, first);
        let mut fl = links(m, first);
        fl.prev = l.prev;
        set_links(m, first, fl);
        let mut ll = links(m, last);
        ll.next = l.next;
        set_links(m, last, ll);
        if l.next != 0 {
            let mut nl = links(m, l.next);
            nl.prev = last;
            set_links(m, l.next, nl);
        }
    }
    *get_mut::<RawSlot>(m, s) = RawSlot::default();
}

/// Exchange the contents of slots `a` and `b`, each capability keeping its
/// tree position (spec: DER-15 step 4). With `b` empty this is a Move
/// (spec: CNODE-4, DER-4).
pub fn swap(m: &mut impl Memory, a: PAddr, b: PAddr) {
    if a == b {
        return;
    }
    let (la, lb) = (links(m, a), links(m, b));
    let f = |x: PAddr| {
        if x == a {
            b
        } else if x == b {
            a
        } else {
            x
        }
    };
    // Every neighbour's reference to `a` becomes `b` and back; each
    // neighbour is rewritten once, from its original links.
    let neighbours = [la.prev, la.next, la.child, lb.prev, lb.next, lb.child];
    for (i, &x) in neighbours.iter().enumerate() {
        if x == 0 || x == a || x == b || neighbours[..i].contains(&x) {
            continue;
        }
        let lx = links(m, x);
        set_links(m, x, lx.map(f));
    }
    let (ca, cb) = (get::<RawSlot>(m, a).cap, get::<RawSlot>(m, b).cap);
    *get_mut::<RawSlot>(m, a) = RawSlot {
        cap: cb,
        links: lb.map(f).pack(),
    };
    *get_mut::<RawSlot>(m, b) = RawSlot {
        cap: ca,
        links: la.map(f).pack(),
    };
}

/// Whether the capability in `s` is final (spec: DER-6): no other slot
/// refers to its object. Capabilities to one object are neighbours (module
/// comment), so looking at the first child and the two chain neighbours is
/// enough.
pub fn is_final(m: &impl Memory, s: PAddr) -> bool {
    let Some(obj) = cap(m, s).object() else {
        return true;
    };
    let l = links(m, s);
    [l.child, l.prev, l.next]
        .into_iter()
        .all(|x| x == 0 || cap(m, x).object() != Some(obj))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::BufferMemory;
    use alloc::vec::Vec;

    const B: PAddr = 0x1000;

    #[test]
    fn links_pack_every_bit_of_the_three_slot_numbers() {
        // spec: UT-14 — slot numbers of up to 42 bits (slots below 2^47).
        let top = SLOT_ADDR_LIMIT - SLOT_SIZE;
        for (prev, next, child) in [
            (top, 0, 0),
            (0, top, 0),
            (0, 0, top),
            (top, top, top),
            (SLOT_SIZE, SLOT_SIZE << 21, SLOT_SIZE << 22),
            (0x5555_5555_5540, 0x2aaa_aaaa_aaa0, 0x1234_5678_9ae0),
        ] {
            let l = Links { prev, next, child };
            let back = Links::unpack(l.pack());
            assert_eq!((back.prev, back.next, back.child), (prev, next, child));
        }
    }

    fn at(i: u64) -> PAddr {
        B + i * SLOT_SIZE
    }

    fn ep(badge: u64) -> Cap {
        Cap::Endpoint {
            obj: 0x10,
            badge,
            rights: abi::rights::Rights::ALL,
        }
    }

    fn kids(m: &BufferMemory, s: PAddr) -> Vec<PAddr> {
        children(m, s).collect()
    }

    #[test]
    fn links_pack_round_trip_at_the_limits() {
        let l = Links {
            prev: SLOT_ADDR_LIMIT - SLOT_SIZE,
            next: 0x20,
            child: (SLOT_ADDR_LIMIT - SLOT_SIZE) ^ 0x5555_5555_5540,
        };
        assert_eq!(Links::unpack(l.pack()), l);
        assert_eq!(Links::unpack(Links::default().pack()), Links::default());
    }

    #[test]
    fn children_are_inserted_at_the_front_and_removed_in_place() {
        // spec: DER-3, DER-8
        let mut m = BufferMemory::new(B, 0x1000);
        insert_root(&mut m, at(0), ep(0), None);
        for i in 1..=3 {
            insert_child(&mut m, at(0), at(i), ep(0));
        }
        assert_eq!(kids(&m, at(0)), [at(3), at(2), at(1)]);
        insert_child(&mut m, at(2), at(4), ep(0));
        insert_child(&mut m, at(2), at(5), ep(0));
        assert_eq!(parent(&m, at(4)), Some(at(2)));
        assert_eq!(parent(&m, at(1)), Some(at(0)));
        remove(&mut m, at(2));
        assert_eq!(kids(&m, at(0)), [at(3), at(5), at(4), at(1)]);
        assert_eq!(parent(&m, at(4)), Some(at(0)));
        assert!(cap(&m, at(2)).is_null());
        remove(&mut m, at(3)); // first child, no children
        remove(&mut m, at(1)); // last child
        assert_eq!(kids(&m, at(0)), [at(5), at(4)]);
        remove(&mut m, at(0)); // a root: children become parentless
        assert_eq!(parent(&m, at(5)), None);
        assert_eq!(parent(&m, at(4)), None);
    }

    #[test]
    fn swap_keeps_positions_even_between_neighbours() {
        // spec: DER-4, DER-15
        let mut m = BufferMemory::new(B, 0x1000);
        insert_root(&mut m, at(0), ep(0), None);
        insert_child(&mut m, at(0), at(1), ep(1));
        insert_child(&mut m, at(0), at(2), ep(2));
        insert_child(&mut m, at(2), at(3), ep(3));
        // at(0) -> [at(2) -> [at(3)], at(1)]
        swap(&mut m, at(2), at(1)); // adjacent siblings
        assert_eq!(kids(&m, at(0)), [at(1), at(2)]);
        assert_eq!(cap(&m, at(1)), ep(2));
        assert_eq!(kids(&m, at(1)), [at(3)]);
        swap(&mut m, at(0), at(1)); // parent and first child
        assert_eq!(kids(&m, at(1)), [at(0), at(2)]);
        assert_eq!(kids(&m, at(0)), [at(3)]);
        assert_eq!(parent(&m, at(1)), None);
        swap(&mut m, at(3), at(7)); // a move into an empty slot
        assert_eq!(kids(&m, at(0)), [at(7)]);
        assert!(cap(&m, at(3)).is_null());
        assert_eq!(links(&m, at(3)), Links::default());
    }

    #[test]
    fn finality_looks_at_neighbours() {
        // spec: DER-6
        let mut m = BufferMemory::new(B, 0x1000);
        let ut = Cap::Untyped {
            base: 0x10_0000,
            size_bits: 12,
            device: false,
            watermark: 0,
        };
        let other = Cap::Endpoint {
            obj: 0x20,
            badge: 0,
            rights: abi::rights::Rights::ALL,
        };
        insert_root(&mut m, at(0), ut, None);
        insert_child(&mut m, at(0), at(1), other);
        insert_child(&mut m, at(0), at(2), ep(0));
        assert!(is_final(&m, at(2)) && is_final(&m, at(1)) && is_final(&m, at(0)));
        insert_child(&mut m, at(2), at(3), ep(0));
        assert!(!is_final(&m, at(2)) && !is_final(&m, at(3)));
        remove(&mut m, at(2));
        assert!(is_final(&m, at(3)));
        insert_root(&mut m, at(4), Cap::Tcb { obj: 0x800 }, None);
        insert_root(&mut m, at(5), Cap::Tcb { obj: 0x800 }, Some(at(4)));
        assert!(!is_final(&m, at(4)) && !is_final(&m, at(5)));
    }
}
