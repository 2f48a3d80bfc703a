//! Program entry, console output and the panic handler (bare-metal
//! targets only).
//!
//! A program names its `main` with [`crate::entry!`]; the ELF entry point
//! `_start` clears the frame pointer, aligns the stack and calls it with
//! the one word the creator passed in the first argument register (the
//! root task gets the address of its boot-info frame). `main` never
//! returns: a program ends by blocking, by halting the machine (tests), or
//! by faulting to its supervisor.
//!
//! A panic prints its message and location, then executes an undefined
//! instruction: the kernel turns that into a `UserException` fault for the
//! thread's fault handler, or suspends the thread when it has none — the
//! rest of the system keeps running.

use core::fmt::{self, Write};

unsafe extern "C" {
    /// The program's entry, defined by [`crate::entry!`].
    fn cairn_main(arg: u64) -> !;
}

/// The ELF entry point. The stack pointer is the top of the stack (16-byte
/// aligned), the first argument register holds the creator's word.
#[unsafe(no_mangle)]
#[unsafe(naked)]
pub extern "C" fn _start() -> ! {
    #[cfg(target_arch = "x86_64")]
    core::arch::naked_asm!(
        "xor ebp, ebp",
        "and rsp, -16",
        "call {main}",
        "ud2",
        main = sym cairn_main,
    );
    #[cfg(target_arch = "aarch64")]
    core::arch::naked_asm!(
        "mov x29, xzr",
        "mov x30, xzr",
        "mov x9, sp",
        "and x9, x9, #-16",
        "mov sp, x9",
        "bl {main}",
        "udf #0",
        main = sym cairn_main,
    );
}

/// Define the program's entry: `entry!(main)` with `fn main(arg: u64) -> !`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        extern "C" fn cairn_main(arg: u64) -> ! {
            let main: fn(u64) -> ! = $main;
            main(arg)
        }
        /// Keeps the runtime's `_start` in the link (the linker script
        /// names it as the entry, which does not pull it from the library).
        #[used]
        static CAIRN_START: extern "C" fn() -> ! = $crate::start::_start;
    };
}

/// The kernel's debug console (spec: ABI-19), as a `fmt::Write`.
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for chunk in s.as_bytes().chunks(abi::syscall::debug::WRITE_MAX) {
            crate::syscall::debug_write(chunk);
        }
        Ok(())
    }
}

/// Print to the debug console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = write!($crate::start::Console, $($arg)*);
    }};
}

/// Print a line to the debug console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::start::Console, $($arg)*);
    }};
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let _ = writeln!(Console, "panic: {info}");
    loop {
        // SAFETY: an undefined instruction is the documented way out (see
        // the module comment): it traps to the kernel, which never resumes
        // this thread at the next instruction without its handler's say.
        unsafe {
            #[cfg(target_arch = "x86_64")]
            core::arch::asm!("ud2", options(nomem, nostack));
            #[cfg(target_arch = "aarch64")]
            core::arch::asm!("udf #0", options(nomem, nostack));
        }
    }
}
