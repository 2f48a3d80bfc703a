//! Fixed scenarios run through the refinement harness: the deletions that
//! random sequences reach only rarely — CNodes holding capabilities,
//! nested and self-containing CNodes, Zombie chains with preemption at
//! every step, a thread deleted while blocked. Every step is checked as in
//! the random suite (invariants, state equality with the model, outcomes).
//!
//! spec: DER-14, DER-15, DER-16, SYS-18, DER-11, DER-12, TCB-10, IPC-20

use abi::context::Layout;
use abi::invocation::Label;
use abi::syscall::Syscall;
use refinement::ops::{self, Call, CapSel, SlotSel, Want, root};
use refinement::{Pair, Step};
use spec::entry::{Arch, Outcome};
use spec::state::{Cap, SlotRef, State, Tcb, ThreadState};

fn step(call: Call) -> Step {
    Step { call, preempt: 0 }
}

/// A message-passing system call on root slot `cap` with no extra
/// capabilities and no receive slot.
fn ipc(call: Syscall, cap: u64, label: u64, words: Vec<u64>) -> Step {
    step(Call::Ipc {
        call,
        cap: CapSel::Raw(root(cap)),
        label,
        words,
        extra: vec![],
        receive: None,
    })
}

fn retype(ut: u64, ty: u64, size: u64, at: u64) -> Call {
    Call::Retype {
        ut: CapSel::Raw(root(ut)),
        ty,
        size,
        count: 1,
        dest: CapSel::Raw(root(2)),
        offset: SlotSel::Index(at),
        keep: None,
    }
}

/// A CNode invocation on the CNode at root slot `cnode` (2 is the root
/// CNode itself), the source CNode at root slot `src_cnode`.
fn cnode(label: Label, cnode: u64, dest: u64, src_cnode: u64, src: u64) -> Call {
    Call::CNode {
        label,
        cnode: CapSel::Raw(root(cnode)),
        dest: SlotSel::Index(dest),
        target: SlotSel::Index(dest),
        src_cnode: CapSel::Raw(root(src_cnode)),
        src: SlotSel::Index(src),
        rights: 15,
        badge: 0,
        keep: None,
    }
}

/// Run `steps` on both architectures, with the preemption answers `bits`
/// on every step, and return the outcomes (x86_64 first).
fn run(steps: &[Step], bits: u64) -> Vec<Outcome> {
    run_with(|_| steps.to_vec(), bits).0
}

/// Run the steps `steps(layout)` builds for each architecture (register
/// images differ between them), with the preemption answers `bits` on
/// every step; return the outcomes (x86_64 first) and the final pairs.
fn run_with(steps: impl Fn(Layout) -> Vec<Step>, bits: u64) -> (Vec<Outcome>, Vec<Pair>) {
    let mut all = Vec::new();
    let mut pairs = Vec::new();
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let mut pair = Pair::new(arch);
        for s in steps(arch.layout()) {
            let s = Step {
                call: s.call,
                preempt: bits,
            };
            match pair.step(&s) {
                Ok((o, _)) => all.push(o),
                Err(d) => panic!("{arch:?}, step {}: {}", pair.steps, d.0),
            }
        }
        pairs.push(pair);
    }
    (all, pairs)
}

/// A register image for TCB WriteRegisters (resume flag 0, all words)
/// whose thread makes system call `call` on `cptr`.
fn registers(l: Layout, call: Syscall, cptr: u64) -> Vec<u64> {
    let mut regs = vec![0u64; l.words];
    regs[l.number] = call as u64;
    regs[l.cptr] = cptr;
    let mut write = vec![0, l.words as u64];
    write.extend(regs);
    write
}

/// Two CNodes (radix 2) at root slots 30 and 31, endpoints in 32 and 33;
/// CNode 31's only capability moved into slot 1 of CNode 30, the
/// endpoint capabilities copied into both.
fn nested() -> Vec<Step> {
    vec![
        step(retype(16, 4, 2, 30)),
        step(retype(16, 4, 2, 31)),
        step(retype(16, 2, 0, 32)),
        step(retype(16, 2, 0, 33)),
        step(cnode(Label::CNodeCopy, 31, 0, 2, 32)),
        step(cnode(Label::CNodeCopy, 31, 3, 2, 33)),
        step(cnode(Label::CNodeCopy, 30, 0, 2, 32)),
        step(cnode(Label::CNodeMove, 30, 1, 2, 31)),
        step(cnode(Label::CNodeCopy, 30, 3, 2, 33)),
    ]
}

