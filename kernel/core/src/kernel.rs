//! The kernel state and one kernel entry: pending-deletion continuation,
//! capability lookup, decode, invoke (spec: SYS-4 … SYS-9, SYS-18, CS-4).
//!
//! [`Kernel`] owns the machine memory (through [`Memory`]) and the few
//! kernel globals; every object lives in that memory at an address user
//! space chose by retyping. The bare-metal kernel and the host tests run
//! this same code.

use crate::cap::Cap;
use crate::mem::{Memory, PAddr};
use crate::object::tcb::{self, ThreadState};
use crate::slot::{self, SLOT_SIZE};
use abi::cptr::CPtr;
use abi::error::{ErrorDetail, LookupFailure, LookupFailureKind};
use abi::invocation::{Invoked, Label};

/// One untyped region given to the root task at boot (spec: ST-10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootUntyped {
    /// Base, aligned to the size.
    pub base: PAddr,
    /// log2 of the size.
    pub size_bits: u8,
    /// Device memory.
    pub device: bool,
}

/// Where boot places the root task's objects (spec: ST-10).
#[derive(Clone, Copy, Debug)]
pub struct BootSpec<'a> {
    /// The root TCB (2 KiB aligned, zeroed, outside every untyped).
    pub root_tcb: PAddr,
    /// The root CNode (aligned to its size, zeroed, outside every untyped).
    pub root_cnode: PAddr,
    /// The root CNode's radix (at least 5, so slot 16 exists).
    pub root_radix: u8,
    /// The untyped regions, placed in root slots 16, 17, …
    pub untypeds: &'a [BootUntyped],
}

/// Root CNode slots used at boot (spec: ABI-16).
pub mod root_slot {
    pub use abi::object::root_slot::*;
}

/// How a kernel entry ended, as the caller sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The call completed with the caller `Running` (spec: SYS-9).
    Done(Result<(), ErrorDetail>),
    /// The invoked capability's lookup failed (spec: SYS-4). Fault
    /// delivery (FLT-3) joins with IPC; until then the caller stays
    /// `Running` and the fault is reported here.
    CapFault(LookupFailure),
    /// A preemption point found an interrupt pending (spec: SYS-16).
    Preempted,
    /// The call left the caller not `Running` (spec: SYS-9).
    NoResult,
}

/// A preemption point found an interrupt pending: stop, leave the caller
/// `Restart` (spec: SYS-16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preempted;

/// The kernel: machine memory and globals (spec: ST-9).
pub struct Kernel<M: Memory> {
    /// Physical memory holding every object.
    pub mem: M,
    /// The thread that runs on return to user space.
    pub current: PAddr,
    /// The slot of an unfinished deletion, 0 for none (spec: DER-16).
    pub pending_delete: PAddr,
}

/// Address of slot `index` of the CNode at `cnode`.
pub const fn cnode_slot(cnode: PAddr, index: u64) -> PAddr {
    cnode + index * SLOT_SIZE
}

/// A lookup failure of kind `kind` with the given detail.
pub(crate) const fn failure(
    kind: LookupFailureKind,
    bits_left: u64,
    bits_found: u64,
) -> LookupFailure {
    LookupFailure {
        kind,
        bits_left,
        bits_found,
    }
}

impl<M: Memory> Kernel<M> {
    /// Build the boot state of ST-10 in `mem` (the objects' memory must be
    /// zero).
    pub fn boot(mut mem: M, spec: &BootSpec<'_>) -> Kernel<M> {
        let (t, c) = (spec.root_tcb, spec.root_cnode);
        let cnode_cap = Cap::CNode {
            obj: c,
            radix: spec.root_radix,
        };
        tcb::set_state(&mut mem, t, ThreadState::Running);
        {
            let o = tcb::tcb_mut(&mut mem, t);
            o.priority = abi::sched::MAX_PRIORITY;
            o.mcp = abi::sched::MAX_PRIORITY;
            o.slice = abi::sched::TIME_SLICE_TICKS as u64;
        }
        // Parentless capabilities to one object are chained as neighbours
        // (see `slot`), so the two root CNode capabilities are linked.
        let cspace_root = tcb::slot_addr(t, abi::invocation::TcbSlot::CSpaceRoot as u64);
        slot::insert_root(&mut mem, cspace_root, cnode_cap, None);
        slot::insert_root(
            &mut mem,
            cnode_slot(c, root_slot::CNODE),
            cnode_cap,
            Some(cspace_root),
        );
        slot::insert_root(
            &mut mem,
            cnode_slot(c, root_slot::TCB),
            Cap::Tcb { obj: t },
            None,
        );
        slot::insert_root(
            &mut mem,
            cnode_slot(c, root_slot::IRQ_CONTROL),
            Cap::IrqControl,
            None,
        );
        for (i, u) in spec.untypeds.iter().enumerate() {
            let cap = Cap::Untyped {
                base: u.base,
                size_bits: u.size_bits,
                device: u.device,
                watermark: 0,
            };
            let at = cnode_slot(c, root_slot::FIRST_UNTYPED + i as u64);
            slot::insert_root(&mut mem, at, cap, None);
        }
        Kernel {
            mem,
            current: t,
            pending_delete: 0,
        }
    }

