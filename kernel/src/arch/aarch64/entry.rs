//! The kernel's first instructions on aarch64.
//!
//! The loader enters `_start` at its *physical* address with the MMU off,
//! interrupts in any state and `x0` = the BootInfo's physical address, at
//! EL2 or EL1. This code
//! 1. drops from EL2 to EL1 if entered at EL2 (EL1 runs AArch64 and may use
//!    the physical counter and timer);
//! 2. programs `MAIR_EL1`, `TCR_EL1` (48-bit halves, 4 KiB granule, the
//!    CPU's physical address size) and both table bases from the BootInfo,
//!    and turns the MMU and caches on with `WXN` (no writable page is
//!    executable);
//! 3. switches to the boot stack and jumps to the upper half, passing the
//!    exception level it was entered at.
//!
//! At EL2 it also lets EL1 use the GICv3 system-register CPU interface
//! (`ICC_SRE_EL2.Enable`), when the CPU has one: otherwise EL1's accesses
//! to `ICC_SRE_EL1` would trap to an EL2 that no longer has a handler.
//!
//! Until the MMU is on it runs position-independently and touches memory
//! only to read the two table addresses from the BootInfo (which the loader
//! cleaned to the point of coherency).
//!
//! The first Rust code, [`kernel_entry_high`], installs the exception
//! vectors before anything else, so that every later fault is reported,
//! and then turns off the identity map `_start` needed.

use abi::boot::{BootInfo, aarch64_mair::MAIR_VALUE, layout::KERNEL_STACK_TOP};
use core::mem::offset_of;
use core::sync::atomic::{AtomicU8, Ordering};

/// SCTLR_EL1 bits that are RES1 on ARMv8.0.
const SCTLR_RES1: u64 = (1 << 11) | (1 << 20) | (1 << 22) | (1 << 23) | (1 << 28) | (1 << 29);
/// MMU, data cache, SP alignment checks (EL1, EL0), instruction cache, WXN.
const SCTLR_ON: u64 =
    SCTLR_RES1 | (1 << 0) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 12) | (1 << 19);

/// TCR_EL1 without IPS (filled in from ID_AA64MMFR0_EL1 at run time):
/// T0SZ = T1SZ = 16 (48-bit), both halves inner/outer write-back
/// write-allocate, inner shareable, TG0 = 4 KiB, TG1 = 4 KiB.
const TCR: u64 = 16
    | (0b01 << 8)
    | (0b01 << 10)
    | (0b11 << 12)
    | (16 << 16)
    | (0b01 << 24)
    | (0b01 << 26)
    | (0b11 << 28)
    | (0b10 << 30);

/// SPSR for the drop to EL1: EL1h with D, A, I, F masked.
const SPSR_EL1H_MASKED: u64 = 0x3c5;

core::arch::global_asm!(
    ".section .text.boot, \"ax\"",
    ".global _start",
    "_start:",
    "    msr daifset, #0xf",
    "    mov x19, x0",
    "    mrs x20, CurrentEL",
    "    lsr x20, x20, #2",
    "    cmp x20, #2",
    "    b.ne 2f",
    // At EL2: EL1 is AArch64 (HCR_EL2.RW), may read the physical counter
    // and use the physical timer (CNTHCTL_EL2.EL1PCTEN | EL1PCEN), sees no
    // virtual offset; then return to EL1 at label 2 with everything masked.
    "    mov x9, #(1 << 31)",
    "    msr hcr_el2, x9",
    "    mrs x9, cnthctl_el2",
    "    orr x9, x9, #3",
    "    msr cnthctl_el2, x9",
    "    msr cntvoff_el2, xzr",
    // GICv3 CPU interface present (ID_AA64PFR0_EL1.GIC != 0): let EL1 use
    // its system registers (ICC_SRE_EL2.SRE | Enable).
    "    mrs x9, id_aa64pfr0_el1",
    "    ubfx x9, x9, #24, #4",
    "    cbz x9, 1f",
    "    mrs x9, icc_sre_el2",
    "    orr x9, x9, #0x1",
    "    orr x9, x9, #0x8",
    "    msr icc_sre_el2, x9",
    "    isb",
    "1:",
    "    ldr x9, ={sctlr_res1}",
    "    msr sctlr_el1, x9",
    "    mov x9, #{spsr}",
    "    msr spsr_el2, x9",
    "    adr x9, 2f",
    "    msr elr_el2, x9",
    "    eret",
    "2:",
    // EL1, MMU off. FP/SIMD must be usable: the compiler emits NEON code
    // (user::init later traps it for EL0 only).
    "    mov x9, #(3 << 20)",
    "    msr cpacr_el1, x9",
    "    ldr x9, ={mair}",
    "    msr mair_el1, x9",
    "    ldr x9, ={tcr}",
    "    mrs x10, id_aa64mmfr0_el1",
    "    and x10, x10, #7",
    "    bfi x9, x10, #32, #3",
    "    msr tcr_el1, x9",
    "    ldr x9, [x19, #{root_off}]",
    "    msr ttbr1_el1, x9",
    "    ldr x9, [x19, #{ident_off}]",
    "    msr ttbr0_el1, x9",
    "    isb",
    "    tlbi vmalle1",
    "    dsb nsh",
    "    isb",
    "    ldr x9, ={sctlr_on}",
    "    msr sctlr_el1, x9",
    "    isb",
    // MMU on; still executing at the physical address (TTBR0 identity).
    "    ldr x9, ={stack_top}",
    "    mov sp, x9",
    "    mov x0, x19",
    "    mov x1, x20",
    "    ldr x9, ={high}",
    "    br x9",
    sctlr_res1 = const SCTLR_RES1,
    sctlr_on = const SCTLR_ON,
    spsr = const SPSR_EL1H_MASKED,
    mair = const MAIR_VALUE,
    tcr = const TCR,
    root_off = const offset_of!(BootInfo, page_table_root),
    ident_off = const offset_of!(BootInfo, identity_root),
    stack_top = const KERNEL_STACK_TOP,
    high = sym kernel_entry_high,
);

/// The exception level `_start` was entered at (1 or 2).
static ENTRY_EL: AtomicU8 = AtomicU8::new(0);

/// The exception level the kernel was entered at.
pub fn entry_el() -> u8 {
    ENTRY_EL.load(Ordering::Relaxed)
}

/// Whether the kernel was entered at EL2 (and dropped to EL1 itself).
pub fn entered_at_el2() -> bool {
    entry_el() == 2
}

/// First Rust code, in the upper half on the boot stack, with interrupts
/// masked. Installs the exception vectors, drops the hand-over identity
/// map, unmasks SErrors, decides how an early failure would end the run,
/// then starts the portable kernel.
extern "C" fn kernel_entry_high(bootinfo_phys: u64, entry_el: u64) -> ! {
    super::vectors::install();
    super::paging::drop_lower_half();
    super::irq::unmask_serror();
    ENTRY_EL.store(entry_el as u8, Ordering::Relaxed);
    super::psci::init_early();
    super::exit::init_early(bootinfo_phys);
    crate::kernel_main(bootinfo_phys)
}