#[test]
fn der_15_deleting_a_cnode_with_a_nested_cnode_runs_the_zombie_chain() {
    let mut steps = nested();
    steps.push(step(cnode(Label::CNodeDelete, 2, 30, 2, 0)));
    let outcomes = run(&steps, 0);
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Result(Ok(_)))));
}

#[test]
fn der_16_every_zombie_step_preempted_then_finished_by_later_calls() {
    let mut steps = nested();
    // The Delete is preempted after its first step; each following call
    // continues it first (SYS-18) and is preempted again, until done.
    steps.push(step(cnode(Label::CNodeDelete, 2, 30, 2, 0)));
    for _ in 0..24 {
        steps.push(step(cnode(Label::CNodeDelete, 2, 40, 2, 0)));
    }
    let outcomes = run(&steps, 1);
    let preempted = outcomes
        .iter()
        .filter(|o| **o == Outcome::Preempted)
        .count();
    assert!(
        preempted >= 2 * 5,
        "the chain took several entries: {outcomes:?}"
    );
    assert_eq!(outcomes.last(), Some(&Outcome::Result(Ok(vec![]))));
}

#[test]
fn der_11_revoking_the_untyped_deletes_a_cnode_holding_its_own_capability() {
    // CNode 30's only capability is moved into its own slot 0: nothing
    // outside reaches it; revoking the untyped finds it as a child.
    let steps = vec![
        step(retype(16, 4, 2, 30)),
        step(retype(16, 2, 0, 32)),
        step(cnode(Label::CNodeCopy, 30, 2, 2, 32)),
        step(cnode(Label::CNodeMove, 30, 0, 2, 30)),
        step(cnode(Label::CNodeRevoke, 2, 16, 2, 0)),
    ];
    for bits in [0, 0b1010_1010] {
        run(&steps, bits);
    }
}

/// The capability in root slot `i` of the model's state.
fn root_cap(st: &State, i: u64) -> Option<Cap> {
    st.slots
        .get(&SlotRef::CNode {
            obj: refinement::machine::ROOT_CNODE,
            index: i,
        })
        .map(|s| s.cap)
}

/// The thread [`second_thread`] made (root slot 34).
fn second(st: &State) -> &Tcb {
    match root_cap(st, 34) {
        Some(Cap::Tcb { obj }) => st.tcb(obj).expect("a thread"),
        other => panic!("root slot 34 holds {other:?}"),
    }
}

/// A second thread in root slot 34 (priority 255, the root CNode and
/// VSpace, its IPC buffer frame in root slot 35 at 0x7000_0800), resumed
/// to make system call `call` on `cptr` when it first runs.
fn second_thread(l: Layout, call: Syscall, cptr: u64) -> Vec<Step> {
    let tcb = |label, words, extra| step(ops::tcb(34, label, words, extra));
    vec![
        step(retype(16, 1, 0, 34)),
        step(retype(16, 5, 0, 35)),
        tcb(
            Label::TcbConfigure,
            vec![0x7000_0800],
            vec![(2, Want::CNode), (3, Want::VSpace), (35, Want::Frame)],
        ),
        tcb(Label::TcbSetPriority, vec![255], vec![(1, Want::Tcb)]),
        tcb(Label::TcbWriteRegisters, registers(l, call, cptr), vec![]),
        tcb(Label::TcbResume, vec![], vec![]),
    ]
}

#[test]
fn tcb_10_deleting_a_thread_blocked_in_call_and_its_server() {
    // A second thread Calls an endpoint (root 32) the root thread then
    // receives on, so it waits for the reply; then the caller's TCB and
    // the endpoint are deleted.
    let steps = |l: Layout| {
        let mut steps = vec![step(retype(16, 2, 0, 32))];
        steps.extend(second_thread(l, Syscall::Call, root(32)));
        steps.extend([
            // Root yields: the new thread runs and Calls the endpoint.
            step(Call::Yield),
            // The new thread's entry (it is current now): its Call blocks.
            step(Call::Yield),
            // Root receives: the caller waits for the reply.
            ipc(Syscall::Recv, 32, 0, vec![]),
            step(cnode(Label::CNodeDelete, 2, 34, 2, 0)),
            step(cnode(Label::CNodeDelete, 2, 32, 2, 0)),
        ]);
        steps
    };
    let (outcomes, _) = run_with(steps, 0);
    // No thread faults: the Call reached the endpoint on both.
    assert!(
        outcomes.iter().all(|o| !matches!(o, Outcome::Fault(_))),
        "{outcomes:?}"
    );
}

