//! The refinement harness: the kernel's object core and the executable
//! model, booted from one configuration and driven in lock step with the
//! same kernel entries (spec: TP-1).
//!
//! After every step [`Pair::step`] checks that
//! (a) every invariant holds on the core's state projected to the abstract
//!     view (the checkers of `spec::invariants`, INV-6 reading the core's
//!     real memory);
//! (b) that projection equals the model's state — objects, slots and the
//!     derivation tree, thread states and registers, queues, frame
//!     contents (refinement, TP-1);
//! (c) both reported the same outcome (result, error with its detail,
//!     fault, preemption);
//! (d) an invocation that failed changed nothing but the caller's result
//!     registers (TP-3);
//! (e) the model's step keeps the transition properties of
//!     `spec::transitions` (TP-6, TP-7).
//!
//! Under Miri, which takes minutes to interpret one projection of the
//! whole state, (a) and (b) are left out: a Miri run looks for undefined
//! behaviour, overflow and panics in the core on the paths the steps
//! take, with (c), (d) and (e) still checked after every step; the native
//! runs check everything.
//!
//! The property test (`tests/refinement.rs`) and the benchmark
//! (`benches/steps.rs`) share the machine and the generator defined here.

pub mod ops;

use kernel_core::fault::Fault as CoreFault;
use kernel_core::kernel::{self, BootSpec, BootUntyped, Kernel};
use kernel_core::mem::{BufferMemory, Memory, get_mut};
use kernel_core::object::tcb;
use kernel_core::project::{self, Container};
use spec::entry::{self, Arch, BootConfig, Entry, Outcome, UserActions};
use spec::invariants::{self, ZeroOracle};
use spec::model::Model;
use spec::state::{Fault, Object, State, ThreadState};

/// The machine the tests boot: where its memory lies and what is in it.
pub mod machine {
    /// First byte of machine memory.
    pub const BASE: u64 = 0x1_0000;
    /// Size of machine memory.
    pub const SIZE: usize = 0x4_0000;
    /// The kernel's own memory (INV-2): the IRQ table's 1024 slots.
    pub const KERNEL: (u64, u64) = (0x1_0000, 0x8000);
    /// The IRQ table's slots.
    pub const IRQ_SLOTS: u64 = 0x1_0000;
    /// Lines the machine has.
    pub const IRQ_LINES: u64 = 64;
    /// Lines the kernel keeps (a timer line; aarch64 adds 0 … 31).
    pub const RESERVED_IRQS: [u64; 1] = [2];
    /// The root TCB.
    pub const ROOT_TCB: u64 = 0x1_8000;
    /// The root CNode.
    pub const ROOT_CNODE: u64 = 0x1_8800;
    /// Its radix: 64 slots, addressed with depth 6.
    pub const ROOT_RADIX: u32 = 6;
    /// The root IPC-buffer frame.
    pub const ROOT_IPC_BUFFER: u64 = 0x1_9000;
    /// The root thread's IPC-buffer virtual address.
    pub const ROOT_IPC_BUFFER_VADDR: u64 = 0x7000_0400;
    /// The root VSpace (ASID 1).
    pub const ROOT_VSPACE: u64 = 0x1_a000;
    /// The initial ASID pool.
    pub const ROOT_ASID_POOL: u64 = 0x1_b000;
    /// The boot-info frame.
    pub const ROOT_BOOT_INFO: u64 = 0x1_c000;
    /// The untyped regions: (base, size_bits, device), in root slots 16 …
    pub const UNTYPEDS: [(u64, u32, bool); 3] = [
        (0x2_0000, 17, false),
        (0x4_0000, 12, true),
        (0x4_4000, 10, false),
    ];
}

/// The reserved lines below [`machine::IRQ_LINES`] on `arch` (IRQ-2).
pub fn reserved_irqs(arch: Arch) -> Vec<u64> {
    let mut r = machine::RESERVED_IRQS.to_vec();
    if arch == Arch::Aarch64 {
        r.extend(0..abi::irq::AARCH64_FIRST_SPI);
    }
    r
}

/// The boot configuration of [`machine`], for the model.
pub fn boot_config(arch: Arch) -> BootConfig {
    BootConfig {
        arch,
        root_asid_pool: machine::ROOT_ASID_POOL,
        irq_lines: machine::IRQ_LINES,
        reserved_irqs: reserved_irqs(arch),
        root_ipc_buffer: machine::ROOT_IPC_BUFFER,
        root_vspace: machine::ROOT_VSPACE,
        root_boot_info: machine::ROOT_BOOT_INFO,
        root_ipc_buffer_vaddr: machine::ROOT_IPC_BUFFER_VADDR,
        root_tcb: machine::ROOT_TCB,
        root_cnode: machine::ROOT_CNODE,
        root_radix: machine::ROOT_RADIX,
        untypeds: machine::UNTYPEDS
            .iter()
            .map(|&(base, size_bits, device)| entry::BootUntyped {
                base,
                size_bits,
                device,
            })
            .collect(),
        kernel_memory: vec![machine::KERNEL],
    }
}

