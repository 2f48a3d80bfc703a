//! Tests of ASIDs (ASID-1 … ASID-6) and address spaces (VM-1 … VM-11),
//! each named after the rule it checks; hostile cases included.

use super::*;
use crate::invariants::{inv_32, inv_33, inv_34, inv_35};
use crate::state::{MemoryType, Pte};
use abi::vm::USER_TOP;

/// Page tables in slots 40, 41, 42; a 4 KiB frame in 43.
const PT0: u64 = 40;
const PT1: u64 = 41;
const PT2: u64 = 42;
const FRAME: u64 = 43;
/// Level-0 index 0, level-1 index 2, level-2 index 0, level-3 index 0.
const V: u64 = 0x8000_0000;
const R: u64 = 1;
const RW: u64 = 3;
const EXEC: u64 = 1;
const UNCACHED: u64 = 2;

fn obj_of(m: &Model, i: u64) -> Addr {
    match cap_at(m, slot(i)) {
        Some(
            Cap::PageTable { obj, .. }
            | Cap::VSpace { obj }
            | Cap::AsidPool { obj, .. }
            | Cap::Frame { obj, .. },
        ) => obj,
        other => panic!("slot {i} holds {other:?}"),
    }
}

fn pt_map(m: &mut Model, pt: u64, vaddr: u64, vs: u64) -> Outcome {
    call(m, c(pt), Label::PageTableMap, &[vaddr], &[c(vs)])
}

fn frame_map(m: &mut Model, f: u64, vaddr: u64, rights: u64, attrs: u64, vs: u64) -> Outcome {
    call(m, c(f), Label::FrameMap, &[vaddr, rights, attrs], &[c(vs)])
}

fn dev_retype(m: &mut Model, ty: ObjectType, offset: u64) -> Outcome {
    call(
        m,
        c(DEV_UT),
        Label::UntypedRetype,
        &[ty as u64, 0, offset, 1],
        &[c(2)],
    )
}

fn entries(m: &Model, t: Addr) -> BTreeMap<u64, Pte> {
    m.table_entries(t).cloned().unwrap_or_default()
}

fn mapping(m: &Model, i: u64) -> Option<(u64, u64)> {
    match cap_at(m, slot(i)) {
        Some(Cap::Frame { mapping, .. }) => mapping,
        other => panic!("{other:?}"),
    }
}

fn link(m: &Model, i: u64) -> Option<(u64, u64, u32)> {
    match cap_at(m, slot(i)) {
        Some(Cap::PageTable { mapping, .. }) => mapping,
        other => panic!("{other:?}"),
    }
}

/// Boot; three page tables linked for `V` in the root VSpace (ASID 1)
/// down to level 3; an unmapped 4 KiB frame in slot 43.
fn tables() -> Model {
    let mut m = boot();
    assert_eq!(retype(&mut m, ObjectType::PageTable, 0, PT0, 3), ok());
    assert_eq!(retype(&mut m, ObjectType::Frame4K, 0, FRAME, 1), ok());
    for pt in [PT0, PT1, PT2] {
        assert_eq!(pt_map(&mut m, pt, V, 3), ok());
        check(&m);
    }
    m
}

/// A new pool from a fresh 4 KiB untyped in slot 30, in slot 31.
fn make_pool(m: &mut Model) -> Outcome {
    call(m, c(5), Label::AsidControlMakePool, &[31], &[c(30), c(2)])
}

// ----- ASIDs -----------------------------------------------------------------

#[test]
fn asid_4_make_pool() {
    let mut m = boot();
    assert_eq!(retype(&mut m, ObjectType::Untyped, 12, 30, 1), ok());
    let Some(Cap::Untyped { base, .. }) = cap_at(&m, slot(30)) else {
        panic!()
    };
    assert_eq!(make_pool(&mut m), ok());
    check(&m);
    // spec: ASID-4, DER-2 — watermark 4096, the pool at the base, the
    // lowest empty asid_table entry (1), child of the untyped.
    assert_eq!(watermark(&m, 30), 4096);
    assert_eq!(
        cap_at(&m, slot(31)),
        Some(Cap::AsidPool {
            obj: base,
            asid_base: 512
        })
    );
    assert_eq!(m.state.asid_table.get(&1), Some(&base));
    assert_eq!(m.state.slots[&slot(31)].parent, Some(slot(30)));
    assert_eq!(
        m.state.objects.get(&base),
        Some(&Object::AsidPool {
            entries: BTreeMap::new()
        })
    );
    // spec: CAP-9 — an ASIDPool is copyable, ASIDControl is not.
    assert_eq!(
        call(&mut m, c(2), Label::CNodeCopy, &[32, 31, 0], &[c(2)]),
        ok()
    );
    refused(
        &mut m,
        c(2),
        Label::CNodeCopy,
        &[33, 5, 0],
        &[c(2)],
        ErrorDetail::IllegalOperation,
    );
    check(&m);
}

