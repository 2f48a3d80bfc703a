//! IPC through endpoints and notifications (spec: IPC-*, NTFN-*, MSG-*,
//! SYS-4 … SYS-14), including deletion while threads are blocked.

use super::{T, Test};
use crate::sys::*;
use crate::threads::{self, report};
use crate::{check, check_eq};
use abi::fault::FaultLabel;
use abi::invocation::Label;
use abi::object::ObjectType as O;
use abi::rights::Rights;
use abi::syscall::Syscall;

pub const TESTS: &[Test] = &[
    ("ipc_9_call_and_reply_recv_round_trip", call_round_trip),
    ("msg_3_ten_words_cross_registers_and_buffer", ten_words),
    ("msg_6_badge_comes_from_the_capability", badge),
    ("ipc_5_send_blocks_until_received", send_blocks),
    ("sys_4_nbsend_without_receiver_is_dropped", nbsend_dropped),
    ("sys_12_reply_twice_second_does_nothing", reply_twice),
    ("sys_12_reply_without_caller_does_nothing", reply_no_caller),
    ("ipc_13_grant_transfers_a_capability", grant),
    ("ipc_13_no_grant_no_transfer", no_grant),
    (
        "msg_2_sender_without_ipc_buffer_sends_four_words",
        no_ipc_buffer,
    ),
    ("ntfn_3_signal_then_poll", signal_poll),
    ("ntfn_3_signals_combine_by_or", signals_or),
    ("ntfn_4_wait_wakes_on_signal", wait_wakes),
    (
        "ntfn_7_bound_notification_wakes_endpoint_receiver",
        bound_wakes,
    ),
    (
        "der_12_delete_endpoint_with_blocked_receiver",
        delete_ep_receiver,
    ),
    (
        "der_12_delete_thread_blocked_in_send",
        delete_blocked_sender,
    ),
    (
        "der_11_revoke_copies_keeps_blocked_sender",
        revoke_keeps_sender,
    ),
    (
        "cnode_8_cancel_badged_sends_restarts_senders",
        cancel_badged_restarts,
    ),
    (
        "ipc_18_save_caller_then_answer_later",
        save_caller_answer_later,
    ),
];

fn call_round_trip(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let (t, _) = s.helper(threads::echo_server, e, 1);
    for round in 0..3u64 {
        let m = ipc(Syscall::Call, e, 5 + round, &[1, 2, round], &[]);
        check_eq!(m.label, 6 + round);
        check_eq!(m.len, 3);
        check_eq!(&m.words[..3], &[1, 2, round]);
    }
    s.delete(t);
    Ok(())
}

fn ten_words(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let (t, _) = s.helper(threads::echo_server, e, 1);
    let words: [u64; 10] = core::array::from_fn(|i| 1000 + i as u64);
    let m = ipc(Syscall::Call, e, 1, &words, &[]);
    check_eq!(m.len, 10);
    check_eq!(&m.words[..10], &words);
    s.delete(t);
    Ok(())
}

fn badge(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let b = s.mint(e, Rights::ALL, 77);
    let (t, _) = s.helper(threads::receiver, e, 1);
    // The sender names the capability; it cannot choose the badge.
    ipc(Syscall::Send, b, 7, &[42], &[]);
    let m = recv(s.fault_ep);
    check_eq!(m.label, report::RECEIVED);
    check_eq!(&m.words[..4], &[77, 7, 1, 42]);
    s.delete(t);
    let (t, _) = s.helper(threads::receiver, e, 1);
    ipc(Syscall::Send, e, 8, &[43], &[]);
    let m = recv(s.fault_ep);
    check_eq!(&m.words[..4], &[0, 8, 1, 43]);
    s.delete(t);
    Ok(())
}

fn send_blocks(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let b = s.mint(e, Rights::ALL, 5);
    // The sender runs at once and blocks: nobody receives yet.
    let (t, _) = s.helper(threads::sender, b, 1);
    let m = recv(e);
    check_eq!((m.badge, m.label, m.len, m.words[0]), (5, 7, 1, 42));
    // Released, it reports.
    check_eq!(recv(s.fault_ep).label, report::DONE);
    s.delete(t);
    Ok(())
}

fn nbsend_dropped(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    ipc(Syscall::NBSend, e, 1, &[1], &[]);
    // Nothing is queued: a poll finds no sender.
    let m = poll(e);
    check_eq!((m.badge, m.label, m.len), (0, 0, 0));
    Ok(())
}

