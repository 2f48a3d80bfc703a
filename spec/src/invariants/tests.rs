//! Each checker sees a state that breaks its rule; clean states pass.

use super::*;
use crate::entry::{BootConfig, BootUntyped, Invocation, Outcome};
use crate::model::Model;
use crate::state::{Fault, Slot, Tcb};
use abi::invocation::Label;
use abi::object::ObjectType;
use alloc::vec;

const ROOT_TCB: Addr = 0x1_0000;
const ROOT_CNODE: Addr = 0x1_2000;
const UT_BASE: Addr = 0x10_0000;
const DEV_BASE: Addr = 0x4000_0000;

pub(crate) fn c(i: u64) -> u64 {
    (8 << 56) | i
}

fn slot(i: u64) -> SlotRef {
    SlotRef::CNode {
        obj: ROOT_CNODE,
        index: i,
    }
}

pub(crate) fn call(m: &mut Model, cptr: u64, label: Label, words: &[u64], extra: &[u64]) {
    let inv = Invocation {
        cptr,
        label: label.raw(),
        words: words.to_vec(),
        extra: extra.to_vec(),
    };
    assert_eq!(m.invoke(&inv, &mut || false), Outcome::Result(Ok(vec![])));
}

/// Objects of a clean state built by operations.
pub(crate) struct Fixture {
    pub(crate) s: State,
    pub(crate) ep: Addr,
    ntfn: Addr,
    pub(crate) tcb: Addr,
    frame: Addr,
    cnode: Addr,
}

/// Boot, then retype: endpoint (slot 40), notification (41), TCB (42),
/// frame (43), radix-2 CNode (44).
pub(crate) fn fixture() -> Fixture {
    let mut m = Model::boot(&BootConfig {
        arch: crate::entry::Arch::Aarch64,
        root_ipc_buffer: 0x1_4000,
        root_vspace: 0x1_5000,
        root_boot_info: 0x1_7000,
        root_asid_pool: 0x1_6000,
        irq_lines: 64,
        reserved_irqs: (0..32).collect(),
        root_ipc_buffer_vaddr: 0x40_0000,
        root_tcb: ROOT_TCB,
        root_cnode: ROOT_CNODE,
        root_radix: 8,
        untypeds: vec![
            BootUntyped {
                base: UT_BASE,
                size_bits: 20,
                device: false,
            },
            BootUntyped {
                base: DEV_BASE,
                size_bits: 22,
                device: true,
            },
        ],
        kernel_memory: vec![(0, 0x1_0000)],
    });
    let types = [
        (ObjectType::Endpoint, 0),
        (ObjectType::Notification, 0),
        (ObjectType::Tcb, 0),
        (ObjectType::Frame4K, 0),
        (ObjectType::CNode, 2),
    ];
    for (i, (ty, size)) in types.into_iter().enumerate() {
        call(
            &mut m,
            c(16),
            Label::UntypedRetype,
            &[ty as u64, size, 40 + i as u64, 1],
            &[c(2)],
        );
    }
    let obj = |i| match m.state.slots[&slot(i)].cap {
        Cap::Endpoint { obj, .. }
        | Cap::Notification { obj, .. }
        | Cap::Tcb { obj }
        | Cap::Frame { obj, .. }
        | Cap::CNode { obj } => obj,
        other => panic!("{other:?}"),
    };
    let f = Fixture {
        ep: obj(40),
        ntfn: obj(41),
        tcb: obj(42),
        frame: obj(43),
        cnode: obj(44),
        s: m.state.clone(),
    };
    assert_eq!(check_all(&f.s, &AssumeZero), vec![]);
    f
}

pub(crate) fn tcb_mut(s: &mut State, t: Addr) -> &mut Tcb {
    match s.objects.get_mut(&t) {
        Some(Object::Tcb(t)) => t,
        _ => panic!(),
    }
}

