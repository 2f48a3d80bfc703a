//! Tests of threads, scheduling, IPC, notifications and faults, each
//! named after the rule it checks; hostile cases included.

use super::*;
use crate::invariants::FrameData;
use abi::context::Layout;
use abi::msginfo::MessageInfo;
use abi::syscall::Syscall;

const EP: u64 = 40;
const NTFN: u64 = 41;
const T1: u64 = 42;
const T2: u64 = 43;
const F1: u64 = 44;
const F2: u64 = 45;
const VADDR: u64 = 0x8000_0000;

const L: Layout = Layout::X86_64;

/// The actions of a thread that makes system call `number` with `cptr`,
/// an info word (label, words, caps), MR0 … and its IPC buffer's
/// `msg[4 ..]` and `caps_or_badges`.
fn actions(
    l: Layout,
    number: Syscall,
    cptr: u64,
    label: u64,
    words: &[u64],
    caps: &[u64],
) -> UserActions {
    let info = MessageInfo::new(label, 0, caps.len() as u64, words.len() as u64)
        .unwrap()
        .raw();
    let mut regs = vec![(l.number, number.number()), (l.cptr, cptr), (l.info, info)];
    let mut buffer = vec![];
    for (i, &w) in words.iter().enumerate() {
        if i < 4 {
            regs.push((l.mrs[i], w));
        } else {
            buffer.push((1 + i, w));
        }
    }
    for (i, &c) in caps.iter().enumerate() {
        buffer.push((122 + i, c));
    }
    UserActions { regs, buffer }
}

/// The current thread makes a system call.
fn sys(
    m: &mut Model,
    number: Syscall,
    cptr: u64,
    label: u64,
    words: &[u64],
    caps: &[u64],
) -> Outcome {
    let l = m.layout();
    let out = m.entry(
        &Entry::Syscall(actions(l, number, cptr, label, words, caps)),
        &mut || false,
    );
    check(m);
    out
}

/// The current thread enters with no user actions (a `Restart` thread
/// re-executes its call; a `Running` one repeats its registers' call).
fn run(m: &mut Model) -> Outcome {
    let out = m.entry(&Entry::Syscall(UserActions::default()), &mut || false);
    check(m);
    out
}

/// A Call with any label word.
fn call_raw(m: &mut Model, cptr: u64, label: u64, words: &[u64], extra: &[u64]) -> Outcome {
    let inv = Invocation {
        cptr,
        label,
        words: words.to_vec(),
        extra: extra.to_vec(),
    };
    m.invoke(&inv, &mut || false)
}

fn current(m: &Model) -> Option<Addr> {
    m.state.current
}

fn regs(m: &Model, t: Addr) -> Vec<u64> {
    tcb_of(m, t).context
}

fn info(m: &Model, t: Addr) -> MessageInfo {
    let l = m.layout();
    MessageInfo::from_raw(regs(m, t)[l.info])
}

fn badge(m: &Model, t: Addr) -> u64 {
    let l = m.layout();
    regs(m, t)[l.cptr]
}

/// MR0 … MR`n − 1` of `t` (registers, then its IPC buffer).
fn mrs(m: &Model, t: Addr, n: usize) -> Vec<u64> {
    let l = m.layout();
    (0..n)
        .map(|i| {
            if i < 4 {
                regs(m, t)[l.mrs[i]]
            } else {
                m.buf_read(t, 1 + i)
            }
        })
        .collect()
}

fn state(m: &Model, t: Addr) -> ThreadState {
    tcb_of(m, t).state
}

/// Boot, then: an endpoint (slot 40), a notification (41), two TCBs (42,
/// 43) configured with the root CSpace and VSpace and IPC-buffer frames
/// (44, 45), priority 10, still `Inactive`.
fn two_threads() -> (Model, Addr, Addr) {
    two_threads_on(Arch::X86_64)
}

fn two_threads_on(arch: Arch) -> (Model, Addr, Addr) {
    let mut m = boot_on(arch);
    assert_eq!(retype(&mut m, ObjectType::Endpoint, 0, EP, 1), ok());
    assert_eq!(retype(&mut m, ObjectType::Notification, 0, NTFN, 1), ok());
    assert_eq!(retype(&mut m, ObjectType::Tcb, 0, T1, 2), ok());
    assert_eq!(retype(&mut m, ObjectType::Frame4K, 0, F1, 2), ok());
    for (t, f) in [(T1, F1), (T2, F2)] {
        assert_eq!(
            call(
                &mut m,
                c(t),
                Label::TcbConfigure,
                &[VADDR],
                &[c(2), c(3), c(f)]
            ),
            ok()
        );
        assert_eq!(
            call(&mut m, c(t), Label::TcbSetPriority, &[10], &[c(1)]),
            ok()
        );
    }
    check(&m);
    let (t1, t2) = (obj_at(&m, T1), obj_at(&m, T2));
    assert!(m.buffer(t1).is_some());
    (m, t1, t2)
}

/// WriteRegisters with resume (TCB-5, TCB-9) on the thread in root slot
/// `t`: its registers are those of system call `number` on `cptr` (with
/// MR0 … MR3 `words`), so its first entry makes that call.
fn start(m: &mut Model, t: u64, number: Syscall, cptr: u64, words: &[u64]) {
    let l = m.layout();
    let mut r = vec![0; l.words];
    r[l.pc] = 0x40_0000;
    r[l.number] = number.number();
    r[l.cptr] = cptr;
    r[l.info] = MessageInfo::new(0, 0, 0, words.len() as u64).unwrap().raw();
    for (i, &w) in words.iter().enumerate() {
        r[l.mrs[i]] = w;
    }
    let mut w = vec![1, l.words as u64];
    w.extend(r);
    assert_eq!(call(m, c(t), Label::TcbWriteRegisters, &w, &[]), ok());
    check(m);
}

/// The root thread drops to priority 5, so priority-10 threads run.
fn root_steps_aside(m: &mut Model) {
    assert_eq!(call(m, c(1), Label::TcbSetPriority, &[5], &[c(1)]), ok());
    check(m);
}

/// T1 waits in Recv on the endpoint; the root is current again only when
/// every priority-10 thread is blocked.
fn server_waiting() -> (Model, Addr, Addr) {
    let (mut m, t1, t2) = two_threads();
    start(&mut m, T1, Syscall::Recv, c(EP), &[]);
    root_steps_aside(&mut m);
    // T1 is current; its next entry re-executes its Recv.
    assert_eq!(current(&m), Some(t1));
    assert_eq!(run(&mut m), Outcome::Other);
    assert_eq!(
        state(&m, t1),
        ThreadState::BlockedOnRecv {
            ep: obj_at(&m, EP),
            grant: true
        }
    );
    assert_eq!(current(&m), Some(ROOT_TCB));
    (m, t1, t2)
}

// ----- scheduling ------------------------------------------------------------

#[test]
fn sched_5_preempted_thread_goes_to_the_head() {
    let (mut m, t1, t2) = two_threads();
    start(&mut m, T1, Syscall::Yield, 0, &[]);
    start(&mut m, T2, Syscall::Yield, 0, &[]);
    // spec: SCHED-4 — resumed threads are appended in order of waking.
    assert_eq!(m.state.ready.get(&10), Some(&vec![t1, t2]));
    assert_eq!(state(&m, t1), ThreadState::Restart);
    // spec: SCHED-9, SCHED-5 case 2 — the root, now below them, is
    // preempted: at the head of queue 5, with its result written.
    assert_eq!(
        call(&mut m, c(1), Label::TcbSetPriority, &[5], &[c(1)]),
        ok()
    );
    assert_eq!(current(&m), Some(t1));
    assert_eq!(m.state.ready.get(&5), Some(&vec![ROOT_TCB]));
    assert_eq!(m.state.ready.get(&10), Some(&vec![t2]));
    assert_eq!(info(&m, ROOT_TCB).label(), 0);
    check(&m);
    // spec: SCHED-7 — T1 yields (re-executing its Yield): T2 runs.
    assert_eq!(
        m.entry(&Entry::Syscall(UserActions::default()), &mut || false),
        Outcome::Other
    );
    assert_eq!(state(&m, t1), ThreadState::Running);
    assert_eq!(current(&m), Some(t2));
    assert_eq!(m.state.ready.get(&10), Some(&vec![t1]));
    check(&m);
}

