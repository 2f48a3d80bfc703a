//! aarch64: entry (EL2 → EL1, MMU on), serial console, clock, exit.

mod entry;
mod pl011;

use crate::cmdline::CommandLine;
use crate::firmware::{self, SerialPort};
use aarch64_cpu::registers::{CNTFRQ_EL0, CNTPCT_EL0, Readable};
use abi::{boot::BootInfo, exit::ExitStatus};
use core::sync::atomic::{AtomicBool, Ordering};

/// Architecture name, as printed at boot.
pub const NAME: &str = "aarch64";

pub use pl011::Pl011 as Serial;

static SEMIHOSTING_EXIT: AtomicBool = AtomicBool::new(false);

/// Find and initialise the boot serial port (ACPI SPCR or the device tree).
pub fn serial(bi: &BootInfo) -> Option<Serial> {
    match firmware::serial_port(bi)? {
        SerialPort::Pl011(base) if base < bi.phys_map_size => {
            // SAFETY: the firmware names this PL011 as the console; it lies
            // in the direct map (device attributes) and nothing else in the
            // kernel drives it.
            Some(unsafe { Serial::new(crate::memory::phys_to_virt(base)) })
        }
        _ => None,
    }
}

/// Monotonic time since boot in nanoseconds, from the generic timer.
pub fn now_ns() -> u64 {
    let freq = CNTFRQ_EL0.get().max(1);
    let ticks = CNTPCT_EL0.get();
    ((ticks as u128 * 1_000_000_000) / freq as u128) as u64
}

/// Bring up traps, interrupts and the timer.
pub fn init(_bi: &BootInfo, cmdline: &CommandLine) {
    SEMIHOSTING_EXIT.store(cmdline.is("exit", "semihosting"), Ordering::Relaxed);
}

/// Unmask interrupts on this CPU.
pub fn enable_interrupts() {}

/// Mask interrupts on this CPU.
pub fn disable_interrupts() {}

/// Sleep until the next interrupt.
pub fn wait_for_interrupt() {}

/// End the run: semihosting `SYS_EXIT_EXTENDED` when asked for (carries the
/// status to QEMU), otherwise PSCI `SYSTEM_OFF`; then wait forever.
pub fn exit(status: ExitStatus) -> ! {
    crate::console::emergency_write_fmt(format_args!("EXIT: {}\n", status as u8));
    if SEMIHOSTING_EXIT.load(Ordering::Relaxed) {
        const SYS_EXIT_EXTENDED: u64 = 0x20;
        const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;
        let block = [ADP_STOPPED_APPLICATION_EXIT, status as u64];
        // SAFETY: the semihosting call reads the two-word block (on our
        // stack, mapped) and ends the emulator; on hardware without a
        // debugger it is an undefined instruction, which only happens when
        // the command line asked for semihosting.
        unsafe {
            core::arch::asm!("hlt #0xf000", in("x0") SYS_EXIT_EXTENDED, in("x1") block.as_ptr(), options(nostack));
        }
    }
    const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;
    // SAFETY: PSCI SYSTEM_OFF does not return on success; on failure it
    // returns an error code and we fall through to the wait loop.
    unsafe { core::arch::asm!("hvc #0", inout("x0") PSCI_SYSTEM_OFF => _, options(nostack)) };
    loop {
        aarch64_cpu::asm::wfi();
    }
}
