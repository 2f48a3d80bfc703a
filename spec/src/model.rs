//! The executable model: boot (ST-10) and one Call by the current thread
//! (SYS-4 … SYS-9, SYS-18), for the object core's subset of invocations:
//! Untyped Retype (UT-*) and the CNode invocations (CNODE-*), with Delete,
//! Revoke and finalisation (DER-*).
//!
//! # Preemption points (SYS-15, SYS-16, SYS-17)
//!
//! These are the points SYS-15 lists. The oracle `preempt()` is called
//! exactly at the following points and nowhere else; when it returns `true` the operation stops there. The
//! kernel core calls its oracle at the same points, so both consume the same
//! sequence of answers.
//!
//! 1. **Zombie steps** (DER-15): after every single Zombie step (one
//!    execution of one of the cases 1, 2, 3 or 4 of DER-15) *that leaves
//!    the deletion unfinished*. No point follows the step that completes
//!    the deletion (case 1 with no `resume`). Case 3 (Delete of a slot that
//!    holds no final CNode/TCB capability) is one step, whatever its
//!    deletion effect. When preempted here, `pending_delete` is set to the
//!    slot `cur` (DER-16). This applies wherever Zombie steps run: a CNode
//!    Delete, each child Delete of a Revoke, and the continuation of
//!    `pending_delete` before decode (SYS-18).
//! 2. **Revoke** (DER-11): after each Delete of a child has completed
//!    (including all its Zombie steps), *if the revoked slot still has a
//!    child* (no point after the last child).
//! 3. **Reset** (UT-10): for a non-device untyped, after every 4 KiB chunk
//!    has been zeroed and the watermark lowered to its start, including the
//!    last chunk (the placement of the objects is the next step). A device
//!    untyped's reset is one step with no point after it.
//!
//! Deletions that are not preemptible on their own (a Delete of a
//! capability that does not become a Zombie, DER-7) have no point, unless
//! they are a child Delete of a Revoke (point 2).
//!
//! When preempted, the caller is left `Restart` (unless a deletion
//! suspended it, DER-16) and the outcome is [`Outcome::Preempted`].
//!
//! # Scheduling
//!
//! The state has no ready queues yet, so the scheduler's choice (SCHED-5) is
//! reduced to: at the end of an entry, if `current` is no longer a live
//! runnable thread, `current` becomes `None` (the idle thread). Wake-ups
//! ("appended to its ready queue") only change the thread state.
//!
//! # Entry edge cases
//!
//! - `current == None` (the idle thread) makes no call: [`Outcome::NoResult`]
//!   and nothing changes.
//! - If the SYS-18 continuation of `pending_delete` leaves the caller not
//!   runnable (it suspended or destroyed it), the caller's own call is not
//!   decoded: [`Outcome::NoResult`].
//! - A call that ends (with a result or a CapFault) leaves the caller
//!   `Running`, also when it was `Restart` on entry (a re-executed call).

use abi::error::{ErrorDetail, LookupFailure, LookupFailureKind};
use abi::invocation::{Invoked, Label, TCB_SLOTS};
use abi::object::{ObjectType, RESET_CHUNK_BITS, RETYPE_FAN_OUT_LIMIT};
use abi::rights::Rights;
use abi::sched::TIME_SLICE_TICKS;
use alloc::vec::Vec;

use crate::entry::{BootConfig, Invocation, Outcome};
use crate::state::{
    Addr, Cap, EndpointState, Notification, NotificationState, Object, Slot, SlotRef, State, Tcb,
    ThreadState, ZombieKind,
};

/// Most message words an invocation reads (spec: SYS-5, MSG-2).
const MAX_WORDS: usize = 120;
/// Most extra capabilities (spec: SYS-5, MSG-4).
const MAX_EXTRA_CAPS: usize = 3;
/// TCB slot index of the CSpace root (spec: ABI-11).
const CSPACE_ROOT: u64 = 0;
/// TCB slot index of the Reply capability (spec: ABI-11).
const REPLY_SLOT: u64 = 4;

/// The model: the abstract state and its transitions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    /// The abstract state (spec: ST-1 … ST-9).
    pub state: State,
}

/// What a capability refers to, for "refers to the same object" (ST-5,
/// DER-6). Untyped, Reply and IRQControl capabilities refer to nothing
/// shared and have no `ObjRef`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjRef {
    /// A CNode.
    CNode(Addr),
    /// A TCB.
    Tcb(Addr),
    /// An endpoint.
    Endpoint(Addr),
    /// A notification.
    Notification(Addr),
    /// A frame.
    Frame(Addr),
    /// A page table.
    PageTable(Addr),
    /// A VSpace.
    VSpace(Addr),
    /// An IRQ line (IRQHandler capabilities).
    IrqLine(u64),
}

/// The object a capability refers to (spec: ST-5; a Zombie refers to its
/// object, DER-14).
pub fn refers_to(cap: &Cap) -> Option<ObjRef> {
    match *cap {
        Cap::CNode { obj }
        | Cap::Zombie {
            kind: ZombieKind::CNode,
            obj,
            ..
        } => Some(ObjRef::CNode(obj)),
        Cap::Tcb { obj }
        | Cap::Zombie {
            kind: ZombieKind::Tcb,
            obj,
            ..
        } => Some(ObjRef::Tcb(obj)),
        Cap::Endpoint { obj, .. } => Some(ObjRef::Endpoint(obj)),
        Cap::Notification { obj, .. } => Some(ObjRef::Notification(obj)),
        Cap::Frame { obj, .. } => Some(ObjRef::Frame(obj)),
        Cap::PageTable { obj, .. } => Some(ObjRef::PageTable(obj)),
        Cap::VSpace { obj } => Some(ObjRef::VSpace(obj)),
        Cap::IrqHandler { line } => Some(ObjRef::IrqLine(line)),
        Cap::Untyped { .. } | Cap::Reply { .. } | Cap::IrqControl => None,
    }
}

/// The slot `index` of the object a Zombie of `kind` finalises.
fn slot_of(kind: ZombieKind, obj: Addr, index: u64) -> SlotRef {
    match kind {
        ZombieKind::CNode => SlotRef::CNode { obj, index },
        ZombieKind::Tcb => SlotRef::Tcb { obj, index },
    }
}

