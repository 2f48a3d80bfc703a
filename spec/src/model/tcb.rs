//! TCB invocations (spec: TCB-3 … TCB-14).

use abi::error::ErrorDetail;
use abi::invocation::Label;
use abi::rights::Rights;
use alloc::vec::Vec;

use super::ipc::unmapped;
use super::{CSPACE_ROOT, FAULT_EP_SLOT, Model, Op, Preempted, Refusal, range_error, tcb_slot};
use crate::state::{Addr, Cap, NotificationState, Object, SlotRef, ThreadState};

/// A decoded TCB invocation on `target`.
pub(super) enum TcbOp {
    /// TCB-4.
    ReadRegisters {
        target: Addr,
        suspend: bool,
        count: usize,
    },
    /// TCB-5: the values, already sanitised.
    WriteRegisters {
        target: Addr,
        resume: bool,
        values: Vec<u64>,
    },
    /// TCB-6: the three checked sources (CSpace, VSpace, IPC-buffer frame).
    Configure {
        target: Addr,
        ipc_buffer: u64,
        sources: [(SlotRef, Cap); 3],
    },
    /// TCB-7.
    SetPriority { target: Addr, priority: u8 },
    /// TCB-8.
    SetMcPriority { target: Addr, mcp: u8 },
    /// TCB-9.
    Resume(Addr),
    /// TCB-10.
    Suspend(Addr),
    /// TCB-11.
    SetTlsBase { target: Addr, base: u64 },
    /// TCB-12.
    SetFaultEndpoint {
        target: Addr,
        source: Option<(SlotRef, Cap)>,
    },
    /// TCB-13.
    Bind { target: Addr, ntfn: Addr },
    /// TCB-14.
    Unbind(Addr),
}