#[test]
fn sched_6_tick_rotates_equals_after_a_slice() {
    let (mut m, t1, t2) = two_threads();
    start(&mut m, T1, Syscall::Yield, 0, &[]);
    start(&mut m, T2, Syscall::Yield, 0, &[]);
    root_steps_aside(&mut m);
    assert_eq!(current(&m), Some(t1));
    for left in (1..TIME_SLICE_TICKS).rev() {
        assert_eq!(m.entry(&Entry::Tick, &mut || false), Outcome::Other);
        check(&m);
        assert_eq!(current(&m), Some(t1));
        assert_eq!(tcb_of(&m, t1).slice, left);
    }
    // The slice runs out: T1 goes to the tail with a full slice.
    m.entry(&Entry::Tick, &mut || false);
    check(&m);
    assert_eq!(current(&m), Some(t2));
    assert_eq!(tcb_of(&m, t1).slice, TIME_SLICE_TICKS);
    assert_eq!(m.state.ready.get(&10), Some(&vec![t1]));
}

#[test]
fn sched_5_idle_thread_and_ticks() {
    let mut m = boot();
    // The root suspends itself: no result (SYS-9), the idle thread runs.
    assert_eq!(
        call(&mut m, c(1), Label::TcbSuspend, &[], &[]),
        Outcome::Other
    );
    assert_eq!(current(&m), None);
    assert_eq!(state(&m, ROOT_TCB), ThreadState::Inactive);
    check(&m);
    // The idle thread makes no call; ticks change nothing.
    let before = m.clone();
    assert_eq!(
        call(&mut m, c(1), Label::TcbResume, &[], &[]),
        Outcome::Other
    );
    assert_eq!(m.entry(&Entry::Tick, &mut || false), Outcome::Other);
    assert_eq!(m, before);
}

// ----- IPC ---------------------------------------------------------------------

#[test]
fn ipc_9_call_delivers_a_reply_cap() {
    let (mut m, t1, t2) = server_waiting();
    let ep = obj_at(&m, EP);
    // A badged copy (badge 7) for the client.
    assert_eq!(
        call(&mut m, c(2), Label::CNodeMint, &[50, EP, 15, 7], &[c(2)]),
        ok()
    );
    // T2 (priority 10) runs at once, above the root (5).
    start(&mut m, T2, Syscall::Yield, 0, &[]);
    assert_eq!(current(&m), Some(t2));
    run(&mut m); // its restarted Yield
    assert_eq!(current(&m), Some(t2));
    // spec: IPC-4, IPC-9, MSG-6 — a six-word Call.
    let words = [1, 2, 3, 4, 5, 6];
    assert_eq!(
        sys(&mut m, Syscall::Call, c(50), 0x99, &words, &[]),
        Outcome::Other
    );
    assert_eq!(state(&m, t2), ThreadState::BlockedOnReply);
    assert_eq!(state(&m, t1), ThreadState::Running);
    assert_eq!(current(&m), Some(t1));
    let reply_slot = SlotRef::Tcb { obj: t1, index: 4 };
    assert_eq!(
        cap_at(&m, reply_slot),
        Some(Cap::Reply {
            caller: t2,
            can_grant: true
        })
    );
    assert_eq!(tcb_of(&m, t2).reply_at, Some(reply_slot));
    assert_eq!(badge(&m, t1), 7);
    assert_eq!(info(&m, t1).label(), 0x99);
    assert_eq!(info(&m, t1).length(), 6);
    assert_eq!(mrs(&m, t1, 6), words.to_vec());
    let _ = ep;
    // spec: IPC-17 — the reply: badge 0, T2 Running and ready.
    let before_pc = regs(&m, t2)[L.pc];
    assert_eq!(
        sys(&mut m, Syscall::Reply, 0, 0x55, &[9, 8], &[]),
        Outcome::Other
    );
    assert_eq!(state(&m, t2), ThreadState::Running);
    assert_eq!(m.state.ready.get(&10), Some(&vec![t2]));
    assert_eq!(cap_at(&m, reply_slot), None);
    assert_eq!(badge(&m, t2), 0);
    assert_eq!(info(&m, t2).label(), 0x55);
    assert_eq!(info(&m, t2).length(), 2);
    assert_eq!(mrs(&m, t2, 2), vec![9, 8]);
    // MR2, MR3 keep their values (MSG-6).
    assert_eq!(mrs(&m, t2, 4)[2..], [3, 4]);
    assert_eq!(regs(&m, t2)[L.pc], before_pc);
    // spec: IPC-17, SYS-12 — replying twice: the slot is empty, nothing
    // happens.
    let before = m.clone();
    assert_eq!(
        sys(&mut m, Syscall::Reply, 0, 0x66, &[1], &[]),
        Outcome::Other
    );
    assert_same(&m, &before);
    assert_eq!(info(&m, t2).label(), 0x55);
}

#[test]
fn ipc_20_deleting_the_reply_cap_gives_no_reply() {
    let (mut m, t1, t2) = server_waiting();
    start(&mut m, T2, Syscall::Call, c(EP), &[42]);
    // T2 re-executes its Call; T1 receives it and is current.
    run(&mut m);
    assert_eq!(current(&m), Some(t1));
    assert_eq!(mrs(&m, t1, 1), vec![42]);
    // spec: CNODE-10 — T1 saves the caller, then deletes it.
    assert_eq!(
        sys(
            &mut m,
            Syscall::Call,
            c(2),
            Label::CNodeSaveCaller.raw(),
            &[60],
            &[]
        ),
        Outcome::Result(Ok(vec![]))
    );
    assert_eq!(tcb_of(&m, t2).reply_at, Some(slot(60)));
    assert_eq!(
        sys(
            &mut m,
            Syscall::Call,
            c(2),
            Label::CNodeDelete.raw(),
            &[60],
            &[]
        ),
        Outcome::Result(Ok(vec![]))
    );
    // spec: IPC-20 — NoReply, badge 0, Running, appended.
    assert_eq!(state(&m, t2), ThreadState::Running);
    assert_eq!(info(&m, t2).label(), abi::error::Error::NoReply.code());
    assert_eq!(info(&m, t2).length(), 0);
    assert_eq!(badge(&m, t2), 0);
    assert_eq!(m.state.ready.get(&10), Some(&vec![t2]));
}

#[test]
fn ipc_10_receiving_again_loses_the_unanswered_reply() {
    let (mut m, t1, t2) = server_waiting();
    start(&mut m, T2, Syscall::Call, c(EP), &[42]);
    run(&mut m);
    assert_eq!(current(&m), Some(t1));
    assert_eq!(state(&m, t2), ThreadState::BlockedOnReply);
    // spec: IPC-10 step 1 — T1's next Recv deletes the Reply capability.
    sys(&mut m, Syscall::Recv, c(EP), 0, &[], &[]);
    assert_eq!(info(&m, t2).label(), abi::error::Error::NoReply.code());
    assert_eq!(state(&m, t2), ThreadState::Running);
    assert_eq!(current(&m), Some(t2));
    assert!(matches!(state(&m, t1), ThreadState::BlockedOnRecv { .. }));
}

#[test]
fn tcb_10_deleting_a_caller_mid_ipc_removes_its_reply() {
    let (mut m, t1, t2) = server_waiting();
    start(&mut m, T2, Syscall::Call, c(EP), &[42]);
    run(&mut m);
    assert_eq!(current(&m), Some(t1));
    // T1 deletes T2's only TCB capability: T2 is suspended (its Reply
    // capability goes with no effect) and destroyed.
    assert_eq!(
        sys(
            &mut m,
            Syscall::Call,
            c(2),
            Label::CNodeDelete.raw(),
            &[T2],
            &[]
        ),
        Outcome::Result(Ok(vec![]))
    );
    assert!(!m.state.objects.contains_key(&t2));
    assert_eq!(cap_at(&m, SlotRef::Tcb { obj: t1, index: 4 }), None);
    // Replying now does nothing.
    let before = m.clone();
    sys(&mut m, Syscall::Reply, 0, 0, &[1], &[]);
    assert_same(&m, &before);
}

#[test]
fn der_12_deleting_an_endpoint_with_queued_senders() {
    let (mut m, t1, t2) = two_threads();
    start(&mut m, T1, Syscall::Send, c(EP), &[1]);
    start(&mut m, T2, Syscall::Call, c(EP), &[2]);
    root_steps_aside(&mut m);
    run(&mut m); // T1 re-executes its Send
    run(&mut m); // T2 re-executes its Call
    let ep = obj_at(&m, EP);
    assert_eq!(
        m.state.objects[&ep],
        Object::Endpoint(EndpointState::Sending(vec![t1, t2]))
    );
    assert_eq!(current(&m), Some(ROOT_TCB));
    // spec: DER-12 — both Restart, appended in queue order.
    let pcs = (regs(&m, t1)[L.pc], regs(&m, t2)[L.pc]);
    assert_eq!(
        call(&mut m, c(2), Label::CNodeDelete, &[EP], &[]),
        Outcome::Result(Ok(vec![]))
    );
    check(&m);
    assert!(!m.state.objects.contains_key(&ep));
    assert_eq!(state(&m, t1), ThreadState::Restart);
    assert_eq!(state(&m, t2), ThreadState::Restart);
    // spec: ABI-17 — they will re-execute their calls.
    assert_eq!((regs(&m, t1)[L.pc], regs(&m, t2)[L.pc]), pcs);
    // The root (5) is below them: T1 runs at the end of the entry.
    assert_eq!(current(&m), Some(t1));
    // Re-executed, the Send's lookup fails: a CapFault, no handler (FLT-3).
    let out = m.entry(&Entry::Syscall(UserActions::default()), &mut || false);
    check(&m);
    assert_eq!(out, cap_fault(c(EP), fl(K::MissingCapability, 0, 0)));
    assert_eq!(state(&m, t1), ThreadState::Inactive);
    assert_eq!(current(&m), Some(t2));
}

