//! Address spaces (spec: VM-1 … VM-11, ASID-1 … ASID-6).

use super::{T, Test};
use crate::sys::*;
use crate::threads;
use crate::{check, check_eq};
use abi::error::{ErrorDetail as E, LookupFailure, LookupFailureKind};
use abi::fault::FaultLabel;
use abi::invocation::Label;
use abi::object::ObjectType as O;
use abi::rights::Rights;
use abi::vm::VmAttributes as A;

pub const TESTS: &[Test] = &[
    ("vm_6_map_write_read", map_write_read),
    ("vm_8_get_address", get_address),
    ("vm_7_unmap_then_map_elsewhere_keeps_contents", unmap_remap),
    ("vm_6_mapped_capability_cannot_map_again", map_twice),
    ("vm_6_occupied_entry", occupied_entry),
    ("vm_6_misaligned_address", misaligned),
    ("vm_6_above_user_top", above_top),
    ("vm_6_unknown_rights_and_attributes", unknown_bits),
    ("vm_6_no_read_right", no_read),
    ("vm_11_write_and_execute_refused", w_x),
    ("vm_6_missing_table", missing_table),
    ("vm_4_vspace_without_asid", no_asid),
    ("vm_9_page_table_map_rules", table_map),
    ("vm_10_table_unmap_drops_translations", table_unmap),
    ("asid_5_assign_rules", assign),
    ("asid_4_make_pool_rules", make_pool),
    ("vm_2_large_page", large_page),
    (
        "vm_5_read_only_mapping_faults_writes",
        read_only_write_faults,
    ),
    ("vm_5_copy_cannot_raise_mapping_rights", copy_no_raise),
];

fn fresh_vspace(s: &mut Suite) -> Result<u64, ()> {
    let vs = s.retype(O::VSpace, 0, 1);
    check!(call(ASID_POOL, Label::AsidPoolAssign, &[], &[vs]).is_ok());
    Ok(vs)
}

fn map_write_read(s: &mut Suite) -> T {
    let (_, va) = s.mapped_frame();
    check_eq!(peek(va), 0);
    poke(va, 0x1122_3344_5566_7788);
    poke(va + 4088, 7);
    check_eq!(peek(va), 0x1122_3344_5566_7788);
    check_eq!(peek(va + 4088), 7);
    Ok(())
}

fn get_address(s: &mut Suite) -> T {
    let f1 = s.retype(O::Frame4K, 0, 1);
    let f2 = s.retype(O::Frame4K, 0, 1);
    let a1 = call(f1, Label::FrameGetAddress, &[], &[]).map(|w| w.as_slice()[0]);
    let a2 = call(f2, Label::FrameGetAddress, &[], &[]).map(|w| w.as_slice()[0]);
    let (Ok(a1), Ok(a2)) = (a1, a2) else {
        check!(false);
        return Err(());
    };
    check!(a1 != 0 && a1 % 4096 == 0 && a2 % 4096 == 0 && a1 != a2);
    // A copy names the same frame.
    let c = s.copy(f1, Rights::READ);
    check_eq!(
        call(c, Label::FrameGetAddress, &[], &[]).map(|w| w.as_slice()[0]),
        Ok(a1)
    );
    Ok(())
}

fn unmap_remap(s: &mut Suite) -> T {
    let (f, va) = s.mapped_frame();
    poke(va + 16, 99);
    check!(call(f, Label::FrameUnmap, &[], &[]).is_ok());
    // Unmapping twice is harmless (VM-7).
    check!(call(f, Label::FrameUnmap, &[], &[]).is_ok());
    let va2 = s.scratch();
    check!(map(f, MY_VSPACE, va2, Rights::READ_WRITE, A::NONE).is_ok());
    check_eq!(peek(va2 + 16), 99);
    Ok(())
}

fn map_twice(s: &mut Suite) -> T {
    let (f, _) = s.mapped_frame();
    let va = s.scratch();
    check_eq!(
        map(f, MY_VSPACE, va, Rights::READ_WRITE, A::NONE),
        kerr(E::IllegalOperation)
    );
    // A copy of the capability maps the frame a second time.
    let c = s.copy(f, Rights::READ_WRITE);
    check!(map(c, MY_VSPACE, va, Rights::READ, A::NONE).is_ok());
    Ok(())
}

