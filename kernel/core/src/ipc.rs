//! Message passing: endpoints, the one-shot reply, capability transfer,
//! notifications, and faults delivered as messages (spec: IPC-1 … IPC-20,
//! NTFN-1 … NTFN-9, FLT-1 … FLT-8).

use crate::cap::Cap;
use crate::fault::Fault;
use crate::kernel::{Kernel, Outcome};
use crate::mem::{Memory, PAddr};
use crate::message::{CAPS_WORD, RECEIVE_SLOT_WORD};
use crate::object::endpoint;
use crate::object::notification::{get_ntfn, ntfn_mut};
use crate::object::tcb::{self, QUEUE_LINKS_AT, ThreadState};
use crate::slot;
use abi::error::{Error, LookupFailureKind};
use abi::invocation::TcbSlot;
use abi::msginfo::MAX_LENGTH;
use abi::rights::Rights;

/// Where a message goes and what it may carry.
struct Transfer {
    /// The badge the receiver sees.
    badge: u64,
    /// Capabilities may travel (spec: IPC-13).
    grant: bool,
    /// The endpoint it travels through (unwrapping, IPC-13 rule 2).
    via: Option<PAddr>,
}

impl<M: Memory> Kernel<M> {
    fn reply_slot(t: PAddr) -> PAddr {
        tcb::slot_addr(t, TcbSlot::Reply as u64)
    }