/// Whether `s` is one of the slots of the object a Zombie finalises.
fn is_slot_of(s: SlotRef, kind: ZombieKind, obj: Addr) -> bool {
    matches!(
        (s, kind),
        (SlotRef::CNode { obj: o, .. }, ZombieKind::CNode) | (SlotRef::Tcb { obj: o, .. }, ZombieKind::Tcb)
            if o == obj
    )
}

/// A preemption point found an interrupt pending (SYS-16).
#[derive(Debug)]
struct Preempted;

/// Why decode refused the call.
enum Refusal {
    /// The invoked capability was not found (SYS-4).
    Fault(LookupFailure),
    /// The invocation fails with this error (SYS-6).
    Error(ErrorDetail),
}

impl From<ErrorDetail> for Refusal {
    fn from(e: ErrorDetail) -> Refusal {
        Refusal::Error(e)
    }
}

/// A decoded Retype (UT-3 … UT-8).
struct RetypePlan {
    /// The invoked untyped's slot.
    untyped: SlotRef,
    /// The type to create.
    ty: ObjectType,
    /// log2 of each object's size (UT-4).
    obj_bits: u32,
    /// The destination CNode.
    dest: Addr,
    /// First destination slot index.
    offset: u64,
    /// Number of objects.
    count: u64,
    /// Offset of object 0 from the base (UT-7).
    start: u64,
    /// A reset must run first (UT-10).
    reset: bool,
}

/// A decoded invocation, ready to be performed (SYS-6: it cannot fail).
enum Op {
    /// UT-8.
    Retype(RetypePlan),
    /// CNODE-2, CNODE-3: place `cap` in `dest` as a child of `src`.
    Derive {
        /// Source slot.
        src: SlotRef,
        /// Destination slot.
        dest: SlotRef,
        /// The new capability.
        cap: Cap,
    },
    /// CNODE-4, CNODE-5, CNODE-10: move `src` to `dest`, then store `cap`.
    Move {
        /// Source slot.
        src: SlotRef,
        /// Destination slot.
        dest: SlotRef,
        /// The moved capability as it ends up.
        cap: Cap,
    },
    /// CNODE-6.
    Delete(SlotRef),
    /// CNODE-7.
    Revoke(SlotRef),
    /// CNODE-8.
    CancelBadgedSends {
        /// The endpoint.
        ep: Addr,
        /// The badge (0: nothing happens).
        badge: u64,
    },
    /// CNODE-10 with an empty reply slot: nothing happens.
    Nothing,
}

/// The kinds of the CNode transfer invocations (CNODE-2 … CNODE-5).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Transfer {
    Copy,
    Mint,
    Move,
    Mutate,
}

fn range_error(min: u64, max: u64) -> ErrorDetail {
    ErrorDetail::RangeError { min, max }
}

fn failure(kind: LookupFailureKind, bits_left: u64, bits_found: u64) -> LookupFailure {
    LookupFailure {
        kind,
        bits_left,
        bits_found,
    }
}

impl Model {
    /// The boot state described by [`BootConfig`] (spec: ST-10, SCHED-10,
    /// CAP-3).
    pub fn boot(cfg: &BootConfig) -> Model {
        let mut s = State::default();
        s.objects.insert(
            cfg.root_tcb,
            Object::Tcb(Tcb {
                state: ThreadState::Running,
                priority: 255,
                mcp: 255,
                slice: TIME_SLICE_TICKS,
                ipc_buffer: 0,
                bound_notification: None,
                fault: None,
                reply_at: None,
            }),
        );
        s.objects.insert(
            cfg.root_cnode,
            Object::CNode {
                radix: cfg.root_radix,
            },
        );
        let root = |index| SlotRef::CNode {
            obj: cfg.root_cnode,
            index,
        };
        let mut place = |at: SlotRef, cap: Cap| {
            s.slots.insert(
                at,
                Slot {
                    cap,
                    parent: None,
                    children: Vec::new(),
                },
            );
        };
        let cnode_cap = Cap::CNode {
            obj: cfg.root_cnode,
        };
        place(
            SlotRef::Tcb {
                obj: cfg.root_tcb,
                index: CSPACE_ROOT,
            },
            cnode_cap,
        );
        place(root(2), cnode_cap);
        place(root(1), Cap::Tcb { obj: cfg.root_tcb });
        place(root(4), Cap::IrqControl);
        for (i, u) in cfg.untypeds.iter().enumerate() {
            place(
                root(16 + i as u64),
                Cap::Untyped {
                    base: u.base,
                    size_bits: u.size_bits,
                    device: u.device,
                    watermark: 0,
                },
            );
        }
        s.current = Some(cfg.root_tcb);
        s.kernel_memory = cfg.kernel_memory.clone();
        Model { state: s }
    }

    /// One `Call` by the current thread (spec: SYS-4 … SYS-9, SYS-18).
    /// `preempt` is the interrupt oracle, asked at the points listed in the
    /// module documentation (SYS-17).
    pub fn invoke(&mut self, inv: &Invocation, preempt: &mut dyn FnMut() -> bool) -> Outcome {
        // No current thread (the idle thread) makes no system call.
        let Some(caller) = self.state.current else {
            return Outcome::NoResult;
        };
        // spec: SYS-18 — finish the unfinished deletion first.
        if let Some(cur) = self.state.pending_delete.take() {
            if self.zombie_steps(cur, preempt).is_err() {
                return self.preempted(caller);
            }
            if !self.is_runnable(caller) {
                // The deletion suspended or destroyed the caller: its own
                // call does not start.
                return self.finish(caller, Outcome::NoResult);
            }
        }
        // spec: SYS-6 — decode everything, then invoke.
        let op = match self.decode(caller, inv) {
            Ok(op) => op,
            // spec: SYS-4 — fault delivery (FLT-3) is not modelled yet.
            Err(Refusal::Fault(f)) => return self.finish(caller, Outcome::CapFault(f)),
            Err(Refusal::Error(e)) => return self.finish(caller, Outcome::Result(Err(e))),
        };
        match self.perform(op, preempt) {
            Ok(()) => self.finish(caller, Outcome::Result(Ok(Vec::new()))),
            Err(Preempted) => self.preempted(caller),
        }
    }

    // ----- results and scheduling -------------------------------------

    fn tcb(&self, t: Addr) -> Option<&Tcb> {
        match self.state.objects.get(&t) {
            Some(Object::Tcb(tcb)) => Some(tcb),
            _ => None,
        }
    }

