//! Tests of IRQ lines (IRQ-1 … IRQ-9), each named after the rule it
//! checks; hostile cases included.

use super::*;
use abi::irq::IRQ_LINES;

const NTFN: u64 = 40;
const H: u64 = 50;
const LINE: u64 = 40;

fn get(m: &mut Model, line: u64, trigger: u64, dest: u64) -> Outcome {
    call(
        m,
        c(4),
        Label::IrqControlGet,
        &[line, trigger, dest],
        &[c(2)],
    )
}

fn line_state(m: &Model, line: u64) -> IrqState {
    m.irq_state(line)
}

fn interrupt(m: &mut Model, line: u64) -> Outcome {
    m.entry(&Entry::Interrupt(line), &mut || false)
}

fn ntfn_state(m: &Model, n: Addr) -> NotificationState {
    match m.state.objects.get(&n) {
        Some(Object::Notification(x)) => x.state.clone(),
        other => panic!("{other:?}"),
    }
}

/// Boot; a notification in slot 40, a badge-5 copy in slot 41; line 40
/// claimed into slot 50 with the badged notification set.
fn handled() -> (Model, Addr) {
    let mut m = boot();
    assert_eq!(retype(&mut m, ObjectType::Notification, 0, NTFN, 1), ok());
    assert_eq!(
        call(&mut m, c(2), Label::CNodeMint, &[41, NTFN, 15, 5], &[c(2)]),
        ok()
    );
    assert_eq!(get(&mut m, LINE, 1, H), ok());
    assert_eq!(
        call(
            &mut m,
            c(H),
            Label::IrqHandlerSetNotification,
            &[],
            &[c(41)]
        ),
        ok()
    );
    check(&m);
    let n = obj_at(&m, NTFN);
    (m, n)
}

#[test]
fn irq_2_boot_line_states() {
    let m = boot();
    // spec: IRQ-2 — lines beyond the platform and the kernel's timer are
    // Reserved; the others Inactive (absent).
    assert_eq!(line_state(&m, TIMER_LINE), IrqState::Reserved);
    assert_eq!(line_state(&m, IRQ_PLATFORM_LINES), IrqState::Reserved);
    assert_eq!(line_state(&m, IRQ_LINES - 1), IrqState::Reserved);
    assert_eq!(line_state(&m, 0), IrqState::Inactive);
    assert_eq!(line_state(&m, IRQ_PLATFORM_LINES - 1), IrqState::Inactive);
    assert!(!m.state.irq.contains_key(&0));
    let a = boot_on(Arch::Aarch64);
    for line in 0..32 {
        assert_eq!(line_state(&a, line), IrqState::Reserved);
    }
    assert_eq!(line_state(&a, 32), IrqState::Inactive);
    check(&a);
}

#[test]
fn irq_4_get_claims_a_line() {
    let mut m = boot();
    assert_eq!(get(&mut m, LINE, 3, H), ok());
    check(&m);
    // spec: IRQ-4, DER-2, CAP-3 — Active, unmasked, handler a child of
    // the IRQControl slot.
    assert_eq!(
        line_state(&m, LINE),
        IrqState::Active { pending_ack: false }
    );
    assert_eq!(cap_at(&m, slot(H)), Some(Cap::IrqHandler { line: LINE }));
    assert_eq!(m.state.slots[&slot(H)].parent, Some(slot(4)));
    assert_eq!(children(&m, slot(4)), vec![slot(H)]);
    assert_eq!(cap_at(&m, SlotRef::Irq { line: LINE }), None);
    // spec: IRQ-3 — a handler is no authority to claim lines, and
    // IRQControl cannot be copied (CAP-9).
    refused(
        &mut m,
        c(H),
        Label::IrqControlGet,
        &[LINE + 1, 0, 51],
        &[c(2)],
        ErrorDetail::IllegalOperation,
    );
    refused(
        &mut m,
        c(2),
        Label::CNodeCopy,
        &[51, 4, 0],
        &[c(2)],
        ErrorDetail::IllegalOperation,
    );
    // aarch64: bit 0 only; line 32 is the first SPI.
    let mut a = boot_on(Arch::Aarch64);
    assert_eq!(get(&mut a, 32, 1, H), ok());
    check(&a);
}