#[test]
fn asid_4_checks_in_order() {
    let mut m = boot();
    assert_eq!(retype(&mut m, ObjectType::Untyped, 12, 30, 1), ok());
    assert_eq!(retype(&mut m, ObjectType::Untyped, 13, 34, 1), ok());
    assert_eq!(
        dev_retype(&mut m, ObjectType::Untyped, 35),
        err(range_error(4, 47))
    );
    assert_eq!(
        call(
            &mut m,
            c(DEV_UT),
            Label::UntypedRetype,
            &[ObjectType::Untyped as u64, 12, 35, 1],
            &[c(2)],
        ),
        ok()
    );
    let mp = |words: &[u64], extra: &[u64]| (words.to_vec(), extra.to_vec());
    let cases = [
        // #1.
        (mp(&[], &[c(30), c(2)]), ErrorDetail::TruncatedMessage),
        (mp(&[31], &[c(30)]), ErrorDetail::TruncatedMessage),
        // #2 before #4: not an untyped; 8 KiB; device.
        (
            mp(&[31], &[c(2), c(1)]),
            ErrorDetail::InvalidCapability { position: 1 },
        ),
        (
            mp(&[31], &[c(34), c(2)]),
            ErrorDetail::InvalidCapability { position: 1 },
        ),
        (
            mp(&[31], &[c(35), c(2)]),
            ErrorDetail::InvalidCapability { position: 1 },
        ),
        // #4 before #5.
        (
            mp(&[1 << RADIX], &[c(30), c(1)]),
            ErrorDetail::InvalidCapability { position: 2 },
        ),
        // #5 before #6.
        (
            mp(&[1 << RADIX], &[c(30), c(2)]),
            range_error(0, (1 << RADIX) - 1),
        ),
        // #6.
        (mp(&[1], &[c(30), c(2)]), ErrorDetail::DeleteFirst),
    ];
    for ((words, extra), e) in cases {
        refused(&mut m, c(5), Label::AsidControlMakePool, &words, &extra, e);
    }
    // #3: children (before #4).
    assert_eq!(
        call(
            &mut m,
            c(30),
            Label::UntypedRetype,
            &[ObjectType::Endpoint as u64, 0, 36, 1],
            &[c(2)],
        ),
        ok()
    );
    refused(
        &mut m,
        c(5),
        Label::AsidControlMakePool,
        &[31],
        &[c(30), c(1)],
        ErrorDetail::RevokeFirst,
    );
    assert_eq!(call(&mut m, c(2), Label::CNodeRevoke, &[30], &[]), ok());
    // #7: every asid_table entry full (a hostile state, for the check).
    let mut full = m.clone();
    for i in 1..128 {
        full.state.asid_table.insert(i, ROOT_POOL);
    }
    refused(
        &mut full,
        c(5),
        Label::AsidControlMakePool,
        &[31],
        &[c(30), c(2)],
        ErrorDetail::DeleteFirst,
    );
    check(&m);
}

#[test]
fn asid_4_make_pool_resets_with_preemption_points() {
    let mut m = boot();
    assert_eq!(retype(&mut m, ObjectType::Untyped, 12, 30, 1), ok());
    assert_eq!(
        call(
            &mut m,
            c(30),
            Label::UntypedRetype,
            &[ObjectType::Endpoint as u64, 0, 36, 2],
            &[c(2)],
        ),
        ok()
    );
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[36], &[]), ok());
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[37], &[]), ok());
    assert_eq!(watermark(&m, 30), 32);
    // spec: ASID-4, UT-10, SYS-16 — one chunk, a point after it.
    let mut asked = 0;
    let out = call_with(
        &mut m,
        c(5),
        Label::AsidControlMakePool,
        &[31],
        &[c(30), c(2)],
        &mut || {
            asked += 1;
            true
        },
    );
    assert_eq!((out, asked), (Outcome::Preempted, 1));
    assert_eq!(watermark(&m, 30), 0);
    assert_eq!(cap_at(&m, slot(31)), None);
    check(&m);
    // Restarted: no reset left, no point.
    let out = m.entry(&Entry::Syscall(UserActions::default()), &mut || {
        panic!("no preemption point")
    });
    assert_eq!(out, ok());
    assert_eq!(watermark(&m, 30), 4096);
    check(&m);
}

#[test]
fn asid_5_assign_and_asid_1_entry_0_of_pool_0() {
    let mut m = boot();
    assert_eq!(retype(&mut m, ObjectType::VSpace, 0, 44, 2), ok());
    let (v1, v2) = (obj_of(&m, 44), obj_of(&m, 45));
    // spec: ASID-5 — the lowest empty entry; entry 0 of pool 0 never
    // counts and entry 1 holds the root VSpace: ASID 2.
    assert_eq!(
        call(&mut m, c(6), Label::AsidPoolAssign, &[], &[c(44)]),
        ok()
    );
    assert_eq!(
        m.state.objects.get(&v1),
        Some(&Object::VSpace {
            asid: Some(2),
            entries: BTreeMap::new()
        })
    );
    assert_eq!(m.vspace_of_asid(2), Some(v1));
    check(&m);
    // In a new pool, entry 0 is used: ASID 512.
    assert_eq!(retype(&mut m, ObjectType::Untyped, 12, 30, 1), ok());
    assert_eq!(make_pool(&mut m), ok());
    assert_eq!(
        call(&mut m, c(31), Label::AsidPoolAssign, &[], &[c(45)]),
        ok()
    );
    assert_eq!(m.vspace_of_asid(512), Some(v2));
    check(&m);
}