#[test]
fn der_15_two_cnodes_holding_each_others_last_capability_are_revoked() {
    // X's capability goes into Y's first slot, then into its last: the
    // Zombie's own slots are recognised wherever they lie.
    for y_slot in [0, 3] {
        two_cnodes(y_slot);
    }
}

fn two_cnodes(y_slot: u64) {
    // Y (root slot 31) then X (root slot 30) from untyped 16, so X's
    // capability is the untyped's first child. Y's capability moves into
    // X[1]; then, addressing Y through X (root 30, then X's slot 1), X's
    // capability moves into Y[0]. Revoking the untyped deletes X's
    // capability where it lies, inside Y: X's Zombie meets Y's final
    // capability, and Y's Zombie ends up in a slot of Y itself.
    let y_through_x = (8u64 << 56) | (30 << 2) | 1;
    let steps = vec![
        step(retype(16, 4, 2, 31)),
        step(retype(16, 4, 2, 30)),
        step(retype(16, 2, 0, 32)),
        step(cnode(Label::CNodeCopy, 31, 2, 2, 32)),
        step(cnode(Label::CNodeMove, 30, 1, 2, 31)),
        step(Call::CNode {
            label: Label::CNodeMove,
            cnode: CapSel::Raw(y_through_x),
            dest: SlotSel::Index(y_slot),
            target: SlotSel::Index(y_slot),
            src_cnode: CapSel::Raw(root(2)),
            src: SlotSel::Index(30),
            rights: 15,
            badge: 0,
            keep: None,
        }),
        step(cnode(Label::CNodeRevoke, 2, 16, 2, 0)),
    ];
    // Preempted after every step, the chain is finished by the following
    // calls one step at a time, so each intermediate state is compared.
    let mut steps = steps;
    for _ in 0..40 {
        steps.push(step(cnode(Label::CNodeDelete, 2, 40, 2, 0)));
    }
    for bits in [0, 1, 0b110] {
        let outcomes = run(&steps, bits);
        assert!(
            outcomes[..6]
                .iter()
                .all(|o| matches!(o, Outcome::Result(Ok(_)))),
            "{outcomes:?}"
        );
    }
}

#[test]
fn der_15_a_nested_zombie_finishing_in_the_slot_just_past_its_cnode() {
    // CNodes O (root 31), Q (32, right after O in memory) and P (30). O's
    // only capability lies in P[1], P's only one in Q[0]; deleting Q[0]
    // makes O's Zombie finish in Q[0] — the slot just past O's own slots,
    // not one of them — so P's Zombie is moved back there (DER-15 step 1).
    let mut steps = vec![
        step(retype(16, 4, 2, 31)),
        step(retype(16, 4, 2, 32)),
        step(retype(16, 4, 2, 30)),
        step(retype(16, 2, 0, 33)),
        step(cnode(Label::CNodeCopy, 31, 2, 2, 33)),
        step(cnode(Label::CNodeMove, 30, 1, 2, 31)),
        step(cnode(Label::CNodeMove, 32, 0, 2, 30)),
        step(cnode(Label::CNodeDelete, 32, 0, 2, 0)),
    ];
    for _ in 0..16 {
        steps.push(step(cnode(Label::CNodeDelete, 2, 40, 2, 0)));
    }
    for bits in [0, 1] {
        let outcomes = run(&steps, bits);
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Outcome::Result(Ok(_)) | Outcome::Preempted)),
            "{outcomes:?}"
        );
    }
}

