//! Random kernel entries, valid and hostile: wrong rights, bad capability
//! addresses, wrong types, overlapping or misaligned retypes, exhausted
//! untyped, revoke or delete of anything (threads blocked in IPC
//! included), a badge minted twice, reply twice, calls without grant,
//! unknown system calls, exceptions, timer ticks.
//!
//! A generated entry names capabilities and slots by *selectors* ("the
//! 3rd TCB capability in the caller's CSpace", "some empty slot of the
//! destination") that [`Selector::resolve`] turns into concrete words
//! against the model's state when the entry runs — the state is the same
//! on both sides until they diverge, which is what the test looks for. So
//! long sequences keep doing real work: they create threads, configure
//! and schedule them, pass messages and capabilities, then tear it all
//! down. A steady fraction of entries carries raw, arbitrary words.

use crate::{Step, machine};
use abi::context::Layout;
use abi::invocation::{Label, TcbSlot};
use abi::syscall::Syscall;
use proptest::prelude::*;
use spec::entry::{Entry, UserActions};
use spec::model::Model;
use spec::state::{Cap, Fault, Object, SlotRef, State};

/// Picks a capability address from the caller's CSpace.
#[derive(Clone, Debug)]
pub enum CapSel {
    /// The `k`-th slot (mod the count) of the caller's root CNode holding
    /// a capability of the wanted kind, or slot `k` if there is none.
    Kind(usize),
    /// A capability two levels down: the `j`-th non-empty slot of the
    /// `k`-th CNode held in the root CNode.
    Nested(usize, usize),
    /// Any word.
    Raw(u64),
}

/// Picks a slot index inside a CNode.
#[derive(Clone, Debug)]
pub enum SlotSel {
    /// The `k`-th non-empty slot (mod the count).
    Full(usize),
    /// The `k`-th empty slot (mod the count).
    Empty(usize),
    /// Any index, in range or not.
    Index(u64),
    /// The boot CNode's slot 1 or 2 (the root TCB and CNode capabilities),
    /// which `Full` and `Empty` avoid so that sequences do not end early.
    Precious(bool),
}

/// The kinds `CapSel::Kind` looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// CNode capabilities.
    CNode,
    /// Untyped capabilities.
    Untyped,
    /// TCB capabilities.
    Tcb,
    /// Endpoint capabilities.
    Endpoint,
    /// Notification capabilities.
    Notification,
    /// Frame capabilities.
    Frame,
    /// VSpace capabilities.
    VSpace,
    /// Something to send to or receive from: endpoint, notification, reply.
    Ipc,
    /// IRQControl.
    IrqControl,
    /// IRQHandler capabilities.
    IrqHandler,
    /// PageTable capabilities.
    PageTable,
    /// ASIDControl.
    AsidControl,
    /// ASIDPool capabilities.
    AsidPool,
    /// Anything.
    Any,
}

impl Want {
    fn matches(self, c: &Cap) -> bool {
        match self {
            Want::CNode => matches!(c, Cap::CNode { .. }),
            Want::Untyped => matches!(c, Cap::Untyped { .. }),
            Want::Tcb => matches!(c, Cap::Tcb { .. }),
            Want::Endpoint => matches!(c, Cap::Endpoint { .. }),
            Want::Notification => matches!(c, Cap::Notification { .. }),
            Want::Frame => matches!(c, Cap::Frame { .. }),
            Want::VSpace => matches!(c, Cap::VSpace { .. }),
            Want::Ipc => matches!(
                c,
                Cap::Endpoint { .. } | Cap::Notification { .. } | Cap::Reply { .. }
            ),
            Want::IrqControl => matches!(c, Cap::IrqControl),
            Want::IrqHandler => matches!(c, Cap::IrqHandler { .. }),
            Want::PageTable => matches!(c, Cap::PageTable { .. }),
            Want::AsidControl => matches!(c, Cap::AsidControl),
            Want::AsidPool => matches!(c, Cap::AsidPool { .. }),
            Want::Any => true,
        }
    }
}