#[test]
fn ipc_2_call_without_grant_and_send_without_write() {
    let (mut m, _, _) = server_waiting();
    // Write only: Call refused, Send allowed.
    assert_eq!(
        call(&mut m, c(2), Label::CNodeMint, &[50, EP, 2, 0], &[c(2)]),
        ok()
    );
    // Read only.
    assert_eq!(
        call(&mut m, c(2), Label::CNodeMint, &[51, EP, 1, 0], &[c(2)]),
        ok()
    );
    let before = m.clone();
    assert_eq!(
        call_raw(&mut m, c(50), 0, &[], &[]),
        err(ErrorDetail::InvalidCapability { position: 0 })
    );
    assert_same(&m, &before);
    assert_eq!(
        call_raw(&mut m, c(51), 0, &[], &[]),
        err(ErrorDetail::InvalidCapability { position: 0 })
    );
    // Send without Write: nothing happens (SYS-8), registers unchanged.
    let before = m.clone();
    let regs_before = regs(&m, ROOT_TCB);
    m.entry(
        &Entry::Syscall(UserActions {
            regs: vec![(L.number, Syscall::Send.number()), (L.cptr, c(51))],
            buffer: vec![],
        }),
        &mut || false,
    );
    let mut expected = regs_before.clone();
    expected[L.number] = Syscall::Send.number();
    expected[L.cptr] = c(51);
    expected[L.pc] += L.syscall_len;
    assert_eq!(regs(&m, ROOT_TCB), expected);
    assert_same(&m, &before);
    check(&m);
}

/// WriteRegisters with resume on the thread in root slot `t` with these
/// register values (the rest 0, pc 0x40_0000).
fn start_raw(m: &mut Model, t: u64, set: &[(usize, u64)]) {
    let l = m.layout();
    let mut r = vec![0; l.words];
    r[l.pc] = 0x40_0000;
    for &(i, v) in set {
        r[i] = v;
    }
    let mut w = vec![1, l.words as u64];
    w.extend(r);
    assert_eq!(call(m, c(t), Label::TcbWriteRegisters, &w, &[]), ok());
    check(m);
}

/// T2 is current and `Running` (above the root, T1 waiting on EP).
fn client_running() -> (Model, Addr, Addr) {
    let (mut m, t1, t2) = server_waiting();
    start(&mut m, T2, Syscall::Yield, 0, &[]);
    run(&mut m);
    assert_eq!(current(&m), Some(t2));
    assert_eq!(state(&m, t2), ThreadState::Running);
    (m, t1, t2)
}

// ----- capability transfer --------------------------------------------------

#[test]
fn ipc_13_unwrap_then_transfer_one_cap() {
    let (mut m, t1, t2) = server_waiting();
    let (ep, ntfn) = (obj_at(&m, EP), obj_at(&m, NTFN));
    assert_eq!(
        call(&mut m, c(2), Label::CNodeMint, &[50, EP, 15, 7], &[c(2)]),
        ok()
    );
    // T1's receive slot: root slot 70.
    m.buf_write(t1, 125, c(70));
    start(&mut m, T2, Syscall::Yield, 0, &[]);
    run(&mut m);
    assert_eq!(current(&m), Some(t2));
    // Extra caps: the badged endpoint it sends through (unwrapped), the
    // notification (transferred), the root TCB (a second transfer: stop).
    sys(
        &mut m,
        Syscall::Call,
        c(EP),
        1,
        &[5],
        &[c(50), c(NTFN), c(1)],
    );
    assert_eq!(current(&m), Some(t1));
    let i = info(&m, t1);
    assert_eq!((i.extra_caps(), i.caps_unwrapped()), (2, 0b1));
    assert_eq!(m.buf_read(t1, 122), 7);
    assert_eq!(
        cap_at(&m, slot(70)),
        Some(Cap::Notification {
            obj: ntfn,
            badge: 0,
            rights: Rights::ALL
        })
    );
    // spec: DER-2 — a child of the sender's slot, at the front.
    assert_eq!(m.state.slots[&slot(70)].parent, Some(slot(NTFN)));
    assert_eq!(children(&m, slot(NTFN))[0], slot(70));
    let _ = (ep, t2);
}

#[test]
fn ipc_13_no_grant_no_caps_and_occupied_receive_slot() {
    let (mut m, t1, _) = server_waiting();
    // Write | GrantReply: Call allowed, no capabilities travel.
    assert_eq!(
        call(&mut m, c(2), Label::CNodeMint, &[50, EP, 10, 0], &[c(2)]),
        ok()
    );
    m.buf_write(t1, 125, c(70));
    start(&mut m, T2, Syscall::Yield, 0, &[]);
    run(&mut m);
    sys(&mut m, Syscall::Call, c(50), 1, &[5], &[c(NTFN)]);
    assert_eq!(current(&m), Some(t1));
    assert_eq!(info(&m, t1).extra_caps(), 0);
    assert_eq!(cap_at(&m, slot(70)), None);
    // The reply carries capabilities only with can_grant: T1 received
    // through a Grant capability, so the Reply has it; with the receive
    // slot of T2 occupied the transfer stops at once.
    let t2 = obj_at(&m, T2);
    m.buf_write(t2, 125, c(1));
    sys(&mut m, Syscall::Reply, 0, 0, &[], &[c(NTFN)]);
    assert_eq!(info(&m, t2).extra_caps(), 0);
    check(&m);
}

#[test]
fn cap_8_badges_cannot_be_forged() {
    let (mut m, t1, _) = server_waiting();
    assert_eq!(
        call(&mut m, c(2), Label::CNodeMint, &[50, EP, 15, 7], &[c(2)]),
        ok()
    );
    // Re-badging the badged capability fails (CNODE-3 #10), by Mint or
    // Mutate.
    refused(
        &mut m,
        c(2),
        Label::CNodeMint,
        &[51, 50, 15, 8],
        &[c(2)],
        ErrorDetail::IllegalOperation,
    );
    refused(
        &mut m,
        c(2),
        Label::CNodeMutate,
        &[51, 50, 15, 8],
        &[c(2)],
        ErrorDetail::IllegalOperation,
    );
    // A copy keeps the badge; the receiver sees 7 whatever the sender's
    // badge register held.
    assert_eq!(
        call(&mut m, c(2), Label::CNodeCopy, &[51, 50, 15], &[c(2)]),
        ok()
    );
    start(&mut m, T2, Syscall::Yield, 0, &[]);
    run(&mut m);
    sys(&mut m, Syscall::Send, c(51), 0, &[1], &[]);
    assert_eq!(badge(&m, t1), 7);
    // The sender continues with its registers unchanged (IPC-7).
    let t2 = obj_at(&m, T2);
    assert_eq!(badge(&m, t2), c(51));
}

// ----- notifications ---------------------------------------------------------

#[test]
fn ntfn_3_signal_accumulates_and_wait_takes_it() {
    let mut m = boot();
    assert_eq!(retype(&mut m, ObjectType::Notification, 0, NTFN, 1), ok());
    let n = obj_at(&m, NTFN);
    for (slot_i, b) in [(50, 1), (51, 4)] {
        assert_eq!(
            call(
                &mut m,
                c(2),
                Label::CNodeMint,
                &[slot_i, NTFN, 15, b],
                &[c(2)]
            ),
            ok()
        );
    }
    // Signal with Send (nothing reported) and with Call (empty result).
    sys(&mut m, Syscall::Send, c(50), 0, &[], &[]);
    assert_eq!(call_raw(&mut m, c(51), 0, &[], &[]), ok());
    assert_eq!(
        m.state.objects[&n],
        Object::Notification(Notification {
            state: NotificationState::Active(5),
            bound_tcb: None
        })
    );
    // spec: NTFN-4 — Wait takes the word: badge 5, info 0.
    sys(&mut m, Syscall::Recv, c(NTFN), 0, &[], &[]);
    assert_eq!((badge(&m, ROOT_TCB), info(&m, ROOT_TCB).raw()), (5, 0));
    assert_eq!(state(&m, ROOT_TCB), ThreadState::Running);
    // spec: NTFN-5 — Poll on Idle: badge 0, info 0.
    sys(&mut m, Syscall::NBRecv, c(NTFN), 0, &[], &[]);
    assert_eq!((badge(&m, ROOT_TCB), info(&m, ROOT_TCB).raw()), (0, 0));
    // spec: NTFN-2 — no Write: InvalidCapability(0).
    assert_eq!(
        call(&mut m, c(2), Label::CNodeMint, &[52, NTFN, 1, 0], &[c(2)]),
        ok()
    );
    assert_eq!(
        call_raw(&mut m, c(52), 0, &[], &[]),
        err(ErrorDetail::InvalidCapability { position: 0 })
    );
    // spec: NTFN-4 — Wait with nothing pending blocks: the idle thread.
    sys(&mut m, Syscall::Recv, c(NTFN), 0, &[], &[]);
    assert_eq!(
        state(&m, ROOT_TCB),
        ThreadState::BlockedOnNotification { ntfn: n }
    );
    assert_eq!(current(&m), None);
}

