//! Random kernel entries, valid and hostile: wrong rights, bad capability
//! addresses, wrong types, overlapping or misaligned retypes, exhausted
//! untyped, revoke or delete of anything, a badge minted twice, CNodes
//! holding each other's last capabilities.
//!
//! A generated entry names its capabilities and slots by *selectors*
//! ("the 3rd CNode capability in the root CNode", "some empty slot of the
//! destination") that [`Selector::resolve`] turns into concrete addresses
//! and indices against the model's state when the entry runs. So long
//! sequences keep doing real work — they build nested CNodes, copies and
//! badges, then tear them down — while shrinking still works on the
//! selectors. A steady fraction of entries carries raw, arbitrary words.

use crate::{Step, machine};
use abi::invocation::Label;
use proptest::prelude::*;
use spec::entry::Invocation;
use spec::state::{Cap, Object, SlotRef, State};

/// The address of root CNode slot `i` (depth = the root radix, CS-5).
pub fn root(i: u64) -> u64 {
    (machine::ROOT_RADIX as u64) << 56 | i
}

/// Picks a capability address from the root CNode.
#[derive(Clone, Debug)]
pub enum CapSel {
    /// The `k`-th root slot (mod the count) holding a capability of the
    /// wanted kind, or slot `k % 64` if there is none.
    Kind(usize),
    /// A capability two levels down: the `j`-th non-empty slot (or slot
    /// `j`, if all are empty) of the `k`-th CNode held in the root CNode.
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
    /// The root CNode's slot 1 or 2 (its TCB and CNode capabilities), which
    /// `Full` and `Empty` avoid so that sequences do not end early.
    Precious(bool),
}

/// The kinds `CapSel::Kind` looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// CNode capabilities.
    CNode,
    /// Untyped capabilities.
    Untyped,
}

/// A generated entry before resolution.
#[derive(Clone, Debug)]
pub enum Call {
    /// UntypedRetype.
    Retype {
        /// The untyped.
        ut: CapSel,
        /// `type`, `size_bits`, `count` words.
        ty: u64,
        /// Size argument.
        size: u64,
        /// Count.
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
    /// Raw words.
    Raw(Invocation),
}

/// Something to resolve selectors against.
pub struct Selector<'a>(pub &'a State);

impl Selector<'_> {
    fn root_slots(&self) -> impl Iterator<Item = (u64, Option<&Cap>)> + '_ {
        (0..1u64 << machine::ROOT_RADIX).map(move |index| {
            let r = SlotRef::CNode {
                obj: machine::ROOT_CNODE,
                index,
            };
            (index, self.0.slots.get(&r).map(|s| &s.cap))
        })
    }

    fn radix(&self, obj: u64) -> u32 {
        match self.0.objects.get(&obj) {
            Some(Object::CNode { radix }) => *radix,
            _ => 0,
        }
    }

    /// The address a `CapSel` names, and the CNode (obj, radix) it
    /// currently refers to, if any.
    fn cap(&self, sel: &CapSel, want: Want) -> (u64, Option<(u64, u32)>) {
        let is = |c: &Cap| match want {
            Want::CNode => matches!(c, Cap::CNode { .. }),
            Want::Untyped => matches!(c, Cap::Untyped { .. }),
        };
        let cnode_of = |c: Option<&Cap>| match c {
            Some(Cap::CNode { obj }) => Some((*obj, self.radix(*obj))),
            _ => None,
        };
        match *sel {
            CapSel::Raw(w) => (w, None),
            CapSel::Kind(k) => {
                let hits: Vec<_> = self
                    .root_slots()
                    .filter(|(_, c)| c.is_some_and(is))
                    .collect();
                let (i, c) = if hits.is_empty() {
                    let i = (k % 64) as u64;
                    (i, self.root_slots().nth(i as usize).and_then(|(_, c)| c))
                } else {
                    hits[k % hits.len()]
                };
                (root(i), cnode_of(c))
            }
            CapSel::Nested(k, j) => {
                let cnodes: Vec<_> = self
                    .root_slots()
                    .filter_map(|(i, c)| cnode_of(c).map(|n| (i, n)))
                    .filter(|&(i, _)| i != abi::object::root_slot::CNODE)
                    .collect();
                let Some(&(i, (obj, radix))) = cnodes.get(k % cnodes.len().max(1)) else {
                    // No CNode below the root yet: pick from the root.
                    return self.cap(&CapSel::Kind(k + j), want);
                };
                // Prefer a non-empty slot of that CNode.
                let full: Vec<u64> = (0..1u64 << radix)
                    .filter(|&index| self.0.slots.contains_key(&SlotRef::CNode { obj, index }))
                    .collect();
                let j = if full.is_empty() {
                    (j as u64) & ((1 << radix) - 1)
                } else {
                    full[j % full.len()]
                };
                let addr = ((machine::ROOT_RADIX + radix) as u64) << 56 | i << radix | j;
                let inner = self
                    .0
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
                        && self.0.slots.contains_key(&SlotRef::CNode { obj, index }) == full
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

    /// The concrete Call for `call` in the current state.
    pub fn resolve(&self, call: &Call) -> Invocation {
        let keep = |mut w: Vec<u64>, keep: Option<usize>| {
            if let Some(k) = keep {
                w.truncate(k);
            }
            w
        };
        match call {
            Call::Raw(inv) => inv.clone(),
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
                Invocation {
                    cptr,
                    label: Label::UntypedRetype as u64,
                    words: keep(vec![*ty, *size, off, *count], *k),
                    extra: vec![dest],
                }
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
                Invocation {
                    cptr,
                    label: *label as u64,
                    words: keep(words, *k),
                    extra,
                }
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
            (0u64..64).prop_map(root),
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

fn raw() -> impl Strategy<Value = Call> {
    let word = prop_oneof![0u64..70, any::<u64>(), (0u64..64).prop_map(root)];
    (
        word.clone(),
        prop_oneof![0u64..70, any::<u64>()],
        prop::collection::vec(word.clone(), 0..6),
        prop::collection::vec(word, 0..4),
    )
        .prop_map(|(cptr, label, words, extra)| {
            Call::Raw(Invocation {
                cptr,
                label,
                words,
                extra,
            })
        })
}

/// One kernel entry with its preemption answers (mostly none).
pub fn step() -> impl Strategy<Value = Step> {
    let call = prop_oneof![6 => retype(), 12 => cnode_op(), 1 => raw()];
    let preempt = prop_oneof![6 => Just(0u64), 3 => 0u64..16, 1 => any::<u64>()];
    (call, preempt).prop_map(|(call, preempt)| Step { call, preempt })
}