fn cap_mut(s: &mut State, i: u64) -> &mut Cap {
    &mut s.slots.get_mut(&slot(i)).unwrap().cap
}

/// Copy root slot `src` to `dest` through the model, then return the
/// state.
fn with_copy(f: &Fixture, src: u64, dest: u64, rights: u64, badge: u64) -> State {
    let mut m = Model {
        state: f.s.clone(),
        arch: crate::entry::Arch::Aarch64,
    };
    call(
        &mut m,
        c(2),
        Label::CNodeMint,
        &[dest, src, rights, badge],
        &[c(2)],
    );
    m.state
}

fn place(s: &mut State, at: SlotRef, cap: Cap) {
    s.slots.insert(
        at,
        Slot {
            cap,
            parent: None,
            children: vec![],
        },
    );
}

/// Assert that `check` finds a violation of `rule`.
fn broken(check: Checker, rule: &str, s: &State) {
    broken_with(check, rule, s, &AssumeZero);
}

fn broken_with(check: Checker, rule: &str, s: &State, mem: &dyn ZeroOracle) {
    match check(s, mem) {
        Err(v) => assert_eq!(v.rule, rule, "{v:?}"),
        Ok(()) => panic!("{rule} not detected"),
    }
    assert!(check_all(s, mem).iter().any(|v| v.rule == rule));
}

#[test]
fn checkers_are_listed_by_rule() {
    for (id, check) in CHECKERS {
        assert!(id.starts_with("INV-"));
        assert_eq!(check(&State::default(), &AssumeZero), Ok(()));
    }
    assert_eq!(CHECKERS.len(), 37);
}

#[test]
fn clean_after_boot_and_operations() {
    let f = fixture();
    let s = with_copy(&f, 40, 50, 3, 7);
    assert_eq!(check_all(&s, &AssumeZero), vec![]);
}

#[test]
fn inv_1_misaligned_untyped() {
    let mut s = fixture().s;
    if let Cap::Untyped { base, .. } = cap_mut(&mut s, 17) {
        *base += 16;
    }
    broken(inv_1, "INV-1", &s);
    let mut s = fixture().s;
    let o = s.objects.remove(&ROOT_TCB).unwrap();
    s.objects.insert(ROOT_TCB + 8, o);
    broken(inv_1, "INV-1", &s);
}

#[test]
fn inv_2_overlap_with_kernel() {
    let mut s = fixture().s;
    s.kernel_memory.push((ROOT_CNODE + 0x100, 8));
    broken(inv_2, "INV-2", &s);
    let f = fixture();
    let mut s = f.s;
    s.objects.insert(
        f.ep + 8,
        Object::PageTable {
            entries: BTreeMap::new(),
        },
    );
    broken(inv_2, "INV-2", &s);
}

#[test]
fn inv_3_overlapping_untypeds() {
    let mut s = fixture().s;
    let cap = Cap::Untyped {
        base: UT_BASE + 0x8000,
        size_bits: 12,
        device: false,
        watermark: 0,
    };
    place(&mut s, slot(60), cap);
    broken(inv_3, "INV-3", &s);
}

#[test]
fn inv_4_object_not_below_its_untyped() {
    let mut s = fixture().s;
    s.slots.get_mut(&slot(40)).unwrap().parent = None;
    s.slots
        .get_mut(&slot(16))
        .unwrap()
        .children
        .retain(|&c| c != slot(40));
    broken(inv_4, "INV-4", &s);
}

#[test]
fn inv_5_watermark() {
    let mut s = fixture().s;
    if let Cap::Untyped { watermark, .. } = cap_mut(&mut s, 16) {
        *watermark = 0x10;
    }
    broken(inv_5, "INV-5", &s);
    if let Cap::Untyped { watermark, .. } = cap_mut(&mut s, 17) {
        *watermark = (1 << 22) + 1;
    }
    broken(inv_5, "INV-5", &s);
}

struct NonZeroAt(Addr);