#[test]
fn der_6_deleting_a_copy_of_a_tcb_capability_leaves_the_thread_running() {
    // Only the final capability of a thread finalises it (DER-6, DER-12).
    let steps = vec![
        step(cnode(Label::CNodeCopy, 2, 36, 2, 1)),
        step(cnode(Label::CNodeDelete, 2, 36, 2, 0)),
        step(cnode(Label::CNodeCopy, 2, 37, 2, 2)),
        step(cnode(Label::CNodeDelete, 2, 37, 2, 0)),
        step(Call::Yield),
    ];
    let outcomes = run(&steps, 0);
    assert!(
        outcomes[..4]
            .iter()
            .all(|o| matches!(o, Outcome::Result(Ok(_)))),
        "{outcomes:?}"
    );
}

#[test]
fn ipc_2_calls_and_sends_without_the_rights_for_them() {
    // An endpoint (root 32) and a copy with Write only (root 38): Call
    // through it lacks Grant/GrantReply; Recv through it lacks Read.
    let mut mint = cnode(Label::CNodeMint, 2, 38, 2, 32);
    if let Call::CNode { rights, .. } = &mut mint {
        *rights = 2;
    }
    let through_38 = |call| ipc(call, 38, 5, vec![1, 2]);
    let steps = vec![
        step(retype(16, 2, 0, 32)),
        step(mint),
        through_38(Syscall::Call),
        through_38(Syscall::NBSend),
        through_38(Syscall::NBRecv),
    ];
    let outcomes = run(&steps, 0);
    assert!(matches!(
        outcomes[2],
        Outcome::Result(Err(abi::error::ErrorDetail::InvalidCapability {
            position: 0
        }))
    ));
    assert!(matches!(outcomes[4], Outcome::Fault(_)), "{outcomes:?}");
}

/// An invocation of an IRQ, page-table, frame or ASID capability in root
/// slot `cap`, with extra capabilities from root slots.
fn object(
    want: Want,
    cap: u64,
    label: Label,
    words: Vec<u64>,
    dest: Option<u64>,
    extra: Vec<(u64, Want)>,
) -> Call {
    Call::Object {
        want,
        cap: CapSel::Raw(root(cap)),
        label,
        words,
        dest: dest.map(SlotSel::Index),
        extra: extra
            .into_iter()
            .map(|(i, w)| (CapSel::Raw(root(i)), w))
            .collect(),
    }
}

#[test]
fn der_12_copies_leave_objects_alone_and_final_capabilities_finalise_them() {
    // A notification (root 40) bound to the root thread and attached to an
    // IRQ handler (41); page tables (44, 47, 48) mapped for 0x1000_0000
    // and a frame (46) mapped there; a VSpace (53) in the boot pool; a new
    // pool (52) holding a VSpace (56). Every copy is deleted first — the
    // objects must stay as they are — then every final capability, each
    // finalising its object (DER-12). Page-table capabilities have no
    // copies (DER-2).
    let copy = |dest, src| step(cnode(Label::CNodeCopy, 2, dest, 2, src));
    let delete = |at| step(cnode(Label::CNodeDelete, 2, at, 2, 0));
    let pt_map = |pt| {
        step(object(
            Want::PageTable,
            pt,
            Label::PageTableMap,
            vec![0x1000_0000],
            None,
            vec![(3, Want::VSpace)],
        ))
    };
    let assign = |pool, vs| {
        step(object(
            Want::AsidPool,
            pool,
            Label::AsidPoolAssign,
            vec![],
            None,
            vec![(vs, Want::VSpace)],
        ))
    };
    let steps = vec![
        step(retype(16, 3, 0, 40)),
        step(object(
            Want::IrqControl,
            4,
            Label::IrqControlGet,
            vec![40, 0],
            Some(41),
            vec![(2, Want::CNode)],
        )),
        step(object(
            Want::IrqHandler,
            41,
            Label::IrqHandlerSetNotification,
            vec![],
            None,
            vec![(40, Want::Notification)],
        )),
        step(ops::tcb(
            1,
            Label::TcbBindNotification,
            vec![],
            vec![(40, Want::Notification)],
        )),
        step(retype(16, 8, 0, 44)),
        step(retype(16, 8, 0, 47)),
        step(retype(16, 8, 0, 48)),
        pt_map(44),
        pt_map(47),
        pt_map(48),
        step(retype(16, 5, 0, 46)),
        step(object(
            Want::Frame,
            46,
            Label::FrameMap,
            vec![0x1000_0000, 3, 0],
            None,
            vec![(3, Want::VSpace)],
        )),
        step(retype(16, 9, 0, 53)),
        assign(6, 53),
        step(Call::Retype {
            ut: CapSel::Raw(root(16)),
            ty: 0,
            size: 12,
            count: 1,
            dest: CapSel::Raw(root(2)),
            offset: SlotSel::Index(51),
            keep: None,
        }),
        step(object(
            Want::AsidControl,
            5,
            Label::AsidControlMakePool,
            vec![],
            Some(52),
            vec![(51, Want::Untyped), (2, Want::CNode)],
        )),
        step(retype(16, 9, 0, 56)),
        assign(52, 56),
        // Copies, each deleted again.
        copy(42, 40),
        copy(43, 41),
        copy(49, 3),
        copy(50, 6),
        copy(54, 53),
        copy(55, 52),
        delete(42),
        delete(43),
        delete(49),
        delete(50),
        delete(54),
        delete(55),
        // The final capabilities.
        delete(46),
        delete(48),
        delete(47),
        delete(44),
        delete(41),
        delete(40),
        delete(53),
        delete(52),
        delete(56),
    ];
    let n = steps.len();
    let outcomes = run(&steps, 0);
    for (i, o) in outcomes.iter().enumerate() {
        assert!(
            matches!(o, Outcome::Result(Ok(_))),
            "step {} on {}: {o:?}",
            i % n,
            if i < n { "x86_64" } else { "aarch64" }
        );
    }
}