    fn tcb_mut(&mut self, t: Addr) -> Option<&mut Tcb> {
        match self.state.objects.get_mut(&t) {
            Some(Object::Tcb(tcb)) => Some(tcb),
            _ => None,
        }
    }

    fn is_runnable(&self, t: Addr) -> bool {
        self.tcb(t).is_some_and(|tcb| tcb.state.is_runnable())
    }

    /// The end of a completed call (SYS-9): a runnable caller resumes
    /// `Running` with `outcome`; otherwise there is no result.
    fn finish(&mut self, caller: Addr, outcome: Outcome) -> Outcome {
        if self.is_runnable(caller) {
            if let Some(tcb) = self.tcb_mut(caller) {
                tcb.state = ThreadState::Running;
            }
            outcome
        } else {
            self.schedule();
            Outcome::NoResult
        }
    }

    /// A preemption point found an interrupt pending (SYS-16, DER-16).
    fn preempted(&mut self, caller: Addr) -> Outcome {
        if self.is_runnable(caller)
            && let Some(tcb) = self.tcb_mut(caller)
        {
            tcb.state = ThreadState::Restart;
        }
        self.schedule();
        Outcome::Preempted
    }

    /// SCHED-5, reduced: a `current` that is no longer runnable gives way
    /// to the idle thread (there are no ready queues in the state yet).
    fn schedule(&mut self) {
        if let Some(c) = self.state.current
            && !self.is_runnable(c)
        {
            self.state.current = None;
        }
    }

    // ----- slots and lookups ------------------------------------------

    fn cap(&self, s: SlotRef) -> Option<Cap> {
        self.state.slots.get(&s).map(|slot| slot.cap)
    }

    fn cnode_radix(&self, obj: Addr) -> u32 {
        match self.state.objects.get(&obj) {
            Some(Object::CNode { radix }) => *radix,
            other => panic!("CNode capability to {obj:#x} names {other:?} (INV-9)"),
        }
    }

    fn has_children(&self, s: SlotRef) -> bool {
        self.state
            .slots
            .get(&s)
            .is_some_and(|slot| !slot.children.is_empty())
    }

    /// Slot resolution of a capability address from the capability in
    /// `root` (spec: CS-2, CS-3, CS-4).
    fn resolve(&self, root: SlotRef, cptr: u64) -> Result<SlotRef, LookupFailure> {
        // spec: CS-2, CS-3 — malformed before step 1.
        let (depth, address) = abi::cptr::CPtr::from_raw(cptr)
            .check()
            .map_err(|_| failure(LookupFailureKind::MalformedAddress, 0, 0))?;
        // spec: CS-4 step 1, CS-6 (an empty root slot is InvalidRoot).
        let Some(Cap::CNode { obj }) = self.cap(root) else {
            return Err(failure(LookupFailureKind::InvalidRoot, 0, 0));
        };
        // spec: CS-4 step 2.
        let mut node = obj;
        let mut left = u64::from(depth);
        loop {
            // spec: CS-4 step 3.
            let r = u64::from(self.cnode_radix(node));
            if r > left {
                return Err(failure(LookupFailureKind::DepthMismatch, left, r));
            }
            // spec: CS-4 step 4.
            let index = (address >> (left - r)) & ((1u64 << r) - 1);
            left -= r;
            let slot = SlotRef::CNode { obj: node, index };
            // spec: CS-4 step 5.
            if left == 0 {
                return Ok(slot);
            }
            match self.cap(slot) {
                // spec: CS-4 step 6.
                Some(Cap::CNode { obj }) => node = obj,
                // spec: CS-4 step 7.
                None => return Err(failure(LookupFailureKind::MissingCapability, left, 0)),
                // spec: CS-4 step 8.
                Some(_) => return Err(failure(LookupFailureKind::DepthMismatch, left, 0)),
            }
        }
    }

    /// A capability lookup: resolution, then the slot must not be empty
    /// (spec: CS-7).
    fn lookup_cap(&self, root: SlotRef, cptr: u64) -> Result<(SlotRef, Cap), LookupFailure> {
        let slot = self.resolve(root, cptr)?;
        match self.cap(slot) {
            Some(cap) => Ok((slot, cap)),
            None => Err(failure(LookupFailureKind::MissingCapability, 0, 0)),
        }
    }

    // ----- decode ------------------------------------------------------

    /// Decode the call (spec: SYS-4, SYS-5, ERR-6). Reads only.
    fn decode(&self, caller: Addr, inv: &Invocation) -> Result<Op, Refusal> {
        let root = SlotRef::Tcb {
            obj: caller,
            index: CSPACE_ROOT,
        };
        // spec: SYS-4, ERR-6 step 0.
        let (invoked, cap) = self.lookup_cap(root, inv.cptr).map_err(Refusal::Fault)?;
        // spec: SYS-5, ERR-6 step 1 — extra capabilities in order.
        let mut extra = Vec::new();
        for (i, &cptr) in inv.extra.iter().take(MAX_EXTRA_CAPS).enumerate() {
            let found = self.lookup_cap(root, cptr).map_err(|failure| {
                Refusal::Error(ErrorDetail::FailedLookup {
                    position: i as u64 + 1,
                    failure,
                })
            })?;
            extra.push(found);
        }
        let words = &inv.words[..inv.words.len().min(MAX_WORDS)];
        // spec: ERR-6 step 2 — an unknown label, or one of another type.
        let label = Label::try_from(inv.label).ok();
        let illegal = Err(Refusal::Error(ErrorDetail::IllegalOperation));
        match cap {
            Cap::Untyped { .. } => match label {
                Some(Label::UntypedRetype) => self.decode_retype(invoked, cap, words, &extra),
                _ => illegal,
            },
            Cap::CNode { obj } => match label {
                Some(l) if l.invoked() == Invoked::CNode => {
                    self.decode_cnode(caller, obj, l, words, &extra)
                }
                _ => illegal,
            },
            // not yet modelled: TCB-4 … TCB-14 (every TCB label, and any
            // other label, gives IllegalOperation for now).
            Cap::Tcb { .. } => illegal,
            // not yet modelled: IPC-2 … IPC-9, NTFN-2, NTFN-3, IPC-17
            // (Send/Call on endpoints, notifications and replies).
            Cap::Endpoint { .. } | Cap::Notification { .. } | Cap::Reply { .. } => illegal,
            // not yet modelled: IRQ-4 … IRQ-7.
            Cap::IrqControl | Cap::IrqHandler { .. } => illegal,
            // not yet modelled: VM-6 … VM-10.
            Cap::Frame { .. } | Cap::PageTable { .. } => illegal,
            // spec: CAP-1 — a VSpace has no invocations.
            Cap::VSpace { .. } => illegal,
            // spec: DER-14 — a Zombie has no invocations.
            Cap::Zombie { .. } => illegal,
        }
    }