/// A generated entry before resolution.
#[derive(Clone, Debug)]
pub enum Call {
    /// UntypedRetype.
    Retype {
        /// The untyped.
        ut: CapSel,
        /// `type` word.
        ty: u64,
        /// `size_bits` word.
        size: u64,
        /// `count` word.
        count: u64,
        /// The destination CNode.
        dest: CapSel,
        /// The destination offset.
        offset: SlotSel,
        /// Keep only this many words, if set.
        keep: Option<usize>,
    },
    /// A CNode invocation.
    CNode {
        /// The label.
        label: Label,
        /// The invoked CNode.
        cnode: CapSel,
        /// The destination index (Copy, Mint, Move, Mutate, SaveCaller).
        dest: SlotSel,
        /// The slot acted on (Delete, Revoke, CancelBadgedSends).
        target: SlotSel,
        /// The source CNode.
        src_cnode: CapSel,
        /// The source index.
        src: SlotSel,
        /// Rights word.
        rights: u64,
        /// Badge word.
        badge: u64,
        /// Keep only this many words, if set.
        keep: Option<usize>,
    },
    /// A TCB invocation.
    Tcb {
        /// The label.
        label: Label,
        /// The target thread.
        target: CapSel,
        /// Argument words (meaning per label).
        words: Vec<u64>,
        /// Extra capabilities, each with the kind it is meant to be.
        extra: Vec<(CapSel, Want)>,
        /// Sent with Send instead of Call.
        send: bool,
    },
    /// Message passing on an endpoint, notification or reply capability.
    Ipc {
        /// The system call.
        call: Syscall,
        /// The capability.
        cap: CapSel,
        /// The label.
        label: u64,
        /// Message words.
        words: Vec<u64>,
        /// Extra capabilities.
        extra: Vec<CapSel>,
        /// Receive slot: an empty slot of the caller's root CNode.
        receive: Option<SlotSel>,
    },
    /// An invocation of an IRQ, VSpace or ASID object: the label, its
    /// argument words, then (if set) a destination index in the caller's
    /// root CNode, and extra capabilities.
    Object {
        /// The kind of the invoked capability.
        want: Want,
        /// The invoked capability.
        cap: CapSel,
        /// The label.
        label: Label,
        /// Argument words.
        words: Vec<u64>,
        /// A destination slot appended to the words.
        dest: Option<SlotSel>,
        /// Extra capabilities.
        extra: Vec<(CapSel, Want)>,
    },
    /// A device interrupt.
    Interrupt(u64),
    /// Yield.
    Yield,
    /// A timer tick.
    Tick,
    /// A processor exception.
    Exception(Fault),
    /// Arbitrary register and IPC-buffer words, then the system call.
    Raw(UserActions),
}

/// Resolves selectors against the model's state.
pub struct Selector<'a> {
    state: &'a State,
    layout: Layout,
    /// The caller's root CNode and its radix.
    root: Option<(u64, u32)>,
}

impl<'a> Selector<'a> {
    /// A selector for the model's current thread, on an architecture with
    /// register layout `layout`.
    pub fn new(model: &'a Model, layout: Layout) -> Selector<'a> {
        let state = &model.state;
        let root = state.current.and_then(|t| {
            match state.slots.get(&SlotRef::Tcb {
                obj: t,
                index: TcbSlot::CSpaceRoot as u64,
            }) {
                Some(s) => match s.cap {
                    Cap::CNode { obj } => match state.objects.get(&obj) {
                        Some(Object::CNode { radix }) => Some((obj, *radix)),
                        _ => None,
                    },
                    _ => None,
                },
                None => None,
            }
        });
        Selector {
            state,
            layout,
            root,
        }
    }

    fn addr(&self, index: u64) -> u64 {
        let r = self.root.map_or(machine::ROOT_RADIX, |(_, r)| r);
        (r as u64) << 56 | (index & ((1 << r) - 1))
    }

    fn slots_of(&self, obj: u64, radix: u32) -> impl Iterator<Item = (u64, Option<&Cap>)> + '_ {
        (0..1u64 << radix).map(move |index| {
            let r = SlotRef::CNode { obj, index };
            (index, self.state.slots.get(&r).map(|s| &s.cap))
        })
    }

    fn radix(&self, obj: u64) -> u32 {
        match self.state.objects.get(&obj) {
            Some(Object::CNode { radix }) => *radix,
            _ => 0,
        }
    }