#[test]
fn irq_4_checks_in_order() {
    let mut m = boot();
    // #1 — 3 words and 1 extra capability.
    refused(
        &mut m,
        c(4),
        Label::IrqControlGet,
        &[LINE, 0],
        &[c(2)],
        ErrorDetail::TruncatedMessage,
    );
    refused(
        &mut m,
        c(4),
        Label::IrqControlGet,
        &[LINE, 0, H],
        &[],
        ErrorDetail::TruncatedMessage,
    );
    // #2 before #3: an unknown trigger bit (x86_64 has bits 0 and 1).
    refused(
        &mut m,
        c(4),
        Label::IrqControlGet,
        &[IRQ_LINES, 4, H],
        &[c(1)],
        ErrorDetail::InvalidArgument { index: 1 },
    );
    // #3 before #4.
    refused(
        &mut m,
        c(4),
        Label::IrqControlGet,
        &[IRQ_LINES, 0, H],
        &[c(1)],
        range_error(0, IRQ_LINES - 1),
    );
    // #4 before #5.
    refused(
        &mut m,
        c(4),
        Label::IrqControlGet,
        &[LINE, 0, 1 << RADIX],
        &[c(1)],
        ErrorDetail::InvalidCapability { position: 1 },
    );
    // #5 before #6.
    refused(
        &mut m,
        c(4),
        Label::IrqControlGet,
        &[TIMER_LINE, 0, 1 << RADIX],
        &[c(2)],
        range_error(0, (1 << RADIX) - 1),
    );
    // #6 before #8: a Reserved line (the timer; beyond the platform).
    for line in [TIMER_LINE, IRQ_PLATFORM_LINES, IRQ_LINES - 1] {
        refused(
            &mut m,
            c(4),
            Label::IrqControlGet,
            &[line, 0, 1],
            &[c(2)],
            ErrorDetail::IllegalOperation,
        );
    }
    // #7 before #8: an Active line.
    assert_eq!(get(&mut m, LINE, 0, H), ok());
    refused(
        &mut m,
        c(4),
        Label::IrqControlGet,
        &[LINE, 0, 1],
        &[c(2)],
        ErrorDetail::RevokeFirst,
    );
    // #8.
    refused(
        &mut m,
        c(4),
        Label::IrqControlGet,
        &[LINE + 1, 0, 1],
        &[c(2)],
        ErrorDetail::DeleteFirst,
    );
    check(&m);
    // aarch64: bit 1 (active-low) is not defined; SGIs and PPIs are
    // Reserved.
    let mut a = boot_on(Arch::Aarch64);
    refused(
        &mut a,
        c(4),
        Label::IrqControlGet,
        &[32, 2, H],
        &[c(2)],
        ErrorDetail::InvalidArgument { index: 1 },
    );
    refused(
        &mut a,
        c(4),
        Label::IrqControlGet,
        &[31, 1, H],
        &[c(2)],
        ErrorDetail::IllegalOperation,
    );
}

#[test]
fn irq_5_ack_unmasks_only_a_pending_line() {
    let (mut m, _) = handled();
    // Not pending: nothing.
    let before = m.clone();
    assert_eq!(call(&mut m, c(H), Label::IrqHandlerAck, &[], &[]), ok());
    assert_same(&m, &before);
    interrupt(&mut m, LINE);
    assert_eq!(line_state(&m, LINE), IrqState::Active { pending_ack: true });
    assert_eq!(call(&mut m, c(H), Label::IrqHandlerAck, &[], &[]), ok());
    assert_eq!(
        line_state(&m, LINE),
        IrqState::Active { pending_ack: false }
    );
    check(&m);
}

#[test]
fn irq_6_set_notification_checks_and_effect() {
    let mut m = boot();
    assert_eq!(retype(&mut m, ObjectType::Notification, 0, NTFN, 1), ok());
    assert_eq!(get(&mut m, LINE, 0, H), ok());
    // #1.
    refused(
        &mut m,
        c(H),
        Label::IrqHandlerSetNotification,
        &[],
        &[],
        ErrorDetail::TruncatedMessage,
    );
    // #2 — not a notification; a notification without Write.
    refused(
        &mut m,
        c(H),
        Label::IrqHandlerSetNotification,
        &[],
        &[c(2)],
        ErrorDetail::InvalidCapability { position: 1 },
    );
    assert_eq!(
        call(&mut m, c(2), Label::CNodeMint, &[42, NTFN, 1, 0], &[c(2)]),
        ok()
    );
    refused(
        &mut m,
        c(H),
        Label::IrqHandlerSetNotification,
        &[],
        &[c(42)],
        ErrorDetail::InvalidCapability { position: 1 },
    );
    // Effect: a copy, child of its source (DER-2).
    let irq = SlotRef::Irq { line: LINE };
    assert_eq!(
        call(
            &mut m,
            c(H),
            Label::IrqHandlerSetNotification,
            &[],
            &[c(NTFN)]
        ),
        ok()
    );
    assert_eq!(cap_at(&m, irq), cap_at(&m, slot(NTFN)));
    assert_eq!(m.state.slots[&irq].parent, Some(slot(NTFN)));
    check(&m);
    // Setting again deletes the old copy first (DER-7).
    assert_eq!(
        call(&mut m, c(2), Label::CNodeMint, &[43, NTFN, 15, 9], &[c(2)]),
        ok()
    );
    assert_eq!(
        call(
            &mut m,
            c(H),
            Label::IrqHandlerSetNotification,
            &[],
            &[c(43)]
        ),
        ok()
    );
    assert_eq!(m.state.slots[&irq].parent, Some(slot(43)));
    assert!(!children(&m, slot(NTFN)).contains(&irq));
    check(&m);
}

