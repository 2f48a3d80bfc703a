//! CNode invocations (spec: CNODE-1 … CNODE-11).
//!
//! Every invocation names slots by plain index into the invoked CNode and
//! (for a source) into the CNode given as extra capability 0 (CNODE-1).
//! Decode performs the listed checks in order and changes nothing; invoke
//! cannot fail (SYS-6).

use crate::cap::Cap;
use crate::kernel::{Invocation, Kernel, Preempted, cnode_slot, failure};
use crate::mem::{Memory, PAddr};
use crate::object::{endpoint, tcb};
use crate::queue::Queue;
use crate::slot;
use abi::error::{ErrorDetail, LookupFailureKind};
use abi::invocation::{Label, TcbSlot};
use abi::rights::Rights;

/// The slot at `index` of a CNode of `radix`, or `RangeError` (CNODE-1).
fn index_slot(cnode: PAddr, radix: u8, index: u64) -> Result<PAddr, ErrorDetail> {
    let slots = 1u64 << radix;
    if index < slots {
        Ok(cnode_slot(cnode, index))
    } else {
        Err(ErrorDetail::RangeError {
            min: 0,
            max: slots - 1,
        })
    }
}

/// A decoded copy-like invocation.
enum Plan {
    /// Copy or Mint: a child of `src` in `dest` (spec: CNODE-2, CNODE-3).
    Derive { src: PAddr, dest: PAddr, cap: Cap },
    /// Move or Mutate: `src` to `dest`, then store `cap` (spec: CNODE-4, CNODE-5).
    Move { src: PAddr, dest: PAddr, cap: Cap },
    /// Delete the slot (spec: CNODE-6).
    Delete(PAddr),
    /// Revoke the slot (spec: CNODE-7).
    Revoke(PAddr),
    /// Cancel the queued sends carrying `badge` (spec: CNODE-8).
    CancelBadgedSends { ep: PAddr, badge: u64 },
    /// Move the caller's reply capability, if any, to the slot (CNODE-10).
    SaveCaller(PAddr),
}

impl<M: Memory> Kernel<M> {
    /// A CNode invocation (spec: CNODE-2 … CNODE-10).
    pub(crate) fn cnode_invoke(
        &mut self,
        label: Label,
        inv: &Invocation<'_>,
        preempt: &mut dyn FnMut() -> bool,
    ) -> Result<Result<(), ErrorDetail>, Preempted> {
        let plan = match self.decode_cnode(label, inv) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        match plan {
            Plan::Derive { src, dest, cap } => slot::insert_child(&mut self.mem, src, dest, cap),
            Plan::Move { src, dest, cap } => self.move_cap(src, dest, cap),
            Plan::Delete(s) => self.delete(s, preempt)?,
            Plan::Revoke(s) => self.revoke(s, preempt)?,
            Plan::CancelBadgedSends { ep, badge } => self.cancel_badged_sends(ep, badge),
            Plan::SaveCaller(dest) => {
                let reply = tcb::slot_addr(inv.caller, TcbSlot::Reply as u64);
                if let c @ Cap::Reply { .. } = slot::cap(&self.mem, reply) {
                    self.move_cap(reply, dest, c);
                }
            }
        }
        Ok(Ok(()))
    }

    /// Move the capability in `src` to the empty `dest` keeping its tree
    /// position, and store `cap` there (spec: CNODE-4, DER-4). A moved
    /// Reply capability's caller learns its new slot.
    pub(crate) fn move_cap(&mut self, src: PAddr, dest: PAddr, cap: Cap) {
        slot::swap(&mut self.mem, src, dest);
        slot::set_cap(&mut self.mem, dest, cap);
        if let Cap::Reply { caller, .. } = cap {
            tcb::tcb_mut(&mut self.mem, caller).reply_at = dest;
        }
    }

