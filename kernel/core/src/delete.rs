//! Delete, Revoke and finalisation, with Zombies for objects that hold
//! slots (spec: DER-6 … DER-16, SYS-15 … SYS-18).
//!
//! No recursion: a dying CNode or TCB is emptied by Zombie steps whose
//! chain of unfinished objects lives in the Zombies themselves (DER-15),
//! and each step is followed by a preemption point.

use crate::cap::{Cap, ZombieKind};
use crate::kernel::{Kernel, Preempted, cnode_slot};
use crate::mem::{Memory, PAddr};
use crate::object::endpoint;
use crate::object::notification::{get_ntfn, ntfn_mut};
use crate::object::tcb::{self, ThreadState};
use crate::slot;

/// The slot `index` of the object a Zombie finalises.
fn zombie_slot(kind: ZombieKind, obj: PAddr, index: u64) -> PAddr {
    match kind {
        ZombieKind::CNode { .. } => cnode_slot(obj, index),
        ZombieKind::Tcb => tcb::slot_addr(obj, index),
    }
}

/// Whether `s` is one of the slots of the object a Zombie finalises.
fn is_slot_of(kind: ZombieKind, obj: PAddr, s: PAddr) -> bool {
    let first = zombie_slot(kind, obj, 0);
    s >= first && s < first + kind.slot_count() * slot::SLOT_SIZE
}

/// What one Zombie step left to do.
enum Step {
    /// Continue in this slot.
    Continue(PAddr),
    /// The deletion is complete.
    Complete,
}

impl<M: Memory> Kernel<M> {
    /// Delete the slot `s` (spec: DER-7).
    pub(crate) fn delete(
        &mut self,
        s: PAddr,
        preempt: &mut dyn FnMut() -> bool,
    ) -> Result<(), Preempted> {
        match slot::cap(&self.mem, s) {
            Cap::Null => Ok(()),
            Cap::Zombie { .. } => self.zombie_run(s, preempt),
            c => {
                if let Some(z) = self.finalise(s, c) {
                    slot::set_cap(&mut self.mem, s, z);
                    self.zombie_run(s, preempt)
                } else {
                    slot::remove(&mut self.mem, s);
                    Ok(())
                }
            }
        }
    }

    /// Revoke the slot `s` (spec: DER-11): delete its first child until it
    /// has none, with a preemption point after each completed Delete.
    pub(crate) fn revoke(
        &mut self,
        s: PAddr,
        preempt: &mut dyn FnMut() -> bool,
    ) -> Result<(), Preempted> {
        loop {
            let child = slot::links(&self.mem, s).child;
            if child == 0 {
                return Ok(());
            }
            self.delete(child, preempt)?;
            if slot::has_children(&self.mem, s) && preempt() {
                return Err(Preempted);
            }
        }
    }

    /// The deletion effect of `c` in `s` (spec: DER-12). Returns the
    /// Zombie that replaces a final CNode or TCB capability; for every
    /// other capability the effect is complete and the caller removes it.
    fn finalise(&mut self, s: PAddr, c: Cap) -> Option<Cap> {
        let last = slot::is_final(&self.mem, s);
        match c {
            Cap::CNode { obj, radix } if last => {
                let kind = ZombieKind::CNode { radix };
                return Some(Cap::Zombie {
                    kind,
                    obj,
                    remaining: kind.slot_count(),
                    resume: 0,
                });
            }
            Cap::Tcb { obj } if last => {
                self.suspend(obj);
                let bound = tcb::tcb(&self.mem, obj).bound_notification;
                if bound != 0 {
                    self.unbind(obj, bound);
                }
                return Some(Cap::Zombie {
                    kind: ZombieKind::Tcb,
                    obj,
                    remaining: ZombieKind::Tcb.slot_count(),
                    resume: 0,
                });
            }
            Cap::Endpoint { obj, .. } if last => {
                // Every queued thread restarts, in queue order.
                let mut q = endpoint::queue(&self.mem, obj);
                while let Some(t) = q.pop_front(&mut self.mem, tcb::QUEUE_LINKS_AT) {
                    self.restart(t);
                }
                endpoint::set_queue(&mut self.mem, obj, q);
            }
            Cap::Notification { obj, .. } if last => {
                let mut q = get_ntfn(&self.mem, obj).queue;
                while let Some(t) = q.pop_front(&mut self.mem, tcb::QUEUE_LINKS_AT) {
                    self.restart(t);
                }
                ntfn_mut(&mut self.mem, obj).queue = q;
                let bound = get_ntfn(&self.mem, obj).bound();
                if bound != 0 {
                    self.unbind(bound, obj);
                }
            }
            Cap::Reply { caller, .. } => self.lose_reply(caller),
            // The mapping belongs to the capability: removed always.
            Cap::Frame { .. } => self.unmap_frame(s),
            // Page-table capabilities have no copies (DER-2): always final.
            Cap::PageTable { .. } => self.unmap_table(s),
            Cap::VSpace { obj } if last => self.release_vspace(obj),
            Cap::AsidPool { obj, asid_base } if last => self.release_pool(obj, asid_base),
            Cap::IrqHandler { line } if last => {
                // spec: IRQ-9 — masked, unclaimed; its notification slot is
                // deleted (a Notification capability: one step).
                self.irq_state[line as usize] = crate::object::irq::INACTIVE;
                self.irq_changes = self.irq_changes.wrapping_add(1);
                let at = self.irq_slot(line as u64);
                let n = slot::cap(&self.mem, at);
                if !n.is_null() {
                    let z = self.finalise(at, n);
                    debug_assert!(z.is_none());
                    slot::remove(&mut self.mem, at);
                }
            }
            _ => {}
        }
        None
    }