fn occupied_entry(s: &mut Suite) -> T {
    let (_, va) = s.mapped_frame();
    let f2 = s.retype(O::Frame4K, 0, 1);
    check_eq!(
        map(f2, MY_VSPACE, va, Rights::READ_WRITE, A::NONE),
        kerr(E::DeleteFirst)
    );
    Ok(())
}

fn misaligned(s: &mut Suite) -> T {
    let f = s.retype(O::Frame4K, 0, 1);
    let va = s.scratch();
    check_eq!(
        map(f, MY_VSPACE, va + 8, Rights::READ_WRITE, A::NONE),
        kerr(E::AlignmentError)
    );
    let big = s.retype(O::Frame2M, 0, 1);
    check_eq!(
        map(
            big,
            MY_VSPACE,
            SCRATCH_BASE + 0x1000,
            Rights::READ_WRITE,
            A::NONE
        ),
        kerr(E::AlignmentError)
    );
    Ok(())
}

fn above_top(s: &mut Suite) -> T {
    let f = s.retype(O::Frame4K, 0, 1);
    check_eq!(
        map(f, MY_VSPACE, 1 << 47, Rights::READ_WRITE, A::NONE),
        kerr(E::InvalidArgument { index: 0 })
    );
    check_eq!(
        map(
            f,
            MY_VSPACE,
            0xffff_8000_0000_0000,
            Rights::READ_WRITE,
            A::NONE
        ),
        kerr(E::InvalidArgument { index: 0 })
    );
    Ok(())
}

fn unknown_bits(s: &mut Suite) -> T {
    let f = s.retype(O::Frame4K, 0, 1);
    let va = s.scratch();
    check_eq!(
        call(f, Label::FrameMap, &[va, 0x13, 0], &[MY_VSPACE]),
        kerr(E::InvalidArgument { index: 1 })
    );
    check_eq!(
        call(f, Label::FrameMap, &[va, 3, 4], &[MY_VSPACE]),
        kerr(E::InvalidArgument { index: 2 })
    );
    check_eq!(
        call(f, Label::FrameMap, &[va, 3], &[MY_VSPACE]),
        kerr(E::TruncatedMessage)
    );
    Ok(())
}

fn no_read(s: &mut Suite) -> T {
    let f = s.retype(O::Frame4K, 0, 1);
    let va = s.scratch();
    check_eq!(
        map(f, MY_VSPACE, va, Rights::WRITE, A::NONE),
        kerr(E::InvalidArgument { index: 1 })
    );
    // The capability's rights count too: a Write-only copy cannot be
    // mapped readable.
    let wo = s.copy(f, Rights::WRITE);
    check_eq!(
        map(wo, MY_VSPACE, va, Rights::READ_WRITE, A::NONE),
        kerr(E::InvalidArgument { index: 1 })
    );
    Ok(())
}

fn w_x(s: &mut Suite) -> T {
    let f = s.retype(O::Frame4K, 0, 1);
    let va = s.scratch();
    check_eq!(
        map(f, MY_VSPACE, va, Rights::READ_WRITE, A::EXECUTE),
        kerr(E::InvalidArgument { index: 2 })
    );
    // Read + execute is fine.
    check!(map(f, MY_VSPACE, va, Rights::READ, A::EXECUTE).is_ok());
    Ok(())
}

fn missing_table(s: &mut Suite) -> T {
    let f = s.retype(O::Frame4K, 0, 1);
    // 512 GiB: level-0 entry 1 is empty; the missing table would
    // translate 39 bits.
    check_eq!(
        map(f, MY_VSPACE, 1 << 39, Rights::READ_WRITE, A::NONE),
        kerr(E::FailedLookup {
            position: 0,
            failure: LookupFailure {
                kind: LookupFailureKind::MissingCapability,
                bits_left: 39,
                bits_found: 0,
            },
        })
    );
    Ok(())
}

