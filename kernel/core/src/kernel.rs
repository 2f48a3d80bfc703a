//! The kernel state and its entries: boot, capability lookup, and the
//! processing of a system call, an exception or a timer tick, ending with
//! the scheduler's choice (spec: SYS-1 … SYS-18, CS-4, SCHED-5).
//!
//! [`Kernel`] owns the machine memory (through [`Memory`]) and the few
//! kernel globals; every object lives in that memory at an address user
//! space chose by retyping. The architecture's entry code saves the user
//! registers into the current TCB, calls [`Kernel::entry`], and restores
//! the registers of whatever thread is current afterwards. The bare-metal
//! kernel and the host tests run this same code.

use crate::cap::Cap;
use crate::fault::Fault;
use crate::mem::{Memory, PAddr};
use crate::object::tcb::{self, ThreadState};
use crate::ready::ReadyQueues;
use crate::slot::{self, SLOT_SIZE};
use abi::context::Layout;
use abi::cptr::CPtr;
use abi::error::{ErrorDetail, LookupFailure, LookupFailureKind};
use abi::invocation::{Label, TcbSlot};
use abi::rights::Rights;
use abi::syscall::Syscall;

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

/// Where boot places the root task's objects (spec: ST-10). The objects'
/// memory must be zero and outside every untyped region.
#[derive(Clone, Copy, Debug)]
pub struct BootSpec<'a> {
    /// The register layout of the architecture.
    pub layout: Layout,
    /// The root TCB (2 KiB aligned).
    pub root_tcb: PAddr,
    /// The root CNode (aligned to its size).
    pub root_cnode: PAddr,
    /// The root CNode's radix (at least 5, so slot 16 exists).
    pub root_radix: u8,
    /// The root IPC-buffer frame (4 KiB).
    pub root_ipc_buffer: PAddr,
    /// The root thread's IPC-buffer virtual address.
    pub root_ipc_buffer_vaddr: u64,
    /// The boot-info frame (4 KiB), root slot 8.
    pub root_boot_info: PAddr,
    /// The root VSpace (4 KiB); it gets ASID 1.
    pub root_vspace: PAddr,
    /// The initial ASID pool (4 KiB), `asid_table[0]`.
    pub root_asid_pool: PAddr,
    /// The kernel's IRQ table: `IRQ_LINES` zeroed slots in kernel memory.
    pub irq_slots: PAddr,
    /// Number of IRQ lines the platform has.
    pub irq_lines: u64,
    /// Lines below `irq_lines` the kernel keeps (its timer; aarch64 0 … 31).
    pub reserved_irqs: &'a [u64],
    /// The untyped regions, placed in root slots 16, 17, … The non-device
    /// ones must be zero (spec: INV-6: Retype finds a new object's
    /// initial state, UT-9, in the zero bytes).
    pub untypeds: &'a [BootUntyped],
}

/// Root CNode slots used at boot (spec: ABI-16).
pub mod root_slot {
    pub use abi::object::root_slot::*;
}

/// A kernel entry (spec: SYS-1). The user registers are already saved in
/// the current TCB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// The current thread executed the system-call instruction.
    Syscall,
    /// The current thread took a processor exception (`UserException` or
    /// `Vm` faults only).
    Exception(Fault),
    /// A timer tick (spec: SCHED-6).
    Tick,
    /// A device interrupt on this line (spec: IRQ-8).
    Interrupt(u64),
}

/// What an entry did, as the thread that made it sees it (the full effect
/// is in the state; this summary serves tests and tracing).
// Returned once per entry, by value: there is no heap to box into.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A kernel-object invocation made with Call completed with the caller
    /// `Running` (spec: SYS-9): its result words (also written to its
    /// registers and IPC buffer, as far as MSG-6 delivers them).
    Done(Result<Reply, ErrorDetail>),
    /// The entry faulted the thread that made it (spec: FLT-1, FLT-3).
    Fault(Fault),
    /// A preemption point found an interrupt pending (spec: SYS-16).
    Preempted,
    /// Anything else.
    Other,
}

