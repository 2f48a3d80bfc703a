//! Fixed scenarios run through the refinement harness: the deletions that
//! random sequences reach only rarely — CNodes holding capabilities,
//! nested and self-containing CNodes, Zombie chains with preemption at
//! every step, a thread deleted while blocked. Every step is checked as in
//! the random suite (invariants, state equality with the model, outcomes).
//!
//! spec: DER-14, DER-15, DER-16, SYS-18, DER-11, DER-12, TCB-10, IPC-20

use abi::invocation::Label;
use abi::syscall::Syscall;
use refinement::ops::{Call, CapSel, SlotSel, Want, root};
use refinement::{Pair, Step};
use spec::entry::{Arch, Outcome};

fn step(call: Call) -> Step {
    Step { call, preempt: 0 }
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
    let mut all = Vec::new();
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let mut pair = Pair::new(arch);
        for s in steps {
            let s = Step {
                call: s.call.clone(),
                preempt: bits,
            };
            match pair.step(&s) {
                Ok((o, _)) => all.push(o),
                Err(d) => panic!("{arch:?}, step {}: {}", pair.steps, d.0),
            }
        }
    }
    all
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

#[test]
fn tcb_10_deleting_a_thread_blocked_in_call_and_its_server() {
    // A second thread (root slot 34, priority 255) Calls an endpoint the
    // root thread then receives on, so it waits for the reply; then the
    // caller's TCB and the endpoint are deleted.
    let l = Arch::X86_64.layout();
    let mut steps = vec![
        step(retype(16, 2, 0, 32)),
        step(retype(16, 1, 0, 34)),
        step(retype(16, 5, 0, 35)),
    ];
    let tcb = |label: Label, words: Vec<u64>, extra: Vec<(u64, Want)>| Call::Tcb {
        label,
        target: CapSel::Raw(root(34)),
        words,
        extra: extra
            .into_iter()
            .map(|(i, w)| (CapSel::Raw(root(i)), w))
            .collect(),
        send: false,
    };
    let mut regs = vec![0u64; l.words];
    regs[l.number] = Syscall::Call as u64;
    regs[l.cptr] = root(32);
    let mut write = vec![0, l.words as u64];
    write.extend(regs);
    steps.extend([
        step(tcb(
            Label::TcbConfigure,
            vec![0x7000_0800],
            vec![(2, Want::CNode), (3, Want::VSpace), (35, Want::Frame)],
        )),
        step(tcb(Label::TcbSetPriority, vec![255], vec![(1, Want::Tcb)])),
        step(tcb(Label::TcbWriteRegisters, write, vec![])),
        step(tcb(Label::TcbResume, vec![], vec![])),
        // Root yields: the new thread runs and Calls the endpoint.
        step(Call::Yield),
        // The new thread's entry (it is current now): its Call blocks.
        step(Call::Yield),
        // Root receives: the caller waits for the reply.
        step(Call::Ipc {
            call: Syscall::Recv,
            cap: CapSel::Raw(root(32)),
            label: 0,
            words: vec![],
            extra: vec![],
            receive: None,
        }),
        step(cnode(Label::CNodeDelete, 2, 34, 2, 0)),
        step(cnode(Label::CNodeDelete, 2, 32, 2, 0)),
    ]);
    run(&steps, 0);
}

#[test]
fn der_15_two_cnodes_holding_each_others_last_capability_are_revoked() {
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
            dest: SlotSel::Index(0),
            target: SlotSel::Index(0),
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
    let ipc = |call: Syscall| Call::Ipc {
        call,
        cap: CapSel::Raw(root(38)),
        label: 5,
        words: vec![1, 2],
        extra: vec![],
        receive: None,
    };
    let steps = vec![
        step(retype(16, 2, 0, 32)),
        step(mint),
        step(ipc(Syscall::Call)),
        step(ipc(Syscall::NBSend)),
        step(ipc(Syscall::NBRecv)),
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
