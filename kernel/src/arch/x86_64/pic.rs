//! The legacy 8259 PIC pair: remapped and masked, never used.
//!
//! Interrupts go through the LAPIC and IOAPIC. Masking alone is not enough
//! to make the 8259s harmless: a masked 8259 can still raise a spurious
//! IRQ 7 or 15, and firmware may have left its vector base on top of the
//! CPU exceptions (the power-on default is 0x08, i.e. "double fault"). So
//! the pair is re-initialised with its vectors at 0x20–0x2f, away from
//! the exceptions and from every vector this kernel uses, and then every
//! line is masked. The LAPIC's LINT0 (where the 8259 output arrives) is
//! masked as well, see the `apic` module.

use x86_64::instructions::port::Port;

const MASTER_CMD: u16 = 0x20;
const MASTER_DATA: u16 = 0x21;
const SLAVE_CMD: u16 = 0xa0;
const SLAVE_DATA: u16 = 0xa1;

/// First vector of the (remapped) master; the slave follows at +8.
pub const VECTOR_BASE: u8 = 0x20;

/// Re-initialise both 8259s with vectors at [`VECTOR_BASE`] and mask all
/// their lines.
pub fn remap_and_mask() {
    // ICW1: edge triggered, cascaded, ICW4 follows. ICW2: vector base.
    // ICW3: slave on master's IRQ 2 / slave's cascade identity 2.
    // ICW4: 8086 mode. Then OCW1: mask all.
    let sequence: [(u16, u8); 10] = [
        (MASTER_CMD, 0x11),
        (SLAVE_CMD, 0x11),
        (MASTER_DATA, VECTOR_BASE),
        (SLAVE_DATA, VECTOR_BASE + 8),
        (MASTER_DATA, 1 << 2),
        (SLAVE_DATA, 2),
        (MASTER_DATA, 0x01),
        (SLAVE_DATA, 0x01),
        (MASTER_DATA, 0xff),
        (SLAVE_DATA, 0xff),
    ];
    for (port, value) in sequence {
        // SAFETY: these are the 8259 command and data ports, which nothing
        // else in the kernel touches; the sequence is the documented
        // initialisation. Port 0x80 (POST codes) is unused and writing it
        // only gives the slow 8259s time between commands.
        unsafe {
            Port::<u8>::new(port).write(value);
            Port::<u8>::new(0x80).write(0);
        }
    }
}
