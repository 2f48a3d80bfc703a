//! Kernel panics: report file:line and message, end with a failure status.

use abi::exit::ExitStatus;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    crate::console::emergency_write_fmt(format_args!("\nKERNEL PANIC: {info}\n"));
    crate::arch::exit(ExitStatus::Failure)
}
