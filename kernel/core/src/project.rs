//! The core's state projected onto the abstract state of `spec/state.md`
//! (spec: TP-1), for the refinement tests and the invariant checkers.
//!
//! The kernel keeps no list of objects (there is no kernel heap), so the
//! projection finds them the way authority does: it scans the slots of the
//! CNodes and TCBs it is given as seeds, follows every CNode and TCB
//! capability it finds to scan their slots too, and takes an object to be
//! live exactly when a capability refers to it (INV-10). An object whose
//! every capability sits in slots no seed leads to is not seen; the tests
//! pass the model's CNodes and TCBs as extra seeds so that such islands
//! are compared as well.

use crate::cap::{Cap, ZombieKind};
use crate::fault::Fault;
use crate::kernel::{Kernel, cnode_slot};
use crate::mem::{Memory, PAddr};
use crate::object::{endpoint, irq, notification, tcb, vspace};
use crate::pte;
use crate::slot::{self, SLOT_SIZE};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use spec::state::{self as s, SlotRef};

/// An object whose slots the projection scans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Container {
    /// The kernel's IRQ table (always scanned).
    Irq,
    /// A CNode of this radix.
    CNode {
        /// Base.
        obj: PAddr,
        /// Radix.
        radix: u8,
    },
    /// A TCB.
    Tcb(PAddr),
}

impl Container {
    fn slots<M: Memory>(self, k: &Kernel<M>) -> (PAddr, u64) {
        match self {
            Container::Irq => (k.irq_slots, abi::irq::IRQ_LINES),
            Container::CNode { obj, radix } => (cnode_slot(obj, 0), 1 << radix),
            Container::Tcb(obj) => (tcb::slot_addr(obj, 0), abi::invocation::TCB_SLOTS as u64),
        }
    }

    fn slot_ref(self, index: u64) -> SlotRef {
        match self {
            Container::Irq => SlotRef::Irq { line: index },
            Container::CNode { obj, .. } => SlotRef::CNode { obj, index },
            Container::Tcb(obj) => SlotRef::Tcb { obj, index },
        }
    }
}

fn container_of(c: Cap) -> Option<Container> {
    match c {
        Cap::CNode { obj, radix }
        | Cap::Zombie {
            kind: ZombieKind::CNode { radix },
            obj,
            ..
        } => Some(Container::CNode { obj, radix }),
        Cap::Tcb { obj }
        | Cap::Zombie {
            kind: ZombieKind::Tcb,
            obj,
            ..
        } => Some(Container::Tcb(obj)),
        _ => None,
    }
}

/// Why a projection failed: the concrete state is not a projection of
/// any abstract state (a broken link, a slot outside every container).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unprojectable(pub alloc::string::String);

/// Which frame contents a projection copies into `State::frame_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameData {
    /// Every non-zero word of every live non-device frame (the abstract
    /// state in full, as the refinement tests compare it).
    All,
    /// None: `frame_data` stays empty. For the checking kernel, whose
    /// invariant checkers read memory through a `ZeroOracle` and never
    /// `frame_data`; copying every mapped frame (the initial image among
    /// them) into a map on every entry would cost more than all checkers
    /// together. (It adds back the IPC buffers' words, which the
    /// transition checkers read.)
    None,
}

/// Project `k` (see the module comment for `seeds`).
pub fn project<M: Memory>(
    k: &Kernel<M>,
    seeds: &[Container],
    kernel_memory: &[(PAddr, u64)],
) -> Result<s::State, Unprojectable> {
    project_with(k, seeds, kernel_memory, FrameData::All)
}

