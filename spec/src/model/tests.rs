//! Unit tests of the model, each named after the rules it checks.

use super::*;
use crate::entry::{Arch, BootUntyped};
use crate::invariants::{AssumeZero, check_all};
use abi::context::Layout;
use abi::error::LookupFailureKind as K;
use alloc::vec;

const ROOT_TCB: Addr = 0x1_0000;
const ROOT_CNODE: Addr = 0x1_2000;
const RADIX: u32 = 8;
const UT: u64 = 16;
const DEV_UT: u64 = 17;
const UT_BASE: Addr = 0x10_0000;
const DEV_BASE: Addr = 0x4000_0000;

fn boot() -> Model {
    boot_on(Arch::X86_64)
}

const ROOT_BUFFER: Addr = 0x1_4000;
const ROOT_VSPACE: Addr = 0x1_5000;
const ROOT_POOL: Addr = 0x1_6000;
/// Lines the test platform has; the others are `Reserved`.
const IRQ_PLATFORM_LINES: u64 = 64;
/// The kernel's timer line on the x86_64 test platform (`Reserved`).
const TIMER_LINE: u64 = 2;
const ROOT_BUFFER_VADDR: u64 = 0x7000_0400;

fn boot_on(arch: Arch) -> Model {
    Model::boot(&BootConfig {
        arch,
        root_ipc_buffer: ROOT_BUFFER,
        root_vspace: 0x1_5000,
        root_boot_info: 0x1_7000,
        root_asid_pool: ROOT_POOL,
        irq_lines: IRQ_PLATFORM_LINES,
        reserved_irqs: match arch {
            Arch::X86_64 => vec![TIMER_LINE],
            Arch::Aarch64 => (0..32).collect(),
        },
        root_ipc_buffer_vaddr: ROOT_BUFFER_VADDR,
        root_tcb: ROOT_TCB,
        root_cnode: ROOT_CNODE,
        root_radix: RADIX,
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
    })
}

/// The one-level address of root slot `i`.
fn c(i: u64) -> u64 {
    (u64::from(RADIX) << 56) | i
}

fn slot(i: u64) -> SlotRef {
    SlotRef::CNode {
        obj: ROOT_CNODE,
        index: i,
    }
}

fn check(m: &Model) {
    let v = check_all(&m.state, &AssumeZero);
    assert!(v.is_empty(), "{v:#?}\n{:#?}", m.state);
}

fn call_with(
    m: &mut Model,
    cptr: u64,
    label: Label,
    words: &[u64],
    extra: &[u64],
    preempt: &mut dyn FnMut() -> bool,
) -> Outcome {
    let inv = Invocation {
        cptr,
        label: label.raw(),
        words: words.to_vec(),
        extra: extra.to_vec(),
    };
    m.invoke(&inv, preempt)
}

fn call(m: &mut Model, cptr: u64, label: Label, words: &[u64], extra: &[u64]) -> Outcome {
    call_with(m, cptr, label, words, extra, &mut || false)
}

fn err(e: ErrorDetail) -> Outcome {
    Outcome::Result(Err(e))
}

fn ok() -> Outcome {
    Outcome::Result(Ok(vec![]))
}

/// Call and check that the call failed with `e` and changed nothing
/// (SYS-6, TP-3).
fn refused(m: &mut Model, cptr: u64, label: Label, words: &[u64], extra: &[u64], e: ErrorDetail) {
    let before = m.clone();
    assert_eq!(call(m, cptr, label, words, extra), err(e));
    assert_same(m, &before);
}

/// The state without registers and IPC-buffer contents.
fn strip(m: &Model) -> State {
    let mut s = m.state.clone();
    for o in s.objects.values_mut() {
        if let Object::Tcb(t) = o {
            t.context.clear();
        }
    }
    s.frame_data.clear();
    s
}

/// Equal but for registers and IPC buffers (SYS-6, TP-3: only the
/// caller's result registers change).
#[track_caller]
fn assert_same(m: &Model, before: &Model) {
    assert_eq!(strip(m), strip(before));
}

fn cap_fault(address: u64, failure: LookupFailure) -> Outcome {
    Outcome::Fault(Fault::Cap {
        address,
        in_receive_phase: false,
        failure,
    })
}

fn retype(m: &mut Model, ty: ObjectType, size: u64, offset: u64, count: u64) -> Outcome {
    call(
        m,
        c(UT),
        Label::UntypedRetype,
        &[ty as u64, size, offset, count],
        &[c(2)],
    )
}

fn cap_at(m: &Model, s: SlotRef) -> Option<Cap> {
    m.state.slots.get(&s).map(|x| x.cap)
}

fn obj_at(m: &Model, i: u64) -> Addr {
    match cap_at(m, slot(i)) {
        Some(
            Cap::CNode { obj }
            | Cap::Tcb { obj }
            | Cap::Endpoint { obj, .. }
            | Cap::Notification { obj, .. }
            | Cap::Frame { obj, .. },
        ) => obj,
        other => panic!("slot {i} holds {other:?}"),
    }
}

fn children(m: &Model, s: SlotRef) -> Vec<SlotRef> {
    m.state.slots[&s].children.clone()
}

fn watermark(m: &Model, i: u64) -> u64 {
    match cap_at(m, slot(i)) {
        Some(Cap::Untyped { watermark, .. }) => watermark,
        other => panic!("{other:?}"),
    }
}

fn fl(kind: LookupFailureKind, bits_left: u64, bits_found: u64) -> LookupFailure {
    failure(kind, bits_left, bits_found)
}

// ----- boot and lookups ---------------------------------------------------

#[test]
fn st_10_boot_state() {
    let m = boot();
    check(&m);
    let s = &m.state;
    assert_eq!(s.current, Some(ROOT_TCB));
    let Some(Object::Tcb(t)) = s.objects.get(&ROOT_TCB) else {
        panic!()
    };
    assert_eq!(
        (t.state, t.priority, t.mcp, t.slice),
        (ThreadState::Running, 255, 255, TIME_SLICE_TICKS)
    );
    assert_eq!(cap_at(&m, slot(1)), Some(Cap::Tcb { obj: ROOT_TCB }));
    assert_eq!(cap_at(&m, slot(2)), Some(Cap::CNode { obj: ROOT_CNODE }));
    assert_eq!(cap_at(&m, slot(4)), Some(Cap::IrqControl));
    // spec: ST-10, ABI-16, ASID-1, ASID-2 — ASIDControl in slot 5, the
    // initial pool in slot 6 as asid_table[0], its entry 1 the root
    // VSpace (ASID 1).
    assert_eq!(cap_at(&m, slot(5)), Some(Cap::AsidControl));
    assert_eq!(
        cap_at(&m, slot(6)),
        Some(Cap::AsidPool {
            obj: ROOT_POOL,
            asid_base: 0
        })
    );
    assert_eq!(s.asid_table, BTreeMap::from([(0, ROOT_POOL)]));
    assert_eq!(
        s.objects.get(&ROOT_POOL),
        Some(&Object::AsidPool {
            entries: BTreeMap::from([(1, ROOT_VSPACE)])
        })
    );
    assert_eq!(
        s.objects.get(&ROOT_VSPACE),
        Some(&Object::VSpace {
            asid: Some(1),
            entries: BTreeMap::new()
        })
    );
    assert_eq!(cap_at(&m, slot(3)), Some(Cap::VSpace { obj: ROOT_VSPACE }));
    for i in [5, 6] {
        assert_eq!(m.state.slots[&slot(i)].parent, None);
    }
    assert_eq!(
        cap_at(
            &m,
            SlotRef::Tcb {
                obj: ROOT_TCB,
                index: 0
            }
        ),
        Some(Cap::CNode { obj: ROOT_CNODE })
    );
    assert!(matches!(
        cap_at(&m, slot(17)),
        Some(Cap::Untyped {
            device: true,
            watermark: 0,
            ..
        })
    ));
    assert!(s.slots.values().all(|x| x.parent.is_none()));
}

