//! The invariant checkers of `invariants.md`, one per rule, each named
//! after its id (`inv_1` checks INV-1, …). They read any [`State`]: the
//! model's, or the kernel core's projected onto it.
//!
//! Parts of rules about what the abstract state does not hold (line
//! masking, the platform's lines) are left out and say so;
//! `current == None` stands for the idle thread, which is not in the
//! state. The ready bitmap of INV-29 is implicit: `ready` stores only
//! non-empty queues.
//!
//! INV-31 holds at the end of every entry, not at the preemption points
//! inside one; [`check_all`] includes it, [`check_mid_entry`] leaves it
//! out. Which lines are `Reserved` depends on the platform, not on the
//! state: [`inv_36_boot`] checks that part of INV-36 against the
//! [`BootConfig`] and is not in [`CHECKERS`].

use abi::rights::Rights;
use abi::sched::TIME_SLICE_TICKS;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::entry::BootConfig;
use crate::model::{ObjRef, refers_to};
use crate::state::{
    Addr, Cap, EndpointState, IrqState, MemoryType, NotificationState, Object, Pte, SlotRef, State,
    ThreadState, ZombieKind,
};

/// A broken invariant: the rule id and what was found.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// The rule, e.g. `"INV-17"`.
    pub rule: &'static str,
    /// What is wrong, for a human.
    pub detail: String,
}

/// Tells whether physical memory is zero (for INV-6).
pub trait ZeroOracle {
    /// Whether every byte of `[base, base + len)` is zero.
    fn is_zero(&self, base: Addr, len: u64) -> bool;
}

/// The oracle for abstract memory (the model's): every byte is zero.
#[derive(Clone, Copy, Debug, Default)]
pub struct AssumeZero;

impl ZeroOracle for AssumeZero {
    fn is_zero(&self, _base: Addr, _len: u64) -> bool {
        true
    }
}

/// The oracle for the model's memory: a range is zero when
/// `State::frame_data` holds no (non-zero) word in it.
#[derive(Clone, Copy, Debug)]
pub struct FrameData<'a>(pub &'a State);

impl ZeroOracle for FrameData<'_> {
    fn is_zero(&self, base: Addr, len: u64) -> bool {
        let end = base.saturating_add(len);
        // An 8-byte word starting below `base` may reach into the range.
        let from = base.saturating_sub(7);
        !self
            .0
            .frame_data
            .range(from..end)
            .any(|(&a, _)| a.saturating_add(8) > base)
    }
}

/// A checker's type.
pub type Checker = fn(&State, &dyn ZeroOracle) -> Result<(), Violation>;

/// Every checker with its rule id.
pub const CHECKERS: &[(&str, Checker)] = &[
    ("INV-1", inv_1),
    ("INV-2", inv_2),
    ("INV-3", inv_3),
    ("INV-4", inv_4),
    ("INV-5", inv_5),
    ("INV-6", inv_6),
    ("INV-7", inv_7),
    ("INV-8", inv_8),
    ("INV-9", inv_9),
    ("INV-10", inv_10),
    ("INV-11", inv_11),
    ("INV-12", inv_12),
    ("INV-13", inv_13),
    ("INV-14", inv_14),
    ("INV-15", inv_15),
    ("INV-16", inv_16),
    ("INV-17", inv_17),
    ("INV-18", inv_18),
    ("INV-19", inv_19),
    ("INV-20", inv_20),
    ("INV-21", inv_21),
    ("INV-22", inv_22),
    ("INV-23", inv_23),
    ("INV-24", inv_24),
    ("INV-25", inv_25),
    ("INV-26", inv_26),
    ("INV-27", inv_27),
    ("INV-28", inv_28),
    ("INV-29", inv_29),
    ("INV-30", inv_30),
    ("INV-31", inv_31),
    ("INV-32", inv_32),
    ("INV-33", inv_33),
    ("INV-34", inv_34),
    ("INV-35", inv_35),
    ("INV-36", inv_36),
    ("INV-37", inv_37),
];

/// Run every checker; the violations found, in rule order.
pub fn check_all(s: &State, mem: &dyn ZeroOracle) -> Vec<Violation> {
    CHECKERS
        .iter()
        .filter_map(|(_, check)| check(s, mem).err())
        .collect()
}

/// Every checker but INV-31, for states inside an entry (at a
/// preemption point, SYS-15).
pub fn check_mid_entry(s: &State, mem: &dyn ZeroOracle) -> Vec<Violation> {
    CHECKERS
        .iter()
        .filter(|(rule, _)| *rule != "INV-31")
        .filter_map(|(_, check)| check(s, mem).err())
        .collect()
}

fn fail(rule: &'static str, detail: String) -> Result<(), Violation> {
    Err(Violation { rule, detail })
}

// ----- helpers ------------------------------------------------------------

/// `[base, base + len)` as a half-open range; `u128` so no end overflows.
type Range = (u128, u128);

fn range(base: Addr, bits: u32) -> Range {
    (u128::from(base), u128::from(base) + (1u128 << bits.min(64)))
}

fn inside(inner: Range, outer: Range) -> bool {
    outer.0 <= inner.0 && inner.1 <= outer.1
}

fn overlap(a: Range, b: Range) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// The memory a capability names: an untyped's region, or its live
/// object's range.
fn cap_range(s: &State, cap: &Cap) -> Option<Range> {
    if let Cap::Untyped {
        base, size_bits, ..
    } = cap
    {
        return Some(range(*base, *size_bits));
    }
    let obj = match refers_to(cap)? {
        ObjRef::CNode(a)
        | ObjRef::Tcb(a)
        | ObjRef::Endpoint(a)
        | ObjRef::Notification(a)
        | ObjRef::Frame(a)
        | ObjRef::PageTable(a)
        | ObjRef::VSpace(a)
        | ObjRef::AsidPool(a) => a,
        ObjRef::IrqLine(_) => return None,
    };
    s.objects.get(&obj).map(|o| range(obj, o.size_bits()))
}

/// The Untyped capabilities with their slots.
fn untypeds(s: &State) -> impl Iterator<Item = (SlotRef, Addr, u32, bool, u64)> + '_ {
    s.slots.iter().filter_map(|(&at, slot)| match slot.cap {
        Cap::Untyped {
            base,
            size_bits,
            device,
            watermark,
        } => Some((at, base, size_bits, device, watermark)),
        _ => None,
    })
}

/// Whether `d` is a descendant of `a` (following parent links, bounded).
fn is_descendant(s: &State, d: SlotRef, a: SlotRef) -> bool {
    let mut cur = s.slots.get(&d).and_then(|x| x.parent);
    for _ in 0..=s.slots.len() {
        match cur {
            None => return false,
            Some(p) if p == a => return true,
            Some(p) => cur = s.slots.get(&p).and_then(|x| x.parent),
        }
    }
    false
}