    /// The address a `CapSel` names, and the CNode (obj, radix) it
    /// currently refers to, if any.
    fn cap(&self, sel: &CapSel, want: Want) -> (u64, Option<(u64, u32)>) {
        let cnode_of = |c: Option<&Cap>| match c {
            Some(Cap::CNode { obj }) => Some((*obj, self.radix(*obj))),
            _ => None,
        };
        let Some((root, radix)) = self.root else {
            return (0, None);
        };
        match *sel {
            CapSel::Raw(w) => (w, None),
            CapSel::Kind(k) => {
                let hits: Vec<_> = self
                    .slots_of(root, radix)
                    .filter(|(_, c)| c.is_some_and(|c| want.matches(c)))
                    .collect();
                let (i, c) = if hits.is_empty() {
                    let i = k as u64 & ((1 << radix) - 1);
                    (
                        i,
                        self.state
                            .slots
                            .get(&SlotRef::CNode {
                                obj: root,
                                index: i,
                            })
                            .map(|s| &s.cap),
                    )
                } else {
                    hits[k % hits.len()]
                };
                (self.addr(i), cnode_of(c))
            }
            CapSel::Nested(k, j) => {
                let cnodes: Vec<_> = self
                    .slots_of(root, radix)
                    .filter_map(|(i, c)| cnode_of(c).map(|n| (i, n)))
                    .filter(|&(_, (obj, _))| obj != root)
                    .collect();
                let Some(&(i, (obj, r))) = cnodes.get(k % cnodes.len().max(1)) else {
                    return self.cap(&CapSel::Kind(k + j), want);
                };
                let full: Vec<u64> = (0..1u64 << r)
                    .filter(|&index| {
                        self.state
                            .slots
                            .contains_key(&SlotRef::CNode { obj, index })
                    })
                    .collect();
                let j = if full.is_empty() {
                    (j as u64) & ((1 << r) - 1)
                } else {
                    full[j % full.len()]
                };
                let addr = ((radix + r) as u64) << 56 | i << r | j;
                let inner = self
                    .state
                    .slots
                    .get(&SlotRef::CNode { obj, index: j })
                    .map(|s| &s.cap);
                (addr, cnode_of(inner))
            }
        }
    }

    fn index(&self, cnode: Option<(u64, u32)>, sel: &SlotSel) -> u64 {
        let Some((obj, radix)) = cnode else {
            return match *sel {
                SlotSel::Index(i) => i,
                SlotSel::Full(k) | SlotSel::Empty(k) => k as u64,
                SlotSel::Precious(tcb) => 2 - tcb as u64,
            };
        };
        let precious = |index: u64| obj == machine::ROOT_CNODE && (index == 1 || index == 2);
        let pick = |full: bool, k: usize| {
            let v: Vec<u64> = (0..1u64 << radix)
                .filter(|&index| {
                    !precious(index)
                        && self
                            .state
                            .slots
                            .contains_key(&SlotRef::CNode { obj, index })
                            == full
                })
                .collect();
            if v.is_empty() {
                k as u64
            } else {
                v[k % v.len()]
            }
        };
        match *sel {
            SlotSel::Index(i) => i,
            SlotSel::Full(k) => pick(true, k),
            SlotSel::Empty(k) => pick(false, k),
            SlotSel::Precious(tcb) => 2 - tcb as u64,
        }
    }

    /// The registers and IPC-buffer words of a system call `call` on
    /// `cptr` with a message (ABI-5, ABI-8, MSG-1).
    fn actions(
        &self,
        call: Syscall,
        cptr: u64,
        label: u64,
        words: &[u64],
        extra: &[u64],
        receive: Option<u64>,
    ) -> UserActions {
        let l = self.layout;
        let len = words.len().min(120) as u64;
        let info = (label & ((1 << 52) - 1)) << 12 | (extra.len().min(3) as u64) << 7 | len;
        let mut regs = vec![(l.number, call as u64), (l.cptr, cptr), (l.info, info)];
        for (i, &w) in words.iter().enumerate().take(4) {
            regs.push((l.mrs[i], w));
        }
        let mut buffer: Vec<(usize, u64)> = words
            .iter()
            .enumerate()
            .skip(4)
            .take(116)
            .map(|(i, &w)| (1 + i, w))
            .collect();
        for (i, &c) in extra.iter().enumerate().take(3) {
            buffer.push((122 + i, c));
        }
        buffer.push((125, receive.unwrap_or(0)));
        UserActions { regs, buffer }
    }

