//! The abstract kernel state of `state.md` (spec: ST-1 … ST-10).
//!
//! The model holds exactly this; the kernel core is projected onto it for
//! the refinement tests, and the invariant checkers read it. Only
//! non-empty slots are stored (an absent slot is empty, ST-3). Parentless
//! slots are unordered (DER-1 orders only children).

use abi::rights::Rights;
use alloc::{collections::BTreeMap, vec::Vec};

/// A physical address.
pub type Addr = u64;

/// Names a slot by its container and index (spec: ST-3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SlotRef {
    /// Slot `index` of the CNode at `obj`.
    CNode {
        /// The CNode's base address.
        obj: Addr,
        /// Slot index, `< 2^radix`.
        index: u64,
    },
    /// TCB slot `index` (ABI-11: 0 CSpaceRoot … 4 Reply) of the TCB at `obj`.
    Tcb {
        /// The TCB's base address.
        obj: Addr,
        /// Slot index, `< 5`.
        index: u64,
    },
    /// The notification slot of IRQ line `line` (spec: IRQ-2).
    Irq {
        /// The line.
        line: u64,
    },
}

impl SlotRef {
    /// The object whose slot this is (`None` for IRQ slots).
    pub fn container(self) -> Option<Addr> {
        match self {
            SlotRef::CNode { obj, .. } | SlotRef::Tcb { obj, .. } => Some(obj),
            SlotRef::Irq { .. } => None,
        }
    }
}

/// Which object a Zombie finalises (spec: DER-14).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZombieKind {
    /// A CNode.
    CNode,
    /// A TCB.
    Tcb,
}

/// A capability (spec: ST-5). The empty slot (Null) is not a `Cap`: it is
/// an absent entry of [`State::slots`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cap {
    /// An untyped region `[base, base + 2^size_bits)` (spec: UT-2).
    Untyped {
        /// Base, aligned to the size.
        base: Addr,
        /// log2 of the size, 4 ..= 47.
        size_bits: u32,
        /// Device memory (spec: UT-13).
        device: bool,
        /// Bytes from `base` below which children may live.
        watermark: u64,
    },
    /// A CNode.
    CNode {
        /// The object.
        obj: Addr,
    },
    /// An endpoint.
    Endpoint {
        /// The object.
        obj: Addr,
        /// 0 means unbadged (spec: CAP-7).
        badge: u64,
        /// Rights (spec: CAP-5).
        rights: Rights,
    },
    /// A notification.
    Notification {
        /// The object.
        obj: Addr,
        /// 0 means unbadged.
        badge: u64,
        /// Rights.
        rights: Rights,
    },
    /// A thread.
    Tcb {
        /// The object.
        obj: Addr,
    },
    /// A one-shot reply (spec: IPC-16).
    Reply {
        /// The thread waiting for the reply.
        caller: Addr,
        /// Counts as the Grant right (spec: CAP-4).
        can_grant: bool,
    },
    /// The authority to claim IRQ lines (spec: IRQ-3).
    IrqControl,
    /// The authority to handle one line.
    IrqHandler {
        /// The line.
        line: u64,
    },
    /// A frame of memory.
    Frame {
        /// The object.
        obj: Addr,
        /// Read and Write only (spec: CAP-5).
        rights: Rights,
        /// `(asid, vaddr)` while mapped (spec: VM-6).
        mapping: Option<(u64, u64)>,
    },
    /// A page table of levels 1 … 3 (spec: VM-1).
    PageTable {
        /// The object.
        obj: Addr,
        /// `(asid, vaddr, level)` while linked (spec: VM-9).
        mapping: Option<(u64, u64, u32)>,
    },
    /// A top-level table.
    VSpace {
        /// The object.
        obj: Addr,
    },
    /// The authority to make ASID pools (spec: ASID-2).
    AsidControl,
    /// An ASID pool (spec: ASID-1).
    AsidPool {
        /// The object.
        obj: Addr,
        /// The pool's first ASID (a multiple of 512).
        asid_base: u64,
    },
    /// A CNode or TCB whose deletion is unfinished (spec: DER-14).
    Zombie {
        /// The object kind.
        kind: ZombieKind,
        /// The object.
        obj: Addr,
        /// Slots not yet known to be empty.
        remaining: u64,
        /// Where the deletion resumes once this object is gone.
        resume: Option<SlotRef>,
    },
}

/// A non-empty slot with its place in the derivation tree (spec: ST-4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The capability.
    pub cap: Cap,
    /// The parent slot, if any (spec: DER-1).
    pub parent: Option<SlotRef>,
    /// The children, first child first (new children go to the front, DER-3).
    pub children: Vec<SlotRef>,
}

