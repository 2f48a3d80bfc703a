//! Interrupts (spec: IRQ-1 … IRQ-9): IRQControl Get, the IRQHandler
//! invocations, delivery of an interrupt, and the IRQHandler deletion
//! effect.

use abi::error::ErrorDetail;
use abi::invocation::Label;
use abi::irq::IRQ_LINES;
use abi::rights::Rights;
use alloc::vec::Vec;

use super::{Model, Op, Preempted, Refusal, range_error};
use crate::state::{Cap, IrqState, SlotRef};

/// A decoded IRQ invocation.
pub(super) enum IrqOp {
    /// IRQ-4: claim `line`, placing its handler in `dest` as a child of
    /// `control`.
    Get {
        control: SlotRef,
        line: u64,
        dest: SlotRef,
    },
    /// IRQ-5.
    Ack(u64),
    /// IRQ-6: a copy of the capability in `src` goes to the line's slot.
    SetNotification { line: u64, src: SlotRef, cap: Cap },
    /// IRQ-7.
    Clear(u64),
}

impl Model {
    /// The state of `line` (spec: IRQ-2; absent is `Inactive`).
    pub(super) fn irq_state(&self, line: u64) -> IrqState {
        self.state
            .irq
            .get(&line)
            .copied()
            .unwrap_or(IrqState::Inactive)
    }

    /// IRQControl Get (spec: IRQ-4), checks 1 … 8 in order.
    pub(super) fn decode_irq_control(
        &self,
        control: SlotRef,
        label: Option<Label>,
        words: &[u64],
        extra: &[(SlotRef, Cap)],
    ) -> Result<Op, Refusal> {
        if label != Some(Label::IrqControlGet) {
            return Err(ErrorDetail::IllegalOperation);
        }
        // spec: IRQ-4 #1.
        if words.len() < 3 || extra.is_empty() {
            return Err(ErrorDetail::TruncatedMessage);
        }
        let (line, trigger, dest_index) = (words[0], words[1], words[2]);
        // spec: IRQ-4 #2 — only the architecture's trigger bits.
        if trigger & !self.layout().trigger_bits != 0 {
            return Err(ErrorDetail::InvalidArgument { index: 1 });
        }
        // spec: IRQ-4 #3.
        if line >= IRQ_LINES {
            return Err(range_error(0, IRQ_LINES - 1));
        }
        // spec: IRQ-4 #4.
        let Cap::CNode { obj: dest_cnode } = extra[0].1 else {
            return Err(ErrorDetail::InvalidCapability { position: 1 });
        };
        // spec: IRQ-4 #5 — reading: `dest_index` is one index into the
        // CNode of extra 0, as CNODE-1 (like UT-5's offset).
        let dest = self.index_in(dest_cnode, dest_index)?;
        match self.irq_state(line) {
            // spec: IRQ-4 #6.
            IrqState::Reserved => return Err(ErrorDetail::IllegalOperation),
            // spec: IRQ-4 #7.
            IrqState::Active { .. } => return Err(ErrorDetail::RevokeFirst),
            IrqState::Inactive => {}
        }
        // spec: IRQ-4 #8.
        if self.cap(dest).is_some() {
            return Err(ErrorDetail::DeleteFirst);
        }
        Ok(Op::Irq(IrqOp::Get {
            control,
            line,
            dest,
        }))
    }

    /// IRQHandler Ack, SetNotification, Clear (spec: IRQ-5 … IRQ-7).
    pub(super) fn decode_irq_handler(
        &self,
        line: u64,
        label: Option<Label>,
        extra: &[(SlotRef, Cap)],
    ) -> Result<Op, Refusal> {
        match label {
            // spec: IRQ-5 — no words, no checks.
            Some(Label::IrqHandlerAck) => Ok(Op::Irq(IrqOp::Ack(line))),
            Some(Label::IrqHandlerSetNotification) => {
                // spec: IRQ-6 #1.
                let Some(&(src, cap)) = extra.first() else {
                    return Err(ErrorDetail::TruncatedMessage);
                };
                // spec: IRQ-6 #2.
                match cap {
                    Cap::Notification { rights, .. } if rights.contains(Rights::WRITE) => {
                        Ok(Op::Irq(IrqOp::SetNotification { line, src, cap }))
                    }
                    _ => Err(ErrorDetail::InvalidCapability { position: 1 }),
                }
            }
            // spec: IRQ-7 — no words, no checks.
            Some(Label::IrqHandlerClear) => Ok(Op::Irq(IrqOp::Clear(line))),
            _ => Err(ErrorDetail::IllegalOperation),
        }
    }

    /// Perform an IRQ invocation.
    pub(super) fn perform_irq(
        &mut self,
        op: IrqOp,
        preempt: &mut dyn FnMut() -> bool,
    ) -> Result<Vec<u64>, Preempted> {
        match op {
            IrqOp::Get {
                control,
                line,
                dest,
            } => {
                // spec: IRQ-4 — configured (the trigger is not abstract
                // state), Active, unmasked; the handler is a child of the
                // IRQControl slot (DER-2).
                self.state
                    .irq
                    .insert(line, IrqState::Active { pending_ack: false });
                self.insert_child(control, dest, Cap::IrqHandler { line });
            }
            IrqOp::Ack(line) => {
                // spec: IRQ-5.
                if self.irq_state(line) == (IrqState::Active { pending_ack: true }) {
                    self.state
                        .irq
                        .insert(line, IrqState::Active { pending_ack: false });
                }
            }
            IrqOp::SetNotification { line, src, cap } => {
                // spec: IRQ-6 — delete the slot (DER-7: a Notification
                // capability, one step), then place the copy.
                // reading: "a copy" is a plain copy (CNODE-2 with the full
                // mask): same badge and rights.
                let irq = SlotRef::Irq { line };
                self.delete(irq, preempt)?;
                self.insert_child(src, irq, cap);
            }
            IrqOp::Clear(line) => {
                // spec: IRQ-7.
                self.delete(SlotRef::Irq { line }, preempt)?;
            }
        }
        Ok(Vec::new())
    }

    /// An interrupt on `line` (spec: IRQ-8): only an `Active` line without
    /// `pending_ack` raises it; it is masked (`pending_ack`), and the
    /// notification in its slot, if any, is signalled with that
    /// capability's badge (NTFN-3). SCHED-5 follows in `entry`.
    ///
    /// reading: an interrupt is not a system call, so it neither runs the
    /// SYS-18 continuation of `pending_delete` nor touches the interrupted
    /// thread (which stays `Running` or `Restart`); it is delivered also
    /// while the idle thread runs. A line at or above `IRQ_LINES` raises
    /// nothing.
    pub(super) fn interrupt(&mut self, line: u64) {
        if self.irq_state(line) != (IrqState::Active { pending_ack: false }) {
            return;
        }
        self.state
            .irq
            .insert(line, IrqState::Active { pending_ack: true });
        if let Some(Cap::Notification { obj, badge, .. }) = self.cap(SlotRef::Irq { line }) {
            self.signal(obj, badge);
        }
    }

    /// DER-12 IRQHandler, final: the line becomes `Inactive` (masked) and
    /// its slot is deleted. It holds nothing or a Notification capability,
    /// whose deletion is one step with no Zombie (DER-7).
    pub(super) fn finalise_irq_handler(&mut self, line: u64) {
        self.state.irq.remove(&line);
        let irq = SlotRef::Irq { line };
        if self.cap(irq).is_some() {
            let zombie = self.deletion_effect(irq);
            debug_assert!(!zombie);
            self.remove_slot(irq);
        }
    }
}