/// Boot the object core on [`machine`].
pub fn boot_core(arch: Arch) -> Kernel<BufferMemory> {
    let untypeds: Vec<BootUntyped> = machine::UNTYPEDS
        .iter()
        .map(|&(base, size_bits, device)| BootUntyped {
            base,
            size_bits: size_bits as u8,
            device,
        })
        .collect();
    Kernel::boot(
        BufferMemory::new(machine::BASE, machine::SIZE),
        &BootSpec {
            layout: arch.layout(),
            root_tcb: machine::ROOT_TCB,
            root_cnode: machine::ROOT_CNODE,
            root_radix: machine::ROOT_RADIX as u8,
            root_ipc_buffer: machine::ROOT_IPC_BUFFER,
            root_ipc_buffer_vaddr: machine::ROOT_IPC_BUFFER_VADDR,
            root_vspace: machine::ROOT_VSPACE,
            root_boot_info: machine::ROOT_BOOT_INFO,
            root_asid_pool: machine::ROOT_ASID_POOL,
            irq_slots: machine::IRQ_SLOTS,
            irq_lines: machine::IRQ_LINES,
            reserved_irqs: &reserved_irqs(arch),
            untypeds: &untypeds,
        },
    )
}

/// INV-6 reads the core's real memory.
struct RealMemory<'a>(&'a BufferMemory);

impl ZeroOracle for RealMemory<'_> {
    fn is_zero(&self, base: u64, len: u64) -> bool {
        self.0.bytes(base, len as usize).iter().all(|&b| b == 0)
    }
}

/// What the architecture's entry code finds when it is entered: the
/// current thread's user code has written its registers and IPC buffer
/// (only a `Running` thread runs user code, see `UserActions`).
pub fn apply_user_actions(core: &mut Kernel<BufferMemory>, user: &UserActions) {
    let c = core.current;
    if c == 0 || tcb::state(&core.mem, c) != tcb::ThreadState::Running {
        return;
    }
    for &(i, v) in &user.regs {
        if i < core.layout.words {
            core.set_reg(c, i, v);
        }
    }
    if let Some(b) = core.ipc_buffer(c) {
        for &(i, v) in &user.buffer {
            if i < kernel_core::message::BUFFER_WORDS {
                *get_mut::<u64>(&mut core.mem, b + 8 * i as u64) = v;
            }
        }
    }
}

/// The core's form of an entry, after its user actions are applied. For
/// a system call by a `Running` thread the processor saves the address
/// after the instruction, which lies at the thread's PC (ABI-17); a
/// `Restart` thread's saved PC already is that address.
pub fn core_entry(core: &mut Kernel<BufferMemory>, entry: &Entry) -> kernel::Entry {
    match entry {
        Entry::Syscall(u) => {
            let c = core.current;
            if c != 0 && tcb::state(&core.mem, c) == tcb::ThreadState::Running {
                apply_user_actions(core, u);
                let l = core.layout;
                let pc = core.reg(c, l.pc);
                core.set_reg(c, l.pc, pc.wrapping_add(l.syscall_len));
            }
            kernel::Entry::Syscall
        }
        Entry::Exception(u, f) => {
            // A `Restart` thread resumed at its system call instruction
            // (ABI-17) and faulted there, before re-executing it; a
            // `Running` one ran its user code first.
            let c = core.current;
            if c != 0 && tcb::state(&core.mem, c) == tcb::ThreadState::Restart {
                let l = core.layout;
                let pc = core.reg(c, l.pc);
                core.set_reg(c, l.pc, pc.wrapping_sub(l.syscall_len));
                tcb::set_state(&mut core.mem, c, tcb::ThreadState::Running);
            } else {
                apply_user_actions(core, u);
            }
            kernel::Entry::Exception(to_core_fault(*f))
        }
        Entry::Tick => kernel::Entry::Tick,
        Entry::Interrupt(line) => kernel::Entry::Interrupt(*line),
    }
}