#[test]
fn ipc_13_endpoint_capabilities_sent_through_their_own_endpoint_are_unwrapped() {
    // A receiver thread waits on endpoint 32; the root thread sends
    // through a badged copy (38) two capabilities to that same endpoint
    // (39 badged 9, then 38 badged 5): both are unwrapped, their badges in
    // the receiver's buffer words for caps 0 and 1 (MSG-7 rule 2). Then
    // through a copy without Grant (37), whose extra capability is not
    // looked at (IPC-13).
    let mint = |dest, rights, badge| {
        let mut c = cnode(Label::CNodeMint, 2, dest, 2, 32);
        if let Call::CNode {
            rights: r,
            badge: b,
            ..
        } = &mut c
        {
            *r = rights;
            *b = badge;
        }
        step(c)
    };
    let recv = ipc(Syscall::Recv, 32, 0, vec![]);
    let send = |via, extra: Vec<u64>| {
        step(Call::Ipc {
            call: Syscall::Send,
            cap: CapSel::Raw(root(via)),
            label: 3,
            words: vec![11, 12],
            extra: extra.into_iter().map(|i| CapSel::Raw(root(i))).collect(),
            receive: None,
        })
    };
    let recv_into = |at| {
        step(Call::Ipc {
            call: Syscall::Recv,
            cap: CapSel::Raw(root(32)),
            label: 0,
            words: vec![],
            extra: vec![],
            receive: Some(SlotSel::Index(at)),
        })
    };
    let steps = |l: Layout| {
        let mut steps = vec![
            step(retype(16, 2, 0, 32)),
            step(retype(16, 3, 0, 40)),
            mint(38, 15, 5),
            mint(39, 15, 9),
            mint(37, 2, 7),
            mint(33, 15, 1),
        ];
        steps.extend(second_thread(l, Syscall::Recv, root(32)));
        steps.extend([
            // The receiver runs and blocks in Recv; the root thread sends.
            step(Call::Yield),
            recv.clone(),
            send(38, vec![39, 38]),
            // The receiver takes the message and waits again; the root
            // thread sends without Grant.
            step(Call::Yield),
            recv.clone(),
            send(37, vec![32]),
            // The receiver waits with an occupied receive slot (33): the
            // granted notification (40) is not transferred; then with an
            // empty one (36), where it arrives (IPC-14).
            step(Call::Yield),
            recv_into(33),
            send(38, vec![40]),
            step(Call::Yield),
            recv_into(36),
            send(38, vec![40]),
        ]);
        steps
    };
    let (outcomes, pairs) = run_with(steps, 0);
    assert!(
        outcomes.iter().all(|o| !matches!(o, Outcome::Fault(_))),
        "{outcomes:?}"
    );
    for pair in &pairs {
        // The receiver's IPC buffer lies at 0x800 in its frame (root slot
        // 35); the first message's badges are in its words for caps 0 and
        // 1 (MSG-4), and the second message did not overwrite them.
        let st = &pair.model.state;
        let Some(Cap::Frame { obj, .. }) = root_cap(st, 35) else {
            panic!("no frame in root slot 35");
        };
        let word = |i: u64| st.frame_data.get(&(obj + 0x800 + 8 * i)).copied();
        let caps = kernel_core::message::CAPS_WORD as u64;
        assert_eq!((word(caps), word(caps + 1)), (Some(9), Some(5)));
        assert!(matches!(
            root_cap(st, 33),
            Some(Cap::Endpoint { badge: 1, .. })
        ));
        assert!(matches!(root_cap(st, 36), Some(Cap::Notification { .. })));
    }
}