#[test]
fn irq_8_interrupt_wakes_a_waiter_and_sched_5_switches() {
    let (mut m, t1, _) = two_threads();
    start(&mut m, T1, Syscall::Recv, c(NTFN), &[]);
    root_steps_aside(&mut m);
    run(&mut m);
    assert_eq!(current(&m), Some(ROOT_TCB));
    assert_eq!(
        call(
            &mut m,
            c(2),
            Label::CNodeMint,
            &[50, NTFN, 15, 0x30],
            &[c(2)]
        ),
        ok()
    );
    assert_eq!(
        call(&mut m, c(4), Label::IrqControlGet, &[45, 0, 51], &[c(2)]),
        ok()
    );
    assert_eq!(
        call(
            &mut m,
            c(51),
            Label::IrqHandlerSetNotification,
            &[],
            &[c(50)]
        ),
        ok()
    );
    check(&m);
    // spec: IRQ-8, NTFN-3, SCHED-5 — the waiter gets the badge and, above
    // the root, runs.
    assert_eq!(
        m.entry(&Entry::Interrupt(45), &mut || false),
        Outcome::Other
    );
    assert_eq!((badge(&m, t1), state(&m, t1)), (0x30, ThreadState::Running));
    assert_eq!(current(&m), Some(t1));
    assert_eq!(m.state.ready.get(&5), Some(&vec![ROOT_TCB]));
    check(&m);
}

#[test]
fn ntfn_3_signal_wakes_a_waiter() {
    let (mut m, t1, _) = two_threads();
    start(&mut m, T1, Syscall::Recv, c(NTFN), &[]);
    root_steps_aside(&mut m);
    run(&mut m);
    let n = obj_at(&m, NTFN);
    assert_eq!(
        state(&m, t1),
        ThreadState::BlockedOnNotification { ntfn: n }
    );
    assert_eq!(current(&m), Some(ROOT_TCB));
    assert_eq!(
        call(&mut m, c(2), Label::CNodeMint, &[50, NTFN, 15, 3], &[c(2)]),
        ok()
    );
    sys(&mut m, Syscall::NBSend, c(50), 0, &[], &[]);
    // Woken with badge 3 and info 0; it preempts the root.
    assert_eq!((badge(&m, t1), info(&m, t1).raw()), (3, 0));
    assert_eq!(current(&m), Some(t1));
    assert_eq!(m.state.ready.get(&5), Some(&vec![ROOT_TCB]));
}

#[test]
fn ntfn_7_bound_notification_wakes_a_receiver() {
    let (mut m, t1, _) = server_waiting();
    let (ep, n) = (obj_at(&m, EP), obj_at(&m, NTFN));
    // spec: TCB-13 checks.
    assert_eq!(
        call(&mut m, c(2), Label::CNodeMint, &[50, NTFN, 2, 0], &[c(2)]),
        ok()
    );
    refused(
        &mut m,
        c(T1),
        Label::TcbBindNotification,
        &[],
        &[],
        ErrorDetail::TruncatedMessage,
    );
    refused(
        &mut m,
        c(T1),
        Label::TcbBindNotification,
        &[],
        &[c(50)],
        ErrorDetail::InvalidCapability { position: 1 },
    );
    refused(
        &mut m,
        c(T1),
        Label::TcbBindNotification,
        &[],
        &[c(EP)],
        ErrorDetail::InvalidCapability { position: 1 },
    );
    refused(
        &mut m,
        c(T1),
        Label::TcbUnbindNotification,
        &[],
        &[],
        ErrorDetail::IllegalOperation,
    );
    assert_eq!(
        call(&mut m, c(T1), Label::TcbBindNotification, &[], &[c(NTFN)]),
        ok()
    );
    refused(
        &mut m,
        c(T2),
        Label::TcbBindNotification,
        &[],
        &[c(NTFN)],
        ErrorDetail::IllegalOperation,
    );
    refused(
        &mut m,
        c(T1),
        Label::TcbBindNotification,
        &[],
        &[c(NTFN)],
        ErrorDetail::IllegalOperation,
    );
    // spec: NTFN-4 — the root may not wait on T1's notification.
    let before = m.clone();
    assert_eq!(
        sys(&mut m, Syscall::NBRecv, c(NTFN), 0, &[], &[]),
        Outcome::Fault(Fault::Cap {
            address: c(NTFN),
            in_receive_phase: true,
            failure: fl(K::MissingCapability, 0, 0)
        })
    );
    // spec: NTFN-3 — a signal takes T1 out of the endpoint's queue.
    let mut m = before;
    assert_eq!(
        call(
            &mut m,
            c(2),
            Label::CNodeMint,
            &[51, NTFN, 15, 0x40],
            &[c(2)]
        ),
        ok()
    );
    sys(&mut m, Syscall::Send, c(51), 0, &[], &[]);
    assert_eq!(state(&m, t1), ThreadState::Running);
    assert_eq!((badge(&m, t1), info(&m, t1).raw()), (0x40, 0));
    assert_eq!(m.state.objects[&ep], Object::Endpoint(EndpointState::Idle));
    assert_eq!(current(&m), Some(t1));
    // spec: NTFN-7 — T1 signals its own notification while running; its
    // next Recv on the endpoint takes the signal, the endpoint untouched.
    sys(&mut m, Syscall::Send, c(51), 0, &[], &[]);
    let Object::Notification(nt) = &m.state.objects[&n] else {
        panic!()
    };
    assert_eq!(nt.state, NotificationState::Active(0x40));
    m.set_reg(t1, L.cptr, 0);
    sys(&mut m, Syscall::Recv, c(EP), 0, &[], &[]);
    assert_eq!(state(&m, t1), ThreadState::Running);
    assert_eq!(badge(&m, t1), 0x40);
    assert_eq!(m.state.objects[&ep], Object::Endpoint(EndpointState::Idle));
    // spec: TCB-14 — T1 unbinds itself.
    assert_eq!(
        sys(
            &mut m,
            Syscall::Call,
            c(T1),
            Label::TcbUnbindNotification.raw(),
            &[],
            &[]
        ),
        Outcome::Result(Ok(vec![]))
    );
    assert_eq!(tcb_of(&m, t1).bound_notification, None);
}

#[test]
fn tcb_13_binding_an_active_notification_wakes_a_receiver() {
    let (mut m, t1, _) = server_waiting();
    sys(&mut m, Syscall::Send, c(NTFN), 0, &[], &[]);
    assert_eq!(
        call(&mut m, c(T1), Label::TcbBindNotification, &[], &[c(NTFN)]),
        ok()
    );
    // Woken at once (INV-24); it preempts the root.
    assert_eq!(current(&m), Some(t1));
    assert_eq!(info(&m, t1).raw(), 0);
    let n = obj_at(&m, NTFN);
    let Object::Notification(nt) = &m.state.objects[&n] else {
        panic!()
    };
    assert_eq!(nt.state, NotificationState::Idle);
}

// ----- faults ------------------------------------------------------------------

/// T2 with fault endpoint EP (badge 9), T1 waiting on EP, T2 current.
fn with_handler() -> (Model, Addr, Addr) {
    let (mut m, t1, t2) = server_waiting();
    assert_eq!(
        call(&mut m, c(2), Label::CNodeMint, &[50, EP, 10, 9], &[c(2)]),
        ok()
    );
    // spec: TCB-12 checks: not an endpoint; an endpoint without Grant or
    // GrantReply.
    assert_eq!(
        call(&mut m, c(2), Label::CNodeMint, &[51, EP, 3, 0], &[c(2)]),
        ok()
    );
    refused(
        &mut m,
        c(T2),
        Label::TcbSetFaultEndpoint,
        &[],
        &[c(NTFN)],
        ErrorDetail::InvalidCapability { position: 1 },
    );
    refused(
        &mut m,
        c(T2),
        Label::TcbSetFaultEndpoint,
        &[],
        &[c(51)],
        ErrorDetail::InvalidCapability { position: 1 },
    );
    assert_eq!(
        call(&mut m, c(T2), Label::TcbSetFaultEndpoint, &[], &[c(50)]),
        ok()
    );
    let fe = SlotRef::Tcb { obj: t2, index: 3 };
    assert_eq!(m.state.slots[&fe].parent, Some(slot(50)));
    check(&m);
    (m, t1, t2)
}