    /// Decode Retype (spec: UT-3 … UT-7, UT-5 checks 1 … 10).
    fn decode_retype(
        &self,
        invoked: SlotRef,
        cap: Cap,
        words: &[u64],
        extra: &[(SlotRef, Cap)],
    ) -> Result<Op, Refusal> {
        let Cap::Untyped {
            size_bits,
            device,
            watermark,
            ..
        } = cap
        else {
            unreachable!("decode_retype on {cap:?}");
        };
        // spec: UT-5 #1.
        if words.len() < 4 || extra.is_empty() {
            return Err(ErrorDetail::TruncatedMessage.into());
        }
        let (ty_word, size_word, offset, count) = (words[0], words[1], words[2], words[3]);
        // spec: UT-5 #2.
        let ty =
            ObjectType::try_from(ty_word).map_err(|_| ErrorDetail::InvalidArgument { index: 0 })?;
        // spec: UT-5 #3, UT-4.
        let obj_bits = ty
            .size_bits(size_word)
            .map_err(|e| range_error(u64::from(e.min), u64::from(e.max)))?;
        // spec: UT-5 #4, UT-13.
        if device && !ty.allowed_from_device() {
            return Err(ErrorDetail::InvalidArgument { index: 0 }.into());
        }
        // spec: UT-5 #5.
        let Cap::CNode { obj: dest } = extra[0].1 else {
            return Err(ErrorDetail::InvalidCapability { position: 1 }.into());
        };
        // spec: UT-5 #6.
        if !(1..=RETYPE_FAN_OUT_LIMIT).contains(&count) {
            return Err(range_error(1, RETYPE_FAN_OUT_LIMIT).into());
        }
        // spec: UT-5 #7.
        let slots = 1u64 << self.cnode_radix(dest);
        if offset >= slots {
            return Err(range_error(0, slots - 1).into());
        }
        // spec: UT-5 #8.
        if count > slots - offset {
            return Err(range_error(1, slots - offset).into());
        }
        // spec: UT-5 #9.
        if (offset..offset + count).any(|i| {
            self.cap(SlotRef::CNode {
                obj: dest,
                index: i,
            })
            .is_some()
        }) {
            return Err(ErrorDetail::DeleteFirst.into());
        }
        // spec: UT-6 — the effective watermark.
        let w = if self.has_children(invoked) {
            watermark
        } else {
            0
        };
        // spec: UT-7, UT-5 #10 (u128: no overflow).
        let size = 1u128 << size_bits;
        let obj_size = 1u128 << obj_bits;
        let start = u128::from(w).div_ceil(obj_size) * obj_size;
        if start + u128::from(count) * obj_size > size {
            return Err(ErrorDetail::NotEnoughMemory {
                available: (size - u128::from(w)) as u64,
            }
            .into());
        }
        Ok(Op::Retype(RetypePlan {
            untyped: invoked,
            ty,
            obj_bits,
            dest,
            offset,
            count,
            start: start as u64,
            // spec: UT-10 — reset when W = 0 but the watermark is not.
            reset: w == 0 && watermark > 0,
        }))
    }

    /// Decode a CNode invocation (spec: CNODE-1 … CNODE-11).
    fn decode_cnode(
        &self,
        caller: Addr,
        cnode: Addr,
        label: Label,
        words: &[u64],
        extra: &[(SlotRef, Cap)],
    ) -> Result<Op, Refusal> {
        let transfer = match label {
            Label::CNodeCopy => Transfer::Copy,
            Label::CNodeMint => Transfer::Mint,
            Label::CNodeMove => Transfer::Move,
            Label::CNodeMutate => Transfer::Mutate,
            _ => return self.decode_cnode_slot_op(caller, cnode, label, words),
        };
        self.decode_transfer(cnode, transfer, words, extra)
    }

    /// CNODE-1: `index` must be below `2^radix` of `cnode`.
    fn index_in(&self, cnode: Addr, index: u64) -> Result<SlotRef, ErrorDetail> {
        let slots = 1u64 << self.cnode_radix(cnode);
        if index < slots {
            Ok(SlotRef::CNode { obj: cnode, index })
        } else {
            Err(range_error(0, slots - 1))
        }
    }

    /// Copy, Mint, Move, Mutate (spec: CNODE-2 … CNODE-5), checks in the
    /// order of their lists.
    fn decode_transfer(
        &self,
        cnode: Addr,
        kind: Transfer,
        words: &[u64],
        extra: &[(SlotRef, Cap)],
    ) -> Result<Op, Refusal> {
        let needed = match kind {
            Transfer::Move => 2,
            Transfer::Copy => 3,
            Transfer::Mint | Transfer::Mutate => 4,
        };
        // spec: CNODE-2 #1.
        if words.len() < needed || extra.is_empty() {
            return Err(ErrorDetail::TruncatedMessage.into());
        }
        // spec: CNODE-2 #2.
        let Cap::CNode { obj: src_cnode } = extra[0].1 else {
            return Err(ErrorDetail::InvalidCapability { position: 1 }.into());
        };
        // spec: CNODE-2 #3, #4 (CNODE-1).
        let dest = self.index_in(cnode, words[0])?;
        let src = self.index_in(src_cnode, words[1])?;
        // spec: CNODE-2 #5 (not for Move), ERR-5.
        let mask = if kind == Transfer::Move {
            Rights::ALL
        } else {
            Rights::from_word(words[2]).map_err(|_| ErrorDetail::InvalidArgument { index: 2 })?
        };
        let badge = match kind {
            Transfer::Mint | Transfer::Mutate => words[3],
            Transfer::Copy | Transfer::Move => 0,
        };
        // spec: CNODE-2 #6.
        if self.cap(dest).is_some() {
            return Err(ErrorDetail::DeleteFirst.into());
        }
        // spec: CNODE-2 #7.
        let Some(source) = self.cap(src) else {
            return Err(ErrorDetail::FailedLookup {
                position: 1,
                failure: failure(LookupFailureKind::MissingCapability, 0, 0),
            }
            .into());
        };
        // spec: CNODE-2 #8 (Copy and Mint only), CAP-9.
        if matches!(kind, Transfer::Copy | Transfer::Mint) && !self.derivable(&source) {
            return Err(ErrorDetail::IllegalOperation.into());
        }
        if matches!(kind, Transfer::Mint | Transfer::Mutate) && badge != 0 {
            match source {
                // spec: CNODE-3 #10.
                Cap::Endpoint { badge: b, .. } | Cap::Notification { badge: b, .. } => {
                    if b != 0 {
                        return Err(ErrorDetail::IllegalOperation.into());
                    }
                }
                // spec: CNODE-3 #9.
                _ => return Err(ErrorDetail::InvalidArgument { index: 3 }.into()),
            }
        }
        let new = masked(source, mask, badge);
        match kind {
            Transfer::Copy | Transfer::Mint => Ok(Op::Derive {
                src,
                dest,
                // spec: CNODE-2 — a Frame copy has no mapping.
                cap: match new {
                    Cap::Frame { obj, rights, .. } => Cap::Frame {
                        obj,
                        rights,
                        mapping: None,
                    },
                    other => other,
                },
            }),
            Transfer::Move => Ok(Op::Move {
                src,
                dest,
                cap: source,
            }),
            Transfer::Mutate => {
                // spec: CNODE-5 #11.
                if new != source && self.has_children(src) {
                    return Err(ErrorDetail::RevokeFirst.into());
                }
                Ok(Op::Move {
                    src,
                    dest,
                    cap: new,
                })
            }
        }
    }