/// All descendants of `a` (bounded by the number of slots).
fn descendants(s: &State, a: SlotRef) -> Vec<SlotRef> {
    let mut out = Vec::new();
    let mut todo: Vec<SlotRef> = s
        .slots
        .get(&a)
        .map(|x| x.children.clone())
        .unwrap_or_default();
    let mut seen = BTreeSet::new();
    while let Some(c) = todo.pop() {
        if !seen.insert(c) {
            continue;
        }
        out.push(c);
        if let Some(x) = s.slots.get(&c) {
            todo.extend(x.children.iter().copied());
        }
    }
    out
}

/// The rights a capability carries (Reply: `can_grant` as Grant), or
/// `None` for types without rights (CAP-4).
fn rights_of(cap: &Cap) -> Option<Rights> {
    match *cap {
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

fn tcbs(s: &State) -> impl Iterator<Item = (Addr, &crate::state::Tcb)> + '_ {
    s.objects.iter().filter_map(|(&a, o)| match o {
        Object::Tcb(t) => Some((a, t)),
        _ => None,
    })
}

/// The thread queue of an endpoint or notification, if any.
fn queue_of(o: &Object) -> Option<&Vec<Addr>> {
    match o {
        Object::Endpoint(EndpointState::Sending(q) | EndpointState::Receiving(q)) => Some(q),
        Object::Notification(n) => match &n.state {
            NotificationState::Waiting(q) => Some(q),
            _ => None,
        },
        _ => None,
    }
}

fn is_live(s: &State, r: ObjRef) -> bool {
    match r {
        ObjRef::CNode(a) => matches!(s.objects.get(&a), Some(Object::CNode { .. })),
        ObjRef::Tcb(a) => matches!(s.objects.get(&a), Some(Object::Tcb(_))),
        ObjRef::Endpoint(a) => matches!(s.objects.get(&a), Some(Object::Endpoint(_))),
        ObjRef::Notification(a) => matches!(s.objects.get(&a), Some(Object::Notification(_))),
        ObjRef::Frame(a) => matches!(s.objects.get(&a), Some(Object::Frame { .. })),
        ObjRef::PageTable(a) => matches!(s.objects.get(&a), Some(Object::PageTable { .. })),
        ObjRef::VSpace(a) => matches!(s.objects.get(&a), Some(Object::VSpace { .. })),
        ObjRef::AsidPool(a) => matches!(s.objects.get(&a), Some(Object::AsidPool { .. })),
        // spec: INV-9 — an IRQHandler names an `Active` line.
        ObjRef::IrqLine(l) => matches!(s.irq.get(&l), Some(IrqState::Active { .. })),
    }
}

/// The object reference of a live object.
fn obj_ref(a: Addr, o: &Object) -> ObjRef {
    match o {
        Object::CNode { .. } => ObjRef::CNode(a),
        Object::Tcb(_) => ObjRef::Tcb(a),
        Object::Endpoint(_) => ObjRef::Endpoint(a),
        Object::Notification(_) => ObjRef::Notification(a),
        Object::Frame { .. } => ObjRef::Frame(a),
        Object::PageTable { .. } => ObjRef::PageTable(a),
        Object::VSpace { .. } => ObjRef::VSpace(a),
        Object::AsidPool { .. } => ObjRef::AsidPool(a),
    }
}

// ----- memory and objects -------------------------------------------------

/// INV-1 Aligned: live objects and untyped regions are aligned to their
/// size.
pub fn inv_1(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for (&a, o) in &s.objects {
        let bits = o.size_bits();
        if bits >= 64 || a % (1u64 << bits) != 0 {
            return fail("INV-1", format!("object {a:#x} ({o:?}) not aligned"));
        }
    }
    for (at, base, bits, ..) in untypeds(s) {
        if bits >= 64 || base % (1u64 << bits) != 0 {
            return fail(
                "INV-1",
                format!("untyped in {at:?} at {base:#x} not aligned"),
            );
        }
    }
    Ok(())
}

/// INV-2 Distinct: live objects are pairwise disjoint and outside the
/// kernel's memory.
pub fn inv_2(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    let mut prev: Option<(Addr, Range)> = None;
    for (&a, o) in &s.objects {
        let r = range(a, o.size_bits());
        if let Some((p, pr)) = prev
            && overlap(pr, r)
        {
            return fail("INV-2", format!("objects {p:#x} and {a:#x} overlap"));
        }
        for &(kb, kl) in &s.kernel_memory {
            let k = (u128::from(kb), u128::from(kb) + u128::from(kl));
            if overlap(k, r) {
                return fail(
                    "INV-2",
                    format!("object {a:#x} overlaps kernel memory {kb:#x}"),
                );
            }
        }
        prev = Some((a, r));
    }
    Ok(())
}

/// INV-3 Untyped nesting: untyped regions are disjoint or nested, the
/// contained one a descendant of the containing one.
pub fn inv_3(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    let all: Vec<_> = untypeds(s).collect();
    for (i, &(u, ub, ubits, ..)) in all.iter().enumerate() {
        for &(v, vb, vbits, ..) in &all[i + 1..] {
            let (ru, rv) = (range(ub, ubits), range(vb, vbits));
            if !overlap(ru, rv) {
                continue;
            }
            let ok = (inside(rv, ru) && is_descendant(s, v, u))
                || (inside(ru, rv) && is_descendant(s, u, v));
            if !ok {
                return fail("INV-3", format!("untypeds in {u:?} and {v:?} overlap"));
            }
        }
    }
    Ok(())
}

/// INV-4 Untyped coverage: every capability to something inside an
/// untyped's region descends from it, except the untyped itself and the
/// Untyped capabilities it descends from (a child untyped may cover its
/// ancestor's whole region).
pub fn inv_4(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for (u, ub, ubits, ..) in untypeds(s) {
        let ru = range(ub, ubits);
        for (&c, slot) in &s.slots {
            // The cheap test first: few capabilities lie inside any one
            // untyped, and the ancestry walks are the cost.
            let Some(r) = cap_range(s, &slot.cap) else {
                continue;
            };
            if c == u || !inside(r, ru) || is_descendant(s, u, c) {
                continue;
            }
            if !is_descendant(s, c, u) {
                return fail(
                    "INV-4",
                    format!("{c:?} lies inside the untyped in {u:?} but is not below it"),
                );
            }
        }
    }
    Ok(())
}

/// INV-5 Watermark: with descendants, everything inside lies below the
/// watermark; the watermark is at most the size.
pub fn inv_5(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    let objects: Vec<Range> = s
        .objects
        .iter()
        .map(|(&a, o)| range(a, o.size_bits()))
        .collect();
    for (u, ub, ubits, _, wm) in untypeds(s) {
        let ru = range(ub, ubits);
        if u128::from(wm) > ru.1 - ru.0 {
            return fail("INV-5", format!("watermark of {u:?} beyond its size"));
        }
        if s.slots.get(&u).is_none_or(|x| x.children.is_empty()) {
            continue;
        }
        let limit = ru.0 + u128::from(wm);
        let above = |r: Range| inside(r, ru) && r.1 > limit;
        let found = objects.iter().copied().find(|&r| above(r)).or_else(|| {
            // Other untyped regions inside U, except U's ancestors (which
            // may cover the same region, INV-4).
            untypeds(s)
                .filter(|x| x.0 != u && above(range(x.1, x.2)) && !is_descendant(s, u, x.0))
                .map(|(_, b, bits, ..)| range(b, bits))
                .next()
        });
        if let Some(r) = found {
            return fail(
                "INV-5",
                format!("{:#x} in the untyped in {u:?} above its watermark", r.0),
            );
        }
    }
    Ok(())
}

/// INV-6 Zero above the watermark: asks `mem` about every byte of
/// `[base + watermark, base + 2^size_bits)` of every non-device untyped,
/// minus the regions of its descendant untypeds.
pub fn inv_6(s: &State, mem: &dyn ZeroOracle) -> Result<(), Violation> {
    for (u, ub, ubits, device, wm) in untypeds(s) {
        if device {
            continue;
        }
        let (start, end) = range(ub, ubits);
        let mut holes: Vec<Range> = descendants(s, u)
            .into_iter()
            .filter_map(|d| match s.slots.get(&d).map(|x| x.cap) {
                Some(Cap::Untyped {
                    base, size_bits, ..
                }) => Some(range(base, size_bits)),
                _ => None,
            })
            .collect();
        holes.sort();
        let mut from = start + u128::from(wm);
        for (hb, he) in holes.into_iter().chain([(end, end)]) {
            if hb > from {
                let len = hb.min(end) - from;
                if len > 0 && !mem.is_zero(from as u64, len as u64) {
                    return fail(
                        "INV-6",
                        format!(
                            "non-zero bytes in [{from:#x}, +{len:#x}) above the watermark of {u:?}"
                        ),
                    );
                }
            }
            from = from.max(he);
            if from >= end {
                break;
            }
        }
    }
    Ok(())
}

/// INV-7 Device memory: what lies inside a device untyped is a device
/// Frame or device Untyped; device Frames and Untypeds do not lie inside
/// RAM (a non-device untyped) — the platform's memory map is not in the
/// state, so this is all "lies inside device memory" can check; no TCB's
/// `IpcBufferFrame` slot holds a device frame.
pub fn inv_7(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    let is_device = |cap: &Cap| match cap {
        Cap::Untyped { device, .. } => *device,
        Cap::Frame { obj, .. } => {
            matches!(s.objects.get(obj), Some(Object::Frame { device: true, .. }))
        }
        _ => false,
    };
    for (u, ub, ubits, udev, _) in untypeds(s) {
        let ru = range(ub, ubits);
        for (&c, slot) in &s.slots {
            if c == u {
                continue;
            }
            let Some(r) = cap_range(s, &slot.cap) else {
                continue;
            };
            if !inside(r, ru) {
                continue;
            }
            if udev && !is_device(&slot.cap) {
                return fail(
                    "INV-7",
                    format!("{c:?} is inside device untyped {u:?} but not device"),
                );
            }
            if !udev && is_device(&slot.cap) {
                return fail("INV-7", format!("device {c:?} inside RAM untyped {u:?}"));
            }
        }
    }
    for (&at, slot) in &s.slots {
        if matches!(at, SlotRef::Tcb { index: 2, .. }) && is_device(&slot.cap) {
            return fail("INV-7", format!("device frame as IPC buffer in {at:?}"));
        }
    }
    Ok(())
}

/// INV-8 Sizes: untyped 4 ..= 47, CNode radix 1 ..= 24, Frame 12, 21 or 30.
pub fn inv_8(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for (at, _, bits, ..) in untypeds(s) {
        if !(4..=47).contains(&bits) {
            return fail("INV-8", format!("untyped in {at:?} has size_bits {bits}"));
        }
    }
    for (&a, o) in &s.objects {
        let ok = match o {
            Object::CNode { radix } => (1..=24).contains(radix),
            Object::Frame { size_bits, .. } => [12, 21, 30].contains(size_bits),
            _ => true,
        };
        if !ok {
            return fail("INV-8", format!("object {a:#x} has a bad size: {o:?}"));
        }
    }
    Ok(())
}

// ----- capabilities and slots ---------------------------------------------

/// INV-9 No dangling references: capabilities, thread states, bindings,
/// endpoint, notification and ready queues, `current` and `reply_at` name
/// live objects and slots; an IRQHandler names an `Active` line.
pub fn inv_9(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for (&at, slot) in &s.slots {
        let live = match slot.cap {
            Cap::Reply { caller, .. } => is_live(s, ObjRef::Tcb(caller)),
            cap => refers_to(&cap).is_none_or(|r| is_live(s, r)),
        };
        if !live {
            return fail(
                "INV-9",
                format!("{at:?} holds {:?}, which dangles", slot.cap),
            );
        }
    }
    let slot_live = |r: SlotRef| match r {
        SlotRef::CNode { obj, .. } => is_live(s, ObjRef::CNode(obj)),
        SlotRef::Tcb { obj, .. } => is_live(s, ObjRef::Tcb(obj)),
        SlotRef::Irq { .. } => true,
    };
    for (t, tcb) in tcbs(s) {
        let named = match tcb.state {
            ThreadState::BlockedOnSend { ep, .. } | ThreadState::BlockedOnRecv { ep, .. } => {
                is_live(s, ObjRef::Endpoint(ep))
            }
            ThreadState::BlockedOnNotification { ntfn } => is_live(s, ObjRef::Notification(ntfn)),
            _ => true,
        };
        let bound = tcb
            .bound_notification
            .is_none_or(|n| is_live(s, ObjRef::Notification(n)));
        let reply = tcb.reply_at.is_none_or(slot_live);
        if !(named && bound && reply) {
            return fail(
                "INV-9",
                format!("thread {t:#x} names a dead object or slot"),
            );
        }
    }
    for (&a, o) in &s.objects {
        if let Object::Notification(n) = o
            && n.bound_tcb.is_some_and(|t| !is_live(s, ObjRef::Tcb(t)))
        {
            return fail(
                "INV-9",
                format!("notification {a:#x} bound to a dead thread"),
            );
        }
        if let Some(q) = queue_of(o)
            && q.iter().any(|&t| !is_live(s, ObjRef::Tcb(t)))
        {
            return fail("INV-9", format!("a dead thread is queued on {a:#x}"));
        }
    }
    for (p, q) in &s.ready {
        if let Some(t) = q.iter().find(|&&t| !is_live(s, ObjRef::Tcb(t))) {
            return fail("INV-9", format!("dead thread {t:#x} in ready queue {p}"));
        }
    }
    if let Some(c) = s.current
        && !is_live(s, ObjRef::Tcb(c))
    {
        return fail("INV-9", format!("current {c:#x} is not a live thread"));
    }
    Ok(())
}

/// INV-10 Objects are held: every live object has a capability (a Zombie
/// counts); every `Active` line has an IRQHandler, and no IRQHandler
/// names a `Reserved` or `Inactive` line. (The idle thread is not in the
/// state.)
pub fn inv_10(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    let held: BTreeSet<ObjRef> = s.slots.values().filter_map(|x| refers_to(&x.cap)).collect();
    for (&a, o) in &s.objects {
        if !held.contains(&obj_ref(a, o)) {
            return fail("INV-10", format!("object {a:#x} ({o:?}) has no capability"));
        }
    }
    for (&line, st) in &s.irq {
        if matches!(st, IrqState::Active { .. }) && !held.contains(&ObjRef::IrqLine(line)) {
            return fail("INV-10", format!("Active line {line} has no IRQHandler"));
        }
    }
    for r in &held {
        if let ObjRef::IrqLine(line) = *r
            && !matches!(s.irq.get(&line), Some(IrqState::Active { .. }))
        {
            return fail(
                "INV-10",
                format!("an IRQHandler names line {line}, not Active"),
            );
        }
    }
    Ok(())
}

/// INV-11 Slots are reachable: every non-empty slot belongs to a live
/// CNode (index below `2^radix`), a live TCB (index below 5) or the IRQ
/// table.
pub fn inv_11(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for &at in s.slots.keys() {
        let ok = match at {
            SlotRef::CNode { obj, index } => matches!(
                s.objects.get(&obj),
                Some(Object::CNode { radix }) if *radix < 64 && index < (1u64 << radix)
            ),
            SlotRef::Tcb { obj, index } => {
                matches!(s.objects.get(&obj), Some(Object::Tcb(_)))
                    && index < abi::invocation::TCB_SLOTS as u64
            }
            SlotRef::Irq { .. } => true,
        };
        if !ok {
            return fail("INV-11", format!("{at:?} is not a slot of a live object"));
        }
    }
    Ok(())
}

/// INV-12 Unique capabilities: one IRQControl and one ASIDControl at
/// most; two Untyped capabilities with the same region are an ancestor and
/// its descendant; one capability per PageTable; one Reply per thread.
pub fn inv_12(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    let caps: Vec<Cap> = s.slots.values().map(|x| x.cap).collect();
    if caps.iter().filter(|c| matches!(c, Cap::IrqControl)).count() > 1 {
        return fail("INV-12", "two IRQControl capabilities".into());
    }
    if caps
        .iter()
        .filter(|c| matches!(c, Cap::AsidControl))
        .count()
        > 1
    {
        return fail("INV-12", "two ASIDControl capabilities".into());
    }
    let all: Vec<_> = untypeds(s).collect();
    for (i, &(u, ub, ubits, ..)) in all.iter().enumerate() {
        for &(v, vb, vbits, ..) in &all[i + 1..] {
            if (ub, ubits) == (vb, vbits) && !is_descendant(s, u, v) && !is_descendant(s, v, u) {
                return fail(
                    "INV-12",
                    format!("untypeds in {u:?} and {v:?} share a region"),
                );
            }
        }
    }
    let mut seen_pt = BTreeSet::new();
    let mut seen_reply = BTreeSet::new();
    for c in &caps {
        let dup = match *c {
            Cap::PageTable { obj, .. } => !seen_pt.insert(obj),
            Cap::Reply { caller, .. } => !seen_reply.insert(caller),
            _ => false,
        };
        if dup {
            return fail("INV-12", format!("{c:?} is not unique"));
        }
    }
    Ok(())
}

/// INV-13 TCB slot types (ST-7) and IRQ slot contents. A Zombie in a TCB
/// slot is left to INV-37 (a deletion chain puts them there).
pub fn inv_13(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for (&at, slot) in &s.slots {
        let ok = match (at, slot.cap) {
            (SlotRef::Tcb { .. }, Cap::Zombie { .. }) => true,
            (SlotRef::Tcb { index: 0, .. }, cap) => matches!(cap, Cap::CNode { .. }),
            (SlotRef::Tcb { index: 1, .. }, cap) => matches!(cap, Cap::VSpace { .. }),
            (SlotRef::Tcb { index: 2, .. }, Cap::Frame { obj, .. }) => matches!(
                s.objects.get(&obj),
                Some(Object::Frame { device: false, .. })
            ),
            (SlotRef::Tcb { index: 3, .. }, Cap::Endpoint { rights, .. }) => {
                rights.contains(Rights::WRITE)
                    && (rights.contains(Rights::GRANT) || rights.contains(Rights::GRANT_REPLY))
            }
            (SlotRef::Tcb { obj, index: 4 }, Cap::Reply { caller, .. }) => caller != obj,
            (SlotRef::Tcb { .. }, _) => false,
            (SlotRef::Irq { .. }, Cap::Notification { rights, .. }) => {
                rights.contains(Rights::WRITE)
            }
            (SlotRef::Irq { .. }, _) => false,
            (SlotRef::CNode { .. }, _) => true,
        };
        if !ok {
            return fail("INV-13", format!("{at:?} may not hold {:?}", slot.cap));
        }
    }
    Ok(())
}

/// INV-14 Rights never grow from parent to child of the same object.
pub fn inv_14(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for (&c, slot) in &s.slots {
        let Some(p) = slot.parent.and_then(|p| s.slots.get(&p)) else {
            continue;
        };
        if refers_to(&slot.cap).is_none() || refers_to(&slot.cap) != refers_to(&p.cap) {
            continue;
        }
        if let (Some(rc), Some(rp)) = (rights_of(&slot.cap), rights_of(&p.cap))
            && !rp.contains(rc)
        {
            return fail("INV-14", format!("{c:?} has more rights than its parent"));
        }
    }
    Ok(())
}

/// INV-15 Badges: a child of a badged Endpoint/Notification capability to
/// the same object has the same badge. (Only these types have a badge
/// field, so the first half holds by construction.)
pub fn inv_15(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for (&c, slot) in &s.slots {
        let Some(p) = slot.parent.and_then(|p| s.slots.get(&p)) else {
            continue;
        };
        let pair = match (slot.cap, p.cap) {
            (
                Cap::Endpoint {
                    obj: a, badge: bc, ..
                },
                Cap::Endpoint {
                    obj: b, badge: bp, ..
                },
            )
            | (
                Cap::Notification {
                    obj: a, badge: bc, ..
                },
                Cap::Notification {
                    obj: b, badge: bp, ..
                },
            ) if a == b => Some((bc, bp)),
            _ => None,
        };
        if let Some((bc, bp)) = pair
            && bp != 0
            && bc != bp
        {
            return fail(
                "INV-15",
                format!("{c:?} has badge {bc:#x}, its parent {bp:#x}"),
            );
        }
    }
    Ok(())
}

// ----- the derivation tree ------------------------------------------------

/// INV-16 Acyclic: parent links end at a root.
pub fn inv_16(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for &start in s.slots.keys() {
        let mut cur = start;
        let mut steps = 0;
        while let Some(p) = s.slots.get(&cur).and_then(|x| x.parent) {
            steps += 1;
            if p == start || steps > s.slots.len() {
                return fail("INV-16", format!("{start:?} is its own ancestor"));
            }
            cur = p;
        }
    }
    Ok(())
}

/// INV-17 Well formed: parent and children links agree, each child occurs
/// once, links name non-empty slots, Reply capabilities have neither.
pub fn inv_17(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for (&at, slot) in &s.slots {
        if matches!(slot.cap, Cap::Reply { .. })
            && (slot.parent.is_some() || !slot.children.is_empty())
        {
            return fail(
                "INV-17",
                format!("Reply in {at:?} has a parent or children"),
            );
        }
        if let Some(p) = slot.parent {
            let n = s
                .slots
                .get(&p)
                .map_or(0, |x| x.children.iter().filter(|&&c| c == at).count());
            if n != 1 {
                return fail(
                    "INV-17",
                    format!("{at:?} occurs {n} times among {p:?}'s children"),
                );
            }
        }
        for &c in &slot.children {
            if s.slots.get(&c).and_then(|x| x.parent) != Some(at) {
                return fail(
                    "INV-17",
                    format!("child {c:?} of {at:?} has another parent"),
                );
            }
        }
    }
    Ok(())
}

/// INV-18 Same object below: children of an untyped lie in its region,
/// children of IRQControl are IRQHandlers, others refer to the parent's
/// object (a Zombie counts as referring to its object).
pub fn inv_18(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for (&c, slot) in &s.slots {
        let Some(p) = slot.parent.and_then(|p| s.slots.get(&p)) else {
            continue;
        };
        let ok = match p.cap {
            Cap::Untyped {
                base, size_bits, ..
            } => cap_range(s, &slot.cap).is_some_and(|r| inside(r, range(base, size_bits))),
            Cap::IrqControl => matches!(slot.cap, Cap::IrqHandler { .. }),
            pc => refers_to(&pc).is_some() && refers_to(&pc) == refers_to(&slot.cap),
        };
        if !ok {
            return fail("INV-18", format!("{c:?} does not belong below its parent"));
        }
    }
    Ok(())
}

/// INV-19 Final capabilities (other than untyped) have no children.
pub fn inv_19(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    let mut count: BTreeMap<ObjRef, usize> = BTreeMap::new();
    for slot in s.slots.values() {
        if let Some(r) = refers_to(&slot.cap) {
            *count.entry(r).or_default() += 1;
        }
    }
    for (&at, slot) in &s.slots {
        if let Some(r) = refers_to(&slot.cap)
            && count[&r] == 1
            && !slot.children.is_empty()
        {
            return fail("INV-19", format!("final capability in {at:?} has children"));
        }
    }
    Ok(())
}

// ----- threads and IPC ----------------------------------------------------

/// INV-20 Endpoint queues agree with the thread states.
pub fn inv_20(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for (&e, o) in &s.objects {
        let Object::Endpoint(es) = o else { continue };
        let (q, send) = match es {
            EndpointState::Idle => continue,
            EndpointState::Sending(q) => (q, true),
            EndpointState::Receiving(q) => (q, false),
        };
        for &t in q {
            let ok = match s.objects.get(&t) {
                Some(Object::Tcb(tcb)) => match tcb.state {
                    ThreadState::BlockedOnSend { ep, .. } => send && ep == e,
                    ThreadState::BlockedOnRecv { ep, .. } => !send && ep == e,
                    _ => false,
                },
                _ => false,
            };
            if !ok {
                return fail(
                    "INV-20",
                    format!("thread {t:#x} in {e:#x}'s queue is not blocked on it"),
                );
            }
        }
    }
    for (t, tcb) in tcbs(s) {
        let (ep, send) = match tcb.state {
            ThreadState::BlockedOnSend { ep, .. } => (ep, true),
            ThreadState::BlockedOnRecv { ep, .. } => (ep, false),
            _ => continue,
        };
        let queued = match s.objects.get(&ep) {
            Some(Object::Endpoint(EndpointState::Sending(q))) => send && q.contains(&t),
            Some(Object::Endpoint(EndpointState::Receiving(q))) => !send && q.contains(&t),
            _ => false,
        };
        if !queued {
            return fail(
                "INV-20",
                format!("thread {t:#x} blocked on {ep:#x} but not queued"),
            );
        }
    }
    Ok(())
}

/// INV-21 One queue: no thread twice in a queue or in two queues
/// (endpoint, notification and ready queues together).
pub fn inv_21(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    let mut seen = BTreeSet::new();
    let queues = s
        .objects
        .values()
        .filter_map(queue_of)
        .chain(s.ready.values());
    for q in queues {
        for &t in q {
            if !seen.insert(t) {
                return fail("INV-21", format!("thread {t:#x} queued twice"));
            }
        }
    }
    Ok(())
}

/// INV-22 Endpoint state: `Idle` exactly when no thread is blocked on it;
/// queues non-empty.
pub fn inv_22(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for (&e, o) in &s.objects {
        let Object::Endpoint(es) = o else { continue };
        let blocked = tcbs(s).any(|(_, t)| {
            matches!(t.state,
                ThreadState::BlockedOnSend { ep, .. } | ThreadState::BlockedOnRecv { ep, .. } if ep == e)
        });
        let ok = match es {
            EndpointState::Idle => !blocked,
            EndpointState::Sending(q) | EndpointState::Receiving(q) => !q.is_empty() && blocked,
        };
        if !ok {
            return fail("INV-22", format!("endpoint {e:#x} state {es:?} disagrees"));
        }
    }
    Ok(())
}

/// INV-23 Notification state: queue membership matches
/// `BlockedOnNotification`; `Waiting` exactly with a non-empty queue.
pub fn inv_23(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for (&n, o) in &s.objects {
        let Object::Notification(ntfn) = o else {
            continue;
        };
        let waiting: BTreeSet<Addr> = tcbs(s)
            .filter(|(_, t)| t.state == ThreadState::BlockedOnNotification { ntfn: n })
            .map(|(a, _)| a)
            .collect();
        let queued: BTreeSet<Addr> = match &ntfn.state {
            NotificationState::Waiting(q) => {
                if q.is_empty() {
                    return fail(
                        "INV-23",
                        format!("notification {n:#x} waits with an empty queue"),
                    );
                }
                q.iter().copied().collect()
            }
            _ => BTreeSet::new(),
        };
        if waiting != queued {
            return fail(
                "INV-23",
                format!("notification {n:#x} queue disagrees with thread states"),
            );
        }
    }
    Ok(())
}

/// INV-24 Binding: both sides agree; a bound notification queues at most
/// its thread; an `Active` bound notification's thread is not
/// `BlockedOnRecv`.
pub fn inv_24(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for (t, tcb) in tcbs(s) {
        if let Some(n) = tcb.bound_notification {
            match s.objects.get(&n) {
                Some(Object::Notification(ntfn)) if ntfn.bound_tcb == Some(t) => {}
                _ => {
                    return fail(
                        "INV-24",
                        format!("thread {t:#x} bound to {n:#x} one-sidedly"),
                    );
                }
            }
        }
    }
    for (&n, o) in &s.objects {
        let Object::Notification(ntfn) = o else {
            continue;
        };
        let Some(t) = ntfn.bound_tcb else { continue };
        let Some(Object::Tcb(tcb)) = s.objects.get(&t) else {
            return fail(
                "INV-24",
                format!("notification {n:#x} bound to a non-thread"),
            );
        };
        if tcb.bound_notification != Some(n) {
            return fail(
                "INV-24",
                format!("notification {n:#x} bound to {t:#x} one-sidedly"),
            );
        }
        match &ntfn.state {
            NotificationState::Waiting(q) if q.iter().any(|&x| x != t) => {
                return fail(
                    "INV-24",
                    format!("bound notification {n:#x} queues another thread"),
                );
            }
            NotificationState::Active(_)
                if matches!(tcb.state, ThreadState::BlockedOnRecv { .. }) =>
            {
                return fail("INV-24", format!("active {n:#x} with its thread receiving"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// INV-25 Reply: `BlockedOnReply` exactly with `reply_at`, which holds the
/// thread's Reply capability, and every Reply capability is there.
pub fn inv_25(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for (t, tcb) in tcbs(s) {
        if (tcb.state == ThreadState::BlockedOnReply) != tcb.reply_at.is_some() {
            return fail(
                "INV-25",
                format!("thread {t:#x}: state and reply_at disagree"),
            );
        }
        if let Some(r) = tcb.reply_at
            && !matches!(s.slots.get(&r).map(|x| x.cap), Some(Cap::Reply { caller, .. }) if caller == t)
        {
            return fail("INV-25", format!("reply_at of {t:#x} holds no Reply to it"));
        }
    }
    for (&at, slot) in &s.slots {
        if let Cap::Reply { caller, .. } = slot.cap {
            let ok =
                matches!(s.objects.get(&caller), Some(Object::Tcb(t)) if t.reply_at == Some(at));
            if !ok {
                return fail(
                    "INV-25",
                    format!("Reply in {at:?} is not its caller's reply_at"),
                );
            }
        }
    }
    Ok(())
}

/// INV-26 Faults: a pending fault only while delivering it or awaiting the
/// reply; a thread delivering one sends with no Grant (FLT-3, IPC-13).
pub fn inv_26(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for (t, tcb) in tcbs(s) {
        let ok = tcb.fault.is_none()
            || matches!(
                tcb.state,
                ThreadState::BlockedOnSend {
                    call: true,
                    grant: false,
                    ..
                } | ThreadState::BlockedOnReply
            );
        if !ok {
            return fail(
                "INV-26",
                format!("thread {t:#x} has a fault in state {:?}", tcb.state),
            );
        }
    }
    Ok(())
}

/// INV-27 Thread fields: slice within `1 ..= TIME_SLICE_TICKS`, IPC
/// buffer 0 or 1 KiB aligned below 2^47 (priorities are `u8`, so at most
/// 255 by construction); and every register set has one architecture's
/// length (ST-7, ABI-10).
pub fn inv_27(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    let lengths: BTreeSet<usize> = tcbs(s).map(|(_, t)| t.context.len()).collect();
    let words = [
        abi::context::x86_64::CONTEXT_WORDS,
        abi::context::aarch64::CONTEXT_WORDS,
    ];
    if lengths.len() > 1 || lengths.iter().any(|n| !words.contains(n)) {
        return fail("INV-27", format!("register sets of lengths {lengths:?}"));
    }
    for (t, tcb) in tcbs(s) {
        let buf = tcb.ipc_buffer;
        let ok = (1..=TIME_SLICE_TICKS).contains(&tcb.slice)
            && (buf == 0 || (buf % 1024 == 0 && buf < 1 << 47));
        if !ok {
            return fail("INV-27", format!("thread {t:#x} has bad fields"));
        }
    }
    Ok(())
}

// ----- scheduling ---------------------------------------------------------

/// INV-28 Ready queues: a thread is in ready queue `p` exactly when it is
/// runnable, not `current`, and of priority `p`.
pub fn inv_28(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for (&p, q) in &s.ready {
        for &t in q {
            let ok = match s.objects.get(&t) {
                Some(Object::Tcb(tcb)) => {
                    tcb.state.is_runnable() && tcb.priority == p && s.current != Some(t)
                }
                _ => false,
            };
            if !ok {
                return fail(
                    "INV-28",
                    format!("thread {t:#x} in ready queue {p} does not belong there"),
                );
            }
        }
    }
    for (t, tcb) in tcbs(s) {
        let should = tcb.state.is_runnable() && s.current != Some(t);
        let is = s.ready.get(&tcb.priority).is_some_and(|q| q.contains(&t));
        if should && !is {
            return fail(
                "INV-28",
                format!("runnable thread {t:#x} is neither current nor ready"),
            );
        }
    }
    Ok(())
}

/// INV-29 Bitmap: implicit in `ready`, which must hold only non-empty
/// queues (SCHED-1).
pub fn inv_29(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    if let Some((p, _)) = s.ready.iter().find(|(_, q)| q.is_empty()) {
        return fail("INV-29", format!("ready queue {p} is stored empty"));
    }
    Ok(())
}

/// INV-30 Current: `current` is a live runnable thread, or `None` (the
/// idle thread, which is not in the state: it is in no queue and no
/// capability can name it); no thread in the state is `Idle`; `current`
/// is in no endpoint, notification or ready queue.
pub fn inv_30(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    if let Some(c) = s.current {
        match s.objects.get(&c) {
            Some(Object::Tcb(t)) if t.state.is_runnable() => {}
            _ => return fail("INV-30", format!("current {c:#x} is not a runnable thread")),
        }
        let queued = s
            .objects
            .values()
            .filter_map(queue_of)
            .chain(s.ready.values())
            .any(|q| q.contains(&c));
        if queued {
            return fail("INV-30", format!("current {c:#x} is queued"));
        }
    }
    if let Some((t, _)) = tcbs(s).find(|(_, t)| t.state == ThreadState::Idle) {
        return fail("INV-30", format!("thread {t:#x} is Idle"));
    }
    Ok(())
}

/// INV-31 Idle only when idle (at the end of an entry): with the idle
/// thread current every ready queue is empty; otherwise no ready queue
/// above `current`'s priority is non-empty.
pub fn inv_31(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    let top = s.ready.keys().next_back().copied();
    match (s.current, top) {
        (None, Some(p)) => fail("INV-31", format!("idle while ready queue {p} is not empty")),
        (Some(c), Some(p)) => {
            let cp = match s.objects.get(&c) {
                Some(Object::Tcb(t)) => t.priority,
                _ => return Ok(()), // INV-30's business
            };
            if p > cp {
                fail(
                    "INV-31",
                    format!("current {c:#x} at {cp} while ready queue {p} is not empty"),
                )
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

// ----- address spaces and interrupts --------------------------------------

/// Log2 of the bytes a level-`k` entry covers (VM-1).
fn entry_bits(level: u32) -> u32 {
    39 - 9 * level
}

/// The entries of a live VSpace or PageTable.
fn entries_of(s: &State, t: Addr) -> Option<&BTreeMap<u64, Pte>> {
    match s.objects.get(&t) {
        Some(Object::VSpace { entries, .. } | Object::PageTable { entries }) => Some(entries),
        _ => None,
    }
}

/// One entry reachable from a VSpace: the level of its table, its virtual
/// address and the entry.
struct Reached {
    level: u32,
    vaddr: u64,
    pte: Pte,
}

/// Every entry reachable from the VSpace `root` through links (at most
/// four levels deep, so a malformed state cannot loop).
fn reachable(s: &State, root: Addr) -> Vec<Reached> {
    let mut out = Vec::new();
    let mut todo = alloc::vec![(root, 0u32, 0u64)];
    while let Some((t, level, base)) = todo.pop() {
        let Some(entries) = entries_of(s, t) else {
            continue;
        };
        for (&i, &pte) in entries {
            let vaddr = base + (i << entry_bits(level));
            out.push(Reached { level, vaddr, pte });
            if let Pte::Table(next) = pte
                && level < 3
            {
                todo.push((next, level + 1, vaddr));
            }
        }
    }
    out
}

fn vspaces(s: &State) -> impl Iterator<Item = (Addr, Option<u64>)> + '_ {
    s.objects.iter().filter_map(|(&a, o)| match o {
        Object::VSpace { asid, .. } => Some((a, *asid)),
        _ => None,
    })
}

/// INV-32 Mappings have capabilities: every mapping reachable from a
/// VSpace with ASID `a` at `v` of frame `f` is recorded as `(a, v)` by a
/// Frame capability to `f`, and `f` has the size of the entry's level.
pub fn inv_32(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for (root, asid) in vspaces(s) {
        let Some(a) = asid else { continue };
        for r in reachable(s, root) {
            let Pte::Page { frame, .. } = r.pte else {
                continue;
            };
            let sized = matches!(
                s.objects.get(&frame),
                Some(Object::Frame { size_bits, .. }) if *size_bits == entry_bits(r.level)
            );
            let recorded = s.slots.values().any(|x| {
                matches!(x.cap, Cap::Frame { obj, mapping: Some(m), .. }
                    if obj == frame && m == (a, r.vaddr))
            });
            if !(sized && recorded) {
                return fail(
                    "INV-32",
                    format!(
                        "mapping of {frame:#x} at {:#x} (ASID {a}, level {}) has no capability \
                         recording it, or the wrong size",
                        r.vaddr, r.level
                    ),
                );
            }
        }
    }
    Ok(())
}

/// INV-33 W^X and device attributes: no reachable mapping is writable and
/// executable; mappings of device frames are non-executable and `Device`.
pub fn inv_33(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for (root, _) in vspaces(s) {
        for r in reachable(s, root) {
            let Pte::Page {
                frame,
                write,
                execute,
                memory,
            } = r.pte
            else {
                continue;
            };
            let device = matches!(
                s.objects.get(&frame),
                Some(Object::Frame { device: true, .. })
            );
            if (write && execute) || (device && (execute || memory != MemoryType::Device)) {
                return fail(
                    "INV-33",
                    format!("mapping at {:#x} in VSpace {root:#x}: {:?}", r.vaddr, r.pte),
                );
            }
        }
    }
    Ok(())
}

/// INV-34 Table links, for the entries reachable from a VSpace: every
/// link names a live PageTable whose capability records it as (the
/// VSpace's ASID, the entry's address, the entry's level + 1) — so a
/// VSpace without an ASID has none —, and no PageTable is linked from two
/// of them; a VSpace holds links only, a level-3 table none, and a
/// level-`k` table maps only frames of its level's size.
///
/// reading: "every link entry in a live VSpace or PageTable" is every
/// entry reachable from a live VSpace, the structure a translation can
/// walk. The rules themselves leave stale links in tables cut off from
/// every VSpace: when a VSpace or a table dies, the tables it linked stay
/// live with their own links (DER-12), and a PageTable Unmap (VM-10) or
/// deletion whose walk no longer reaches the parent entry clears the
/// table's record, or kills the table, while such a cut-off parent still
/// links it. Those parents are never walked again: a table is linked only
/// after an Unmap, which empties it, so a cut-off table stays cut off
/// until it is emptied (seL4 leaves the same stale entries).
pub fn inv_34(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    let mut linked = BTreeSet::new();
    for (root, asid) in vspaces(s) {
        for r in reachable(s, root) {
            let ok = match r.pte {
                Pte::Table(p) => {
                    if !matches!(s.objects.get(&p), Some(Object::PageTable { .. })) {
                        return fail(
                            "INV-34",
                            format!("VSpace {root:#x} links dead {p:#x} at {:#x}", r.vaddr),
                        );
                    }
                    if !linked.insert(p) {
                        return fail("INV-34", format!("table {p:#x} is linked twice"));
                    }
                    let want = asid.map(|a| (a, r.vaddr, r.level + 1));
                    r.level <= 2
                        && want.is_some()
                        && s.slots.values().any(|x| {
                            matches!(x.cap, Cap::PageTable { obj, mapping }
                                if obj == p && mapping == want)
                        })
                }
                Pte::Page { frame, .. } => {
                    r.level >= 1
                        && matches!(
                            s.objects.get(&frame),
                            Some(Object::Frame { size_bits, .. })
                                if *size_bits == entry_bits(r.level)
                        )
                }
            };
            if !ok {
                return fail(
                    "INV-34",
                    format!(
                        "entry at {:#x}, level {}, of VSpace {root:#x} (ASID {asid:?}): {:?}",
                        r.vaddr, r.level, r.pte
                    ),
                );
            }
        }
    }
    Ok(())
}

/// INV-35 ASIDs: `asid_table[i]` names pool `P` exactly when `P`'s
/// capabilities have `asid_base = i · 512`; a pool entry names VSpace `V`
/// exactly when `V.asid` is that ASID; ASID 0 is never assigned; no ASID
/// names two VSpaces (one `asid` field: no VSpace has two).
pub fn inv_35(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    let pools = 1u64 << abi::vm::ASID_HIGH_BITS;
    let per_pool = 1u64 << abi::vm::ASID_LOW_BITS;
    for (&i, &p) in &s.asid_table {
        let Some(Object::AsidPool { entries }) = s.objects.get(&p) else {
            return fail("INV-35", format!("asid_table[{i}] names no pool ({p:#x})"));
        };
        if i >= pools {
            return fail("INV-35", format!("asid_table index {i} out of range"));
        }
        if s.asid_table.iter().any(|(&j, &q)| j != i && q == p) {
            return fail("INV-35", format!("pool {p:#x} is in asid_table twice"));
        }
        for (&e, &v) in entries {
            let asid = i * per_pool + e;
            if e >= per_pool || asid == 0 {
                return fail("INV-35", format!("pool {p:#x} has entry {e}"));
            }
            if !matches!(s.objects.get(&v), Some(Object::VSpace { asid: Some(a), .. }) if *a == asid)
            {
                return fail(
                    "INV-35",
                    format!("ASID {asid} names {v:#x}, whose asid is not {asid}"),
                );
            }
        }
    }
    for (&at, slot) in &s.slots {
        if let Cap::AsidPool { obj, asid_base } = slot.cap
            && (asid_base % per_pool != 0
                || s.asid_table.get(&(asid_base / per_pool)) != Some(&obj))
        {
            return fail(
                "INV-35",
                format!("{at:?} holds pool {obj:#x} with base {asid_base}, not in asid_table"),
            );
        }
    }
    let mut seen = BTreeSet::new();
    for (v, asid) in vspaces(s) {
        let Some(a) = asid else { continue };
        if a == 0 || !seen.insert(a) {
            return fail("INV-35", format!("VSpace {v:#x} has ASID {a}, 0 or shared"));
        }
        let named = s
            .asid_table
            .get(&(a / per_pool))
            .and_then(|p| match s.objects.get(p) {
                Some(Object::AsidPool { entries }) => entries.get(&(a % per_pool)),
                _ => None,
            });
        if named != Some(&v) {
            return fail(
                "INV-35",
                format!("VSpace {v:#x} has ASID {a}, which does not name it"),
            );
        }
    }
    Ok(())
}

/// INV-36 IRQ lines, the part the state holds: every line is below
/// `IRQ_LINES`; only non-`Inactive` lines are stored (absent is
/// `Inactive`); a `Reserved` or `Inactive` line's slot is empty. Masking
/// is implied by the state (an `Active` line is masked exactly when
/// `pending_ack`, IRQ-2), and which lines are `Reserved` depends on the
/// platform: [`inv_36_boot`] checks that against the boot configuration.
/// (No IRQHandler names a `Reserved` line: INV-10.)
///
/// reading: an explicitly stored `Inactive` is a malformed state (the
/// `State::irq` documentation: absent means `Inactive`), as INV-29 treats
/// a stored empty ready queue.
pub fn inv_36(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    for (&line, st) in &s.irq {
        if line >= abi::irq::IRQ_LINES || *st == IrqState::Inactive {
            return fail("INV-36", format!("line {line} is stored as {st:?}"));
        }
    }
    for &at in s.slots.keys() {
        if let SlotRef::Irq { line } = at
            && !matches!(s.irq.get(&line), Some(IrqState::Active { .. }))
        {
            return fail(
                "INV-36",
                format!("line {line} is not Active but its slot is full"),
            );
        }
    }
    Ok(())
}

/// INV-36 against the boot configuration: exactly the lines boot made
/// `Reserved` (IRQ-2: the lines the platform lacks and the kernel's own,
/// including aarch64's 0 … 31 when the configuration lists them) are
/// `Reserved` — they stay so for ever — and no IRQHandler names one.
pub fn inv_36_boot(s: &State, cfg: &BootConfig) -> Result<(), Violation> {
    for line in 0..abi::irq::IRQ_LINES {
        let reserved = line >= cfg.irq_lines || cfg.reserved_irqs.contains(&line);
        if reserved != (s.irq.get(&line) == Some(&IrqState::Reserved)) {
            return fail(
                "INV-36",
                format!("line {line}: Reserved is {reserved} at boot, not now"),
            );
        }
        if reserved && s.slots.values().any(|x| x.cap == Cap::IrqHandler { line }) {
            return fail(
                "INV-36",
                format!("an IRQHandler names Reserved line {line}"),
            );
        }
    }
    Ok(())
}

// ----- zombies ------------------------------------------------------------

/// INV-37 Zombies: only with `pending_delete` set (a checker run inside an
/// entry must be given the deletion's current slot there), forming one
/// chain from it through `resume` links, each after the first in a slot of
/// its own object, with `remaining` within the object's slot count and the
/// slots at or above it empty (except the Zombie's own).
pub fn inv_37(s: &State, _: &dyn ZeroOracle) -> Result<(), Violation> {
    let zombies: BTreeSet<SlotRef> = s
        .slots
        .iter()
        .filter(|(_, x)| matches!(x.cap, Cap::Zombie { .. }))
        .map(|(&at, _)| at)
        .collect();
    let Some(first) = s.pending_delete else {
        if let Some(z) = zombies.first() {
            return fail("INV-37", format!("Zombie in {z:?} without pending_delete"));
        }
        return Ok(());
    };
    let mut chain = BTreeSet::new();
    let mut cur = Some(first);
    while let Some(at) = cur {
        let Some(Cap::Zombie {
            kind,
            obj,
            remaining,
            resume,
        }) = s.slots.get(&at).map(|x| x.cap)
        else {
            return fail(
                "INV-37",
                format!("{at:?} in the deletion chain holds no Zombie"),
            );
        };
        if !chain.insert(at) {
            return fail("INV-37", format!("the deletion chain loops at {at:?}"));
        }
        let own = |r: SlotRef| match (r, kind) {
            (SlotRef::CNode { obj: o, .. }, ZombieKind::CNode)
            | (SlotRef::Tcb { obj: o, .. }, ZombieKind::Tcb) => o == obj,
            _ => false,
        };
        if at != first && !own(at) {
            return fail(
                "INV-37",
                format!("chained Zombie in {at:?} not in its own object"),
            );
        }
        let count = match (kind, s.objects.get(&obj)) {
            (ZombieKind::CNode, Some(o @ Object::CNode { .. }))
            | (ZombieKind::Tcb, Some(o @ Object::Tcb(_))) => o.slot_count(),
            _ => return fail("INV-37", format!("Zombie in {at:?} names a dead object")),
        };
        if remaining > count {
            return fail(
                "INV-37",
                format!("Zombie in {at:?} has remaining {remaining}"),
            );
        }
        let busy = s.slots.range(..).any(|(&r, _)| {
            r != at
                && own(r)
                && match r {
                    SlotRef::CNode { index, .. } | SlotRef::Tcb { index, .. } => index >= remaining,
                    SlotRef::Irq { .. } => false,
                }
        });
        if busy {
            return fail(
                "INV-37",
                format!("Zombie in {at:?}: a slot above remaining is full"),
            );
        }
        cur = resume;
    }
    if chain != zombies {
        return fail("INV-37", "a Zombie outside the deletion chain".into());
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
