//! The executable model: boot (ST-10) and kernel entries (SYS-1): system
//! calls (SYS-3 … SYS-18), exceptions (FLT-1) and timer ticks (SCHED-6),
//! timer ticks (SCHED-6) and device interrupts (IRQ-8): Untyped Retype
//! (UT-*), the CNode invocations (CNODE-*) with Delete, Revoke and
//! finalisation (DER-*), TCB invocations (TCB-*), IPC and notifications
//! (MSG-*, IPC-*, NTFN-*), faults (FLT-*), the scheduler (SCHED-*),
//! interrupts (IRQ-*), ASIDs (ASID-*) and address spaces (VM-*).
//!
//! The private submodules hold the parts: `regs` registers, IPC buffers and
//! messages; `sched` the ready queues and the scheduler's choice;
//! `ipc` endpoints, replies, notifications and faults; `tcb` the TCB
//! invocations; `irq` IRQ lines; `vm` ASIDs, page tables and frames.
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
//!    Delete, each child Delete of a Revoke, the deletions of TCB Configure
//!    (TCB-6), and the continuation of `pending_delete` before decode
//!    (SYS-18).
//! 2. **Revoke** (DER-11): after each Delete of a child has completed
//!    (including all its Zombie steps), *if the revoked slot still has a
//!    child* (no point after the last child).
//! 3. **Reset** (UT-10): for a non-device untyped, after every 4 KiB chunk
//!    has been zeroed and the watermark lowered to its start, including the
//!    last chunk (the placement of the objects is the next step). A device
//!    untyped's reset is one step with no point after it. ASIDControl
//!    MakePool (ASID-4) resets its untyped the same way (an untyped with
//!    watermark 0 needs no reset and has no point).
//!
//! Deletions that are not preemptible on their own (a Delete of a
//! capability that does not become a Zombie, DER-7) have no point, unless
//! they are a child Delete of a Revoke (point 2).
//!
//! When preempted, the caller is left `Restart` (unless a deletion
//! suspended it, DER-16) and the outcome is [`Outcome::Preempted`].
//!
//! # The program counter (ABI-17)
//!
//! `context[pc]` of a thread in user mode (`Running`, not in the kernel)
//! is where it continues. A system call saves the address after the
//! instruction; an exception saves the address of the faulting
//! instruction (FLT-2). A `Restart` thread continues at
//! `context[pc] − syscall_len` (ABI-17) whatever stopped it.
//!
//! reading: ABI-17 gives the `Restart` rule for system calls only. To
//! keep one rule, every transition *to* `Restart` sets `context[pc]` to
//! the thread's *restart address* plus `syscall_len`, and every
//! transition to `Inactive` sets it to the restart address, so Resume
//! (TCB-9: `Inactive` → `Restart`) continues an inactive thread at its
//! `context[pc]` (the value WriteRegisters wrote). The restart address is
//! (as seL4's restart PC): for a `Running` thread its `context[pc]`; for a
//! `Restart` thread `context[pc] − syscall_len`; for an `Inactive` thread
//! its `context[pc]`; for a thread stopped by a processor exception
//! (pending `UserException` or `Vm` fault) the faulting instruction,
//! `context[pc]`; for any other thread stopped in the kernel (blocked in
//! a system call, or with a pending `Cap` or `UnknownSyscall` fault) the
//! system call instruction, `context[pc] − syscall_len`. So a thread
//! suspended in a system call re-executes it when resumed, as in seL4.
//!
//! # Outcomes
//!
//! [`Outcome::Result`] is every SYS-9 result of a `Call` whose caller is
//! still `Running` at its end: kernel-object invocations, the empty
//! result of a Signal or a reply sent with `Call` (SYS-5), and the errors
//! of SYS-5 (`FailedLookup` of an extra capability) and IPC-2 / NTFN-2
//! (`InvalidCapability(0)`) for endpoints and notifications.
//! [`Outcome::Fault`] is a fault the entering thread took (whatever FLT-3
//! then did with it). A `Call` that blocks gives [`Outcome::Other`].
//!
//! # Entry edge cases
//!
//! - With `current == None` (the idle thread), a system call or
//!   exception entry does nothing but SCHED-5 ([`Outcome::Other`]).
//! - If the SYS-18 continuation of `pending_delete` leaves the caller not
//!   runnable (it suspended or destroyed it), the caller's own call is not
//!   decoded: [`Outcome::Other`].
//! - A thread executing a system call is `Running` (also when it was
//!   `Restart` on entry: it re-executes the call); a call that ends
//!   without blocking, faulting or being preempted leaves it `Running`.
//! - reading: SYS-18 also runs before an unknown system call number is
//!   looked at ("before decoding a system call": the number is part of
//!   the decode).
//! - reading: an [`Entry::Exception`] carrying a `Cap` or
//!   `UnknownSyscall` fault (FLT-1 raises those only from system calls) is
//!   taken as given; its restart address is then computed as for a system
//!   call.
//! - reading: the registers the x86_64 `syscall` instruction clobbers
//!   (`rcx`, `r11`, ABI-5) are left as the user actions set them: their
//!   value after a call is not specified, and the hardware's writes happen
//!   before the entry.

