//! What the kernel does with each exception: exceptions from EL0 go to
//! the user-mode boundary, interrupts to the interrupt code, everything
//! else is reported on one line and ends the run.
//!
//! From EL0 in AArch64 (see [`super::user`]), a synchronous exception is
//! a system call or a fault of the current thread, an SError a fault of
//! that thread, and an IRQ is handled as in the kernel, entering the core
//! on a tick. An FIQ (nothing is routed to one) and anything from EL0 in
//! AArch32 (never entered: every return to EL0 sets `SPSR.M[4]` = 0) mean
//! the interrupt setup or the return path is wrong, and are reported like
//! kernel exceptions.
//!
//! In the kernel, a synchronous exception or SError is a kernel bug (or a
//! deliberate self test), and an IRQ or FIQ through any entry but "EL1h
//! IRQ" means the vector table or the interrupt setup is wrong. None of
//! these is recoverable. The one exception to the rule is a firmware call
//! that turns out to be undefined on this machine (see
//! [`super::conduit`]), which returns an error to its caller instead.
//!
//! The report is one line, written through the console's emergency path
//! so that a fault taken while the console lock is held still gets out:
//!
//! `EXCEPTION: data abort (same EL) [read, translation fault, level 0], ESR 0x96000004, ELR 0xffffffff8000a1b4, FAR 0xffffdeadbeef0000, SP 0xffffffff6fffe9d0, vector EL1h synchronous`
//!
//! The class is decoded from `ESR_EL1.EC`, with the fault status and
//! access direction for aborts and the immediate for SVC/HVC/SMC. ESR, ELR
//! and FAR are read from the registers at the time of the report (nothing
//! can have changed them: every exception masks all others on entry, and a
//! fault inside the report is not reported again). For an IRQ or FIQ the
//! ESR and FAR printed are stale, but cost nothing and help when one fault
//! follows another.

use super::vectors::{Kind, Origin, TrapFrame, Vector};
use super::{conduit, irq, user};
use aarch64_cpu::registers::{ELR_EL1, ESR_EL1, FAR_EL1, Readable};
use abi::boot::layout::{KERNEL_STACK_SIZE, KERNEL_STACK_TOP};
use abi::exit::ExitStatus;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use tock_registers::LocalRegisterCopy;

/// Rust side of every vector entry: the assembly passes the frame it saved
/// and the entry number (0–15). Returning resumes the interrupted code.
pub extern "C" fn dispatch(frame: &mut TrapFrame, index: u64) {
    let vector = Vector::from_index(index);
    match (vector.origin, vector.kind) {
        (Origin::El0Aarch64, Kind::Synchronous) => user::synchronous(frame),
        (Origin::El0Aarch64, Kind::Irq) => user::irq(frame),
        (Origin::El0Aarch64, Kind::SError) => user::serror(frame),
        (Origin::El1Spx, Kind::Irq) => {
            // The kernel takes interrupts only while it waits for one; a
            // device interrupt is handed to the object core when the wait
            // is over (see `crate::irq`).
            if let irq::Taken::Line(line) = irq::handle(frame) {
                crate::irq::defer(line);
            }
        }
        (Origin::El1Spx, Kind::Synchronous) if conduit::recover(frame) => {}
        _ => {
            // The stack pointer before the exception: the frame sits just
            // below it for exceptions taken on SP_EL1; otherwise the
            // interrupted code ran on SP_EL0.
            let sp = match vector.origin {
                Origin::El1Spx => frame as *const TrapFrame as u64 + size_of::<TrapFrame>() as u64,
                _ => frame.sp_el0,
            };
            report(vector, None, sp)
        }
    }
}

/// Called on the emergency stack when a vector entry found no room for a
/// frame on the kernel stack, or a misaligned stack pointer. `sp` is the
/// stack pointer at the exception.
pub extern "C" fn bad_stack(sp: u64, index: u64) -> ! {
    let guard_top = KERNEL_STACK_TOP - KERNEL_STACK_SIZE;
    let why = if !sp.is_multiple_of(16) {
        BadStack::Misaligned
    } else {
        BadStack::Overflow { guard_top }
    };
    report(Vector::from_index(index), Some(why), sp)
}

