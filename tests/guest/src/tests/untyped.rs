//! Untyped Retype (spec: UT-3 … UT-11) and unknown labels (ERR-6).

use super::{T, Test};
use crate::sys::*;
use crate::{check, check_eq};
use abi::error::{ErrorDetail as E, LookupFailure, LookupFailureKind};
use abi::invocation::Label;
use abi::object::ObjectType as O;
use abi::rights::Rights;
use abi::vm::VmAttributes;

pub const TESTS: &[Test] = &[
    ("ut_3_retype_every_object_type", every_type),
    ("ut_5_truncated_retype", truncated),
    ("ut_5_unknown_object_type", unknown_type),
    ("ut_5_untyped_and_cnode_size_ranges", size_ranges),
    ("ut_5_destination_must_be_a_cnode", dest_not_cnode),
    ("ut_5_fan_out_limits", fan_out),
    ("ut_5_destination_offset_in_range", dest_range),
    ("ut_5_occupied_destination", occupied),
    ("ut_7_exhausted_untyped", exhausted),
    ("ut_7_oversized_object_never_fits", oversized),
    ("ut_7_objects_are_aligned_to_their_size", alignment),
    ("ut_10_revoke_resets_the_untyped", revoke_resets),
    ("ut_11_reused_memory_is_zero", reuse_zeroed),
    ("err_6_unknown_labels_are_illegal", unknown_labels),
];

fn sub_untyped(s: &mut Suite, bits: u64) -> u64 {
    s.retype(O::Untyped, bits, 1)
}

fn every_type(s: &mut Suite) -> T {
    for (ty, arg) in [
        (O::Endpoint, 0),
        (O::Notification, 0),
        (O::Tcb, 0),
        (O::CNode, 4),
        (O::Frame4K, 0),
        (O::PageTable, 0),
        (O::VSpace, 0),
        (O::Untyped, 12),
    ] {
        let at = s.slot();
        check_eq!(s.retype_into(UNTYPED, ty, arg, at, 1).map(|_| ()), Ok(()));
        // The slot holds a capability now: copying into it is refused.
        let e = s.retype(O::Endpoint, 0, 1);
        check_eq!(
            call(
                MY_CNODE,
                Label::CNodeCopy,
                &[at, e, Rights::ALL.bits()],
                &[MY_CNODE]
            ),
            kerr(E::DeleteFirst)
        );
    }
    Ok(())
}

fn truncated(s: &mut Suite) -> T {
    let at = s.slot();
    check_eq!(
        call(
            UNTYPED,
            Label::UntypedRetype,
            &[O::Endpoint as u64, 0, at],
            &[MY_CNODE]
        ),
        kerr(E::TruncatedMessage)
    );
    check_eq!(
        call(
            UNTYPED,
            Label::UntypedRetype,
            &[O::Endpoint as u64, 0, at, 1],
            &[]
        ),
        kerr(E::TruncatedMessage)
    );
    Ok(())
}

fn unknown_type(s: &mut Suite) -> T {
    let at = s.slot();
    check_eq!(
        call(UNTYPED, Label::UntypedRetype, &[10, 0, at, 1], &[MY_CNODE]),
        kerr(E::InvalidArgument { index: 0 })
    );
    check_eq!(
        call(
            UNTYPED,
            Label::UntypedRetype,
            &[u64::MAX, 0, at, 1],
            &[MY_CNODE]
        ),
        kerr(E::InvalidArgument { index: 0 })
    );
    Ok(())
}

fn size_ranges(s: &mut Suite) -> T {
    let at = s.slot();
    for bits in [0, 3, 48, 64] {
        check_eq!(
            s.retype_into(UNTYPED, O::Untyped, bits, at, 1),
            kerr(E::RangeError { min: 4, max: 47 })
        );
    }
    for radix in [0, 25] {
        check_eq!(
            s.retype_into(UNTYPED, O::CNode, radix, at, 1),
            kerr(E::RangeError { min: 1, max: 24 })
        );
    }
    Ok(())
}

fn dest_not_cnode(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let at = s.slot();
    check_eq!(
        call(
            UNTYPED,
            Label::UntypedRetype,
            &[O::Endpoint as u64, 0, at, 1],
            &[e]
        ),
        kerr(E::InvalidCapability { position: 1 })
    );
    Ok(())
}

fn fan_out(s: &mut Suite) -> T {
    let at = s.slot();
    check_eq!(
        s.retype_into(UNTYPED, O::Endpoint, 0, at, 0),
        kerr(E::RangeError { min: 1, max: 256 })
    );
    check_eq!(
        s.retype_into(UNTYPED, O::Endpoint, 0, at, 257),
        kerr(E::RangeError { min: 1, max: 256 })
    );
    Ok(())
}

fn dest_range(s: &mut Suite) -> T {
    check_eq!(
        s.retype_into(UNTYPED, O::Endpoint, 0, 1 << RADIX, 1),
        kerr(E::RangeError {
            min: 0,
            max: (1 << RADIX) - 1
        })
    );
    check_eq!(
        s.retype_into(UNTYPED, O::Endpoint, 0, (1 << RADIX) - 1, 2),
        kerr(E::RangeError { min: 1, max: 1 })
    );
    Ok(())
}