use abi::error::{ErrorDetail, LookupFailure, LookupFailureKind};
use abi::invocation::{Invoked, Label, TCB_SLOTS};
use abi::object::{ObjectType, RESET_CHUNK_BITS, RETYPE_FAN_OUT_LIMIT};
use abi::rights::Rights;
use abi::sched::TIME_SLICE_TICKS;
use abi::syscall::Syscall;
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use crate::entry::{Arch, BootConfig, Entry, Invocation, Outcome, UserActions};
use crate::state::{
    Addr, Cap, EndpointState, Fault, IrqState, Notification, NotificationState, Object, Slot,
    SlotRef, State, Tcb, ThreadState, ZombieKind,
};

mod ipc;
mod irq;
mod regs;
mod sched;
mod tcb;
mod vm;

/// Most extra capabilities (spec: SYS-5, MSG-4).
const MAX_EXTRA_CAPS: usize = 3;
/// TCB slot index of the CSpace root (spec: ABI-11).
const CSPACE_ROOT: u64 = 0;
/// TCB slot index of the VSpace root (spec: ABI-11).
const VSPACE_ROOT: u64 = 1;
// The IPC-buffer frame's TCB slot index is `state::IPC_BUFFER_SLOT`.
use crate::state::IPC_BUFFER_SLOT;
/// TCB slot index of the fault endpoint (spec: ABI-11).
const FAULT_EP_SLOT: u64 = 3;
/// TCB slot index of the Reply capability (spec: ABI-11).
const REPLY_SLOT: u64 = 4;

/// The model: the abstract state and its transitions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    /// The abstract state (spec: ST-1 … ST-9).
    pub state: State,
    /// The architecture, for the register layout (ABI-5, ABI-10, ABI-17).
    pub arch: Arch,
}

/// What a capability refers to, for "refers to the same object" (ST-5,
/// DER-6). Untyped, Reply and IRQControl capabilities refer to nothing
/// shared and have no `ObjRef`, nor has ASIDControl.
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
    /// An ASID pool.
    AsidPool(Addr),
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
        Cap::AsidPool { obj, .. } => Some(ObjRef::AsidPool(obj)),
        Cap::IrqHandler { line } => Some(ObjRef::IrqLine(line)),
        Cap::Untyped { .. } | Cap::Reply { .. } | Cap::IrqControl | Cap::AsidControl => None,
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

/// TCB slot `index` of thread `t`.
fn tcb_slot(t: Addr, index: u64) -> SlotRef {
    SlotRef::Tcb { obj: t, index }
}

/// A preemption point found an interrupt pending (SYS-16).
#[derive(Debug)]
struct Preempted;

/// Why decode refused an invocation (SYS-6).
type Refusal = ErrorDetail;

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
    /// A TCB invocation (TCB-4 … TCB-14).
    Tcb(tcb::TcbOp),
    /// An IRQ invocation (IRQ-4 … IRQ-7).
    Irq(irq::IrqOp),
    /// An ASID, Frame or PageTable invocation (ASID-4, ASID-5, VM-6 …
    /// VM-10).
    Vm(vm::VmOp),
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

/// A fresh thread (spec: UT-9): `Inactive`, priority and mcp 0, a full
/// slice, zeroed registers.
fn new_tcb(words: usize) -> Tcb {
    Tcb {
        state: ThreadState::Inactive,
        priority: 0,
        mcp: 0,
        slice: TIME_SLICE_TICKS,
        ipc_buffer: 0,
        bound_notification: None,
        fault: None,
        context: vec![0; words],
        reply_at: None,
    }
}

