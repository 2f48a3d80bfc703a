//! ASIDs and address spaces (spec: ASID-1 … ASID-6, VM-1 … VM-11):
//! ASIDControl MakePool, ASIDPool Assign, the Frame and PageTable
//! invocations, the page-table walk, and the deletion effects of Frame,
//! PageTable, VSpace and ASIDPool capabilities (DER-12).
//!
//! Walks start at `asid_table` (the ASID's pool), take the pool's entry
//! (the VSpace) and follow `Pte::Table` links down (ASID-1, VM-2).

use abi::error::{ErrorDetail, LookupFailureKind};
use abi::invocation::Label;
use abi::object::TABLE_BITS;
use abi::rights::Rights;
use abi::vm::{ASID_LOW_BITS, ASID_POOLS, ASIDS_PER_POOL, USER_TOP, VmAttributes};
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use super::{Model, Op, Preempted, Refusal, failure};
use crate::state::{Addr, Cap, MemoryType, Object, Pte, Slot, SlotRef};

/// Entries per table, as a mask.
const INDEX_MASK: u64 = 511;

/// Log2 of the bytes a level-`k` entry covers (spec: VM-1).
pub(crate) fn entry_bits(level: u32) -> u32 {
    39 - 9 * level
}

/// The index of `vaddr`'s entry in a level-`level` table.
pub(crate) fn index_at(vaddr: u64, level: u32) -> u64 {
    (vaddr >> entry_bits(level)) & INDEX_MASK
}

/// The level at which a frame of `size_bits` is mapped (VM-2): 1, 2, 3.
pub(crate) fn frame_level(size_bits: u32) -> u32 {
    (39 - size_bits) / 9
}

/// A decoded ASID or VSpace invocation.
pub(super) enum VmOp {
    /// ASID-4.
    MakePool { untyped: SlotRef, dest: SlotRef },
    /// ASID-5: `vspace` gets `asid_base + entry` of `pool`.
    Assign {
        pool: Addr,
        asid_base: u64,
        entry: u64,
        vspace: Addr,
    },
    /// VM-6: the entry `(table, index)` maps the frame of the capability in
    /// `slot`.
    FrameMap {
        slot: SlotRef,
        table: Addr,
        index: u64,
        pte: Pte,
        mapping: (u64, u64),
    },
    /// VM-7.
    FrameUnmap(SlotRef),
    /// VM-8.
    FrameGetAddress(Addr),
    /// VM-9: the entry `(table, index)` links the table of the capability
    /// in `slot`.
    PageTableMap {
        slot: SlotRef,
        table: Addr,
        index: u64,
        mapping: (u64, u64, u32),
    },
    /// VM-10.
    PageTableUnmap(SlotRef),
}

/// Where a walk for one address stopped (spec: VM-6 check 10, VM-9
/// check 5).
enum Walk {
    /// The entry `index` of `table` at `level` is the first on the path
    /// that is not a link, or the entry at the wanted level.
    At { table: Addr, level: u32, index: u64 },
}

impl Model {
    // ----- the walk ------------------------------------------------------

    /// The entries of a VSpace or PageTable.
    pub(super) fn table_entries(&self, t: Addr) -> Option<&BTreeMap<u64, Pte>> {
        match self.state.objects.get(&t) {
            Some(Object::VSpace { entries, .. } | Object::PageTable { entries }) => Some(entries),
            _ => None,
        }
    }

    fn table_entries_mut(&mut self, t: Addr) -> Option<&mut BTreeMap<u64, Pte>> {
        match self.state.objects.get_mut(&t) {
            Some(Object::VSpace { entries, .. } | Object::PageTable { entries }) => Some(entries),
            _ => None,
        }
    }

    fn pte(&self, table: Addr, index: u64) -> Option<Pte> {
        self.table_entries(table)
            .and_then(|e| e.get(&index))
            .copied()
    }