#[test]
fn tcb_10_suspending_a_thread_that_waits_on_a_notification() {
    // A second thread waits on notification 40; the root thread suspends
    // it, then signals: the signal stays pending, no one is woken.
    let steps = |l: Layout| {
        let mut steps = vec![step(retype(16, 3, 0, 40))];
        steps.extend(second_thread(l, Syscall::Recv, root(40)));
        steps.extend([
            step(Call::Yield),
            step(Call::Yield),
            step(ops::tcb(34, Label::TcbSuspend, vec![], vec![])),
            ipc(Syscall::Send, 40, 0, vec![]),
        ]);
        steps
    };
    let (outcomes, pairs) = run_with(steps, 0);
    assert!(
        outcomes.iter().all(|o| !matches!(o, Outcome::Fault(_))),
        "{outcomes:?}"
    );
    for pair in &pairs {
        let st = &pair.model.state;
        assert_eq!(second(st).state, ThreadState::Inactive);
    }
}

#[test]
fn ntfn_3_signals_accumulate_their_badges_by_or() {
    // Badges 3 and 6 signalled on notification 40, then polled: 7.
    let mint = |dest, badge| {
        let mut c = cnode(Label::CNodeMint, 2, dest, 2, 40);
        if let Call::CNode { badge: b, .. } = &mut c {
            *b = badge;
        }
        step(c)
    };

    let steps = vec![
        step(retype(16, 3, 0, 40)),
        mint(41, 3),
        mint(42, 6),
        ipc(Syscall::Send, 41, 0, vec![]),
        ipc(Syscall::Send, 42, 0, vec![]),
        ipc(Syscall::NBRecv, 40, 0, vec![]),
    ];
    let (_, pairs) = run_with(|_| steps.clone(), 0);
    for pair in &pairs {
        let st = &pair.model.state;
        let me = st.current.expect("the root thread runs");
        let l = pair.arch.layout();
        assert_eq!(st.tcb(me).map(|t| t.context[l.cptr]), Some(7));
    }
}

#[test]
fn cnode_8_cancel_badged_sends_restarts_the_queued_sender() {
    // A second thread blocks sending through a copy of endpoint 32 badged
    // 5 (root 38). CancelBadgedSends through a copy without every right
    // (39) is refused; through 38 the sender restarts.
    let mint = |dest, rights| {
        let mut c = cnode(Label::CNodeMint, 2, dest, 2, 32);
        if let Call::CNode {
            rights: r,
            badge: b,
            ..
        } = &mut c
        {
            *r = rights;
            *b = 5;
        }
        step(c)
    };
    let steps = |l: Layout| {
        let mut steps = vec![step(retype(16, 2, 0, 32)), mint(38, 15), mint(39, 7)];
        steps.extend(second_thread(l, Syscall::Send, root(38)));
        steps.extend([
            step(Call::Yield),
            step(Call::Yield),
            step(cnode(Label::CNodeCancelBadgedSends, 2, 39, 2, 0)),
            step(cnode(Label::CNodeCancelBadgedSends, 2, 38, 2, 0)),
        ]);
        steps
    };
    let (outcomes, pairs) = run_with(steps, 0);
    let n = outcomes.len() / 2;
    for i in [n - 2, 2 * n - 2] {
        assert_eq!(
            outcomes[i],
            Outcome::Result(Err(abi::error::ErrorDetail::IllegalOperation))
        );
        assert_eq!(outcomes[i + 1], Outcome::Result(Ok(vec![])));
    }
    for pair in &pairs {
        let st = &pair.model.state;
        assert_eq!(second(st).state, ThreadState::Restart);
    }
}