#[test]
fn cs_4_lookup_failures_are_cap_faults_and_change_nothing() {
    let cases = [
        // spec: CS-3 — the null address.
        (0, fl(K::MalformedAddress, 0, 0)),
        // spec: CS-2 — a stray bit above the depth.
        (c(0x100), fl(K::MalformedAddress, 0, 0)),
        // spec: CS-2 — depth above 56.
        ((57 << 56) | 1, fl(K::MalformedAddress, 0, 0)),
        // spec: CS-4 step 3.
        ((4 << 56) | 1, fl(K::DepthMismatch, 4, 8)),
        // spec: CS-4 step 7 — empty slot with bits left.
        ((16 << 56) | (100 << 8), fl(K::MissingCapability, 8, 0)),
        // spec: CS-4 step 8 — a TCB capability with bits left.
        ((16 << 56) | (1 << 8), fl(K::DepthMismatch, 8, 0)),
        // spec: CS-7 — the slot found is empty.
        (c(100), fl(K::MissingCapability, 0, 0)),
    ];
    for (cptr, f) in cases {
        let mut m = boot();
        let before = m.clone();
        assert_eq!(
            call(&mut m, cptr, Label::CNodeDelete, &[1], &[]),
            cap_fault(cptr, f),
            "{cptr:#x}"
        );
        // spec: FLT-3 — no fault endpoint: the thread stops, nothing else
        // changes (TP-3).
        check(&m);
        assert_eq!(tcb_of(&m, ROOT_TCB).state, ThreadState::Inactive);
        assert_eq!(tcb_of(&m, ROOT_TCB).fault, None);
        assert_eq!(m.state.current, None);
        let mut expected = strip(&before);
        expected.current = None;
        if let Some(Object::Tcb(t)) = expected.objects.get_mut(&ROOT_TCB) {
            t.state = ThreadState::Inactive;
        }
        assert_eq!(strip(&m), expected);
    }
}

#[test]
fn cs_6_empty_cspace_root_is_invalid_root() {
    let mut m = boot();
    m.state.slots.remove(&SlotRef::Tcb {
        obj: ROOT_TCB,
        index: 0,
    });
    let m2 = m.clone();
    assert_eq!(
        call(&mut m, c(2), Label::CNodeDelete, &[1], &[]),
        cap_fault(c(2), fl(K::InvalidRoot, 0, 0))
    );
    // spec: CS-4 — a malformed address fails before the root is looked at.
    let mut m = m2;
    assert_eq!(
        call(&mut m, 0, Label::CNodeDelete, &[1], &[]),
        cap_fault(0, fl(K::MalformedAddress, 0, 0))
    );
}

#[test]
fn cs_5_two_level_addresses() {
    let mut m = boot();
    // A radix-4 CNode in root slot 30, holding an endpoint in its slot 3.
    assert_eq!(retype(&mut m, ObjectType::CNode, 4, 30, 1), ok());
    assert_eq!(retype(&mut m, ObjectType::Endpoint, 0, 31, 1), ok());
    let inner = (12 << 56) | (30 << 4);
    // Move the endpoint into inner slot 3 (invoking the inner CNode by its
    // one-level address).
    assert_eq!(
        call(&mut m, c(30), Label::CNodeMove, &[3, 31], &[c(2)]),
        ok()
    );
    let m1 = m.clone();
    assert_eq!(
        call(&mut m, inner | 4, Label::CNodeDelete, &[0], &[]),
        cap_fault(inner | 4, fl(K::MissingCapability, 0, 0))
    );
    // The endpoint is found through two levels: the Call sends to it and
    // blocks (IPC-5), not a CapFault.
    let mut m = m1;
    assert_eq!(
        call(&mut m, inner | 3, Label::CNodeDelete, &[0], &[]),
        Outcome::Other
    );
    assert!(matches!(
        tcb_of(&m, ROOT_TCB).state,
        ThreadState::BlockedOnSend { call: true, .. }
    ));
    check(&m);
}

#[test]
fn sys_5_extra_capability_lookups_in_order() {
    let mut m = boot();
    let before = m.clone();
    assert_eq!(
        call(
            &mut m,
            c(2),
            Label::CNodeCopy,
            &[50, 1, 15],
            &[c(2), c(99), 0]
        ),
        err(ErrorDetail::FailedLookup {
            position: 2,
            failure: fl(K::MissingCapability, 0, 0)
        })
    );
    assert_same(&m, &before);
    // A fourth extra capability is ignored.
    assert_eq!(
        call(
            &mut m,
            c(2),
            Label::CNodeCopy,
            &[50, 1, 15],
            &[c(2), c(2), c(2), 0]
        ),
        ok()
    );
}

#[test]
fn err_6_labels_of_other_types_are_illegal() {
    let mut m = boot();
    let illegal = ErrorDetail::IllegalOperation;
    refused(&mut m, c(UT), Label::CNodeDelete, &[1], &[], illegal);
    refused(
        &mut m,
        c(2),
        Label::UntypedRetype,
        &[0, 4, 0, 1],
        &[c(2)],
        illegal,
    );
    refused(&mut m, c(4), Label::IrqHandlerAck, &[], &[], illegal);
    refused(&mut m, c(5), Label::AsidPoolAssign, &[], &[], illegal);
    refused(&mut m, c(6), Label::AsidControlMakePool, &[], &[], illegal);
    refused(&mut m, c(7), Label::PageTableMap, &[], &[], illegal);
    refused(&mut m, c(3), Label::FrameMap, &[], &[], illegal);
    let before = m.clone();
    for label in [0, 13, 24, 1000] {
        let inv = Invocation {
            cptr: c(2),
            label,
            words: vec![1],
            extra: vec![],
        };
        assert_eq!(m.invoke(&inv, &mut || false), err(illegal));
    }
    assert_same(&m, &before);
}

// ----- Retype ---------------------------------------------------------------