/// A preemption point found an interrupt pending: stop, leave the caller
/// `Restart` (spec: SYS-16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preempted;

/// The kernel: machine memory and globals (spec: ST-9).
pub struct Kernel<M: Memory> {
    /// Physical memory holding every object.
    pub mem: M,
    /// The register layout of the architecture.
    pub layout: Layout,
    /// The thread that runs on return to user space, 0 for the idle thread.
    pub current: PAddr,
    /// The slot of an unfinished deletion, 0 for none (spec: DER-16).
    pub pending_delete: PAddr,
    /// The ready queues (spec: SCHED-1).
    pub ready: ReadyQueues,
    /// The ASID table (spec: ASID-1): pool addresses, 0 for empty.
    pub asid_table: [PAddr; abi::vm::ASID_POOLS],
    /// IRQ line states (spec: IRQ-2), see [`crate::object::irq`].
    pub irq_state: [u8; abi::irq::IRQ_LINES as usize],
    /// The IRQ table's slots (one per line) in kernel memory.
    pub irq_slots: PAddr,
    /// Each line's IRQControl Get `trigger` word (spec: IRQ-4), for the
    /// architecture layer that configures the controller.
    pub irq_trigger: [u8; abi::irq::IRQ_LINES as usize],
    /// Counts the changes of `irq_state`: the architecture layer, which
    /// masks and unmasks lines to follow it (INV-36), looks at the states
    /// only after an entry that changed one.
    pub irq_changes: u64,
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

/// A decoded invocation's inputs: the invoking thread, the invoked slot,
/// the message words and the extra capabilities (slot and capability).
pub(crate) struct Invocation<'a> {
    pub caller: PAddr,
    pub slot: PAddr,
    pub words: &'a [u64],
    pub extra: &'a [(PAddr, Cap)],
}

/// What a kernel-object invocation produced.
pub(crate) type InvokeResult = Result<Result<Reply, ErrorDetail>, Preempted>;

/// Result words of a successful invocation (spec: ERR-9): at most a
/// register set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Number of words.
    pub len: usize,
    /// The words.
    pub words: [u64; tcb::MAX_CONTEXT_WORDS],
}

impl Reply {
    /// The words as a slice.
    pub fn as_slice(&self) -> &[u64] {
        &self.words[..self.len]
    }

    pub(crate) const EMPTY: Reply = Reply {
        len: 0,
        words: [0; tcb::MAX_CONTEXT_WORDS],
    };
}