    /// Run Zombie steps from `cur` until the deletion completes, with a
    /// preemption point after every step that leaves it unfinished (spec:
    /// DER-15, DER-16, SYS-15).
    pub(crate) fn zombie_run(
        &mut self,
        mut cur: PAddr,
        preempt: &mut dyn FnMut() -> bool,
    ) -> Result<(), Preempted> {
        loop {
            match self.zombie_step(cur) {
                Step::Complete => return Ok(()),
                Step::Continue(next) => {
                    cur = next;
                    if preempt() {
                        self.pending_delete = cur;
                        return Err(Preempted);
                    }
                }
            }
        }
    }

    /// One Zombie step in `cur` (spec: DER-15 steps 1 … 4).
    fn zombie_step(&mut self, cur: PAddr) -> Step {
        let Cap::Zombie {
            kind,
            obj,
            remaining,
            resume,
        } = slot::cap(&self.mem, cur)
        else {
            unreachable!("zombie step on a slot without a Zombie");
        };
        if remaining == 0 {
            // 1: the object ceases to exist; its Zombie goes.
            slot::remove(&mut self.mem, cur);
            if resume == 0 {
                return Step::Complete;
            }
            if is_slot_of(kind, obj, cur) {
                return Step::Continue(resume);
            }
            let z = slot::cap(&self.mem, resume);
            self.move_cap(resume, cur, z);
            return Step::Continue(cur);
        }
        let t = zombie_slot(kind, obj, remaining - 1);
        let tc = slot::cap(&self.mem, t);
        let shrink = Cap::Zombie {
            kind,
            obj,
            remaining: remaining - 1,
            resume,
        };
        if t == cur || tc.is_null() {
            // 2
            slot::set_cap(&mut self.mem, cur, shrink);
            return Step::Continue(cur);
        }
        debug_assert!(
            !matches!(tc, Cap::Zombie { .. }),
            "a Zombie outside the deletion chain (INV-37)"
        );
        match self.finalise(t, tc) {
            // 3: not a final CNode or TCB — its deletion is complete.
            None => slot::remove(&mut self.mem, t),
            // 4: descend into the nested object.
            Some(Cap::Zombie {
                kind: k,
                obj: o,
                remaining: r,
                ..
            }) => {
                slot::set_cap(
                    &mut self.mem,
                    t,
                    Cap::Zombie {
                        kind: k,
                        obj: o,
                        remaining: r,
                        resume: 0,
                    },
                );
                slot::swap(&mut self.mem, cur, t);
                slot::set_cap(
                    &mut self.mem,
                    cur,
                    Cap::Zombie {
                        kind: k,
                        obj: o,
                        remaining: r,
                        resume: t,
                    },
                );
            }
            Some(_) => unreachable!("finalise returns only Zombies"),
        }
        Step::Continue(cur)
    }

    /// Suspend thread `t` (spec: TCB-10): leave every queue, lose its
    /// reply capability and fault, become `Inactive`.
    pub(crate) fn suspend(&mut self, t: PAddr) {
        match tcb::state(&self.mem, t) {
            ThreadState::BlockedOnSend { ep, .. } | ThreadState::BlockedOnRecv { ep, .. } => {
                let mut q = endpoint::queue(&self.mem, ep);
                q.remove(&mut self.mem, t, tcb::QUEUE_LINKS_AT);
                endpoint::set_queue(&mut self.mem, ep, q);
            }
            ThreadState::BlockedOnNotification { ntfn } => {
                let mut q = get_ntfn(&self.mem, ntfn).queue;
                q.remove(&mut self.mem, t, tcb::QUEUE_LINKS_AT);
                ntfn_mut(&mut self.mem, ntfn).queue = q;
            }
            ThreadState::BlockedOnReply => {
                // spec: IPC-19 — the Reply capability goes, with no effect.
                let at = core::mem::take(&mut tcb::tcb_mut(&mut self.mem, t).reply_at);
                if at != 0 {
                    slot::remove(&mut self.mem, at);
                }
            }
            _ => {}
        }
        self.set_inactive(t);
    }

    /// Remove the binding between thread `t` and notification `n`.
    pub(crate) fn unbind(&mut self, t: PAddr, n: PAddr) {
        tcb::tcb_mut(&mut self.mem, t).bound_notification = 0;
        let o = ntfn_mut(&mut self.mem, n);
        o.bound_and_active &= 1;
    }
}