fn occupied(s: &mut Suite) -> T {
    let at = s.slots(2);
    check!(s.retype_into(UNTYPED, O::Endpoint, 0, at + 1, 1).is_ok());
    check_eq!(
        s.retype_into(UNTYPED, O::Endpoint, 0, at + 1, 1),
        kerr(E::DeleteFirst)
    );
    // A range with one occupied slot is refused as a whole: the free
    // slot before it stays empty and can still be used alone.
    check_eq!(
        s.retype_into(UNTYPED, O::Endpoint, 0, at, 2),
        kerr(E::DeleteFirst)
    );
    check!(s.retype_into(UNTYPED, O::Endpoint, 0, at, 1).is_ok());
    Ok(())
}

fn exhausted(s: &mut Suite) -> T {
    let ut = sub_untyped(s, 12);
    let at = s.slots(2);
    check_eq!(s.retype_into(ut, O::Frame4K, 0, at, 1).map(|_| ()), Ok(()));
    check_eq!(
        s.retype_into(ut, O::Frame4K, 0, at + 1, 1),
        kerr(E::NotEnoughMemory { available: 0 })
    );
    // Small objects fill it no further either.
    check_eq!(
        s.retype_into(ut, O::Endpoint, 0, at + 1, 1),
        kerr(E::NotEnoughMemory { available: 0 })
    );
    Ok(())
}

fn oversized(s: &mut Suite) -> T {
    let ut = sub_untyped(s, 12);
    let at = s.slot();
    check_eq!(
        s.retype_into(ut, O::Frame2M, 0, at, 1),
        kerr(E::NotEnoughMemory { available: 4096 })
    );
    check_eq!(
        s.retype_into(ut, O::Untyped, 13, at, 1),
        kerr(E::NotEnoughMemory { available: 4096 })
    );
    check_eq!(
        s.retype_into(ut, O::Endpoint, 0, at, 257),
        kerr(E::RangeError { min: 1, max: 256 })
    );
    Ok(())
}

fn alignment(s: &mut Suite) -> T {
    let ut = sub_untyped(s, 14);
    let at = s.slots(5);
    // A 16-byte endpoint, then frames: each lands on the next 4 KiB
    // boundary, the gap before the first is lost (UT-7).
    check!(s.retype_into(ut, O::Endpoint, 0, at, 1).is_ok());
    check!(s.retype_into(ut, O::Frame4K, 0, at + 1, 3).is_ok());
    let mut addrs = [0u64; 3];
    for (i, a) in addrs.iter_mut().enumerate() {
        let r = call(at + 1 + i as u64, Label::FrameGetAddress, &[], &[]);
        let Ok(w) = r else {
            check_eq!(r.map(|_| ()), Ok(()));
            return Err(());
        };
        *a = w.as_slice()[0];
    }
    check_eq!(addrs[0] % 4096, 0);
    check_eq!(addrs[0] % (1 << 14), 4096);
    check_eq!(addrs[1], addrs[0] + 4096);
    check_eq!(addrs[2], addrs[0] + 8192);
    check_eq!(
        s.retype_into(ut, O::Endpoint, 0, at + 4, 1),
        kerr(E::NotEnoughMemory { available: 0 })
    );
    Ok(())
}

fn revoke_resets(s: &mut Suite) -> T {
    let ut = sub_untyped(s, 12);
    let f = s.slot();
    check!(s.retype_into(ut, O::Frame4K, 0, f, 1).is_ok());
    check_eq!(
        call(MY_CNODE, Label::CNodeRevoke, &[ut], &[]).map(|_| ()),
        Ok(())
    );
    // The child is gone …
    let d = s.slot();
    check_eq!(
        call(
            MY_CNODE,
            Label::CNodeCopy,
            &[d, f, Rights::ALL.bits()],
            &[MY_CNODE]
        ),
        kerr(E::FailedLookup {
            position: 1,
            failure: LookupFailure {
                kind: LookupFailureKind::MissingCapability,
                bits_left: 0,
                bits_found: 0,
            },
        })
    );
    // … and the whole region is available again.
    check!(s.retype_into(ut, O::Frame4K, 0, f, 1).is_ok());
    Ok(())
}

fn reuse_zeroed(s: &mut Suite) -> T {
    let ut = sub_untyped(s, 12);
    let f = s.slot();
    let va = s.scratch();
    check!(s.retype_into(ut, O::Frame4K, 0, f, 1).is_ok());
    check!(map(f, MY_VSPACE, va, Rights::READ_WRITE, VmAttributes::NONE).is_ok());
    poke(va + 8, 0x1234_5678);
    check_eq!(peek(va + 8), 0x1234_5678);
    check!(call(MY_CNODE, Label::CNodeRevoke, &[ut], &[]).is_ok());
    check!(s.retype_into(ut, O::Frame4K, 0, f, 1).is_ok());
    let va2 = s.scratch();
    check!(map(f, MY_VSPACE, va2, Rights::READ_WRITE, VmAttributes::NONE).is_ok());
    check_eq!(peek(va2 + 8), 0);
    Ok(())
}

fn unknown_labels(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let _ = e;
    for label in [0, 13, 99, 1 << 40] {
        check_eq!(
            call_raw(UNTYPED, label, &[], &[]),
            kerr(E::IllegalOperation)
        );
        check_eq!(
            call_raw(MY_CNODE, label, &[], &[]),
            kerr(E::IllegalOperation)
        );
        check_eq!(call_raw(MY_TCB, label, &[], &[]), kerr(E::IllegalOperation));
    }
    // A label of another object type.
    check_eq!(
        call(UNTYPED, Label::TcbResume, &[], &[]),
        kerr(E::IllegalOperation)
    );
    check_eq!(
        call(MY_TCB, Label::UntypedRetype, &[0, 0, 0, 1], &[MY_CNODE]),
        kerr(E::IllegalOperation)
    );
    Ok(())
}