#[test]
fn asid_5_checks_in_order() {
    let mut m = boot();
    assert_eq!(retype(&mut m, ObjectType::VSpace, 0, 44, 1), ok());
    // #1.
    refused(
        &mut m,
        c(6),
        Label::AsidPoolAssign,
        &[],
        &[],
        ErrorDetail::TruncatedMessage,
    );
    // #2: not a VSpace; a VSpace that has an ASID.
    for vs in [c(2), c(3)] {
        refused(
            &mut m,
            c(6),
            Label::AsidPoolAssign,
            &[],
            &[vs],
            ErrorDetail::InvalidCapability { position: 1 },
        );
    }
    // #3: entries 1 … 511 full (a hostile state, for the check): entry 0
    // of pool 0 does not count.
    let mut full = m.clone();
    if let Some(Object::AsidPool { entries }) = full.state.objects.get_mut(&ROOT_POOL) {
        for e in 2..512 {
            entries.insert(e, ROOT_VSPACE);
        }
    }
    refused(
        &mut full,
        c(6),
        Label::AsidPoolAssign,
        &[],
        &[c(44)],
        ErrorDetail::DeleteFirst,
    );
}

#[test]
fn asid_3_vspace_without_asid_cannot_be_copied_or_used() {
    let mut m = tables();
    assert_eq!(retype(&mut m, ObjectType::VSpace, 0, 44, 1), ok());
    assert_eq!(retype(&mut m, ObjectType::PageTable, 0, 46, 1), ok());
    // spec: CAP-9, ASID-3.
    refused(
        &mut m,
        c(2),
        Label::CNodeCopy,
        &[50, 44, 0],
        &[c(2)],
        ErrorDetail::IllegalOperation,
    );
    // spec: VM-4 — mapping through it.
    refused(
        &mut m,
        c(46),
        Label::PageTableMap,
        &[0],
        &[c(44)],
        ErrorDetail::InvalidCapability { position: 1 },
    );
    refused(
        &mut m,
        c(FRAME),
        Label::FrameMap,
        &[V, R, 0],
        &[c(44)],
        ErrorDetail::InvalidCapability { position: 1 },
    );
    // Once assigned: copyable and usable.
    assert_eq!(
        call(&mut m, c(6), Label::AsidPoolAssign, &[], &[c(44)]),
        ok()
    );
    assert_eq!(
        call(&mut m, c(2), Label::CNodeCopy, &[50, 44, 0], &[c(2)]),
        ok()
    );
    assert_eq!(pt_map(&mut m, 46, 0, 50), ok());
    assert_eq!(link(&m, 46), Some((2, 0, 1)));
    check(&m);
}

#[test]
fn der_12_final_vspace_releases_its_asid() {
    let mut m = boot();
    assert_eq!(retype(&mut m, ObjectType::VSpace, 0, 44, 2), ok());
    assert_eq!(retype(&mut m, ObjectType::PageTable, 0, 46, 1), ok());
    assert_eq!(
        call(&mut m, c(6), Label::AsidPoolAssign, &[], &[c(44)]),
        ok()
    );
    assert_eq!(pt_map(&mut m, 46, V, 44), ok());
    let v = obj_of(&m, 44);
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[44], &[]), ok());
    check(&m);
    // spec: DER-12 VSpace, ASID-6 — the entry is cleared; the table's
    // capability still names ASID 2, which names nothing.
    assert!(!m.state.objects.contains_key(&v));
    assert_eq!(m.vspace_of_asid(2), None);
    assert_eq!(link(&m, 46), Some((2, 0, 1)));
    // The ASID goes to the next VSpace assigned.
    assert_eq!(
        call(&mut m, c(6), Label::AsidPoolAssign, &[], &[c(45)]),
        ok()
    );
    assert_eq!(m.vspace_of_asid(2), Some(obj_of(&m, 45)));
    // spec: VM-10 — Unmap after the VSpace died touches no entry of the
    // new VSpace and clears the record; the table can be linked again.
    assert_eq!(call(&mut m, c(46), Label::PageTableUnmap, &[], &[]), ok());
    assert_eq!(link(&m, 46), None);
    assert_eq!(pt_map(&mut m, 46, V, 45), ok());
    check(&m);
}

#[test]
fn der_12_final_asid_pool_takes_the_asids_of_its_vspaces() {
    let mut m = boot();
    assert_eq!(retype(&mut m, ObjectType::Untyped, 12, 30, 1), ok());
    assert_eq!(make_pool(&mut m), ok());
    assert_eq!(retype(&mut m, ObjectType::VSpace, 0, 44, 1), ok());
    assert_eq!(retype(&mut m, ObjectType::PageTable, 0, 46, 1), ok());
    assert_eq!(
        call(&mut m, c(31), Label::AsidPoolAssign, &[], &[c(44)]),
        ok()
    );
    assert_eq!(pt_map(&mut m, 46, V, 44), ok());
    let (pool, v) = (obj_of(&m, 31), obj_of(&m, 44));
    // Revoking the untyped deletes the pool capability (final).
    assert_eq!(call(&mut m, c(2), Label::CNodeRevoke, &[30], &[]), ok());
    check(&m);
    assert!(!m.state.objects.contains_key(&pool));
    assert_eq!(m.state.asid_table.get(&1), None);
    // reading (DER-12 ASIDPool): the VSpace loses its ASID and its links.
    assert_eq!(
        m.state.objects.get(&v),
        Some(&Object::VSpace {
            asid: None,
            entries: BTreeMap::new()
        })
    );
    // It can be assigned again, and its old table linked again after
    // Unmap.
    assert_eq!(
        call(&mut m, c(6), Label::AsidPoolAssign, &[], &[c(44)]),
        ok()
    );
    refused(
        &mut m,
        c(46),
        Label::PageTableMap,
        &[V],
        &[c(44)],
        ErrorDetail::IllegalOperation,
    );
    assert_eq!(call(&mut m, c(46), Label::PageTableUnmap, &[], &[]), ok());
    assert_eq!(pt_map(&mut m, 46, V, 44), ok());
    check(&m);
}