/// [`project`], copying the frame contents `frames` asks for.
pub fn project_with<M: Memory>(
    k: &Kernel<M>,
    seeds: &[Container],
    kernel_memory: &[(PAddr, u64)],
    frames: FrameData,
) -> Result<s::State, Unprojectable> {
    let m = &k.mem;
    let mut scanned: BTreeSet<Container> = BTreeSet::new();
    let mut todo: Vec<Container> = seeds.to_vec();
    todo.push(Container::Irq);
    // The scanned containers' slot ranges (first slot, count, container),
    // in scan order, to name the targets of tree links. (A map from every
    // slot address would cost an insertion per slot, empty ones included:
    // most of the projection's time in the checking kernel.)
    let mut spans: Vec<(PAddr, u64, Container)> = Vec::new();
    let mut found: Vec<(PAddr, SlotRef, Cap)> = Vec::new();
    while let Some(c) = todo.pop() {
        if !scanned.insert(c) {
            continue;
        }
        let (first, n) = c.slots(k);
        spans.push((first, n, c));
        for i in 0..n {
            let a = first + i * SLOT_SIZE;
            let r = c.slot_ref(i);
            let cap = slot::cap(m, a);
            if cap.is_null() {
                continue;
            }
            if let Some(next) = container_of(cap) {
                todo.push(next);
            }
            found.push((a, r, cap));
        }
    }
    let slot_in = |&(first, n, c): &(PAddr, u64, Container), a: PAddr| {
        let i = a.checked_sub(first)? / SLOT_SIZE;
        (i < n && a.is_multiple_of(SLOT_SIZE)).then(|| c.slot_ref(i))
    };
    let mut sorted = spans.clone();
    sorted.sort_unstable_by_key(|&(first, ..)| first);
    // Containers overlap only in a broken state (INV-2); then the one
    // scanned last names the slot.
    let disjoint = sorted
        .windows(2)
        .all(|w| w[0].0 + w[0].1 * SLOT_SIZE <= w[1].0);
    let name = |a: PAddr| {
        let r = if disjoint {
            let i = sorted.partition_point(|&(first, ..)| first <= a);
            i.checked_sub(1).and_then(|i| slot_in(&sorted[i], a))
        } else {
            spans.iter().rev().find_map(|sp| slot_in(sp, a))
        };
        r.ok_or_else(|| {
            Unprojectable(alloc::format!(
                "link to {a:#x}, a slot outside every scanned object"
            ))
        })
    };
    let mut state = s::State {
        current: (k.current != 0).then_some(k.current),
        kernel_memory: kernel_memory.to_vec(),
        ..Default::default()
    };
    if k.pending_delete != 0 {
        state.pending_delete = Some(name(k.pending_delete)?);
    }
    for (i, &p) in k.asid_table.iter().enumerate() {
        if p != 0 {
            state.asid_table.insert(i as u64, p);
        }
    }
    for (line, &st) in k.irq_state.iter().enumerate() {
        let st = match st {
            irq::INACTIVE => continue,
            irq::RESERVED => s::IrqState::Reserved,
            irq::ACTIVE => s::IrqState::Active { pending_ack: false },
            _ => s::IrqState::Active { pending_ack: true },
        };
        state.irq.insert(line as u64, st);
    }
    for p in 0..=255u8 {
        let q: Vec<PAddr> = k.ready.queue(p).iter(m, tcb::QUEUE_LINKS_AT).collect();
        // The bitmap is the core's own (the abstract state keeps only the
        // non-empty queues): it must name exactly those.
        if k.ready.bit(p) == q.is_empty() {
            return Err(Unprojectable(alloc::format!(
                "ready bitmap bit {p} is {} for a queue of {} threads",
                k.ready.bit(p),
                q.len()
            )));
        }
        if !q.is_empty() {
            state.ready.insert(p, q);
        }
    }
    for &(a, r, cap) in &found {
        let parent = slot::parent(m, a).map(name).transpose()?;
        let children = slot::children(m, a)
            .map(name)
            .collect::<Result<Vec<_>, _>>()?;
        let abstract_cap = match cap {
            Cap::Null => unreachable!("empty slots are skipped"),
            Cap::Untyped {
                base,
                size_bits,
                device,
                watermark,
            } => s::Cap::Untyped {
                base,
                size_bits: size_bits as u32,
                device,
                watermark,
            },
            Cap::CNode { obj, radix } => {
                state.objects.insert(
                    obj,
                    s::Object::CNode {
                        radix: radix as u32,
                    },
                );
                s::Cap::CNode { obj }
            }
            Cap::Endpoint { obj, badge, rights } => {
                state.objects.insert(obj, project_endpoint(m, obj));
                s::Cap::Endpoint { obj, badge, rights }
            }
            Cap::Notification { obj, badge, rights } => {
                state.objects.insert(obj, project_notification(m, obj));
                s::Cap::Notification { obj, badge, rights }
            }
            Cap::Tcb { obj } => {
                state.objects.insert(obj, project_tcb(k, obj, &name)?);
                s::Cap::Tcb { obj }
            }
            Cap::Reply { caller, can_grant } => s::Cap::Reply { caller, can_grant },
            Cap::IrqControl => s::Cap::IrqControl,
            Cap::IrqHandler { line } => s::Cap::IrqHandler { line: line as u64 },
            Cap::Frame {
                obj,
                size_bits,
                device,
                rights,
                mapping,
            } => {
                if !device && frames == FrameData::All {
                    for a in (obj..obj + (1u64 << size_bits)).step_by(8) {
                        let w = *crate::mem::get::<u64>(m, a);
                        if w != 0 {
                            state.frame_data.insert(a, w);
                        }
                    }
                }
                state.objects.insert(
                    obj,
                    s::Object::Frame {
                        size_bits: size_bits as u32,
                        device,
                    },
                );
                s::Cap::Frame {
                    obj,
                    rights,
                    mapping: mapping.map(|(asid, v)| (asid as u64, v)),
                }
            }
            Cap::PageTable { obj, mapping } => {
                let level = mapping.map_or(3, |(_, _, l)| l as u32);
                state.objects.insert(
                    obj,
                    s::Object::PageTable {
                        entries: table_entries(k, obj, level, 512),
                    },
                );
                s::Cap::PageTable {
                    obj,
                    mapping: mapping.map(|(asid, v, l)| (asid as u64, v, l as u32)),
                }
            }
            Cap::VSpace { obj } => {
                state.objects.insert(
                    obj,
                    s::Object::VSpace {
                        asid: vspace::asid_record(m, obj).map(u64::from),
                        // User space is the lower half (VM-1).
                        entries: table_entries(k, obj, 0, 256),
                    },
                );
                s::Cap::VSpace { obj }
            }
            Cap::AsidControl => s::Cap::AsidControl,
            Cap::AsidPool { obj, asid_base } => {
                let entries = (0..abi::vm::ASIDS_PER_POOL as u64)
                    .filter_map(|e| {
                        let v = *crate::mem::get::<u64>(m, obj + 8 * e);
                        (v != 0).then_some((e, v))
                    })
                    .collect();
                state.objects.insert(obj, s::Object::AsidPool { entries });
                s::Cap::AsidPool {
                    obj,
                    asid_base: asid_base as u64,
                }
            }
            Cap::Zombie {
                kind,
                obj,
                remaining,
                resume,
            } => {
                let (k, o) = match kind {
                    ZombieKind::CNode { radix } => (
                        s::ZombieKind::CNode,
                        s::Object::CNode {
                            radix: radix as u32,
                        },
                    ),
                    ZombieKind::Tcb => (s::ZombieKind::Tcb, project_tcb(k, obj, &name)?),
                };
                state.objects.insert(obj, o);
                s::Cap::Zombie {
                    kind: k,
                    obj,
                    remaining,
                    resume: if resume == 0 {
                        None
                    } else {
                        Some(name(resume)?)
                    },
                }
            }
        };
        state.slots.insert(
            r,
            s::Slot {
                cap: abstract_cap,
                parent,
                children,
            },
        );
    }
    Ok(state)
}

