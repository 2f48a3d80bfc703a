//! x86_64 hand-over: one PML4 holds the kernel's upper half and, in the lower
//! half, an identity mapping of the loader's own code so that execution
//! survives the CR3 switch. The kernel drops the lower half once it runs.

use super::Handover;
use crate::LoaderError;
use abi::boot::PAGE_SIZE;
use loader::{
    kernel_elf::Machine,
    paging::{Format, PageTables, TableSource},
};
use uefi::{boot, proto::loaded_image::LoadedImage};

pub const NAME: &str = "x86_64";
pub const MACHINE: Machine = Machine::X86_64;
pub const FORMAT: Format = Format::X86_64;

/// The loader image: it holds the code that switches CR3.
pub fn handover_code_range(_kernel_phys: u64, _kernel_len: u64) -> (u64, u64) {
    match boot::open_protocol_exclusive::<LoadedImage>(boot::image_handle()) {
        Ok(li) => {
            let (base, size) = li.info();
            let start = base as u64 & !(PAGE_SIZE - 1);
            let end = (base as u64 + size).next_multiple_of(PAGE_SIZE);
            (start, end - start)
        }
        Err(_) => (0, 0),
    }
}

/// x86_64 keeps the identity map in the same tree (lower half).
pub fn separate_identity_tables(
    _src: &mut impl TableSource,
) -> Result<Option<PageTables>, LoaderError> {
    Ok(None)
}

const IA32_EFER: u32 = 0xc000_0080;
const EFER_NXE: u32 = 1 << 11;
const CR0_WP: u64 = 1 << 16;

/// Switch to the kernel's tables and jump to its entry with the BootInfo's
/// physical address in `rdi` and the boot stack in `rsp`.
pub fn enter_kernel(h: &Handover) -> ! {
    // SAFETY: boot services are gone and interrupts are masked first. The
    // new PML4 maps this code at its physical address (identity, RX), the
    // kernel image and stack in the upper half; NX must be enabled before
    // CR3 is loaded because the tables use the NX bit. After `mov cr3` the
    // sequence touches no memory until it jumps into the kernel.
    unsafe {
        core::arch::asm!(
            "cli",
            "mov ecx, {efer}",
            "rdmsr",
            "or eax, {nxe}",
            "wrmsr",
            "mov rax, cr0",
            "or rax, {wp}",
            "mov cr0, rax",
            "mov cr3, r8",
            "mov rsp, r9",
            "xor ebp, ebp",
            "jmp r11",
            efer = const IA32_EFER,
            nxe = const EFER_NXE,
            wp = const CR0_WP,
            in("r8") h.upper_root,
            in("r9") h.stack_top,
            in("rdi") h.bootinfo_phys,
            in("r11") h.entry_virt,
            options(noreturn),
        )
    }
}
