//! Arm PL011 UART (transmit side), through `tock-registers`.

use core::fmt;
use tock_registers::{
    interfaces::{Readable, Writeable},
    register_bitfields, register_structs,
    registers::{ReadOnly, ReadWrite},
};

register_bitfields! {u32,
    FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
    ]
}

register_structs! {
    Registers {
        (0x00 => dr: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x18 => fr: ReadOnly<u32, FR::Register>),
        (0x1c => @END),
    }
}

/// A PL011 the firmware already configured (baud rate, enable bits).
pub struct Pl011 {
    regs: &'static Registers,
}

// SAFETY: the device is only reached through the console lock.
unsafe impl Send for Pl011 {}

impl Pl011 {
    /// Wrap the PL011 whose registers are mapped at `virt`.
    ///
    /// # Safety
    /// `virt` must map the UART's register page with device attributes for
    /// the kernel's lifetime, and no other code may drive the UART.
    pub unsafe fn new(virt: u64) -> Self {
        // SAFETY: guaranteed by the caller.
        let regs = unsafe { &*(virt as *const Registers) };
        Pl011 { regs }
    }

    fn put(&mut self, b: u8) {
        while self.regs.fr.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.regs.dr.set(b as u32);
    }
}

impl fmt::Write for Pl011 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.put(b'\r');
            }
            self.put(b);
        }
        Ok(())
    }
}