    /// The VSpace ASID `asid` names, if any (spec: ASID-1).
    pub(super) fn vspace_of_asid(&self, asid: u64) -> Option<Addr> {
        let pool = self.state.asid_table.get(&(asid >> ASID_LOW_BITS))?;
        match self.state.objects.get(pool) {
            Some(Object::AsidPool { entries }) => entries.get(&(asid & INDEX_MASK)).copied(),
            _ => None,
        }
    }

    /// The ASID of the VSpace a capability names, if it is a VSpace
    /// capability whose VSpace has one (spec: VM-4, ASID-3).
    fn vspace_asid(&self, cap: &Cap) -> Option<(Addr, u64)> {
        let Cap::VSpace { obj } = *cap else {
            return None;
        };
        match self.state.objects.get(&obj) {
            Some(Object::VSpace { asid: Some(a), .. }) => Some((obj, *a)),
            _ => None,
        }
    }

    /// Walk from the VSpace `root` for `vaddr` through links, stopping at
    /// the first entry that is not a link or at level `stop`.
    fn walk(&self, root: Addr, vaddr: u64, stop: u32) -> Walk {
        let mut table = root;
        let mut level = 0;
        loop {
            let index = index_at(vaddr, level);
            match self.pte(table, index) {
                Some(Pte::Table(next)) if level < stop => {
                    table = next;
                    level += 1;
                }
                _ => {
                    return Walk::At {
                        table,
                        level,
                        index,
                    };
                }
            }
        }
    }

    // ----- ASIDs ---------------------------------------------------------

    /// ASIDControl MakePool (spec: ASID-4), checks 1 … 7 in order.
    pub(super) fn decode_asid_control(
        &self,
        label: Option<Label>,
        words: &[u64],
        extra: &[(SlotRef, Cap)],
    ) -> Result<Op, Refusal> {
        if label != Some(Label::AsidControlMakePool) {
            return Err(ErrorDetail::IllegalOperation);
        }
        // spec: ASID-4 #1.
        if words.is_empty() || extra.len() < 2 {
            return Err(ErrorDetail::TruncatedMessage);
        }
        // spec: ASID-4 #2.
        let (untyped, ucap) = extra[0];
        if !matches!(
            ucap,
            Cap::Untyped {
                device: false,
                size_bits: TABLE_BITS,
                ..
            }
        ) {
            return Err(ErrorDetail::InvalidCapability { position: 1 });
        }
        // spec: ASID-4 #3.
        if self.has_children(untyped) {
            return Err(ErrorDetail::RevokeFirst);
        }
        // spec: ASID-4 #4.
        let Cap::CNode { obj: cnode } = extra[1].1 else {
            return Err(ErrorDetail::InvalidCapability { position: 2 });
        };
        // spec: ASID-4 #5.
        let dest = self.index_in(cnode, words[0])?;
        // spec: ASID-4 #6.
        if self.cap(dest).is_some() {
            return Err(ErrorDetail::DeleteFirst);
        }
        // spec: ASID-4 #7. reading: the entry `i` is chosen when the pool
        // is placed, after the reset; nothing else runs in between, so it
        // is the one this check saw.
        if self.state.asid_table.len() >= ASID_POOLS {
            return Err(ErrorDetail::DeleteFirst);
        }
        Ok(Op::Vm(VmOp::MakePool { untyped, dest }))
    }