    /// The concrete entry for `call` in the current state.
    pub fn resolve(&self, call: &Call) -> Entry {
        if self.state.current.is_none() {
            return Entry::Tick;
        }
        let keep = |mut w: Vec<u64>, keep: Option<usize>| {
            if let Some(k) = keep {
                w.truncate(k);
            }
            w
        };
        let syscall = |c: Syscall, cptr: u64, label: u64, w: &[u64], x: &[u64]| {
            Entry::Syscall(self.actions(c, cptr, label, w, x, None))
        };
        match call {
            Call::Raw(u) => Entry::Syscall(u.clone()),
            Call::Tick => Entry::Tick,
            Call::Interrupt(line) => Entry::Interrupt(*line),
            Call::Object {
                want,
                cap,
                label,
                words,
                dest,
                extra,
            } => {
                let (cptr, _) = self.cap(cap, *want);
                let mut w = words.clone();
                if let Some(d) = dest {
                    w.push(self.index(self.root, d));
                }
                let x: Vec<u64> = extra.iter().map(|(s, k)| self.cap(s, *k).0).collect();
                syscall(Syscall::Call, cptr, *label as u64, &w, &x)
            }
            Call::Yield => syscall(Syscall::Yield, 0, 0, &[], &[]),
            Call::Exception(f) => Entry::Exception(UserActions::default(), *f),
            Call::Retype {
                ut,
                ty,
                size,
                count,
                dest,
                offset,
                keep: k,
            } => {
                let (cptr, _) = self.cap(ut, Want::Untyped);
                let (dest, node) = self.cap(dest, Want::CNode);
                let off = self.index(node, offset);
                let words = keep(vec![*ty, *size, off, *count], *k);
                syscall(
                    Syscall::Call,
                    cptr,
                    Label::UntypedRetype as u64,
                    &words,
                    &[dest],
                )
            }
            Call::CNode {
                label,
                cnode,
                dest,
                target,
                src_cnode,
                src,
                rights,
                badge,
                keep: k,
            } => {
                let (cptr, node) = self.cap(cnode, Want::CNode);
                let d = match label {
                    Label::CNodeDelete | Label::CNodeRevoke | Label::CNodeCancelBadgedSends => {
                        self.index(node, target)
                    }
                    _ => self.index(node, dest),
                };
                let (src_cptr, src_node) = self.cap(src_cnode, Want::CNode);
                let s = self.index(src_node, src);
                let (words, extra) = match label {
                    Label::CNodeCopy => (vec![d, s, *rights], vec![src_cptr]),
                    Label::CNodeMint | Label::CNodeMutate => {
                        (vec![d, s, *rights, *badge], vec![src_cptr])
                    }
                    Label::CNodeMove => (vec![d, s], vec![src_cptr]),
                    _ => (vec![d], vec![]),
                };
                syscall(Syscall::Call, cptr, *label as u64, &keep(words, *k), &extra)
            }
            Call::Tcb {
                label,
                target,
                words,
                extra,
                send,
            } => {
                let (cptr, _) = self.cap(target, Want::Tcb);
                let x: Vec<u64> = extra.iter().map(|(s, w)| self.cap(s, *w).0).collect();
                let c = if *send { Syscall::Send } else { Syscall::Call };
                syscall(c, cptr, *label as u64, words, &x)
            }
            Call::Ipc {
                call,
                cap,
                label,
                words,
                extra,
                receive,
            } => {
                let (cptr, _) = self.cap(cap, Want::Ipc);
                let x: Vec<u64> = extra.iter().map(|s| self.cap(s, Want::Any).0).collect();
                let recv = receive
                    .as_ref()
                    .map(|s| self.addr(self.index(self.root, s)));
                Entry::Syscall(self.actions(*call, cptr, *label, words, &x, recv))
            }
        }
    }
}