fn no_asid(s: &mut Suite) -> T {
    let vs = s.retype(O::VSpace, 0, 1);
    let f = s.retype(O::Frame4K, 0, 1);
    check_eq!(
        map(f, vs, 0x40_0000, Rights::READ, A::NONE),
        kerr(E::InvalidCapability { position: 1 })
    );
    let pt = s.retype(O::PageTable, 0, 1);
    check_eq!(
        call(pt, Label::PageTableMap, &[0], &[vs]),
        kerr(E::InvalidCapability { position: 1 })
    );
    Ok(())
}

fn table_map(s: &mut Suite) -> T {
    let vs = fresh_vspace(s)?;
    let pts = s.retype(O::PageTable, 0, 4);
    for i in 0..3 {
        check!(call(pts + i, Label::PageTableMap, &[0x40_0000], &[vs]).is_ok());
    }
    check_eq!(
        call(pts, Label::PageTableMap, &[0x40_0000], &[vs]),
        kerr(E::IllegalOperation)
    );
    // Links all the way down: a fourth table has nowhere to go.
    check_eq!(
        call(pts + 3, Label::PageTableMap, &[0x40_0000], &[vs]),
        kerr(E::DeleteFirst)
    );
    check_eq!(
        call(pts + 3, Label::PageTableMap, &[1 << 47], &[vs]),
        kerr(E::InvalidArgument { index: 0 })
    );
    check_eq!(
        call(pts + 3, Label::PageTableMap, &[], &[vs]),
        kerr(E::TruncatedMessage)
    );
    // Page tables cannot be copied (CAP-9).
    let d = s.slot();
    check!(call(MY_CNODE, Label::CNodeCopy, &[d, pts, 15], &[MY_CNODE]).is_err());
    // A frame maps below them.
    let f = s.retype(O::Frame4K, 0, 1);
    check!(map(f, vs, 0x40_0000, Rights::READ, A::NONE).is_ok());
    Ok(())
}

fn table_unmap(s: &mut Suite) -> T {
    // A level-3 table of the suite's own space, in the third GiB.
    let base = 0x8000_0000;
    let pts = s.retype(O::PageTable, 0, 2);
    check!(call(pts, Label::PageTableMap, &[base], &[MY_VSPACE]).is_ok());
    check!(call(pts + 1, Label::PageTableMap, &[base], &[MY_VSPACE]).is_ok());
    let f = s.retype(O::Frame4K, 0, 1);
    check!(map(f, MY_VSPACE, base, Rights::READ_WRITE, A::NONE).is_ok());
    poke(base, 5);
    check_eq!(peek(base), 5);
    check!(call(pts + 1, Label::PageTableUnmap, &[], &[]).is_ok());
    // The frame's record is stale now: mapping it again needs an Unmap
    // first (VM-6 check 3), which is harmless (VM-7).
    let f2 = s.retype(O::Frame4K, 0, 1);
    check_eq!(
        map(f2, MY_VSPACE, base, Rights::READ_WRITE, A::NONE),
        kerr(E::FailedLookup {
            position: 0,
            failure: LookupFailure {
                kind: LookupFailureKind::MissingCapability,
                bits_left: 21,
                bits_found: 0,
            },
        })
    );
    check!(call(f, Label::FrameUnmap, &[], &[]).is_ok());
    // Relinked, the table is empty.
    check!(call(pts + 1, Label::PageTableMap, &[base], &[MY_VSPACE]).is_ok());
    check!(map(f, MY_VSPACE, base + 4096, Rights::READ_WRITE, A::NONE).is_ok());
    check_eq!(peek(base + 4096), 5);
    Ok(())
}

fn assign(s: &mut Suite) -> T {
    let vs = fresh_vspace(s)?;
    check_eq!(
        call(ASID_POOL, Label::AsidPoolAssign, &[], &[vs]),
        kerr(E::InvalidCapability { position: 1 })
    );
    let f = s.retype(O::Frame4K, 0, 1);
    check_eq!(
        call(ASID_POOL, Label::AsidPoolAssign, &[], &[f]),
        kerr(E::InvalidCapability { position: 1 })
    );
    check_eq!(
        call(ASID_POOL, Label::AsidPoolAssign, &[], &[]),
        kerr(E::TruncatedMessage)
    );
    Ok(())
}

