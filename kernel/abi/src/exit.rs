//! How a test boot reports its outcome to the QEMU runner.
//!
//! x86_64: the kernel writes a status byte to QEMU's `isa-debug-exit` port
//! [`X86_DEBUG_EXIT_PORT`]; QEMU then exits with `(value << 1) | 1`.
//! aarch64: semihosting `SYS_EXIT_EXTENDED` when the command line asks for
//! it (`exit=semihosting`, set by the runner), otherwise PSCI `SYSTEM_OFF`.
//! On both, the last serial line is `EXIT: <status>`, so a transcript alone
//! also says how the boot ended.

/// I/O port of QEMU's `isa-debug-exit` device as the runner configures it.
pub const X86_DEBUG_EXIT_PORT: u16 = 0xf4;

/// Outcome of a boot, as the kernel reports it.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything the boot was asked to do succeeded.
    Success = 0,
    /// A kernel panic, an unexpected exception, or a failed check.
    Failure = 1,
}

impl ExitStatus {
    /// The exit code QEMU gives the runner for this status on x86_64
    /// (`isa-debug-exit` maps a written value `v` to `(v << 1) | 1`).
    pub const fn x86_qemu_code(self) -> i32 {
        ((self as i32) << 1) | 1
    }
}