// ----- page tables -----------------------------------------------------------

#[test]
fn vm_9_page_table_map_links_at_the_first_empty_level() {
    let m = tables();
    let (t0, t1, t2) = (obj_of(&m, PT0), obj_of(&m, PT1), obj_of(&m, PT2));
    // spec: VM-9, VM-3 — levels 1, 2, 3; each capability records its
    // table's one link, vaddr rounded to the parent entry.
    assert_eq!(link(&m, PT0), Some((1, 0, 1)));
    assert_eq!(link(&m, PT1), Some((1, V, 2)));
    assert_eq!(link(&m, PT2), Some((1, V, 3)));
    assert_eq!(
        entries(&m, ROOT_VSPACE),
        BTreeMap::from([(0, Pte::Table(t0))])
    );
    assert_eq!(entries(&m, t0), BTreeMap::from([(2, Pte::Table(t1))]));
    assert_eq!(entries(&m, t1), BTreeMap::from([(0, Pte::Table(t2))]));
    assert!(entries(&m, t2).is_empty());
}

#[test]
fn vm_9_checks_in_order() {
    let mut m = tables();
    assert_eq!(retype(&mut m, ObjectType::PageTable, 0, 46, 1), ok());
    assert_eq!(retype(&mut m, ObjectType::VSpace, 0, 44, 1), ok());
    let cases: [(u64, Vec<u64>, Vec<u64>, ErrorDetail); 7] = [
        // #1.
        (46, vec![], vec![c(3)], ErrorDetail::TruncatedMessage),
        (46, vec![V], vec![], ErrorDetail::TruncatedMessage),
        // #2 before #3: not a VSpace; a VSpace without an ASID.
        (
            PT0,
            vec![V],
            vec![c(2)],
            ErrorDetail::InvalidCapability { position: 1 },
        ),
        (
            PT0,
            vec![V],
            vec![c(44)],
            ErrorDetail::InvalidCapability { position: 1 },
        ),
        // #3 before #4: already linked (map twice).
        (
            PT0,
            vec![USER_TOP],
            vec![c(3)],
            ErrorDetail::IllegalOperation,
        ),
        // #4.
        (
            46,
            vec![USER_TOP],
            vec![c(3)],
            ErrorDetail::InvalidArgument { index: 0 },
        ),
        // #5: links down to level 3.
        (46, vec![V + 0x1000], vec![c(3)], ErrorDetail::DeleteFirst),
    ];
    for (pt, words, extra, e) in cases {
        refused(&mut m, c(pt), Label::PageTableMap, &words, &extra, e);
    }
    // #5: a mapping on the way (a 2 MiB device frame at level 2).
    assert_eq!(dev_retype(&mut m, ObjectType::Frame2M, 47), ok());
    assert_eq!(frame_map(&mut m, 47, V + 0x20_0000, R, 0, 3), ok());
    refused(
        &mut m,
        c(46),
        Label::PageTableMap,
        &[V + 0x20_0000],
        &[c(3)],
        ErrorDetail::DeleteFirst,
    );
    // The highest user address is fine.
    assert_eq!(pt_map(&mut m, 46, USER_TOP - 1, 3), ok());
    assert_eq!(link(&m, 46), Some((1, 255 << 39, 1)));
    check(&m);
}

#[test]
fn vm_10_page_table_unmap_empties_the_table() {
    let mut m = tables();
    let (t1, t2) = (obj_of(&m, PT1), obj_of(&m, PT2));
    assert_eq!(frame_map(&mut m, FRAME, V, RW, 0, 3), ok());
    assert_eq!(call(&mut m, c(PT2), Label::PageTableUnmap, &[], &[]), ok());
    check(&m);
    // spec: VM-10 — the parent entry and the table's entries emptied, the
    // record cleared; the frame keeps its stale record.
    assert!(entries(&m, t1).is_empty());
    assert!(entries(&m, t2).is_empty());
    assert_eq!(link(&m, PT2), None);
    assert_eq!(mapping(&m, FRAME), Some((1, V)));
    // spec: VM-7 — its Unmap is harmless.
    assert_eq!(call(&mut m, c(FRAME), Label::FrameUnmap, &[], &[]), ok());
    assert_eq!(mapping(&m, FRAME), None);
    // Linked again, empty; Unmap of an unlinked table does nothing more.
    assert_eq!(pt_map(&mut m, PT2, V, 3), ok());
    assert_eq!(call(&mut m, c(PT1), Label::PageTableUnmap, &[], &[]), ok());
    assert_eq!(call(&mut m, c(PT1), Label::PageTableUnmap, &[], &[]), ok());
    check(&m);
}