impl Model {
    /// Decode a TCB invocation (TCB-3 … TCB-14), checks in the order of
    /// their lists (ERR-6).
    pub(super) fn decode_tcb(
        &self,
        caller: Addr,
        target: Addr,
        label: Label,
        words: &[u64],
        extra: &[(SlotRef, Cap)],
    ) -> Result<Op, Refusal> {
        let l = self.layout();
        let truncated = Err(ErrorDetail::TruncatedMessage);
        let op = match label {
            Label::TcbReadRegisters | Label::TcbWriteRegisters => {
                // spec: TCB-4, TCB-5.
                if words.len() < 2 {
                    return truncated;
                }
                let (flags, count) = (words[0], words[1]);
                if flags & !1 != 0 {
                    return Err(ErrorDetail::InvalidArgument { index: 0 });
                }
                if target == caller {
                    return Err(ErrorDetail::IllegalOperation);
                }
                let words_max = l.words as u64;
                if !(1..=words_max).contains(&count) {
                    return Err(range_error(1, words_max));
                }
                let count = count as usize;
                if label == Label::TcbReadRegisters {
                    TcbOp::ReadRegisters {
                        target,
                        suspend: flags & 1 != 0,
                        count,
                    }
                } else {
                    if words.len() < 2 + count {
                        return truncated;
                    }
                    let mut values = Vec::with_capacity(count);
                    for (i, &v) in words[2..2 + count].iter().enumerate() {
                        match l.written(i, v) {
                            Some(v) => values.push(v),
                            None => {
                                return Err(ErrorDetail::InvalidArgument {
                                    index: 2 + i as u64,
                                });
                            }
                        }
                    }
                    TcbOp::WriteRegisters {
                        target,
                        resume: flags & 1 != 0,
                        values,
                    }
                }
            }
            Label::TcbConfigure => {
                // spec: TCB-6 checks 1 … 6.
                if words.is_empty() || extra.len() < 3 {
                    return truncated;
                }
                if !matches!(extra[0].1, Cap::CNode { .. }) {
                    return Err(ErrorDetail::InvalidCapability { position: 1 });
                }
                let vspace_ok = match extra[1].1 {
                    Cap::VSpace { obj } => matches!(
                        self.state.objects.get(&obj),
                        Some(Object::VSpace { asid: Some(_), .. })
                    ),
                    _ => false,
                };
                if !vspace_ok {
                    return Err(ErrorDetail::InvalidCapability { position: 2 });
                }
                let frame_ok = match extra[2].1 {
                    Cap::Frame { obj, .. } => matches!(
                        self.state.objects.get(&obj),
                        Some(Object::Frame { device: false, .. })
                    ),
                    _ => false,
                };
                if !frame_ok {
                    return Err(ErrorDetail::InvalidCapability { position: 3 });
                }
                let ipc_buffer = words[0];
                if !ipc_buffer.is_multiple_of(1024) {
                    return Err(ErrorDetail::AlignmentError);
                }
                if ipc_buffer >= abi::context::USER_TOP {
                    return Err(ErrorDetail::InvalidArgument { index: 0 });
                }
                TcbOp::Configure {
                    target,
                    ipc_buffer,
                    sources: [extra[0], extra[1], extra[2]],
                }
            }
            Label::TcbSetPriority | Label::TcbSetMcPriority => {
                // spec: TCB-7, TCB-8.
                if words.is_empty() || extra.is_empty() {
                    return truncated;
                }
                let Cap::Tcb { obj: authority } = extra[0].1 else {
                    return Err(ErrorDetail::InvalidCapability { position: 1 });
                };
                let mcp = self.tcb(authority).map_or(0, |t| t.mcp);
                let p = words[0];
                if p > u64::from(mcp) {
                    return Err(range_error(0, u64::from(mcp)));
                }
                let p = p as u8;
                if label == Label::TcbSetPriority {
                    TcbOp::SetPriority {
                        target,
                        priority: p,
                    }
                } else {
                    TcbOp::SetMcPriority { target, mcp: p }
                }
            }
            // spec: TCB-9, TCB-10 — no checks.
            Label::TcbResume => TcbOp::Resume(target),
            Label::TcbSuspend => TcbOp::Suspend(target),
            Label::TcbSetTlsBase => {
                // spec: TCB-11.
                let Some(&base) = words.first() else {
                    return truncated;
                };
                if l.written(l.tls, base).is_none() {
                    return Err(ErrorDetail::InvalidArgument { index: 0 });
                }
                TcbOp::SetTlsBase { target, base }
            }
            Label::TcbSetFaultEndpoint => {
                // spec: TCB-12.
                let source = match extra.first() {
                    None => None,
                    Some(&(slot, cap)) => match cap {
                        Cap::Endpoint { rights, .. }
                            if rights.contains(Rights::WRITE)
                                && (rights.contains(Rights::GRANT)
                                    || rights.contains(Rights::GRANT_REPLY)) =>
                        {
                            Some((slot, cap))
                        }
                        _ => return Err(ErrorDetail::InvalidCapability { position: 1 }),
                    },
                };
                TcbOp::SetFaultEndpoint { target, source }
            }
            Label::TcbBindNotification => {
                // spec: TCB-13.
                let Some(&(_, cap)) = extra.first() else {
                    return truncated;
                };
                let Cap::Notification {
                    obj: ntfn, rights, ..
                } = cap
                else {
                    return Err(ErrorDetail::InvalidCapability { position: 1 });
                };
                if !rights.contains(Rights::READ) {
                    return Err(ErrorDetail::InvalidCapability { position: 1 });
                }
                if self
                    .tcb(target)
                    .is_some_and(|t| t.bound_notification.is_some())
                {
                    return Err(ErrorDetail::IllegalOperation);
                }
                match self.state.objects.get(&ntfn) {
                    Some(Object::Notification(n))
                        if n.bound_tcb.is_none()
                            && !matches!(n.state, NotificationState::Waiting(_)) => {}
                    _ => return Err(ErrorDetail::IllegalOperation),
                }
                TcbOp::Bind { target, ntfn }
            }
            Label::TcbUnbindNotification => {
                // spec: TCB-14.
                if self
                    .tcb(target)
                    .is_none_or(|t| t.bound_notification.is_none())
                {
                    return Err(ErrorDetail::IllegalOperation);
                }
                TcbOp::Unbind(target)
            }
            other => unreachable!("{other:?} is not a TCB invocation"),
        };
        Ok(Op::Tcb(op))
    }