#[test]
fn ut_5_checks_in_order() {
    let mut m = boot();
    let r = Label::UntypedRetype;
    let e = |ty: u64, size, off, n| vec![ty, size, off, n];
    // 1
    refused(
        &mut m,
        c(UT),
        r,
        &[2, 0, 40],
        &[c(2)],
        ErrorDetail::TruncatedMessage,
    );
    refused(
        &mut m,
        c(UT),
        r,
        &e(2, 0, 40, 1),
        &[],
        ErrorDetail::TruncatedMessage,
    );
    // 2
    refused(
        &mut m,
        c(UT),
        r,
        &e(10, 0, 40, 1),
        &[c(2)],
        ErrorDetail::InvalidArgument { index: 0 },
    );
    // 3
    refused(
        &mut m,
        c(UT),
        r,
        &e(0, 3, 40, 1),
        &[c(2)],
        range_error(4, 47),
    );
    refused(
        &mut m,
        c(UT),
        r,
        &e(0, 48, 40, 1),
        &[c(2)],
        range_error(4, 47),
    );
    refused(
        &mut m,
        c(UT),
        r,
        &e(4, 0, 40, 1),
        &[c(2)],
        range_error(1, 24),
    );
    refused(
        &mut m,
        c(UT),
        r,
        &e(4, 25, 40, 1),
        &[c(2)],
        range_error(1, 24),
    );
    // 4
    refused(
        &mut m,
        c(DEV_UT),
        r,
        &e(2, 0, 40, 1),
        &[c(2)],
        ErrorDetail::InvalidArgument { index: 0 },
    );
    // 5
    refused(
        &mut m,
        c(UT),
        r,
        &e(2, 0, 40, 1),
        &[c(1)],
        ErrorDetail::InvalidCapability { position: 1 },
    );
    // 6
    refused(
        &mut m,
        c(UT),
        r,
        &e(2, 0, 40, 0),
        &[c(2)],
        range_error(1, 256),
    );
    refused(
        &mut m,
        c(UT),
        r,
        &e(2, 0, 40, 257),
        &[c(2)],
        range_error(1, 256),
    );
    // 7
    refused(
        &mut m,
        c(UT),
        r,
        &e(2, 0, 256, 1),
        &[c(2)],
        range_error(0, 255),
    );
    // 8
    refused(
        &mut m,
        c(UT),
        r,
        &e(2, 0, 250, 7),
        &[c(2)],
        range_error(1, 6),
    );
    // 9
    refused(
        &mut m,
        c(UT),
        r,
        &e(2, 0, 15, 2),
        &[c(2)],
        ErrorDetail::DeleteFirst,
    );
    // 10 — a 2 MiB frame in a 1 MiB untyped.
    refused(
        &mut m,
        c(UT),
        r,
        &e(6, 0, 40, 1),
        &[c(2)],
        ErrorDetail::NotEnoughMemory { available: 1 << 20 },
    );
    // 10 — after using 4 KiB, 256 frames of 4 KiB no longer fit.
    assert_eq!(retype(&mut m, ObjectType::Frame4K, 0, 40, 1), ok());
    refused(
        &mut m,
        c(UT),
        r,
        &e(0, 20, 41, 1),
        &[c(2)],
        ErrorDetail::NotEnoughMemory {
            available: (1 << 20) - 0x1000,
        },
    );
    check(&m);
}

#[test]
fn ut_8_objects_placed_newest_first_with_cap_3_caps() {
    let mut m = boot();
    assert_eq!(retype(&mut m, ObjectType::Endpoint, 0, 40, 3), ok());
    assert_eq!(watermark(&m, UT), 3 * 16);
    assert_eq!(children(&m, slot(UT)), vec![slot(42), slot(41), slot(40)]);
    for i in 0..3 {
        assert_eq!(
            cap_at(&m, slot(40 + i)),
            Some(Cap::Endpoint {
                obj: UT_BASE + 16 * i,
                badge: 0,
                rights: Rights::ALL
            })
        );
        assert_eq!(m.state.slots[&slot(40 + i)].parent, Some(slot(UT)));
    }
    // spec: UT-7 — alignment gap: a TCB (2 KiB) starts at 2 KiB.
    assert_eq!(retype(&mut m, ObjectType::Tcb, 0, 43, 1), ok());
    assert_eq!(obj_at(&m, 43), UT_BASE + 0x800);
    assert_eq!(watermark(&m, UT), 0x1000);
    let Some(Object::Tcb(t)) = m.state.objects.get(&(UT_BASE + 0x800)) else {
        panic!()
    };
    assert_eq!(
        (t.state, t.priority, t.slice),
        (ThreadState::Inactive, 0, TIME_SLICE_TICKS)
    );
    check(&m);
}

#[test]
fn ut_9_every_object_type() {
    let mut m = boot();
    let types = [
        (ObjectType::Untyped, 12),
        (ObjectType::Tcb, 0),
        (ObjectType::Endpoint, 0),
        (ObjectType::Notification, 0),
        (ObjectType::CNode, 3),
        (ObjectType::Frame4K, 0),
        (ObjectType::PageTable, 0),
        (ObjectType::VSpace, 0),
    ];
    for (i, (ty, size)) in types.into_iter().enumerate() {
        assert_eq!(retype(&mut m, ty, size, 40 + i as u64, 1), ok(), "{ty:?}");
    }
    assert!(matches!(
        cap_at(&m, slot(40)),
        Some(Cap::Untyped {
            size_bits: 12,
            device: false,
            watermark: 0,
            ..
        })
    ));
    assert!(matches!(
        cap_at(&m, slot(45)),
        Some(Cap::Frame {
            rights: Rights::READ_WRITE,
            mapping: None,
            ..
        })
    ));
    assert!(matches!(
        cap_at(&m, slot(46)),
        Some(Cap::PageTable { mapping: None, .. })
    ));
    assert_eq!(m.state.objects[&obj_at(&m, 44)], Object::CNode { radix: 3 });
    // Device untyped: frames and untypeds, device.
    assert_eq!(
        call(
            &mut m,
            c(DEV_UT),
            Label::UntypedRetype,
            &[ObjectType::Frame2M as u64, 0, 50, 1],
            &[c(2)]
        ),
        ok()
    );
    assert_eq!(
        call(
            &mut m,
            c(DEV_UT),
            Label::UntypedRetype,
            &[ObjectType::Untyped as u64, 12, 51, 1],
            &[c(2)]
        ),
        ok()
    );
    assert_eq!(
        m.state.objects[&obj_at(&m, 50)],
        Object::Frame {
            size_bits: 21,
            device: true
        }
    );
    check(&m);
}

#[test]
fn ut_10_reset_chunks_from_the_top_with_preemption() {
    let mut m = boot();
    assert_eq!(retype(&mut m, ObjectType::Frame4K, 0, 40, 3), ok());
    assert_eq!(watermark(&m, UT), 0x3000);
    for i in 40..43 {
        assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[i], &[]), ok());
    }
    // spec: UT-12 — deleting children keeps the watermark.
    assert_eq!(watermark(&m, UT), 0x3000);
    // spec: UT-6 — effective watermark 0: everything is available.
    let mut seen = Vec::new();
    for expected in [0x2000, 0x1000, 0] {
        let out = call_with(
            &mut m,
            c(UT),
            Label::UntypedRetype,
            &[2, 0, 40, 1],
            &[c(2)],
            &mut || true,
        );
        assert_eq!(out, Outcome::Preempted);
        seen.push(watermark(&m, UT));
        assert_eq!(watermark(&m, UT), expected);
        assert!(matches!(
            m.state.objects[&ROOT_TCB],
            Object::Tcb(Tcb {
                state: ThreadState::Restart,
                ..
            })
        ));
        check(&m);
    }
    assert_eq!(seen, vec![0x2000, 0x1000, 0]);
    // The re-executed call now places the object at offset 0.
    let mut asked = 0;
    let out = call_with(
        &mut m,
        c(UT),
        Label::UntypedRetype,
        &[2, 0, 40, 1],
        &[c(2)],
        &mut || {
            asked += 1;
            true
        },
    );
    assert_eq!(out, ok());
    assert_eq!(asked, 0);
    assert_eq!(obj_at(&m, 40), UT_BASE);
    assert_eq!(watermark(&m, UT), 16);
    assert!(matches!(
        m.state.objects[&ROOT_TCB],
        Object::Tcb(Tcb {
            state: ThreadState::Running,
            ..
        })
    ));
    check(&m);
}

#[test]
fn ut_10_device_reset_is_one_step() {
    let mut m = boot();
    let r = Label::UntypedRetype;
    assert_eq!(call(&mut m, c(DEV_UT), r, &[5, 0, 40, 4], &[c(2)]), ok());
    assert_eq!(call(&mut m, c(2), Label::CNodeRevoke, &[DEV_UT], &[]), ok());
    assert_eq!(watermark(&m, DEV_UT), 0x4000);
    let mut asked = 0;
    let out = call_with(&mut m, c(DEV_UT), r, &[5, 0, 40, 1], &[c(2)], &mut || {
        asked += 1;
        true
    });
    assert_eq!((out, asked), (ok(), 0));
    assert_eq!(watermark(&m, DEV_UT), 0x1000);
    check(&m);
}