    /// ASIDPool Assign (spec: ASID-5), checks 1 … 3 in order.
    pub(super) fn decode_asid_pool(
        &self,
        pool: Addr,
        asid_base: u64,
        label: Option<Label>,
        extra: &[(SlotRef, Cap)],
    ) -> Result<Op, Refusal> {
        if label != Some(Label::AsidPoolAssign) {
            return Err(ErrorDetail::IllegalOperation);
        }
        // spec: ASID-5 #1.
        let Some(&(_, cap)) = extra.first() else {
            return Err(ErrorDetail::TruncatedMessage);
        };
        // spec: ASID-5 #2. reading: literally "has no ASID", so a VSpace
        // whose pool was finalised may be assigned again (seL4 forbids
        // that; see `finalise_asid_pool` for what keeps it safe here).
        let vspace = match cap {
            Cap::VSpace { obj } => match self.state.objects.get(&obj) {
                Some(Object::VSpace { asid: None, .. }) => obj,
                _ => return Err(ErrorDetail::InvalidCapability { position: 1 }),
            },
            _ => return Err(ErrorDetail::InvalidCapability { position: 1 }),
        };
        // spec: ASID-5 #3 — entry 0 of the pool with base 0 never counts
        // (ASID 0 is never assigned, ASID-1).
        let Some(Object::AsidPool { entries }) = self.state.objects.get(&pool) else {
            unreachable!("ASIDPool capability to {pool:#x} names no pool (INV-9)");
        };
        let first = u64::from(asid_base == 0);
        let Some(entry) = (first..ASIDS_PER_POOL as u64).find(|e| !entries.contains_key(e)) else {
            return Err(ErrorDetail::DeleteFirst);
        };
        Ok(Op::Vm(VmOp::Assign {
            pool,
            asid_base,
            entry,
            vspace,
        }))
    }

    /// Release the ASID of the VSpace `v`, if it has one (spec: DER-12
    /// VSpace: its pool entry is cleared).
    fn release_asid(&mut self, v: Addr) {
        let Some(Object::VSpace { asid, .. }) = self.state.objects.get_mut(&v) else {
            return;
        };
        let Some(a) = asid.take() else {
            return;
        };
        if let Some(&pool) = self.state.asid_table.get(&(a >> ASID_LOW_BITS))
            && let Some(Object::AsidPool { entries }) = self.state.objects.get_mut(&pool)
        {
            entries.remove(&(a & INDEX_MASK));
        }
    }

    // ----- Frame ---------------------------------------------------------

    /// The Frame invocations (spec: VM-6, VM-7, VM-8).
    pub(super) fn decode_frame(
        &self,
        slot: SlotRef,
        cap: Cap,
        label: Option<Label>,
        words: &[u64],
        extra: &[(SlotRef, Cap)],
    ) -> Result<Op, Refusal> {
        let Cap::Frame {
            obj,
            rights,
            mapping,
        } = cap
        else {
            unreachable!("decode_frame on {cap:?}");
        };
        match label {
            Some(Label::FrameMap) => {}
            // spec: VM-7 — no words, no checks.
            Some(Label::FrameUnmap) => return Ok(Op::Vm(VmOp::FrameUnmap(slot))),
            // spec: VM-8 — no words.
            Some(Label::FrameGetAddress) => return Ok(Op::Vm(VmOp::FrameGetAddress(obj))),
            _ => return Err(ErrorDetail::IllegalOperation),
        }
        let Some(&Object::Frame { size_bits, device }) = self.state.objects.get(&obj) else {
            unreachable!("Frame capability to {obj:#x} names no frame (INV-9)");
        };
        // spec: VM-6 #1.
        if words.len() < 3 || extra.is_empty() {
            return Err(ErrorDetail::TruncatedMessage);
        }
        let (vaddr, rights_word, attr_word) = (words[0], words[1], words[2]);
        // spec: VM-6 #2.
        let Some((vspace, asid)) = self.vspace_asid(&extra[0].1) else {
            return Err(ErrorDetail::InvalidCapability { position: 1 });
        };
        // spec: VM-6 #3.
        if mapping.is_some() {
            return Err(ErrorDetail::IllegalOperation);
        }
        // spec: VM-6 #4.
        if rights_word & !Rights::READ_WRITE.bits() != 0 {
            return Err(ErrorDetail::InvalidArgument { index: 1 });
        }
        // spec: VM-6 #5.
        let Ok(attrs) = VmAttributes::from_word(attr_word) else {
            return Err(ErrorDetail::InvalidArgument { index: 2 });
        };
        // spec: VM-6 #6.
        let size = 1u64 << size_bits;
        if vaddr % size != 0 {
            return Err(ErrorDetail::AlignmentError);
        }
        // spec: VM-6 #7.
        if u128::from(vaddr) + u128::from(size) > u128::from(USER_TOP) {
            return Err(ErrorDetail::InvalidArgument { index: 0 });
        }
        // spec: VM-6 #8 — the effective rights (VM-5).
        let requested = Rights::from_word(rights_word).unwrap_or(Rights::NONE);
        let effective = rights.intersect(requested);
        if !effective.contains(Rights::READ) {
            return Err(ErrorDetail::InvalidArgument { index: 1 });
        }
        // spec: VM-6 #9, VM-11.
        let write = effective.contains(Rights::WRITE);
        let execute = attrs.contains(VmAttributes::EXECUTE);
        if execute && (write || device) {
            return Err(ErrorDetail::InvalidArgument { index: 2 });
        }
        // spec: VM-6 #10, #11.
        let level = frame_level(size_bits);
        let Walk::At {
            table,
            level: at,
            index,
        } = self.walk(vspace, vaddr, level);
        if at < level {
            return Err(match self.pte(table, index) {
                None => ErrorDetail::FailedLookup {
                    position: 0,
                    failure: failure(
                        LookupFailureKind::MissingCapability,
                        u64::from(entry_bits(at)),
                        0,
                    ),
                },
                Some(_) => ErrorDetail::DeleteFirst,
            });
        }
        if self.pte(table, index).is_some() {
            return Err(ErrorDetail::DeleteFirst);
        }
        // spec: VM-5 — the memory type.
        let memory = if device {
            MemoryType::Device
        } else if attrs.contains(VmAttributes::UNCACHED) {
            MemoryType::Uncached
        } else {
            MemoryType::WriteBack
        };
        Ok(Op::Vm(VmOp::FrameMap {
            slot,
            table,
            index,
            pte: Pte::Page {
                frame: obj,
                write,
                execute,
                memory,
            },
            mapping: (asid, vaddr),
        }))
    }

