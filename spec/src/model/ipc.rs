//! Endpoints, replies, notifications and faults (spec: IPC-1 … IPC-20,
//! NTFN-1 … NTFN-9, FLT-1 … FLT-8, SYS-11 … SYS-13).

use abi::error::LookupFailureKind;
use abi::fault::FaultLabel;
use abi::rights::Rights;
use alloc::vec::Vec;

use super::regs::{CAPS, RECEIVE_SLOT};
use super::{CSPACE_ROOT, FAULT_EP_SLOT, Model, REPLY_SLOT, failure, tcb_slot};
use crate::entry::Outcome;
use crate::state::{
    Addr, Cap, EndpointState, Fault, NotificationState, Object, Slot, SlotRef, ThreadState,
};

/// What a sender's capability contributes to a send (IPC-5).
#[derive(Clone, Copy, Debug)]
pub(super) struct SendCap {
    /// Its badge.
    pub badge: u64,
    /// It has Grant.
    pub grant: bool,
    /// It has GrantReply.
    pub grant_reply: bool,
}

impl Model {
    fn endpoint_mut(&mut self, ep: Addr) -> Option<&mut EndpointState> {
        match self.state.objects.get_mut(&ep) {
            Some(Object::Endpoint(es)) => Some(es),
            _ => None,
        }
    }

    /// Remove the head of `ep`'s queue if it is `Receiving` (or
    /// `Sending`, per `sending`); an emptied queue makes it `Idle`.
    fn pop_queue(&mut self, ep: Addr, sending: bool) -> Option<Addr> {
        let es = self.endpoint_mut(ep)?;
        let t = match es {
            EndpointState::Sending(q) if sending => q.remove(0),
            EndpointState::Receiving(q) if !sending => q.remove(0),
            _ => return None,
        };
        if matches!(es, EndpointState::Sending(q) | EndpointState::Receiving(q) if q.is_empty()) {
            *es = EndpointState::Idle;
        }
        Some(t)
    }

    /// Append `t` to `ep`'s send or receive queue (IPC-5, IPC-10 step 4).
    fn push_queue(&mut self, ep: Addr, t: Addr, sending: bool) {
        let Some(es) = self.endpoint_mut(ep) else {
            return;
        };
        match es {
            EndpointState::Sending(q) if sending => q.push(t),
            EndpointState::Receiving(q) if !sending => q.push(t),
            _ => {
                *es = if sending {
                    EndpointState::Sending(alloc::vec![t])
                } else {
                    EndpointState::Receiving(alloc::vec![t])
                }
            }
        }
    }

    /// Take `t` out of the endpoint or notification queue it is in, if
    /// any (TCB-10, NTFN-3, TCB-13); an emptied queue makes it `Idle`.
    pub(super) fn leave_queue(&mut self, t: Addr) {
        match self.state_of(t) {
            Some(ThreadState::BlockedOnSend { ep, .. } | ThreadState::BlockedOnRecv { ep, .. }) => {
                if let Some(es) = self.endpoint_mut(ep)
                    && let EndpointState::Sending(q) | EndpointState::Receiving(q) = es
                {
                    q.retain(|&x| x != t);
                    if q.is_empty() {
                        *es = EndpointState::Idle;
                    }
                }
            }
            Some(ThreadState::BlockedOnNotification { ntfn }) => {
                if let Some(Object::Notification(n)) = self.state.objects.get_mut(&ntfn)
                    && let NotificationState::Waiting(q) = &mut n.state
                {
                    q.retain(|&x| x != t);
                    if q.is_empty() {
                        n.state = NotificationState::Idle;
                    }
                }
            }
            _ => {}
        }
    }

    // ----- sending ------------------------------------------------------