    /// Slot resolution of `cptr` from the capability `root` (spec: CS-4):
    /// the slot the address names, which may be empty.
    pub fn resolve(&self, root: Cap, cptr: u64) -> Result<PAddr, LookupFailure> {
        use LookupFailureKind::*;
        let (depth, addr) = CPtr::from_raw(cptr)
            .check()
            .map_err(|_| failure(MalformedAddress, 0, 0))?;
        let Cap::CNode { obj, radix } = root else {
            return Err(failure(InvalidRoot, 0, 0));
        };
        let (mut node, mut radix, mut left) = (obj, radix as u32, depth);
        loop {
            // spec: CS-4 step 3 … 8; every step consumes ≥ 1 bit (CS-8).
            if radix > left {
                return Err(failure(DepthMismatch, left as u64, radix as u64));
            }
            left -= radix;
            let index = (addr >> left) & ((1 << radix) - 1);
            let s = cnode_slot(node, index);
            if left == 0 {
                return Ok(s);
            }
            match slot::cap(&self.mem, s) {
                Cap::CNode { obj, radix: r } => (node, radix) = (obj, r as u32),
                Cap::Null => return Err(failure(MissingCapability, left as u64, 0)),
                _ => return Err(failure(DepthMismatch, left as u64, 0)),
            }
        }
    }

    /// Capability lookup in the current thread's CSpace (spec: CS-6, CS-7):
    /// the slot and its (non-null) capability.
    pub fn lookup(&self, cptr: u64) -> Result<(PAddr, Cap), LookupFailure> {
        let root_slot = tcb::slot_addr(self.current, abi::invocation::TcbSlot::CSpaceRoot as u64);
        let s = self.resolve(slot::cap(&self.mem, root_slot), cptr)?;
        match slot::cap(&self.mem, s) {
            Cap::Null => Err(failure(LookupFailureKind::MissingCapability, 0, 0)),
            c => Ok((s, c)),
        }
    }

    /// One `Call` system call by the current thread (spec: SYS-4, SYS-5,
    /// SYS-9, SYS-18). `preempt` answers, at each preemption point
    /// (SYS-15), whether an interrupt is pending.
    pub fn call(
        &mut self,
        cptr: u64,
        label: u64,
        words: &[u64],
        extra: &[u64],
        preempt: &mut dyn FnMut() -> bool,
    ) -> Outcome {
        let caller = self.current;
        // The idle thread makes no system calls.
        if caller == 0 {
            return Outcome::NoResult;
        }
        // spec: SYS-18 — finish an unfinished deletion first.
        if self.pending_delete != 0 {
            let at = core::mem::take(&mut self.pending_delete);
            if self.zombie_run(at, preempt).is_err() {
                return self.preempted(caller);
            }
            if !tcb::state(&self.mem, caller).is_runnable() {
                return self.finish(caller, Outcome::NoResult);
            }
        }
        match self.lookup(cptr) {
            Err(f) => self.finish(caller, Outcome::CapFault(f)),
            Ok(invoked) => match self.dispatch(invoked, label, words, extra, preempt) {
                Err(Preempted) => self.preempted(caller),
                Ok(r) => self.finish(caller, Outcome::Done(r)),
            },
        }
    }

    /// The end of a completed call (spec: SYS-9): a runnable caller
    /// resumes `Running` with `outcome`, otherwise there is no result.
    fn finish(&mut self, caller: PAddr, outcome: Outcome) -> Outcome {
        if tcb::state(&self.mem, caller).is_runnable() {
            tcb::set_state(&mut self.mem, caller, ThreadState::Running);
            outcome
        } else {
            self.schedule();
            Outcome::NoResult
        }
    }

    fn preempted(&mut self, caller: PAddr) -> Outcome {
        // spec: SYS-16, DER-16 — Restart, unless the work suspended it.
        if tcb::state(&self.mem, caller).is_runnable() {
            tcb::set_state(&mut self.mem, caller, ThreadState::Restart);
        }
        self.schedule();
        Outcome::Preempted
    }

    /// The scheduler's choice (spec: SCHED-5), reduced until the ready
    /// queues join: a `current` that is no longer runnable gives way to
    /// the idle thread (0).
    fn schedule(&mut self) {
        if self.current != 0 && !tcb::state(&self.mem, self.current).is_runnable() {
            self.current = 0;
        }
    }

    /// Look up the extra capabilities (spec: SYS-5) and dispatch on the
    /// invoked capability's type and the label (spec: ERR-6).
    fn dispatch(
        &mut self,
        (slot, cap): (PAddr, Cap),
        label: u64,
        words: &[u64],
        extra: &[u64],
        preempt: &mut dyn FnMut() -> bool,
    ) -> Result<Result<(), ErrorDetail>, Preempted> {
        let words = &words[..words.len().min(abi::msginfo::MAX_LENGTH as usize)];
        let mut caps = [(0, Cap::Null); abi::msginfo::MAX_EXTRA_CAPS as usize];
        let n = extra.len().min(caps.len());
        for (i, &c) in extra[..n].iter().enumerate() {
            match self.lookup(c) {
                Ok(found) => caps[i] = found,
                Err(failure) => {
                    return Ok(Err(ErrorDetail::FailedLookup {
                        position: i as u64 + 1,
                        failure,
                    }));
                }
            }
        }
        let extra = &caps[..n];
        let label = Label::try_from(label).ok();
        let inv = Invocation { slot, words, extra };
        match (cap, label) {
            (Cap::Untyped { .. }, Some(Label::UntypedRetype)) => self.retype(&inv, preempt),
            (Cap::CNode { .. }, Some(l)) if l.invoked() == Invoked::CNode => {
                self.cnode_invoke(l, &inv, preempt)
            }
            // Invocations of TCB, IRQ, VSpace and ASID objects, and message
            // passing on endpoints, notifications and replies, join the
            // object core with their layers; until then they are refused.
            _ => Ok(Err(ErrorDetail::IllegalOperation)),
        }
    }
}

/// A decoded invocation's inputs: the invoked slot, the message words and
/// the extra capabilities (slot and capability each).
pub(crate) struct Invocation<'a> {
    pub slot: PAddr,
    pub words: &'a [u64],
    pub extra: &'a [(PAddr, Cap)],
}
