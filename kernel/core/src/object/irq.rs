//! Interrupts to user space: IRQ control, IRQ handlers, delivery
//! (spec: IRQ-1 … IRQ-9).
//!
//! The kernel keeps a state per line and one slot per line (the IRQ table,
//! in kernel memory). Masking and unmasking the line at the interrupt
//! controller is the architecture layer's work; it follows the state here
//! (a line is masked unless `Active` without a pending acknowledgement,
//! INV-36).

use crate::cap::Cap;
use crate::kernel::{Invocation, Kernel, Preempted, cnode_slot};
use crate::mem::{Memory, PAddr};
use crate::slot::{self, SLOT_SIZE};
use abi::error::ErrorDetail;
use abi::invocation::Label;
use abi::irq::IRQ_LINES;
use abi::rights::Rights;

/// Line state: not claimed (masked).
pub const INACTIVE: u8 = 0;
/// Line state: never handed out.
pub const RESERVED: u8 = 1;
/// Line state: claimed, unmasked.
pub const ACTIVE: u8 = 2;
/// Line state: claimed, delivered and not acknowledged (masked).
pub const ACTIVE_PENDING: u8 = 3;

impl<M: Memory> Kernel<M> {
    /// The IRQ-table slot of `line`.
    pub fn irq_slot(&self, line: u64) -> PAddr {
        self.irq_slots + line * SLOT_SIZE
    }

    /// IRQControl Get (spec: IRQ-4).
    pub(crate) fn irq_get(&mut self, inv: &Invocation<'_>) -> Result<(), ErrorDetail> {
        // 1
        let (&[line, trigger, dest, ..], &[(_, cnode), ..]) = (inv.words, inv.extra) else {
            return Err(ErrorDetail::TruncatedMessage);
        };
        // 2
        if trigger & !self.layout.trigger_bits != 0 {
            return Err(ErrorDetail::InvalidArgument { index: 1 });
        }
        // 3
        if line >= IRQ_LINES {
            return Err(ErrorDetail::RangeError {
                min: 0,
                max: IRQ_LINES - 1,
            });
        }
        // 4
        let Cap::CNode { obj, radix } = cnode else {
            return Err(ErrorDetail::InvalidCapability { position: 1 });
        };
        // 5
        let slots = 1u64 << radix;
        if dest >= slots {
            return Err(ErrorDetail::RangeError {
                min: 0,
                max: slots - 1,
            });
        }
        // 6, 7
        match self.irq_state[line as usize] {
            RESERVED => return Err(ErrorDetail::IllegalOperation),
            INACTIVE => {}
            _ => return Err(ErrorDetail::RevokeFirst),
        }
        // 8
        let to = cnode_slot(obj, dest);
        if !slot::cap(&self.mem, to).is_null() {
            return Err(ErrorDetail::DeleteFirst);
        }
        // Effect: configured (trigger: the architecture layer's), Active,
        // unmasked; the handler a child of the IRQControl slot.
        self.irq_state[line as usize] = ACTIVE;
        self.irq_trigger[line as usize] = trigger as u8;
        self.irq_changes = self.irq_changes.wrapping_add(1);
        slot::insert_child(
            &mut self.mem,
            inv.slot,
            to,
            Cap::IrqHandler { line: line as u16 },
        );
        Ok(())
    }

    /// IRQHandler Ack, SetNotification, Clear (spec: IRQ-5 … IRQ-7).
    pub(crate) fn irq_handler_invoke(
        &mut self,
        line: u16,
        label: Label,
        inv: &Invocation<'_>,
        preempt: &mut dyn FnMut() -> bool,
    ) -> Result<Result<(), ErrorDetail>, Preempted> {
        let l = line as usize;
        match label {
            Label::IrqHandlerAck => {
                if self.irq_state[l] == ACTIVE_PENDING {
                    self.irq_state[l] = ACTIVE;
                    self.irq_changes = self.irq_changes.wrapping_add(1);
                }
            }
            Label::IrqHandlerSetNotification => {
                let Some(&(from, cap)) = inv.extra.first() else {
                    return Ok(Err(ErrorDetail::TruncatedMessage));
                };
                if !matches!(cap, Cap::Notification { rights, .. } if rights.contains(Rights::WRITE))
                {
                    return Ok(Err(ErrorDetail::InvalidCapability { position: 1 }));
                }
                let at = self.irq_slot(line as u64);
                self.delete(at, preempt)?;
                if slot::cap(&self.mem, from) == cap && slot::cap(&self.mem, at).is_null() {
                    slot::insert_child(&mut self.mem, from, at, cap.derived(Rights::ALL));
                }
            }
            Label::IrqHandlerClear => {
                let at = self.irq_slot(line as u64);
                self.delete(at, preempt)?;
            }
            _ => return Ok(Err(ErrorDetail::IllegalOperation)),
        }
        Ok(Ok(()))
    }

    /// A device interrupt (spec: IRQ-8): a line that is `Active` and not
    /// awaiting its acknowledgement is masked, marked pending, and its
    /// notification (if any) signalled with the capability's badge.
    pub(crate) fn interrupt(&mut self, line: u64) {
        let Some(st) = self.irq_state.get_mut(line as usize) else {
            return;
        };
        if *st != ACTIVE {
            return;
        }
        *st = ACTIVE_PENDING;
        self.irq_changes = self.irq_changes.wrapping_add(1);
        if let Cap::Notification { obj, badge, .. } = slot::cap(&self.mem, self.irq_slot(line)) {
            self.signal(obj, badge);
        }
    }
}