fn cap_sel() -> impl Strategy<Value = CapSel> {
    prop_oneof![
        12 => (0usize..8).prop_map(CapSel::Kind),
        3 => (0usize..4, 0usize..64).prop_map(|(k, j)| CapSel::Nested(k, j)),
        1 => prop_oneof![
            Just(0u64),
            any::<u64>(),
            (1u64..=8).prop_map(|d| d << 56),
            (0u64..64).prop_map(|i| 6 << 56 | i),
        ]
        .prop_map(CapSel::Raw),
    ]
}

/// A slot, mostly an occupied one (`full`) or mostly an empty one.
fn slot_sel(full: bool) -> impl Strategy<Value = SlotSel> {
    let (f, e) = if full { (40, 8) } else { (8, 40) };
    prop_oneof![
        f => (0usize..64).prop_map(SlotSel::Full),
        e => (0usize..64).prop_map(SlotSel::Empty),
        5 => prop_oneof![0u64..80, any::<u64>()].prop_map(SlotSel::Index),
        1 => any::<bool>().prop_map(SlotSel::Precious),
    ]
}

fn keep(n: usize) -> impl Strategy<Value = Option<usize>> {
    prop_oneof![15 => Just(None), 1 => (0..n).prop_map(Some)]
}

fn retype() -> impl Strategy<Value = Call> {
    let ty = prop_oneof![10 => 0u64..10, 1 => 10u64..12, 1 => any::<u64>()];
    let size = prop_oneof![6 => 1u64..6, 4 => 4u64..14, 1 => 14u64..50, 1 => any::<u64>()];
    let count = prop_oneof![8 => 1u64..4, 2 => 4u64..40, 1 => Just(0u64), 1 => 250u64..300];
    (
        cap_sel(),
        ty,
        size,
        count,
        cap_sel(),
        slot_sel(false),
        keep(4),
    )
        .prop_map(|(ut, ty, size, count, dest, offset, keep)| Call::Retype {
            ut,
            ty,
            size,
            count,
            dest,
            offset,
            keep,
        })
}

fn cnode_op() -> impl Strategy<Value = Call> {
    let label = prop_oneof![
        3 => Just(Label::CNodeCopy),
        3 => Just(Label::CNodeMint),
        3 => Just(Label::CNodeMove),
        2 => Just(Label::CNodeMutate),
        3 => Just(Label::CNodeDelete),
        2 => Just(Label::CNodeRevoke),
        1 => Just(Label::CNodeCancelBadgedSends),
        1 => Just(Label::CNodeSaveCaller),
    ];
    let rights = prop_oneof![6 => Just(15u64), 6 => 0u64..16, 1 => 16u64..64, 1 => any::<u64>()];
    let badge = prop_oneof![4 => Just(0u64), 4 => 1u64..4, 1 => any::<u64>()];
    let names = (label, cap_sel(), slot_sel(false), slot_sel(true));
    let source = (cap_sel(), slot_sel(true), rights, badge, keep(4));
    (names, source).prop_map(
        |((label, cnode, dest, target), (src_cnode, src, rights, badge, keep))| Call::CNode {
            label,
            cnode,
            dest,
            target,
            src_cnode,
            src,
            rights,
            badge,
            keep,
        },
    )
}

fn word() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0u64..8, 1 => any::<u64>()]
}

