//! The architecture boundary.
//!
//! Each architecture module provides the same small set of items, and the
//! portable kernel uses nothing else from it:
//!
//! | item | meaning |
//! |---|---|
//! | `NAME` | `"x86_64"` or `"aarch64"` |
//! | `Serial` | the boot console driver (`core::fmt::Write`) |
//! | `serial(&BootInfo) -> Option<Serial>` | find and initialise it |
//! | `now_ns() -> u64` | monotonic nanoseconds since boot (0 until calibrated) |
//! | `init(&BootInfo, &CommandLine)` | traps, interrupt controller, and the periodic timer at `time::TICK_HZ` calling `time::on_tick()` |
//! | `enable_interrupts()`, `disable_interrupts()` | mask / unmask interrupts on this CPU |
//! | `wait_for_interrupt()` | sleep until an interrupt (`hlt` / `wfi`) |
//! | `exit(ExitStatus) -> !` | end the run (QEMU exit device, PSCI or semihosting) |
//! | `user` (module) | the user-mode boundary: `LAYOUT`, `init()`, `activate(root, asid)` (`(0, 0)`: no address space), `flush_user_tlb()`, `sync_icache(va, len)`, `enter_user(&Context) -> !`; see `crate::user` |
//!
//! Exceptions, system calls and timer ticks taken in user mode go to
//! `crate::user::from_user` (faults become fault messages for the
//! thread's handler), except x86_64's NMI, #DF and #MC, which are not the
//! thread's doing and are reported like kernel exceptions.
//!
//! An unexpected CPU exception in the kernel is reported on one line that
//! starts with `EXCEPTION:`, names the exception and gives the faulting
//! address and the saved program counter (plus the architecture's syndrome:
//! vector and error code, or ESR), after which the kernel exits with
//! `ExitStatus::Failure`.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(target_arch = "aarch64")]
pub use aarch64::*;
#[cfg(target_arch = "x86_64")]
pub use x86_64::*;
