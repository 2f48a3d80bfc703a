//! What the model and the kernel core are driven with: the boot
//! configuration and one kernel entry (a Call by the current thread), and
//! what an entry produces. Both sides take the same values, so a test can
//! run them in lock step (spec: TP-1).

use abi::context::Layout;
use abi::error::ErrorDetail;
use alloc::vec::Vec;

use crate::state::{Addr, Fault};

/// The architecture whose register layout (ABI-5, ABI-10) the kernel uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// x86_64.
    X86_64,
    /// aarch64.
    Aarch64,
}

impl Arch {
    /// The register layout.
    pub fn layout(self) -> Layout {
        match self {
            Arch::X86_64 => Layout::X86_64,
            Arch::Aarch64 => Layout::AARCH64,
        }
    }
}

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
/// (`Running`, priority and mcp 255, full slice, zeroed registers,
/// `ipc_buffer = root_ipc_buffer_vaddr`), the root CNode at `root_cnode`
/// with radix `root_radix`, the root IPC-buffer frame (4 KiB, zeroed) at
/// `root_ipc_buffer`, and places without parent: a CNode capability to the
/// root CNode in the TCB's `CSpaceRoot` slot and in root slot 2, a TCB
/// capability in root slot 1, IRQControl in root slot 4, a Frame capability
/// (Read|Write, unmapped) to the IPC-buffer frame in the TCB's
/// `IpcBufferFrame` slot and in root slot 7, a Frame capability
/// (Read|Write, unmapped) to the boot-info frame (4 KiB, zeroed) at
/// `root_boot_info` in root slot 8, a VSpace capability to the
/// root VSpace object at `root_vspace` (empty, ASID 1) in the TCB's
/// `VSpaceRoot` slot and in root slot 3, ASIDControl in root slot 5, an
/// ASIDPool capability (`asid_base` 0) to the initial pool at
/// `root_asid_pool` in root slot 6 — `asid_table[0]` is that pool and its
/// entry 1 the root VSpace (ABI-16, ASID-1) — and `untypeds[i]` in root
/// slot `16 + i`. IRQ lines `0 .. irq_lines` not in `reserved_irqs` are
/// `Inactive`; the lines in `reserved_irqs` and every line from
/// `irq_lines` up to `IRQ_LINES` are `Reserved` (IRQ-2). `current` is the root TCB; the ready queues are empty.
/// `kernel_memory` is the kernel's own memory (spec: INV-2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootConfig {
    /// The register layout.
    pub arch: Arch,
    /// The root IPC-buffer frame (4 KiB aligned).
    pub root_ipc_buffer: Addr,
    /// The boot-info frame (4 KiB aligned), root slot 8.
    pub root_boot_info: Addr,
    /// The root VSpace (4 KiB aligned); it has ASID 1.
    pub root_vspace: Addr,
    /// The initial ASID pool (4 KiB aligned).
    pub root_asid_pool: Addr,
    /// Number of IRQ lines the platform has (at most `IRQ_LINES`).
    pub irq_lines: u64,
    /// Lines below `irq_lines` that are `Reserved` (the kernel's timer; on
    /// aarch64 also 0 … 31).
    pub reserved_irqs: Vec<u64>,
    /// The root thread's `ipc_buffer` virtual address (1 KiB aligned).
    pub root_ipc_buffer_vaddr: u64,
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

/// What an entry did, as the thread that made it sees it. The full effect
/// is in the state (registers included); this summary is for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A kernel-object invocation made with `Call` completed with the
    /// caller `Running`: its result (SYS-9), also written to its registers.
    Result(Result<Vec<u64>, ErrorDetail>),
    /// The entry raised a fault for the thread that made it (SYS-3, SYS-4,
    /// SYS-11, NTFN-4, an exception); FLT-3 delivered it or stopped the
    /// thread.
    Fault(Fault),
    /// A preemption point found an interrupt pending (SYS-16): the caller
    /// is left `Restart` and will re-execute the call.
    Preempted,
    /// Anything else: message passing, an invocation made with Send or
    /// NBSend, Yield, a tick, a Call whose caller is no longer `Running`.
    Other,
}

/// What the current thread's user code does before it enters the kernel:
/// register writes (context index, value) and writes to words of its IPC
/// buffer (word index 0 … 127 of ABI-8, value). They apply only when the
/// current thread is `Running`; a `Restart` thread re-executes its system
/// call without running user code, and a write to an IPC buffer the thread
/// does not have (MSG-5) is dropped (the real thread would fault).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UserActions {
    /// Register writes, applied in order.
    pub regs: Vec<(usize, u64)>,
    /// IPC-buffer word writes, applied in order.
    pub buffer: Vec<(usize, u64)>,
}

/// One kernel entry (spec: SYS-1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// The current thread executes the system-call instruction with the
    /// registers its user code left (SYS-3: the number register decides).
    Syscall(UserActions),
    /// The current thread takes a processor exception (FLT-1:
    /// `UserException` or `Vm` only).
    Exception(UserActions, Fault),
    /// A timer tick (SCHED-6).
    Tick,
    /// A device interrupt on this line (IRQ-8); a line that is not
    /// `Active` without `pending_ack` is masked and raises nothing.
    Interrupt(u64),
}