/// The core and the model, side by side.
pub struct Pair {
    /// The kernel's object core over a buffer.
    pub core: Kernel<BufferMemory>,
    /// The executable model.
    pub model: Model,
    /// Steps taken.
    pub steps: u64,
    /// The last entries, for reports.
    pub history: std::collections::VecDeque<String>,
    /// The architecture.
    pub arch: Arch,
    /// Whether [`Pair::step`] checks (a) and (b) (not under Miri).
    pub full_check: bool,
}

/// A step on which core and model disagree, or an invariant fails.
#[derive(Debug)]
pub struct Divergence(pub String);

/// One kernel entry as generated: a call (resolved against the state when
/// it runs, see [`ops`]) and the preemption oracle's answers (bit `k`
/// answers the `k`-th preemption point; later points say no).
#[derive(Clone, Debug)]
pub struct Step {
    /// What happens.
    pub call: ops::Call,
    /// Preemption answers.
    pub preempt: u64,
}

fn oracle(bits: u64) -> impl FnMut() -> bool {
    let mut k = 0;
    move || {
        let pending = k < 64 && bits >> k & 1 == 1;
        k += 1;
        pending
    }
}

fn to_spec_fault(f: CoreFault) -> Fault {
    match f {
        CoreFault::Cap {
            address,
            in_receive_phase,
            failure,
        } => Fault::Cap {
            address,
            in_receive_phase,
            failure,
        },
        CoreFault::UnknownSyscall { number } => Fault::UnknownSyscall { number },
        CoreFault::UserException { number, code } => Fault::UserException { number, code },
        CoreFault::Vm {
            address,
            instruction,
            status,
        } => Fault::Vm {
            address,
            instruction,
            status,
        },
    }
}

fn to_core_fault(f: Fault) -> CoreFault {
    match f {
        Fault::Cap {
            address,
            in_receive_phase,
            failure,
        } => CoreFault::Cap {
            address,
            in_receive_phase,
            failure,
        },
        Fault::UnknownSyscall { number } => CoreFault::UnknownSyscall { number },
        Fault::UserException { number, code } => CoreFault::UserException { number, code },
        Fault::Vm {
            address,
            instruction,
            status,
        } => CoreFault::Vm {
            address,
            instruction,
            status,
        },
    }
}

fn to_spec(o: kernel::Outcome) -> Outcome {
    match o {
        kernel::Outcome::Done(r) => Outcome::Result(r.map(|w| w.as_slice().to_vec())),
        kernel::Outcome::Fault(f) => Outcome::Fault(to_spec_fault(f)),
        kernel::Outcome::Preempted => Outcome::Preempted,
        kernel::Outcome::Other => Outcome::Other,
    }
}

impl Pair {
    /// Boot both sides.
    pub fn new(arch: Arch) -> Pair {
        Pair {
            core: boot_core(arch),
            model: Model::boot(&boot_config(arch)),
            steps: 0,
            history: Default::default(),
            arch,
            full_check: !cfg!(miri),
        }
    }

    /// The core's state projected to the abstract view, seeded with the
    /// boot objects and the model's CNodes and TCBs.
    pub fn projection(&self) -> Result<State, Divergence> {
        let mut seeds = vec![
            Container::Tcb(machine::ROOT_TCB),
            Container::CNode {
                obj: machine::ROOT_CNODE,
                radix: machine::ROOT_RADIX as u8,
            },
        ];
        for (&obj, o) in &self.model.state.objects {
            match o {
                Object::CNode { radix } => seeds.push(Container::CNode {
                    obj,
                    radix: *radix as u8,
                }),
                Object::Tcb(_) => seeds.push(Container::Tcb(obj)),
                _ => {}
            }
        }
        project::project(&self.core, &seeds, &[machine::KERNEL])
            .map_err(|e| Divergence(format!("core state does not project: {}", e.0)))
    }

    /// Whether some thread can still make calls or be scheduled.
    pub fn alive(&self) -> bool {
        self.model.state.current.is_some() || !self.model.state.ready.is_empty()
    }

    /// Check (a) every invariant on the core's projected state and (b)
    /// that it equals the model's.
    pub fn check_state(&self) -> Result<(), Divergence> {
        let history = || {
            self.history
                .iter()
                .map(|h| format!("\n    {h}"))
                .collect::<String>()
        };
        let projected = self.projection()?;
        // (a)
        let mut violations = invariants::check_all(&projected, &RealMemory(&self.core.mem));
        if let Err(v) = invariants::inv_36_boot(&projected, &boot_config(self.arch)) {
            violations.push(v);
        }
        if !violations.is_empty() {
            return Err(Divergence(format!(
                "invariants broken: {violations:?}; last entries:{}",
                history()
            )));
        }
        // (b)
        if projected != self.model.state {
            return Err(Divergence(format!(
                "{}last entries:{}",
                diff(&projected, &self.model.state),
                history()
            )));
        }
        Ok(())
    }

