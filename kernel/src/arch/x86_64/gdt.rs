//! The GDT and the TSS.
//!
//! In long mode segmentation is nearly gone, but the CPU still needs a GDT
//! for the code segment of every gate and for the TSS, and the TSS is what
//! holds the Interrupt Stack Table: the double-fault handler runs on its
//! own stack (IST1) so that a kernel stack overflow — a page fault that
//! cannot push its frame — still gets reported instead of triple-faulting.
//!
//! Both tables are built once at entry by the x86_64 crate's types and are
//! immutable afterwards. There are no user segments yet: they come with
//! user mode (in the order `SYSRET` wants). One CPU, so one TSS.

use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, FS, GS, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable};
use x86_64::structures::tss::TaskStateSegment;

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

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

struct Selectors {
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

/// Load the kernel's GDT and TSS and reload every segment register.
pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        let base = VirtAddr::from_ptr(&raw const DOUBLE_FAULT_STACK);
        // The CPU aligns the IST pointer down to 16 itself; the top of an
        // aligned array is aligned already.
        tss.interrupt_stack_table[usize::from(DOUBLE_FAULT_IST_INDEX)] =
            base + DOUBLE_FAULT_STACK_SIZE as u64;
        tss
    });
    let (gdt, sel) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
        (gdt, Selectors { code, data, tss })
    });
    gdt.load();
    // SAFETY: the GDT just loaded is static and never changes; `code` is
    // its 64-bit ring-0 code segment, `data` its ring-0 data segment and
    // `tss` describes a static TSS that is loaded exactly once (loading a
    // TSS marks its descriptor busy). FS and GS get the null selector: the
    // kernel uses neither yet, and their bases will come from MSRs.
    unsafe {
        CS::set_reg(sel.code);
        SS::set_reg(sel.data);
        DS::set_reg(sel.data);
        ES::set_reg(sel.data);
        FS::set_reg(SegmentSelector(0));
        GS::set_reg(SegmentSelector(0));
        load_tss(sel.tss);
    }
}
