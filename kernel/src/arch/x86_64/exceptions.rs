//! CPU exceptions (vectors 0–31) in the kernel: report on one line and stop.
//!
//! An exception taken in the kernel is a kernel bug (or a deliberate self
//! test) and none is recoverable; exceptions from user mode are the
//! thread's faults and go to the object core (`user::exception`), except
//! NMI, double fault and machine check, which end here wherever they
//! arrive. The report is one line,
//! written through the console's emergency path so that a fault taken while
//! the console lock is held still gets out:
//!
//! `EXCEPTION: page fault (vector 14), error code 0x0 [read, not present, kernel], RIP 0x…, CR2 0x…, RSP 0x…`
//!
//! The error code appears only for vectors where the CPU pushes one; CR2 is
//! printed for every vector (it is only meaningful for page faults, but
//! costs nothing and helps when one fault follows another).

use super::trap_entry::TrapFrame;
use abi::exit::ExitStatus;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use x86_64::registers::control::Cr2;

/// The mnemonic-free name of each exception vector.
const NAMES: [&str; 32] = [
    "divide error",
    "debug",
    "non-maskable interrupt",
    "breakpoint",
    "overflow",
    "bound range exceeded",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor segment overrun",
    "invalid TSS",
    "segment not present",
    "stack-segment fault",
    "general protection fault",
    "page fault",
    "reserved",
    "x87 floating-point error",
    "alignment check",
    "machine check",
    "SIMD floating-point error",
    "virtualization exception",
    "control protection exception",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "hypervisor injection exception",
    "VMM communication exception",
    "security exception",
    "reserved",
];

const PAGE_FAULT: u64 = 14;

/// Whether the CPU pushes an error code for `vector` (the same list the
/// entry stubs use).
fn has_error_code(vector: u64) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// Set while a report is being written: a fault inside the report (a
/// broken console, say) must not recurse until the stack is gone.
static REPORTING: AtomicBool = AtomicBool::new(false);

/// Report the exception in `frame` and end the run with a failure status.
pub fn report(frame: &TrapFrame) -> ! {
    if !REPORTING.swap(true, Ordering::Relaxed) {
        let vector = frame.vector;
        let name = NAMES.get(vector as usize).copied().unwrap_or("?");
        crate::console::emergency_write_fmt(format_args!(
            "\nEXCEPTION: {name} (vector {vector}){}, RIP {:#x}, CR2 {:#x}, RSP {:#x}\n",
            ErrorCode(frame),
            frame.rip,
            Cr2::read_raw(),
            frame.rsp,
        ));
    }
    crate::arch::exit(ExitStatus::Failure)
}

/// `, error code 0x…` (decoded for page faults), or nothing.
struct ErrorCode<'a>(&'a TrapFrame);

impl fmt::Display for ErrorCode<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let (vector, code) = (self.0.vector, self.0.error_code);
        if !has_error_code(vector) {
            return Ok(());
        }
        write!(f, ", error code {code:#x}")?;
        if vector == PAGE_FAULT {
            let bit = |n: u32| code & (1 << n) != 0;
            let access = if bit(4) {
                "instruction fetch"
            } else if bit(1) {
                "write"
            } else {
                "read"
            };
            let cause = if bit(0) {
                "protection violation"
            } else {
                "not present"
            };
            let mode = if bit(2) { "user" } else { "kernel" };
            write!(f, " [{access}, {cause}, {mode}")?;
            if bit(3) {
                f.write_str(", reserved bit set")?;
            }
            if bit(5) {
                f.write_str(", protection key")?;
            }
            if bit(6) {
                f.write_str(", shadow stack")?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}