impl ZeroOracle for NonZeroAt {
    fn is_zero(&self, base: Addr, len: u64) -> bool {
        !(base <= self.0 && self.0 - base < len)
    }
}

#[test]
fn inv_6_zero_above_the_watermark() {
    let s = fixture().s;
    broken_with(inv_6, "INV-6", &s, &NonZeroAt(UT_BASE + 0xF_FFFF));
    // Below the watermark, or in device memory, anything goes.
    assert_eq!(inv_6(&s, &NonZeroAt(UT_BASE)), Ok(()));
    assert_eq!(inv_6(&s, &NonZeroAt(DEV_BASE)), Ok(()));
}

#[test]
fn inv_7_device_frame_in_ram() {
    let f = fixture();
    let mut s = f.s;
    s.objects.insert(
        f.frame,
        Object::Frame {
            size_bits: 12,
            device: true,
        },
    );
    broken(inv_7, "INV-7", &s);
}

#[test]
fn inv_8_frame_size() {
    let f = fixture();
    let mut s = f.s;
    s.objects.insert(
        f.frame,
        Object::Frame {
            size_bits: 13,
            device: false,
        },
    );
    broken(inv_8, "INV-8", &s);
}

#[test]
fn inv_9_dangling_capability() {
    let f = fixture();
    let mut s = f.s.clone();
    s.objects.remove(&f.ep);
    broken(inv_9, "INV-9", &s);
    let mut s = f.s;
    tcb_mut(&mut s, f.tcb).state = ThreadState::BlockedOnNotification { ntfn: f.ep };
    broken(inv_9, "INV-9", &s);
}

#[test]
fn inv_10_object_without_capability() {
    let mut s = fixture().s;
    s.objects
        .insert(UT_BASE + 0x8_0000, Object::Endpoint(EndpointState::Idle));
    broken(inv_10, "INV-10", &s);
}

#[test]
fn inv_11_slot_beyond_radix() {
    let f = fixture();
    let mut s = f.s;
    place(
        &mut s,
        SlotRef::CNode {
            obj: f.cnode,
            index: 4,
        },
        Cap::IrqControl,
    );
    broken(inv_11, "INV-11", &s);
}

#[test]
fn inv_12_two_irq_controls() {
    let mut s = fixture().s;
    place(&mut s, slot(60), Cap::IrqControl);
    broken(inv_12, "INV-12", &s);
}

#[test]
fn inv_13_wrong_tcb_slot_type() {
    let f = fixture();
    let mut s = f.s;
    place(
        &mut s,
        SlotRef::Tcb {
            obj: f.tcb,
            index: 1,
        },
        Cap::CNode { obj: ROOT_CNODE },
    );
    broken(inv_13, "INV-13", &s);
}

#[test]
fn inv_14_child_with_more_rights() {
    let f = fixture();
    let mut s = with_copy(&f, 40, 50, 1, 0);
    let mut m = Model {
        state: s.clone(),
        arch: crate::entry::Arch::Aarch64,
    };
    call(&mut m, c(2), Label::CNodeCopy, &[51, 50, 1], &[c(2)]);
    s = m.state;
    if let Cap::Endpoint { rights, .. } = cap_mut(&mut s, 51) {
        *rights = Rights::ALL;
    }
    broken(inv_14, "INV-14", &s);
}

#[test]
fn inv_15_child_with_other_badge() {
    let f = fixture();
    let mut s = with_copy(&f, 40, 50, 15, 5);
    let mut m = Model {
        state: s.clone(),
        arch: crate::entry::Arch::Aarch64,
    };
    call(&mut m, c(2), Label::CNodeCopy, &[51, 50, 15], &[c(2)]);
    s = m.state;
    if let Cap::Endpoint { badge, .. } = cap_mut(&mut s, 51) {
        *badge = 6;
    }
    broken(inv_15, "INV-15", &s);
}

