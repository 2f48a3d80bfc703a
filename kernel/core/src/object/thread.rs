//! TCB invocations (spec: TCB-3 … TCB-14, SCHED-9).

use crate::cap::Cap;
use crate::kernel::{Invocation, InvokeResult, Kernel, Reply};
use crate::mem::{Memory, PAddr};
use crate::object::endpoint;
use crate::object::notification::{get_ntfn, ntfn_mut};
use crate::object::tcb::{self, ThreadState};
use crate::slot;
use abi::error::ErrorDetail;
use abi::invocation::{Label, TcbSlot};
use abi::rights::Rights;

const TRUNCATED: ErrorDetail = ErrorDetail::TruncatedMessage;

/// A decoded TCB invocation.
enum Plan {
    Read {
        suspend: bool,
        count: usize,
    },
    Write {
        resume: bool,
        count: usize,
    },
    Configure {
        ipc_buffer: u64,
        sources: [(PAddr, Cap); 3],
    },
    Priority(u8),
    McPriority(u8),
    Resume,
    Suspend,
    TlsBase(u64),
    FaultEndpoint(Option<(PAddr, Cap)>),
    Bind(PAddr),
    Unbind,
}

impl<M: Memory> Kernel<M> {
    /// A TCB invocation on the thread `target` (spec: TCB-3).
    pub(crate) fn tcb_invoke(
        &mut self,
        target: PAddr,
        label: Label,
        inv: &Invocation<'_>,
        preempt: &mut dyn FnMut() -> bool,
    ) -> InvokeResult {
        let plan = match self.decode_tcb(target, label, inv) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let l = self.layout;
        let mut reply = Reply::EMPTY;
        match plan {
            Plan::Read { suspend, count } => {
                if suspend {
                    self.suspend(target);
                }
                for i in 0..count {
                    reply.words[i] = self.reg(target, i);
                }
                // spec: TCB-4, ABI-17 — a Restart thread's PC is the
                // instruction it will re-execute.
                if tcb::state(&self.mem, target) == ThreadState::Restart && l.pc < count {
                    reply.words[l.pc] = reply.words[l.pc].wrapping_sub(l.syscall_len);
                }
                reply.len = count;
            }
            Plan::Write { resume, count } => {
                for i in 0..count {
                    let v = l.written(i, inv.words[2 + i]).expect("decode checked it");
                    self.set_reg(target, i, v);
                }
                if tcb::state(&self.mem, target) == ThreadState::Restart {
                    tcb::set_state(&mut self.mem, target, ThreadState::Running);
                }
                if resume {
                    self.resume(target);
                }
            }
            Plan::Configure {
                ipc_buffer,
                sources,
            } => {
                let slots = [
                    TcbSlot::CSpaceRoot,
                    TcbSlot::VSpaceRoot,
                    TcbSlot::IpcBufferFrame,
                ];
                for s in slots {
                    self.delete(tcb::slot_addr(target, s as u64), preempt)?;
                }
                for (s, (from, cap)) in slots.into_iter().zip(sources) {
                    let to = tcb::slot_addr(target, s as u64);
                    if slot::cap(&self.mem, from) == cap && slot::cap(&self.mem, to).is_null() {
                        slot::insert_child(&mut self.mem, from, to, cap.derived(Rights::ALL));
                    }
                }
                tcb::tcb_mut(&mut self.mem, target).ipc_buffer = ipc_buffer;
            }
            Plan::Priority(p) => self.set_priority(target, p),
            Plan::McPriority(p) => tcb::tcb_mut(&mut self.mem, target).mcp = p as u64,
            Plan::Resume => self.resume(target),
            Plan::Suspend => self.suspend(target),
            Plan::TlsBase(b) => self.set_reg(target, l.tls, b),
            Plan::FaultEndpoint(source) => {
                let to = tcb::slot_addr(target, TcbSlot::FaultEndpoint as u64);
                self.delete(to, preempt)?;
                if let Some((from, cap)) = source
                    && slot::cap(&self.mem, from) == cap
                    && slot::cap(&self.mem, to).is_null()
                {
                    slot::insert_child(&mut self.mem, from, to, cap.derived(Rights::ALL));
                }
            }
            Plan::Bind(n) => self.bind(target, n),
            Plan::Unbind => {
                let n = tcb::tcb(&self.mem, target).bound_notification;
                self.unbind(target, n);
            }
        }
        Ok(Ok(reply))
    }

