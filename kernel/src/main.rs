//! The cairn kernel: only what must be privileged.
//!
//! `arch/` holds everything specific to a CPU family (entry, traps,
//! interrupt controller, timer, serial port); the rest is portable. The
//! architecture entry code calls [`kernel_main`] once the MMU is on and the
//! boot stack is live, with the physical address of the loader's BootInfo.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

// The checking kernel's checker, and its heap (the only use of `alloc`).
#[cfg(feature = "check")]
extern crate alloc;

mod arch;
mod boot_info;
#[cfg(feature = "check")]
mod check;
mod cmdline;
mod console;
mod firmware;
mod irq;
mod memory;
mod panic;
mod phys;
mod root_task;
mod selftest;
mod time;
mod user;

use abi::exit::ExitStatus;
use cmdline::CommandLine;

/// The portable kernel entry.
pub fn kernel_main(bootinfo_phys: u64) -> ! {
    let Some(bi) = boot_info::get(bootinfo_phys) else {
        // No console can be found without the BootInfo on every machine;
        // report through the exit device instead.
        arch::exit(ExitStatus::Failure);
    };
    console::init(bi);
    log::info!(
        "cairn kernel {} ({})",
        env!("CARGO_PKG_VERSION"),
        arch::NAME
    );
    let cmdline = CommandLine::new(bi.cmdline());
    log::info!("command line: '{}'", bi.cmdline());

    let inventory = memory::Inventory::from_boot_info(bi);
    inventory.log_summary();
    firmware::log_summary(bi);

    arch::init(bi, &cmdline);
    time::measure(500);

    selftest::run(&cmdline);
    log::info!("boot complete");
    if root_task::present(bi) {
        user::start(bi)
    }
    log::info!("no root task on the boot medium: nothing to run");
    arch::exit(ExitStatus::Success)
}