    /// Send, NBSend or Call by `t` through an endpoint capability (IPC-4,
    /// IPC-5, IPC-9); also a fault's send (FLT-3, with `t.fault` set).
    pub(super) fn send_ipc(&mut self, t: Addr, ep: Addr, c: SendCap, call: bool, blocking: bool) {
        if let Some(r) = self.pop_queue(ep, false) {
            // spec: IPC-4.
            let g = match self.state_of(r) {
                Some(ThreadState::BlockedOnRecv { grant, .. }) => grant,
                _ => false,
            };
            self.deliver(t, r, c.badge, c.grant, ep);
            self.wake(r);
            if call {
                // spec: IPC-9.
                self.make_reply(t, r, g);
            }
        } else if blocking {
            // spec: IPC-5.
            self.set_state(
                t,
                ThreadState::BlockedOnSend {
                    ep,
                    badge: c.badge,
                    grant: c.grant,
                    grant_reply: c.grant_reply,
                    call,
                },
            );
            self.push_queue(ep, t, true);
        }
        // spec: IPC-5 — NBSend with no receiver: the message is dropped.
    }

    /// Deliver `s`'s message (or its fault message, IPC-8) to `r` through
    /// endpoint `ep` with `badge` (MSG-6, IPC-13).
    fn deliver(&mut self, s: Addr, r: Addr, badge: u64, grant: bool, ep: Addr) {
        if let Some(f) = self.tcb(s).and_then(|tcb| tcb.fault) {
            // spec: IPC-8, FLT-4, FLT-5 — no capabilities.
            let (label, words) = self.fault_message(s, f);
            self.write_message(r, label, &words, badge, 0, 0);
            return;
        }
        let msg = self.read_message(s);
        let (extra, unwrapped) = if grant {
            self.transfer_caps(s, r, &msg.caps, Some(ep))
        } else {
            (0, 0)
        };
        self.write_message(r, msg.label, &msg.words, badge, extra, unwrapped);
    }

    /// Capability transfer (IPC-13, IPC-14, IPC-15): the receiver's
    /// `extra_caps` and `caps_unwrapped`.
    ///
    /// reading: a receiver without an IPC buffer gets `extra_caps = 0`
    /// and nothing is processed (it has nowhere to receive badges or a
    /// slot), as in seL4's `transferCaps`.
    fn transfer_caps(&mut self, s: Addr, r: Addr, caps: &[u64], ep: Option<Addr>) -> (u64, u64) {
        if self.buffer(r).is_none() {
            return (0, 0);
        }
        let root = tcb_slot(s, CSPACE_ROOT);
        let (mut n, mut bits, mut transferred) = (0, 0, false);
        for (i, &cptr) in caps.iter().enumerate() {
            // spec: IPC-13 rule 1.
            let Ok((src, cap)) = self.lookup_cap(root, cptr) else {
                break;
            };
            // spec: IPC-13 rule 2 — unwrapped.
            if let (Some(e), Cap::Endpoint { obj, badge, .. }) = (ep, cap)
                && obj == e
            {
                self.buf_write(r, CAPS + i, badge);
                bits |= 1 << i;
                n += 1;
                continue;
            }
            // spec: IPC-13 rule 3, IPC-14, IPC-15.
            if transferred || !self.derivable(&cap) {
                break;
            }
            let Some(dest) = self.receive_slot(r) else {
                break;
            };
            if self.cap(dest).is_some() {
                break;
            }
            self.insert_child(src, dest, unmapped(cap));
            transferred = true;
            n += 1;
        }
        (n, bits)
    }

    /// The receive slot of `r` (IPC-14).
    fn receive_slot(&self, r: Addr) -> Option<SlotRef> {
        let word = self.buf_read(r, RECEIVE_SLOT);
        if self.buffer(r).is_none() || word == 0 {
            return None;
        }
        self.resolve(tcb_slot(r, CSPACE_ROOT), word).ok()
    }

