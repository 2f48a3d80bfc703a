//! Untyped memory: Retype, reset and zeroing (spec: UT-1 … UT-13).

use crate::cap::Cap;
use crate::kernel::{Invocation, Kernel, Preempted, cnode_slot};
use crate::mem::{Memory, PAddr};
use crate::object::tcb;
use crate::slot;
use abi::error::ErrorDetail;
use abi::object::{ObjectType, RESET_CHUNK_BITS, RETYPE_FAN_OUT_LIMIT};
use abi::rights::Rights;

/// A Retype that passed decode (spec: SYS-6).
struct Plan {
    ty: ObjectType,
    obj_bits: u32,
    /// The argument `size_bits` (radix of a CNode, size of an untyped).
    arg_bits: u8,
    dest_cnode: PAddr,
    dest_offset: u64,
    count: u64,
    /// Placement offset of the first object (spec: UT-7).
    start: u64,
    /// Reset first (spec: UT-10).
    reset: bool,
}

impl<M: Memory> Kernel<M> {
    /// Retype (spec: UT-3): decode, then reset if needed, then create.
    pub(crate) fn retype(
        &mut self,
        inv: &Invocation<'_>,
        preempt: &mut dyn FnMut() -> bool,
    ) -> Result<Result<(), ErrorDetail>, Preempted> {
        match self.decode_retype(inv) {
            Err(e) => Ok(Err(e)),
            Ok(plan) => {
                if plan.reset {
                    self.reset(inv.slot, preempt)?;
                }
                self.create(inv.slot, &plan);
                Ok(Ok(()))
            }
        }
    }

    /// The checks of UT-5, in order.
    fn decode_retype(&self, inv: &Invocation<'_>) -> Result<Plan, ErrorDetail> {
        let Cap::Untyped {
            size_bits,
            device,
            watermark,
            ..
        } = slot::cap(&self.mem, inv.slot)
        else {
            unreachable!("retype dispatched on a non-untyped capability");
        };
        // 1
        let (&[ty, arg, dest_offset, count, ..], &[(_, dest), ..]) = (inv.words, inv.extra) else {
            return Err(ErrorDetail::TruncatedMessage);
        };
        // 2
        let ty = ObjectType::try_from(ty).map_err(|_| ErrorDetail::InvalidArgument { index: 0 })?;
        // 3
        let obj_bits = ty.size_bits(arg).map_err(|r| ErrorDetail::RangeError {
            min: r.min as u64,
            max: r.max as u64,
        })?;
        // 4 (spec: UT-13)
        if device && !ty.allowed_from_device() {
            return Err(ErrorDetail::InvalidArgument { index: 0 });
        }
        // 5
        let Cap::CNode {
            obj: dest_cnode,
            radix,
        } = dest
        else {
            return Err(ErrorDetail::InvalidCapability { position: 1 });
        };
        // 6
        if !(1..=RETYPE_FAN_OUT_LIMIT).contains(&count) {
            return Err(ErrorDetail::RangeError {
                min: 1,
                max: RETYPE_FAN_OUT_LIMIT,
            });
        }
        let slots = 1u64 << radix;
        // 7
        if dest_offset >= slots {
            return Err(ErrorDetail::RangeError {
                min: 0,
                max: slots - 1,
            });
        }
        // 8
        if count > slots - dest_offset {
            return Err(ErrorDetail::RangeError {
                min: 1,
                max: slots - dest_offset,
            });
        }
        // 9
        if (dest_offset..dest_offset + count)
            .any(|i| !slot::cap(&self.mem, cnode_slot(dest_cnode, i)).is_null())
        {
            return Err(ErrorDetail::DeleteFirst);
        }
        // 10 (spec: UT-6, UT-7)
        let effective = if slot::has_children(&self.mem, inv.slot) {
            watermark
        } else {
            0
        };
        let region = 1u64 << size_bits;
        let align = 1u64 << obj_bits;
        let start = effective.div_ceil(align) * align;
        let fits = obj_bits <= size_bits as u32
            && start
                .checked_add(count << obj_bits)
                .is_some_and(|end| end <= region);
        if !fits {
            return Err(ErrorDetail::NotEnoughMemory {
                available: region - effective,
            });
        }
        Ok(Plan {
            ty,
            obj_bits,
            arg_bits: arg as u8,
            dest_cnode,
            dest_offset,
            count,
            start,
            reset: effective == 0 && watermark > 0,
        })
    }