#[test]
fn inv_16_cycle() {
    let f = fixture();
    let mut s = with_copy(&f, 40, 50, 15, 0);
    s.slots
        .get_mut(&slot(16))
        .unwrap()
        .children
        .retain(|&c| c != slot(40));
    s.slots.get_mut(&slot(40)).unwrap().parent = Some(slot(50));
    s.slots.get_mut(&slot(50)).unwrap().children.push(slot(40));
    broken(inv_16, "INV-16", &s);
}

#[test]
fn inv_17_stray_child_link() {
    let mut s = fixture().s;
    s.slots.get_mut(&slot(40)).unwrap().children.push(slot(41));
    broken(inv_17, "INV-17", &s);
    let mut s = fixture().s;
    s.slots.get_mut(&slot(16)).unwrap().children.push(slot(40));
    broken(inv_17, "INV-17", &s);
}

/// The notification capability (41) moved below the endpoint's (40).
fn notification_below_endpoint() -> State {
    let mut s = fixture().s;
    s.slots
        .get_mut(&slot(16))
        .unwrap()
        .children
        .retain(|&c| c != slot(41));
    s.slots.get_mut(&slot(41)).unwrap().parent = Some(slot(40));
    s.slots.get_mut(&slot(40)).unwrap().children.push(slot(41));
    s
}

#[test]
fn inv_18_child_of_another_object() {
    broken(inv_18, "INV-18", &notification_below_endpoint());
}

#[test]
fn inv_19_final_capability_with_children() {
    broken(inv_19, "INV-19", &notification_below_endpoint());
}

#[test]
fn inv_20_blocked_but_not_queued() {
    let f = fixture();
    let mut s = f.s;
    tcb_mut(&mut s, f.tcb).state = ThreadState::BlockedOnRecv {
        ep: f.ep,
        grant: false,
    };
    broken(inv_20, "INV-20", &s);
}

#[test]
fn inv_21_queued_twice() {
    let f = fixture();
    let mut s = f.s;
    tcb_mut(&mut s, f.tcb).state = ThreadState::BlockedOnRecv {
        ep: f.ep,
        grant: false,
    };
    s.objects.insert(
        f.ep,
        Object::Endpoint(EndpointState::Receiving(vec![f.tcb, f.tcb])),
    );
    broken(inv_21, "INV-21", &s);
}

#[test]
fn inv_22_empty_queue() {
    let f = fixture();
    let mut s = f.s;
    s.objects
        .insert(f.ep, Object::Endpoint(EndpointState::Sending(vec![])));
    broken(inv_22, "INV-22", &s);
}

#[test]
fn inv_23_waiting_without_queue() {
    let f = fixture();
    let mut s = f.s.clone();
    tcb_mut(&mut s, f.tcb).state = ThreadState::BlockedOnNotification { ntfn: f.ntfn };
    broken(inv_23, "INV-23", &s);
    let mut s = f.s;
    s.objects.insert(
        f.ntfn,
        Object::Notification(crate::state::Notification {
            state: NotificationState::Waiting(vec![]),
            bound_tcb: None,
        }),
    );
    broken(inv_23, "INV-23", &s);
}

#[test]
fn inv_24_one_sided_binding() {
    let f = fixture();
    let mut s = f.s;
    tcb_mut(&mut s, f.tcb).bound_notification = Some(f.ntfn);
    broken(inv_24, "INV-24", &s);
}

#[test]
fn inv_25_blocked_on_reply_without_reply() {
    let f = fixture();
    let mut s = f.s.clone();
    tcb_mut(&mut s, f.tcb).state = ThreadState::BlockedOnReply;
    broken(inv_25, "INV-25", &s);
    let mut s = f.s;
    place(
        &mut s,
        SlotRef::Tcb {
            obj: ROOT_TCB,
            index: 4,
        },
        Cap::Reply {
            caller: f.tcb,
            can_grant: false,
        },
    );
    broken(inv_25, "INV-25", &s);
}

