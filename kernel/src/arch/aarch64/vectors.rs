//! The exception vector table (`VBAR_EL1`) and the register frame.
//!
//! The table has the architecture's 16 entries of 0x80 bytes: four groups
//! (taken from EL1 on `SP_EL0`, from EL1 on `SP_EL1`, from a lower EL in
//! AArch64, from a lower EL in AArch32) times four kinds (synchronous, IRQ,
//! FIQ, SError). Every entry does the same thing: reserve a [`TrapFrame`]
//! on the stack, check that the stack can hold it, save `x0`/`x1`, load
//! its entry number and branch to one common save routine, which stores
//! the rest of the frame and calls [`super::exceptions::dispatch`]. On
//! return the frame is restored and `eret` resumes the interrupted code.
//!
//! The frame holds every general register, `SP_EL0`, `ELR_EL1`,
//! `SPSR_EL1` and the whole FP/SIMD file with `FPCR`/`FPSR`: the kernel
//! is compiled with NEON, so an interrupt handler written in Rust may use
//! any vector register, and interrupted kernel code may have live 128-bit
//! values in all of them (the calling convention only preserves the low
//! halves of `v8`–`v15`).
//!
//! Exceptions from EL0 (entries 8–15) use the same frame, but skip the
//! FP/SIMD part both ways: EL0 may not use FP/SIMD (it traps, see
//! [`super::user`]), so those registers hold only the kernel's leftovers,
//! which nobody needs back. The save is skipped by entry number, the
//! restore by the mode being returned to (`SPSR.M[4:0]` = 0, EL0t in
//! AArch64): an exception from EL0 always returns to EL0, and one from
//! EL1 to EL1. The part left unwritten is never read. When user FP/SIMD
//! comes, a thread's FP registers must be saved and restored (or switched
//! lazily) here or in the thread's context, never left for the next
//! thread to read.
//!
//! # Kernel stack overflow
//!
//! The boot stack has an unmapped guard page below it. A fault caused by
//! running into it cannot push a frame onto the same stack: the push
//! faults again, forever. So every entry checks the stack before its first
//! store, without a free register (all of them belong to the interrupted
//! code): it adds `x0` into `sp`, recovers the new `sp` into `x0` by
//! subtraction, tests it and undoes the addition (a known arithmetic
//! trick; no register or memory is touched). The test relies on the
//! layout: the stack is `KERNEL_STACK_SIZE` bytes (a power of two) ending
//! at `KERNEL_STACK_TOP`, a multiple of twice that size, so bit
//! `log2(KERNEL_STACK_SIZE)` of any address in the stack is 1 and of any
//! address in the `KERNEL_STACK_SIZE` bytes below it (the guard page and
//! whatever follows) is 0. A frame that would not fit, or a stack pointer
//! that is not 16-byte aligned (which would make the push itself take an
//! SP alignment fault), sends the entry to a separate path that switches
//! to a small emergency stack and reports the exception without a frame:
//! ESR, ELR and FAR still describe it, the interrupted registers are lost.
//!
//! The check assumes the kernel runs on the boot stack, as it does (one
//! CPU; user threads have no kernel stacks of their own: an exception from
//! EL0 starts on the boot stack's empty top, see [`super::user`]). An
//! exception taken on the emergency stack itself
//! may be misclassified either way; both ways end in a report and
//! `exit`, so the worst case is a less precise report.

use aarch64_cpu::{
    asm::barrier,
    registers::{VBAR_EL1, Writeable},
};
use abi::boot::layout::{KERNEL_STACK_SIZE, KERNEL_STACK_TOP};
use core::mem::{offset_of, size_of};