    /// Reset the untyped in slot `ut` (spec: UT-10): zero `[0, watermark)`
    /// in aligned chunks from the top down, lowering the watermark after
    /// each, with a preemption point after every chunk. Device memory is
    /// never written; its watermark drops to 0 in one step.
    pub(crate) fn reset(
        &mut self,
        ut: PAddr,
        preempt: &mut dyn FnMut() -> bool,
    ) -> Result<(), Preempted> {
        loop {
            let Cap::Untyped {
                base,
                size_bits,
                device,
                watermark,
            } = slot::cap(&self.mem, ut)
            else {
                unreachable!("reset of a non-untyped capability");
            };
            if watermark == 0 {
                return Ok(());
            }
            let chunk = if device {
                0
            } else {
                let bits = RESET_CHUNK_BITS.min(size_bits as u32);
                let lo = (watermark - 1) >> bits << bits;
                self.mem.zero(base + lo, (watermark - lo) as usize);
                lo
            };
            slot::set_cap(
                &mut self.mem,
                ut,
                Cap::Untyped {
                    base,
                    size_bits,
                    device,
                    watermark: chunk,
                },
            );
            if !device && preempt() {
                return Err(Preempted);
            }
        }
    }

    /// Create the objects and their capabilities (spec: UT-8, UT-9).
    fn create(&mut self, ut: PAddr, p: &Plan) {
        let Cap::Untyped {
            base,
            size_bits,
            device,
            ..
        } = slot::cap(&self.mem, ut)
        else {
            unreachable!("create from a non-untyped capability");
        };
        slot::set_cap(
            &mut self.mem,
            ut,
            Cap::Untyped {
                base,
                size_bits,
                device,
                watermark: p.start + (p.count << p.obj_bits),
            },
        );
        for i in 0..p.count {
            let obj = base + p.start + (i << p.obj_bits);
            let cap = match p.ty {
                ObjectType::Untyped => Cap::Untyped {
                    base: obj,
                    size_bits: p.arg_bits,
                    device,
                    watermark: 0,
                },
                ObjectType::Tcb => {
                    // The only non-zero field of a new TCB (spec: UT-9).
                    tcb::tcb_mut(&mut self.mem, obj).slice = abi::sched::TIME_SLICE_TICKS as u64;
                    Cap::Tcb { obj }
                }
                ObjectType::Endpoint => Cap::Endpoint {
                    obj,
                    badge: 0,
                    rights: Rights::ALL,
                },
                ObjectType::Notification => Cap::Notification {
                    obj,
                    badge: 0,
                    rights: Rights::ALL,
                },
                ObjectType::CNode => Cap::CNode {
                    obj,
                    radix: p.arg_bits,
                },
                ObjectType::Frame4K | ObjectType::Frame2M | ObjectType::Frame1G => Cap::Frame {
                    obj,
                    size_bits: p.obj_bits as u8,
                    device,
                    rights: Rights::READ_WRITE,
                    mapping: None,
                },
                ObjectType::PageTable => Cap::PageTable { obj, mapping: None },
                ObjectType::VSpace => Cap::VSpace { obj },
            };
            // Newest first among the untyped's children (spec: UT-8, DER-3).
            slot::insert_child(
                &mut self.mem,
                ut,
                cnode_slot(p.dest_cnode, p.dest_offset + i),
                cap,
            );
        }
    }
}