#[test]
fn der_12_page_table_deletion_unlinks_it() {
    let mut m = tables();
    let (t0, t1) = (obj_of(&m, PT0), obj_of(&m, PT1));
    // spec: CAP-9 — PageTables cannot be copied.
    refused(
        &mut m,
        c(2),
        Label::CNodeCopy,
        &[50, PT1, 0],
        &[c(2)],
        ErrorDetail::IllegalOperation,
    );
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[PT1], &[]), ok());
    assert!(!m.state.objects.contains_key(&t1));
    assert!(entries(&m, t0).is_empty());
    // PT2 is linked from nothing now but keeps its record.
    assert_eq!(link(&m, PT2), Some((1, V, 3)));
    check(&m);
}

// ----- frames ----------------------------------------------------------------

#[test]
fn vm_6_frame_map_and_vm_5_rights_and_attributes() {
    let mut m = tables();
    let t2 = obj_of(&m, PT2);
    let f = obj_of(&m, FRAME);
    assert_eq!(frame_map(&mut m, FRAME, V, RW, 0, 3), ok());
    assert_eq!(mapping(&m, FRAME), Some((1, V)));
    assert_eq!(
        entries(&m, t2).get(&0),
        Some(&Pte::Page {
            frame: f,
            write: true,
            execute: false,
            memory: MemoryType::WriteBack
        })
    );
    check(&m);
    // spec: VM-3 — one Frame capability per mapping: a copy (unmapped)
    // maps the frame again. Read-only, executable, uncached, at the next
    // page.
    assert_eq!(
        call(&mut m, c(2), Label::CNodeCopy, &[50, FRAME, 15], &[c(2)]),
        ok()
    );
    assert_eq!(mapping(&m, 50), None);
    assert_eq!(
        frame_map(&mut m, 50, V + 0x1000, R, EXEC | UNCACHED, 3),
        ok()
    );
    assert_eq!(
        entries(&m, t2).get(&1),
        Some(&Pte::Page {
            frame: f,
            write: false,
            execute: true,
            memory: MemoryType::Uncached
        })
    );
    // Effective rights: a read-only capability asked for Read|Write maps
    // read-only.
    assert_eq!(
        call(&mut m, c(2), Label::CNodeCopy, &[51, FRAME, 1], &[c(2)]),
        ok()
    );
    assert_eq!(frame_map(&mut m, 51, V + 0x2000, RW, EXEC, 3), ok());
    assert!(matches!(
        entries(&m, t2).get(&2),
        Some(Pte::Page {
            write: false,
            execute: true,
            ..
        })
    ));
    // A device frame is Device whatever UNCACHED says.
    assert_eq!(dev_retype(&mut m, ObjectType::Frame4K, 52), ok());
    assert_eq!(frame_map(&mut m, 52, V + 0x3000, RW, 0, 3), ok());
    assert!(matches!(
        entries(&m, t2).get(&3),
        Some(Pte::Page {
            write: true,
            execute: false,
            memory: MemoryType::Device,
            ..
        })
    ));
    check(&m);
    // spec: VM-8.
    assert_eq!(
        call(&mut m, c(FRAME), Label::FrameGetAddress, &[], &[]),
        Outcome::Result(Ok(vec![f]))
    );
}

#[test]
fn vm_6_checks_in_order() {
    let mut m = tables();
    assert_eq!(retype(&mut m, ObjectType::VSpace, 0, 44, 1), ok());
    assert_eq!(dev_retype(&mut m, ObjectType::Frame4K, 45), ok());
    assert_eq!(
        call(&mut m, c(2), Label::CNodeCopy, &[46, FRAME, 2], &[c(2)]),
        ok()
    );
    assert_eq!(
        call(&mut m, c(2), Label::CNodeCopy, &[47, FRAME, 3], &[c(2)]),
        ok()
    );
    assert_eq!(frame_map(&mut m, 47, V, RW, 0, 3), ok());
    let inv = ErrorDetail::InvalidArgument { index: 0 };
    let bad_rights = ErrorDetail::InvalidArgument { index: 1 };
    let bad_attrs = ErrorDetail::InvalidArgument { index: 2 };
    let missing = |bits| ErrorDetail::FailedLookup {
        position: 0,
        failure: fl(K::MissingCapability, bits, 0),
    };
    let cases: Vec<(u64, Vec<u64>, Vec<u64>, ErrorDetail)> = vec![
        // #1.
        (FRAME, vec![V, R], vec![c(3)], ErrorDetail::TruncatedMessage),
        (FRAME, vec![V, R, 0], vec![], ErrorDetail::TruncatedMessage),
        // #2 before #3.
        (
            47,
            vec![V, R, 0],
            vec![c(2)],
            ErrorDetail::InvalidCapability { position: 1 },
        ),
        (
            47,
            vec![V, R, 0],
            vec![c(44)],
            ErrorDetail::InvalidCapability { position: 1 },
        ),
        // #3 before #4: already mapped (map twice).
        (47, vec![V, 4, 0], vec![c(3)], ErrorDetail::IllegalOperation),
        // #4 before #5: Grant is not a mapping right.
        (FRAME, vec![V, 4, 4], vec![c(3)], bad_rights),
        // #5 before #6.
        (FRAME, vec![V + 1, R, 4], vec![c(3)], bad_attrs),
        // #6 before #7: misaligned.
        (
            FRAME,
            vec![USER_TOP + 1, R, 0],
            vec![c(3)],
            ErrorDetail::AlignmentError,
        ),
        // #7 before #8: beyond USER_TOP (no overflow at the top).
        (FRAME, vec![USER_TOP, 2, 0], vec![c(3)], inv),
        (FRAME, vec![!0xfff, R, 0], vec![c(3)], inv),
        // #8 before #9: no Read (asked, or in the capability).
        (FRAME, vec![V, 2, EXEC], vec![c(3)], bad_rights),
        (FRAME, vec![V, 0, 0], vec![c(3)], bad_rights),
        (46, vec![V, RW, 0], vec![c(3)], bad_rights),
        // #9 before #10: W^X; executable device memory.
        (FRAME, vec![1 << 39, RW, EXEC], vec![c(3)], bad_attrs),
        (45, vec![1 << 39, R, EXEC], vec![c(3)], bad_attrs),
        // #10: missing tables at levels 0, 1, 2.
        (FRAME, vec![1 << 39, RW, 0], vec![c(3)], missing(39)),
        (FRAME, vec![1 << 30, RW, 0], vec![c(3)], missing(30)),
        (FRAME, vec![V + (1 << 21), RW, 0], vec![c(3)], missing(21)),
        // #11: the entry is taken (map twice at one address).
        (FRAME, vec![V, R, 0], vec![c(3)], ErrorDetail::DeleteFirst),
    ];
    for (f, words, extra, e) in cases {
        refused(&mut m, c(f), Label::FrameMap, &words, &extra, e);
    }
    // #10: a mapping on the way (a 2 MiB device frame at level 2).
    assert_eq!(dev_retype(&mut m, ObjectType::Frame2M, 48), ok());
    // A 2 MiB frame must be 2 MiB aligned.
    refused(
        &mut m,
        c(48),
        Label::FrameMap,
        &[V + 0x1000, R, 0],
        &[c(3)],
        ErrorDetail::AlignmentError,
    );
    assert_eq!(frame_map(&mut m, 48, V + (1 << 21), R, 0, 3), ok());
    refused(
        &mut m,
        c(FRAME),
        Label::FrameMap,
        &[V + (1 << 21) + 0x1000, R, 0],
        &[c(3)],
        ErrorDetail::DeleteFirst,
    );
    check(&m);
}

