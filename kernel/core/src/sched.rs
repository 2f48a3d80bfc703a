//! The scheduler: ready queues, waking and blocking, time slices and the
//! choice at the end of every entry (spec: SCHED-1 … SCHED-10).

use crate::fault::Fault;
use crate::kernel::Kernel;
use crate::mem::{Memory, PAddr};
use crate::object::tcb::{self, QUEUE_LINKS_AT, ThreadState};
use abi::sched::TIME_SLICE_TICKS;

impl<M: Memory> Kernel<M> {
    fn prio(&self, t: PAddr) -> u8 {
        tcb::tcb(&self.mem, t).priority as u8
    }

    /// Append `t` to the tail of its ready queue (spec: SCHED-4).
    pub(crate) fn enqueue(&mut self, t: PAddr) {
        let p = self.prio(t);
        self.ready.enqueue(&mut self.mem, t, p, QUEUE_LINKS_AT);
        tcb::tcb_mut(&mut self.mem, t).in_ready = 1;
    }

    /// Take `t` out of its ready queue if it is in one (spec: SCHED-8).
    pub(crate) fn dequeue(&mut self, t: PAddr) {
        if tcb::tcb(&self.mem, t).in_ready != 0 {
            let p = self.prio(t);
            self.ready.remove(&mut self.mem, t, p, QUEUE_LINKS_AT);
            tcb::tcb_mut(&mut self.mem, t).in_ready = 0;
        }
    }

    /// `t` becomes runnable in `state` (Running or Restart) and joins the
    /// tail of its ready queue (spec: SCHED-4) — unless it was runnable
    /// already (the current thread, or a thread already queued).
    pub(crate) fn wake(&mut self, t: PAddr, state: ThreadState) {
        debug_assert!(state.is_runnable());
        let was_runnable = tcb::state(&self.mem, t).is_runnable();
        tcb::set_state(&mut self.mem, t, state);
        let running_now = t == self.current && was_runnable;
        if !running_now && tcb::tcb(&self.mem, t).in_ready == 0 {
            self.enqueue(t);
        }
    }

    /// `t` stops being runnable: it leaves its ready queue (spec: SCHED-8).
    pub(crate) fn set_blocked(&mut self, t: PAddr, state: ThreadState) {
        debug_assert!(!state.is_runnable());
        self.dequeue(t);
        tcb::set_state(&mut self.mem, t, state);
    }

    /// Where `t` continues if it is restarted (spec: ABI-17): the faulting
    /// instruction for a pending exception; the system call instruction
    /// for a thread stopped in a system call (blocked, `Restart`, or with a
    /// pending `Cap`/`UnknownSyscall` fault); otherwise its saved PC.
    pub(crate) fn restart_address(&self, t: PAddr) -> u64 {
        let l = self.layout;
        let pc = self.reg(t, l.pc);
        let back = pc.wrapping_sub(l.syscall_len);
        match Fault::decode(tcb::tcb(&self.mem, t).fault) {
            Some(Fault::UserException { .. } | Fault::Vm { .. }) => pc,
            Some(Fault::Cap { .. } | Fault::UnknownSyscall { .. }) => back,
            None => match tcb::state(&self.mem, t) {
                ThreadState::Running | ThreadState::Inactive | ThreadState::Idle => pc,
                _ => back,
            },
        }
    }

    /// `t` becomes `Restart`, continuing at its restart address, with no
    /// pending fault, at the tail of its ready queue (spec: ABI-17, TCB-9,
    /// DER-12, CNODE-8, FLT-7).
    pub(crate) fn set_restart(&mut self, t: PAddr) {
        let at = self.restart_address(t);
        let l = self.layout;
        self.set_reg(t, l.pc, at.wrapping_add(l.syscall_len));
        tcb::tcb_mut(&mut self.mem, t).fault = [0; 6];
        self.wake(t, ThreadState::Restart);
    }

    /// `t` becomes `Inactive` with its PC at its restart address, no
    /// pending fault, in no ready queue (spec: ABI-17, TCB-10, FLT-3,
    /// FLT-7, IPC-20).
    pub(crate) fn set_inactive(&mut self, t: PAddr) {
        let at = self.restart_address(t);
        let l = self.layout;
        self.set_reg(t, l.pc, at);
        tcb::tcb_mut(&mut self.mem, t).fault = [0; 6];
        self.set_blocked(t, ThreadState::Inactive);
    }

    /// Yield (spec: SCHED-7): a full slice and the tail of the queue.
    pub(crate) fn yield_now(&mut self) {
        let c = self.current;
        tcb::tcb_mut(&mut self.mem, c).slice = TIME_SLICE_TICKS as u64;
        self.enqueue(c);
    }

    /// A timer tick (spec: SCHED-6), before the choice.
    pub(crate) fn tick(&mut self) {
        let c = self.current;
        if c == 0 {
            return;
        }
        let t = tcb::tcb_mut(&mut self.mem, c);
        t.slice = t.slice.saturating_sub(1);
        if t.slice == 0 {
            t.slice = TIME_SLICE_TICKS as u64;
            self.enqueue(c);
        }
    }

    /// The choice at the end of an entry (spec: SCHED-5); `c` was current
    /// when the entry began.
    pub(crate) fn choose(&mut self, c: PAddr) {
        let runnable = c != 0 && tcb::state(&self.mem, c).is_runnable();
        let queued = c != 0 && tcb::tcb(&self.mem, c).in_ready != 0;
        let higher = |k: &Self| match k.ready.highest() {
            None => false,
            Some(h) => c == 0 || h > k.prio(c),
        };
        if c == 0 && self.ready.highest().is_none() {
            self.current = 0;
            return;
        }
        if runnable && !queued && !higher(self) {
            self.current = c;
            return;
        }
        if runnable && !queued {
            // Preempted: first among its equals, with the slice it had left.
            let p = self.prio(c);
            self.ready
                .enqueue_front(&mut self.mem, c, p, QUEUE_LINKS_AT);
            tcb::tcb_mut(&mut self.mem, c).in_ready = 1;
        }
        self.current = match self.ready.pop_highest(&mut self.mem, QUEUE_LINKS_AT) {
            Some((t, _)) => {
                tcb::tcb_mut(&mut self.mem, t).in_ready = 0;
                t
            }
            None => 0,
        };
    }
}