fn make_pool(s: &mut Suite) -> T {
    let big = s.retype(O::Untyped, 13, 1);
    let d = s.slot();
    check_eq!(
        call(
            ASID_CONTROL,
            Label::AsidControlMakePool,
            &[d],
            &[big, MY_CNODE]
        ),
        kerr(E::InvalidCapability { position: 1 })
    );
    let ut = s.retype(O::Untyped, 12, 1);
    check_eq!(
        call(ASID_CONTROL, Label::AsidControlMakePool, &[d], &[ut, ut]),
        kerr(E::InvalidCapability { position: 2 })
    );
    let e = s.retype(O::Endpoint, 0, 1);
    check_eq!(
        call(
            ASID_CONTROL,
            Label::AsidControlMakePool,
            &[e],
            &[ut, MY_CNODE]
        ),
        kerr(E::DeleteFirst)
    );
    check!(
        call(
            ASID_CONTROL,
            Label::AsidControlMakePool,
            &[d],
            &[ut, MY_CNODE]
        )
        .is_ok()
    );
    // The new pool assigns ASIDs.
    let vs = s.retype(O::VSpace, 0, 1);
    check!(call(d, Label::AsidPoolAssign, &[], &[vs]).is_ok());
    let f = s.retype(O::Frame4K, 0, 1);
    let pts = s.retype(O::PageTable, 0, 3);
    for i in 0..3 {
        check!(call(pts + i, Label::PageTableMap, &[0x40_0000], &[vs]).is_ok());
    }
    check!(map(f, vs, 0x40_0000, Rights::READ, A::NONE).is_ok());
    Ok(())
}

fn large_page(s: &mut Suite) -> T {
    let big = s.retype(O::Frame2M, 0, 1);
    let va = SCRATCH_BASE + (2 << 20);
    check!(map(big, MY_VSPACE, va, Rights::READ_WRITE, A::NONE).is_ok());
    poke(va, 1);
    poke(va + (2 << 20) - 8, 2);
    check_eq!(peek(va) + peek(va + (2 << 20) - 8), 3);
    let a = call(big, Label::FrameGetAddress, &[], &[]).map(|w| w.as_slice()[0] % (2 << 20));
    check_eq!(a, Ok(0));
    Ok(())
}

fn read_only_write_faults(s: &mut Suite) -> T {
    let f = s.retype(O::Frame4K, 0, 1);
    let va = s.scratch();
    check!(map(f, MY_VSPACE, va, Rights::READ, A::NONE).is_ok());
    let (t, buf, _) = s.helper_tcb(31);
    let _ = buf;
    s.start(t, threads::writer, va);
    let m = recv(s.fault_ep);
    check_eq!(m.badge, 31);
    check_eq!(m.label, FaultLabel::VmFault as u64);
    check_eq!(m.words[1], va);
    check_eq!(m.words[2], 0);
    check_eq!(peek(va), 0);
    s.delete(t);
    Ok(())
}

fn copy_no_raise(s: &mut Suite) -> T {
    let f = s.retype(O::Frame4K, 0, 1);
    let ro = s.copy(f, Rights::READ);
    let rw_again = s.copy(ro, Rights::READ_WRITE);
    let va = s.scratch();
    // Mapped "read-write" through a copy of a read-only capability: the
    // mapping is read-only, a write faults.
    check!(map(rw_again, MY_VSPACE, va, Rights::READ_WRITE, A::NONE).is_ok());
    let (t, _, _) = s.helper_tcb(32);
    s.start(t, threads::writer, va);
    let m = recv(s.fault_ep);
    check_eq!(
        (m.badge, m.label, m.words[1]),
        (32, FaultLabel::VmFault as u64, va)
    );
    s.delete(t);
    Ok(())
}