#[test]
fn flt_3_unknown_syscall_goes_to_the_handler_and_flt_8_emulation() {
    let (mut m, t1, t2) = with_handler();
    start_raw(&mut m, T2, &[(L.number, 99), (L.cptr, 0x1234)]);
    assert_eq!(current(&m), Some(t2));
    // spec: SYS-3, FLT-3 — delivered at once: T1 gets the message.
    assert_eq!(
        run(&mut m),
        Outcome::Fault(Fault::UnknownSyscall { number: 99 })
    );
    assert_eq!(state(&m, t2), ThreadState::BlockedOnReply);
    assert_eq!(
        tcb_of(&m, t2).fault,
        Some(Fault::UnknownSyscall { number: 99 })
    );
    assert_eq!(current(&m), Some(t1));
    let n = L.words + 1;
    assert_eq!(info(&m, t1).label(), 2);
    assert_eq!(info(&m, t1).length(), n as u64);
    assert_eq!(badge(&m, t1), 9);
    let msg = mrs(&m, t1, n);
    // spec: FLT-4, FLT-2 — the register set with the fault PC, then the
    // number.
    assert_eq!(msg[L.pc], 0x40_0000);
    assert_eq!(msg[L.cptr], 0x1234);
    assert_eq!(msg[n - 1], 99);
    assert_eq!(regs(&m, t2)[L.pc], 0x40_0000 + L.syscall_len);
    // spec: FLT-6 — the handler reads T2's registers.
    let out = sys(
        &mut m,
        Syscall::Call,
        c(T2),
        Label::TcbReadRegisters.raw(),
        &[0, 1],
        &[],
    );
    assert_eq!(out, Outcome::Result(Ok(vec![0x40_0000 + L.syscall_len])));
    // spec: FLT-7, FLT-8 — reply with registers: pc after the call, rax
    // (the number register) = 123.
    let mut words = msg[..L.words].to_vec();
    words[L.pc] = 0x40_0000 + L.syscall_len;
    words[L.number] = 123;
    sys(&mut m, Syscall::Reply, 0, 0, &words, &[]);
    assert_eq!(state(&m, t2), ThreadState::Running);
    assert_eq!(tcb_of(&m, t2).fault, None);
    assert_eq!(regs(&m, t2)[L.number], 123);
    assert_eq!(regs(&m, t2)[L.pc], 0x40_0000 + L.syscall_len);
    // The reply's message is not written to T2's registers (reading of
    // IPC-17): its badge register keeps 0x1234.
    assert_eq!(badge(&m, t2), 0x1234);
    assert_eq!(m.state.ready.get(&10), Some(&vec![t2]));
}

#[test]
fn flt_7_fault_reply_label_0_restarts_and_other_labels_stop() {
    for label in [0, 1] {
        let (mut m, t1, t2) = with_handler();
        start_raw(&mut m, T2, &[(L.number, 0)]);
        run(&mut m);
        assert_eq!(current(&m), Some(t1));
        sys(&mut m, Syscall::Reply, 0, label, &[], &[]);
        if label == 0 {
            // spec: FLT-7 — re-executes the call: Restart at pc − len.
            assert_eq!(state(&m, t2), ThreadState::Restart);
            assert_eq!(regs(&m, t2)[L.pc], 0x40_0000 + L.syscall_len);
            assert_eq!(m.state.ready.get(&10), Some(&vec![t2]));
        } else {
            assert_eq!(state(&m, t2), ThreadState::Inactive);
            // Inactive: pc is where a Resume continues it (the call).
            assert_eq!(regs(&m, t2)[L.pc], 0x40_0000);
        }
        assert_eq!(tcb_of(&m, t2).fault, None);
    }
}

#[test]
fn flt_4_vm_fault_from_an_exception_and_restart_at_the_instruction() {
    let (mut m, t1, t2) = with_handler();
    start(&mut m, T2, Syscall::Yield, 0, &[]);
    run(&mut m);
    assert_eq!(current(&m), Some(t2));
    let pc = regs(&m, t2)[L.pc];
    let f = Fault::Vm {
        address: 0xdead_0000,
        instruction: false,
        status: 6,
    };
    assert_eq!(
        m.entry(&Entry::Exception(UserActions::default(), f), &mut || false),
        Outcome::Fault(f)
    );
    check(&m);
    assert_eq!(current(&m), Some(t1));
    assert_eq!(info(&m, t1).label(), 4);
    assert_eq!(mrs(&m, t1, 4), vec![pc, 0xdead_0000, 0, 6]);
    // spec: FLT-7 — label 0: Restart; ReadRegisters reports the faulting
    // instruction (TCB-4, ABI-17).
    sys(&mut m, Syscall::Reply, 0, 0, &[], &[]);
    assert_eq!(state(&m, t2), ThreadState::Restart);
    let out = sys(
        &mut m,
        Syscall::Call,
        c(T2),
        Label::TcbReadRegisters.raw(),
        &[0, 1],
        &[],
    );
    assert_eq!(out, Outcome::Result(Ok(vec![pc])));
}

#[test]
fn flt_7_user_exception_reply_sets_pc_and_sp() {
    let (mut m, t1, t2) = with_handler();
    start(&mut m, T2, Syscall::Yield, 0, &[]);
    run(&mut m);
    let f = Fault::UserException { number: 6, code: 0 };
    let actions = UserActions {
        regs: vec![(L.sp, 0x7000), (L.flags, 0x202)],
        buffer: vec![],
    };
    m.entry(&Entry::Exception(actions, f), &mut || false);
    check(&m);
    assert_eq!(current(&m), Some(t1));
    let pc = regs(&m, t2)[L.pc];
    assert_eq!(mrs(&m, t1, 5), vec![pc, 0x7000, 0x202, 6, 0]);
    // An address above USER_TOP is not taken (reading of FLT-7).
    sys(&mut m, Syscall::Reply, 0, 0, &[1 << 47, 0x9000], &[]);
    assert_eq!(state(&m, t2), ThreadState::Running);
    assert_eq!((regs(&m, t2)[L.pc], regs(&m, t2)[L.sp]), (pc, 0x9000));
}

#[test]
fn ipc_20_losing_a_fault_reply_stops_the_thread() {
    let (mut m, t1, t2) = with_handler();
    start_raw(&mut m, T2, &[(L.number, 0)]);
    run(&mut m);
    assert_eq!(current(&m), Some(t1));
    // T1 receives again: the Reply capability is deleted.
    sys(&mut m, Syscall::Recv, c(EP), 0, &[], &[]);
    assert_eq!(state(&m, t2), ThreadState::Inactive);
    assert_eq!(tcb_of(&m, t2).fault, None);
    assert_eq!(current(&m), Some(ROOT_TCB));
}

#[test]
fn der_12_finalising_the_fault_endpoint_drops_a_queued_fault() {
    let (mut m, t1, t2) = two_threads();
    assert_eq!(
        call(&mut m, c(T2), Label::TcbSetFaultEndpoint, &[], &[c(EP)]),
        ok()
    );
    start_raw(&mut m, T2, &[(L.number, 0)]);
    root_steps_aside(&mut m);
    run(&mut m);
    // spec: FLT-3 — no receiver: queued with call, no grant.
    let ep = obj_at(&m, EP);
    assert_eq!(
        state(&m, t2),
        ThreadState::BlockedOnSend {
            ep,
            badge: 0,
            grant: false,
            grant_reply: true,
            call: true
        }
    );
    assert_eq!(current(&m), Some(ROOT_TCB));
    // spec: TCB-12 — clearing deletes the copy; the original remains, so
    // the endpoint lives. Deleting the original then finalises it.
    assert_eq!(
        call(&mut m, c(T2), Label::TcbSetFaultEndpoint, &[], &[]),
        ok()
    );
    assert_eq!(cap_at(&m, SlotRef::Tcb { obj: t2, index: 3 }), None);
    assert_eq!(
        state(&m, t2),
        ThreadState::BlockedOnSend {
            ep,
            badge: 0,
            grant: false,
            grant_reply: true,
            call: true
        }
    );
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[EP], &[]), ok());
    assert_eq!(state(&m, t2), ThreadState::Restart);
    assert_eq!(tcb_of(&m, t2).fault, None);
    let _ = t1;
}