fn tcb_op() -> impl Strategy<Value = Call> {
    let prio = prop_oneof![4 => 250u64..=255, 2 => 0u64..=255, 1 => 256u64..300];
    let ipc_vaddr = prop_oneof![
        4 => (0u64..8).prop_map(|k| 0x7000_0000 + k * 0x400),
        1 => Just(0u64),
        1 => any::<u64>(),
    ];
    let regs = prop::collection::vec(any::<u64>(), 0..40);
    let tcb = |w: Want| (cap_sel(), Just(w));
    let op = prop_oneof![
        3 => (ipc_vaddr, tcb(Want::CNode), tcb(Want::VSpace), tcb(Want::Frame)).prop_map(
            |(v, c, s, f)| (Label::TcbConfigure, vec![v], vec![c, s, f])
        ),
        3 => (prio.clone(), tcb(Want::Tcb)).prop_map(|(p, a)| (Label::TcbSetPriority, vec![p], vec![a])),
        1 => (prio, tcb(Want::Tcb)).prop_map(|(p, a)| (Label::TcbSetMcPriority, vec![p], vec![a])),
        3 => Just((Label::TcbResume, vec![], vec![])),
        1 => Just((Label::TcbSuspend, vec![], vec![])),
        1 => (word(), 0u64..40).prop_map(|(f, n)| (Label::TcbReadRegisters, vec![f, n], vec![])),
        1 => (word(), 0u64..40, regs).prop_map(|(f, n, mut r)| {
            r.insert(0, n);
            r.insert(0, f);
            (Label::TcbWriteRegisters, r, vec![])
        }),
        1 => any::<u64>().prop_map(|b| (Label::TcbSetTlsBase, vec![b], vec![])),
        2 => prop::option::of(tcb(Want::Endpoint)).prop_map(|e| {
            (Label::TcbSetFaultEndpoint, vec![], e.into_iter().collect())
        }),
        2 => tcb(Want::Notification).prop_map(|n| (Label::TcbBindNotification, vec![], vec![n])),
        1 => Just((Label::TcbUnbindNotification, vec![], vec![])),
    ];
    (op, cap_sel(), prop::bool::weighted(0.1)).prop_map(|((label, words, extra), target, send)| {
        Call::Tcb {
            label,
            target,
            words,
            extra,
            send,
        }
    })
}

fn ipc_op() -> impl Strategy<Value = Call> {
    let call = prop_oneof![
        3 => Just(Syscall::Send),
        2 => Just(Syscall::NBSend),
        3 => Just(Syscall::Call),
        3 => Just(Syscall::Recv),
        2 => Just(Syscall::NBRecv),
        2 => Just(Syscall::Reply),
        2 => Just(Syscall::ReplyRecv),
    ];
    let label = prop_oneof![4 => 16u64..20, 1 => 0u64..16, 1 => any::<u64>()];
    (
        call,
        cap_sel(),
        label,
        prop::collection::vec(word(), 0..8),
        prop::collection::vec(cap_sel(), 0..3),
        prop::option::weighted(0.6, slot_sel(false)),
    )
        .prop_map(|(call, cap, label, words, extra, receive)| Call::Ipc {
            call,
            cap,
            label,
            words,
            extra,
            receive,
        })
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        (0u64..32, any::<u64>()).prop_map(|(number, code)| Fault::UserException { number, code }),
        (any::<u64>(), any::<bool>(), 0u64..32).prop_map(|(address, instruction, status)| {
            Fault::Vm {
                address,
                instruction,
                status,
            }
        }),
    ]
}

fn raw() -> impl Strategy<Value = Call> {
    (
        prop::collection::vec((0usize..40, any::<u64>()), 0..8),
        prop::collection::vec((0usize..130, any::<u64>()), 0..4),
    )
        .prop_map(|(regs, buffer)| Call::Raw(UserActions { regs, buffer }))
}

/// The fault handler's loop (see [`prologue`]): ReplyRecv on the fault
/// endpoint, resuming the thread whose fault it holds (FLT-7, label 0) and
/// waiting for the next fault — or just Recv on it.
fn serve_faults() -> impl Strategy<Value = Call> {
    (any::<bool>(), prop::collection::vec(word(), 0..3)).prop_map(|(recv_only, words)| Call::Ipc {
        call: if recv_only {
            Syscall::Recv
        } else {
            Syscall::ReplyRecv
        },
        cap: CapSel::Raw(root(9)),
        label: 0,
        words,
        extra: vec![],
        receive: None,
    })
}

fn vaddr() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => (0u64..8).prop_map(|k| 0x1000_0000 + k * 0x1000),
        3 => (0u64..4).prop_map(|k| 0x1000_0000 + k * 0x20_0000),
        2 => (0u64..3).prop_map(|k| k * 0x4000_0000),
        1 => (0u64..3).prop_map(|k| (1 << 47) - (k << 12)),
        1 => any::<u64>(),
    ]
}

type ObjectCall = (Want, Label, Vec<u64>, Option<SlotSel>, Vec<(CapSel, Want)>);

/// A strategy for an invocation of a capability of kind `want`.
fn obj(
    want: Want,
    label: Label,
    words: Vec<u64>,
    dest: Option<SlotSel>,
    extra: Vec<(CapSel, Want)>,
) -> impl Strategy<Value = (CapSel, ObjectCall)> {
    (cap_sel(), Just((want, label, words, dest, extra)))
}