    /// VM-7: remove the mapping the Frame capability in `slot` records, if
    /// the entry still maps its frame; clear the record in every case.
    ///
    /// reading: the walk follows links only (a mapping above the frame's
    /// level stops it: nothing is removed); the entry at the frame's level
    /// must map this frame's base address, whatever its rights and
    /// attributes and whichever capability mapped it (as seL4 compares
    /// only the physical address).
    pub(super) fn frame_unmap(&mut self, slot: SlotRef) {
        let Some(Cap::Frame {
            obj,
            mapping: Some((asid, vaddr)),
            ..
        }) = self.cap(slot)
        else {
            return;
        };
        if let Some(&Object::Frame { size_bits, .. }) = self.state.objects.get(&obj)
            && let Some(root) = self.vspace_of_asid(asid)
        {
            let level = frame_level(size_bits);
            let Walk::At {
                table,
                level: at,
                index,
            } = self.walk(root, vaddr, level);
            if at == level
                && let Some(Pte::Page { frame, .. }) = self.pte(table, index)
                && frame == obj
                && let Some(entries) = self.table_entries_mut(table)
            {
                entries.remove(&index);
            }
        }
        if let Some(Slot {
            cap: Cap::Frame { mapping, .. },
            ..
        }) = self.state.slots.get_mut(&slot)
        {
            *mapping = None;
        }
    }

    // ----- PageTable -----------------------------------------------------