    /// Run one entry on both sides and check (a) … (d); returns the
    /// outcome and the entry it resolved to.
    pub fn step(&mut self, step: &Step) -> Result<(Outcome, Entry), Divergence> {
        let entry = ops::Selector::new(&self.model, self.core.layout).resolve(&step.call);
        // The state the transition properties start from: the model's,
        // with the user actions of this entry done (a thread writes its
        // registers and IPC buffer before it enters the kernel; with a
        // buffer frame two threads share, that write is part of what a
        // queued sender's message is at delivery, MSG-7).
        let before = {
            let mut pre = self.model.clone();
            if let (Some(t), Entry::Syscall(u) | Entry::Exception(u, _)) =
                (pre.state.current, &entry)
                && pre
                    .state
                    .tcb(t)
                    .is_some_and(|o| o.state == ThreadState::Running)
            {
                pre.apply_user_actions(t, u);
            }
            pre.state
        };
        let caller = self.core.current;
        let core_entry = core_entry(&mut self.core, &entry);
        let o = self.core.entry(core_entry, &mut oracle(step.preempt));
        let got = to_spec(o);
        let want = self.model.entry(&entry, &mut oracle(step.preempt));
        self.steps += 1;
        if self.history.len() == 6 {
            self.history.pop_front();
        }
        self.history.push_back(format!(
            "#{} by {caller:#x} (preempt {:#x}): {entry:?} -> {want:?}",
            self.steps, step.preempt
        ));
        let history = || {
            self.history
                .iter()
                .map(|h| format!("\n    {h}"))
                .collect::<String>()
        };
        if got != want {
            return Err(Divergence(format!(
                "outcome: core {got:?}, model {want:?}; last entries:{}",
                history()
            )));
        }
        if self.full_check {
            self.check_state()?;
        }
        // (e) The transition properties of the model's step (TP-6, TP-7).
        let broken = spec::transitions::check_all(&before, &self.model.state, self.core.layout);
        if !broken.is_empty() {
            return Err(Divergence(format!(
                "transition properties broken: {broken:?}; last entries:{}",
                history()
            )));
        }
        // (d) spec: TP-3 — apart from the caller's registers, its state
        // (a `Restart` re-execution ends `Running`) and a pending deletion
        // finished first (SYS-18).
        if matches!(want, Outcome::Result(Err(_))) && before.pending_delete.is_none() {
            let strip = |s: &State| {
                let mut s = s.clone();
                if let Some(Object::Tcb(t)) = s.objects.get_mut(&caller) {
                    t.context.clear();
                    if t.state == ThreadState::Restart {
                        t.state = ThreadState::Running;
                    }
                }
                s.frame_data.clear();
                s
            };
            if strip(&self.model.state) != strip(&before) {
                return Err(Divergence(format!("failed {entry:?} changed the state")));
            }
        }
        Ok((want, entry))
    }
}

/// A readable difference between the projected core state and the model's.
fn diff(core: &State, model: &State) -> String {
    let mut out = String::from("states differ (core vs model):\n");
    for (k, v) in &core.slots {
        match model.slots.get(k) {
            Some(w) if w == v => {}
            w => out += &format!("  slot {k:?}: core {v:?}, model {w:?}\n"),
        }
    }
    for (k, w) in &model.slots {
        if !core.slots.contains_key(k) {
            out += &format!("  slot {k:?}: core empty, model {w:?}\n");
        }
    }
    for (k, v) in &core.objects {
        match model.objects.get(k) {
            Some(w) if w == v => {}
            w => out += &format!("  object {k:#x}: core {v:?}, model {w:?}\n"),
        }
    }
    for (k, w) in &model.objects {
        if !core.objects.contains_key(k) {
            out += &format!("  object {k:#x}: core none, model {w:?}\n");
        }
    }
    if core.current != model.current {
        out += &format!(
            "  current: core {:?}, model {:?}\n",
            core.current, model.current
        );
    }
    if core.ready != model.ready {
        out += &format!("  ready: core {:?}, model {:?}\n", core.ready, model.ready);
    }
    if core.frame_data != model.frame_data {
        out += &format!(
            "  frame data: core {:?}, model {:?}\n",
            core.frame_data, model.frame_data
        );
    }
    if core.pending_delete != model.pending_delete {
        out += &format!(
            "  pending_delete: core {:?}, model {:?}\n",
            core.pending_delete, model.pending_delete
        );
    }
    out
}
