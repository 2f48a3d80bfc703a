//! Address spaces: frames, page tables, VSpaces and ASIDs (spec: VM-1 …
//! VM-11, ASID-1 … ASID-6).
//!
//! Tables are real hardware tables (`crate::pte`). A VSpace's ASID is kept
//! in the VSpace itself, in entry [`ASID_ENTRY`] of its top-level table as
//! a non-present entry: user space only uses entries below 256 (addresses
//! below `USER_TOP`), and the kernel's own upper-half entries (256 for the
//! direct map, 511 for the image and stacks) leave it free. So every
//! capability to a VSpace agrees on its ASID, and releasing an ASID touches
//! one word. Frame and PageTable capabilities name their mapping by ASID, a
//! weak reference that is validated on use (ASID-6).

use crate::cap::Cap;
use crate::kernel::{Invocation, Kernel, Preempted, Reply, cnode_slot, failure};
use crate::mem::{Memory, PAddr, get, get_mut};
use crate::pte::{self, Pte};
use crate::slot;
use abi::error::{ErrorDetail, LookupFailureKind};
use abi::invocation::Label;
use abi::rights::Rights;
use abi::vm::{ASID_LOW_BITS, ASIDS_PER_POOL, USER_TOP, VmAttributes};

/// The top-level entry that holds a VSpace's ASID (see the module comment).
pub const ASID_ENTRY: u64 = 510;

/// The ASID recorded in the VSpace at `vs`.
pub fn asid_record(m: &impl Memory, vs: PAddr) -> Option<u16> {
    let v = *get::<u64>(m, vs + 8 * ASID_ENTRY);
    (v != 0).then_some((v >> 12) as u16)
}

/// Record (or clear) the ASID of the VSpace at `vs`: bit 0 (present /
/// valid) stays clear, so the MMU ignores the entry.
pub fn set_asid_record(m: &mut impl Memory, vs: PAddr, asid: Option<u16>) {
    *get_mut::<u64>(m, vs + 8 * ASID_ENTRY) = asid.map_or(0, |a| (a as u64) << 12);
}

/// Bytes covered by an entry of a level-`k` table (spec: VM-1).
fn entry_size(level: u32) -> u64 {
    1 << (39 - 9 * level)
}

fn index(vaddr: u64, level: u32) -> u64 {
    (vaddr >> (39 - 9 * level)) & 511
}

/// The table level whose entries map frames of `size_bits` (VM-2).
fn level_of(size_bits: u8) -> u32 {
    match size_bits {
        30 => 1,
        21 => 2,
        _ => 3,
    }
}

impl<M: Memory> Kernel<M> {
    /// The VSpace ASID `a` names, if any (spec: ASID-1).
    pub fn vspace_of_asid(&self, a: u16) -> Option<PAddr> {
        let (hi, lo) = abi::vm::split_asid(a);
        let pool = self.asid_table[hi];
        if pool == 0 {
            return None;
        }
        let vs = *get::<u64>(&self.mem, pool + 8 * lo as u64);
        (vs != 0).then_some(vs)
    }

    /// The ASID of the VSpace capability `c` names, if it has one.
    pub fn vspace_asid(&self, c: Cap) -> Option<u16> {
        match c {
            Cap::VSpace { obj } => asid_record(&self.mem, obj),
            _ => None,
        }
    }

    /// Whether `c` may be derived (spec: CAP-9).
    pub fn derivable(&self, c: Cap) -> bool {
        match c {
            Cap::VSpace { .. } => self.vspace_asid(c).is_some(),
            other => other.is_derivable_type(),
        }
    }

    fn pte_at(&self, table: PAddr, level: u32, i: u64) -> Pte {
        pte::decode(
            self.layout.paging,
            level,
            *get::<u64>(&self.mem, table + 8 * i),
        )
    }

    fn set_entry(&mut self, table: PAddr, level: u32, i: u64, e: Pte) {
        *get_mut::<u64>(&mut self.mem, table + 8 * i) =
            pte::encode_entry(self.layout.paging, level, e);
    }

    /// The table and level whose entry for `vaddr` is the first that is
    /// not a link, walking from the VSpace down to at most `to_level`.
    fn walk(&self, vs: PAddr, vaddr: u64, to_level: u32) -> (PAddr, u32) {
        let (mut table, mut level) = (vs, 0);
        while level < to_level {
            match self.pte_at(table, level, index(vaddr, level)) {
                Pte::Table(t) => {
                    table = t;
                    level += 1;
                }
                _ => break,
            }
        }
        (table, level)
    }