#[test]
fn irq_8_an_interrupt_signals_once_until_acknowledged() {
    // Handler for line 40 (root 41) with notification 44 badged 3 (root
    // 45); interrupts before and after Ack, polled in between.
    let handler = |label, extra: Vec<(u64, Want)>| {
        step(object(Want::IrqHandler, 41, label, vec![], None, extra))
    };
    let poll = ipc(Syscall::NBRecv, 44, 0, vec![]);
    let mut mint = cnode(Label::CNodeMint, 2, 45, 2, 44);
    if let Call::CNode { badge, .. } = &mut mint {
        *badge = 3;
    }
    let steps = vec![
        step(retype(16, 3, 0, 44)),
        step(mint),
        // The destination index is out of the root CNode's range first.
        step(object(
            Want::IrqControl,
            4,
            Label::IrqControlGet,
            vec![40, 0],
            Some(64),
            vec![(2, Want::CNode)],
        )),
        step(object(
            Want::IrqControl,
            4,
            Label::IrqControlGet,
            vec![40, 0],
            Some(41),
            vec![(2, Want::CNode)],
        )),
        handler(
            Label::IrqHandlerSetNotification,
            vec![(45, Want::Notification)],
        ),
        step(Call::Interrupt(40)),
        step(Call::Interrupt(40)),
        poll.clone(),
        poll.clone(),
        handler(Label::IrqHandlerAck, vec![]),
        step(Call::Interrupt(40)),
        poll,
    ];
    let (outcomes, pairs) = run_with(|_| steps.clone(), 0);
    let n = steps.len();
    for base in [0, n] {
        assert_eq!(
            outcomes[base + 2],
            Outcome::Result(Err(abi::error::ErrorDetail::RangeError { min: 0, max: 63 }))
        );
    }
    for pair in &pairs {
        let st = &pair.model.state;
        let me = st.current.expect("the root thread runs");
        let l = pair.arch.layout();
        // The last poll found the second signal.
        assert_eq!(st.tcb(me).map(|t| t.context[l.cptr]), Some(3));
        assert_eq!(
            st.irq.get(&40),
            Some(&spec::state::IrqState::Active { pending_ack: true })
        );
    }
}

#[test]
fn flt_7_fault_replies_with_and_without_words() {
    // A second thread whose registers make an unknown system call (99)
    // faults to endpoint 32, where the root thread receives the fault
    // message and replies: with no words (the thread restarts and faults
    // again), then with two (its first registers are set and it resumes);
    // then it raises a user exception, answered with no words, then one.
    let recv = ipc(Syscall::Recv, 32, 0, vec![]);
    let reply = |words: Vec<u64>| ipc(Syscall::Reply, 32, 0, words);
    let exception = step(Call::Exception(spec::state::Fault::UserException {
        number: 6,
        code: 0,
    }));
    let steps = |l: Layout| {
        let mut steps = vec![step(retype(16, 2, 0, 32))];
        let mut thread = second_thread(l, Syscall::Yield, 0);
        // Registers: system call number 99, no such call (SYS-3).
        if let Call::Tcb { words, .. } = &mut thread[4].call {
            words[2 + l.number] = 99;
        }
        steps.extend(thread);
        steps.push(step(ops::tcb(
            34,
            Label::TcbSetFaultEndpoint,
            vec![],
            vec![(32, Want::Endpoint)],
        )));
        steps.extend([
            step(Call::Yield),
            step(Call::Yield), // the thread: UnknownSyscall fault
            recv.clone(),
            reply(vec![]),
            step(Call::Yield),
            step(Call::Yield), // the thread again: the same fault
            recv.clone(),
            reply(vec![0x1234, 0x5678]),
            step(Call::Yield),
            exception.clone(), // the thread: user exception
            recv.clone(),
            reply(vec![]),
            step(Call::Yield),
            exception.clone(), // the thread: at the same place, again
            recv.clone(),
            reply(vec![0x4000]),
        ]);
        steps
    };
    let (outcomes, pairs) = run_with(steps, 0);
    assert!(
        outcomes
            .iter()
            .all(|o| !matches!(o, Outcome::Result(Err(_)))),
        "{outcomes:?}"
    );
    for pair in &pairs {
        let st = &pair.model.state;
        let t = second(st);
        let l = pair.arch.layout();
        // The last reply set the program counter and resumed the thread.
        assert_eq!(t.context[l.pc], 0x4000);
        assert_eq!(t.state, ThreadState::Running);
        assert_eq!(t.fault, None);
    }
}