impl Model {
    /// The boot state described by [`BootConfig`] (spec: ST-10, SCHED-10,
    /// CAP-3).
    pub fn boot(cfg: &BootConfig) -> Model {
        let mut s = State::default();
        let layout = cfg.arch.layout();
        s.objects.insert(
            cfg.root_tcb,
            Object::Tcb(Tcb {
                state: ThreadState::Running,
                priority: 255,
                mcp: 255,
                ipc_buffer: cfg.root_ipc_buffer_vaddr,
                ..new_tcb(layout.words)
            }),
        );
        s.objects.insert(
            cfg.root_cnode,
            Object::CNode {
                radix: cfg.root_radix,
            },
        );
        // spec: ST-10, ABI-16 — the root VSpace has ASID 1: entry 1 of the
        // initial pool, which is `asid_table[0]`.
        s.objects.insert(
            cfg.root_vspace,
            Object::VSpace {
                asid: Some(u64::from(abi::vm::ROOT_ASID)),
                entries: BTreeMap::new(),
            },
        );
        s.objects.insert(
            cfg.root_asid_pool,
            Object::AsidPool {
                entries: BTreeMap::from([(u64::from(abi::vm::ROOT_ASID), cfg.root_vspace)]),
            },
        );
        s.asid_table.insert(0, cfg.root_asid_pool);
        // spec: IRQ-2 — the lines the platform does not have and the
        // reserved ones are `Reserved`; the others `Inactive` (absent).
        for line in 0..abi::irq::IRQ_LINES {
            if line >= cfg.irq_lines || cfg.reserved_irqs.contains(&line) {
                s.irq.insert(line, IrqState::Reserved);
            }
        }
        for frame in [cfg.root_ipc_buffer, cfg.root_boot_info] {
            s.objects.insert(
                frame,
                Object::Frame {
                    size_bits: 12,
                    device: false,
                },
            );
        }
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
        place(tcb_slot(cfg.root_tcb, CSPACE_ROOT), cnode_cap);
        place(root(2), cnode_cap);
        place(root(1), Cap::Tcb { obj: cfg.root_tcb });
        place(root(4), Cap::IrqControl);
        place(root(5), Cap::AsidControl);
        place(
            root(6),
            Cap::AsidPool {
                obj: cfg.root_asid_pool,
                asid_base: 0,
            },
        );
        let frame = Cap::Frame {
            obj: cfg.root_ipc_buffer,
            rights: Rights::READ_WRITE,
            mapping: None,
        };
        place(tcb_slot(cfg.root_tcb, IPC_BUFFER_SLOT), frame);
        place(root(7), frame);
        place(
            root(8),
            Cap::Frame {
                obj: cfg.root_boot_info,
                rights: Rights::READ_WRITE,
                mapping: None,
            },
        );
        let vspace = Cap::VSpace {
            obj: cfg.root_vspace,
        };
        place(tcb_slot(cfg.root_tcb, VSPACE_ROOT), vspace);
        place(root(3), vspace);
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
        Model {
            state: s,
            arch: cfg.arch,
        }
    }

    /// One kernel entry (spec: SYS-1, SYS-2): a system call or an
    /// exception by the current thread, a timer tick or a device
    /// interrupt (IRQ-8); then the scheduler's choice (SCHED-5). `preempt` is the interrupt oracle,
    /// asked at the points listed in the module documentation (SYS-17).
    pub fn entry(&mut self, e: &Entry, preempt: &mut dyn FnMut() -> bool) -> Outcome {
        let c0 = self.state.current;
        let out = match (e, c0) {
            // spec: SCHED-6.
            (Entry::Tick, _) => {
                self.tick();
                Outcome::Other
            }
            // spec: IRQ-8.
            (Entry::Interrupt(line), _) => {
                self.interrupt(*line);
                Outcome::Other
            }
            // The idle thread makes no system call and takes no exception.
            (_, None) => Outcome::Other,
            (Entry::Syscall(actions), Some(t)) => self.syscall(t, actions, preempt),
            (Entry::Exception(actions, fault), Some(t)) => self.exception(t, actions, *fault),
        };
        // spec: SYS-2, SCHED-5.
        self.choose(c0);
        out
    }