#[test]
fn inv_26_fault_while_inactive() {
    let f = fixture();
    let mut s = f.s;
    tcb_mut(&mut s, f.tcb).fault = Some(Fault::UnknownSyscall { number: 0 });
    broken(inv_26, "INV-26", &s);
}

#[test]
fn inv_27_bad_slice_and_buffer() {
    let f = fixture();
    let mut s = f.s.clone();
    tcb_mut(&mut s, f.tcb).slice = 0;
    broken(inv_27, "INV-27", &s);
    let mut s = f.s;
    tcb_mut(&mut s, f.tcb).ipc_buffer = 0x1100;
    broken(inv_27, "INV-27", &s);
}

#[test]
fn inv_30_current_not_runnable() {
    let mut s = fixture().s;
    tcb_mut(&mut s, ROOT_TCB).state = ThreadState::Inactive;
    broken(inv_30, "INV-30", &s);
    let f = fixture();
    let mut s = f.s;
    tcb_mut(&mut s, f.tcb).state = ThreadState::Idle;
    broken(inv_30, "INV-30", &s);
}

#[test]
fn inv_37_zombie_outside_a_deletion() {
    let f = fixture();
    let mut s = f.s.clone();
    *cap_mut(&mut s, 44) = Cap::Zombie {
        kind: ZombieKind::CNode,
        obj: f.cnode,
        remaining: 4,
        resume: None,
    };
    broken(inv_37, "INV-37", &s);
    // With pending_delete it is fine …
    s.pending_delete = Some(slot(44));
    assert_eq!(inv_37(&s, &AssumeZero), Ok(()));
    // … unless `remaining` is too large or a slot above it is full.
    if let Cap::Zombie { remaining, .. } = cap_mut(&mut s, 44) {
        *remaining = 5;
    }
    broken(inv_37, "INV-37", &s);
    if let Cap::Zombie { remaining, .. } = cap_mut(&mut s, 44) {
        *remaining = 2;
    }
    place(
        &mut s,
        SlotRef::CNode {
            obj: f.cnode,
            index: 3,
        },
        Cap::IrqControl,
    );
    broken(inv_37, "INV-37", &s);
}

#[test]
fn inv_35_asid_zero_or_shared() {
    let mut s = fixture().s;
    s.objects.insert(
        UT_BASE + 0x8_0000,
        Object::VSpace {
            asid: Some(0),
            entries: BTreeMap::new(),
        },
    );
    broken(inv_35, "INV-35", &s);
    let mut s = fixture().s;
    s.objects.insert(
        UT_BASE + 0x8_0000,
        Object::VSpace {
            asid: Some(3),
            entries: BTreeMap::new(),
        },
    );
    s.objects.insert(
        UT_BASE + 0x8_1000,
        Object::VSpace {
            asid: Some(3),
            entries: BTreeMap::new(),
        },
    );
    broken(inv_35, "INV-35", &s);
}

#[test]
fn inv_12_untypeds_sharing_a_region() {
    let mut s = fixture().s;
    let cap = Cap::Untyped {
        base: DEV_BASE,
        size_bits: 22,
        device: true,
        watermark: 0,
    };
    place(&mut s, slot(60), cap);
    broken(inv_12, "INV-12", &s);
}

#[test]
fn inv_4_child_untyped_of_the_same_size_is_fine() {
    let f = fixture();
    let mut m = Model {
        state: f.s,
        arch: crate::entry::Arch::Aarch64,
    };
    // spec: INV-4, INV-12 — retype the device untyped into one child
    // untyped of its own size.
    call(
        &mut m,
        c(17),
        Label::UntypedRetype,
        &[ObjectType::Untyped as u64, 22, 60, 1],
        &[c(2)],
    );
    call(
        &mut m,
        c(60),
        Label::UntypedRetype,
        &[ObjectType::Frame4K as u64, 0, 61, 1],
        &[c(2)],
    );
    assert_eq!(check_all(&m.state, &AssumeZero), vec![]);
}