#[test]
fn sys_11_recv_on_a_non_endpoint_is_a_receive_phase_cap_fault() {
    let mut m = boot();
    assert_eq!(
        sys(&mut m, Syscall::Recv, c(1), 0, &[], &[]),
        Outcome::Fault(Fault::Cap {
            address: c(1),
            in_receive_phase: true,
            failure: fl(K::MissingCapability, 0, 0)
        })
    );
    let mut m = boot();
    assert_eq!(
        sys(&mut m, Syscall::NBRecv, c(99), 0, &[], &[]),
        Outcome::Fault(Fault::Cap {
            address: c(99),
            in_receive_phase: true,
            failure: fl(K::MissingCapability, 0, 0)
        })
    );
    // spec: SYS-4 — NBSend with a failed lookup: nothing happens.
    let mut m = boot();
    let before = m.clone();
    assert_eq!(
        sys(&mut m, Syscall::NBSend, c(99), 0, &[], &[]),
        Outcome::Other
    );
    assert_same(&m, &before);
    // spec: SYS-12 — Reply with an empty slot, Yield alone: nothing.
    assert_eq!(sys(&mut m, Syscall::Reply, 0, 0, &[], &[]), Outcome::Other);
    assert_eq!(sys(&mut m, Syscall::Yield, 0, 0, &[], &[]), Outcome::Other);
    assert_same(&m, &before);
    assert_eq!(current(&m), Some(ROOT_TCB));
}

// ----- TCB invocations ---------------------------------------------------------

#[test]
fn tcb_4_read_registers_checks_and_suspend() {
    let (mut m, t1, _) = two_threads();
    let l = Label::TcbReadRegisters;
    refused(&mut m, c(T1), l, &[0], &[], ErrorDetail::TruncatedMessage);
    refused(
        &mut m,
        c(T1),
        l,
        &[2, 1],
        &[],
        ErrorDetail::InvalidArgument { index: 0 },
    );
    refused(&mut m, c(1), l, &[0, 1], &[], ErrorDetail::IllegalOperation);
    refused(&mut m, c(T1), l, &[0, 0], &[], range_error(1, 20));
    refused(&mut m, c(T1), l, &[0, 21], &[], range_error(1, 20));
    start_raw(&mut m, T1, &[(L.sp, 0x5000)]);
    // spec: TCB-4 — a Restart thread's pc is the instruction it re-executes.
    let out = call(&mut m, c(T1), l, &[0, 2], &[]);
    assert_eq!(out, Outcome::Result(Ok(vec![0x40_0000, 0x5000])));
    assert_eq!(mrs(&m, ROOT_TCB, 2), vec![0x40_0000, 0x5000]);
    // Twenty words: MR4 … go to the root's IPC buffer (MSG-6).
    let Outcome::Result(Ok(all)) = call(&mut m, c(T1), l, &[1, 20], &[]) else {
        panic!()
    };
    assert_eq!(mrs(&m, ROOT_TCB, 20), all);
    // Suspended first: Inactive, out of the ready queue.
    assert_eq!(state(&m, t1), ThreadState::Inactive);
    assert!(m.state.ready.is_empty());
    assert_eq!(all[L.pc], 0x40_0000);
    check(&m);
}

#[test]
fn tcb_5_write_registers_checks_and_sanitising() {
    let (mut m, t1, _) = two_threads();
    let l = Label::TcbWriteRegisters;
    refused(&mut m, c(T1), l, &[0], &[], ErrorDetail::TruncatedMessage);
    refused(
        &mut m,
        c(T1),
        l,
        &[4, 1, 0],
        &[],
        ErrorDetail::InvalidArgument { index: 0 },
    );
    refused(
        &mut m,
        c(1),
        l,
        &[0, 1, 0],
        &[],
        ErrorDetail::IllegalOperation,
    );
    refused(&mut m, c(T1), l, &[0, 21], &[], range_error(1, 20));
    refused(
        &mut m,
        c(T1),
        l,
        &[0, 3, 0, 0],
        &[],
        ErrorDetail::TruncatedMessage,
    );
    // rip at USER_TOP: InvalidArgument(2 + 0).
    refused(
        &mut m,
        c(T1),
        l,
        &[0, 1, 1 << 47],
        &[],
        ErrorDetail::InvalidArgument { index: 2 },
    );
    // spec: ABI-10 — rflags sanitised.
    assert_eq!(
        call(&mut m, c(T1), l, &[0, 3, 0x1000, 0x2000, u64::MAX], &[]),
        ok()
    );
    assert_eq!(regs(&m, t1)[..3], [0x1000, 0x2000, 0x4_0DD5 | 0x202]);
    assert_eq!(state(&m, t1), ThreadState::Inactive);
    // spec: TCB-11.
    refused(
        &mut m,
        c(T1),
        Label::TcbSetTlsBase,
        &[1 << 47],
        &[],
        ErrorDetail::InvalidArgument { index: 0 },
    );
    assert_eq!(
        call(&mut m, c(T1), Label::TcbSetTlsBase, &[0x1234], &[]),
        ok()
    );
    assert_eq!(regs(&m, t1)[L.tls], 0x1234);
}

#[test]
fn tcb_5_write_registers_makes_a_restart_thread_running() {
    let (mut m, t1, _) = two_threads();
    start(&mut m, T1, Syscall::Yield, 0, &[]);
    assert_eq!(state(&m, t1), ThreadState::Restart);
    assert_eq!(
        call(
            &mut m,
            c(T1),
            Label::TcbWriteRegisters,
            &[0, 1, 0x9000],
            &[]
        ),
        ok()
    );
    assert_eq!(state(&m, t1), ThreadState::Running);
    assert_eq!(regs(&m, t1)[L.pc], 0x9000);
    assert_eq!(m.state.ready.get(&10), Some(&vec![t1]));
    check(&m);
}

#[test]
fn tcb_6_configure_checks_in_order() {
    let (mut m, _, _) = two_threads();
    let l = Label::TcbConfigure;
    assert_eq!(retype(&mut m, ObjectType::VSpace, 0, 60, 1), ok());
    assert_eq!(retype(&mut m, ObjectType::Frame4K, 0, 61, 1), ok());
    let dev = |m: &mut Model| {
        call(
            m,
            c(DEV_UT),
            Label::UntypedRetype,
            &[ObjectType::Frame4K as u64, 0, 62, 1],
            &[c(2)],
        )
    };
    assert_eq!(dev(&mut m), ok());
    let all = [c(2), c(3), c(61)];
    refused(&mut m, c(T1), l, &[], &all, ErrorDetail::TruncatedMessage);
    refused(
        &mut m,
        c(T1),
        l,
        &[0],
        &all[..2],
        ErrorDetail::TruncatedMessage,
    );
    refused(
        &mut m,
        c(T1),
        l,
        &[0],
        &[c(3), c(3), c(61)],
        ErrorDetail::InvalidCapability { position: 1 },
    );
    refused(
        &mut m,
        c(T1),
        l,
        &[0],
        &[c(2), c(60), c(61)],
        ErrorDetail::InvalidCapability { position: 2 },
    );
    refused(
        &mut m,
        c(T1),
        l,
        &[0],
        &[c(2), c(3), c(62)],
        ErrorDetail::InvalidCapability { position: 3 },
    );
    refused(
        &mut m,
        c(T1),
        l,
        &[0x100],
        &all,
        ErrorDetail::AlignmentError,
    );
    refused(
        &mut m,
        c(T1),
        l,
        &[1 << 47],
        &all,
        ErrorDetail::InvalidArgument { index: 0 },
    );
    // Reconfigure T1 with frame 61: the old copies go, new children come.
    let t1 = obj_at(&m, T1);
    assert_eq!(call(&mut m, c(T1), l, &[0x400], &all), ok());
    let frame_slot = SlotRef::Tcb { obj: t1, index: 2 };
    assert_eq!(m.state.slots[&frame_slot].parent, Some(slot(61)));
    assert!(children(&m, slot(F1)).is_empty());
    assert_eq!(tcb_of(&m, t1).ipc_buffer, 0x400);
    assert_eq!(m.buffer(t1), Some(obj_at(&m, 61) + 0x400));
    check(&m);
}