    /// A test convenience: the current thread (if `Running`) sets its
    /// registers for `Call` as ABI-5 and MSG-3, MSG-4 say — number, cptr,
    /// the info word (label, length, extra_caps), MR0 … MR3, and its IPC
    /// buffer's `msg[4 ..]` and `caps_or_badges` — and makes the call.
    pub fn invoke(&mut self, inv: &Invocation, preempt: &mut dyn FnMut() -> bool) -> Outcome {
        let l = self.layout();
        let len = inv.words.len().min(120) as u64;
        let extra = inv.extra.len().min(MAX_EXTRA_CAPS) as u64;
        let info = ((inv.label & ((1 << 52) - 1)) << 12) | (extra << 7) | len;
        let mut regs = vec![
            (l.number, Syscall::Call.number()),
            (l.cptr, inv.cptr),
            (l.info, info),
        ];
        let mut buffer = Vec::new();
        for (i, &w) in inv.words.iter().take(120).enumerate() {
            if i < 4 {
                regs.push((l.mrs[i], w));
            } else {
                buffer.push((regs::MSG + i, w));
            }
        }
        for (i, &c) in inv.extra.iter().take(MAX_EXTRA_CAPS).enumerate() {
            buffer.push((regs::CAPS + i, c));
        }
        self.entry(&Entry::Syscall(UserActions { regs, buffer }), preempt)
    }

    // ----- system calls and exceptions ---------------------------------

    /// A system call by the current thread `t` (spec: SYS-3 … SYS-18).
    fn syscall(
        &mut self,
        t: Addr,
        actions: &UserActions,
        preempt: &mut dyn FnMut() -> bool,
    ) -> Outcome {
        let l = self.layout();
        if self.state_of(t) == Some(ThreadState::Running) {
            self.apply_user_actions(t, actions);
            // spec: ABI-17 — the saved PC is the address after the
            // instruction.
            let pc = self.reg(t, l.pc);
            self.set_reg(t, l.pc, pc.wrapping_add(l.syscall_len));
        }
        // A Restart thread re-executes its call: its saved PC already is
        // the address after the instruction (ABI-17). Either way it now
        // executes the call.
        self.set_state(t, ThreadState::Running);
        // spec: SYS-18 — finish the unfinished deletion first.
        if let Some(cur) = self.state.pending_delete.take() {
            if self.zombie_steps(cur, preempt).is_err() {
                return self.preempted(t);
            }
            if !self.is_runnable(t) {
                // The deletion suspended or destroyed the caller: its own
                // call does not start.
                return Outcome::Other;
            }
        }
        let number = self.reg(t, l.number);
        let Ok(call) = Syscall::try_from(number) else {
            // spec: SYS-3.
            return self.fault(t, Fault::UnknownSyscall { number });
        };
        match call {
            Syscall::Send | Syscall::NBSend | Syscall::Call => self.send_call(t, call, preempt),
            Syscall::Recv => self.receive(t, true),
            Syscall::NBRecv => self.receive(t, false),
            Syscall::Reply => {
                // spec: SYS-12.
                self.reply(t);
                Outcome::Other
            }
            Syscall::ReplyRecv => {
                // spec: SYS-13.
                self.reply(t);
                self.receive(t, true)
            }
            Syscall::Yield => {
                // spec: SYS-14, SCHED-7.
                self.yield_now(t);
                Outcome::Other
            }
        }
    }

    /// A processor exception by the current thread `t` (spec: FLT-1,
    /// FLT-2): the saved PC is the faulting instruction's address.
    fn exception(&mut self, t: Addr, actions: &UserActions, f: Fault) -> Outcome {
        let l = self.layout();
        match self.state_of(t) {
            Some(ThreadState::Running) => self.apply_user_actions(t, actions),
            Some(ThreadState::Restart) => {
                // It re-executes the instruction at pc − syscall_len.
                let pc = self.reg(t, l.pc);
                self.set_reg(t, l.pc, pc.wrapping_sub(l.syscall_len));
            }
            _ => {}
        }
        self.set_state(t, ThreadState::Running);
        self.fault(t, f)
    }

    /// The thread `t` making this entry faults (FLT-1, FLT-3).
    fn fault(&mut self, t: Addr, f: Fault) -> Outcome {
        self.raise_fault(t, f);
        Outcome::Fault(f)
    }

