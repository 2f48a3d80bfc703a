//! CNode invocations (spec: CNODE-1 … CNODE-11), derivation (DER-*) and
//! rights that never grow (CAP-*).

use super::{T, Test};
use crate::sys::*;
use crate::{check, check_eq};
use abi::error::{ErrorDetail as E, LookupFailure, LookupFailureKind};
use abi::invocation::Label;
use abi::object::ObjectType as O;
use abi::rights::Rights;

pub const TESTS: &[Test] = &[
    ("cnode_2_copy", copy),
    ("cnode_2_copy_from_an_empty_slot", copy_empty),
    ("cnode_1_indices_in_range", index_range),
    ("cnode_2_unknown_rights_bits", rights_bits),
    ("cnode_2_source_must_be_a_cnode", source_not_cnode),
    ("cnode_2_truncated", truncated),
    ("cnode_3_mint_badges_endpoints_only", mint_non_ipc),
    ("cnode_3_no_rebadging", rebadge),
    ("cnode_4_move_empties_the_source", move_cap),
    ("cnode_5_mutate_with_children_needs_revoke", mutate),
    ("cnode_6_delete", delete),
    ("cnode_7_revoke_removes_descendants", revoke),
    ("cnode_8_cancel_badged_sends_checks", cancel_badged),
    ("cnode_10_save_caller", save_caller),
    ("cap_rights_never_grow_through_copies", no_amplification),
];

fn missing(position: u64) -> Res {
    kerr(E::FailedLookup {
        position,
        failure: LookupFailure {
            kind: LookupFailureKind::MissingCapability,
            bits_left: 0,
            bits_found: 0,
        },
    })
}

fn copy_to(d: u64, src: u64, rights: Rights) -> Res {
    call(
        MY_CNODE,
        Label::CNodeCopy,
        &[d, src, rights.bits()],
        &[MY_CNODE],
    )
}

/// Whether `slot` holds a capability (a copy from it succeeds).
fn occupied(s: &mut Suite, slot: u64) -> bool {
    let d = s.slot();
    let r = copy_to(d, slot, Rights::ALL);
    if r.is_ok() {
        let _ = call(MY_CNODE, Label::CNodeDelete, &[d], &[]);
    }
    r.is_ok()
}

fn copy(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let d = s.slot();
    check!(copy_to(d, e, Rights::ALL).is_ok());
    check_eq!(copy_to(d, e, Rights::ALL), kerr(E::DeleteFirst));
    check!(occupied(s, d) && occupied(s, e));
    Ok(())
}

fn copy_empty(s: &mut Suite) -> T {
    let (d, empty) = (s.slot(), s.slot());
    check_eq!(copy_to(d, empty, Rights::ALL), missing(1));
    Ok(())
}

fn index_range(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let top = (1 << RADIX) - 1;
    check_eq!(
        copy_to(1 << RADIX, e, Rights::ALL),
        kerr(E::RangeError { min: 0, max: top })
    );
    let d = s.slot();
    check_eq!(
        copy_to(d, 1 << RADIX, Rights::ALL),
        kerr(E::RangeError { min: 0, max: top })
    );
    check_eq!(
        call(MY_CNODE, Label::CNodeDelete, &[u64::MAX], &[]),
        kerr(E::RangeError { min: 0, max: top })
    );
    Ok(())
}

fn rights_bits(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let d = s.slot();
    check_eq!(
        call(MY_CNODE, Label::CNodeCopy, &[d, e, 0x10], &[MY_CNODE]),
        kerr(E::InvalidArgument { index: 2 })
    );
    Ok(())
}

fn source_not_cnode(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let d = s.slot();
    check_eq!(
        call(MY_CNODE, Label::CNodeCopy, &[d, e, 15], &[e]),
        kerr(E::InvalidCapability { position: 1 })
    );
    Ok(())
}

fn truncated(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let d = s.slot();
    check_eq!(
        call(MY_CNODE, Label::CNodeCopy, &[d, e], &[MY_CNODE]),
        kerr(E::TruncatedMessage)
    );
    check_eq!(
        call(MY_CNODE, Label::CNodeMint, &[d, e, 15], &[MY_CNODE]),
        kerr(E::TruncatedMessage)
    );
    check_eq!(
        call(MY_CNODE, Label::CNodeMove, &[d, e], &[]),
        kerr(E::TruncatedMessage)
    );
    check_eq!(
        call(MY_CNODE, Label::CNodeDelete, &[], &[]),
        kerr(E::TruncatedMessage)
    );
    Ok(())
}

fn mint_non_ipc(s: &mut Suite) -> T {
    let f = s.retype(O::Frame4K, 0, 1);
    let d = s.slot();
    check_eq!(
        call(MY_CNODE, Label::CNodeMint, &[d, f, 15, 1], &[MY_CNODE]),
        kerr(E::InvalidArgument { index: 3 })
    );
    // Badge 0 is a plain copy, allowed for every type.
    check!(call(MY_CNODE, Label::CNodeMint, &[d, f, 15, 0], &[MY_CNODE]).is_ok());
    let n = s.retype(O::Notification, 0, 1);
    let d2 = s.slot();
    check!(call(MY_CNODE, Label::CNodeMint, &[d2, n, 15, 9], &[MY_CNODE]).is_ok());
    Ok(())
}