    /// Frame Map, Unmap, GetAddress (spec: VM-6 … VM-8).
    pub(crate) fn frame_invoke(
        &mut self,
        label: Label,
        inv: &Invocation<'_>,
    ) -> Result<Reply, ErrorDetail> {
        let Cap::Frame {
            obj,
            size_bits,
            device,
            rights,
            mapping,
        } = slot::cap(&self.mem, inv.slot)
        else {
            unreachable!("frame invocation on another capability");
        };
        match label {
            Label::FrameMap => {
                // 1
                let (&[vaddr, rw, attrs, ..], &[(_, vsc), ..]) = (inv.words, inv.extra) else {
                    return Err(ErrorDetail::TruncatedMessage);
                };
                // 2
                let Some(asid) = self.vspace_asid(vsc) else {
                    return Err(ErrorDetail::InvalidCapability { position: 1 });
                };
                let Cap::VSpace { obj: vs } = vsc else {
                    unreachable!("vspace_asid checked the type");
                };
                // 3
                if mapping.is_some() {
                    return Err(ErrorDetail::IllegalOperation);
                }
                // 4
                let rw = match Rights::from_word(rw) {
                    Ok(r) if Rights::READ_WRITE.contains(r) => r,
                    _ => return Err(ErrorDetail::InvalidArgument { index: 1 }),
                };
                // 5
                let Ok(attrs) = VmAttributes::from_word(attrs) else {
                    return Err(ErrorDetail::InvalidArgument { index: 2 });
                };
                let size = 1u64 << size_bits;
                // 6
                if vaddr % size != 0 {
                    return Err(ErrorDetail::AlignmentError);
                }
                // 7
                if vaddr.checked_add(size).is_none_or(|end| end > USER_TOP) {
                    return Err(ErrorDetail::InvalidArgument { index: 0 });
                }
                // 8
                let eff = rights.intersect(rw);
                if !eff.contains(Rights::READ) {
                    return Err(ErrorDetail::InvalidArgument { index: 1 });
                }
                // 9
                let execute = attrs.contains(VmAttributes::EXECUTE);
                if execute && (eff.contains(Rights::WRITE) || device) {
                    return Err(ErrorDetail::InvalidArgument { index: 2 });
                }
                // 10
                let level = level_of(size_bits);
                let (table, at) = self.walk(vs, vaddr, level);
                if at < level {
                    return Err(match self.pte_at(table, at, index(vaddr, at)) {
                        Pte::Empty => ErrorDetail::FailedLookup {
                            position: 0,
                            failure: failure(
                                LookupFailureKind::MissingCapability,
                                39 - 9 * at as u64,
                                0,
                            ),
                        },
                        _ => ErrorDetail::DeleteFirst,
                    });
                }
                // 11
                let i = index(vaddr, level);
                if self.pte_at(table, level, i) != Pte::Empty {
                    return Err(ErrorDetail::DeleteFirst);
                }
                let memory = if device {
                    pte::Memory::Device
                } else if attrs.contains(VmAttributes::UNCACHED) {
                    pte::Memory::Uncached
                } else {
                    pte::Memory::WriteBack
                };
                self.set_entry(
                    table,
                    level,
                    i,
                    Pte::Page {
                        frame: obj,
                        write: eff.contains(Rights::WRITE),
                        execute,
                        memory,
                    },
                );
                slot::set_cap(
                    &mut self.mem,
                    inv.slot,
                    Cap::Frame {
                        obj,
                        size_bits,
                        device,
                        rights,
                        mapping: Some((asid, vaddr)),
                    },
                );
                Ok(Reply::EMPTY)
            }
            Label::FrameUnmap => {
                self.unmap_frame(inv.slot);
                Ok(Reply::EMPTY)
            }
            Label::FrameGetAddress => {
                let mut r = Reply::EMPTY;
                r.words[0] = obj;
                r.len = 1;
                Ok(r)
            }
            _ => Err(ErrorDetail::IllegalOperation),
        }
    }

