//! Ending the run: semihosting when the command line asks for it (it
//! carries the status to QEMU), otherwise PSCI `SYSTEM_OFF`; then halt.
//!
//! The choice is made at entry ([`init_early`]), from the BootInfo's
//! command line, so that a failure before `init` — a panic while the
//! console comes up, an early exception — still ends with the right
//! status instead of a PSCI power-off that QEMU reports as success.

use super::{conduit, psci};
use crate::cmdline::CommandLine;
use aarch64_cpu::registers::{DAIF, Writeable};
use abi::exit::ExitStatus;
use core::sync::atomic::{AtomicBool, Ordering};

static SEMIHOSTING: AtomicBool = AtomicBool::new(false);
static EXITING: AtomicBool = AtomicBool::new(false);

/// Semihosting `SYS_EXIT_EXTENDED`, and the reason code it takes.
const SYS_EXIT_EXTENDED: u64 = 0x20;
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

/// Read `exit=semihosting` from the command line in the BootInfo at
/// `bootinfo_phys` (if it is valid; otherwise PSCI it is).
pub fn init_early(bootinfo_phys: u64) {
    if let Some(bi) = crate::boot_info::get(bootinfo_phys) {
        let semihosting = CommandLine::new(bi.cmdline()).is("exit", "semihosting");
        SEMIHOSTING.store(semihosting, Ordering::Relaxed);
    }
}

/// See the module documentation. A second call (a fault while exiting)
/// goes straight to the halt loop.
pub fn exit(status: ExitStatus) -> ! {
    if !EXITING.swap(true, Ordering::Relaxed) {
        crate::console::emergency_write_fmt(format_args!("EXIT: {}\n", status as u8));
        if SEMIHOSTING.load(Ordering::Relaxed) {
            let block = [ADP_STOPPED_APPLICATION_EXIT, status as u64];
            // Without a semihosting host the instruction is undefined: the
            // call returns an error (see `conduit`) and PSCI is tried next.
            // SAFETY: SYS_EXIT_EXTENDED reads the two-word block (on this
            // stack, mapped) and ends the emulator.
            unsafe { conduit::semihosting(SYS_EXIT_EXTENDED, block.as_ptr() as u64) };
        }
        psci::system_off();
    }
    loop {
        DAIF.write(DAIF::D::Masked + DAIF::A::Masked + DAIF::I::Masked + DAIF::F::Masked);
        aarch64_cpu::asm::wfi();
    }
}