    /// Perform a decoded TCB invocation; the result words.
    pub(super) fn perform_tcb(
        &mut self,
        _caller: Addr,
        op: TcbOp,
        preempt: &mut dyn FnMut() -> bool,
    ) -> Result<Vec<u64>, Preempted> {
        let l = self.layout();
        match op {
            TcbOp::ReadRegisters {
                target,
                suspend,
                count,
            } => {
                // spec: TCB-4.
                if suspend {
                    self.suspend(target);
                }
                let mut words: Vec<u64> = (0..count).map(|i| self.reg(target, i)).collect();
                words[l.pc] = self.reported_pc(target);
                return Ok(words);
            }
            TcbOp::WriteRegisters {
                target,
                resume,
                values,
            } => {
                // spec: TCB-5.
                for (i, v) in values.into_iter().enumerate() {
                    self.set_reg(target, i, v);
                }
                if self.state_of(target) == Some(ThreadState::Restart) {
                    self.set_state(target, ThreadState::Running);
                }
                if resume {
                    self.resume(target);
                }
            }
            TcbOp::Configure {
                target,
                ipc_buffer,
                sources,
            } => {
                // spec: TCB-6.
                for i in 0..3 {
                    self.delete(tcb_slot(target, CSPACE_ROOT + i), preempt)?;
                }
                for (i, (src, cap)) in sources.into_iter().enumerate() {
                    let dest = tcb_slot(target, CSPACE_ROOT + i as u64);
                    if self.tcb(target).is_some()
                        && self.cap(src) == Some(cap)
                        && self.cap(dest).is_none()
                    {
                        self.insert_child(src, dest, unmapped(cap));
                    }
                }
                if let Some(t) = self.tcb_mut(target) {
                    t.ipc_buffer = ipc_buffer;
                }
            }
            TcbOp::SetPriority { target, priority } => self.set_priority(target, priority),
            TcbOp::SetMcPriority { target, mcp } => {
                if let Some(t) = self.tcb_mut(target) {
                    t.mcp = mcp;
                }
            }
            TcbOp::Resume(target) => self.resume(target),
            TcbOp::Suspend(target) => self.suspend(target),
            TcbOp::SetTlsBase { target, base } => self.set_reg(target, l.tls, base),
            TcbOp::SetFaultEndpoint { target, source } => {
                // spec: TCB-12 — the slot holds an endpoint capability, whose
                // deletion is one step (DER-7).
                let at = tcb_slot(target, FAULT_EP_SLOT);
                self.delete(at, preempt)?;
                if let Some((src, cap)) = source
                    && self.cap(src) == Some(cap)
                {
                    self.insert_child(src, at, cap);
                }
            }
            TcbOp::Bind { target, ntfn } => self.bind(target, ntfn),
            TcbOp::Unbind(target) => self.unbind(target),
        }
        Ok(Vec::new())
    }

    /// TCB-9 Resume.
    pub(super) fn resume(&mut self, t: Addr) {
        match self.state_of(t) {
            Some(ThreadState::Inactive) => self.set_restart(t),
            Some(ThreadState::BlockedOnReply) => {
                // spec: IPC-19 — the Reply capability goes, with no effect.
                if let Some(r) = self.tcb_mut(t).and_then(|tcb| tcb.reply_at.take()) {
                    self.remove_slot(r);
                }
                self.set_restart(t);
            }
            _ => {}
        }
    }

    /// TCB-10 Suspend: cancel the thread's IPC and stop it.
    pub(super) fn suspend(&mut self, t: Addr) {
        if self.tcb(t).is_none() {
            return;
        }
        self.leave_queue(t);
        // spec: IPC-19 — the Reply capability is removed with no effect.
        if let Some(r) = self.tcb_mut(t).and_then(|tcb| tcb.reply_at.take()) {
            self.remove_slot(r);
        }
        self.set_inactive(t);
    }

    /// TCB-13: bind, then take a pending signal at once.
    fn bind(&mut self, t: Addr, n: Addr) {
        if let Some(tcb) = self.tcb_mut(t) {
            tcb.bound_notification = Some(n);
        }
        let Some(Object::Notification(ntfn)) = self.state.objects.get_mut(&n) else {
            return;
        };
        ntfn.bound_tcb = Some(t);
        if let NotificationState::Active(w) = ntfn.state
            && matches!(self.state_of(t), Some(ThreadState::BlockedOnRecv { .. }))
        {
            if let Some(Object::Notification(ntfn)) = self.state.objects.get_mut(&n) {
                ntfn.state = NotificationState::Idle;
            }
            self.leave_queue(t);
            self.write_signal(t, w);
            self.wake(t);
        }
    }
}