// ----- CNode invocations ----------------------------------------------------

/// An endpoint in root slot 40 (child of the untyped).
fn with_endpoint() -> Model {
    let mut m = boot();
    assert_eq!(retype(&mut m, ObjectType::Endpoint, 0, 40, 1), ok());
    m
}

#[test]
fn cnode_2_copy_checks_in_order() {
    let mut m = with_endpoint();
    let l = Label::CNodeCopy;
    // 1
    refused(
        &mut m,
        c(2),
        l,
        &[50, 40],
        &[c(2)],
        ErrorDetail::TruncatedMessage,
    );
    refused(
        &mut m,
        c(2),
        l,
        &[50, 40, 15],
        &[],
        ErrorDetail::TruncatedMessage,
    );
    // 2
    refused(
        &mut m,
        c(2),
        l,
        &[50, 40, 15],
        &[c(1)],
        ErrorDetail::InvalidCapability { position: 1 },
    );
    // 3, 4
    refused(
        &mut m,
        c(2),
        l,
        &[256, 999, 16],
        &[c(2)],
        range_error(0, 255),
    );
    refused(
        &mut m,
        c(2),
        l,
        &[50, 256, 16],
        &[c(2)],
        range_error(0, 255),
    );
    // 5
    refused(
        &mut m,
        c(2),
        l,
        &[1, 40, 16],
        &[c(2)],
        ErrorDetail::InvalidArgument { index: 2 },
    );
    // 6
    refused(
        &mut m,
        c(2),
        l,
        &[1, 99, 15],
        &[c(2)],
        ErrorDetail::DeleteFirst,
    );
    // 7
    refused(
        &mut m,
        c(2),
        l,
        &[50, 99, 15],
        &[c(2)],
        ErrorDetail::FailedLookup {
            position: 1,
            failure: fl(K::MissingCapability, 0, 0),
        },
    );
    // 8 — Untyped, IRQControl are not derivable (CAP-9).
    refused(
        &mut m,
        c(2),
        l,
        &[50, UT, 15],
        &[c(2)],
        ErrorDetail::IllegalOperation,
    );
    refused(
        &mut m,
        c(2),
        l,
        &[50, 4, 15],
        &[c(2)],
        ErrorDetail::IllegalOperation,
    );
    check(&m);
}

#[test]
fn cnode_2_copy_is_a_child_with_masked_rights() {
    let mut m = with_endpoint();
    let ep = obj_at(&m, 40);
    let rw = Rights::READ_WRITE.bits();
    assert_eq!(
        call(&mut m, c(2), Label::CNodeCopy, &[50, 40, rw], &[c(2)]),
        ok()
    );
    assert_eq!(
        call(&mut m, c(2), Label::CNodeCopy, &[51, 40, 15], &[c(2)]),
        ok()
    );
    assert_eq!(
        cap_at(&m, slot(50)),
        Some(Cap::Endpoint {
            obj: ep,
            badge: 0,
            rights: Rights::READ_WRITE
        })
    );
    // spec: DER-3 — newest child first.
    assert_eq!(children(&m, slot(40)), vec![slot(51), slot(50)]);
    assert_eq!(m.state.slots[&slot(50)].parent, Some(slot(40)));
    // Copy of a copy is its child (DER-2).
    assert_eq!(
        call(&mut m, c(2), Label::CNodeCopy, &[52, 50, 15], &[c(2)]),
        ok()
    );
    assert_eq!(children(&m, slot(50)), vec![slot(52)]);
    // A frame copy: rights masked, mapping none.
    assert_eq!(retype(&mut m, ObjectType::Frame4K, 0, 60, 1), ok());
    assert_eq!(
        call(&mut m, c(2), Label::CNodeCopy, &[61, 60, 1], &[c(2)]),
        ok()
    );
    assert!(matches!(
        cap_at(&m, slot(61)),
        Some(Cap::Frame {
            rights: Rights::READ,
            mapping: None,
            ..
        })
    ));
    check(&m);
}

#[test]
fn cnode_3_mint_checks_9_and_10_and_badge() {
    let mut m = with_endpoint();
    let l = Label::CNodeMint;
    refused(
        &mut m,
        c(2),
        l,
        &[50, 40, 15],
        &[c(2)],
        ErrorDetail::TruncatedMessage,
    );
    // 9 — badge on a CNode capability.
    refused(
        &mut m,
        c(2),
        l,
        &[50, 2, 15, 7],
        &[c(2)],
        ErrorDetail::InvalidArgument { index: 3 },
    );
    assert_eq!(call(&mut m, c(2), l, &[50, 40, 15, 7], &[c(2)]), ok());
    assert!(matches!(
        cap_at(&m, slot(50)),
        Some(Cap::Endpoint { badge: 7, .. })
    ));
    // 10 — re-badging.
    refused(
        &mut m,
        c(2),
        l,
        &[51, 50, 15, 8],
        &[c(2)],
        ErrorDetail::IllegalOperation,
    );
    // badge 0 keeps the badge (CAP-8).
    assert_eq!(call(&mut m, c(2), l, &[51, 50, 1, 0], &[c(2)]), ok());
    assert!(matches!(
        cap_at(&m, slot(51)),
        Some(Cap::Endpoint {
            badge: 7,
            rights: Rights::READ,
            ..
        })
    ));
    // Mint of a CNode capability without a badge is allowed.
    assert_eq!(call(&mut m, c(2), l, &[52, 2, 0, 0], &[c(2)]), ok());
    check(&m);
}

#[test]
fn cnode_4_move_keeps_tree_position() {
    let mut m = with_endpoint();
    let l = Label::CNodeMove;
    refused(
        &mut m,
        c(2),
        l,
        &[50],
        &[c(2)],
        ErrorDetail::TruncatedMessage,
    );
    refused(
        &mut m,
        c(2),
        l,
        &[50, 99],
        &[c(2)],
        ErrorDetail::FailedLookup {
            position: 1,
            failure: fl(K::MissingCapability, 0, 0),
        },
    );
    // Moving onto itself: the destination is occupied.
    refused(
        &mut m,
        c(2),
        l,
        &[40, 40],
        &[c(2)],
        ErrorDetail::DeleteFirst,
    );
    assert_eq!(
        call(&mut m, c(2), Label::CNodeCopy, &[41, 40, 15], &[c(2)]),
        ok()
    );
    // Untyped may be moved (CAP-9); it keeps its children.
    assert_eq!(call(&mut m, c(2), l, &[30, UT], &[c(2)]), ok());
    assert_eq!(cap_at(&m, slot(UT)), None);
    assert_eq!(m.state.slots[&slot(40)].parent, Some(slot(30)));
    assert_eq!(call(&mut m, c(2), l, &[50, 40], &[c(2)]), ok());
    assert_eq!(children(&m, slot(30)), vec![slot(50)]);
    assert_eq!(children(&m, slot(50)), vec![slot(41)]);
    assert_eq!(m.state.slots[&slot(41)].parent, Some(slot(50)));
    check(&m);
}