/// Thread states (spec: ST-8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThreadState {
    /// Not runnable.
    Inactive,
    /// Runnable; resumes after its last system call.
    Running,
    /// Runnable; re-executes its system call.
    Restart,
    /// Queued to send on `ep`.
    BlockedOnSend {
        /// The endpoint.
        ep: Addr,
        /// Badge of the capability used.
        badge: u64,
        /// That capability had Grant.
        grant: bool,
        /// That capability had GrantReply.
        grant_reply: bool,
        /// A Call (waits for a reply afterwards).
        call: bool,
    },
    /// Queued to receive on `ep`.
    BlockedOnRecv {
        /// The endpoint.
        ep: Addr,
        /// The receive capability had Grant.
        grant: bool,
    },
    /// Waiting for a reply.
    BlockedOnReply,
    /// Queued on a notification.
    BlockedOnNotification {
        /// The notification.
        ntfn: Addr,
    },
    /// Only the idle thread.
    Idle,
}

impl ThreadState {
    /// Runnable states (spec: ST-8).
    pub fn is_runnable(self) -> bool {
        matches!(self, ThreadState::Running | ThreadState::Restart)
    }
}

/// A thread control block (spec: ST-7). The register set and the slots are
/// not here: slots live in [`State::slots`] as `SlotRef::Tcb`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tcb {
    /// Thread state.
    pub state: ThreadState,
    /// Priority 0 ..= 255.
    pub priority: u8,
    /// Maximum controlled priority.
    pub mcp: u8,
    /// Remaining ticks of the time slice.
    pub slice: u32,
    /// IPC buffer virtual address, 0 for none.
    pub ipc_buffer: u64,
    /// The bound notification.
    pub bound_notification: Option<Addr>,
    /// A pending fault, while it waits for its handler (spec: FLT-1).
    pub fault: Option<Fault>,
    /// The user register set (spec: ABI-10), `Layout::words` long.
    pub context: Vec<u64>,
    /// The slot holding the Reply capability naming this thread.
    pub reply_at: Option<SlotRef>,
}

/// A fault a thread took (spec: FLT-1); its message is made from this and
/// the thread's registers when it is delivered (FLT-4, FLT-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// A failed capability lookup in a system call (SYS-4, SYS-11, NTFN-4).
    Cap {
        /// The capability address.
        address: u64,
        /// 1 when raised by the receive phase.
        in_receive_phase: bool,
        /// The lookup failure.
        failure: abi::error::LookupFailure,
    },
    /// A system call number that is not one (SYS-3).
    UnknownSyscall {
        /// The number.
        number: u64,
    },
    /// A processor exception other than a memory fault.
    UserException {
        /// x86_64 vector, aarch64 `ESR_EL1.EC`.
        number: u64,
        /// x86_64 error code, aarch64 `ESR_EL1`.
        code: u64,
    },
    /// A translation or permission fault on a user access.
    Vm {
        /// The faulting address.
        address: u64,
        /// An instruction fetch.
        instruction: bool,
        /// x86_64 page-fault error code, aarch64 `ESR_EL1`.
        status: u64,
    },
}

/// Endpoint state (spec: IPC-1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointState {
    /// No thread queued.
    Idle,
    /// Senders, head first.
    Sending(Vec<Addr>),
    /// Receivers, head first.
    Receiving(Vec<Addr>),
}

/// Notification state (spec: NTFN-1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotificationState {
    /// Nothing pending, nobody waiting.
    Idle,
    /// Waiters, head first.
    Waiting(Vec<Addr>),
    /// Signals not yet consumed, OR-ed.
    Active(u64),
}

/// A notification object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Its state.
    pub state: NotificationState,
    /// The bound thread.
    pub bound_tcb: Option<Addr>,
}

/// A live object (spec: ST-2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    /// A CNode with `2^radix` slots.
    CNode {
        /// 1 ..= 24.
        radix: u32,
    },
    /// A thread.
    Tcb(Tcb),
    /// An endpoint.
    Endpoint(EndpointState),
    /// A notification.
    Notification(Notification),
    /// A frame.
    Frame {
        /// 12, 21 or 30.
        size_bits: u32,
        /// Device memory.
        device: bool,
    },
    /// A page table of levels 1 … 3 (spec: VM-1, VM-2): its non-empty
    /// entries by index (0 … 511).
    PageTable {
        /// Non-empty entries.
        entries: BTreeMap<u64, Pte>,
    },
    /// A top-level table (level 0).
    VSpace {
        /// Its ASID (spec: ASID-3).
        asid: Option<u64>,
        /// Non-empty entries (links only: level 0 maps nothing, INV-34).
        entries: BTreeMap<u64, Pte>,
    },
    /// An ASID pool (spec: ASID-1): the VSpaces of its non-empty entries,
    /// by entry index (0 … 511).
    AsidPool {
        /// Non-empty entries.
        entries: BTreeMap<u64, Addr>,
    },
}