impl<M: Memory> Kernel<M> {
    /// Build the boot state of ST-10 in `mem`.
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
            o.ipc_buffer = spec.root_ipc_buffer_vaddr;
        }
        // Parentless capabilities to one object are chained as neighbours
        // (see `slot`).
        let pairs = [
            (TcbSlot::CSpaceRoot, root_slot::CNODE, cnode_cap),
            (
                TcbSlot::VSpaceRoot,
                root_slot::VSPACE,
                Cap::VSpace {
                    obj: spec.root_vspace,
                },
            ),
            (
                TcbSlot::IpcBufferFrame,
                root_slot::IPC_BUFFER,
                Cap::Frame {
                    obj: spec.root_ipc_buffer,
                    size_bits: 12,
                    device: false,
                    rights: Rights::READ_WRITE,
                    mapping: None,
                },
            ),
        ];
        for (ts, rs, cap) in pairs {
            let in_tcb = tcb::slot_addr(t, ts as u64);
            slot::insert_root(&mut mem, in_tcb, cap, None);
            slot::insert_root(&mut mem, cnode_slot(c, rs), cap, Some(in_tcb));
        }
        slot::insert_root(
            &mut mem,
            cnode_slot(c, root_slot::TCB),
            Cap::Tcb { obj: t },
            None,
        );
        slot::insert_root(
            &mut mem,
            cnode_slot(c, root_slot::BOOT_INFO),
            Cap::Frame {
                obj: spec.root_boot_info,
                size_bits: 12,
                device: false,
                rights: Rights::READ_WRITE,
                mapping: None,
            },
            None,
        );
        slot::insert_root(
            &mut mem,
            cnode_slot(c, root_slot::IRQ_CONTROL),
            Cap::IrqControl,
            None,
        );
        slot::insert_root(
            &mut mem,
            cnode_slot(c, root_slot::ASID_CONTROL),
            Cap::AsidControl,
            None,
        );
        slot::insert_root(
            &mut mem,
            cnode_slot(c, root_slot::ASID_POOL),
            Cap::AsidPool {
                obj: spec.root_asid_pool,
                asid_base: 0,
            },
            None,
        );
        // The root VSpace has ASID 1 of the initial pool (spec: ABI-16).
        *crate::mem::get_mut::<u64>(&mut mem, spec.root_asid_pool + 8) = spec.root_vspace;
        crate::object::vspace::set_asid_record(&mut mem, spec.root_vspace, Some(1));
        let mut asid_table = [0; abi::vm::ASID_POOLS];
        asid_table[0] = spec.root_asid_pool;
        let mut irq_state = [crate::object::irq::RESERVED; abi::irq::IRQ_LINES as usize];
        for (line, st) in irq_state.iter_mut().enumerate() {
            let line = line as u64;
            if line < spec.irq_lines && !spec.reserved_irqs.contains(&line) {
                *st = crate::object::irq::INACTIVE;
            }
        }
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
            layout: spec.layout,
            current: t,
            pending_delete: 0,
            ready: ReadyQueues::default(),
            asid_table,
            irq_state,
            irq_slots: spec.irq_slots,
            irq_trigger: [0; abi::irq::IRQ_LINES as usize],
            irq_changes: 0,
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

    /// Slot lookup in thread `t`'s CSpace (spec: CS-6, CS-7).
    pub fn lookup_slot(&self, t: PAddr, cptr: u64) -> Result<PAddr, LookupFailure> {
        let root = tcb::slot_addr(t, TcbSlot::CSpaceRoot as u64);
        self.resolve(slot::cap(&self.mem, root), cptr)
    }

    /// Capability lookup in thread `t`'s CSpace (spec: CS-6, CS-7): the
    /// slot and its (non-null) capability.
    pub fn lookup(&self, t: PAddr, cptr: u64) -> Result<(PAddr, Cap), LookupFailure> {
        let s = self.lookup_slot(t, cptr)?;
        match slot::cap(&self.mem, s) {
            Cap::Null => Err(failure(LookupFailureKind::MissingCapability, 0, 0)),
            c => Ok((s, c)),
        }
    }

    /// One kernel entry, ending with the scheduler's choice (spec: SYS-1,
    /// SYS-2). `preempt` answers, at each preemption point (SYS-15),
    /// whether an interrupt is pending.
    pub fn entry(&mut self, e: Entry, preempt: &mut dyn FnMut() -> bool) -> Outcome {
        let c = self.current;
        let outcome = match e {
            Entry::Tick => {
                self.tick();
                Outcome::Other
            }
            Entry::Interrupt(line) => {
                self.interrupt(line);
                Outcome::Other
            }
            _ if c == 0 => Outcome::Other,
            Entry::Exception(f) => {
                self.raise_fault(c, f);
                Outcome::Fault(f)
            }
            Entry::Syscall => self.syscall(c, preempt),
        };
        self.choose(c);
        outcome
    }

    fn syscall(&mut self, c: PAddr, preempt: &mut dyn FnMut() -> bool) -> Outcome {
        // spec: SYS-18 — finish an unfinished deletion first.
        if self.pending_delete != 0 {
            let at = core::mem::take(&mut self.pending_delete);
            if self.zombie_run(at, preempt).is_err() {
                return self.preempted(c);
            }
            if !tcb::state(&self.mem, c).is_runnable() {
                return Outcome::Other;
            }
        }
        // The thread executes now; a `Restart` re-execution included.
        tcb::set_state(&mut self.mem, c, ThreadState::Running);
        let number = self.reg(c, self.layout.number);
        let Ok(call) = Syscall::try_from(number) else {
            // spec: SYS-3
            let f = Fault::UnknownSyscall { number };
            self.raise_fault(c, f);
            return Outcome::Fault(f);
        };
        match call {
            Syscall::Send | Syscall::NBSend | Syscall::Call => self.send_like(c, call, preempt),
            Syscall::Recv | Syscall::NBRecv => self.receive(c, call == Syscall::Recv),
            Syscall::Reply => {
                self.reply(c);
                Outcome::Other
            }
            Syscall::ReplyRecv => {
                // spec: SYS-13
                self.reply(c);
                self.receive(c, true)
            }
            Syscall::Yield => {
                self.yield_now();
                Outcome::Other
            }
        }
    }

    fn preempted(&mut self, c: PAddr) -> Outcome {
        // spec: SYS-16, DER-16 — Restart, unless the work suspended it.
        if tcb::state(&self.mem, c).is_runnable() {
            tcb::set_state(&mut self.mem, c, ThreadState::Restart);
        }
        Outcome::Preempted
    }

    /// Send, NBSend and Call (spec: SYS-4, SYS-5, SYS-8, SYS-9).
    fn send_like(&mut self, c: PAddr, call: Syscall, preempt: &mut dyn FnMut() -> bool) -> Outcome {
        let cptr = self.reg(c, self.layout.cptr);
        let (slot, cap) = match self.lookup(c, cptr) {
            Ok(found) => found,
            Err(_) if call == Syscall::NBSend => return Outcome::Other,
            Err(failure) => {
                let f = Fault::Cap {
                    address: cptr,
                    in_receive_phase: false,
                    failure,
                };
                self.raise_fault(c, f);
                return Outcome::Fault(f);
            }
        };
        let is_call = call == Syscall::Call;
        // The words are read only for a kernel-object invocation: IPC
        // reads them when it delivers (MSG-7, `transfer`).
        let extra = self.message_extra(c);
        let mut caps = [(0, Cap::Null); abi::msginfo::MAX_EXTRA_CAPS as usize];
        for (i, at) in caps.iter_mut().enumerate().take(extra) {
            match self.lookup(c, self.extra_cptr(c, i)) {
                Ok(found) => *at = found,
                Err(failure) => {
                    let e = ErrorDetail::FailedLookup {
                        position: i as u64 + 1,
                        failure,
                    };
                    return self.answer(c, is_call, Ok(Err(e)));
                }
            }
        }
        match cap {
            Cap::Endpoint { obj, badge, rights } => {
                // spec: IPC-2
                let can_call =
                    rights.contains(Rights::GRANT) || rights.contains(Rights::GRANT_REPLY);
                if !rights.contains(Rights::WRITE) || (is_call && !can_call) {
                    let e = ErrorDetail::InvalidCapability { position: 0 };
                    return self.answer(c, is_call, Ok(Err(e)));
                }
                self.send_ipc(
                    c,
                    obj,
                    badge,
                    rights.contains(Rights::GRANT),
                    rights.contains(Rights::GRANT_REPLY),
                    is_call,
                    call != Syscall::NBSend,
                );
                Outcome::Other
            }
            Cap::Notification { obj, badge, rights } => {
                // spec: NTFN-2, NTFN-3
                if !rights.contains(Rights::WRITE) {
                    let e = ErrorDetail::InvalidCapability { position: 0 };
                    return self.answer(c, is_call, Ok(Err(e)));
                }
                self.signal(obj, badge);
                self.answer(c, is_call, Ok(Ok(Reply::EMPTY)))
            }
            Cap::Reply { .. } => {
                // spec: IPC-17
                self.deliver_reply(c, slot);
                self.answer(c, is_call, Ok(Ok(Reply::EMPTY)))
            }
            _ => {
                let msg = self.read_message(c);
                let words = &msg.words[..msg.length];
                let inv = Invocation {
                    caller: c,
                    slot,
                    words,
                    extra: &caps[..extra],
                };
                let r = self.invoke(cap, msg.label, &inv, preempt);
                self.answer(c, is_call, r)
            }
        }
    }

    /// Give the result of an invocation to its caller (spec: SYS-8, SYS-9).
    fn answer(&mut self, c: PAddr, is_call: bool, r: InvokeResult) -> Outcome {
        let r = match r {
            Err(Preempted) => return self.preempted(c),
            Ok(r) => r,
        };
        let running = tcb::state(&self.mem, c) == ThreadState::Running;
        if !is_call || !running {
            return Outcome::Other;
        }
        match r {
            Ok(reply) => {
                self.write_result(c, Ok(reply.as_slice()));
                Outcome::Done(Ok(reply))
            }
            Err(e) => {
                self.write_result(c, Err(e));
                Outcome::Done(Err(e))
            }
        }
    }

    /// Dispatch a kernel-object invocation on the invoked capability's
    /// type and the label (spec: ERR-6 step 2).
    fn invoke(
        &mut self,
        cap: Cap,
        label: u64,
        inv: &Invocation<'_>,
        preempt: &mut dyn FnMut() -> bool,
    ) -> InvokeResult {
        let label = Label::try_from(label).ok();
        match (cap, label) {
            (Cap::Untyped { .. }, Some(Label::UntypedRetype)) => {
                Ok(self.retype(inv, preempt)?.map(|()| Reply::EMPTY))
            }
            // Each decoder refuses the labels of other types itself
            // (IllegalOperation, ERR-6), so the type alone selects it.
            (Cap::CNode { .. }, Some(l)) => {
                Ok(self.cnode_invoke(l, inv, preempt)?.map(|()| Reply::EMPTY))
            }
            (Cap::Tcb { obj }, Some(l)) => self.tcb_invoke(obj, l, inv, preempt),
            (Cap::IrqControl, Some(Label::IrqControlGet)) => {
                Ok(self.irq_get(inv).map(|()| Reply::EMPTY))
            }
            (Cap::IrqHandler { line }, Some(l)) => Ok(self
                .irq_handler_invoke(line, l, inv, preempt)?
                .map(|()| Reply::EMPTY)),
            (Cap::Frame { .. }, Some(l)) => Ok(self.frame_invoke(l, inv)),
            (Cap::PageTable { .. }, Some(l)) => {
                Ok(self.page_table_invoke(l, inv).map(|()| Reply::EMPTY))
            }
            (Cap::AsidControl, Some(Label::AsidControlMakePool)) => {
                Ok(self.make_pool(inv, preempt)?.map(|()| Reply::EMPTY))
            }
            (Cap::AsidPool { .. }, Some(Label::AsidPoolAssign)) => {
                Ok(self.assign(inv).map(|()| Reply::EMPTY))
            }
            // Every other label on every other capability (spec: ERR-6).
            _ => Ok(Err(ErrorDetail::IllegalOperation)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::BufferMemory;

    #[test]
    fn the_idle_thread_makes_no_calls_and_takes_no_faults() {
        // spec: SCHED-2, SCHED-5 — only ticks and interrupts reach the
        // kernel while the idle thread runs.
        let spec = BootSpec {
            layout: Layout::X86_64,
            root_tcb: 0x1_8000,
            root_cnode: 0x1_8800,
            root_radix: 6,
            root_ipc_buffer: 0x1_9000,
            root_ipc_buffer_vaddr: 0x7000_0400,
            root_vspace: 0x1_a000,
            root_boot_info: 0x1_c000,
            root_asid_pool: 0x1_b000,
            irq_slots: 0x1_0000,
            irq_lines: 64,
            reserved_irqs: &[],
            untypeds: &[],
        };
        let mut k = Kernel::boot(BufferMemory::new(0x1_0000, 0x1_0000), &spec);
        k.current = 0;
        let mut never = || false;
        let fault = Fault::Vm {
            address: 0,
            instruction: false,
            status: 0,
        };
        assert_eq!(k.entry(Entry::Syscall, &mut never), Outcome::Other);
        assert_eq!(k.entry(Entry::Exception(fault), &mut never), Outcome::Other);
        assert_eq!(k.current, 0);
        assert_eq!(tcb::state(&k.mem, 0x1_8000), ThreadState::Running);
    }
}