    /// Frame Unmap of the capability in slot `s` (spec: VM-7).
    pub(crate) fn unmap_frame(&mut self, s: PAddr) {
        let Cap::Frame {
            obj,
            size_bits,
            device,
            rights,
            mapping: Some((asid, vaddr)),
        } = slot::cap(&self.mem, s)
        else {
            return;
        };
        if let Some(vs) = self.vspace_of_asid(asid) {
            let level = level_of(size_bits);
            let (table, at) = self.walk(vs, vaddr, level);
            let i = index(vaddr, level);
            if at == level
                && let Pte::Page { frame, .. } = self.pte_at(table, level, i)
                && frame == obj
            {
                // The architecture layer flushes the translation caches.
                self.set_entry(table, level, i, Pte::Empty);
            }
        }
        slot::set_cap(
            &mut self.mem,
            s,
            Cap::Frame {
                obj,
                size_bits,
                device,
                rights,
                mapping: None,
            },
        );
    }

    /// PageTable Map and Unmap (spec: VM-9, VM-10).
    pub(crate) fn page_table_invoke(
        &mut self,
        label: Label,
        inv: &Invocation<'_>,
    ) -> Result<(), ErrorDetail> {
        let Cap::PageTable { obj, mapping } = slot::cap(&self.mem, inv.slot) else {
            unreachable!("page-table invocation on another capability");
        };
        match label {
            Label::PageTableMap => {
                // 1
                let (&[vaddr, ..], &[(_, vsc), ..]) = (inv.words, inv.extra) else {
                    return Err(ErrorDetail::TruncatedMessage);
                };
                // 2
                let Some(asid) = self.vspace_asid(vsc) else {
                    return Err(ErrorDetail::InvalidCapability { position: 1 });
                };
                let Cap::VSpace { obj: vs } = vsc else {
                    unreachable!("vspace_asid checked the type");
                };
                // 3
                if mapping.is_some() {
                    return Err(ErrorDetail::IllegalOperation);
                }
                // 4
                if vaddr >= USER_TOP {
                    return Err(ErrorDetail::InvalidArgument { index: 0 });
                }
                // 5
                let (table, level) = self.walk(vs, vaddr, 3);
                let i = index(vaddr, level);
                if level > 2 || self.pte_at(table, level, i) != Pte::Empty {
                    return Err(ErrorDetail::DeleteFirst);
                }
                self.set_entry(table, level, i, Pte::Table(obj));
                let base = vaddr & !(entry_size(level) - 1);
                slot::set_cap(
                    &mut self.mem,
                    inv.slot,
                    Cap::PageTable {
                        obj,
                        mapping: Some((asid, base, level as u8 + 1)),
                    },
                );
                Ok(())
            }
            Label::PageTableUnmap => {
                self.unmap_table(inv.slot);
                Ok(())
            }
            _ => Err(ErrorDetail::IllegalOperation),
        }
    }

    /// PageTable Unmap of the capability in slot `s` (spec: VM-10): unlink
    /// if still linked, empty the table, clear the record.
    pub(crate) fn unmap_table(&mut self, s: PAddr) {
        let Cap::PageTable { obj, mapping } = slot::cap(&self.mem, s) else {
            return;
        };
        if let Some((asid, vaddr, level)) = mapping
            && let Some(vs) = self.vspace_of_asid(asid)
        {
            let parent_level = level as u32 - 1;
            let (table, at) = self.walk(vs, vaddr, parent_level);
            let i = index(vaddr, parent_level);
            if at == parent_level && self.pte_at(table, at, i) == Pte::Table(obj) {
                self.set_entry(table, at, i, Pte::Empty);
            }
        }
        self.mem.zero(obj, 1 << abi::object::TABLE_BITS);
        slot::set_cap(&mut self.mem, s, Cap::PageTable { obj, mapping: None });
    }