    /// Delete, Revoke, CancelBadgedSends, SaveCaller (spec: CNODE-6,
    /// CNODE-7, CNODE-8, CNODE-10).
    fn decode_cnode_slot_op(
        &self,
        caller: Addr,
        cnode: Addr,
        label: Label,
        words: &[u64],
    ) -> Result<Op, Refusal> {
        // spec: CNODE-6, CNODE-7, CNODE-8, CNODE-10 — 1 word.
        let Some(&index) = words.first() else {
            return Err(ErrorDetail::TruncatedMessage.into());
        };
        // spec: CNODE-1 — index in range.
        let slot = self.index_in(cnode, index)?;
        match label {
            // spec: CNODE-6.
            Label::CNodeDelete => Ok(Op::Delete(slot)),
            // spec: CNODE-7.
            Label::CNodeRevoke => Ok(Op::Revoke(slot)),
            // spec: CNODE-8.
            Label::CNodeCancelBadgedSends => match self.cap(slot) {
                None => Err(ErrorDetail::FailedLookup {
                    position: 0,
                    failure: failure(LookupFailureKind::MissingCapability, 0, 0),
                }
                .into()),
                Some(Cap::Endpoint { obj, badge, rights }) if rights == Rights::ALL => {
                    Ok(Op::CancelBadgedSends { ep: obj, badge })
                }
                Some(_) => Err(ErrorDetail::IllegalOperation.into()),
            },
            // spec: CNODE-10.
            Label::CNodeSaveCaller => {
                if self.cap(slot).is_some() {
                    return Err(ErrorDetail::DeleteFirst.into());
                }
                let reply = SlotRef::Tcb {
                    obj: caller,
                    index: REPLY_SLOT,
                };
                match self.cap(reply) {
                    Some(cap @ Cap::Reply { .. }) => Ok(Op::Move {
                        src: reply,
                        dest: slot,
                        cap,
                    }),
                    _ => Ok(Op::Nothing),
                }
            }
            other => unreachable!("{other:?} is not a CNode slot invocation"),
        }
    }

    /// Whether a capability may be derived (spec: CAP-9, DER-14).
    fn derivable(&self, cap: &Cap) -> bool {
        match cap {
            Cap::Untyped { .. }
            | Cap::Reply { .. }
            | Cap::IrqControl
            | Cap::PageTable { .. }
            | Cap::Zombie { .. } => false,
            Cap::VSpace { obj } => matches!(
                self.state.objects.get(obj),
                Some(Object::VSpace { asid: Some(_) })
            ),
            _ => true,
        }
    }

    // ----- invoke ------------------------------------------------------

    /// Perform a decoded operation (SYS-6: only preemption stops it).
    fn perform(&mut self, op: Op, preempt: &mut dyn FnMut() -> bool) -> Result<(), Preempted> {
        match op {
            Op::Retype(plan) => self.retype(plan, preempt),
            Op::Derive { src, dest, cap } => {
                self.insert_child(src, dest, cap);
                Ok(())
            }
            Op::Move { src, dest, cap } => {
                self.move_slot(src, dest);
                if let Some(slot) = self.state.slots.get_mut(&dest) {
                    slot.cap = cap;
                }
                Ok(())
            }
            Op::Delete(slot) => self.delete(slot, preempt),
            Op::Revoke(slot) => self.revoke(slot, preempt),
            Op::CancelBadgedSends { ep, badge } => {
                self.cancel_badged_sends(ep, badge);
                Ok(())
            }
            Op::Nothing => Ok(()),
        }
    }

    /// Retype: reset if needed, then place the objects (spec: UT-8,
    /// UT-10).
    fn retype(
        &mut self,
        plan: RetypePlan,
        preempt: &mut dyn FnMut() -> bool,
    ) -> Result<(), Preempted> {
        if plan.reset {
            self.reset(plan.untyped, preempt)?;
        }
        let Some(Cap::Untyped { base, device, .. }) = self.cap(plan.untyped) else {
            unreachable!("retype of a slot that holds no untyped");
        };
        let obj_size = 1u64 << plan.obj_bits;
        // spec: UT-8 step 1.
        let end = plan.start + plan.count * obj_size;
        if let Some(Slot {
            cap: Cap::Untyped { watermark, .. },
            ..
        }) = self.state.slots.get_mut(&plan.untyped)
        {
            *watermark = end;
        }
        // spec: UT-8 step 2.
        for i in 0..plan.count {
            let at = base + plan.start + i * obj_size;
            let cap = self.create(plan.ty, plan.obj_bits, at, device);
            let dest = SlotRef::CNode {
                obj: plan.dest,
                index: plan.offset + i,
            };
            self.insert_child(plan.untyped, dest, cap);
        }
        Ok(())
    }

