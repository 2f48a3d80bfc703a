//! x86_64: entry, serial console, exit. Traps, APIC and timer live in
//! their own files as they grow.

use crate::cmdline::CommandLine;
use crate::firmware::{self, SerialPort};
use abi::{boot::BootInfo, exit::ExitStatus};
use uart_16550::{Config, Uart16550Tty, backend::PioBackend};

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
#[unsafe(no_mangle)]
#[unsafe(link_section = ".text.boot")]
pub extern "C" fn _start(bootinfo_phys: u64) -> ! {
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

/// Monotonic time since boot in nanoseconds (not yet calibrated).
pub fn now_ns() -> u64 {
    0
}

/// Bring up traps, interrupts and the timer.
pub fn init(_bi: &BootInfo, _cmdline: &CommandLine) {}

/// Unmask interrupts on this CPU.
pub fn enable_interrupts() {}

/// Mask interrupts on this CPU.
pub fn disable_interrupts() {}

/// Sleep until the next interrupt.
pub fn wait_for_interrupt() {}

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
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