    fn decode_tcb(
        &self,
        target: PAddr,
        label: Label,
        inv: &Invocation<'_>,
    ) -> Result<Plan, ErrorDetail> {
        let (w, x) = (inv.words, inv.extra);
        let l = self.layout;
        let words_range = ErrorDetail::RangeError {
            min: 1,
            max: l.words as u64,
        };
        Ok(match label {
            Label::TcbReadRegisters | Label::TcbWriteRegisters => {
                let &[flags, count, ..] = w else {
                    return Err(TRUNCATED);
                };
                if flags & !1 != 0 {
                    return Err(ErrorDetail::InvalidArgument { index: 0 });
                }
                if target == inv.caller {
                    return Err(ErrorDetail::IllegalOperation);
                }
                if count < 1 || count > l.words as u64 {
                    return Err(words_range);
                }
                let count = count as usize;
                if label == Label::TcbReadRegisters {
                    Plan::Read {
                        suspend: flags & 1 != 0,
                        count,
                    }
                } else {
                    if w.len() < 2 + count {
                        return Err(TRUNCATED);
                    }
                    if let Some(i) = (0..count).find(|&i| l.written(i, w[2 + i]).is_none()) {
                        return Err(ErrorDetail::InvalidArgument {
                            index: 2 + i as u64,
                        });
                    }
                    Plan::Write {
                        resume: flags & 1 != 0,
                        count,
                    }
                }
            }
            Label::TcbConfigure => {
                let (&[ipc_buffer, ..], &[cs, vs, fr, ..]) = (w, x) else {
                    return Err(TRUNCATED);
                };
                if !matches!(cs.1, Cap::CNode { .. }) {
                    return Err(ErrorDetail::InvalidCapability { position: 1 });
                }
                if self.vspace_asid(vs.1).is_none() {
                    return Err(ErrorDetail::InvalidCapability { position: 2 });
                }
                if !matches!(fr.1, Cap::Frame { device: false, .. }) {
                    return Err(ErrorDetail::InvalidCapability { position: 3 });
                }
                if ipc_buffer % (1 << abi::ipc_buffer::IPC_BUFFER_BITS) != 0 {
                    return Err(ErrorDetail::AlignmentError);
                }
                if ipc_buffer >= abi::context::USER_TOP {
                    return Err(ErrorDetail::InvalidArgument { index: 0 });
                }
                Plan::Configure {
                    ipc_buffer,
                    sources: [cs, vs, fr],
                }
            }
            Label::TcbSetPriority | Label::TcbSetMcPriority => {
                let (&[p, ..], &[(_, auth), ..]) = (w, x) else {
                    return Err(TRUNCATED);
                };
                let Cap::Tcb { obj: a } = auth else {
                    return Err(ErrorDetail::InvalidCapability { position: 1 });
                };
                let mcp = tcb::tcb(&self.mem, a).mcp;
                if p > mcp {
                    return Err(ErrorDetail::RangeError { min: 0, max: mcp });
                }
                if label == Label::TcbSetPriority {
                    Plan::Priority(p as u8)
                } else {
                    Plan::McPriority(p as u8)
                }
            }
            Label::TcbResume => Plan::Resume,
            Label::TcbSuspend => Plan::Suspend,
            Label::TcbSetTlsBase => {
                let &[b, ..] = w else {
                    return Err(TRUNCATED);
                };
                if l.written(l.tls, b).is_none() {
                    return Err(ErrorDetail::InvalidArgument { index: 0 });
                }
                Plan::TlsBase(b)
            }
            Label::TcbSetFaultEndpoint => match x.first() {
                None => Plan::FaultEndpoint(None),
                Some(&(from, cap)) => {
                    let ok = matches!(cap, Cap::Endpoint { rights, .. }
                        if rights.contains(Rights::WRITE)
                            && (rights.contains(Rights::GRANT) || rights.contains(Rights::GRANT_REPLY)));
                    if !ok {
                        return Err(ErrorDetail::InvalidCapability { position: 1 });
                    }
                    Plan::FaultEndpoint(Some((from, cap)))
                }
            },
            Label::TcbBindNotification => {
                let &[(_, cap), ..] = x else {
                    return Err(TRUNCATED);
                };
                let Cap::Notification { obj, rights, .. } = cap else {
                    return Err(ErrorDetail::InvalidCapability { position: 1 });
                };
                if !rights.contains(Rights::READ) {
                    return Err(ErrorDetail::InvalidCapability { position: 1 });
                }
                if tcb::tcb(&self.mem, target).bound_notification != 0 {
                    return Err(ErrorDetail::IllegalOperation);
                }
                let n = get_ntfn(&self.mem, obj);
                if n.bound() != 0 || !n.queue.is_empty() {
                    return Err(ErrorDetail::IllegalOperation);
                }
                Plan::Bind(obj)
            }
            Label::TcbUnbindNotification => {
                if tcb::tcb(&self.mem, target).bound_notification == 0 {
                    return Err(ErrorDetail::IllegalOperation);
                }
                Plan::Unbind
            }
            _ => return Err(ErrorDetail::IllegalOperation),
        })
    }

    /// SCHED-9.
    fn set_priority(&mut self, t: PAddr, p: u8) {
        if tcb::tcb(&self.mem, t).in_ready != 0 {
            self.dequeue(t);
            tcb::tcb_mut(&mut self.mem, t).priority = p as u64;
            self.enqueue(t);
        } else {
            tcb::tcb_mut(&mut self.mem, t).priority = p as u64;
        }
    }

    /// Resume (spec: TCB-9).
    pub(crate) fn resume(&mut self, t: PAddr) {
        match tcb::state(&self.mem, t) {
            ThreadState::Inactive => self.set_restart(t),
            ThreadState::BlockedOnReply => {
                // spec: IPC-19 — the Reply capability goes, with no effect.
                let at = core::mem::take(&mut tcb::tcb_mut(&mut self.mem, t).reply_at);
                if at != 0 {
                    slot::remove(&mut self.mem, at);
                }
                self.set_restart(t);
            }
            _ => {}
        }
    }

    /// Bind (spec: TCB-13).
    fn bind(&mut self, t: PAddr, n: PAddr) {
        tcb::tcb_mut(&mut self.mem, t).bound_notification = n;
        let o = ntfn_mut(&mut self.mem, n);
        o.bound_and_active = t | (o.bound_and_active & 1);
        if get_ntfn(&self.mem, n).is_active()
            && let ThreadState::BlockedOnRecv { ep, .. } = tcb::state(&self.mem, t)
        {
            let mut q = endpoint::queue(&self.mem, ep);
            q.remove(&mut self.mem, t, tcb::QUEUE_LINKS_AT);
            endpoint::set_queue(&mut self.mem, ep, q);
            self.take_signal(t, n);
            self.wake(t, ThreadState::Running);
        }
    }
}