    /// IPC-9: `Reply { caller: s, can_grant: g }` in `r`'s Reply slot;
    /// `s` waits for it.
    fn make_reply(&mut self, s: Addr, r: Addr, g: bool) {
        let at = tcb_slot(r, REPLY_SLOT);
        // IPC-10 step 1 emptied the slot; it cannot have been refilled
        // (CNode invocations name CNode slots only).
        debug_assert!(
            self.cap(at).is_none(),
            "IPC-9: Reply slot of {r:#x} occupied"
        );
        self.state.slots.insert(
            at,
            Slot {
                cap: Cap::Reply {
                    caller: s,
                    can_grant: g,
                },
                parent: None,
                children: Vec::new(),
            },
        );
        if let Some(tcb) = self.tcb_mut(s) {
            tcb.state = ThreadState::BlockedOnReply;
            tcb.reply_at = Some(at);
        }
        self.dequeue(s);
    }

    // ----- receiving ----------------------------------------------------

    /// Recv and NBRecv by `t` (SYS-11).
    pub(super) fn receive(&mut self, t: Addr, blocking: bool) -> Outcome {
        let l = self.layout();
        let cptr = self.reg(t, l.cptr);
        let cap_fault = |failure| Fault::Cap {
            address: cptr,
            in_receive_phase: true,
            failure,
        };
        let missing = failure(LookupFailureKind::MissingCapability, 0, 0);
        match self.lookup_cap(tcb_slot(t, CSPACE_ROOT), cptr) {
            Err(f) => self.fault(t, cap_fault(f)),
            Ok((_, Cap::Endpoint { obj, rights, .. })) if rights.contains(Rights::READ) => {
                self.receive_endpoint(t, obj, rights.contains(Rights::GRANT), blocking);
                Outcome::Other
            }
            Ok((_, Cap::Notification { obj, rights, .. })) if rights.contains(Rights::READ) => {
                // spec: NTFN-4, NTFN-5 — the binding check.
                let bound = match self.state.objects.get(&obj) {
                    Some(Object::Notification(n)) => n.bound_tcb,
                    _ => None,
                };
                if bound.is_some_and(|b| b != t) {
                    return self.fault(t, cap_fault(missing));
                }
                self.wait(t, obj, blocking);
                Outcome::Other
            }
            Ok(_) => self.fault(t, cap_fault(missing)),
        }
    }

    /// IPC-10: Recv or NBRecv by `r` on endpoint `ep` through a
    /// capability whose Grant right is `grant`.
    fn receive_endpoint(&mut self, r: Addr, ep: Addr, grant: bool, blocking: bool) {
        // spec: IPC-10 step 1 — a Reply capability's deletion is one step
        // (DER-7, DER-12: IPC-20).
        let reply = tcb_slot(r, REPLY_SLOT);
        if self.cap(reply).is_some() {
            let zombie = self.deletion_effect(reply);
            debug_assert!(!zombie);
            self.remove_slot(reply);
        }
        // spec: IPC-10 step 2, NTFN-7.
        if let Some(n) = self.tcb(r).and_then(|tcb| tcb.bound_notification)
            && let Some(Object::Notification(ntfn)) = self.state.objects.get_mut(&n)
            && let NotificationState::Active(w) = ntfn.state
        {
            ntfn.state = NotificationState::Idle;
            self.write_signal(r, w);
            return;
        }
        // spec: IPC-10 step 3.
        if let Some(s) = self.pop_queue(ep, true) {
            let Some(ThreadState::BlockedOnSend {
                badge,
                grant: s_grant,
                call,
                ..
            }) = self.state_of(s)
            else {
                unreachable!("INV-20: {s:#x} in a send queue is not sending");
            };
            self.deliver(s, r, badge, s_grant, ep);
            if call {
                self.make_reply(s, r, grant);
            } else {
                self.wake(s);
            }
            return;
        }
        // spec: IPC-10 step 4.
        if blocking {
            self.set_state(r, ThreadState::BlockedOnRecv { ep, grant });
            self.push_queue(ep, r, false);
        } else {
            self.write_signal(r, 0);
        }
    }