    /// Send, NBSend and Call (spec: SYS-4, SYS-5, SYS-8, SYS-9).
    fn send_call(&mut self, t: Addr, call: Syscall, preempt: &mut dyn FnMut() -> bool) -> Outcome {
        let l = self.layout();
        let is_call = call == Syscall::Call;
        let root = tcb_slot(t, CSPACE_ROOT);
        let cptr = self.reg(t, l.cptr);
        // spec: SYS-4, ERR-6 step 0.
        let (invoked, cap) = match self.lookup_cap(root, cptr) {
            Ok(found) => found,
            Err(_) if call == Syscall::NBSend => return Outcome::Other,
            Err(failure) => {
                return self.fault(
                    t,
                    Fault::Cap {
                        address: cptr,
                        in_receive_phase: false,
                        failure,
                    },
                );
            }
        };
        // spec: SYS-5, MSG-2 … MSG-4, ERR-6 step 1.
        let msg = self.read_message(t);
        let mut extra = Vec::new();
        for (i, &c) in msg.caps.iter().enumerate() {
            match self.lookup_cap(root, c) {
                Ok(found) => extra.push(found),
                Err(failure) => {
                    let e = ErrorDetail::FailedLookup {
                        position: i as u64 + 1,
                        failure,
                    };
                    return self.answer(t, is_call, Err(e));
                }
            }
        }
        match cap {
            Cap::Endpoint { obj, badge, rights } => {
                // spec: IPC-2.
                if !rights.contains(Rights::WRITE)
                    || (is_call
                        && !rights.contains(Rights::GRANT)
                        && !rights.contains(Rights::GRANT_REPLY))
                {
                    let e = ErrorDetail::InvalidCapability { position: 0 };
                    return self.answer(t, is_call, Err(e));
                }
                self.send_ipc(
                    t,
                    obj,
                    ipc::SendCap {
                        badge,
                        grant: rights.contains(Rights::GRANT),
                        grant_reply: rights.contains(Rights::GRANT_REPLY),
                    },
                    is_call,
                    call != Syscall::NBSend,
                );
                Outcome::Other
            }
            Cap::Notification { obj, badge, rights } => {
                // spec: NTFN-2.
                if !rights.contains(Rights::WRITE) {
                    let e = ErrorDetail::InvalidCapability { position: 0 };
                    return self.answer(t, is_call, Err(e));
                }
                // spec: NTFN-3.
                self.signal(obj, badge);
                self.answer(t, is_call, Ok(Vec::new()))
            }
            Cap::Reply { .. } => {
                // spec: SYS-5, IPC-17.
                self.deliver_reply(t, invoked);
                self.answer(t, is_call, Ok(Vec::new()))
            }
            _ => {
                // spec: SYS-6 — decode everything, then invoke.
                let op = match self.decode(t, invoked, cap, msg.label, &msg.words, &extra) {
                    Ok(op) => op,
                    Err(e) => return self.answer(t, is_call, Err(e)),
                };
                match self.perform(t, op, preempt) {
                    Ok(words) => self.answer(t, is_call, Ok(words)),
                    Err(Preempted) => self.preempted(t),
                }
            }
        }
    }