/// Why a vector entry could not use the stack it found.
#[derive(Clone, Copy)]
enum BadStack {
    /// The frame would have reached below the stack (into the guard page
    /// that ends at `guard_top`, or beyond).
    Overflow { guard_top: u64 },
    /// The stack pointer was not 16-byte aligned.
    Misaligned,
}

/// Set while a report is being written: a fault inside the report (a
/// broken console, say) must not recurse until the stack is gone.
static REPORTING: AtomicBool = AtomicBool::new(false);

/// Report the exception just taken and end the run with a failure status.
fn report(vector: Vector, bad_stack: Option<BadStack>, sp: u64) -> ! {
    if !REPORTING.swap(true, Ordering::Relaxed) {
        let esr = ESR_EL1.extract();
        let prefix = match bad_stack {
            Some(BadStack::Overflow { .. }) => "kernel stack overflow: ",
            Some(BadStack::Misaligned) => "misaligned kernel stack pointer: ",
            None => "",
        };
        let what: &dyn fmt::Display = match vector.kind {
            Kind::Synchronous | Kind::SError => &Syndrome(esr),
            Kind::Irq => &"unexpected IRQ",
            Kind::Fiq => &"unexpected FIQ",
        };
        crate::console::emergency_write_fmt(format_args!(
            "\nEXCEPTION: {prefix}{what}, ESR {:#x}, ELR {:#x}, FAR {:#x}, SP {sp:#x}, vector {vector}{}\n",
            esr.get(),
            ELR_EL1.get(),
            FAR_EL1.get(),
            StackNote(bad_stack),
        ));
    }
    crate::arch::exit(ExitStatus::Failure)
}

/// Where the stack ended, for a stack that could not take a frame.
struct StackNote(Option<BadStack>);

impl fmt::Display for StackNote {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.0 {
            Some(BadStack::Overflow { guard_top }) => write!(
                f,
                " (boot stack {:#x}..{:#x}, guard page below; registers not saved)",
                guard_top, KERNEL_STACK_TOP
            ),
            Some(BadStack::Misaligned) => f.write_str(" (registers not saved)"),
            None => Ok(()),
        }
    }
}

type Esr = LocalRegisterCopy<u64, ESR_EL1::Register>;

/// The exception class of an ESR value, with the details that matter for
/// it: `data abort (same EL) [write, permission fault, level 3]`.
struct Syndrome(Esr);