    /// NTFN-4 Wait and NTFN-5 Poll by `t` on notification `n` (the
    /// binding check done).
    fn wait(&mut self, t: Addr, n: Addr, blocking: bool) {
        let Some(Object::Notification(ntfn)) = self.state.objects.get_mut(&n) else {
            return;
        };
        match &mut ntfn.state {
            NotificationState::Active(w) => {
                let w = *w;
                ntfn.state = NotificationState::Idle;
                self.write_signal(t, w);
            }
            _ if !blocking => self.write_signal(t, 0),
            NotificationState::Waiting(q) => {
                q.push(t);
                self.set_state(t, ThreadState::BlockedOnNotification { ntfn: n });
            }
            NotificationState::Idle => {
                ntfn.state = NotificationState::Waiting(alloc::vec![t]);
                self.set_state(t, ThreadState::BlockedOnNotification { ntfn: n });
            }
        }
    }

    /// NTFN-3 Signal on notification `n` with badge `b`.
    pub(super) fn signal(&mut self, n: Addr, b: u64) {
        let Some(Object::Notification(ntfn)) = self.state.objects.get_mut(&n) else {
            return;
        };
        let bound = ntfn.bound_tcb;
        let woken = match &mut ntfn.state {
            NotificationState::Waiting(q) => {
                let t = q.remove(0);
                if q.is_empty() {
                    ntfn.state = NotificationState::Idle;
                }
                Some(t)
            }
            NotificationState::Active(w) => {
                *w |= b;
                None
            }
            NotificationState::Idle => {
                if let Some(t) = bound
                    && matches!(self.state_of(t), Some(ThreadState::BlockedOnRecv { .. }))
                {
                    self.leave_queue(t);
                    Some(t)
                } else {
                    if let Some(Object::Notification(ntfn)) = self.state.objects.get_mut(&n) {
                        ntfn.state = NotificationState::Active(b);
                    }
                    None
                }
            }
        };
        if let Some(t) = woken {
            self.write_signal(t, b);
            self.wake(t);
        }
    }

    // ----- replies ------------------------------------------------------

    /// SYS-12 Reply by `t`: deliver the reply in its Reply slot, if any.
    pub(super) fn reply(&mut self, t: Addr) {
        self.deliver_reply(t, tcb_slot(t, REPLY_SLOT));
    }

    /// IPC-17: deliver the reply held in slot `at` with `replier`'s
    /// message.
    ///
    /// reading: when the caller has a pending fault, its registers are
    /// not written (FLT-7 interprets the reply instead), as in seL4's
    /// `doReplyTransfer`; writing the badge and info registers first would
    /// break the re-execution of a faulting system call.
    pub(super) fn deliver_reply(&mut self, replier: Addr, at: SlotRef) {
        let Some(Cap::Reply { caller, can_grant }) = self.cap(at) else {
            return;
        };
        let msg = self.read_message(replier);
        let fault = self.tcb(caller).and_then(|tcb| tcb.fault);
        if fault.is_none() {
            let (extra, unwrapped) = if can_grant {
                self.transfer_caps(replier, caller, &msg.caps, None)
            } else {
                (0, 0)
            };
            self.write_message(caller, msg.label, &msg.words, 0, extra, unwrapped);
        }
        self.remove_slot(at);
        if let Some(tcb) = self.tcb_mut(caller) {
            tcb.reply_at = None;
        }
        match fault {
            Some(f) => self.fault_reply(caller, f, msg.label, &msg.words),
            None => self.wake(caller),
        }
    }