    /// UT-10: lower the watermark of the untyped in `slot` to 0, chunk by
    /// chunk from the top, with a preemption point after every chunk.
    fn reset(&mut self, slot: SlotRef, preempt: &mut dyn FnMut() -> bool) -> Result<(), Preempted> {
        loop {
            let Some(Slot {
                cap: Cap::Untyped {
                    device, watermark, ..
                },
                ..
            }) = self.state.slots.get_mut(&slot)
            else {
                unreachable!("reset of a slot that holds no untyped");
            };
            if *watermark == 0 {
                return Ok(());
            }
            if *device {
                // spec: UT-10, UT-13 — one step, memory not written.
                *watermark = 0;
                return Ok(());
            }
            // spec: UT-10 — zero [chunk, watermark) (abstract memory), and
            // lower the watermark to the chunk's start.
            *watermark = ((*watermark - 1) >> RESET_CHUNK_BITS) << RESET_CHUNK_BITS;
            if preempt() {
                return Err(Preempted);
            }
        }
    }

    /// A new object in its initial state and the capability to it (spec:
    /// UT-9, CAP-3).
    fn create(&mut self, ty: ObjectType, obj_bits: u32, at: Addr, device: bool) -> Cap {
        let (object, cap) = match ty {
            ObjectType::Untyped => {
                return Cap::Untyped {
                    base: at,
                    size_bits: obj_bits,
                    device,
                    watermark: 0,
                };
            }
            ObjectType::Tcb => (
                Object::Tcb(Tcb {
                    state: ThreadState::Inactive,
                    priority: 0,
                    mcp: 0,
                    slice: TIME_SLICE_TICKS,
                    ipc_buffer: 0,
                    bound_notification: None,
                    fault: None,
                    reply_at: None,
                }),
                Cap::Tcb { obj: at },
            ),
            ObjectType::Endpoint => (
                Object::Endpoint(EndpointState::Idle),
                Cap::Endpoint {
                    obj: at,
                    badge: 0,
                    rights: Rights::ALL,
                },
            ),
            ObjectType::Notification => (
                Object::Notification(Notification {
                    state: NotificationState::Idle,
                    bound_tcb: None,
                }),
                Cap::Notification {
                    obj: at,
                    badge: 0,
                    rights: Rights::ALL,
                },
            ),
            ObjectType::CNode => (
                Object::CNode {
                    radix: obj_bits - abi::object::SLOT_BITS,
                },
                Cap::CNode { obj: at },
            ),
            ObjectType::Frame4K | ObjectType::Frame2M | ObjectType::Frame1G => (
                Object::Frame {
                    size_bits: obj_bits,
                    device,
                },
                Cap::Frame {
                    obj: at,
                    rights: Rights::READ_WRITE,
                    mapping: None,
                },
            ),
            ObjectType::PageTable => (
                Object::PageTable,
                Cap::PageTable {
                    obj: at,
                    mapping: None,
                },
            ),
            ObjectType::VSpace => (Object::VSpace { asid: None }, Cap::VSpace { obj: at }),
        };
        self.state.objects.insert(at, object);
        cap
    }

    /// CNODE-8: restart the senders queued with `badge` on `ep`.
    fn cancel_badged_sends(&mut self, ep: Addr, badge: u64) {
        if badge == 0 {
            return;
        }
        let Some(Object::Endpoint(EndpointState::Sending(queue))) = self.state.objects.get(&ep)
        else {
            return;
        };
        let queue = queue.clone();
        let (cancelled, kept): (Vec<Addr>, Vec<Addr>) = queue.into_iter().partition(|t| {
            matches!(
                self.tcb(*t).map(|tcb| tcb.state),
                Some(ThreadState::BlockedOnSend { badge: b, .. }) if b == badge
            )
        });
        self.state.objects.insert(
            ep,
            Object::Endpoint(if kept.is_empty() {
                EndpointState::Idle
            } else {
                EndpointState::Sending(kept)
            }),
        );
        for t in cancelled {
            self.restart(t);
        }
    }

    // ----- the derivation tree -----------------------------------------

    /// Place `cap` in the empty slot `child` as the first child of
    /// `parent` (spec: DER-2, DER-3).
    fn insert_child(&mut self, parent: SlotRef, child: SlotRef, cap: Cap) {
        self.state.slots.insert(
            child,
            Slot {
                cap,
                parent: Some(parent),
                children: Vec::new(),
            },
        );
        if let Some(p) = self.state.slots.get_mut(&parent) {
            p.children.insert(0, child);
        }
    }

    /// Remove `s` (spec: DER-8): its children take its place among its
    /// parent's children; `s` becomes empty. No deletion effect.
    fn remove_slot(&mut self, s: SlotRef) {
        let Some(slot) = self.state.slots.remove(&s) else {
            return;
        };
        for c in &slot.children {
            if let Some(child) = self.state.slots.get_mut(c) {
                child.parent = slot.parent;
            }
        }
        if let Some(p) = slot.parent.and_then(|p| self.state.slots.get_mut(&p))
            && let Some(pos) = p.children.iter().position(|&c| c == s)
        {
            p.children.splice(pos..=pos, slot.children.iter().copied());
        }
    }

    /// Move the contents of `src` to the empty slot `dest`, which takes
    /// `src`'s place in the tree (spec: DER-4, CNODE-4).
    fn move_slot(&mut self, src: SlotRef, dest: SlotRef) {
        let Some(slot) = self.state.slots.remove(&src) else {
            return;
        };
        let rename = |s: SlotRef| if s == src { dest } else { s };
        if let Some(p) = slot.parent.and_then(|p| self.state.slots.get_mut(&p)) {
            for c in &mut p.children {
                *c = rename(*c);
            }
        }
        for c in &slot.children {
            if let Some(child) = self.state.slots.get_mut(c) {
                child.parent = Some(dest);
            }
        }
        // spec: CNODE-4 — a moved Reply capability's caller follows it.
        if let Cap::Reply { caller, .. } = slot.cap
            && let Some(tcb) = self.tcb_mut(caller)
        {
            tcb.reply_at = Some(dest);
        }
        self.state.slots.insert(dest, slot);
    }