#[test]
fn cnode_5_mutate_check_11_and_effect() {
    let mut m = with_endpoint();
    let l = Label::CNodeMutate;
    refused(
        &mut m,
        c(2),
        l,
        &[50, 40, 15],
        &[c(2)],
        ErrorDetail::TruncatedMessage,
    );
    // Underivable capabilities may be mutated (no check 8): Untyped.
    assert_eq!(
        call(&mut m, c(2), Label::CNodeCopy, &[41, 40, 15], &[c(2)]),
        ok()
    );
    // 11 — a change with children.
    refused(
        &mut m,
        c(2),
        l,
        &[50, 40, 1, 0],
        &[c(2)],
        ErrorDetail::RevokeFirst,
    );
    refused(
        &mut m,
        c(2),
        l,
        &[50, 40, 15, 9],
        &[c(2)],
        ErrorDetail::RevokeFirst,
    );
    // 9 before 11.
    refused(
        &mut m,
        c(2),
        l,
        &[50, 2, 15, 9],
        &[c(2)],
        ErrorDetail::InvalidArgument { index: 3 },
    );
    // No change: allowed with children.
    assert_eq!(call(&mut m, c(2), l, &[50, 40, 15, 0], &[c(2)]), ok());
    assert_eq!(children(&m, slot(50)), vec![slot(41)]);
    // A change without children.
    assert_eq!(call(&mut m, c(2), l, &[42, 41, 2, 5], &[c(2)]), ok());
    assert!(matches!(
        cap_at(&m, slot(42)),
        Some(Cap::Endpoint {
            badge: 5,
            rights: Rights::WRITE,
            ..
        })
    ));
    assert_eq!(children(&m, slot(50)), vec![slot(42)]);
    // 10 — re-badging.
    refused(
        &mut m,
        c(2),
        l,
        &[43, 42, 15, 6],
        &[c(2)],
        ErrorDetail::IllegalOperation,
    );
    assert_eq!(call(&mut m, c(2), l, &[44, UT, 0, 0], &[c(2)]), ok());
    check(&m);
}

#[test]
fn cnode_6_delete_moves_children_up() {
    let mut m = with_endpoint();
    refused(
        &mut m,
        c(2),
        Label::CNodeDelete,
        &[],
        &[],
        ErrorDetail::TruncatedMessage,
    );
    refused(
        &mut m,
        c(2),
        Label::CNodeDelete,
        &[256],
        &[],
        range_error(0, 255),
    );
    assert_eq!(
        call(&mut m, c(2), Label::CNodeCopy, &[41, 40, 15], &[c(2)]),
        ok()
    );
    assert_eq!(
        call(&mut m, c(2), Label::CNodeCopy, &[42, 41, 15], &[c(2)]),
        ok()
    );
    // spec: DER-8.
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[41], &[]), ok());
    assert_eq!(children(&m, slot(40)), vec![slot(42)]);
    assert_eq!(m.state.slots[&slot(42)].parent, Some(slot(40)));
    // An empty slot is left as it is.
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[99], &[]), ok());
    // Final endpoint capability: the endpoint ceases to exist (DER-12).
    let ep = obj_at(&m, 40);
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[40], &[]), ok());
    assert!(m.state.objects.contains_key(&ep));
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[42], &[]), ok());
    assert!(!m.state.objects.contains_key(&ep));
    check(&m);
}

#[test]
fn der_12_final_endpoint_restarts_its_queue() {
    let mut m = with_endpoint();
    let ep = obj_at(&m, 40);
    assert_eq!(retype(&mut m, ObjectType::Tcb, 0, 41, 2), ok());
    let (t1, t2) = (obj_at(&m, 41), obj_at(&m, 42));
    for t in [t1, t2] {
        m.state.objects.insert(
            t,
            Object::Tcb(Tcb {
                state: ThreadState::BlockedOnRecv { ep, grant: false },
                ..tcb_of(&m, t)
            }),
        );
    }
    m.state
        .objects
        .insert(ep, Object::Endpoint(EndpointState::Receiving(vec![t1, t2])));
    check(&m);
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[40], &[]), ok());
    assert_eq!(tcb_of(&m, t1).state, ThreadState::Restart);
    assert_eq!(tcb_of(&m, t2).state, ThreadState::Restart);
    assert!(!m.state.objects.contains_key(&ep));
}

fn tcb_of(m: &Model, t: Addr) -> Tcb {
    match &m.state.objects[&t] {
        Object::Tcb(tcb) => tcb.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn der_15_final_cnode_holding_caps_zombie_steps() {
    let mut m = with_endpoint();
    // A radix-2 CNode in slot 30 holding a copy of the endpoint (in its
    // slot 1) and the final capability to a second endpoint (slot 3).
    assert_eq!(retype(&mut m, ObjectType::CNode, 2, 30, 1), ok());
    assert_eq!(retype(&mut m, ObjectType::Endpoint, 0, 31, 1), ok());
    let (cn, ep2) = (obj_at(&m, 30), obj_at(&m, 31));
    assert_eq!(
        call(&mut m, c(30), Label::CNodeCopy, &[1, 40, 15], &[c(2)]),
        ok()
    );
    assert_eq!(
        call(&mut m, c(30), Label::CNodeMove, &[3, 31], &[c(2)]),
        ok()
    );
    check(&m);
    // Preempt after every step: 4 slots → steps: slot 3 (Delete), slot 3
    // (now empty), slot 2, slot 1 (Delete), slot 1, slot 0, then n = 0.
    let mut calls = 0;
    loop {
        calls += 1;
        let out = call_with(&mut m, c(2), Label::CNodeDelete, &[30], &[], &mut || true);
        check(&m);
        if out == ok() {
            break;
        }
        assert_eq!(out, Outcome::Preempted);
        assert_eq!(m.state.pending_delete, Some(slot(30)));
        assert!(matches!(
            cap_at(&m, slot(30)),
            Some(Cap::Zombie {
                kind: ZombieKind::CNode,
                ..
            })
        ));
    }
    // Six unfinished steps, so six preemptions, then the call that finishes
    // the deletion and re-executes the Delete of the (now empty) slot.
    assert_eq!(calls, 7);
    assert!(!m.state.objects.contains_key(&cn));
    assert!(!m.state.objects.contains_key(&ep2));
    assert_eq!(children(&m, slot(40)), vec![]);
    assert_eq!(m.state.pending_delete, None);
}

#[test]
fn der_15_cycle_of_cnodes_is_broken() {
    for preempt_always in [false, true] {
        let mut m = boot();
        // Two radix-2 CNodes A (slot 20) and B (slot 21).
        assert_eq!(retype(&mut m, ObjectType::CNode, 2, 20, 2), ok());
        let (a, b) = (obj_at(&m, 20), obj_at(&m, 21));
        // A's only capability into B[0], then B's only capability into A[1]
        // (A named through B: depth 10).
        assert_eq!(
            call(&mut m, c(21), Label::CNodeMove, &[0, 20], &[c(2)]),
            ok()
        );
        let a_cptr = (10 << 56) | (21 << 2);
        assert_eq!(
            call(&mut m, a_cptr, Label::CNodeMove, &[1, 21], &[c(2)]),
            ok()
        );
        // Also an endpoint in A[3] and one in B[2].
        assert_eq!(retype(&mut m, ObjectType::Endpoint, 0, 40, 2), ok());
        let (e1, e2) = (obj_at(&m, 40), obj_at(&m, 41));
        let in_b = SlotRef::CNode { obj: b, index: 2 };
        m.move_slot(slot(40), SlotRef::CNode { obj: a, index: 3 });
        m.move_slot(slot(41), in_b);
        check(&m);
        // Revoke the untyped: everything goes.
        let mut entries = 0;
        loop {
            entries += 1;
            let out = call_with(&mut m, c(2), Label::CNodeRevoke, &[UT], &[], &mut || {
                preempt_always
            });
            check(&m);
            if out == ok() {
                break;
            }
            assert_eq!(out, Outcome::Preempted);
            assert!(entries < 100);
        }
        assert_eq!(entries > 1, preempt_always);
        for o in [a, b, e1, e2] {
            assert!(!m.state.objects.contains_key(&o));
        }
        assert!(children(&m, slot(UT)).is_empty());
        assert!(
            m.state
                .slots
                .values()
                .all(|x| !matches!(x.cap, Cap::Zombie { .. }))
        );
        // The root TCB, CNode, IPC-buffer and boot-info frames, VSpace
        // and pool remain.
        assert_eq!(m.state.objects.len(), 6);
    }
}

#[test]
fn der_11_revoke_preempted_and_resumed() {
    let mut m = with_endpoint();
    for i in 41..44 {
        assert_eq!(
            call(&mut m, c(2), Label::CNodeCopy, &[i, 40, 15], &[c(2)]),
            ok()
        );
    }
    // Preempted after the first and second Delete, not after the last.
    let mut asked = 0;
    let mut oracle = || {
        asked += 1;
        true
    };
    assert_eq!(
        call_with(&mut m, c(2), Label::CNodeRevoke, &[40], &[], &mut oracle),
        Outcome::Preempted
    );
    assert_eq!(children(&m, slot(40)).len(), 2);
    check(&m);
    assert_eq!(
        call_with(&mut m, c(2), Label::CNodeRevoke, &[40], &[], &mut oracle),
        Outcome::Preempted
    );
    assert_eq!(
        call_with(&mut m, c(2), Label::CNodeRevoke, &[40], &[], &mut oracle),
        ok()
    );
    assert_eq!(asked, 2);
    assert!(children(&m, slot(40)).is_empty());
    assert!(cap_at(&m, slot(40)).is_some());
    // spec: CNODE-7 — nothing to do.
    assert_eq!(call(&mut m, c(2), Label::CNodeRevoke, &[99], &[]), ok());
    check(&m);
}

#[test]
fn sys_18_pending_delete_finishes_first() {
    let mut m = boot();
    assert_eq!(retype(&mut m, ObjectType::CNode, 3, 30, 1), ok());
    let cn = obj_at(&m, 30);
    let mut once = true;
    let out = call_with(&mut m, c(2), Label::CNodeDelete, &[30], &[], &mut || {
        core::mem::take(&mut once)
    });
    assert_eq!(out, Outcome::Preempted);
    assert_eq!(m.state.pending_delete, Some(slot(30)));
    // The next call (any) finishes the deletion, then runs.
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[99], &[]), ok());
    assert_eq!(m.state.pending_delete, None);
    assert!(!m.state.objects.contains_key(&cn));
    // Preempted again during the continuation: the call has not started.
    assert_eq!(retype(&mut m, ObjectType::CNode, 3, 30, 1), ok());
    let mut n = 0;
    let mut first_only = || {
        n += 1;
        n == 1
    };
    let out = call_with(
        &mut m,
        c(2),
        Label::CNodeDelete,
        &[30],
        &[],
        &mut first_only,
    );
    assert_eq!(out, Outcome::Preempted);
    let out = call_with(
        &mut m,
        c(2),
        Label::CNodeCopy,
        &[50, 2, 0],
        &[c(2)],
        &mut || true,
    );
    assert_eq!(out, Outcome::Preempted);
    assert_eq!(cap_at(&m, slot(50)), None);
    check(&m);
}