#[test]
fn ipc_17_a_saved_reply_capability_answers_when_invoked() {
    // A second thread Calls through a copy of endpoint 32 with Write and
    // Grant only (root 38; IPC-2 asks for Grant or GrantReply). The root
    // thread receives, saves the reply capability in root slot 40 and
    // sends through it: the caller gets the answer and runs again.
    let mut mint = cnode(Label::CNodeMint, 2, 38, 2, 32);
    if let Call::CNode { rights, .. } = &mut mint {
        *rights = 6;
    }
    let steps = |l: Layout| {
        let mut steps = vec![step(retype(16, 2, 0, 32)), step(mint.clone())];
        steps.extend(second_thread(l, Syscall::Call, root(38)));
        steps.extend([
            step(Call::Yield),
            step(Call::Yield),
            ipc(Syscall::Recv, 32, 0, vec![]),
            step(cnode(Label::CNodeSaveCaller, 2, 40, 2, 0)),
            ipc(Syscall::Send, 40, 0x20, vec![77]),
        ]);
        steps
    };
    let (outcomes, pairs) = run_with(steps, 0);
    assert!(
        outcomes.iter().all(|o| !matches!(o, Outcome::Fault(_))),
        "{outcomes:?}"
    );
    for pair in &pairs {
        let t = second(&pair.model.state);
        let l = pair.arch.layout();
        assert_eq!(t.state, ThreadState::Running);
        assert_eq!(t.context[l.mrs[0]], 77);
    }
}

#[test]
fn ut_10_retype_after_revoke_resets_the_untyped_chunk_by_chunk() {
    // Untyped 16 holds a radix-4 CNode with a capability in it, a 4 KiB
    // frame, a notification that was signalled and a TCB with a priority:
    // memory that is not zero, across three 4 KiB reset chunks. Revoking the
    // untyped deletes them; the next Retype resets it first (UT-10), from
    // the top down, preempted after every chunk in the second run and
    // continued by the following calls.
    let mut mint = cnode(Label::CNodeMint, 2, 33, 2, 31);
    if let Call::CNode { badge, .. } = &mut mint {
        *badge = 5;
    }
    let mut steps = vec![
        step(retype(16, 4, 4, 30)),
        step(retype(16, 5, 0, 35)),
        step(retype(16, 3, 0, 31)),
        step(retype(16, 1, 0, 32)),
        step(mint),
        ipc(Syscall::Send, 33, 0, vec![]),
        step(ops::tcb(
            32,
            Label::TcbSetPriority,
            vec![9],
            vec![(1, Want::Tcb)],
        )),
        step(cnode(Label::CNodeCopy, 30, 9, 2, 31)),
        step(cnode(Label::CNodeRevoke, 2, 16, 2, 0)),
    ];
    // Preempted calls are re-executed by the thread's next entries
    // (SYS-18), so each phase gets entries of its own to finish in.
    let idle = || step(cnode(Label::CNodeDelete, 2, 40, 2, 0));
    steps.extend((0..100).map(|_| idle()));
    steps.push(step(retype(16, 2, 0, 34)));
    steps.extend((0..100).map(|_| idle()));
    for bits in [0, 1] {
        let (outcomes, pairs) = run_with(|_| steps.clone(), bits);
        assert!(
            outcomes.iter().all(|o| matches!(
                o,
                Outcome::Result(Ok(_)) | Outcome::Preempted | Outcome::Other
            )),
            "{outcomes:?}"
        );
        for pair in &pairs {
            // The endpoint is the untyped's only child, at its base.
            let st = &pair.model.state;
            assert!(
                matches!(root_cap(st, 34), Some(Cap::Endpoint { obj: 0x2_0000, .. })),
                "bits {bits}: {:?}",
                root_cap(st, 34)
            );
        }
    }
}