#[test]
fn inv_28_runnable_thread_not_ready() {
    let f = fixture();
    let mut s = f.s;
    tcb_mut(&mut s, f.tcb).state = ThreadState::Restart;
    broken(inv_28, "INV-28", &s);
    // In the queue of its priority: fine.
    s.ready.insert(0, vec![f.tcb]);
    assert_eq!(inv_28(&s, &AssumeZero), Ok(()));
    // Of another priority, or blocked, or current: broken.
    tcb_mut(&mut s, f.tcb).priority = 3;
    broken(inv_28, "INV-28", &s);
    tcb_mut(&mut s, f.tcb).priority = 0;
    tcb_mut(&mut s, f.tcb).state = ThreadState::Inactive;
    broken(inv_28, "INV-28", &s);
    tcb_mut(&mut s, f.tcb).state = ThreadState::Running;
    s.current = Some(f.tcb);
    broken(inv_28, "INV-28", &s);
}

#[test]
fn inv_29_empty_ready_queue_stored() {
    let mut s = fixture().s;
    s.ready.insert(7, vec![]);
    broken(inv_29, "INV-29", &s);
}

#[test]
fn inv_21_thread_in_ready_and_endpoint_queue() {
    let f = fixture();
    let mut s = f.s;
    s.ready.insert(0, vec![f.tcb]);
    s.objects
        .insert(f.ep, Object::Endpoint(EndpointState::Sending(vec![f.tcb])));
    broken(inv_21, "INV-21", &s);
    s.ready.insert(0, vec![f.tcb, f.tcb]);
    s.objects
        .insert(f.ep, Object::Endpoint(EndpointState::Idle));
    broken(inv_21, "INV-21", &s);
}

#[test]
fn inv_9_dead_thread_ready_or_current() {
    let mut s = fixture().s;
    s.ready.insert(0, vec![0x7777_0000]);
    broken(inv_9, "INV-9", &s);
    s.ready.clear();
    s.current = Some(0x7777_0000);
    broken(inv_9, "INV-9", &s);
}

#[test]
fn inv_30_current_queued() {
    let f = fixture();
    let mut s = f.s;
    tcb_mut(&mut s, f.tcb).state = ThreadState::Running;
    s.current = Some(f.tcb);
    s.objects.insert(
        f.ntfn,
        Object::Notification(crate::state::Notification {
            state: NotificationState::Waiting(vec![f.tcb]),
            bound_tcb: None,
        }),
    );
    broken(inv_30, "INV-30", &s);
}

#[test]
fn inv_31_idle_or_lower_priority_while_ready() {
    let f = fixture();
    let mut s = f.s;
    tcb_mut(&mut s, f.tcb).state = ThreadState::Restart;
    tcb_mut(&mut s, f.tcb).priority = 9;
    s.ready.insert(9, vec![f.tcb]);
    // The root thread (255) is current: fine.
    assert_eq!(inv_31(&s, &AssumeZero), Ok(()));
    tcb_mut(&mut s, ROOT_TCB).priority = 8;
    broken(inv_31, "INV-31", &s);
    // Idle with a ready thread.
    tcb_mut(&mut s, ROOT_TCB).state = ThreadState::Inactive;
    s.current = None;
    broken(inv_31, "INV-31", &s);
    assert!(
        check_mid_entry(&s, &AssumeZero)
            .iter()
            .all(|v| v.rule != "INV-31")
    );
}

#[test]
fn inv_26_fault_sender_with_grant() {
    let f = fixture();
    let mut s = f.s;
    tcb_mut(&mut s, f.tcb).state = ThreadState::BlockedOnSend {
        ep: f.ep,
        badge: 0,
        grant: true,
        grant_reply: true,
        call: true,
    };
    tcb_mut(&mut s, f.tcb).fault = Some(Fault::UnknownSyscall { number: 0 });
    s.objects
        .insert(f.ep, Object::Endpoint(EndpointState::Sending(vec![f.tcb])));
    broken(inv_26, "INV-26", &s);
}

