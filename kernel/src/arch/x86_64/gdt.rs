//! The GDT and the TSS.
//!
//! In long mode segmentation is nearly gone, but the CPU still needs a GDT
//! for the code segment of every gate and for the TSS, and the TSS is what
//! holds the Interrupt Stack Table: the double-fault handler runs on its
//! own stack (IST1) so that a kernel stack overflow — a page fault that
//! cannot push its frame — still gets reported instead of triple-faulting.
//!
//! The TSS also gives the stack the CPU switches to when a trap arrives
//! from user mode (`rsp0`): the top of the boot stack, which is the one
//! kernel stack. Nothing on it is live while a thread runs in user mode
//! (every entry from user mode runs to completion and returns to user mode
//! afterwards, see [`super::user`]), so every entry starts afresh at its top.
//!
//! Both tables are built once at entry by the x86_64 crate's types and are
//! immutable afterwards. One CPU, so one TSS. The segments are laid out as
//! `SYSCALL` and `SYSRET` require (they compute the selectors from the
//! `STAR` MSR instead of reading descriptors):
//!
//! | selector | descriptor | `STAR` |
//! |---|---|---|
//! | 0x08 | kernel code (64-bit) | `STAR[47:32]`: `SYSCALL` CS |
//! | 0x10 | kernel data | `SYSCALL` SS = CS + 8 |
//! | 0x1b | user data (RPL 3) | `SYSRET` SS = `STAR[63:48]` + 8 |
//! | 0x23 | user code (64-bit, RPL 3) | `SYSRET` CS = `STAR[63:48]` + 16 |
//! | 0x28 | the TSS (two slots) | |
//!
//! so `STAR[63:48]` is 0x13 (0x10 with RPL 3). There is no 32-bit user
//! code segment: user mode is 64-bit only.

use spin::Once;
use x86_64::instructions::segmentation::{CS, DS, ES, FS, GS, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::{PrivilegeLevel, VirtAddr};

/// IST slot of the double-fault stack (0-based, as the x86_64 crate counts;
/// the CPU calls it IST1).
pub const DOUBLE_FAULT_IST_INDEX: u16 = 0;

/// Size of the double-fault stack.
///
/// The handler only formats one report line and exits. Measured on this
/// kernel (release build, the stack painted with a pattern, a real double
/// fault from a boot-stack overflow): 1168 bytes deep, the 176-byte trap
/// frame included. 16 KiB is a tenfold margin for debug builds (whose
/// formatting code is much deeper) and for later changes to the report;
/// it costs only .bss. Being a static, the stack has no guard page, which
/// is one more reason for the margin.
pub const DOUBLE_FAULT_STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct Stack([u8; DOUBLE_FAULT_STACK_SIZE]);

/// Written only by the CPU, when it delivers a double fault. `static mut`
/// keeps it in writable .bss; Rust code only ever takes its address.
static mut DOUBLE_FAULT_STACK: Stack = Stack([0; DOUBLE_FAULT_STACK_SIZE]);

/// The kernel's code segment (ring 0, 64-bit).
pub const KERNEL_CODE: SegmentSelector = SegmentSelector::new(1, PrivilegeLevel::Ring0);
/// The kernel's data (stack) segment: `KERNEL_CODE` + 8, as `SYSCALL`
/// assumes.
pub const KERNEL_DATA: SegmentSelector = SegmentSelector::new(2, PrivilegeLevel::Ring0);
/// The user data (stack) segment, RPL 3: `SYSRET` loads `STAR[63:48]` + 8.
pub const USER_DATA: SegmentSelector = SegmentSelector::new(3, PrivilegeLevel::Ring3);
/// The user code segment (64-bit), RPL 3: `SYSRET` loads `STAR[63:48]` + 16.
pub const USER_CODE: SegmentSelector = SegmentSelector::new(4, PrivilegeLevel::Ring3);
/// The TSS (a 16-byte system descriptor: slots 5 and 6).
const TSS_SELECTOR: SegmentSelector = SegmentSelector::new(5, PrivilegeLevel::Ring0);

// The layout `SYSCALL`/`SYSRET` (and the table above) rely on.
const _: () = assert!(KERNEL_CODE.0 == 0x08 && KERNEL_DATA.0 == KERNEL_CODE.0 + 8);
const _: () = assert!(USER_DATA.0 == 0x1b && USER_CODE.0 == USER_DATA.0 + 8);

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<GlobalDescriptorTable> = Once::new();

/// Load the kernel's GDT and TSS and reload every segment register.
pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        let base = VirtAddr::from_ptr(&raw const DOUBLE_FAULT_STACK);
        // The CPU aligns the IST pointer down to 16 itself; the top of an
        // aligned array is aligned already.
        tss.interrupt_stack_table[usize::from(DOUBLE_FAULT_IST_INDEX)] =
            base + DOUBLE_FAULT_STACK_SIZE as u64;
        // Traps from user mode (CPL 3 -> 0) start at the top of the one
        // kernel stack; `SYSCALL` gets the same address from the per-CPU
        // block (`user.rs`), as it does not read the TSS.
        tss.privilege_stack_table[0] = VirtAddr::new(abi::boot::layout::KERNEL_STACK_TOP);
        tss
    });
    let gdt = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let selectors = [
            gdt.append(Descriptor::kernel_code_segment()),
            gdt.append(Descriptor::kernel_data_segment()),
            gdt.append(Descriptor::user_data_segment()),
            gdt.append(Descriptor::user_code_segment()),
            gdt.append(Descriptor::tss_segment(tss)),
        ];
        assert_eq!(
            selectors,
            [KERNEL_CODE, KERNEL_DATA, USER_DATA, USER_CODE, TSS_SELECTOR],
            "GDT layout"
        );
        gdt
    });
    gdt.load();
    // SAFETY: the GDT just loaded is static and never changes (the
    // selectors were checked against it above); `KERNEL_CODE` is its
    // 64-bit ring-0 code segment, `KERNEL_DATA` its ring-0 data segment and
    // `TSS_SELECTOR` describes a static TSS that is loaded exactly once
    // (loading a TSS marks its descriptor busy). FS and GS get the null
    // selector: their bases come from MSRs (`user.rs`).
    unsafe {
        CS::set_reg(KERNEL_CODE);
        SS::set_reg(KERNEL_DATA);
        DS::set_reg(KERNEL_DATA);
        ES::set_reg(KERNEL_DATA);
        FS::set_reg(SegmentSelector(0));
        GS::set_reg(SegmentSelector(0));
        load_tss(TSS_SELECTOR);
    }
}