#[test]
fn vm_7_unmap_removes_only_its_own_frame() {
    let mut m = tables();
    let t2 = obj_of(&m, PT2);
    assert_eq!(frame_map(&mut m, FRAME, V, RW, 0, 3), ok());
    assert_eq!(call(&mut m, c(FRAME), Label::FrameUnmap, &[], &[]), ok());
    assert!(entries(&m, t2).is_empty());
    assert_eq!(mapping(&m, FRAME), None);
    check(&m);
    // Stale record: the table was unlinked and relinked, another frame
    // now maps V; the stale Unmap leaves it alone.
    assert_eq!(frame_map(&mut m, FRAME, V, RW, 0, 3), ok());
    assert_eq!(call(&mut m, c(PT2), Label::PageTableUnmap, &[], &[]), ok());
    assert_eq!(pt_map(&mut m, PT2, V, 3), ok());
    assert_eq!(retype(&mut m, ObjectType::Frame4K, 0, 50, 1), ok());
    assert_eq!(frame_map(&mut m, 50, V, RW, 0, 3), ok());
    assert_eq!(call(&mut m, c(FRAME), Label::FrameUnmap, &[], &[]), ok());
    assert_eq!(
        entries(&m, t2)
            .get(&0)
            .map(|p| matches!(p, Pte::Page { frame, .. } if *frame == obj_of(&m, 50))),
        Some(true)
    );
    check(&m);
    // Unmap of an unmapped frame: nothing.
    assert_eq!(call(&mut m, c(FRAME), Label::FrameUnmap, &[], &[]), ok());
}

#[test]
fn der_12_frame_deletion_removes_its_mapping() {
    let mut m = tables();
    let t2 = obj_of(&m, PT2);
    let f = obj_of(&m, FRAME);
    assert_eq!(
        call(&mut m, c(2), Label::CNodeCopy, &[50, FRAME, 3], &[c(2)]),
        ok()
    );
    assert_eq!(frame_map(&mut m, 50, V, RW, 0, 3), ok());
    // Not final: the mapping goes, the frame stays.
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[50], &[]), ok());
    assert!(entries(&m, t2).is_empty());
    assert!(m.state.objects.contains_key(&f));
    check(&m);
    // Final: both go.
    assert_eq!(frame_map(&mut m, FRAME, V, RW, 0, 3), ok());
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[FRAME], &[]), ok());
    assert!(entries(&m, t2).is_empty());
    assert!(!m.state.objects.contains_key(&f));
    check(&m);
}

#[test]
fn vm_7_unmap_after_the_vspace_died() {
    let mut m = boot();
    assert_eq!(retype(&mut m, ObjectType::VSpace, 0, 44, 1), ok());
    assert_eq!(retype(&mut m, ObjectType::PageTable, 0, 45, 3), ok());
    assert_eq!(retype(&mut m, ObjectType::Frame4K, 0, FRAME, 1), ok());
    assert_eq!(
        call(&mut m, c(6), Label::AsidPoolAssign, &[], &[c(44)]),
        ok()
    );
    for pt in [45, 46, 47] {
        assert_eq!(pt_map(&mut m, pt, V, 44), ok());
    }
    assert_eq!(frame_map(&mut m, FRAME, V, RW, 0, 44), ok());
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[44], &[]), ok());
    check(&m);
    for (i, label) in [
        (FRAME, Label::FrameUnmap),
        (47, Label::PageTableUnmap),
        (45, Label::PageTableUnmap),
    ] {
        assert_eq!(call(&mut m, c(i), label, &[], &[]), ok());
        check(&m);
    }
    assert_eq!(mapping(&m, FRAME), None);
    assert_eq!(link(&m, 45), None);
    assert!(entries(&m, obj_of(&m, 47)).is_empty());
}