#[test]
fn tcb_7_priority_bounded_by_the_authority() {
    let (mut m, t1, t2) = two_threads();
    // T1's mcp is 0: as authority it allows only 0.
    refused(
        &mut m,
        c(T2),
        Label::TcbSetPriority,
        &[1],
        &[c(T1)],
        range_error(0, 0),
    );
    refused(
        &mut m,
        c(T2),
        Label::TcbSetPriority,
        &[1],
        &[c(2)],
        ErrorDetail::InvalidCapability { position: 1 },
    );
    refused(
        &mut m,
        c(T2),
        Label::TcbSetPriority,
        &[1],
        &[],
        ErrorDetail::TruncatedMessage,
    );
    refused(
        &mut m,
        c(T2),
        Label::TcbSetMcPriority,
        &[256],
        &[c(1)],
        range_error(0, 255),
    );
    assert_eq!(
        call(&mut m, c(T1), Label::TcbSetMcPriority, &[20], &[c(1)]),
        ok()
    );
    assert_eq!(tcb_of(&m, t1).mcp, 20);
    assert_eq!(
        call(&mut m, c(T2), Label::TcbSetPriority, &[20], &[c(T1)]),
        ok()
    );
    assert_eq!(tcb_of(&m, t2).priority, 20);
    // spec: SCHED-9 — a ready thread moves to the tail of its new queue.
    start(&mut m, T1, Syscall::Yield, 0, &[]);
    start(&mut m, T2, Syscall::Yield, 0, &[]);
    assert_eq!(
        call(&mut m, c(T1), Label::TcbSetPriority, &[20], &[c(1)]),
        ok()
    );
    assert_eq!(m.state.ready.get(&20), Some(&vec![t2, t1]));
    assert_eq!(m.state.ready.get(&10), None);
    check(&m);
}

#[test]
fn tcb_9_resume_of_a_blocked_caller_re_executes_its_call() {
    let (mut m, t1, t2) = server_waiting();
    start(&mut m, T2, Syscall::Call, c(EP), &[42]);
    run(&mut m);
    assert_eq!(current(&m), Some(t1));
    assert_eq!(state(&m, t2), ThreadState::BlockedOnReply);
    let pc = regs(&m, t2)[L.pc];
    // T1 resumes T2: its Reply capability goes (IPC-19), it restarts.
    assert_eq!(
        sys(
            &mut m,
            Syscall::Call,
            c(T2),
            Label::TcbResume.raw(),
            &[],
            &[]
        ),
        Outcome::Result(Ok(vec![]))
    );
    assert_eq!(state(&m, t2), ThreadState::Restart);
    assert_eq!(regs(&m, t2)[L.pc], pc);
    assert_eq!(cap_at(&m, SlotRef::Tcb { obj: t1, index: 4 }), None);
    // Resume of a runnable thread: nothing.
    let before = m.clone();
    sys(
        &mut m,
        Syscall::Call,
        c(T2),
        Label::TcbResume.raw(),
        &[],
        &[],
    );
    assert_same(&m, &before);
}

// ----- registers and messages ---------------------------------------------------

#[test]
fn abi_17_a_preempted_call_restarts_at_the_instruction() {
    let mut m = with_endpoint();
    for i in 41..44 {
        assert_eq!(
            call(&mut m, c(2), Label::CNodeCopy, &[i, 40, 15], &[c(2)]),
            ok()
        );
    }
    let pc = regs(&m, ROOT_TCB)[L.pc];
    let out = call_with(&mut m, c(2), Label::CNodeRevoke, &[40], &[], &mut || true);
    assert_eq!(out, Outcome::Preempted);
    assert_eq!(state(&m, ROOT_TCB), ThreadState::Restart);
    assert_eq!(regs(&m, ROOT_TCB)[L.pc], pc + L.syscall_len);
    // The next entry re-executes it (user actions dropped).
    assert_eq!(run(&mut m), ok());
    assert_eq!(regs(&m, ROOT_TCB)[L.pc], pc + L.syscall_len);
    assert_eq!(state(&m, ROOT_TCB), ThreadState::Running);
}

#[test]
fn msg_2_and_msg_6_without_an_ipc_buffer_only_registers() {
    let (mut m, t1, t2) = client_running();
    if let Some(Object::Tcb(t)) = m.state.objects.get_mut(&t2) {
        t.ipc_buffer = 0;
    }
    // spec: MSG-2 — six words sent, four travel; no extra caps.
    sys(
        &mut m,
        Syscall::Send,
        c(EP),
        3,
        &[1, 2, 3, 4, 5, 6],
        &[c(1)],
    );
    assert_eq!(info(&m, t1).length(), 4);
    assert_eq!(info(&m, t1).extra_caps(), 0);
    assert_eq!(mrs(&m, t1, 4), vec![1, 2, 3, 4]);
    assert_eq!(m.buf_read(t1, 5), 0);
    // spec: MSG-6, SYS-9 — a result of 20 words to a thread without a
    // buffer: 4 in registers, length 4.
    assert_eq!(current(&m), Some(t2));
    let out = sys(
        &mut m,
        Syscall::Call,
        c(1),
        Label::TcbReadRegisters.raw(),
        &[0, 20],
        &[],
    );
    assert!(matches!(out, Outcome::Result(Ok(ref w)) if w.len() == 20));
    assert_eq!(info(&m, t2).length(), 4);
}

#[test]
fn sys_3_unknown_syscall_without_handler_stops_the_thread() {
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let mut m = boot_on(arch);
        let l = arch.layout();
        let out = m.entry(
            &Entry::Syscall(UserActions {
                regs: vec![(l.number, 0), (l.pc, 0x1000)],
                buffer: vec![],
            }),
            &mut || false,
        );
        assert_eq!(out, Outcome::Fault(Fault::UnknownSyscall { number: 0 }));
        assert_eq!(state(&m, ROOT_TCB), ThreadState::Inactive);
        // Inactive at the system call: a Resume re-executes it.
        assert_eq!(tcb_of(&m, ROOT_TCB).context[l.pc], 0x1000);
        assert_eq!(current(&m), None);
        check(&m);
    }
}

// ----- random sequences of entries ------------------------------------------------

/// A capability address the threads use (they share the root CSpace).
fn random_thread_cptr(r: &mut Rng) -> u64 {
    match r.below(14) {
        0..=2 => c(EP),
        3 => c(50),
        4 | 5 => c(NTFN),
        6 => c(51),
        7 => c(T1),
        8 => c(T2),
        9 => c(1),
        10 => c(2),
        11 => c(60 + r.below(4)),
        12 => c(16),
        _ => random_cptr(r),
    }
}

fn random_entry(r: &mut Rng, l: Layout) -> Entry {
    if r.below(10) == 0 {
        return Entry::Tick;
    }
    let mut regs = vec![];
    let mut buffer = vec![];
    if r.below(20) == 0 {
        let f = if r.below(2) == 0 {
            Fault::UserException {
                number: r.below(20),
                code: 0,
            }
        } else {
            Fault::Vm {
                address: r.next(),
                instruction: r.below(2) == 0,
                status: r.below(8),
            }
        };
        regs.push((l.sp, r.below(1 << 20)));
        return Entry::Exception(UserActions { regs, buffer }, f);
    }
    let number = match r.below(30) {
        0 => r.below(12),
        1..=6 => Syscall::Call.number(),
        7..=10 => Syscall::Send.number(),
        11..=12 => Syscall::NBSend.number(),
        13..=17 => Syscall::Recv.number(),
        18..=19 => Syscall::NBRecv.number(),
        20..=22 => Syscall::Reply.number(),
        23..=26 => Syscall::ReplyRecv.number(),
        _ => Syscall::Yield.number(),
    };
    let labels = [
        0,
        0,
        0,
        Label::TcbReadRegisters.raw(),
        Label::TcbWriteRegisters.raw(),
        Label::TcbSetPriority.raw(),
        Label::TcbResume.raw(),
        Label::TcbSuspend.raw(),
        Label::TcbSetFaultEndpoint.raw(),
        Label::TcbBindNotification.raw(),
        Label::TcbUnbindNotification.raw(),
        Label::CNodeCopy.raw(),
        Label::CNodeMint.raw(),
        Label::CNodeDelete.raw(),
        Label::CNodeRevoke.raw(),
        Label::CNodeSaveCaller.raw(),
        Label::CNodeCancelBadgedSends.raw(),
        Label::CNodeMove.raw(),
        Label::TcbConfigure.raw(),
        Label::UntypedRetype.raw(),
    ];
    let label = labels[r.below(labels.len() as u64) as usize];
    let len = r.below(8);
    let extra = r.below(4);
    let info = MessageInfo::new(label, 0, extra, len).unwrap().raw();
    let receiving = [Syscall::Recv.number(), Syscall::NBRecv.number(), 2].contains(&number);
    let cptr = if receiving && r.below(4) != 0 {
        [c(EP), c(NTFN), c(50), c(51)][r.below(4) as usize]
    } else {
        random_thread_cptr(r)
    };
    regs.extend([(l.number, number), (l.cptr, cptr), (l.info, info)]);
    for i in 0..len.min(4) as usize {
        let w = match r.below(5) {
            0 => r.next(),
            1 => 60 + r.below(6),
            2 => [16, F1, F2, T1, T2][r.below(5) as usize],
            _ => r.below(16),
        };
        regs.push((l.mrs[i], w));
    }
    for i in 4..len as usize {
        buffer.push((1 + i, r.below(1 << 12)));
    }
    for i in 0..extra as usize {
        buffer.push((122 + i, random_thread_cptr(r)));
    }
    if r.below(3) == 0 {
        buffer.push((125, c(60 + r.below(6))));
    }
    Entry::Syscall(UserActions { regs, buffer })
}