#[test]
fn irq_7_clear_empties_the_slot() {
    let (mut m, n) = handled();
    assert_eq!(call(&mut m, c(H), Label::IrqHandlerClear, &[], &[]), ok());
    assert_eq!(cap_at(&m, SlotRef::Irq { line: LINE }), None);
    assert_eq!(
        line_state(&m, LINE),
        IrqState::Active { pending_ack: false }
    );
    check(&m);
    // No notification: an interrupt only masks the line.
    interrupt(&mut m, LINE);
    assert_eq!(line_state(&m, LINE), IrqState::Active { pending_ack: true });
    assert_eq!(ntfn_state(&m, n), NotificationState::Idle);
    check(&m);
    // Clear of an empty slot: nothing.
    assert_eq!(call(&mut m, c(H), Label::IrqHandlerClear, &[], &[]), ok());
}

#[test]
fn irq_8_delivery_signals_once_until_ack() {
    let (mut m, n) = handled();
    assert_eq!(interrupt(&mut m, LINE), Outcome::Other);
    // spec: IRQ-8, NTFN-3 — the badge of the capability in the slot.
    assert_eq!(ntfn_state(&m, n), NotificationState::Active(5));
    assert_eq!(line_state(&m, LINE), IrqState::Active { pending_ack: true });
    check(&m);
    // Masked until Ack: a second interrupt raises nothing.
    let before = m.clone();
    interrupt(&mut m, LINE);
    assert_eq!(m, before);
    assert_eq!(call(&mut m, c(H), Label::IrqHandlerAck, &[], &[]), ok());
    interrupt(&mut m, LINE);
    assert_eq!(ntfn_state(&m, n), NotificationState::Active(5));
    check(&m);
}

#[test]
fn irq_8_unclaimed_and_reserved_lines_raise_nothing() {
    let mut m = boot();
    let before = m.clone();
    for line in [0, LINE, TIMER_LINE, IRQ_PLATFORM_LINES, IRQ_LINES, u64::MAX] {
        assert_eq!(interrupt(&mut m, line), Outcome::Other);
        assert_eq!(m, before);
    }
}

#[test]
fn irq_9_deleting_the_last_handler_deactivates_the_line() {
    let (mut m, n) = handled();
    // spec: CAP-9 — an IRQHandler is copyable; a copy is not final.
    assert_eq!(
        call(&mut m, c(2), Label::CNodeCopy, &[51, H, 0], &[c(2)]),
        ok()
    );
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[H], &[]), ok());
    assert_eq!(
        line_state(&m, LINE),
        IrqState::Active { pending_ack: false }
    );
    check(&m);
    // spec: DER-12 IRQHandler, IRQ-9 — the last one: Inactive, slot
    // deleted; the notification itself lives on.
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[51], &[]), ok());
    assert_eq!(line_state(&m, LINE), IrqState::Inactive);
    assert_eq!(cap_at(&m, SlotRef::Irq { line: LINE }), None);
    assert!(m.state.objects.contains_key(&n));
    assert!(children(&m, slot(41)).is_empty());
    check(&m);
    // The line can be claimed again.
    assert_eq!(get(&mut m, LINE, 0, H), ok());
    check(&m);
}

#[test]
fn irq_9_revoking_irq_control_deactivates_every_line() {
    let (mut m, _) = handled();
    assert_eq!(get(&mut m, LINE + 1, 0, H + 1), ok());
    assert_eq!(call(&mut m, c(2), Label::CNodeRevoke, &[4], &[]), ok());
    for line in [LINE, LINE + 1] {
        assert_eq!(line_state(&m, line), IrqState::Inactive);
    }
    assert!(m.state.irq.values().all(|s| *s == IrqState::Reserved));
    assert_eq!(cap_at(&m, slot(H)), None);
    assert_eq!(cap_at(&m, SlotRef::Irq { line: LINE }), None);
    check(&m);
}

#[test]
fn der_12_final_notification_in_an_irq_slot() {
    // The slot's copy is the last capability to the notification once the
    // others are deleted; Clear then finalises the notification.
    let (mut m, n) = handled();
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[41], &[]), ok());
    assert_eq!(call(&mut m, c(2), Label::CNodeDelete, &[NTFN], &[]), ok());
    assert!(m.state.objects.contains_key(&n));
    check(&m);
    assert_eq!(call(&mut m, c(H), Label::IrqHandlerClear, &[], &[]), ok());
    assert!(!m.state.objects.contains_key(&n));
    check(&m);
}