fn reply_twice(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let (t, _) = s.helper(threads::double_replier, e, 1);
    let m = ipc(Syscall::Call, e, 1, &[], &[]);
    check_eq!((m.label, m.len, m.words[0]), (1, 1, 11));
    // The second reply found no caller and did nothing; the helper went
    // on and reported.
    check_eq!(recv(s.fault_ep).label, report::DONE);
    s.delete(t);
    Ok(())
}

fn reply_no_caller(_s: &mut Suite) -> T {
    reply(3, &[1, 2]);
    reply(3, &[]);
    check!(true);
    Ok(())
}

fn grant(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let n = s.retype(O::Notification, 0, 1);
    let (t, buf, _) = s.helper_tcb(1);
    let slot = s.slot();
    // The receiver's IPC buffer names its receive slot (IPC-14).
    poke(buf + 1000, cptr(slot).raw());
    s.start(t, threads::receiver, buf | e);
    ipc(Syscall::Send, e, 2, &[9], &[n]);
    let m = recv(s.fault_ep);
    check_eq!(&m.words[..4], &[0, 2, 1, 9]);
    // The capability arrived: signal through it, poll the original.
    ipc(Syscall::Send, slot, 0, &[], &[]);
    let d = s.slot();
    check!(call(MY_CNODE, Label::CNodeCopy, &[d, slot, 15], &[MY_CNODE]).is_ok());
    s.delete(t);
    Ok(())
}

fn no_grant(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let weak = s.copy(e, Rights::READ_WRITE);
    let n = s.retype(O::Notification, 0, 1);
    let (t, buf, _) = s.helper_tcb(1);
    let slot = s.slot();
    poke(buf + 1000, cptr(slot).raw());
    s.start(t, threads::receiver, buf | e);
    ipc(Syscall::Send, weak, 2, &[9], &[n]);
    let m = recv(s.fault_ep);
    check_eq!(&m.words[..4], &[0, 2, 1, 9]);
    let d = s.slot();
    check!(call(MY_CNODE, Label::CNodeCopy, &[d, slot, 15], &[MY_CNODE]).is_err());
    s.delete(t);
    Ok(())
}

fn no_ipc_buffer(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let (server, _) = s.helper(threads::echo_server, e, 1);
    let (t, buf, frame) = s.helper_tcb(2);
    // Revoking the frame capability deletes the TCB's copy of it: the
    // thread has no IPC buffer any more (MSG-5), though the page stays
    // mapped for it.
    check!(call(MY_CNODE, Label::CNodeRevoke, &[frame], &[]).is_ok());
    s.start(t, threads::caller10, buf | e);
    let m = recv(s.fault_ep);
    check_eq!(m.label, report::REPLIED);
    // Sent as 10 words, delivered as 4; echoed as 4.
    check_eq!(&m.words[..3], &[10, 4, 100]);
    s.delete(t);
    s.delete(server);
    Ok(())
}

fn signal_poll(s: &mut Suite) -> T {
    let n = s.retype(O::Notification, 0, 1);
    let b = s.mint(n, Rights::ALL, 0b101);
    ipc(Syscall::Send, b, 0, &[], &[]);
    check_eq!(poll(n).badge, 0b101);
    // Taken: the next poll finds nothing.
    check_eq!(poll(n).badge, 0);
    Ok(())
}

fn signals_or(s: &mut Suite) -> T {
    let n = s.retype(O::Notification, 0, 1);
    let b1 = s.mint(n, Rights::ALL, 1);
    let b4 = s.mint(n, Rights::ALL, 4);
    ipc(Syscall::Send, b1, 0, &[], &[]);
    ipc(Syscall::NBSend, b4, 0, &[], &[]);
    ipc(Syscall::Send, b1, 0, &[], &[]);
    check_eq!(poll(n).badge, 5);
    Ok(())
}

fn wait_wakes(s: &mut Suite) -> T {
    let n = s.retype(O::Notification, 0, 1);
    let b = s.mint(n, Rights::ALL, 3);
    let (t, _) = s.helper(threads::receiver, n, 1);
    ipc(Syscall::Send, b, 0, &[], &[]);
    let m = recv(s.fault_ep);
    check_eq!(m.label, report::RECEIVED);
    check_eq!(m.words[0], 3);
    s.delete(t);
    Ok(())
}