/// The registers of the interrupted context, as the vector entry saved
/// them (lowest address first).
#[repr(C)]
pub struct TrapFrame {
    /// `x0`–`x30`.
    pub x: [u64; 31],
    /// `SP_EL0`: the interrupted stack pointer for exceptions taken from
    /// EL0 or from EL1 running on `SP_EL0`.
    pub sp_el0: u64,
    /// `ELR_EL1`: where `eret` resumes.
    pub elr: u64,
    /// `SPSR_EL1`: the interrupted PSTATE.
    pub spsr: u64,
    /// `q0`–`q31` (not written for exceptions from EL0, see above).
    pub q: [u128; 32],
    /// `FPCR` (likewise).
    pub fpcr: u64,
    /// `FPSR` (likewise).
    pub fpsr: u64,
}

const FRAME_SIZE: usize = size_of::<TrapFrame>();
const _: () = assert!(FRAME_SIZE.is_multiple_of(16) && FRAME_SIZE < 4096);
const _: () = assert!(offset_of!(TrapFrame, x) == 0 && offset_of!(TrapFrame, sp_el0) == 31 * 8);
const _: () = assert!(offset_of!(TrapFrame, spsr) == offset_of!(TrapFrame, elr) + 8);
const _: () = assert!(offset_of!(TrapFrame, fpsr) == offset_of!(TrapFrame, fpcr) + 8);

/// The stack-overflow test (see the module documentation) needs this
/// layout; a change to the boot stack must keep it or change the test.
const STACK_BIT: u32 = KERNEL_STACK_SIZE.trailing_zeros();
const _: () = assert!(KERNEL_STACK_SIZE.is_power_of_two());
const _: () = assert!(KERNEL_STACK_TOP.is_multiple_of(2 * KERNEL_STACK_SIZE));

/// Where an exception came from and what kind it is: the vector entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vector {
    /// Which of the four groups of the table.
    pub origin: Origin,
    /// Which of the four entries of the group.
    pub kind: Kind,
}

/// The group of vector entries an exception was taken through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// From EL1 while running on `SP_EL0` (the kernel never does).
    El1Sp0,
    /// From EL1 on its own stack `SP_EL1`: the kernel itself.
    El1Spx,
    /// From EL0 in AArch64.
    El0Aarch64,
    /// From EL0 in AArch32.
    El0Aarch32,
}

/// The entry within a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Synchronous,
    Irq,
    Fiq,
    SError,
}

impl Vector {
    /// Decode the entry number (0–15) the vector stub passes.
    pub fn from_index(index: u64) -> Self {
        let origin = match (index >> 2) & 3 {
            0 => Origin::El1Sp0,
            1 => Origin::El1Spx,
            2 => Origin::El0Aarch64,
            _ => Origin::El0Aarch32,
        };
        let kind = match index & 3 {
            0 => Kind::Synchronous,
            1 => Kind::Irq,
            2 => Kind::Fiq,
            _ => Kind::SError,
        };
        Vector { origin, kind }
    }
}

impl core::fmt::Display for Vector {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        let origin = match self.origin {
            Origin::El1Sp0 => "EL1t",
            Origin::El1Spx => "EL1h",
            Origin::El0Aarch64 => "EL0 (AArch64)",
            Origin::El0Aarch32 => "EL0 (AArch32)",
        };
        let kind = match self.kind {
            Kind::Synchronous => "synchronous",
            Kind::Irq => "IRQ",
            Kind::Fiq => "FIQ",
            Kind::SError => "SError",
        };
        write!(f, "{origin} {kind}")
    }
}

/// Small stack for reporting an exception whose own stack is unusable.
#[repr(C, align(16))]
struct EmergencyStack([u8; EMERGENCY_STACK_SIZE]);
const EMERGENCY_STACK_SIZE: usize = 16 * 1024;
/// Only ever reached by address from the assembly below (never through a
/// Rust reference), hence `static mut`: it must live in writable memory.
static mut EMERGENCY_STACK: EmergencyStack = EmergencyStack([0; EMERGENCY_STACK_SIZE]);