fn project_state(st: tcb::ThreadState) -> s::ThreadState {
    use tcb::ThreadState as T;
    match st {
        T::Inactive => s::ThreadState::Inactive,
        T::Running => s::ThreadState::Running,
        T::Restart => s::ThreadState::Restart,
        T::BlockedOnSend {
            ep,
            badge,
            grant,
            grant_reply,
            call,
        } => s::ThreadState::BlockedOnSend {
            ep,
            badge,
            grant,
            grant_reply,
            call,
        },
        T::BlockedOnRecv { ep, grant } => s::ThreadState::BlockedOnRecv { ep, grant },
        T::BlockedOnReply => s::ThreadState::BlockedOnReply,
        T::BlockedOnNotification { ntfn } => s::ThreadState::BlockedOnNotification { ntfn },
        T::Idle => s::ThreadState::Idle,
    }
}

fn project_tcb<M: Memory>(
    k: &Kernel<M>,
    obj: PAddr,
    name: &dyn Fn(PAddr) -> Result<SlotRef, Unprojectable>,
) -> Result<s::Object, Unprojectable> {
    let m = &k.mem;
    let t = tcb::tcb(m, obj);
    let nonzero = |x: u64| (x != 0).then_some(x);
    let fault = Fault::decode(t.fault).map(|f| match f {
        Fault::Cap {
            address,
            in_receive_phase,
            failure,
        } => s::Fault::Cap {
            address,
            in_receive_phase,
            failure,
        },
        Fault::UnknownSyscall { number } => s::Fault::UnknownSyscall { number },
        Fault::UserException { number, code } => s::Fault::UserException { number, code },
        Fault::Vm {
            address,
            instruction,
            status,
        } => s::Fault::Vm {
            address,
            instruction,
            status,
        },
    });
    Ok(s::Object::Tcb(s::Tcb {
        state: project_state(tcb::state(m, obj)),
        priority: t.priority as u8,
        mcp: t.mcp as u8,
        slice: t.slice as u32,
        ipc_buffer: t.ipc_buffer,
        bound_notification: nonzero(t.bound_notification),
        fault,
        context: t.context[..k.layout.words].to_vec(),
        reply_at: nonzero(t.reply_at).map(name).transpose()?,
    }))
}