// ----- the checkers ------------------------------------------------------------

#[test]
fn inv_32_33_34_35_detect_broken_address_spaces() {
    let mut m = tables();
    assert_eq!(frame_map(&mut m, FRAME, V, RW, 0, 3), ok());
    let t2 = obj_of(&m, PT2);
    check(&m);
    // INV-32: a mapping no capability records.
    let mut s = m.state.clone();
    if let Some(Slot {
        cap: Cap::Frame { mapping, .. },
        ..
    }) = s.slots.get_mut(&slot(FRAME))
    {
        *mapping = None;
    }
    assert_eq!(inv_32(&s, &AssumeZero).unwrap_err().rule, "INV-32");
    // INV-33 / VM-11: writable and executable; a device frame cached.
    let mut s = m.state.clone();
    if let Some(Object::PageTable { entries }) = s.objects.get_mut(&t2)
        && let Some(Pte::Page { execute, .. }) = entries.get_mut(&0)
    {
        *execute = true;
    }
    assert_eq!(inv_33(&s, &AssumeZero).unwrap_err().rule, "INV-33");
    assert_eq!(inv_33(&m.state, &AssumeZero), Ok(()));
    // INV-34: a link not recorded; a table linked twice; a mapping in a
    // VSpace.
    let mut s = m.state.clone();
    if let Some(Slot {
        cap: Cap::PageTable { mapping, .. },
        ..
    }) = s.slots.get_mut(&slot(PT2))
    {
        *mapping = Some((1, V, 2));
    }
    assert_eq!(inv_34(&s, &AssumeZero).unwrap_err().rule, "INV-34");
    let mut s = m.state.clone();
    if let Some(Object::VSpace { entries, .. }) = s.objects.get_mut(&ROOT_VSPACE) {
        entries.insert(1, Pte::Table(t2));
    }
    assert_eq!(inv_34(&s, &AssumeZero).unwrap_err().rule, "INV-34");
    let mut s = m.state.clone();
    if let Some(Object::VSpace { entries, .. }) = s.objects.get_mut(&ROOT_VSPACE) {
        entries.insert(
            1,
            Pte::Page {
                frame: obj_of(&m, FRAME),
                write: false,
                execute: false,
                memory: MemoryType::WriteBack,
            },
        );
    }
    assert_eq!(inv_34(&s, &AssumeZero).unwrap_err().rule, "INV-34");
    // INV-35: the table and the pool disagree; a pool entry and the
    // VSpace's ASID disagree.
    let mut s = m.state.clone();
    s.asid_table.insert(1, ROOT_POOL);
    assert_eq!(inv_35(&s, &AssumeZero).unwrap_err().rule, "INV-35");
    let mut s = m.state.clone();
    if let Some(Object::VSpace { asid, .. }) = s.objects.get_mut(&ROOT_VSPACE) {
        *asid = Some(3);
    }
    assert_eq!(inv_35(&s, &AssumeZero).unwrap_err().rule, "INV-35");
    let mut s = m.state.clone();
    s.asid_table.clear();
    assert_eq!(inv_35(&s, &AssumeZero).unwrap_err().rule, "INV-35");
}

// ----- random sequences --------------------------------------------------------

/// Boot; page tables in 20 … 27, 4 KiB frames in 28 … 33, VSpaces
/// without ASIDs in 34 … 36, 4 KiB untypeds in 37 and 38, a notification
/// in 39, device frames (2 MiB, 4 KiB) in 40 and 41.
fn vm_playground() -> Model {
    let mut m = boot();
    assert_eq!(retype(&mut m, ObjectType::PageTable, 0, 20, 8), ok());
    assert_eq!(retype(&mut m, ObjectType::Frame4K, 0, 28, 6), ok());
    assert_eq!(retype(&mut m, ObjectType::VSpace, 0, 34, 3), ok());
    assert_eq!(retype(&mut m, ObjectType::Untyped, 12, 37, 2), ok());
    assert_eq!(retype(&mut m, ObjectType::Notification, 0, 39, 1), ok());
    assert_eq!(dev_retype(&mut m, ObjectType::Frame2M, 40), ok());
    assert_eq!(dev_retype(&mut m, ObjectType::Frame4K, 41), ok());
    check(&m);
    m
}

fn pick(r: &mut Rng, xs: &[u64]) -> u64 {
    xs[r.below(xs.len() as u64) as usize]
}