impl fmt::Display for Syndrome {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        use ESR_EL1::EC::Value as Ec;
        let esr = self.0;
        let iss = esr.read(ESR_EL1::ISS);
        let Some(ec) = esr.read_as_enum(ESR_EL1::EC) else {
            return write!(f, "exception class {:#x}", esr.read(ESR_EL1::EC));
        };
        let name = match ec {
            Ec::Unknown => "undefined instruction (unknown reason)",
            Ec::TrappedWFIorWFE => "trapped WFI/WFE",
            Ec::TrappedMCRorMRC
            | Ec::TrappedMCRRorMRRC
            | Ec::TrappedMCRorMRC2
            | Ec::TrappedLDCorSTC
            | Ec::TrappedMRRC => "trapped AArch32 system instruction",
            Ec::TrappedFP => "trapped SIMD/FP access",
            Ec::TrappedNotCovered => "trapped instruction",
            Ec::BranchTarget => "branch target exception",
            Ec::IllegalExecutionState => "illegal execution state",
            Ec::SVC32 => "SVC (AArch32)",
            Ec::TrappedMSRR_MRRS => "trapped MSRR/MRRS",
            Ec::SVC64 => "SVC",
            Ec::HVC64 => "HVC",
            Ec::SMC64 => "SMC",
            Ec::TrappedMsrMrs => "trapped MSR/MRS/system instruction",
            Ec::TrappedSve => "trapped SVE access",
            Ec::TrappedTSTART => "trapped TSTART",
            Ec::PointerAuth => "pointer authentication failure",
            Ec::TrappedSME => "trapped SME access",
            Ec::InstrAbortLowerEL => "instruction abort (lower EL)",
            Ec::InstrAbortCurrentEL => "instruction abort (same EL)",
            Ec::PCAlignmentFault => "PC alignment fault",
            Ec::DataAbortLowerEL => "data abort (lower EL)",
            Ec::DataAbortCurrentEL => "data abort (same EL)",
            Ec::SPAlignmentFault => "SP alignment fault",
            Ec::MemoryOperationException => "memory operation exception",
            Ec::TrappedFP32 => "floating-point exception (AArch32)",
            Ec::TrappedFP64 => "floating-point exception",
            Ec::GCSException => "guarded control stack exception",
            Ec::SError => "SError",
            Ec::BreakpointLowerEL => "breakpoint (lower EL)",
            Ec::BreakpointCurrentEL => "breakpoint (same EL)",
            Ec::SoftwareStepLowerEL => "software step (lower EL)",
            Ec::SoftwareStepCurrentEL => "software step (same EL)",
            Ec::WatchpointLowerEL => "watchpoint (lower EL)",
            Ec::WatchpointCurrentEL => "watchpoint (same EL)",
            Ec::Bkpt32 => "BKPT (AArch32)",
            Ec::Brk64 => "BRK",
            Ec::ProfilingException => "profiling exception",
        };
        f.write_str(name)?;
        match ec {
            Ec::DataAbortLowerEL | Ec::DataAbortCurrentEL => {
                let access = if iss & (1 << 8) != 0 {
                    "cache maintenance"
                } else if iss & (1 << 6) != 0 {
                    "write"
                } else {
                    "read"
                };
                write!(f, " [{access}, {}", FaultStatus(iss & 0x3f))?;
                far_validity(f, iss)?;
                f.write_str("]")
            }
            Ec::InstrAbortLowerEL | Ec::InstrAbortCurrentEL => {
                write!(f, " [{}", FaultStatus(iss & 0x3f))?;
                far_validity(f, iss)?;
                f.write_str("]")
            }
            Ec::SVC32 | Ec::SVC64 | Ec::HVC64 | Ec::SMC64 | Ec::Brk64 => {
                write!(f, " [#{:#x}]", iss & 0xffff)
            }
            _ => Ok(()),
        }
    }
}

/// ISS.FnV: FAR does not hold the faulting address.
fn far_validity(f: &mut fmt::Formatter, iss: u64) -> fmt::Result {
    if iss & (1 << 10) != 0 {
        f.write_str(", FAR not valid")
    } else {
        Ok(())
    }
}

/// The data/instruction fault status code (ISS bits 5:0) of an abort.
struct FaultStatus(u64);

impl fmt::Display for FaultStatus {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let code = self.0;
        let level = code & 3;
        let (name, with_level) = match code {
            0b00_0000..=0b00_0011 => ("address size fault", true),
            0b00_0100..=0b00_0111 => ("translation fault", true),
            0b00_1000..=0b00_1011 => ("access flag fault", true),
            0b00_1100..=0b00_1111 => ("permission fault", true),
            0b01_0000 => ("synchronous external abort", false),
            0b01_0001 => ("tag check fault", false),
            0b01_0100..=0b01_0111 => ("external abort on a table walk", true),
            0b01_1000 => ("parity or ECC error", false),
            0b01_1100..=0b01_1111 => ("parity or ECC error on a table walk", true),
            0b10_0001 => ("alignment fault", false),
            0b11_0000 => ("TLB conflict abort", false),
            0b11_0001 => ("unsupported atomic hardware update", false),
            _ => return write!(f, "fault status {code:#x}"),
        };
        f.write_str(name)?;
        if with_level {
            write!(f, ", level {level}")?;
        }
        Ok(())
    }
}
