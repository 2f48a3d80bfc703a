//! The refinement harness: the kernel's object core and the executable
//! model, booted from one configuration and driven in lock step with the
//! same kernel entries (spec: TP-1).
//!
//! After every step [`Pair::step`] checks that
//! (a) every invariant holds on the core's state projected to the abstract
//!     view (the checkers of `spec::invariants`, INV-6 reading the core's
//!     real memory);
//! (b) that projection equals the model's state (refinement, TP-1);
//! (c) both returned the same outcome (result, error with its detail,
//!     fault, preemption);
//! (d) a failed operation changed nothing (TP-3).
//!
//! The property test (`tests/refinement.rs`) and the benchmark
//! (`benches/steps.rs`) share the machine and the operation generator
//! defined here.

pub mod ops;

use kernel_core::kernel::{self, BootSpec, BootUntyped, Kernel};
use kernel_core::mem::{BufferMemory, Memory};
use kernel_core::project::{self, Container};
use spec::entry::{self, BootConfig, Invocation, Outcome};
use spec::invariants::{self, ZeroOracle};
use spec::model::Model;
use spec::state::{Object, State, ThreadState};

/// The machine the tests boot: where its memory lies and what is in it.
pub mod machine {
    /// First byte of machine memory.
    pub const BASE: u64 = 0x1_0000;
    /// Size of machine memory.
    pub const SIZE: usize = 0x4_0000;
    /// The kernel's own memory (INV-2).
    pub const KERNEL: (u64, u64) = (0x1_0000, 0x1000);
    /// The root TCB.
    pub const ROOT_TCB: u64 = 0x1_1000;
    /// The root CNode.
    pub const ROOT_CNODE: u64 = 0x1_1800;
    /// Its radix: 64 slots, addressed with depth 6.
    pub const ROOT_RADIX: u32 = 6;
    /// The untyped regions: (base, size_bits, device), in root slots 16 …
    pub const UNTYPEDS: [(u64, u32, bool); 3] = [
        (0x2_0000, 17, false),
        (0x4_0000, 12, true),
        (0x4_4000, 10, false),
    ];
}

/// The boot configuration of [`machine`], for the model.
pub fn boot_config() -> BootConfig {
    BootConfig {
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

/// INV-6 reads the core's real memory.
struct RealMemory<'a>(&'a BufferMemory);

impl ZeroOracle for RealMemory<'_> {
    fn is_zero(&self, base: u64, len: u64) -> bool {
        self.0.bytes(base, len as usize).iter().all(|&b| b == 0)
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
}

/// A step on which core and model disagree, or an invariant fails.
#[derive(Debug)]
pub struct Divergence(pub String);

/// One kernel entry: a call (resolved against the state when it runs,
/// see [`ops`]) and the preemption oracle's answers (bit `k` answers the
/// `k`-th preemption point; later points say no).
#[derive(Clone, Debug)]
pub struct Step {
    /// The call.
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

fn to_spec(o: kernel::Outcome) -> Outcome {
    match o {
        kernel::Outcome::Done(r) => Outcome::Result(r.map(|()| Vec::new())),
        kernel::Outcome::CapFault(f) => Outcome::CapFault(f),
        kernel::Outcome::Preempted => Outcome::Preempted,
        kernel::Outcome::NoResult => Outcome::NoResult,
    }
}

impl Default for Pair {
    fn default() -> Self {
        Self::new()
    }
}

impl Pair {
    /// Boot both sides.
    pub fn new() -> Pair {
        let untypeds: Vec<BootUntyped> = machine::UNTYPEDS
            .iter()
            .map(|&(base, size_bits, device)| BootUntyped {
                base,
                size_bits: size_bits as u8,
                device,
            })
            .collect();
        let core = Kernel::boot(
            BufferMemory::new(machine::BASE, machine::SIZE),
            &BootSpec {
                root_tcb: machine::ROOT_TCB,
                root_cnode: machine::ROOT_CNODE,
                root_radix: machine::ROOT_RADIX as u8,
                untypeds: &untypeds,
            },
        );
        Pair {
            core,
            model: Model::boot(&boot_config()),
            steps: 0,
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

    /// Whether the current thread can still make calls.
    pub fn caller_alive(&self) -> bool {
        self.model.state.current.is_some()
    }

    /// Run one entry on both sides and check (a) … (d); returns the
    /// outcome and the invocation it resolved to.
    pub fn step(&mut self, step: &Step) -> Result<(Outcome, Invocation), Divergence> {
        let mut before = self.model.state.clone();
        // A caller left `Restart` by a preemption re-executes its call and
        // ends `Running` whatever the call does.
        if let Some(Object::Tcb(t)) = before.current.and_then(|c| before.objects.get_mut(&c))
            && t.state == ThreadState::Restart
        {
            t.state = ThreadState::Running;
        }
        let inv = &ops::Selector(&self.model.state).resolve(&step.call);
        let got = to_spec(self.core.call(
            inv.cptr,
            inv.label,
            &inv.words,
            &inv.extra,
            &mut oracle(step.preempt),
        ));
        let want = self.model.invoke(inv, &mut oracle(step.preempt));
        self.steps += 1;
        if got != want {
            return Err(Divergence(format!(
                "outcome of {inv:?}: core {got:?}, model {want:?}"
            )));
        }
        let projected = self.projection()?;
        // (a)
        let violations = invariants::check_all(&projected, &RealMemory(&self.core.mem));
        if !violations.is_empty() {
            return Err(Divergence(format!("invariants broken: {violations:?}")));
        }
        // (b)
        if projected != self.model.state {
            return Err(Divergence(diff(&projected, &self.model.state)));
        }
        // (d) spec: TP-3 — unless the entry first finished a pending
        // deletion (SYS-18), which is work done whatever the call does.
        let failed = matches!(want, Outcome::Result(Err(_)) | Outcome::CapFault(_));
        if failed && before.pending_delete.is_none() && self.model.state != before {
            return Err(Divergence(format!("failed {inv:?} changed the state")));
        }
        Ok((want, inv.clone()))
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
    if core.pending_delete != model.pending_delete {
        out += &format!(
            "  pending_delete: core {:?}, model {:?}\n",
            core.pending_delete, model.pending_delete
        );
    }
    out
}
