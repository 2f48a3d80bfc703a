//! aarch64: entry, traps, interrupt controller, timer, serial console,
//! exit, and the wiring of the bring-up.
//!
//! Bring-up happens in two steps:
//!
//! 1. At entry ([`entry`]): EL2 → EL1, MMU on, upper half; then, before
//!    any portable code, the exception vectors ([`vectors`],
//!    [`exceptions`]) — until `VBAR_EL1` points at them, an exception
//!    would jump through whatever the firmware left there —, the end of
//!    the lower-half hand-over mapping ([`paging`]), SErrors unmasked, and
//!    the exit method ([`exit`], [`psci`]), so that an early failure still
//!    ends the run with the right status.
//! 2. In [`init`]: the PSCI conduit read from the firmware, then the
//!    interrupt controller ([`gic`]) and the periodic tick ([`timer`]).
//!
//! User mode ([`user`], reachable as `arch::user`) comes on later with
//! `user::init`: EL0's environment, ASIDs, and the lower half walked
//! through `TTBR0_EL1` from the first `user::activate` on.
//!
//! Firmware descriptions are read through [`tables`]: ACPI when the
//! firmware gave it, the device tree otherwise (or when an ACPI table is
//! unusable). Every step that depends on them degrades rather than panics:
//! without a usable GIC the kernel runs without interrupts, without a
//! timer interrupt description the architecture's default INTID is used,
//! without PSCI `exit` halts; each fallback is logged.
//!
//! The kernel is not preemptible (as in seL4): interrupts are unmasked
//! only while it waits for one (see [`irq`]) and in user mode.

mod conduit;
mod entry;
mod exceptions;
mod exit;
mod gic;
mod irq;
mod mmio;
mod paging;
mod pl011;
mod psci;
mod tables;
mod timer;
pub mod user;
mod vectors;

use crate::cmdline::CommandLine;
use crate::firmware::{self, SerialPort};
use abi::boot::BootInfo;

pub use exit::exit;
pub use irq::lines;
pub use irq::pending as interrupt_pending;
pub use irq::{disable as disable_interrupts, enable as enable_interrupts, wait_for_interrupt};
pub use timer::now_ns;

/// Architecture name, as printed at boot.
pub const NAME: &str = "aarch64";

pub use pl011::Pl011 as Serial;

/// Find and initialise the boot serial port (ACPI SPCR or the device tree).
pub fn serial(bi: &BootInfo) -> Option<Serial> {
    match firmware::serial_port(bi)? {
        SerialPort::Pl011(base) if base < bi.phys_map_size => {
            // SAFETY: the firmware names this PL011 as the console; it lies
            // in the direct map (device attributes) and nothing else in the
            // kernel drives it.
            Some(unsafe { Serial::new(crate::memory::phys_to_virt(base)) })
        }
        _ => None,
    }
}

/// Call `f` with every physical window (base, length) of a device the
/// kernel drives itself — the GIC and the console UART: never part of a
/// device untyped (spec: ST-10).
pub fn kernel_devices(bi: &BootInfo, f: &mut dyn FnMut(u64, u64)) {
    gic::windows(f);
    if let Some(SerialPort::Pl011(base)) = firmware::serial_port(bi) {
        f(base & !0xfff, 0x1000);
    }
}

/// Physical address bits the CPU implements (`ID_AA64MMFR0_EL1.PARange`).
pub fn phys_addr_bits() -> u32 {
    use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, Readable};
    match ID_AA64MMFR0_EL1.get() & 0xf {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        5 => 48,
        _ => 52,
    }
}

/// Bring up the rest of the CPU state, the interrupt controller and the
/// periodic timer (the vectors are live since entry).
pub fn init(bi: &BootInfo, _cmdline: &CommandLine) {
    let el = entry::entry_el();
    log::info!(
        "cpu: entered at EL{el}{}; since entry: exception vectors at {:#x}, lower half (TTBR0_EL1) walks disabled, SError unmasked",
        if el == 2 { ", dropped to EL1" } else { "" },
        vectors::base()
    );

    let fw = tables::Firmware::new(bi);
    psci::init(&fw);
    let gic = gic::init(&fw);
    timer::init(&fw, gic);
}
