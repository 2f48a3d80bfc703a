//! x86_64: entry, serial console, exit, and the wiring of the bring-up.
//!
//! Bring-up happens in two steps:
//!
//! 1. At entry ([`_start`] → `entry`), before any portable code runs: the
//!    kernel's own GDT, TSS and IDT. The loader leaves the firmware's
//!    descriptor tables loaded, but they live in low memory that the
//!    kernel's page tables do not map, so until this step any exception or
//!    NMI would triple-fault: a silent reset (or, under QEMU's
//!    `-no-reboot`, a silent stop with exit code 0). Installing the traps
//!    first turns every early fault into an `EXCEPTION:` report.
//! 2. In [`init`]: the CPU protections (NX, SMEP, SMAP), dropping the
//!    loader's lower-half identity map, the interrupt controllers (8259s
//!    masked, LAPIC and IOAPICs from the MADT), the clocks (reference
//!    clock from ACPI, TSC and LAPIC timer calibrated against it) and the
//!    periodic tick.
//!
//! Every step that depends on firmware tables degrades rather than
//! panics: without a MADT there are no interrupts, without an HPET the PM
//! timer is the reference, without either the TSC frequency comes from
//! CPUID (or a guess), and each fallback is logged.
//!
//! User mode ([`user`]) needs a third step, `user::init`, once the portable
//! kernel is about to start the root task: the system-call MSRs and the
//! per-CPU block (the user segments and the TSS's kernel stack come with
//! the GDT at entry).
//!
//! The kernel is not preemptible (as in seL4): interrupts are enabled only
//! where it holds no lock, i.e. while waiting for an interrupt and in user
//! mode. Interrupt handlers rely on this to log safely.

mod apic;
mod clock;
mod cpu;
mod exceptions;
mod gdt;
mod idt;
pub mod ioapic;
mod paging;
mod pic;
mod timer;
mod trap_entry;
pub mod user;

use crate::cmdline::CommandLine;
use crate::firmware::{self, SerialPort};
use abi::{boot::BootInfo, exit::ExitStatus};
use uart_16550::{Config, Uart16550Tty, backend::PioBackend};
use x86_64::instructions::interrupts;

pub use clock::now_ns;
/// Device interrupt lines for user space (see `crate::irq`).
pub use ioapic as lines;

/// Architecture name, as printed at boot.
pub const NAME: &str = "x86_64";

/// The boot console: a 16550 in I/O space.
pub type Serial = Uart16550Tty<PioBackend>;

/// COM1, where every PC (and QEMU's q35) has its first UART when the
/// firmware publishes no SPCR table.
const COM1: u16 = 0x3f8;

/// The kernel's first instruction: the loader jumps here with the kernel's
/// tables live, `rsp` at the top of the boot stack and the BootInfo's
/// physical address in `rdi`.
///
/// A jump, not a call, got us here, so `rsp` is 16-byte aligned where the
/// ABI expects it to be 8 off; the `call` below pushes the missing return
/// address so Rust code starts with a correctly aligned stack. `rbp` is
/// cleared to end frame-pointer walks here.
#[unsafe(no_mangle)]
#[unsafe(link_section = ".text.boot")]
// SAFETY (naked): the body is plain assembly that leaves `rdi` untouched and
// never returns; `entry` has the C ABI and does not return either.
#[unsafe(naked)]
pub extern "C" fn _start() -> ! {
    core::arch::naked_asm!(
        "xor ebp, ebp",
        "call {entry}",
        "ud2",
        entry = sym entry,
    )
}

/// Rust side of the entry: note the TSC, install the trap tables, then
/// run the portable kernel.
extern "C" fn entry(bootinfo_phys: u64) -> ! {
    clock::mark_entry();
    // The IDT's gates name the current code segment, so the GDT goes first.
    gdt::init();
    idt::init();
    crate::kernel_main(bootinfo_phys)
}

