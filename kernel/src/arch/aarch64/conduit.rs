//! Calls out of the kernel to firmware or to the emulator: `hvc #0` and
//! `smc #0` (the PSCI conduits) and `hlt #0xf000` (Arm semihosting).
//!
//! Each of these instructions is undefined when nothing is there to take
//! it: HVC without EL2, SMC without EL3, HLT without a debugger or an
//! emulator that implements semihosting. Which one works is only known
//! from firmware tables, which can be wrong. Rather than trust them with
//! the kernel's life, each instruction lives in a tiny assembly function
//! of its own, and an undefined-instruction exception whose return address
//! is one of them is *recovered*: the exception handler sets the result
//! register to [`UNDEFINED`] and resumes after the instruction. The caller
//! sees an ordinary error.
//!
//! The functions follow the SMC Calling Convention: arguments in `x0`–`x3`,
//! result in `x0`; everything the C calling convention lets a callee
//! clobber may be clobbered.

use super::vectors::TrapFrame;
use aarch64_cpu::registers::{ESR_EL1, Readable};

core::arch::global_asm!(
    ".section .text.conduit, \"ax\"",
    ".balign 4",
    ".global cairn_hvc_call",
    "cairn_hvc_call:",
    "    hvc #0",
    "    ret",
    ".global cairn_smc_call",
    "cairn_smc_call:",
    "    smc #0",
    "    ret",
    ".global cairn_semihosting_call",
    "cairn_semihosting_call:",
    "    hlt #0xf000",
    "    ret",
);

unsafe extern "C" {
    fn cairn_hvc_call(x0: u64, x1: u64, x2: u64, x3: u64) -> u64;
    fn cairn_smc_call(x0: u64, x1: u64, x2: u64, x3: u64) -> u64;
    fn cairn_semihosting_call(op: u64, param: u64) -> u64;
}

/// What a call returns when its instruction turned out to be undefined
/// (also PSCI's `NOT_SUPPORTED`, -1).
pub const UNDEFINED: u64 = u64::MAX;

/// `hvc #0` with SMCCC arguments.
///
/// # Safety
/// Whatever takes the call at EL2 may change machine state; the caller
/// must know what the function ID does (PSCI `SYSTEM_OFF`, say).
pub unsafe fn hvc(x0: u64, x1: u64, x2: u64, x3: u64) -> u64 {
    // SAFETY: the function only issues the instruction and returns; the
    // effect of the call is the caller's responsibility (see above).
    unsafe { cairn_hvc_call(x0, x1, x2, x3) }
}

/// `smc #0` with SMCCC arguments.
///
/// # Safety
/// As for [`hvc`], for whatever takes the call at EL3 (or EL2).
pub unsafe fn smc(x0: u64, x1: u64, x2: u64, x3: u64) -> u64 {
    // SAFETY: as for `hvc`.
    unsafe { cairn_smc_call(x0, x1, x2, x3) }
}

/// A semihosting call: operation `op`, parameter block at `param`.
///
/// # Safety
/// `param` must be what operation `op` expects (typically the address of
/// a parameter block that stays valid during the call).
pub unsafe fn semihosting(op: u64, param: u64) -> u64 {
    // SAFETY: the host reads (or writes) only what `op` defines, at
    // `param`, which the caller vouches for.
    unsafe { cairn_semihosting_call(op, param) }
}

/// If the synchronous exception in `frame` is an undefined instruction in
/// one of the call functions above, make the call return [`UNDEFINED`]
/// and report it handled.
pub fn recover(frame: &mut TrapFrame) -> bool {
    let undefined = ESR_EL1.matches_all(ESR_EL1::EC::Unknown);
    let ours = [
        cairn_hvc_call as *const () as usize,
        cairn_smc_call as *const () as usize,
        cairn_semihosting_call as *const () as usize,
    ]
    .contains(&(frame.elr as usize));
    if !(undefined && ours) {
        return false;
    }
    frame.x[0] = UNDEFINED;
    frame.elr += 4;
    true
}