    /// Exchange the contents of two non-empty slots, each capability
    /// taking its tree position along (spec: DER-15 step 4).
    fn swap_slots(&mut self, a: SlotRef, b: SlotRef) {
        let (Some(sa), Some(sb)) = (self.state.slots.remove(&a), self.state.slots.remove(&b))
        else {
            unreachable!("swap of an empty slot");
        };
        let f = |s: SlotRef| {
            if s == a {
                b
            } else if s == b {
                a
            } else {
                s
            }
        };
        let mut neighbours: Vec<SlotRef> = Vec::new();
        for s in [&sa, &sb] {
            neighbours.extend(s.parent);
            neighbours.extend(s.children.iter().copied());
        }
        neighbours.sort();
        neighbours.dedup();
        for n in neighbours {
            if let Some(slot) = self.state.slots.get_mut(&n) {
                slot.parent = slot.parent.map(f);
                for c in &mut slot.children {
                    *c = f(*c);
                }
            }
        }
        let remap = |mut s: Slot| {
            s.parent = s.parent.map(f);
            for c in &mut s.children {
                *c = f(*c);
            }
            s
        };
        self.state.slots.insert(b, remap(sa));
        self.state.slots.insert(a, remap(sb));
    }

    /// Whether the capability in `s` is final (spec: DER-6).
    fn is_final(&self, s: SlotRef) -> bool {
        let Some(cap) = self.cap(s) else {
            return false;
        };
        match refers_to(&cap) {
            None => true,
            Some(obj) => !self
                .state
                .slots
                .iter()
                .any(|(&other, slot)| other != s && refers_to(&slot.cap) == Some(obj)),
        }
    }

    // ----- Delete, Revoke, finalisation --------------------------------

    /// Delete slot `s` (spec: DER-7).
    fn delete(&mut self, s: SlotRef, preempt: &mut dyn FnMut() -> bool) -> Result<(), Preempted> {
        match self.cap(s) {
            // spec: DER-7 step 1.
            None => Ok(()),
            // spec: DER-7 step 2.
            Some(Cap::Zombie { .. }) => self.zombie_steps(s, preempt),
            // spec: DER-7 step 3.
            Some(_) => {
                if self.deletion_effect(s) {
                    self.zombie_steps(s, preempt)
                } else {
                    self.remove_slot(s);
                    Ok(())
                }
            }
        }
    }

    /// Revoke slot `s` (spec: DER-11), with a preemption point after each
    /// child Delete while children remain.
    fn revoke(&mut self, s: SlotRef, preempt: &mut dyn FnMut() -> bool) -> Result<(), Preempted> {
        loop {
            let Some(&first) = self
                .state
                .slots
                .get(&s)
                .and_then(|slot| slot.children.first())
            else {
                return Ok(());
            };
            self.delete(first, preempt)?;
            // spec: SYS-15, DER-11 — preemption point between two Deletes.
            if self.has_children(s) && preempt() {
                return Err(Preempted);
            }
        }
    }

    /// Apply the deletion effect of the capability in `s` (spec: DER-12).
    /// Returns whether it became a Zombie (final CNode or TCB), in which
    /// case the caller continues by DER-15; otherwise the caller removes
    /// the slot.
    fn deletion_effect(&mut self, s: SlotRef) -> bool {
        let Some(cap) = self.cap(s) else {
            return false;
        };
        let fin = self.is_final(s);
        match cap {
            Cap::Endpoint { obj, .. } if fin => {
                // spec: DER-12 Endpoint.
                if let Some(Object::Endpoint(
                    EndpointState::Sending(q) | EndpointState::Receiving(q),
                )) = self.state.objects.remove(&obj)
                {
                    for t in q {
                        self.restart(t);
                    }
                }
                false
            }
            Cap::Notification { obj, .. } if fin => {
                // spec: DER-12 Notification.
                if let Some(Object::Notification(n)) = self.state.objects.remove(&obj) {
                    if let NotificationState::Waiting(q) = n.state {
                        for t in q {
                            self.restart(t);
                        }
                    }
                    if let Some(t) = n.bound_tcb.and_then(|t| self.tcb_mut(t)) {
                        t.bound_notification = None;
                    }
                }
                false
            }
            Cap::Reply { caller, .. } => {
                // spec: DER-12 Reply, IPC-20.
                self.lost_reply(caller);
                false
            }
            Cap::Tcb { obj } if fin => {
                // spec: DER-12 TCB — suspend (TCB-10), unbind, Zombie.
                self.suspend(obj);
                self.unbind(obj);
                self.set_cap(
                    s,
                    Cap::Zombie {
                        kind: ZombieKind::Tcb,
                        obj,
                        remaining: TCB_SLOTS as u64,
                        resume: None,
                    },
                );
                true
            }
            Cap::CNode { obj } if fin => {
                // spec: DER-12 CNode.
                let remaining = 1u64 << self.cnode_radix(obj);
                self.set_cap(
                    s,
                    Cap::Zombie {
                        kind: ZombieKind::CNode,
                        obj,
                        remaining,
                        resume: None,
                    },
                );
                true
            }
            Cap::Frame { obj, .. } => {
                // spec: DER-12 Frame — the mapping is never set yet (VM-7
                // not yet modelled). The table does not say it, but a final
                // frame capability's frame ceases to exist (INV-10).
                if fin {
                    self.state.objects.remove(&obj);
                }
                false
            }
            Cap::PageTable { obj, .. } if fin => {
                // spec: DER-12 PageTable — never linked yet (VM-10 not yet
                // modelled); it ceases to exist.
                self.state.objects.remove(&obj);
                false
            }
            Cap::VSpace { obj } if fin => {
                // spec: DER-12 VSpace — no ASID pools yet (ASID-* not yet
                // modelled); it ceases to exist.
                self.state.objects.remove(&obj);
                false
            }
            Cap::IrqHandler { line } if fin => {
                // spec: DER-12 IRQHandler — the line state is not in the
                // state yet (IRQ-2); the notification slot is deleted. It
                // holds a Notification capability, whose deletion is one
                // step with no Zombie.
                let irq = SlotRef::Irq { line };
                if self.cap(irq).is_some() {
                    let zombie = self.deletion_effect(irq);
                    debug_assert!(!zombie);
                    self.remove_slot(irq);
                }
                false
            }
            // spec: DER-12 — Untyped, IRQControl: none; other types when
            // not final: none. A Zombie is handled by DER-7 step 2.
            _ => false,
        }
    }

    fn set_cap(&mut self, s: SlotRef, cap: Cap) {
        if let Some(slot) = self.state.slots.get_mut(&s) {
            slot.cap = cap;
        }
    }