fn bound_wakes(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let n = s.retype(O::Notification, 0, 1);
    let b = s.mint(n, Rights::ALL, 9);
    let (t, buf, _) = s.helper_tcb(1);
    check!(call(t, Label::TcbBindNotification, &[], &[n]).is_ok());
    s.start(t, threads::receiver, buf | e);
    // Blocked on the endpoint, it takes the bound notification's signal.
    ipc(Syscall::Send, b, 0, &[], &[]);
    let m = recv(s.fault_ep);
    check_eq!(m.label, report::RECEIVED);
    check_eq!(&m.words[..2], &[9, 0]);
    s.delete(t);
    Ok(())
}

fn delete_ep_receiver(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let (t, _) = s.helper(threads::receiver, e, 21);
    // Deleting the only capability destroys the endpoint: the receiver
    // restarts its Recv, whose lookup now fails: a capability fault in
    // the receive phase reaches the fault endpoint.
    s.delete(e);
    let m = recv(s.fault_ep);
    check_eq!(m.badge, 21);
    check_eq!(m.label, FaultLabel::CapFault as u64);
    check_eq!(m.words[1], cptr(e).raw());
    check_eq!(m.words[2], 1);
    s.delete(t);
    Ok(())
}

fn delete_blocked_sender(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let (t, _) = s.helper(threads::sender, e, 1);
    // The sender is queued on `e`; deleting its thread takes it out.
    s.delete(t);
    let m = poll(e);
    check_eq!((m.label, m.len), (0, 0));
    Ok(())
}

fn revoke_keeps_sender(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let c = s.copy(e, Rights::ALL);
    let (t, _) = s.helper(threads::sender, c, 22);
    // Revoking the copies does not destroy the endpoint: the queued
    // message is still delivered.
    check!(call(MY_CNODE, Label::CNodeRevoke, &[e], &[]).is_ok());
    let m = recv(e);
    check_eq!((m.label, m.words[0]), (7, 42));
    check_eq!(recv(s.fault_ep).label, report::DONE);
    s.delete(t);
    Ok(())
}

fn cancel_badged_restarts(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let b = s.mint(e, Rights::ALL, 6);
    let (t, _) = s.helper(threads::sender, b, 23);
    // Revoke the badge, cancel its sends: the sender restarts its Send on
    // the deleted capability and takes a capability fault.
    check!(call(MY_CNODE, Label::CNodeDelete, &[b], &[]).is_ok());
    check!(call(MY_CNODE, Label::CNodeCancelBadgedSends, &[e], &[]).is_ok());
    let m = poll(e);
    check_eq!(m.label, 7);
    // The unbadged cancel did nothing (b = 0): the message was still
    // queued and the poll took it. Now with a badged capability.
    check_eq!(recv(s.fault_ep).label, report::DONE);
    s.delete(t);
    let b2 = s.mint(e, Rights::ALL, 8);
    let (t2, _) = s.helper(threads::sender, b2, 24);
    let b3 = s.mint(e, Rights::ALL, 8);
    check!(call(MY_CNODE, Label::CNodeDelete, &[b2], &[]).is_ok());
    check!(call(MY_CNODE, Label::CNodeCancelBadgedSends, &[b3], &[]).is_ok());
    let m = recv(s.fault_ep);
    check_eq!(m.badge, 24);
    check_eq!(m.label, FaultLabel::CapFault as u64);
    check_eq!(poll(e).len, 0);
    s.delete(t2);
    Ok(())
}

fn save_caller_answer_later(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    // The caller runs at once and blocks in its Call on `e`.
    let (t, _) = s.helper(threads::caller10, e, 25);
    let m = recv(e);
    check_eq!((m.label, m.len), (9, 10));
    // Move the reply capability out (CNODE-10): the reply slot is empty
    // again, so a plain Reply now reaches nobody …
    let saved = s.slot();
    check!(call(MY_CNODE, Label::CNodeSaveCaller, &[saved], &[]).is_ok());
    reply(77, &[1]);
    // … and the caller is still waiting: answer it later through the
    // saved capability with Send (IPC-18).
    ipc(Syscall::Send, saved, 5, &[8, 9], &[]);
    let m = recv(s.fault_ep);
    check_eq!(m.label, report::REPLIED);
    check_eq!(&m.words[..3], &[5, 2, 8]);
    // The capability was used up: the slot is empty.
    let d = s.slot();
    check!(call(MY_CNODE, Label::CNodeCopy, &[d, saved, 15], &[MY_CNODE]).is_err());
    s.delete(t);
    Ok(())
}