fn project_endpoint(m: &impl Memory, obj: PAddr) -> s::Object {
    let q = endpoint::queue(m, obj);
    let threads: Vec<PAddr> = q.iter(m, tcb::QUEUE_LINKS_AT).collect();
    s::Object::Endpoint(match threads.first() {
        None => s::EndpointState::Idle,
        Some(&h) if matches!(tcb::state(m, h), tcb::ThreadState::BlockedOnSend { .. }) => {
            s::EndpointState::Sending(threads)
        }
        Some(_) => s::EndpointState::Receiving(threads),
    })
}

fn project_notification(m: &impl Memory, obj: PAddr) -> s::Object {
    let n = notification::get_ntfn(m, obj);
    let waiting: Vec<PAddr> = n.queue.iter(m, tcb::QUEUE_LINKS_AT).collect();
    s::Object::Notification(s::Notification {
        state: if !waiting.is_empty() {
            s::NotificationState::Waiting(waiting)
        } else if n.is_active() {
            s::NotificationState::Active(n.word)
        } else {
            s::NotificationState::Idle
        },
        bound_tcb: (n.bound() != 0).then_some(n.bound()),
    })
}

/// The non-empty entries `0 .. n` of the table at `t` of `level`.
fn table_entries<M: Memory>(k: &Kernel<M>, t: PAddr, level: u32, n: u64) -> BTreeMap<u64, s::Pte> {
    (0..n)
        .filter_map(|i| {
            let raw = *crate::mem::get::<u64>(&k.mem, t + 8 * i);
            let e = match pte::decode(k.layout.paging, level, raw) {
                pte::Pte::Empty => return None,
                pte::Pte::Table(a) => s::Pte::Table(a),
                pte::Pte::Page {
                    frame,
                    write,
                    execute,
                    memory,
                } => s::Pte::Page {
                    frame,
                    write,
                    execute,
                    memory: match memory {
                        pte::Memory::WriteBack => s::MemoryType::WriteBack,
                        pte::Memory::Uncached => s::MemoryType::Uncached,
                        pte::Memory::Device => s::MemoryType::Device,
                    },
                },
            };
            Some((i, e))
        })
        .collect()
}