fn random_vm_invocation(r: &mut Rng) -> Invocation {
    const VADDRS: [u64; 9] = [
        0,
        0x1000,
        0x20_0000,
        0x4000_0000,
        0x4020_1000,
        1 << 39,
        USER_TOP - 0x20_0000,
        USER_TOP - 0x1000,
        USER_TOP,
    ];
    let vspaces = [3, 3, 34, 35, 36, 46, 47];
    let frames = [28, 29, 30, 31, 32, 33, 40, 41, 50, 51, 52, 53];
    let (cptr, label, words, extra) = match r.below(20) {
        0..=3 => (
            c(20 + r.below(8)),
            Label::PageTableMap,
            vec![pick(r, &VADDRS)],
            vec![c(pick(r, &vspaces))],
        ),
        4 => (c(20 + r.below(8)), Label::PageTableUnmap, vec![], vec![]),
        5..=8 => (
            c(pick(r, &frames)),
            Label::FrameMap,
            vec![pick(r, &VADDRS), r.below(4), r.below(4)],
            vec![c(pick(r, &vspaces))],
        ),
        9 => (c(pick(r, &frames)), Label::FrameUnmap, vec![], vec![]),
        10 => (
            c(2),
            Label::CNodeCopy,
            vec![50 + r.below(4), pick(r, &[28, 29, 40, 41, 50]), r.below(4)],
            vec![c(2)],
        ),
        11 => (
            c(2),
            Label::CNodeCopy,
            vec![46 + r.below(2), 34 + r.below(3), 0],
            vec![c(2)],
        ),
        12 => (
            c(5),
            Label::AsidControlMakePool,
            vec![44 + r.below(2)],
            vec![c(37 + r.below(2)), c(2)],
        ),
        13 => (
            c(pick(r, &[6, 44, 45])),
            Label::AsidPoolAssign,
            vec![],
            vec![c(34 + r.below(3))],
        ),
        14 => (
            c(2),
            Label::CNodeDelete,
            vec![pick(r, &[20, 21, 22, 28, 34, 35, 44, 46, 50, 51, 60])],
            vec![],
        ),
        15 => (c(2), Label::CNodeRevoke, vec![37 + r.below(2)], vec![]),
        16 => (
            c(4),
            Label::IrqControlGet,
            vec![40 + r.below(3), r.below(2), 60 + r.below(2)],
            vec![c(2)],
        ),
        17 => (
            c(60 + r.below(2)),
            Label::IrqHandlerSetNotification,
            vec![],
            vec![c(39)],
        ),
        18 => (
            c(60 + r.below(2)),
            pick_label(r, &[Label::IrqHandlerAck, Label::IrqHandlerClear]),
            vec![],
            vec![],
        ),
        _ => (c(pick(r, &frames)), Label::FrameGetAddress, vec![], vec![]),
    };
    Invocation {
        cptr,
        label: label.raw(),
        words,
        extra,
    }
}

fn pick_label(r: &mut Rng, xs: &[Label]) -> Label {
    xs[r.below(xs.len() as u64) as usize]
}

#[test]
fn inv_32_to_36_hold_along_random_vm_and_irq_sequences_and_tp_3() {
    let mut successes = BTreeMap::new();
    for seed in 1..=40u64 {
        let mut r = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
        let mut m = vm_playground();
        for step in 0..200 {
            if r.below(6) == 0 {
                let line = 40 + r.below(3);
                m.entry(&Entry::Interrupt(line), &mut || false);
                let v = check_all(&m.state, &AssumeZero);
                assert!(v.is_empty(), "seed {seed} step {step} irq {line}: {v:#?}");
            }
            let inv = random_vm_invocation(&mut r);
            let before = m.clone();
            let mut oracle = Rng(r.next() | 1);
            let out = m.invoke(&inv, &mut || oracle.below(3) == 0);
            let v = check_all(&m.state, &AssumeZero);
            assert!(
                v.is_empty(),
                "seed {seed} step {step} {inv:?} -> {out:?}: {v:#?}"
            );
            match out {
                Outcome::Result(Ok(_)) => *successes.entry(inv.label).or_insert(0) += 1,
                // spec: TP-3.
                Outcome::Result(Err(_)) if before.state.pending_delete.is_none() => {
                    let mut expected = strip(&before);
                    if let Some(Object::Tcb(t)) = expected.objects.get_mut(&ROOT_TCB) {
                        t.state = ThreadState::Running;
                    }
                    assert_eq!(strip(&m), expected, "seed {seed} step {step} {inv:?}");
                }
                _ => {}
            }
            // A CapFault with no fault endpoint stops the root thread
            // (FLT-3); wake it by hand to go on.
            if matches!(out, Outcome::Fault(_))
                && let Some(Object::Tcb(t)) = m.state.objects.get_mut(&ROOT_TCB)
                && t.state == ThreadState::Inactive
            {
                t.state = ThreadState::Running;
                m.state.current = Some(ROOT_TCB);
            }
            // Finish whatever a preemption left (a Restart caller
            // re-executes its call).
            let mut guard = 0;
            while m.state_of(ROOT_TCB) == Some(ThreadState::Restart) {
                m.entry(&Entry::Syscall(UserActions::default()), &mut || false);
                check(&m);
                guard += 1;
                assert!(guard < 10);
            }
        }
    }
    // Every kind of invocation succeeded at some point.
    for label in [
        Label::PageTableMap,
        Label::PageTableUnmap,
        Label::FrameMap,
        Label::FrameUnmap,
        Label::AsidControlMakePool,
        Label::AsidPoolAssign,
        Label::IrqControlGet,
        Label::IrqHandlerSetNotification,
    ] {
        assert!(
            successes.get(&label.raw()).copied().unwrap_or(0) > 0,
            "{label:?} never succeeded: {successes:?}"
        );
    }
}
