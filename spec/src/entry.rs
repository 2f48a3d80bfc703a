//! What the model and the kernel core are driven with: the boot
//! configuration and one kernel entry (a Call by the current thread), and
//! what an entry produces. Both sides take the same values, so a test can
//! run them in lock step (spec: TP-1).

use abi::error::{ErrorDetail, LookupFailure};
use alloc::vec::Vec;

use crate::state::Addr;

/// One untyped region handed to the root task (spec: ST-10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootUntyped {
    /// Base, aligned to the size.
    pub base: Addr,
    /// log2 of the size.
    pub size_bits: u32,
    /// Device memory.
    pub device: bool,
}

/// The boot state to build (spec: ST-10, restricted to the objects the
/// object core has so far).
///
/// Boot creates, outside every untyped region: the root TCB at `root_tcb`
/// (`Running`, priority and mcp 255, full slice), the root CNode at
/// `root_cnode` with radix `root_radix`, and places without parent:
/// a CNode capability to the root CNode in the TCB's `CSpaceRoot` slot and
/// in root slot 2, a TCB capability in root slot 1, IRQControl in root
/// slot 4, and `untypeds[i]` in root slot `16 + i`. `current` is the root
/// TCB. `kernel_memory` is the kernel's own memory (spec: INV-2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootConfig {
    /// Base of the root TCB (2 KiB aligned).
    pub root_tcb: Addr,
    /// Base of the root CNode (aligned to `2^(root_radix + 5)`).
    pub root_cnode: Addr,
    /// Radix of the root CNode, at least 5 so slot 16 exists.
    pub root_radix: u32,
    /// Untyped regions, in root slots 16, 17, …
    pub untypeds: Vec<BootUntyped>,
    /// The kernel's own memory.
    pub kernel_memory: Vec<(Addr, u64)>,
}

/// One invocation made with `Call` by the current thread (spec: SYS-4,
/// SYS-5): the invoked capability's address, the label, the message words
/// and the addresses of the extra capabilities (at most 3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// Address of the invoked capability (CS-1).
    pub cptr: u64,
    /// The info word's label.
    pub label: u64,
    /// Message words MR0 … (at most 120).
    pub words: Vec<u64>,
    /// Extra capability addresses (at most 3).
    pub extra: Vec<u64>,
}

/// What an entry did, as the caller sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The call completed with the caller `Running`: its result (SYS-9).
    Result(Result<Vec<u64>, ErrorDetail>),
    /// The invoked capability's lookup failed (SYS-4): a CapFault. Until
    /// fault delivery (FLT-3) joins the object core, the caller stays
    /// `Running` and the fault is only reported.
    CapFault(LookupFailure),
    /// A preemption point found an interrupt pending (SYS-16): the caller
    /// is left `Restart` and will re-execute the call.
    Preempted,
    /// The call completed but left the caller not `Running` (for example it
    /// deleted its own TCB): no result (SYS-9).
    NoResult,
}
