//! The IDT, the vector map, and the dispatch of every trap to its handler.
//!
//! All 256 gates point at the entry stubs of [`trap_entry`]; every one is an
//! interrupt gate (interrupts stay masked in handlers, which are short and
//! never re-enable them) on the current stack — the kernel stack's top
//! (the TSS's `rsp0`) for a trap from user mode — except the double fault,
//! which switches to its IST stack. Every gate has DPL 0, so user mode
//! cannot raise a vector with `int n` (it gets #GP instead), except the
//! breakpoint: DPL 3, so that `int3` in user mode reports #BP.
//!
//! Vector map:
//!
//! | vectors | use |
//! |---|---|
//! | 0–31 | CPU exceptions: in the kernel fatal, see [`exceptions`]; from user mode the thread's fault, see [`user::exception`] |
//! | 0x20–0x2f | the masked 8259s, remapped off the exceptions (see [`pic`]) |
//! | [`TIMER_VECTOR`] | the LAPIC's periodic tick (from user mode also an entry to the object core, [`user::tick`]) |
//! | [`DEVICE_VECTOR_BASE`] + GSI, below [`DEVICE_VECTOR_END`] | device interrupts (IOAPIC inputs), for user space: masked and handed to the object core ([`crate::irq`]) |
//! | [`LAPIC_ERROR_VECTOR`] | the LAPIC's error interrupt |
//! | [`SPURIOUS_VECTOR`] | the LAPIC's spurious interrupt |
//! | anything else | unexpected: logged, acknowledged if in service |
//!
//! Whatever the vector, a trap from user mode resumes user mode (possibly
//! another thread) through the same frame; see [`trap_entry`] for the
//! `swapgs` on the way in and out.
//!
//! [`pic`]: super::pic

use super::trap_entry::{self, TrapFrame};
use super::{apic, exceptions, gdt, timer, user};
use spin::Once;
use x86_64::PrivilegeLevel;
use x86_64::structures::idt::{Entry, HandlerFunc, InterruptDescriptorTable};

/// The LAPIC timer's vector. Above the (masked) 8259 range; the LAPIC's
/// priority classes (vector / 16) make it outrank nothing important yet.
pub const TIMER_VECTOR: u8 = 0x30;
/// Device interrupts: GSI `n` arrives on vector `DEVICE_VECTOR_BASE + n`
/// (see [`super::ioapic`]), up to `DEVICE_VECTOR_END` (exclusive).
pub const DEVICE_VECTOR_BASE: u8 = 0x40;
pub const DEVICE_VECTOR_END: u8 = 0xf0;
/// The LAPIC error interrupt.
pub const LAPIC_ERROR_VECTOR: u8 = 0xfe;
/// The LAPIC spurious-interrupt vector; its low four bits must be set on
/// older CPUs, which 0xff satisfies.
pub const SPURIOUS_VECTOR: u8 = 0xff;

/// #BP, the one gate user mode may invoke with a software interrupt.
const BREAKPOINT_VECTOR: u8 = 3;

static IDT: Once<InterruptDescriptorTable> = Once::new();

// The x86_64 crate models the IDT as one field per exception, but its
// layout is the hardware's: 256 gates of 16 bytes, in vector order.
const _: () = assert!(core::mem::size_of::<InterruptDescriptorTable>() == 256 * 16);
const _: () = assert!(core::mem::size_of::<Entry<HandlerFunc>>() == 16);

/// Build and load the IDT. Must run after [`gdt::init`]: each gate records
/// the current code segment.
pub fn init() {
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        // The crate's indexing panics for exceptions with error codes and
        // hides the reserved vectors (15, 22–27, 31); this kernel wants a
        // gate on every vector, all pointing at stubs, so it walks the
        // table as the array of gates it is.
        //
        // SAFETY: `InterruptDescriptorTable` is `repr(C)`, exactly 256
        // `Entry<_>` fields in vector order (size asserted above), and
        // every `Entry<F>` has the same `repr(C)` layout whatever `F` is
        // (`F` appears only in `PhantomData`). The view is the only live
        // reference to `idt` while it exists.
        let gates = unsafe { &mut *(&raw mut idt).cast::<[Entry<HandlerFunc>; 256]>() };
        for (vector, gate) in (0..=255u8).zip(gates.iter_mut()) {
            // SAFETY: the address is the entry stub for this vector, which
            // expects exactly the frame the CPU pushes for it (the stub
            // knows which vectors carry an error code).
            let options = unsafe { gate.set_handler_addr(trap_entry::stub_address(vector)) };
            // `int3` is the one software interrupt user mode may raise (an
            // exception there like any other, see `user::exception`).
            if vector == BREAKPOINT_VECTOR {
                options.set_privilege_level(PrivilegeLevel::Ring3);
            }
        }
        // SAFETY: IST slot `DOUBLE_FAULT_IST_INDEX` holds the top of a
        // static stack used by nothing else; double faults do not nest
        // (a fault while delivering one is a triple fault, i.e. a reset).
        unsafe {
            idt.double_fault
                .set_handler_addr(trap_entry::stub_address(8))
                .set_stack_index(gdt::DOUBLE_FAULT_IST_INDEX);
        }
        idt
    });
    idt.load();
}

/// Called by the common entry path for every trap, with interrupts masked.
///
/// A trap from user mode (RPL 3 in the saved CS) may come back with the
/// frame holding another thread's registers.
pub extern "C" fn dispatch(frame: &mut TrapFrame) {
    let from_user = frame.cs & 3 == 3;
    match frame.vector as u8 {
        0..=31 if from_user => user::exception(frame),
        0..=31 => exceptions::report(frame),
        TIMER_VECTOR if from_user => user::tick(frame),
        TIMER_VECTOR => timer::on_interrupt(),
        v @ DEVICE_VECTOR_BASE..DEVICE_VECTOR_END => {
            let line = u64::from(v - DEVICE_VECTOR_BASE);
            // spec: IRQ-8 — masked before the EOI, so that a level-triggered
            // line still asserted is not taken again.
            crate::irq::delivered(line);
            apic::eoi();
            if from_user {
                user::interrupt(frame, line);
            } else {
                crate::irq::defer(line);
            }
        }
        SPURIOUS_VECTOR => apic::on_spurious(),
        LAPIC_ERROR_VECTOR => apic::on_error(),
        vector => apic::on_unexpected(vector),
    }
}
