//! The kernel console: the boot serial port behind a lock, and the `log`
//! backend that writes `[seconds.micros] LEVEL message` lines to it.

use crate::arch::{self, Serial};
use abi::boot::BootInfo;
use core::fmt::{self, Write};
use spin::Mutex;

static CONSOLE: Mutex<Option<Serial>> = Mutex::new(None);

struct Logger;
static LOGGER: Logger = Logger;

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let ns = arch::now_ns();
        let mut guard = CONSOLE.lock();
        if let Some(serial) = guard.as_mut() {
            let _ = writeln!(
                serial,
                "[{:5}.{:06}] {:5} {}",
                ns / 1_000_000_000,
                (ns / 1_000) % 1_000_000,
                record.level(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Find the serial port and install the logger.
pub fn init(bi: &BootInfo) {
    // Without a console the kernel still runs; exit codes still report.
    *CONSOLE.lock() = arch::serial(bi);
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

/// Write without taking the lock if it is held (a panic while printing):
/// used only on the way down.
pub fn emergency_write_fmt(args: fmt::Arguments) {
    if let Some(mut guard) = CONSOLE.try_lock() {
        if let Some(s) = guard.as_mut() {
            let _ = s.write_fmt(args);
        }
        return;
    }
    // SAFETY: the kernel runs on one CPU and is about to stop; the lock's
    // holder was interrupted by this panic and will never run again, so
    // taking the lock over cannot race with a live writer.
    unsafe { CONSOLE.force_unlock() };
    if let Some(s) = CONSOLE.lock().as_mut() {
        let _ = s.write_fmt(args);
    }
}

/// Write raw bytes (user programs' debug output, spec: ABI-19): invalid
/// UTF-8 is shown as U+FFFD, nothing is added.
pub fn write_bytes(bytes: &[u8]) {
    if let Some(s) = CONSOLE.lock().as_mut() {
        for chunk in bytes.utf8_chunks() {
            let _ = s.write_str(chunk.valid());
            if !chunk.invalid().is_empty() {
                let _ = s.write_char(char::REPLACEMENT_CHARACTER);
            }
        }
    }
}