#[test]
fn inv_27_register_sets_of_two_lengths() {
    let f = fixture();
    let mut s = f.s;
    tcb_mut(&mut s, f.tcb).context = vec![0; 20];
    broken(inv_27, "INV-27", &s);
}

#[test]
fn inv_36_irq_lines() {
    let f = fixture();
    assert_eq!(inv_36(&f.s, &AssumeZero), Ok(()));
    // An Inactive line's slot holds a notification.
    let mut s = f.s.clone();
    place(
        &mut s,
        SlotRef::Irq { line: 40 },
        Cap::Notification {
            obj: f.ntfn,
            badge: 0,
            rights: Rights::ALL,
        },
    );
    broken(inv_36, "INV-36", &s);
    // A Reserved line's slot likewise.
    let mut s = f.s.clone();
    place(
        &mut s,
        SlotRef::Irq { line: 5 },
        Cap::Notification {
            obj: f.ntfn,
            badge: 0,
            rights: Rights::ALL,
        },
    );
    broken(inv_36, "INV-36", &s);
    // Inactive is stored by being absent; no line beyond IRQ_LINES.
    let mut s = f.s.clone();
    s.irq.insert(40, IrqState::Inactive);
    broken(inv_36, "INV-36", &s);
    let mut s = f.s.clone();
    s.irq.insert(abi::irq::IRQ_LINES, IrqState::Reserved);
    broken(inv_36, "INV-36", &s);
}

#[test]
fn inv_36_reserved_lines_match_the_boot_configuration() {
    let cfg = BootConfig {
        arch: crate::entry::Arch::Aarch64,
        root_ipc_buffer: 0x1_4000,
        root_vspace: 0x1_5000,
        root_boot_info: 0x1_7000,
        root_asid_pool: 0x1_6000,
        irq_lines: 64,
        reserved_irqs: (0..32).collect(),
        root_ipc_buffer_vaddr: 0x40_0000,
        root_tcb: ROOT_TCB,
        root_cnode: ROOT_CNODE,
        root_radix: 8,
        untypeds: vec![],
        kernel_memory: vec![(0, 0x1_0000)],
    };
    let s = fixture().s;
    assert_eq!(inv_36_boot(&s, &cfg), Ok(()));
    // A Reserved line (an aarch64 PPI) made Active with a handler.
    let mut bad = s.clone();
    bad.irq.insert(30, IrqState::Active { pending_ack: false });
    place(&mut bad, slot(60), Cap::IrqHandler { line: 30 });
    assert_eq!(inv_36_boot(&bad, &cfg).unwrap_err().rule, "INV-36");
    // A line that exists made Reserved.
    let mut bad = s.clone();
    bad.irq.insert(40, IrqState::Reserved);
    assert_eq!(inv_36_boot(&bad, &cfg).unwrap_err().rule, "INV-36");
}

#[test]
fn inv_10_irq_lines_and_handlers() {
    let f = fixture();
    // An Active line without a handler.
    let mut s = f.s.clone();
    s.irq.insert(40, IrqState::Active { pending_ack: true });
    broken(inv_10, "INV-10", &s);
    // A handler for an Inactive line (INV-9 too).
    let mut s = f.s.clone();
    place(&mut s, slot(60), Cap::IrqHandler { line: 40 });
    broken(inv_10, "INV-10", &s);
    broken(inv_9, "INV-9", &s);
    // With the line Active, fine.
    s.irq.insert(40, IrqState::Active { pending_ack: false });
    assert!(check_all(&s, &AssumeZero).is_empty());
}

#[test]
fn inv_12_two_asid_controls() {
    let mut s = fixture().s;
    place(&mut s, slot(60), Cap::AsidControl);
    broken(inv_12, "INV-12", &s);
}