    /// FLT-7: the handler's reply (label, words) reaches `c`, whose
    /// pending fault is `f`.
    ///
    /// reading: the program counter and stack pointer a `UserException`
    /// reply sets are written as WriteRegisters would (TCB-5: an invalid
    /// address value leaves the register unchanged), like the
    /// `UnknownSyscall` case.
    fn fault_reply(&mut self, c: Addr, f: Fault, label: u64, words: &[u64]) {
        let l = self.layout();
        if label != 0 {
            self.set_inactive(c);
            return;
        }
        let write = |m: &mut Model, i: usize, v: u64| {
            if let Some(v) = l.written(i, v) {
                m.set_reg(c, i, v);
            }
        };
        match f {
            Fault::UserException { .. } if !words.is_empty() => {
                write(self, l.pc, words[0]);
                if let Some(&sp) = words.get(1) {
                    write(self, l.sp, sp);
                }
            }
            Fault::UnknownSyscall { .. } if !words.is_empty() => {
                for (i, &w) in words.iter().take(l.words).enumerate() {
                    write(self, i, w);
                }
            }
            _ => {
                self.set_restart(c);
                return;
            }
        }
        if let Some(tcb) = self.tcb_mut(c) {
            tcb.fault = None;
        }
        self.wake(c);
    }

    /// IPC-20: the Reply capability naming `caller` was deleted.
    pub(super) fn lost_reply(&mut self, caller: Addr) {
        let Some(tcb) = self.tcb_mut(caller) else {
            return;
        };
        tcb.reply_at = None;
        if tcb.fault.is_some() {
            self.set_inactive(caller);
        } else {
            let no_reply = abi::error::Error::NoReply.code();
            self.write_message(caller, no_reply, &[], 0, 0, 0);
            self.wake(caller);
        }
    }

    // ----- faults -------------------------------------------------------

    /// FLT-1, FLT-3: `t` takes fault `f`: delivered through its fault
    /// endpoint as a Call, or `t` stops.
    pub(super) fn raise_fault(&mut self, t: Addr, f: Fault) {
        if let Some(tcb) = self.tcb_mut(t) {
            tcb.fault = Some(f);
        }
        match self.cap(tcb_slot(t, FAULT_EP_SLOT)) {
            Some(Cap::Endpoint { obj, badge, .. }) => self.send_ipc(
                t,
                obj,
                SendCap {
                    badge,
                    grant: false,
                    grant_reply: true,
                },
                true,
                true,
            ),
            // INV-13: only an endpoint capability can be there.
            _ => self.set_inactive(t),
        }
    }

    /// The fault message of `t` for fault `f` (FLT-4, FLT-5): label and
    /// words, from its registers now. The fault PC (FLT-2, ABI-17) is the
    /// restart address.
    pub(super) fn fault_message(&self, t: Addr, f: Fault) -> (u64, Vec<u64>) {
        let l = self.layout();
        let pc = self.restart_address(t);
        match f {
            Fault::Cap {
                address,
                in_receive_phase,
                failure,
            } => {
                let [kind, left, found] = failure.to_words();
                (
                    FaultLabel::CapFault as u64,
                    alloc::vec![pc, address, u64::from(in_receive_phase), kind, left, found],
                )
            }
            Fault::Vm {
                address,
                instruction,
                status,
            } => (
                FaultLabel::VmFault as u64,
                alloc::vec![pc, address, u64::from(instruction), status],
            ),
            Fault::UserException { number, code } => (
                FaultLabel::UserException as u64,
                alloc::vec![pc, self.reg(t, l.sp), self.reg(t, l.flags), number, code],
            ),
            Fault::UnknownSyscall { number } => {
                let mut words = self
                    .tcb(t)
                    .map(|tcb| tcb.context.clone())
                    .unwrap_or_default();
                if let Some(p) = words.get_mut(l.pc) {
                    *p = pc;
                }
                words.push(number);
                (FaultLabel::UnknownSyscall as u64, words)
            }
        }
    }
}

/// A capability as a copy of it is made: a Frame copy is unmapped
/// (IPC-13, CNODE-2).
pub(super) fn unmapped(cap: Cap) -> Cap {
    match cap {
        Cap::Frame { obj, rights, .. } => Cap::Frame {
            obj,
            rights,
            mapping: None,
        },
        other => other,
    }
}