    /// The end of an invocation by `t` (SYS-8, SYS-9): with Call and `t`
    /// still `Running`, the result is written to its registers.
    fn answer(&mut self, t: Addr, is_call: bool, res: Result<Vec<u64>, ErrorDetail>) -> Outcome {
        if !is_call || self.state_of(t) != Some(ThreadState::Running) {
            return Outcome::Other;
        }
        let (label, words) = match &res {
            Ok(words) => (0, words.clone()),
            Err(e) => (
                e.error().code(),
                e.to_words()[..ErrorDetail::length_of(e.error())].to_vec(),
            ),
        };
        self.write_message(t, label, &words, 0, 0, 0);
        Outcome::Result(res)
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

    fn state_of(&self, t: Addr) -> Option<ThreadState> {
        self.tcb(t).map(|tcb| tcb.state)
    }

    fn set_state(&mut self, t: Addr, s: ThreadState) {
        if let Some(tcb) = self.tcb_mut(t) {
            tcb.state = s;
        }
    }

    fn is_runnable(&self, t: Addr) -> bool {
        self.tcb(t).is_some_and(|tcb| tcb.state.is_runnable())
    }

    /// A preemption point found an interrupt pending (SYS-16, DER-16): the
    /// caller, if still runnable, is left `Restart` (its saved PC is the
    /// address after the call, ABI-17).
    fn preempted(&mut self, caller: Addr) -> Outcome {
        if self.is_runnable(caller) {
            self.set_state(caller, ThreadState::Restart);
        }
        Outcome::Preempted
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

    /// Decode an invocation of a kernel object by `caller` (spec: SYS-5,
    /// ERR-6 steps 2 and 3). Reads only.
    fn decode(
        &self,
        caller: Addr,
        invoked: SlotRef,
        cap: Cap,
        label: u64,
        words: &[u64],
        extra: &[(SlotRef, Cap)],
    ) -> Result<Op, Refusal> {
        // spec: ERR-6 step 2 — an unknown label, or one of another type.
        let label = Label::try_from(label).ok();
        let illegal = Err(ErrorDetail::IllegalOperation);
        match cap {
            Cap::Untyped { .. } => match label {
                Some(Label::UntypedRetype) => self.decode_retype(invoked, cap, words, extra),
                _ => illegal,
            },
            Cap::CNode { obj } => match label {
                Some(l) if l.invoked() == Invoked::CNode => {
                    self.decode_cnode(caller, obj, l, words, extra)
                }
                _ => illegal,
            },
            Cap::Tcb { obj } => match label {
                Some(l) if l.invoked() == Invoked::Tcb => {
                    self.decode_tcb(caller, obj, l, words, extra)
                }
                _ => illegal,
            },
            // Endpoints, notifications and replies are not kernel-object
            // invocations (SYS-5): `send_call` handles them.
            Cap::Endpoint { .. } | Cap::Notification { .. } | Cap::Reply { .. } => illegal,
            // spec: IRQ-4.
            Cap::IrqControl => self.decode_irq_control(invoked, label, words, extra),
            // spec: IRQ-5 … IRQ-7.
            Cap::IrqHandler { line } => self.decode_irq_handler(line, label, extra),
            // spec: ASID-4.
            Cap::AsidControl => self.decode_asid_control(label, words, extra),
            // spec: ASID-5.
            Cap::AsidPool { obj, asid_base } => self.decode_asid_pool(obj, asid_base, label, extra),
            // spec: VM-6 … VM-8.
            Cap::Frame { .. } => self.decode_frame(invoked, cap, label, words, extra),
            // spec: VM-9, VM-10.
            Cap::PageTable { .. } => self.decode_page_table(invoked, cap, label, words, extra),
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
            return Err(ErrorDetail::TruncatedMessage);
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
            return Err(ErrorDetail::InvalidArgument { index: 0 });
        }
        // spec: UT-5 #5.
        let Cap::CNode { obj: dest } = extra[0].1 else {
            return Err(ErrorDetail::InvalidCapability { position: 1 });
        };
        // spec: UT-5 #6.
        if !(1..=RETYPE_FAN_OUT_LIMIT).contains(&count) {
            return Err(range_error(1, RETYPE_FAN_OUT_LIMIT));
        }
        // spec: UT-5 #7.
        let slots = 1u64 << self.cnode_radix(dest);
        if offset >= slots {
            return Err(range_error(0, slots - 1));
        }
        // spec: UT-5 #8.
        if count > slots - offset {
            return Err(range_error(1, slots - offset));
        }
        // spec: UT-5 #9.
        if (offset..offset + count).any(|i| {
            self.cap(SlotRef::CNode {
                obj: dest,
                index: i,
            })
            .is_some()
        }) {
            return Err(ErrorDetail::DeleteFirst);
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
            });
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
            return Err(ErrorDetail::TruncatedMessage);
        }
        // spec: CNODE-2 #2.
        let Cap::CNode { obj: src_cnode } = extra[0].1 else {
            return Err(ErrorDetail::InvalidCapability { position: 1 });
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
            return Err(ErrorDetail::DeleteFirst);
        }
        // spec: CNODE-2 #7.
        let Some(source) = self.cap(src) else {
            return Err(ErrorDetail::FailedLookup {
                position: 1,
                failure: failure(LookupFailureKind::MissingCapability, 0, 0),
            });
        };
        // spec: CNODE-2 #8 (Copy and Mint only), CAP-9.
        if matches!(kind, Transfer::Copy | Transfer::Mint) && !self.derivable(&source) {
            return Err(ErrorDetail::IllegalOperation);
        }
        if matches!(kind, Transfer::Mint | Transfer::Mutate) && badge != 0 {
            match source {
                // spec: CNODE-3 #10.
                Cap::Endpoint { badge: b, .. } | Cap::Notification { badge: b, .. } => {
                    if b != 0 {
                        return Err(ErrorDetail::IllegalOperation);
                    }
                }
                // spec: CNODE-3 #9.
                _ => return Err(ErrorDetail::InvalidArgument { index: 3 }),
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
                    return Err(ErrorDetail::RevokeFirst);
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
            return Err(ErrorDetail::TruncatedMessage);
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
                }),
                Some(Cap::Endpoint { obj, badge, rights }) if rights == Rights::ALL => {
                    Ok(Op::CancelBadgedSends { ep: obj, badge })
                }
                Some(_) => Err(ErrorDetail::IllegalOperation),
            },
            // spec: CNODE-10.
            Label::CNodeSaveCaller => {
                if self.cap(slot).is_some() {
                    return Err(ErrorDetail::DeleteFirst);
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
            | Cap::AsidControl
            | Cap::PageTable { .. }
            | Cap::Zombie { .. } => false,
            // spec: CAP-9, ASID-3 — decided by the VSpace's `asid`.
            Cap::VSpace { obj } => matches!(
                self.state.objects.get(obj),
                Some(Object::VSpace { asid: Some(_), .. })
            ),
            _ => true,
        }
    }