core::arch::global_asm!(
    // One vector entry: reserve the frame, check the stack (see the module
    // documentation), save x0/x1 and branch to the common code with the
    // entry number in x0; on a bad stack branch away with the reserved
    // stack pointer in x0 and the entry number in x1.
    ".macro CAIRN_VECTOR_ENTRY index",
    "    .balign 0x80",
    "    sub sp, sp, #{frame}",
    "    add sp, sp, x0",
    "    sub x0, sp, x0",
    "    tbz x0, #{stack_bit}, 1f",
    "    tst x0, #15",
    "    b.ne 1f",
    "    sub x0, sp, x0",
    "    sub sp, sp, x0",
    "    stp x0, x1, [sp]",
    "    mov x0, #\\index",
    "    b cairn_trap_save",
    "1:  mov x1, #\\index",
    "    b cairn_trap_bad_stack",
    ".endm",
    "",
    ".section .text.vectors, \"ax\"",
    ".balign 2048",
    ".global cairn_vectors",
    "cairn_vectors:",
    "    CAIRN_VECTOR_ENTRY 0",
    "    CAIRN_VECTOR_ENTRY 1",
    "    CAIRN_VECTOR_ENTRY 2",
    "    CAIRN_VECTOR_ENTRY 3",
    "    CAIRN_VECTOR_ENTRY 4",
    "    CAIRN_VECTOR_ENTRY 5",
    "    CAIRN_VECTOR_ENTRY 6",
    "    CAIRN_VECTOR_ENTRY 7",
    "    CAIRN_VECTOR_ENTRY 8",
    "    CAIRN_VECTOR_ENTRY 9",
    "    CAIRN_VECTOR_ENTRY 10",
    "    CAIRN_VECTOR_ENTRY 11",
    "    CAIRN_VECTOR_ENTRY 12",
    "    CAIRN_VECTOR_ENTRY 13",
    "    CAIRN_VECTOR_ENTRY 14",
    "    CAIRN_VECTOR_ENTRY 15",
    "",
    // x0 = entry number; x0/x1 of the interrupted code are saved.
    "cairn_trap_save:",
    "    stp x2, x3, [sp, #16]",
    "    stp x4, x5, [sp, #32]",
    "    stp x6, x7, [sp, #48]",
    "    stp x8, x9, [sp, #64]",
    "    stp x10, x11, [sp, #80]",
    "    stp x12, x13, [sp, #96]",
    "    stp x14, x15, [sp, #112]",
    "    stp x16, x17, [sp, #128]",
    "    stp x18, x19, [sp, #144]",
    "    stp x20, x21, [sp, #160]",
    "    stp x22, x23, [sp, #176]",
    "    stp x24, x25, [sp, #192]",
    "    stp x26, x27, [sp, #208]",
    "    stp x28, x29, [sp, #224]",
    "    mrs x1, sp_el0",
    "    stp x30, x1, [sp, #240]",
    "    mrs x2, elr_el1",
    "    mrs x3, spsr_el1",
    "    stp x2, x3, [sp, #{elr}]",
    // From EL0 (entries 8-15): no FP/SIMD state to save.
    "    cmp x0, #8",
    "    b.hs 3f",
    "    add x1, sp, #{q}",
    "    stp q0, q1, [x1, #0]",
    "    stp q2, q3, [x1, #32]",
    "    stp q4, q5, [x1, #64]",
    "    stp q6, q7, [x1, #96]",
    "    stp q8, q9, [x1, #128]",
    "    stp q10, q11, [x1, #160]",
    "    stp q12, q13, [x1, #192]",
    "    stp q14, q15, [x1, #224]",
    "    stp q16, q17, [x1, #256]",
    "    stp q18, q19, [x1, #288]",
    "    stp q20, q21, [x1, #320]",
    "    stp q22, q23, [x1, #352]",
    "    stp q24, q25, [x1, #384]",
    "    stp q26, q27, [x1, #416]",
    "    stp q28, q29, [x1, #448]",
    "    stp q30, q31, [x1, #480]",
    "    mrs x2, fpcr",
    "    mrs x3, fpsr",
    "    str x2, [x1, #{fpcr_from_q}]",
    "    str x3, [x1, #{fpcr_from_q} + 8]",
    "3:  mov x1, x0",
    "    mov x0, sp",
    "    bl {dispatch}",
    // Back to EL0t (SPSR.M[4:0] = 0): no FP/SIMD state to restore.
    "    ldr x3, [sp, #{spsr}]",
    "    tst x3, #0x1f",
    "    b.eq 4f",
    "    add x1, sp, #{q}",
    "    ldr x2, [x1, #{fpcr_from_q}]",
    "    ldr x3, [x1, #{fpcr_from_q} + 8]",
    "    msr fpcr, x2",
    "    msr fpsr, x3",
    "    ldp q0, q1, [x1, #0]",
    "    ldp q2, q3, [x1, #32]",
    "    ldp q4, q5, [x1, #64]",
    "    ldp q6, q7, [x1, #96]",
    "    ldp q8, q9, [x1, #128]",
    "    ldp q10, q11, [x1, #160]",
    "    ldp q12, q13, [x1, #192]",
    "    ldp q14, q15, [x1, #224]",
    "    ldp q16, q17, [x1, #256]",
    "    ldp q18, q19, [x1, #288]",
    "    ldp q20, q21, [x1, #320]",
    "    ldp q22, q23, [x1, #352]",
    "    ldp q24, q25, [x1, #384]",
    "    ldp q26, q27, [x1, #416]",
    "    ldp q28, q29, [x1, #448]",
    "    ldp q30, q31, [x1, #480]",
    "4:  ldp x2, x3, [sp, #{elr}]",
    "    msr elr_el1, x2",
    "    msr spsr_el1, x3",
    "    ldp x30, x1, [sp, #240]",
    "    msr sp_el0, x1",
    "    ldp x0, x1, [sp, #0]",
    "    ldp x2, x3, [sp, #16]",
    "    ldp x4, x5, [sp, #32]",
    "    ldp x6, x7, [sp, #48]",
    "    ldp x8, x9, [sp, #64]",
    "    ldp x10, x11, [sp, #80]",
    "    ldp x12, x13, [sp, #96]",
    "    ldp x14, x15, [sp, #112]",
    "    ldp x16, x17, [sp, #128]",
    "    ldp x18, x19, [sp, #144]",
    "    ldp x20, x21, [sp, #160]",
    "    ldp x22, x23, [sp, #176]",
    "    ldp x24, x25, [sp, #192]",
    "    ldp x26, x27, [sp, #208]",
    "    ldp x28, x29, [sp, #224]",
    "    add sp, sp, #{frame}",
    "    eret",
    "",
    // x0 = the stack pointer after reserving a frame, x1 = entry number;
    // sp itself is garbage. Report from the emergency stack; no return.
    "cairn_trap_bad_stack:",
    "    adrp x2, {emergency}",
    "    add x2, x2, :lo12:{emergency}",
    "    add x2, x2, #{emergency_size}",
    "    mov sp, x2",
    "    add x0, x0, #{frame}",
    "    bl {bad_stack}",
    "2:  wfi",
    "    b 2b",
    frame = const FRAME_SIZE,
    stack_bit = const STACK_BIT,
    elr = const offset_of!(TrapFrame, elr),
    spsr = const offset_of!(TrapFrame, spsr),
    q = const offset_of!(TrapFrame, q),
    fpcr_from_q = const offset_of!(TrapFrame, fpcr) - offset_of!(TrapFrame, q),
    dispatch = sym super::exceptions::dispatch,
    bad_stack = sym super::exceptions::bad_stack,
    emergency = sym EMERGENCY_STACK,
    emergency_size = const EMERGENCY_STACK_SIZE,
);

unsafe extern "C" {
    /// The table above (2 KiB aligned, as `VBAR_EL1` requires).
    static cairn_vectors: u8;
}

/// Point `VBAR_EL1` at the table. From here on every exception is
/// reported (or, for interrupts, handled) by the kernel.
pub fn install() {
    let base = (&raw const cairn_vectors) as u64;
    VBAR_EL1.set(base);
    barrier::isb(barrier::SY);
}

/// The table's address, for the boot log.
pub fn base() -> u64 {
    (&raw const cairn_vectors) as u64
}