    /// ASIDControl MakePool (spec: ASID-4).
    pub(crate) fn make_pool(
        &mut self,
        inv: &Invocation<'_>,
        preempt: &mut dyn FnMut() -> bool,
    ) -> Result<Result<(), ErrorDetail>, Preempted> {
        // 1
        let (&[dest, ..], &[(ut_slot, ut), (_, cnode), ..]) = (inv.words, inv.extra) else {
            return Ok(Err(ErrorDetail::TruncatedMessage));
        };
        // 2
        let Cap::Untyped {
            base,
            size_bits: 12,
            device: false,
            ..
        } = ut
        else {
            return Ok(Err(ErrorDetail::InvalidCapability { position: 1 }));
        };
        // 3
        if slot::has_children(&self.mem, ut_slot) {
            return Ok(Err(ErrorDetail::RevokeFirst));
        }
        // 4
        let Cap::CNode { obj, radix } = cnode else {
            return Ok(Err(ErrorDetail::InvalidCapability { position: 2 }));
        };
        // 5
        let slots = 1u64 << radix;
        if dest >= slots {
            return Ok(Err(ErrorDetail::RangeError {
                min: 0,
                max: slots - 1,
            }));
        }
        // 6
        let to = cnode_slot(obj, dest);
        if !slot::cap(&self.mem, to).is_null() {
            return Ok(Err(ErrorDetail::DeleteFirst));
        }
        // 7
        let Some(i) = self.asid_table.iter().position(|&p| p == 0) else {
            return Ok(Err(ErrorDetail::DeleteFirst));
        };
        // Effect: reset (spec: UT-10), then the pool.
        self.reset(ut_slot, preempt)?;
        slot::set_cap(
            &mut self.mem,
            ut_slot,
            Cap::Untyped {
                base,
                size_bits: 12,
                device: false,
                watermark: 1 << 12,
            },
        );
        self.asid_table[i] = base;
        slot::insert_child(
            &mut self.mem,
            ut_slot,
            to,
            Cap::AsidPool {
                obj: base,
                asid_base: (i << ASID_LOW_BITS) as u16,
            },
        );
        Ok(Ok(()))
    }

    /// ASIDPool Assign (spec: ASID-5).
    pub(crate) fn assign(&mut self, inv: &Invocation<'_>) -> Result<(), ErrorDetail> {
        let Cap::AsidPool { obj, asid_base } = slot::cap(&self.mem, inv.slot) else {
            unreachable!("assign on another capability");
        };
        // 1
        let &[(_, vsc), ..] = inv.extra else {
            return Err(ErrorDetail::TruncatedMessage);
        };
        // 2
        let Cap::VSpace { obj: vs } = vsc else {
            return Err(ErrorDetail::InvalidCapability { position: 1 });
        };
        if asid_record(&self.mem, vs).is_some() {
            return Err(ErrorDetail::InvalidCapability { position: 1 });
        }
        // 3
        let first = if asid_base == 0 { 1 } else { 0 };
        let Some(e) =
            (first..ASIDS_PER_POOL as u64).find(|&e| *get::<u64>(&self.mem, obj + 8 * e) == 0)
        else {
            return Err(ErrorDetail::DeleteFirst);
        };
        *get_mut::<u64>(&mut self.mem, obj + 8 * e) = vs;
        set_asid_record(&mut self.mem, vs, Some(asid_base + e as u16));
        Ok(())
    }

    /// A final VSpace capability was deleted (spec: DER-12): its ASID, if
    /// any, is released.
    pub(crate) fn release_vspace(&mut self, vs: PAddr) {
        if let Some(a) = asid_record(&self.mem, vs) {
            let (hi, lo) = abi::vm::split_asid(a);
            let pool = self.asid_table[hi];
            if pool != 0 {
                *get_mut::<u64>(&mut self.mem, pool + 8 * lo as u64) = 0;
            }
            set_asid_record(&mut self.mem, vs, None);
        }
    }

    /// A final ASIDPool capability was deleted (spec: DER-12): every
    /// VSpace of the pool loses its ASID and its user entries, so one that
    /// gets a new ASID later starts empty and no table below it is linked
    /// under two ASIDs; the table entry is cleared. Bounded: 512 VSpaces of
    /// 256 user entries.
    pub(crate) fn release_pool(&mut self, pool: PAddr, asid_base: u16) {
        for e in 0..ASIDS_PER_POOL as u64 {
            let vs = core::mem::take(get_mut::<u64>(&mut self.mem, pool + 8 * e));
            if vs != 0 {
                set_asid_record(&mut self.mem, vs, None);
                self.mem.zero(vs, 256 * 8);
            }
        }
        let (hi, _) = abi::vm::split_asid(asid_base);
        if self.asid_table[hi] == pool {
            self.asid_table[hi] = 0;
        }
    }
}