#[test]
fn der_12_deleting_own_tcb_gives_no_result() {
    let mut m = boot();
    assert_eq!(
        call(&mut m, c(2), Label::CNodeDelete, &[1], &[]),
        Outcome::Other
    );
    assert!(!m.state.objects.contains_key(&ROOT_TCB));
    assert_eq!(m.state.current, None);
    check(&m);
    // No current thread: nothing happens.
    assert_eq!(
        call(&mut m, c(2), Label::CNodeDelete, &[2], &[]),
        Outcome::Other
    );
}

/// A second thread `t` in root slot 41, `BlockedOnReply` with its Reply
/// capability in the root thread's Reply slot.
fn with_caller() -> (Model, Addr) {
    let mut m = boot();
    assert_eq!(retype(&mut m, ObjectType::Tcb, 0, 41, 1), ok());
    let t = obj_at(&m, 41);
    let at = SlotRef::Tcb {
        obj: ROOT_TCB,
        index: 4,
    };
    m.state.slots.insert(
        at,
        Slot {
            cap: Cap::Reply {
                caller: t,
                can_grant: true,
            },
            parent: None,
            children: vec![],
        },
    );
    if let Some(Object::Tcb(tcb)) = m.state.objects.get_mut(&t) {
        tcb.state = ThreadState::BlockedOnReply;
        tcb.reply_at = Some(at);
    }
    check(&m);
    (m, t)
}

#[test]
fn cnode_10_save_caller() {
    let (mut m, t) = with_caller();
    refused(
        &mut m,
        c(2),
        Label::CNodeSaveCaller,
        &[],
        &[],
        ErrorDetail::TruncatedMessage,
    );
    refused(
        &mut m,
        c(2),
        Label::CNodeSaveCaller,
        &[1000],
        &[],
        range_error(0, 255),
    );
    refused(
        &mut m,
        c(2),
        Label::CNodeSaveCaller,
        &[1],
        &[],
        ErrorDetail::DeleteFirst,
    );
    assert_eq!(call(&mut m, c(2), Label::CNodeSaveCaller, &[60], &[]), ok());
    assert_eq!(tcb_of(&m, t).reply_at, Some(slot(60)));
    assert!(matches!(cap_at(&m, slot(60)), Some(Cap::Reply { caller, .. }) if caller == t));
    check(&m);
    // Nothing to save: nothing happens.
    assert_eq!(call(&mut m, c(2), Label::CNodeSaveCaller, &[61], &[]), ok());
    assert_eq!(cap_at(&m, slot(61)), None);
    // spec: CAP-9 — a Reply is not derivable; Mutate clears can_grant.
    refused(
        &mut m,
        c(2),
        Label::CNodeCopy,
        &[62, 60, 15],
        &[c(2)],
        ErrorDetail::IllegalOperation,
    );
    assert_eq!(
        call(&mut m, c(2), Label::CNodeMutate, &[62, 60, 3, 0], &[c(2)]),
        ok()
    );
    assert_eq!(
        cap_at(&m, slot(62)),
        Some(Cap::Reply {
            caller: t,
            can_grant: false
        })
    );
    assert_eq!(tcb_of(&m, t).reply_at, Some(slot(62)));
    // spec: IPC-20 — deleting it wakes the caller.
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[62], &[]), ok());
    assert_eq!(tcb_of(&m, t).state, ThreadState::Running);
    assert_eq!(tcb_of(&m, t).reply_at, None);
    // spec: SCHED-4 — appended to its ready queue; NoReply in its
    // registers.
    assert_eq!(m.state.ready.get(&0), Some(&vec![t]));
    assert_eq!(
        tcb_of(&m, t).context[Layout::X86_64.info] >> 12,
        abi::error::Error::NoReply.code()
    );
    check(&m);
}

#[test]
fn tcb_10_deleting_a_blocked_callers_tcb_removes_its_reply() {
    let (mut m, t) = with_caller();
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[41], &[]), ok());
    assert!(!m.state.objects.contains_key(&t));
    assert_eq!(
        cap_at(
            &m,
            SlotRef::Tcb {
                obj: ROOT_TCB,
                index: 4
            }
        ),
        None
    );
    check(&m);
}

