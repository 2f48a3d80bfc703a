//! Boot-time self tests asked for on the command line (`test.*=`), used by
//! the boot test suite to prove that failure paths work.
//!
//! `test.check=corrupt` (checking kernel only) needs the built root task
//! and lives in `check.rs`: it breaks a derivation link (INV-17) once the
//! root task is built, so the check after the first entry must panic.

use crate::cmdline::CommandLine;

/// Unmapped, canonical upper-half address on both architectures; the boot
/// tests look for it in the exception report.
pub const FAULT_TEST_ADDR: u64 = 0xffff_dead_beef_0000;

/// Run the self tests the command line asks for.
pub fn run(cmdline: &CommandLine) {
    if cmdline.is("test.panic", "1") {
        panic!("selftest: deliberate kernel panic");
    }
    if cmdline.is("test.fault", "page") {
        log::info!("selftest: reading unmapped address {FAULT_TEST_ADDR:#x} on purpose");
        // SAFETY: not sound to complete — that is the point: the read
        // faults, and the exception handler reports it and stops the
        // kernel with a failure status. The address is never mapped.
        let v = unsafe { core::ptr::read_volatile(FAULT_TEST_ADDR as *const u64) };
        panic!("read of unmapped {FAULT_TEST_ADDR:#x} returned {v:#x} instead of faulting");
    }
}