/// Invocations of IRQ, VSpace and ASID objects, and interrupts.
fn hardware_op() -> impl Strategy<Value = Call> {
    let line = prop_oneof![4 => 0u64..70, 1 => any::<u64>()];
    let get = (
        line.clone(),
        prop_oneof![0u64..4, any::<u64>()],
        slot_sel(false),
        cap_sel(),
    )
        .prop_flat_map(move |(l, t, d, c)| {
            obj(
                Want::IrqControl,
                Label::IrqControlGet,
                vec![l, t],
                Some(d),
                vec![(c, Want::CNode)],
            )
        });
    let handler = (
        prop_oneof![
            Just(Label::IrqHandlerAck),
            Just(Label::IrqHandlerSetNotification),
            Just(Label::IrqHandlerClear),
        ],
        cap_sel(),
    )
        .prop_flat_map(|(l, n)| {
            obj(
                Want::IrqHandler,
                l,
                vec![],
                None,
                vec![(n, Want::Notification)],
            )
        });
    let map = (
        vaddr(),
        prop_oneof![3 => Just(3u64), 1 => 0u64..8],
        prop_oneof![3 => 0u64..4, 1 => any::<u64>()],
        cap_sel(),
    )
        .prop_flat_map(|(v, r, a, vs)| {
            obj(
                Want::Frame,
                Label::FrameMap,
                vec![v, r, a],
                None,
                vec![(vs, Want::VSpace)],
            )
        });
    let frame = prop_oneof![Just(Label::FrameUnmap), Just(Label::FrameGetAddress)]
        .prop_flat_map(|l| obj(Want::Frame, l, vec![], None, vec![]));
    let pt_map = (vaddr(), cap_sel()).prop_flat_map(|(v, vs)| {
        obj(
            Want::PageTable,
            Label::PageTableMap,
            vec![v],
            None,
            vec![(vs, Want::VSpace)],
        )
    });
    let pt_unmap = obj(Want::PageTable, Label::PageTableUnmap, vec![], None, vec![]);
    let make_pool = (slot_sel(false), cap_sel(), cap_sel()).prop_flat_map(|(d, u, c)| {
        obj(
            Want::AsidControl,
            Label::AsidControlMakePool,
            vec![],
            Some(d),
            vec![(u, Want::Untyped), (c, Want::CNode)],
        )
    });
    let assign = cap_sel().prop_flat_map(|v| {
        obj(
            Want::AsidPool,
            Label::AsidPoolAssign,
            vec![],
            None,
            vec![(v, Want::VSpace)],
        )
    });
    let call = prop_oneof![
        2 => get,
        2 => handler,
        4 => map,
        2 => frame,
        3 => pt_map,
        1 => pt_unmap,
        1 => make_pool,
        2 => assign,
    ]
    .prop_map(|(cap, (want, label, words, dest, extra))| Call::Object {
        want,
        cap,
        label,
        words,
        dest,
        extra,
    });
    prop_oneof![6 => call, 1 => line.prop_map(Call::Interrupt)]
}

/// One kernel entry with its preemption answers (mostly none).
pub fn step() -> impl Strategy<Value = Step> {
    let call = prop_oneof![
        5 => retype(),
        9 => cnode_op(),
        6 => tcb_op(),
        8 => ipc_op(),
        1 => Just(Call::Yield),
        1 => Just(Call::Tick),
        1 => fault().prop_map(Call::Exception),
        1 => raw(),
        3 => serve_faults(),
        6 => hardware_op(),
    ];
    let preempt = prop_oneof![6 => Just(0u64), 3 => 0u64..16, 1 => any::<u64>()];
    (call, preempt).prop_map(|(call, preempt)| Step { call, preempt })
}

/// The address of root CNode slot `i` (depth = the root radix, CS-5).
pub fn root(i: u64) -> u64 {
    (machine::ROOT_RADIX as u64) << 56 | i
}