    /// The PageTable invocations (spec: VM-9, VM-10).
    pub(super) fn decode_page_table(
        &self,
        slot: SlotRef,
        cap: Cap,
        label: Option<Label>,
        words: &[u64],
        extra: &[(SlotRef, Cap)],
    ) -> Result<Op, Refusal> {
        let Cap::PageTable { mapping, .. } = cap else {
            unreachable!("decode_page_table on {cap:?}");
        };
        match label {
            Some(Label::PageTableMap) => {}
            // spec: VM-10 — no words, no checks.
            Some(Label::PageTableUnmap) => return Ok(Op::Vm(VmOp::PageTableUnmap(slot))),
            _ => return Err(ErrorDetail::IllegalOperation),
        }
        // spec: VM-9 #1.
        if words.is_empty() || extra.is_empty() {
            return Err(ErrorDetail::TruncatedMessage);
        }
        let vaddr = words[0];
        // spec: VM-9 #2.
        let Some((vspace, asid)) = self.vspace_asid(&extra[0].1) else {
            return Err(ErrorDetail::InvalidCapability { position: 1 });
        };
        // spec: VM-9 #3.
        if mapping.is_some() {
            return Err(ErrorDetail::IllegalOperation);
        }
        // spec: VM-9 #4.
        if vaddr >= USER_TOP {
            return Err(ErrorDetail::InvalidArgument { index: 0 });
        }
        // spec: VM-9 #5 — the first entry that is not a link.
        let Walk::At {
            table,
            level,
            index,
        } = self.walk(vspace, vaddr, 3);
        if level > 2 || self.pte(table, index).is_some() {
            return Err(ErrorDetail::DeleteFirst);
        }
        let span = entry_bits(level);
        Ok(Op::Vm(VmOp::PageTableMap {
            slot,
            table,
            index,
            mapping: (asid, (vaddr >> span) << span, level + 1),
        }))
    }

    /// VM-10's unlink: if the link the PageTable capability in `slot`
    /// records still stands, its parent entry is emptied. Returns the
    /// table.
    ///
    /// reading: "its parent entry" is the entry for the recorded `vaddr`
    /// at level `level − 1`, reached from the ASID's VSpace through links
    /// only; it must link this very table.
    fn unlink_page_table(&mut self, slot: SlotRef) -> Option<Addr> {
        let Some(Cap::PageTable { obj, mapping }) = self.cap(slot) else {
            return None;
        };
        if let Some((asid, vaddr, level)) = mapping
            && let Some(root) = self.vspace_of_asid(asid)
            && level >= 1
        {
            let parent = level - 1;
            let Walk::At {
                table,
                level: at,
                index,
            } = self.walk(root, vaddr, parent);
            if at == parent
                && self.pte(table, index) == Some(Pte::Table(obj))
                && let Some(entries) = self.table_entries_mut(table)
            {
                entries.remove(&index);
            }
        }
        Some(obj)
    }

    /// VM-10 PageTable Unmap: unlink, empty the table's entries, clear the
    /// link record.
    pub(super) fn page_table_unmap(&mut self, slot: SlotRef) {
        let Some(obj) = self.unlink_page_table(slot) else {
            return;
        };
        if let Some(entries) = self.table_entries_mut(obj) {
            entries.clear();
        }
        if let Some(Slot {
            cap: Cap::PageTable { mapping, .. },
            ..
        }) = self.state.slots.get_mut(&slot)
        {
            *mapping = None;
        }
    }

    // ----- perform -------------------------------------------------------