    fn decode_cnode(&self, label: Label, inv: &Invocation<'_>) -> Result<Plan, ErrorDetail> {
        let Cap::CNode { obj, radix } = slot::cap(&self.mem, inv.slot) else {
            unreachable!("CNode invocation on another capability");
        };
        let w = inv.words;
        match label {
            Label::CNodeCopy | Label::CNodeMint | Label::CNodeMove | Label::CNodeMutate => {
                let need = match label {
                    Label::CNodeCopy => 3,
                    Label::CNodeMove => 2,
                    _ => 4,
                };
                // CNODE-2 check 1
                if w.len() < need || inv.extra.is_empty() {
                    return Err(ErrorDetail::TruncatedMessage);
                }
                // 2
                let Cap::CNode {
                    obj: src_obj,
                    radix: src_radix,
                } = inv.extra[0].1
                else {
                    return Err(ErrorDetail::InvalidCapability { position: 1 });
                };
                // 3, 4
                let dest = index_slot(obj, radix, w[0])?;
                let src = index_slot(src_obj, src_radix, w[1])?;
                // 5 (not for Move)
                let mask = if label == Label::CNodeMove {
                    Rights::ALL
                } else {
                    Rights::from_word(w[2])
                        .map_err(|_| ErrorDetail::InvalidArgument { index: 2 })?
                };
                // 6
                if !slot::cap(&self.mem, dest).is_null() {
                    return Err(ErrorDetail::DeleteFirst);
                }
                // 7
                let cap = slot::cap(&self.mem, src);
                if cap.is_null() {
                    return Err(ErrorDetail::FailedLookup {
                        position: 1,
                        failure: failure(LookupFailureKind::MissingCapability, 0, 0),
                    });
                }
                match label {
                    Label::CNodeCopy => {
                        // 8
                        if !self.derivable(cap) {
                            return Err(ErrorDetail::IllegalOperation);
                        }
                        Ok(Plan::Derive {
                            src,
                            dest,
                            cap: cap.derived(mask),
                        })
                    }
                    Label::CNodeMint => {
                        if !self.derivable(cap) {
                            return Err(ErrorDetail::IllegalOperation);
                        }
                        let badge = Self::check_badge(cap, w[3])?;
                        let mut new = cap.derived(mask);
                        if badge != 0 {
                            new = new.with_badge(badge);
                        }
                        Ok(Plan::Derive {
                            src,
                            dest,
                            cap: new,
                        })
                    }
                    Label::CNodeMove => Ok(Plan::Move { src, dest, cap }),
                    _ => {
                        let badge = Self::check_badge(cap, w[3])?;
                        let mut new = cap.masked(mask);
                        if badge != 0 {
                            new = new.with_badge(badge);
                        }
                        // CNODE-5 check 11
                        if new != cap && slot::has_children(&self.mem, src) {
                            return Err(ErrorDetail::RevokeFirst);
                        }
                        Ok(Plan::Move {
                            src,
                            dest,
                            cap: new,
                        })
                    }
                }
            }
            Label::CNodeDelete
            | Label::CNodeRevoke
            | Label::CNodeCancelBadgedSends
            | Label::CNodeSaveCaller => {
                let &[index, ..] = w else {
                    return Err(ErrorDetail::TruncatedMessage);
                };
                let s = index_slot(obj, radix, index)?;
                let cap = slot::cap(&self.mem, s);
                match label {
                    Label::CNodeDelete => Ok(Plan::Delete(s)),
                    Label::CNodeRevoke => Ok(Plan::Revoke(s)),
                    Label::CNodeSaveCaller => {
                        if cap.is_null() {
                            Ok(Plan::SaveCaller(s))
                        } else {
                            Err(ErrorDetail::DeleteFirst)
                        }
                    }
                    _ => match cap {
                        Cap::Null => Err(ErrorDetail::FailedLookup {
                            position: 0,
                            failure: failure(LookupFailureKind::MissingCapability, 0, 0),
                        }),
                        Cap::Endpoint { obj, badge, rights } if rights == Rights::ALL => {
                            Ok(Plan::CancelBadgedSends { ep: obj, badge })
                        }
                        _ => Err(ErrorDetail::IllegalOperation),
                    },
                }
            }
            _ => Err(ErrorDetail::IllegalOperation),
        }
    }

    /// CNODE-3 checks 9 and 10: the badge a Mint or Mutate may set.
    fn check_badge(cap: Cap, badge: u64) -> Result<u64, ErrorDetail> {
        if badge == 0 {
            return Ok(0);
        }
        match cap.badge() {
            None => Err(ErrorDetail::InvalidArgument { index: 3 }),
            Some(0) => Ok(badge),
            Some(_) => Err(ErrorDetail::IllegalOperation),
        }
    }

    /// CNODE-8: restart every sender queued on `ep` with `badge`, in
    /// queue order; the others keep their order.
    fn cancel_badged_sends(&mut self, ep: PAddr, badge: u64) {
        if badge == 0 {
            return;
        }
        let mut q: Queue = endpoint::queue(&self.mem, ep);
        let mut at = q.head;
        while at != 0 {
            let next = tcb::tcb(&self.mem, at).queue.next;
            if let tcb::ThreadState::BlockedOnSend { badge: b, .. } = tcb::state(&self.mem, at)
                && b == badge
            {
                q.remove(&mut self.mem, at, tcb::QUEUE_LINKS_AT);
                self.restart(at);
            }
            at = next;
        }
        endpoint::set_queue(&mut self.mem, ep, q);
    }
}