    // ----- invoke ------------------------------------------------------

    /// Perform a decoded operation by `caller` (SYS-6: only preemption
    /// stops it); the result words (ERR-9).
    fn perform(
        &mut self,
        caller: Addr,
        op: Op,
        preempt: &mut dyn FnMut() -> bool,
    ) -> Result<Vec<u64>, Preempted> {
        match op {
            Op::Retype(plan) => self.retype(plan, preempt)?,
            Op::Derive { src, dest, cap } => self.insert_child(src, dest, cap),
            Op::Move { src, dest, cap } => {
                self.move_slot(src, dest);
                if let Some(slot) = self.state.slots.get_mut(&dest) {
                    slot.cap = cap;
                }
            }
            Op::Delete(slot) => self.delete(slot, preempt)?,
            Op::Revoke(slot) => self.revoke(slot, preempt)?,
            Op::CancelBadgedSends { ep, badge } => self.cancel_badged_sends(ep, badge),
            Op::Nothing => {}
            Op::Tcb(op) => return self.perform_tcb(caller, op, preempt),
            Op::Irq(op) => return self.perform_irq(op, preempt),
            Op::Vm(op) => return self.perform_vm(op, preempt),
        }
        Ok(Vec::new())
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
                cap:
                    Cap::Untyped {
                        base,
                        device,
                        watermark,
                        ..
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
            // spec: UT-10 — zero [chunk, watermark) and lower the
            // watermark to the chunk's start.
            let top = *base + *watermark;
            *watermark = ((*watermark - 1) >> RESET_CHUNK_BITS) << RESET_CHUNK_BITS;
            let bottom = *base + *watermark;
            self.state
                .frame_data
                .retain(|&a, _| !(bottom..top).contains(&a));
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
                Object::Tcb(new_tcb(self.layout().words)),
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
                Object::PageTable {
                    entries: BTreeMap::new(),
                },
                Cap::PageTable {
                    obj: at,
                    mapping: None,
                },
            ),
            ObjectType::VSpace => (
                Object::VSpace {
                    asid: None,
                    entries: BTreeMap::new(),
                },
                Cap::VSpace { obj: at },
            ),
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
                // spec: DER-12 Frame (always).
                self.finalise_frame(s, obj, fin);
                false
            }
            Cap::PageTable { obj, .. } if fin => {
                // spec: DER-12 PageTable.
                self.finalise_page_table(s, obj);
                false
            }
            Cap::VSpace { obj } if fin => {
                // spec: DER-12 VSpace.
                self.finalise_vspace(obj);
                false
            }
            Cap::AsidPool { obj, asid_base } if fin => {
                // spec: DER-12 ASIDPool.
                self.finalise_asid_pool(obj, asid_base);
                false
            }
            Cap::IrqHandler { line } if fin => {
                // spec: DER-12 IRQHandler, IRQ-9.
                self.finalise_irq_handler(line);
                false
            }
            // spec: DER-12 — Untyped, IRQControl, ASIDControl: none; other types when
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
    /// becomes `Restart` and is appended to its ready queue (CNODE-8,
    /// DER-12). A pending fault it was delivering is dropped: it
    /// re-executes the faulting instruction (DER-12, INV-26).
    fn restart(&mut self, t: Addr) {
        self.set_restart(t);
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