    /// Perform an ASID or VSpace invocation.
    pub(super) fn perform_vm(
        &mut self,
        op: VmOp,
        preempt: &mut dyn FnMut() -> bool,
    ) -> Result<Vec<u64>, Preempted> {
        match op {
            VmOp::MakePool { untyped, dest } => {
                // spec: ASID-4 — reset as UT-10 (same preemption points).
                self.reset(untyped, preempt)?;
                let Some(Slot {
                    cap:
                        Cap::Untyped {
                            base, watermark, ..
                        },
                    ..
                }) = self.state.slots.get_mut(&untyped)
                else {
                    unreachable!("MakePool from a slot that holds no untyped");
                };
                *watermark = 1 << TABLE_BITS;
                let base = *base;
                self.state.objects.insert(
                    base,
                    Object::AsidPool {
                        entries: BTreeMap::new(),
                    },
                );
                let i = (0..ASID_POOLS as u64)
                    .find(|i| !self.state.asid_table.contains_key(i))
                    .expect("decode found an empty asid_table entry");
                self.state.asid_table.insert(i, base);
                let cap = Cap::AsidPool {
                    obj: base,
                    asid_base: i << ASID_LOW_BITS,
                };
                self.insert_child(untyped, dest, cap);
            }
            VmOp::Assign {
                pool,
                asid_base,
                entry,
                vspace,
            } => {
                // spec: ASID-5.
                if let Some(Object::AsidPool { entries }) = self.state.objects.get_mut(&pool) {
                    entries.insert(entry, vspace);
                }
                if let Some(Object::VSpace { asid, .. }) = self.state.objects.get_mut(&vspace) {
                    *asid = Some(asid_base + entry);
                }
            }
            VmOp::FrameMap {
                slot,
                table,
                index,
                pte,
                mapping,
            } => {
                // spec: VM-6 effect.
                if let Some(entries) = self.table_entries_mut(table) {
                    entries.insert(index, pte);
                }
                if let Some(Slot {
                    cap: Cap::Frame { mapping: m, .. },
                    ..
                }) = self.state.slots.get_mut(&slot)
                {
                    *m = Some(mapping);
                }
            }
            VmOp::FrameUnmap(slot) => self.frame_unmap(slot),
            VmOp::FrameGetAddress(obj) => return Ok(vec![obj]),
            VmOp::PageTableMap {
                slot,
                table,
                index,
                mapping,
            } => {
                // spec: VM-9 effect.
                let Some(Cap::PageTable { obj, .. }) = self.cap(slot) else {
                    unreachable!("PageTable Map of a slot without a PageTable");
                };
                if let Some(entries) = self.table_entries_mut(table) {
                    entries.insert(index, Pte::Table(obj));
                }
                if let Some(Slot {
                    cap: Cap::PageTable { mapping: m, .. },
                    ..
                }) = self.state.slots.get_mut(&slot)
                {
                    *m = Some(mapping);
                }
            }
            VmOp::PageTableUnmap(slot) => self.page_table_unmap(slot),
        }
        Ok(Vec::new())
    }

    // ----- deletion effects (DER-12) -------------------------------------

    /// DER-12 Frame (always): the mapping is removed as Unmap does; if
    /// `fin`, the frame ceases to exist. Its bytes stay in memory below
    /// the watermark (DER-13), but contents are state only of live frames
    /// (ST-2), so its words leave `frame_data`.
    pub(super) fn finalise_frame(&mut self, s: SlotRef, obj: Addr, fin: bool) {
        self.frame_unmap(s);
        if fin && let Some(Object::Frame { size_bits, .. }) = self.state.objects.remove(&obj) {
            let end = obj + (1u64 << size_bits);
            self.state
                .frame_data
                .retain(|&a, _| !(obj..end).contains(&a));
        }
    }

    /// DER-12 PageTable (final): unlinked as VM-10 does; it ceases to
    /// exist (with its entries).
    pub(super) fn finalise_page_table(&mut self, s: SlotRef, obj: Addr) {
        self.unlink_page_table(s);
        self.state.objects.remove(&obj);
    }

    /// DER-12 VSpace (final): its ASID, if any, is released; it ceases to
    /// exist.
    pub(super) fn finalise_vspace(&mut self, obj: Addr) {
        self.release_asid(obj);
        self.state.objects.remove(&obj);
    }

    /// DER-12 ASIDPool (final): every VSpace of the pool loses its ASID,
    /// the ASID table entry is cleared, the pool ceases to exist.
    ///
    /// reading: a VSpace that loses its ASID this way also loses its
    /// entries (its links are emptied, as VM-10 empties an unlinked
    /// table). ASID-5 lets it be assigned a new ASID, and the PageTable
    /// and Frame capabilities below it record the old one: keeping the
    /// links would break INV-32 and INV-34 and let a still-linked table
    /// be linked twice (its Unmap would no longer find its parent entry).
    /// seL4 avoids this by never letting such a VSpace be assigned again.
    pub(super) fn finalise_asid_pool(&mut self, obj: Addr, asid_base: u64) {
        if let Some(Object::AsidPool { entries }) = self.state.objects.remove(&obj) {
            for v in entries.into_values() {
                if let Some(Object::VSpace { asid, entries }) = self.state.objects.get_mut(&v) {
                    *asid = None;
                    entries.clear();
                }
            }
        }
        let i = asid_base >> ASID_LOW_BITS;
        if self.state.asid_table.get(&i) == Some(&obj) {
            self.state.asid_table.remove(&i);
        }
    }
}