fn rebadge(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let b = s.mint(e, Rights::ALL, 5);
    let d = s.slot();
    check_eq!(
        call(MY_CNODE, Label::CNodeMint, &[d, b, 15, 6], &[MY_CNODE]),
        kerr(E::IllegalOperation)
    );
    check_eq!(
        call(MY_CNODE, Label::CNodeMutate, &[d, b, 15, 6], &[MY_CNODE]),
        kerr(E::IllegalOperation)
    );
    // A badge-0 copy of a badged capability keeps the badge: still no
    // rebadging through it.
    check!(call(MY_CNODE, Label::CNodeMint, &[d, b, 15, 0], &[MY_CNODE]).is_ok());
    let d2 = s.slot();
    check_eq!(
        call(MY_CNODE, Label::CNodeMint, &[d2, d, 15, 7], &[MY_CNODE]),
        kerr(E::IllegalOperation)
    );
    Ok(())
}

fn move_cap(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let d = s.slot();
    check!(call(MY_CNODE, Label::CNodeMove, &[d, e], &[MY_CNODE]).is_ok());
    check!(!occupied(s, e));
    check!(occupied(s, d));
    let other = s.retype(O::Endpoint, 0, 1);
    check_eq!(
        call(MY_CNODE, Label::CNodeMove, &[other, d], &[MY_CNODE]),
        kerr(E::DeleteFirst)
    );
    check_eq!(
        call(MY_CNODE, Label::CNodeMove, &[e, e], &[MY_CNODE]),
        missing(1)
    );
    Ok(())
}

fn mutate(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let d = s.slot();
    // No children: a mutation that removes rights is a move.
    check!(
        call(
            MY_CNODE,
            Label::CNodeMutate,
            &[d, e, Rights::READ.bits(), 0],
            &[MY_CNODE]
        )
        .is_ok()
    );
    check!(!occupied(s, e));
    let e2 = s.retype(O::Endpoint, 0, 1);
    let _child = s.copy(e2, Rights::ALL);
    let d2 = s.slot();
    check_eq!(
        call(
            MY_CNODE,
            Label::CNodeMutate,
            &[d2, e2, Rights::READ.bits(), 0],
            &[MY_CNODE]
        ),
        kerr(E::RevokeFirst)
    );
    // Changing nothing is allowed even with children.
    check!(call(MY_CNODE, Label::CNodeMutate, &[d2, e2, 15, 0], &[MY_CNODE]).is_ok());
    Ok(())
}

fn delete(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    check!(call(MY_CNODE, Label::CNodeDelete, &[e], &[]).is_ok());
    check!(!occupied(s, e));
    // Deleting an empty slot is allowed and does nothing.
    check!(call(MY_CNODE, Label::CNodeDelete, &[e], &[]).is_ok());
    Ok(())
}

fn revoke(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    let c1 = s.copy(e, Rights::ALL);
    let c2 = s.copy(c1, Rights::ALL);
    let m = s.mint(e, Rights::ALL, 3);
    check!(call(MY_CNODE, Label::CNodeRevoke, &[e], &[]).is_ok());
    for c in [c1, c2, m] {
        check!(!occupied(s, c));
    }
    check!(occupied(s, e));
    // Revoking a slot without children (or empty) does nothing.
    check!(call(MY_CNODE, Label::CNodeRevoke, &[e], &[]).is_ok());
    check!(call(MY_CNODE, Label::CNodeRevoke, &[c1], &[]).is_ok());
    Ok(())
}

fn cancel_badged(s: &mut Suite) -> T {
    let f = s.retype(O::Frame4K, 0, 1);
    check_eq!(
        call(MY_CNODE, Label::CNodeCancelBadgedSends, &[f], &[]),
        kerr(E::IllegalOperation)
    );
    let empty = s.slot();
    check_eq!(
        call(MY_CNODE, Label::CNodeCancelBadgedSends, &[empty], &[]),
        missing(0)
    );
    let e = s.retype(O::Endpoint, 0, 1);
    let weak = s.copy(e, Rights::READ_WRITE);
    check_eq!(
        call(MY_CNODE, Label::CNodeCancelBadgedSends, &[weak], &[]),
        kerr(E::IllegalOperation)
    );
    check!(call(MY_CNODE, Label::CNodeCancelBadgedSends, &[e], &[]).is_ok());
    let b = s.mint(e, Rights::ALL, 4);
    check!(call(MY_CNODE, Label::CNodeCancelBadgedSends, &[b], &[]).is_ok());
    Ok(())
}

fn save_caller(s: &mut Suite) -> T {
    let e = s.retype(O::Endpoint, 0, 1);
    check_eq!(
        call(MY_CNODE, Label::CNodeSaveCaller, &[e], &[]),
        kerr(E::DeleteFirst)
    );
    // No caller to save: nothing happens, the slot stays empty.
    let d = s.slot();
    check!(call(MY_CNODE, Label::CNodeSaveCaller, &[d], &[]).is_ok());
    check!(!occupied(s, d));
    Ok(())
}

fn no_amplification(s: &mut Suite) -> T {
    // CancelBadgedSends needs all four rights: a copy made with all
    // rights from a Read-only copy still has only Read.
    let e = s.retype(O::Endpoint, 0, 1);
    let ro = s.copy(e, Rights::READ);
    let again = s.copy(ro, Rights::ALL);
    check_eq!(
        call(MY_CNODE, Label::CNodeCancelBadgedSends, &[again], &[]),
        kerr(E::IllegalOperation)
    );
    let d = s.slot();
    check!(call(MY_CNODE, Label::CNodeMint, &[d, ro, 15, 0], &[MY_CNODE]).is_ok());
    check_eq!(
        call(MY_CNODE, Label::CNodeCancelBadgedSends, &[d], &[]),
        kerr(E::IllegalOperation)
    );
    // Mutate cannot add rights either.
    let m = s.slot();
    check!(call(MY_CNODE, Label::CNodeMutate, &[m, d, 15, 0], &[MY_CNODE]).is_ok());
    check_eq!(
        call(MY_CNODE, Label::CNodeCancelBadgedSends, &[m], &[]),
        kerr(E::IllegalOperation)
    );
    Ok(())
}