    /// Send, NBSend or Call through an endpoint (spec: IPC-4, IPC-5).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_ipc(
        &mut self,
        s: PAddr,
        ep: PAddr,
        badge: u64,
        grant: bool,
        grant_reply: bool,
        call: bool,
        blocking: bool,
    ) {
        let mut q = endpoint::queue(&self.mem, ep);
        let head = q.head;
        if head != 0
            && let ThreadState::BlockedOnRecv { grant: rgrant, .. } = tcb::state(&self.mem, head)
        {
            q.pop_front(&mut self.mem, QUEUE_LINKS_AT);
            endpoint::set_queue(&mut self.mem, ep, q);
            let t = Transfer {
                badge,
                grant,
                via: Some(ep),
            };
            self.transfer(s, head, &t);
            if call {
                self.make_reply(s, head, rgrant);
            }
            self.wake(head, ThreadState::Running);
        } else if blocking {
            self.set_blocked(
                s,
                ThreadState::BlockedOnSend {
                    ep,
                    badge,
                    grant,
                    grant_reply,
                    call,
                },
            );
            q.push_back(&mut self.mem, s, QUEUE_LINKS_AT);
            endpoint::set_queue(&mut self.mem, ep, q);
        }
    }

    /// IPC-9: the receiver holds a Reply capability to the caller, which
    /// waits for it.
    fn make_reply(&mut self, caller: PAddr, receiver: PAddr, can_grant: bool) {
        let at = Self::reply_slot(receiver);
        debug_assert!(slot::cap(&self.mem, at).is_null(), "IPC-10 emptied it");
        slot::insert_root(&mut self.mem, at, Cap::Reply { caller, can_grant }, None);
        self.set_blocked(caller, ThreadState::BlockedOnReply);
        tcb::tcb_mut(&mut self.mem, caller).reply_at = at;
    }

    /// Deliver `s`'s message (or its fault, IPC-8) to `r` (spec: MSG-6,
    /// MSG-7, IPC-13).
    fn transfer(&mut self, s: PAddr, r: PAddr, t: &Transfer) {
        let fault = Fault::decode(tcb::tcb(&self.mem, s).fault);
        if let Some(f) = fault {
            let (label, len, words) = self.fault_message(s, f);
            self.write_message(r, label, &words[..len], 0, 0, t.badge);
            return;
        }
        let msg = self.read_message(s);
        let (mut count, mut unwrapped, mut transferred) = (0u64, 0u64, false);
        // A receiver without an IPC buffer takes no capabilities (IPC-13).
        let rbuf = self.ipc_buffer(r);
        if t.grant && rbuf.is_some() {
            for i in 0..msg.extra {
                let Ok((from, cap)) = self.lookup(s, self.extra_cptr(s, i)) else {
                    break;
                };
                if let (Cap::Endpoint { obj, badge, .. }, Some(ep)) = (cap, t.via)
                    && obj == ep
                {
                    // Rule 2: unwrapped, nothing copied.
                    if let Some(b) = rbuf {
                        self.set_buffer_word(b, CAPS_WORD + i, badge);
                    }
                    unwrapped |= 1 << i;
                    count += 1;
                    continue;
                }
                let Some(dest) = self.receive_slot(r) else {
                    break;
                };
                if transferred || !slot::cap(&self.mem, dest).is_null() || !self.derivable(cap) {
                    break;
                }
                slot::insert_child(&mut self.mem, from, dest, cap.derived(Rights::ALL));
                transferred = true;
                count += 1;
            }
        }
        self.write_message(
            r,
            msg.label,
            &msg.words[..msg.length],
            count,
            unwrapped,
            t.badge,
        );
    }

    /// The receive slot of `r` (spec: IPC-14), if it has one.
    fn receive_slot(&self, r: PAddr) -> Option<PAddr> {
        let b = self.ipc_buffer(r)?;
        let cptr = self.buffer_word(b, RECEIVE_SLOT_WORD);
        if cptr == 0 {
            return None;
        }
        self.lookup_slot(r, cptr).ok()
    }

    /// Recv and NBRecv (spec: SYS-11).
    pub(crate) fn receive(&mut self, r: PAddr, blocking: bool) -> Outcome {
        let cptr = self.reg(r, self.layout.cptr);
        let not_a_receiver = crate::kernel::failure(LookupFailureKind::MissingCapability, 0, 0);
        let fail = match self.lookup(r, cptr) {
            Err(f) => f,
            Ok((_, Cap::Endpoint { obj, rights, .. })) if rights.contains(Rights::READ) => {
                self.recv_ipc(r, obj, rights.contains(Rights::GRANT), blocking);
                return Outcome::Other;
            }
            Ok((_, Cap::Notification { obj, rights, .. })) if rights.contains(Rights::READ) => {
                let bound = get_ntfn(&self.mem, obj).bound();
                if bound == 0 || bound == r {
                    self.wait(r, obj, blocking);
                    return Outcome::Other;
                }
                not_a_receiver // spec: NTFN-4, bound to another thread
            }
            Ok(_) => not_a_receiver,
        };
        let f = Fault::Cap {
            address: cptr,
            in_receive_phase: true,
            failure: fail,
        };
        self.raise_fault(r, f);
        Outcome::Fault(f)
    }

    /// IPC-10 on endpoint `ep` by `r`.
    fn recv_ipc(&mut self, r: PAddr, ep: PAddr, grant: bool, blocking: bool) {
        // 1: a reply `r` did not send is lost.
        let rs = Self::reply_slot(r);
        if let Cap::Reply { caller, .. } = slot::cap(&self.mem, rs) {
            slot::remove(&mut self.mem, rs);
            self.lose_reply(caller);
        }
        // 2: a pending signal on the bound notification (NTFN-7).
        let bound = tcb::tcb(&self.mem, r).bound_notification;
        if bound != 0 && get_ntfn(&self.mem, bound).is_active() {
            self.take_signal(r, bound);
            return;
        }
        let mut q = endpoint::queue(&self.mem, ep);
        let head = q.head;
        if head != 0
            && let ThreadState::BlockedOnSend {
                badge,
                grant: sgrant,
                call,
                ..
            } = tcb::state(&self.mem, head)
        {
            // 3
            q.pop_front(&mut self.mem, QUEUE_LINKS_AT);
            endpoint::set_queue(&mut self.mem, ep, q);
            let t = Transfer {
                badge,
                grant: sgrant,
                via: Some(ep),
            };
            self.transfer(head, r, &t);
            if call {
                self.make_reply(head, r, grant);
            } else {
                self.wake(head, ThreadState::Running);
            }
        } else if blocking {
            // 4
            self.set_blocked(r, ThreadState::BlockedOnRecv { ep, grant });
            q.push_back(&mut self.mem, r, QUEUE_LINKS_AT);
            endpoint::set_queue(&mut self.mem, ep, q);
        } else {
            self.set_reg(r, self.layout.cptr, 0);
            self.set_reg(r, self.layout.info, 0);
        }
    }

    /// `r` takes the signal pending on its bound notification `n`
    /// (spec: NTFN-7): badge = the word, info 0; `n` becomes Idle.
    pub(crate) fn take_signal(&mut self, r: PAddr, n: PAddr) {
        let o = ntfn_mut(&mut self.mem, n);
        let w = core::mem::take(&mut o.word);
        o.bound_and_active &= !1;
        self.set_reg(r, self.layout.cptr, w);
        self.set_reg(r, self.layout.info, 0);
    }

    /// Wait and Poll (spec: NTFN-4, NTFN-5).
    fn wait(&mut self, t: PAddr, n: PAddr, blocking: bool) {
        if get_ntfn(&self.mem, n).is_active() {
            self.take_signal(t, n);
        } else if blocking {
            self.set_blocked(t, ThreadState::BlockedOnNotification { ntfn: n });
            let mut q = get_ntfn(&self.mem, n).queue;
            q.push_back(&mut self.mem, t, QUEUE_LINKS_AT);
            ntfn_mut(&mut self.mem, n).queue = q;
        } else {
            self.set_reg(t, self.layout.cptr, 0);
            self.set_reg(t, self.layout.info, 0);
        }
    }

    /// Signal notification `n` with badge `b` (spec: NTFN-3).
    pub(crate) fn signal(&mut self, n: PAddr, b: u64) {
        let o = get_ntfn(&self.mem, n);
        let mut q = o.queue;
        if let Some(t) = q.pop_front(&mut self.mem, QUEUE_LINKS_AT) {
            ntfn_mut(&mut self.mem, n).queue = q;
            self.set_reg(t, self.layout.cptr, b);
            self.set_reg(t, self.layout.info, 0);
            self.wake(t, ThreadState::Running);
            return;
        }
        let bound = o.bound();
        if !o.is_active()
            && bound != 0
            && let ThreadState::BlockedOnRecv { ep, .. } = tcb::state(&self.mem, bound)
        {
            let mut eq = endpoint::queue(&self.mem, ep);
            eq.remove(&mut self.mem, bound, QUEUE_LINKS_AT);
            endpoint::set_queue(&mut self.mem, ep, eq);
            self.set_reg(bound, self.layout.cptr, b);
            self.set_reg(bound, self.layout.info, 0);
            self.wake(bound, ThreadState::Running);
            return;
        }
        let o = ntfn_mut(&mut self.mem, n);
        o.word = if o.is_active() { o.word | b } else { b };
        o.bound_and_active |= 1;
    }

    /// Reply (spec: SYS-12): answer the caller in `c`'s Reply slot.
    pub(crate) fn reply(&mut self, c: PAddr) {
        let rs = Self::reply_slot(c);
        if let Cap::Reply { .. } = slot::cap(&self.mem, rs) {
            self.deliver_reply(c, rs);
        }
    }

    /// Deliver the reply held in slot `at` with `replier`'s message
    /// (spec: IPC-17, FLT-7).
    pub(crate) fn deliver_reply(&mut self, replier: PAddr, at: PAddr) {
        let Cap::Reply { caller, can_grant } = slot::cap(&self.mem, at) else {
            return;
        };
        let fault = Fault::decode(tcb::tcb(&self.mem, caller).fault);
        if fault.is_none() {
            // The message first, while `at` still holds the Reply.
            let t = Transfer {
                badge: 0,
                grant: can_grant,
                via: None,
            };
            self.transfer(replier, caller, &t);
        }
        slot::remove(&mut self.mem, at);
        tcb::tcb_mut(&mut self.mem, caller).reply_at = 0;
        match fault {
            None => self.wake(caller, ThreadState::Running),
            Some(f) => self.fault_reply(replier, caller, f),
        }
    }

    /// FLT-7: the handler `h` answered the fault `f` of thread `t`. The
    /// PC and SP a `UserException` reply sets are written as
    /// WriteRegisters would (TCB-5), like the `UnknownSyscall` registers.
    fn fault_reply(&mut self, h: PAddr, t: PAddr, f: Fault) {
        let msg = self.read_message(h);
        if msg.label != 0 {
            self.set_inactive(t);
            return;
        }
        let l = self.layout;
        let write = |k: &mut Self, i: usize, v: u64| {
            if let Some(v) = l.written(i, v) {
                k.set_reg(t, i, v);
            }
        };
        match f {
            Fault::UserException { .. } if msg.length > 0 => {
                write(self, l.pc, msg.words[0]);
                if msg.length >= 2 {
                    write(self, l.sp, msg.words[1]);
                }
            }
            Fault::UnknownSyscall { .. } if msg.length > 0 => {
                for i in 0..msg.length.min(l.words) {
                    write(self, i, msg.words[i]);
                }
            }
            _ => {
                self.set_restart(t);
                return;
            }
        }
        tcb::tcb_mut(&mut self.mem, t).fault = [0; 6];
        self.wake(t, ThreadState::Running);
    }

    /// The fault message of `f` taken by `t` (spec: FLT-4, FLT-5):
    /// label, length, words.
    fn fault_message(&self, t: PAddr, f: Fault) -> (u64, usize, [u64; MAX_LENGTH as usize]) {
        let l = self.layout;
        let mut w = [0u64; MAX_LENGTH as usize];
        // spec: FLT-2, ABI-17 — a system call's fault PC is the address of
        // the instruction itself.
        let pc = self.reg(t, l.pc);
        let syscall_pc = pc.wrapping_sub(l.syscall_len);
        let len = match f {
            Fault::Cap {
                address,
                in_receive_phase,
                failure,
            } => {
                w[..6].copy_from_slice(&[
                    syscall_pc,
                    address,
                    in_receive_phase as u64,
                    failure.kind as u64,
                    failure.bits_left,
                    failure.bits_found,
                ]);
                6
            }
            Fault::Vm {
                address,
                instruction,
                status,
            } => {
                w[..4].copy_from_slice(&[pc, address, instruction as u64, status]);
                4
            }
            Fault::UserException { number, code } => {
                w[..5].copy_from_slice(&[
                    pc,
                    self.reg(t, l.sp),
                    self.reg(t, l.flags),
                    number,
                    code,
                ]);
                5
            }
            Fault::UnknownSyscall { number } => {
                for (i, x) in w.iter_mut().enumerate().take(l.words) {
                    *x = self.reg(t, i);
                }
                w[l.pc] = syscall_pc;
                w[l.words] = number;
                l.words + 1
            }
        };
        (f.label(), len, w)
    }

    /// `t` faulted (spec: FLT-3): stop it, or send the fault as a Call
    /// through its fault endpoint.
    pub(crate) fn raise_fault(&mut self, t: PAddr, f: Fault) {
        let fe = slot::cap(&self.mem, tcb::slot_addr(t, TcbSlot::FaultEndpoint as u64));
        tcb::tcb_mut(&mut self.mem, t).fault = f.encode();
        match fe {
            Cap::Endpoint { obj, badge, .. } => {
                self.send_ipc(t, obj, badge, false, true, true, true)
            }
            // INV-13: only an endpoint capability can be there.
            _ => self.set_inactive(t),
        }
    }

    /// A Reply capability to `caller` was deleted (spec: IPC-20).
    pub(crate) fn lose_reply(&mut self, caller: PAddr) {
        let t = tcb::tcb_mut(&mut self.mem, caller);
        t.reply_at = 0;
        if t.fault != [0; 6] {
            self.set_inactive(caller);
        } else {
            self.write_message(caller, Error::NoReply.code(), &[], 0, 0, 0);
            self.wake(caller, ThreadState::Running);
        }
    }

    /// Make a blocked thread `Restart` (spec: DER-12, CNODE-8): it will
    /// re-execute its system call or faulting instruction, so a fault it
    /// was delivering is dropped.
    pub(crate) fn restart(&mut self, t: PAddr) {
        self.set_restart(t);
    }
}