#[test]
fn cnode_8_cancel_badged_sends() {
    let mut m = with_endpoint();
    let ep = obj_at(&m, 40);
    let l = Label::CNodeCancelBadgedSends;
    refused(&mut m, c(2), l, &[], &[], ErrorDetail::TruncatedMessage);
    refused(&mut m, c(2), l, &[256], &[], range_error(0, 255));
    refused(
        &mut m,
        c(2),
        l,
        &[99],
        &[],
        ErrorDetail::FailedLookup {
            position: 0,
            failure: fl(K::MissingCapability, 0, 0),
        },
    );
    refused(&mut m, c(2), l, &[2], &[], ErrorDetail::IllegalOperation);
    assert_eq!(
        call(&mut m, c(2), Label::CNodeMint, &[41, 40, 15, 5], &[c(2)]),
        ok()
    );
    assert_eq!(
        call(&mut m, c(2), Label::CNodeMint, &[42, 40, 7, 6], &[c(2)]),
        ok()
    );
    refused(&mut m, c(2), l, &[42], &[], ErrorDetail::IllegalOperation);
    // Three senders: badges 5, 6, 5.
    assert_eq!(retype(&mut m, ObjectType::Tcb, 0, 43, 3), ok());
    let ts = [obj_at(&m, 43), obj_at(&m, 44), obj_at(&m, 45)];
    for (t, badge) in ts.into_iter().zip([5, 6, 5]) {
        if let Some(Object::Tcb(tcb)) = m.state.objects.get_mut(&t) {
            tcb.state = ThreadState::BlockedOnSend {
                ep,
                badge,
                grant: false,
                grant_reply: false,
                call: false,
            };
        }
    }
    m.state
        .objects
        .insert(ep, Object::Endpoint(EndpointState::Sending(ts.to_vec())));
    check(&m);
    // Badge 0: nothing happens.
    assert_eq!(call(&mut m, c(2), l, &[40], &[]), ok());
    assert_eq!(call(&mut m, c(2), l, &[41], &[]), ok());
    assert_eq!(
        m.state.objects[&ep],
        Object::Endpoint(EndpointState::Sending(vec![ts[1]]))
    );
    assert_eq!(tcb_of(&m, ts[0]).state, ThreadState::Restart);
    assert_eq!(tcb_of(&m, ts[2]).state, ThreadState::Restart);
    check(&m);
}

#[test]
fn der_14_zombie_has_no_invocations_and_is_not_derivable() {
    let mut m = boot();
    m.state.slots.insert(
        slot(50),
        Slot {
            cap: Cap::Zombie {
                kind: ZombieKind::CNode,
                obj: ROOT_CNODE,
                remaining: 0,
                resume: None,
            },
            parent: None,
            children: vec![],
        },
    );
    refused(
        &mut m,
        c(50),
        Label::CNodeDelete,
        &[1],
        &[],
        ErrorDetail::IllegalOperation,
    );
    refused(
        &mut m,
        c(2),
        Label::CNodeCopy,
        &[51, 50, 15],
        &[c(2)],
        ErrorDetail::IllegalOperation,
    );
}

#[test]
fn der_12_final_notification_restarts_waiters_and_unbinds() {
    let mut m = boot();
    assert_eq!(retype(&mut m, ObjectType::Notification, 0, 40, 1), ok());
    assert_eq!(retype(&mut m, ObjectType::Tcb, 0, 41, 2), ok());
    let (n, t1, t2) = (obj_at(&m, 40), obj_at(&m, 41), obj_at(&m, 42));
    m.state.objects.insert(
        n,
        Object::Notification(Notification {
            state: NotificationState::Waiting(vec![t1]),
            bound_tcb: Some(t2),
        }),
    );
    if let Some(Object::Tcb(tcb)) = m.state.objects.get_mut(&t1) {
        tcb.state = ThreadState::BlockedOnNotification { ntfn: n };
    }
    if let Some(Object::Tcb(tcb)) = m.state.objects.get_mut(&t2) {
        tcb.bound_notification = Some(n);
    }
    assert!(crate::invariants::inv_24(&m.state, &AssumeZero).is_err());
    // (INV-24: the queue of a bound notification holds only its thread.)
    if let Some(Object::Notification(x)) = m.state.objects.get_mut(&n) {
        x.bound_tcb = None;
    }
    if let Some(Object::Tcb(tcb)) = m.state.objects.get_mut(&t2) {
        tcb.bound_notification = None;
    }
    check(&m);
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[40], &[]), ok());
    assert_eq!(tcb_of(&m, t1).state, ThreadState::Restart);
    assert!(!m.state.objects.contains_key(&n));
    // A bound notification: deleting the thread unbinds it (DER-12 TCB).
    assert_eq!(retype(&mut m, ObjectType::Notification, 0, 40, 1), ok());
    let n = obj_at(&m, 40);
    if let Some(Object::Notification(x)) = m.state.objects.get_mut(&n) {
        x.bound_tcb = Some(t2);
    }
    if let Some(Object::Tcb(tcb)) = m.state.objects.get_mut(&t2) {
        tcb.bound_notification = Some(n);
    }
    check(&m);
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[42], &[]), ok());
    assert!(matches!(
        m.state.objects[&n],
        Object::Notification(Notification {
            bound_tcb: None,
            ..
        })
    ));
    check(&m);
}

#[test]
fn der_15_tcb_holding_the_final_cap_of_its_cspace() {
    for preempt_always in [false, true] {
        let mut m = boot();
        assert_eq!(retype(&mut m, ObjectType::Tcb, 0, 40, 1), ok());
        assert_eq!(retype(&mut m, ObjectType::CNode, 2, 41, 1), ok());
        assert_eq!(retype(&mut m, ObjectType::Endpoint, 0, 42, 1), ok());
        let (t, cn, ep) = (obj_at(&m, 40), obj_at(&m, 41), obj_at(&m, 42));
        // The CNode's only capability becomes the thread's CSpace root;
        // the endpoint's only capability goes into the CNode.
        m.move_slot(slot(41), SlotRef::Tcb { obj: t, index: 0 });
        m.move_slot(slot(42), SlotRef::CNode { obj: cn, index: 2 });
        check(&m);
        let mut entries = 0;
        loop {
            entries += 1;
            let out = call_with(&mut m, c(2), Label::CNodeDelete, &[40], &[], &mut || {
                preempt_always
            });
            check(&m);
            if out == ok() {
                break;
            }
            assert_eq!(out, Outcome::Preempted);
        }
        // TCB: slots 4 … 1 (4 steps), slot 0 exchange (1), CNode: 4 slots
        // with one Delete (5 steps) and n = 0 with resume (1), then the
        // TCB's own slot 0 (1) and its n = 0 (last): 12 unfinished steps.
        assert_eq!(entries, if preempt_always { 13 } else { 1 });
        for o in [t, cn, ep] {
            assert!(!m.state.objects.contains_key(&o));
        }
        assert!(children(&m, slot(UT)).is_empty());
    }
}

// ----- random sequences -------------------------------------------------

/// A small deterministic generator (xorshift64*), so the test needs no
/// dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A root slot address, sometimes a two-level one or a malformed word.
fn random_cptr(r: &mut Rng) -> u64 {
    match r.below(10) {
        0 => (10 << 56) | r.below(1 << 10),
        1 => r.next(),
        _ => c(r.below(64)),
    }
}

/// A slot index: mostly free root slots (20 … 63) or low indices that fit
/// small CNodes (avoiding the root's slots 1 and 2 there), sometimes the
/// first untyped (to revoke it), rarely any.
fn random_index(r: &mut Rng) -> u64 {
    match r.below(32) {
        0 => r.below(64),
        1 => 16,
        2..=12 => [0, 0, 3, 5, 7][r.below(5) as usize],
        _ => 20 + r.below(44),
    }
}

/// A CNode address: the root CNode, a root slot where retyped CNodes
/// land, or anything.
fn random_cnode(r: &mut Rng) -> u64 {
    match r.below(10) {
        0..=5 => c(2),
        6..=8 => c(20 + r.below(12)),
        _ => random_cptr(r),
    }
}