/// Find and initialise the boot serial port.
pub fn serial(bi: &BootInfo) -> Option<Serial> {
    let port = match firmware::serial_port(bi) {
        Some(SerialPort::Ns16550Io(port)) => port,
        _ => COM1,
    };
    // SAFETY: the port is the firmware-described (or architectural) COM
    // port; nothing else in the kernel drives it.
    unsafe { Serial::new_port(port, Config::default()) }.ok()
}

/// Bring up CPU protections, interrupt controllers, clocks and the
/// periodic timer (the trap tables are already live, see [`_start`]).
pub fn init(bi: &BootInfo, _cmdline: &CommandLine) {
    log::info!(
        "cpu: GDT, TSS and IDT live since entry (256 vectors; double fault on IST{}, {} KiB stack)",
        gdt::DOUBLE_FAULT_IST_INDEX + 1,
        gdt::DOUBLE_FAULT_STACK_SIZE / 1024
    );
    cpu::enable_protections();
    paging::drop_lower_half();

    let tables = firmware::acpi(bi);
    if tables.is_none() {
        log::error!("ACPI: no usable tables: no interrupt controller or reference clock known");
    }
    let lapic = match &tables {
        Some(t) => apic::init(t, bi),
        None => {
            pic::remap_and_mask();
            None
        }
    };
    let references = match &tables {
        Some(t) => clock::find_references(t, bi),
        None => [None, None],
    };
    let lapic_hz = clock::calibrate(&references, lapic.as_ref());
    match (lapic, lapic_hz) {
        (Some(lapic), Some(hz)) => timer::start(&lapic, hz),
        (Some(_), None) => log::error!("lapic: timer not calibrated: no periodic tick"),
        // `apic::init` (or the missing ACPI tables) has said why.
        (None, _) => {}
    }
}

/// Call `f` with every physical window (base, length) of a device the
/// kernel drives itself: never part of a device untyped (spec: ST-10).
pub fn kernel_devices(_bi: &BootInfo, f: &mut dyn FnMut(u64, u64)) {
    if let Some((base, len)) = apic::window() {
        f(base, len);
    }
    ioapic::windows(f);
}

/// Physical address bits the CPU implements (CPUID 0x80000008; 36, the
/// architectural minimum, if it does not say).
pub fn phys_addr_bits() -> u32 {
    cpu::cpuid(0x8000_0008)
        .map(|r| r.eax & 0xff)
        .filter(|b| (36..=52).contains(b))
        .unwrap_or(36)
}

/// Whether an interrupt is pending (the preemption points of long
/// operations ask, spec: SYS-16).
pub fn interrupt_pending() -> bool {
    apic::interrupt_pending()
}

/// Unmask interrupts on this CPU.
pub fn enable_interrupts() {
    interrupts::enable();
}

/// Mask interrupts on this CPU.
pub fn disable_interrupts() {
    interrupts::disable();
}

/// Sleep until the next interrupt.
///
/// `sti; hlt` back to back: `sti` takes effect only after the following
/// instruction, so an interrupt that became pending while the caller
/// checked its condition with interrupts masked still wakes the `hlt`
/// instead of being taken just before it. The caller's interrupt state is
/// restored afterwards.
///
/// With no periodic timer (broken firmware: no MADT or no calibration)
/// nothing would ever wake the CPU, so it only pauses: callers that poll
/// the clock then finish instead of hanging.
pub fn wait_for_interrupt() {
    if !timer::is_running() {
        core::hint::spin_loop();
        return;
    }
    let was_enabled = interrupts::are_enabled();
    interrupts::enable_and_hlt();
    if !was_enabled {
        interrupts::disable();
    }
}

/// End the run: QEMU's `isa-debug-exit` device, then halt.
pub fn exit(status: ExitStatus) -> ! {
    crate::console::emergency_write_fmt(format_args!("EXIT: {}\n", status as u8));
    // SAFETY: writing to the debug-exit port either ends QEMU or, on a
    // machine without the device, is ignored by the chipset.
    unsafe {
        x86_64::instructions::port::Port::<u32>::new(abi::exit::X86_DEBUG_EXIT_PORT)
            .write(status as u32)
    };
    loop {
        interrupts::disable();
        x86_64::instructions::hlt();
    }
}
