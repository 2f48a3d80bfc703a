//! The ready queues and the scheduler (spec: SCHED-1 … SCHED-10).

use abi::sched::TIME_SLICE_TICKS;

use super::Model;
use crate::state::{Addr, ThreadState};

impl Model {
    fn priority(&self, t: Addr) -> u8 {
        self.tcb(t).map_or(0, |tcb| tcb.priority)
    }

    /// Whether `t` is in a ready queue.
    pub(super) fn in_ready(&self, t: Addr) -> bool {
        self.state.ready.values().any(|q| q.contains(&t))
    }

    /// Append `t` to the tail (or insert it at the head) of the ready
    /// queue of its priority (SCHED-1, SCHED-4), unless it is in one.
    pub(super) fn enqueue(&mut self, t: Addr, head: bool) {
        if self.in_ready(t) {
            return;
        }
        let q = self.state.ready.entry(self.priority(t)).or_default();
        if head {
            q.insert(0, t);
        } else {
            q.push(t);
        }
    }

    /// Remove `t` from its ready queue, if any (SCHED-8, TCB-10); an
    /// emptied queue is not kept (INV-29).
    pub(super) fn dequeue(&mut self, t: Addr) {
        self.state.ready.retain(|_, q| {
            q.retain(|&x| x != t);
            !q.is_empty()
        });
    }

    /// `t` becomes `Running` and is appended to its ready queue (IPC-4,
    /// IPC-10, IPC-17, IPC-20, NTFN-3, SCHED-4).
    pub(super) fn wake(&mut self, t: Addr) {
        self.set_state(t, ThreadState::Running);
        self.enqueue(t, false);
    }

    /// The thread becomes `Restart`, continuing at its restart address
    /// (ABI-17, module documentation), with no pending fault, and is
    /// appended to its ready queue (TCB-9, DER-12, CNODE-8, FLT-7).
    pub(super) fn set_restart(&mut self, t: Addr) {
        if self.tcb(t).is_none() {
            return;
        }
        let l = self.layout();
        let at = self.restart_address(t);
        self.set_reg(t, l.pc, at.wrapping_add(l.syscall_len));
        if let Some(tcb) = self.tcb_mut(t) {
            tcb.fault = None;
            tcb.state = ThreadState::Restart;
        }
        self.enqueue(t, false);
    }

    /// The thread becomes `Inactive`, its `context[pc]` its restart
    /// address, with no pending fault, in no ready queue (TCB-10, FLT-3,
    /// FLT-7, IPC-20, SCHED-8).
    pub(super) fn set_inactive(&mut self, t: Addr) {
        if self.tcb(t).is_none() {
            return;
        }
        let l = self.layout();
        let at = self.restart_address(t);
        self.set_reg(t, l.pc, at);
        if let Some(tcb) = self.tcb_mut(t) {
            tcb.fault = None;
            tcb.state = ThreadState::Inactive;
        }
        self.dequeue(t);
    }

    /// SCHED-5, the choice at the end of every entry; `c0` was current
    /// when the entry began (`None`: the idle thread).
    ///
    /// reading: "`C` was placed in a ready queue during the entry" is "`C`
    /// is in a ready queue now": `current` is in none when the entry
    /// begins (INV-28), and nothing takes a thread out of a ready queue
    /// during an entry except to block or stop it (SCHED-8, TCB-10) or to
    /// re-queue it (SCHED-9).
    pub(super) fn choose(&mut self, c0: Option<Addr>) {
        if let Some(c) = c0
            && self.is_runnable(c)
            && !self.in_ready(c)
        {
            let p = self.priority(c);
            // spec: SCHED-5 case 1.
            let higher = p < u8::MAX && self.state.ready.range(p + 1..).next().is_some();
            if !higher {
                self.state.current = Some(c);
                return;
            }
            // spec: SCHED-5 case 2 — preempted: at the head.
            self.enqueue(c, true);
        }
        // spec: SCHED-5 — the head of the highest non-empty queue, or the
        // idle thread (for the idle thread, case 1 is "every queue is
        // empty", which this gives too).
        self.state.current = self.pop_highest();
    }

    fn pop_highest(&mut self) -> Option<Addr> {
        let (&p, q) = self.state.ready.iter_mut().next_back()?;
        let t = q.remove(0);
        if q.is_empty() {
            self.state.ready.remove(&p);
        }
        Some(t)
    }

    /// SCHED-6: a timer tick.
    pub(super) fn tick(&mut self) {
        let Some(c) = self.state.current else { return };
        let Some(tcb) = self.tcb_mut(c) else { return };
        tcb.slice -= 1;
        if tcb.slice == 0 {
            tcb.slice = TIME_SLICE_TICKS;
            self.enqueue(c, false);
        }
    }

    /// SCHED-7: Yield.
    pub(super) fn yield_now(&mut self, t: Addr) {
        if let Some(tcb) = self.tcb_mut(t) {
            tcb.slice = TIME_SLICE_TICKS;
        }
        self.enqueue(t, false);
    }

    /// SCHED-9: `t`'s priority becomes `p`.
    pub(super) fn set_priority(&mut self, t: Addr, p: u8) {
        let queued = self.in_ready(t);
        if queued {
            self.dequeue(t);
        }
        if let Some(tcb) = self.tcb_mut(t) {
            tcb.priority = p;
        }
        if queued {
            self.enqueue(t, false);
        }
    }
}