/// A root slot address where retyped objects and claimed handlers land,
/// or anything.
fn random_object(r: &mut Rng) -> u64 {
    match r.below(10) {
        0..=7 => c(20 + r.below(44)),
        _ => random_cptr(r),
    }
}

/// A virtual address: mostly a few that share tables, sometimes the edges
/// or any word.
fn random_vaddr(r: &mut Rng) -> u64 {
    let v = [
        0,
        0x1000,
        0x20_0000,
        0x4000_0000,
        1 << 39,
        abi::vm::USER_TOP - 0x1000,
        abi::vm::USER_TOP,
    ];
    match r.below(12) {
        0 => r.next(),
        _ => v[r.below(v.len() as u64) as usize],
    }
}

fn random_invocation(r: &mut Rng) -> Invocation {
    let labels = [
        Label::UntypedRetype,
        Label::UntypedRetype,
        Label::UntypedRetype,
        Label::CNodeCopy,
        Label::CNodeMint,
        Label::CNodeMove,
        Label::CNodeMove,
        Label::CNodeMutate,
        Label::CNodeDelete,
        Label::CNodeRevoke,
        Label::CNodeCancelBadgedSends,
        Label::CNodeSaveCaller,
        Label::IrqControlGet,
        Label::IrqHandlerAck,
        Label::IrqHandlerSetNotification,
        Label::IrqHandlerClear,
        Label::AsidControlMakePool,
        Label::AsidPoolAssign,
        Label::FrameMap,
        Label::FrameMap,
        Label::FrameUnmap,
        Label::FrameGetAddress,
        Label::PageTableMap,
        Label::PageTableMap,
        Label::PageTableUnmap,
    ];
    let label = labels[r.below(labels.len() as u64) as usize];
    let words = match label {
        Label::UntypedRetype => {
            // Mostly CNodes, endpoints and TCBs; sometimes any word.
            let ty = [4, 4, 2, 1, 3, 0, 5, 8, 9, r.below(11)][r.below(10) as usize];
            let size = match ty {
                0 => 4 + r.below(14),
                4 => 1 + r.below(3),
                _ => r.below(2),
            };
            let dest = if r.below(2) == 0 {
                20 + r.below(12)
            } else {
                random_index(r)
            };
            vec![ty, size, dest, 1 + r.below(3)]
        }
        Label::IrqControlGet => vec![r.below(70), r.below(5), random_index(r)],
        Label::AsidControlMakePool => vec![random_index(r)],
        Label::FrameMap => vec![random_vaddr(r), r.below(5), r.below(5)],
        Label::PageTableMap => vec![random_vaddr(r)],
        _ => vec![random_index(r), random_index(r), r.below(16), r.below(3)],
    };
    let cptr = match label {
        Label::UntypedRetype => c(16 + r.below(3)),
        Label::IrqControlGet if r.below(8) != 0 => c(4),
        Label::AsidControlMakePool if r.below(8) != 0 => c(5),
        Label::AsidPoolAssign if r.below(2) != 0 => c(6),
        l if l.invoked() == Invoked::CNode => random_cnode(r),
        _ => random_object(r),
    };
    let vspace = |r: &mut Rng| {
        if r.below(2) == 0 {
            c(3)
        } else {
            random_object(r)
        }
    };
    let extra = match label {
        Label::AsidControlMakePool => vec![random_object(r), random_cnode(r)],
        Label::FrameMap | Label::PageTableMap => vec![vspace(r)],
        Label::AsidPoolAssign => vec![random_object(r)],
        // Where retyped notifications land, mostly.
        Label::IrqHandlerSetNotification if r.below(3) != 0 => vec![c(20 + r.below(12))],
        Label::IrqHandlerSetNotification => vec![random_object(r)],
        _ => vec![random_cnode(r)],
    };
    Invocation {
        cptr,
        label: label.raw(),
        words,
        extra,
    }
}

#[test]
fn inv_all_hold_along_random_sequences_and_tp_3() {
    for seed in 1..=60u64 {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut m = boot();
        let preempt_rate = seed % 4;
        for step in 0..300 {
            if m.state.current.is_none() {
                break;
            }
            // spec: IRQ-8 — now and then an interrupt on some line.
            if r.below(8) == 0 {
                let line = r.below(70);
                m.entry(&Entry::Interrupt(line), &mut || false);
                let v = check_all(&m.state, &AssumeZero);
                assert!(
                    v.is_empty(),
                    "seed {seed} step {step} interrupt {line}: {v:#?}"
                );
            }
            let inv = random_invocation(&mut r);
            let before = m.clone();
            let mut oracle_rng = Rng(r.next() | 1);
            let out = m.invoke(&inv, &mut || {
                preempt_rate != 0 && oracle_rng.below(preempt_rate + 1) == 0
            });
            let v = check_all(&m.state, &AssumeZero);
            assert!(
                v.is_empty(),
                "seed {seed} step {step} {inv:?} -> {out:?}: {v:#?}"
            );
            // spec: TP-3 — a failure changes nothing (when no pending
            // deletion ran first).
            let failed = matches!(out, Outcome::Result(Err(_)));
            if failed && before.state.pending_delete.is_none() {
                let mut expected = strip(&before);
                if let Some(Object::Tcb(t)) = expected.objects.get_mut(&ROOT_TCB) {
                    t.state = ThreadState::Running;
                }
                assert_eq!(
                    strip(&m),
                    expected,
                    "seed {seed} step {step} {inv:?} -> {out:?}"
                );
            }
            // A CapFault with no fault endpoint stops the root thread
            // (FLT-3); wake it by hand to go on.
            if matches!(out, Outcome::Fault(_))
                && let Some(Object::Tcb(t)) = m.state.objects.get_mut(&ROOT_TCB)
                && t.state == ThreadState::Inactive
                && m.state.ready.is_empty()
            {
                t.state = ThreadState::Running;
                m.state.current = Some(ROOT_TCB);
            }
        }
    }
}

#[test]
fn der_15_nested_chain_depth_first() {
    let mut m = boot();
    // A (slot 20) holds the final cap of B in A[1]; B holds C in B[0];
    // C holds an endpoint in C[3]. All radix 2.
    assert_eq!(retype(&mut m, ObjectType::CNode, 2, 20, 3), ok());
    assert_eq!(retype(&mut m, ObjectType::Endpoint, 0, 30, 1), ok());
    let (a, b, cn, ep) = (
        obj_at(&m, 20),
        obj_at(&m, 21),
        obj_at(&m, 22),
        obj_at(&m, 30),
    );
    m.move_slot(slot(30), SlotRef::CNode { obj: cn, index: 3 });
    m.move_slot(slot(22), SlotRef::CNode { obj: b, index: 0 });
    m.move_slot(slot(21), SlotRef::CNode { obj: a, index: 1 });
    check(&m);
    let mut longest = 0;
    let mut entries = 0;
    loop {
        entries += 1;
        let out = call_with(&mut m, c(2), Label::CNodeDelete, &[20], &[], &mut || true);
        check(&m);
        let zombies = m
            .state
            .slots
            .values()
            .filter(|x| matches!(x.cap, Cap::Zombie { .. }))
            .count();
        longest = longest.max(zombies);
        if out == ok() {
            break;
        }
        // The endpoint (innermost) goes before B and C are gone.
        if !m.state.objects.contains_key(&cn) {
            assert!(!m.state.objects.contains_key(&ep));
        }
        if !m.state.objects.contains_key(&b) {
            assert!(!m.state.objects.contains_key(&cn));
        }
    }
    assert_eq!(longest, 3);
    assert!(entries > 10);
    for o in [a, b, cn, ep] {
        assert!(!m.state.objects.contains_key(&o));
    }
}

mod ipc;
mod irq;
mod vm;