#[test]
fn inv_all_hold_along_random_entries_of_three_threads_and_tp_3() {
    let mut total = 0;
    for seed in 1..=100u64 {
        let mut r = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
        let arch = [Arch::X86_64, Arch::Aarch64][seed as usize % 2];
        let (mut m, t1, t2) = two_threads_on(arch);
        assert_eq!(
            call(&mut m, c(2), Label::CNodeMint, &[50, EP, 15, 5], &[c(2)]),
            ok()
        );
        assert_eq!(
            call(&mut m, c(2), Label::CNodeMint, &[51, NTFN, 15, 6], &[c(2)]),
            ok()
        );
        for t in [T1, T2] {
            if r.below(2) == 0 {
                assert_eq!(
                    call(&mut m, c(t), Label::TcbSetFaultEndpoint, &[], &[c(50)]),
                    ok()
                );
            }
            start(&mut m, t, Syscall::Yield, 0, &[]);
        }
        assert_eq!(
            call(&mut m, c(1), Label::TcbSetPriority, &[10], &[c(1)]),
            ok()
        );
        let preempt_rate = seed % 4;
        for step in 0..400 {
            // Sometimes, and whenever everything is blocked, a thread is
            // suspended, given registers and resumed, as another thread
            // could do (TCB-10, TCB-5, TCB-9): it runs user code again.
            if m.state.current.is_none() || r.below(30) == 0 {
                let t = [ROOT_TCB, t1, t2][r.below(3) as usize];
                // Only a thread some TCB capability names (not one a Zombie
                // is finalising).
                let named = m.state.slots.values().any(|x| x.cap == Cap::Tcb { obj: t });
                if named && m.state.current != Some(t) {
                    m.suspend(t);
                    m.resume(t);
                    m.set_state(t, ThreadState::Running);
                    m.choose(m.state.current);
                    check(&m);
                }
                if m.state.current.is_none() {
                    continue;
                }
            }
            let e = random_entry(&mut r, m.layout());
            let before = m.clone();
            let caller = m.state.current;
            let mut oracle_rng = Rng(r.next() | 1);
            let out = m.entry(&e, &mut || {
                preempt_rate != 0 && oracle_rng.below(preempt_rate + 1) == 0
            });
            total += 1;
            let v = check_all(&m.state, &FrameData(&m.state));
            assert!(
                v.is_empty(),
                "seed {seed} step {step} {e:?} -> {out:?}: {v:#?}"
            );
            // spec: TP-3 — a failed invocation changes nothing but the
            // caller's registers (when no pending deletion ran first).
            if matches!(out, Outcome::Result(Err(_))) && before.state.pending_delete.is_none() {
                let mut expected = strip(&before);
                if let Some(Object::Tcb(t)) = caller.and_then(|c| expected.objects.get_mut(&c)) {
                    t.state = ThreadState::Running;
                }
                assert_eq!(
                    strip(&m),
                    expected,
                    "seed {seed} step {step} {e:?} -> {out:?}"
                );
            }
        }
    }
    assert!(total > 10_000, "{total}");
}

#[test]
fn ipc_8_queued_fault_is_delivered_when_the_handler_receives() {
    let (mut m, t1, t2) = two_threads();
    assert_eq!(
        call(&mut m, c(2), Label::CNodeMint, &[50, EP, 10, 9], &[c(2)]),
        ok()
    );
    assert_eq!(
        call(&mut m, c(T2), Label::TcbSetFaultEndpoint, &[], &[c(50)]),
        ok()
    );
    start_raw(&mut m, T2, &[(L.number, 0)]);
    root_steps_aside(&mut m);
    assert_eq!(current(&m), Some(t2));
    assert_eq!(
        run(&mut m),
        Outcome::Fault(Fault::UnknownSyscall { number: 0 })
    );
    assert!(matches!(
        state(&m, t2),
        ThreadState::BlockedOnSend {
            badge: 9,
            call: true,
            grant: false,
            ..
        }
    ));
    assert_eq!(current(&m), Some(ROOT_TCB));
    // spec: IPC-10 step 3, IPC-8 — the handler receives the fault message
    // (made now, FLT-5) with the recorded badge and a Reply capability.
    start(&mut m, T1, Syscall::Recv, c(EP), &[]);
    assert_eq!(current(&m), Some(t1));
    run(&mut m);
    assert_eq!(info(&m, t1).label(), 2);
    assert_eq!(badge(&m, t1), 9);
    assert_eq!(state(&m, t2), ThreadState::BlockedOnReply);
    assert_eq!(
        cap_at(&m, SlotRef::Tcb { obj: t1, index: 4 }),
        Some(Cap::Reply {
            caller: t2,
            can_grant: true
        })
    );
    // spec: SYS-13, FLT-7 — ReplyRecv with label 1: T2 stops; T1 waits.
    sys(&mut m, Syscall::ReplyRecv, c(EP), 1, &[], &[]);
    assert_eq!(state(&m, t2), ThreadState::Inactive);
    assert!(matches!(state(&m, t1), ThreadState::BlockedOnRecv { .. }));
    assert_eq!(current(&m), Some(ROOT_TCB));
}

#[test]
fn tcb_10_deleting_a_receiver_mid_ipc_leaves_the_endpoint_idle() {
    let (mut m, t1, _) = server_waiting();
    let ep = obj_at(&m, EP);
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[T1], &[]), ok());
    assert!(!m.state.objects.contains_key(&t1));
    assert_eq!(m.state.objects[&ep], Object::Endpoint(EndpointState::Idle));
    check(&m);
}

#[test]
fn ntfn_6_ipc_20_deleting_a_server_that_holds_a_reply() {
    let (mut m, t1, t2) = server_waiting();
    start(&mut m, T2, Syscall::Call, c(EP), &[42]);
    run(&mut m);
    assert_eq!(current(&m), Some(t1));
    // spec: NTFN-6 — Wait keeps the Reply capability.
    sys(&mut m, Syscall::Recv, c(NTFN), 0, &[], &[]);
    let reply = SlotRef::Tcb { obj: t1, index: 4 };
    assert!(cap_at(&m, reply).is_some());
    assert_eq!(current(&m), Some(ROOT_TCB));
    // spec: IPC-20 — the server's TCB is finalised: its caller gets NoReply
    // and, above the root, runs.
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[T1], &[]), ok());
    assert_eq!(info(&m, t2).label(), abi::error::Error::NoReply.code());
    assert_eq!(current(&m), Some(t2));
    check(&m);
}

#[test]
fn msg_7_a_blocked_senders_message_is_read_at_delivery() {
    let (mut m, t1, t2) = two_threads();
    start(&mut m, T2, Syscall::Send, c(EP), &[1, 2]);
    root_steps_aside(&mut m);
    run(&mut m);
    assert!(matches!(state(&m, t2), ThreadState::BlockedOnSend { .. }));
    assert_eq!(current(&m), Some(ROOT_TCB));
    // The root rewrites T2's MR1 (rdx, r10: context words 6, 12) while it
    // waits; the receiver gets the new value.
    let mut words = vec![0, 13];
    words.extend(regs(&m, t2)[..13].iter().copied());
    words[2 + 12] = 77;
    assert_eq!(
        call(&mut m, c(T2), Label::TcbWriteRegisters, &words, &[]),
        ok()
    );
    start(&mut m, T1, Syscall::Recv, c(EP), &[]);
    run(&mut m);
    assert_eq!(mrs(&m, t1, 2), vec![1, 77]);
    assert_eq!(state(&m, t2), ThreadState::Running);
    check(&m);
}

#[test]
fn ipc_14_an_unresolvable_receive_slot_stops_the_transfer() {
    for receive_slot in [0, 5 << 56, c(1)] {
        let (mut m, t1, _) = server_waiting();
        m.buf_write(t1, 125, receive_slot);
        start(&mut m, T2, Syscall::Yield, 0, &[]);
        run(&mut m);
        sys(&mut m, Syscall::Send, c(EP), 0, &[], &[c(NTFN)]);
        // No receive slot (0, malformed) or an occupied one: no transfer,
        // and that is not an error.
        assert_eq!(info(&m, t1).extra_caps(), 0);
        assert_eq!(state(&m, t1), ThreadState::Running);
        check(&m);
    }
}