/// A non-empty page-table entry (spec: VM-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pte {
    /// A link to the PageTable at this address.
    Table(Addr),
    /// A mapping of the frame at `frame` (its base).
    Page {
        /// The frame's base address.
        frame: Addr,
        /// Writable (Read is always present, VM-6 check 8).
        write: bool,
        /// Executable.
        execute: bool,
        /// The memory type (VM-5).
        memory: MemoryType,
    },
}

/// The memory type of a mapping (spec: VM-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemoryType {
    /// Write-back cached.
    WriteBack,
    /// Uncached normal memory (`UNCACHED` on a non-device frame).
    Uncached,
    /// Device memory (every device frame).
    Device,
}

/// The state of an IRQ line (spec: IRQ-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IrqState {
    /// Not claimed; masked.
    Inactive,
    /// Never handed out (not on the platform, the kernel's own, aarch64
    /// SGIs/PPIs).
    Reserved,
    /// Claimed; masked exactly while `pending_ack`.
    Active {
        /// An interrupt was delivered and not yet acknowledged.
        pending_ack: bool,
    },
}

impl Object {
    /// The object's size in log2 bytes (spec: ABI-14).
    pub fn size_bits(&self) -> u32 {
        use abi::object as o;
        match self {
            Object::CNode { radix } => radix + o::SLOT_BITS,
            Object::Tcb(_) => o::TCB_BITS,
            Object::Endpoint(_) => o::ENDPOINT_BITS,
            Object::Notification(_) => o::NOTIFICATION_BITS,
            Object::Frame { size_bits, .. } => *size_bits,
            Object::PageTable { .. } | Object::VSpace { .. } | Object::AsidPool { .. } => {
                o::TABLE_BITS
            }
        }
    }

    /// Number of slots the object holds (CNode `2^radix`, TCB 5, else 0).
    pub fn slot_count(&self) -> u64 {
        match self {
            Object::CNode { radix } => 1 << radix,
            Object::Tcb(_) => abi::invocation::TCB_SLOTS as u64,
            _ => 0,
        }
    }
}

/// The whole abstract state (spec: ST-1 … ST-9).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct State {
    /// Live objects by base address.
    pub objects: BTreeMap<Addr, Object>,
    /// Non-empty slots.
    pub slots: BTreeMap<SlotRef, Slot>,
    /// The thread that runs on return to user space.
    pub current: Option<Addr>,
    /// The slot of an unfinished deletion (spec: DER-16).
    pub pending_delete: Option<SlotRef>,
    /// The ready queues (spec: SCHED-1): only non-empty ones, by priority,
    /// head first.
    pub ready: BTreeMap<u8, Vec<Addr>>,
    /// The kernel's ASID table (spec: ASID-1): the pool of each non-empty
    /// entry (0 … 127).
    pub asid_table: BTreeMap<u64, Addr>,
    /// IRQ line states (spec: IRQ-2) of every line that is not `Inactive`;
    /// an absent line is `Inactive`. Its notification slot is
    /// `SlotRef::Irq { line }` in `slots`.
    pub irq: BTreeMap<u64, IrqState>,
    /// Contents of the live non-device frames: their non-zero 64-bit
    /// words, by physical address (8-aligned). What is absent is zero; a
    /// frame that ceases to exist takes its words with it.
    pub frame_data: BTreeMap<Addr, u64>,
    /// The kernel's own memory, `(base, len)` ranges (spec: INV-2).
    pub kernel_memory: Vec<(Addr, u64)>,
}

/// TCB slot index of the IPC-buffer frame (spec: ABI-11).
pub const IPC_BUFFER_SLOT: u64 = 2;

impl State {
    /// The thread at `t`, if there is one.
    pub fn tcb(&self, t: Addr) -> Option<&Tcb> {
        match self.objects.get(&t) {
            Some(Object::Tcb(t)) => Some(t),
            _ => None,
        }
    }

    /// The physical address of `t`'s IPC buffer, if it has one (spec:
    /// MSG-5): its `ipc_buffer` address is not 0 and its IPC-buffer slot
    /// ([`IPC_BUFFER_SLOT`]) holds a Frame capability; the buffer lies at the
    /// address's offset within that frame.
    pub fn ipc_buffer(&self, t: Addr) -> Option<Addr> {
        let vaddr = self.tcb(t)?.ipc_buffer;
        if vaddr == 0 {
            return None;
        }
        let at = SlotRef::Tcb {
            obj: t,
            index: IPC_BUFFER_SLOT,
        };
        let Some(Cap::Frame { obj, .. }) = self.slots.get(&at).map(|sl| sl.cap) else {
            return None;
        };
        let Some(Object::Frame { size_bits, .. }) = self.objects.get(&obj) else {
            return None;
        };
        Some(obj + (vaddr & ((1u64 << size_bits) - 1)))
    }
}