/// A TCB invocation made with Call on the thread in root slot `target`,
/// with extra capabilities from root slots.
pub fn tcb(target: u64, label: Label, words: Vec<u64>, extra: Vec<(u64, Want)>) -> Call {
    Call::Tcb {
        label,
        target: CapSel::Raw(root(target)),
        words,
        extra: extra
            .into_iter()
            .map(|(i, w)| (CapSel::Raw(root(i)), w))
            .collect(),
        send: false,
    }
}

/// The fixed start of every sequence: page tables, frames and other
/// objects for the address-space and interrupt invocations to work on, and
/// a fault handler and a second worker thread beside the root thread, so that faults become messages (FLT-3)
/// instead of stopping the system and the scheduler has threads to choose
/// between. From untyped slot 16 it creates an endpoint (root slot 9), the
/// handler's TCB (10) and IPC-buffer frame (11), the worker's TCB (12) and
/// frame (13). Both share the root's CSpace and VSpace; the handler runs at
/// priority 254 and starts in Recv on the endpoint, the worker at 255 (the
/// root's) and starts with Yield. The endpoint is the fault endpoint of all
/// three threads.
pub fn prologue(l: Layout) -> Vec<Step> {
    let step = |call| Step { call, preempt: 0 };
    let retype = |ty: u64, at: u64| Call::Retype {
        ut: CapSel::Raw(root(16)),
        ty,
        size: 0,
        count: 1,
        dest: CapSel::Raw(root(2)),
        offset: SlotSel::Index(at),
        keep: None,
    };
    // WriteRegisters: a whole register set with a system call in it.
    let regs = |call: Syscall, cptr: u64| {
        let mut r = vec![0u64; l.words];
        r[l.number] = call as u64;
        r[l.cptr] = cptr;
        let mut w = vec![0, l.words as u64];
        w.extend(r);
        w
    };
    let mut steps = vec![
        step(retype(2, 9)), // Endpoint
        step(tcb(
            1,
            Label::TcbSetFaultEndpoint,
            vec![],
            vec![(9, Want::Endpoint)],
        )),
    ];
    // Address-space material: three page tables linked for 0x1000_0000 in
    // the root VSpace (levels 1 … 3), two 4 KiB frames, a 4 KiB untyped for
    // MakePool, a notification for IRQ handlers.
    let object = |want: Want, cap: u64, label: Label, words: Vec<u64>, extra: Vec<(u64, Want)>| {
        Call::Object {
            want,
            cap: CapSel::Raw(root(cap)),
            label,
            words,
            dest: None,
            extra: extra
                .into_iter()
                .map(|(i, w)| (CapSel::Raw(root(i)), w))
                .collect(),
        }
    };
    for (ty, at) in [(8, 20), (8, 21), (8, 22), (5, 23), (5, 24), (3, 26)] {
        steps.push(step(retype(ty, at)));
    }
    steps.push(step(Call::Retype {
        ut: CapSel::Raw(root(16)),
        ty: 0,
        size: 12,
        count: 1,
        dest: CapSel::Raw(root(2)),
        offset: SlotSel::Index(25),
        keep: None,
    }));
    for pt in [20, 21, 22] {
        steps.push(step(object(
            Want::PageTable,
            pt,
            Label::PageTableMap,
            vec![0x1000_0000],
            vec![(3, Want::VSpace)],
        )));
    }
    for (t, frame, vaddr, prio, call, cptr) in [
        (10, 11, 0x7000_0800, 254, Syscall::Recv, root(9)),
        (12, 13, 0x7000_0c00, 255, Syscall::Yield, 0),
    ] {
        steps.extend([
            step(retype(1, t)),     // TCB
            step(retype(5, frame)), // Frame4K
            step(tcb(
                t,
                Label::TcbConfigure,
                vec![vaddr],
                vec![(2, Want::CNode), (3, Want::VSpace), (frame, Want::Frame)],
            )),
            step(tcb(
                t,
                Label::TcbSetPriority,
                vec![prio],
                vec![(1, Want::Tcb)],
            )),
            step(tcb(
                t,
                Label::TcbSetFaultEndpoint,
                vec![],
                vec![(9, Want::Endpoint)],
            )),
            step(tcb(t, Label::TcbWriteRegisters, regs(call, cptr), vec![])),
            step(tcb(t, Label::TcbResume, vec![], vec![])),
        ]);
    }
    steps
}