    /// A thread taken off a queue by CancelBadgedSends or a finalisation
    /// becomes `Restart` (CNODE-8, DER-12). A pending fault it was
    /// delivering is dropped: it re-executes the faulting instruction, and
    /// INV-26 allows a fault only while blocked.
    fn restart(&mut self, t: Addr) {
        if let Some(tcb) = self.tcb_mut(t) {
            tcb.state = ThreadState::Restart;
            tcb.fault = None;
        }
    }

    /// IPC-20: the Reply capability naming `caller` is deleted.
    fn lost_reply(&mut self, caller: Addr) {
        if let Some(tcb) = self.tcb_mut(caller) {
            tcb.reply_at = None;
            if tcb.fault.is_some() {
                tcb.fault = None;
                tcb.state = ThreadState::Inactive;
            } else {
                // Resumes with the NoReply label (registers not modelled).
                tcb.state = ThreadState::Running;
            }
        }
    }

    /// TCB-10 Suspend: cancel the thread's IPC and stop it.
    fn suspend(&mut self, t: Addr) {
        let Some(tcb) = self.tcb(t) else {
            return;
        };
        let (state, reply_at) = (tcb.state, tcb.reply_at);
        match state {
            ThreadState::BlockedOnSend { ep, .. } | ThreadState::BlockedOnRecv { ep, .. } => {
                if let Some(Object::Endpoint(es)) = self.state.objects.get_mut(&ep)
                    && let EndpointState::Sending(q) | EndpointState::Receiving(q) = es
                {
                    q.retain(|&x| x != t);
                    if q.is_empty() {
                        *es = EndpointState::Idle;
                    }
                }
            }
            ThreadState::BlockedOnNotification { ntfn } => {
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
        // spec: IPC-19 — the Reply capability is removed with no effect.
        if let Some(r) = reply_at {
            self.remove_slot(r);
        }
        if let Some(tcb) = self.tcb_mut(t) {
            tcb.reply_at = None;
            tcb.fault = None;
            tcb.state = ThreadState::Inactive;
        }
    }

    /// DER-12 TCB: the thread's bound notification, if any, is unbound.
    fn unbind(&mut self, t: Addr) {
        let Some(n) = self
            .tcb_mut(t)
            .and_then(|tcb| tcb.bound_notification.take())
        else {
            return;
        };
        if let Some(Object::Notification(ntfn)) = self.state.objects.get_mut(&n) {
            ntfn.bound_tcb = None;
        }
    }

    /// Run Zombie steps from `cur` until the deletion completes, with a
    /// preemption point after every step that leaves it unfinished
    /// (spec: DER-15, DER-16).
    fn zombie_steps(
        &mut self,
        mut cur: SlotRef,
        preempt: &mut dyn FnMut() -> bool,
    ) -> Result<(), Preempted> {
        while let Some(next) = self.zombie_step(cur) {
            cur = next;
            if preempt() {
                // spec: DER-16.
                self.state.pending_delete = Some(cur);
                return Err(Preempted);
            }
        }
        Ok(())
    }

    /// One Zombie step in `cur` (spec: DER-15). Returns the slot where the
    /// deletion continues, or `None` once it is complete.
    fn zombie_step(&mut self, cur: SlotRef) -> Option<SlotRef> {
        let Some(Cap::Zombie {
            kind,
            obj,
            remaining,
            resume,
        }) = self.cap(cur)
        else {
            unreachable!("Zombie step on {cur:?}, which holds no Zombie (INV-37)");
        };
        if remaining == 0 {
            // spec: DER-15 step 1 — `obj` ceases to exist; `cur` vanishes
            // with it or is removed (DER-8).
            let vanished = is_slot_of(cur, kind, obj);
            self.remove_slot(cur);
            self.state.objects.remove(&obj);
            return match resume {
                None => None,
                Some(r) if vanished => Some(r),
                Some(r) => {
                    // The Zombie in R moves into cur as Move does: it
                    // keeps its own tree position, which cur takes over.
                    self.move_slot(r, cur);
                    Some(cur)
                }
            };
        }
        let t = slot_of(kind, obj, remaining - 1);
        let set_remaining = |m: &mut Model, n: u64| {
            m.set_cap(
                cur,
                Cap::Zombie {
                    kind,
                    obj,
                    remaining: n,
                    resume,
                },
            );
        };
        match self.cap(t) {
            // spec: DER-15 step 2.
            None => set_remaining(self, remaining - 1),
            _ if t == cur => set_remaining(self, remaining - 1),
            Some(Cap::CNode { .. } | Cap::Tcb { .. }) if self.is_final(t) => {
                // spec: DER-15 step 4.
                let zombie = self.deletion_effect(t);
                debug_assert!(zombie);
                self.swap_slots(cur, t);
                if let Some(Cap::Zombie {
                    kind,
                    obj,
                    remaining,
                    ..
                }) = self.cap(cur)
                {
                    self.set_cap(
                        cur,
                        Cap::Zombie {
                            kind,
                            obj,
                            remaining,
                            resume: Some(t),
                        },
                    );
                }
            }
            Some(_) => {
                // spec: DER-15 step 3 — Delete T; `remaining` unchanged.
                let zombie = self.deletion_effect(t);
                debug_assert!(!zombie);
                self.remove_slot(t);
            }
        }
        Some(cur)
    }
}

/// The capability `cap` with its rights intersected with `mask` and, if
/// `badge ≠ 0`, that badge (spec: CAP-6, CAP-8, CNODE-2, CNODE-3,
/// CNODE-5; for a Reply, `can_grant` counts as Grant, CAP-4).
fn masked(cap: Cap, mask: Rights, badge: u64) -> Cap {
    let new_badge = |old: u64| if badge != 0 { badge } else { old };
    match cap {
        Cap::Endpoint {
            obj,
            badge: b,
            rights,
        } => Cap::Endpoint {
            obj,
            badge: new_badge(b),
            rights: rights.intersect(mask),
        },
        Cap::Notification {
            obj,
            badge: b,
            rights,
        } => Cap::Notification {
            obj,
            badge: new_badge(b),
            rights: rights.intersect(mask),
        },
        Cap::Frame {
            obj,
            rights,
            mapping,
        } => Cap::Frame {
            obj,
            rights: rights.intersect(mask),
            mapping,
        },
        Cap::Reply { caller, can_grant } => Cap::Reply {
            caller,
            can_grant: can_grant && mask.contains(Rights::GRANT),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests;
