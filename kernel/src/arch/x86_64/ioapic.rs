//! The I/O APICs: device interrupts for user space (spec: IRQ-1 … IRQ-9).
//!
//! An IRQ line is a global system interrupt (GSI). Each IOAPIC the MADT
//! lists serves the GSIs from its base on, one redirection entry each.
//! At boot every entry is masked; [`unmask`] programs an entry with the
//! trigger the IRQControl Get asked for, vector [`DEVICE_VECTOR_BASE`] +
//! GSI, fixed delivery to this CPU's LAPIC, and clears its mask bit;
//! [`mask`] sets it again. The kernel masks a line when it delivers it
//! (before the LAPIC EOI, so a level-triggered line that is still
//! asserted is not delivered again) and unmasks it on Ack (IRQ-5, IRQ-8).
//!
//! Lines are limited to the vectors left between [`DEVICE_VECTOR_BASE`]
//! and the LAPIC's own vectors; GSIs beyond them, and GSIs no IOAPIC
//! serves, are reserved (IRQ-2). The MADT's interrupt source overrides
//! (ISA IRQ → GSI) are user space's business: lines are GSIs.

use super::idt::{DEVICE_VECTOR_BASE, DEVICE_VECTOR_END};
use crate::memory::phys_to_virt;
use abi::boot::BootInfo;
use abi::irq::{TRIGGER_ACTIVE_LOW, TRIGGER_LEVEL};
use acpi::madt::IoApicEntry;
use core::ptr::{read_volatile, write_volatile};
use spin::Mutex;

/// Most IOAPICs the kernel drives (machines have one to a handful).
const MAX_IOAPICS: usize = 8;
/// Most lines: one vector each.
pub const MAX_LINES: u32 = (DEVICE_VECTOR_END - DEVICE_VECTOR_BASE) as u32;

/// Redirection entry bits (low word).
const RTE_MASKED: u32 = 1 << 16;
const RTE_LEVEL: u32 = 1 << 15;
const RTE_ACTIVE_LOW: u32 = 1 << 13;

/// One IOAPIC: its register window and the GSIs it serves.
#[derive(Clone, Copy)]
struct IoApic {
    /// Virtual address of IOREGSEL (IOWIN at +0x10).
    base: u64,
    /// Its physical address.
    phys: u64,
    gsi_base: u32,
    /// Redirection entries.
    entries: u32,
}

impl IoApic {
    fn read(&self, reg: u32) -> u32 {
        // SAFETY: `base` is the IOAPIC's window in the direct map (checked
        // in `add`, uncached); selecting a register and reading the data
        // window is the IOAPIC's access protocol. One CPU with interrupts
        // masked, and the table's lock held (or boot): nothing else uses
        // the window in between.
        unsafe {
            write_volatile(self.base as *mut u32, reg);
            read_volatile((self.base + 0x10) as *const u32)
        }
    }

    fn write(&self, reg: u32, value: u32) {
        // SAFETY: as for `read`; only redirection entries are written.
        unsafe {
            write_volatile(self.base as *mut u32, reg);
            write_volatile((self.base + 0x10) as *mut u32, value);
        }
    }

    fn set_entry(&self, index: u32, low: u32, dest: u32) {
        // Masked first, so that no half-written entry ever fires.
        self.write(0x10 + 2 * index, RTE_MASKED);
        self.write(0x11 + 2 * index, dest << 24);
        self.write(0x10 + 2 * index, low);
    }
}

struct Table {
    ioapics: [Option<IoApic>; MAX_IOAPICS],
    /// This CPU's LAPIC ID: every line is delivered to it.
    dest: u32,
}

static TABLE: Mutex<Table> = Mutex::new(Table {
    ioapics: [None; MAX_IOAPICS],
    dest: 0,
});

/// Add one IOAPIC from the MADT, masking all its inputs; `dest` is the
/// LAPIC ID lines will be delivered to.
pub fn add(entry: &IoApicEntry, bi: &BootInfo, dest: u32) {
    let (id, phys, gsi_base) = (entry.io_apic_id, u64::from(entry.io_apic_address), {
        entry.global_system_interrupt_base
    });
    // The window is IOREGSEL at +0 and IOWIN at +0x10, both 32-bit.
    if !phys.is_multiple_of(16) || phys.saturating_add(0x20) > bi.phys_map_size {
        log::error!("ioapic: IOAPIC {id} address {phys:#x} is unusable; ignored");
        return;
    }
    let mut io = IoApic {
        base: phys_to_virt(phys),
        phys,
        gsi_base,
        entries: 0,
    };
    let version = io.read(1);
    if version == u32::MAX {
        log::error!("ioapic: IOAPIC {id} at {phys:#x} does not respond; ignored");
        return;
    }
    io.entries = ((version >> 16) & 0xff) + 1;
    for i in 0..io.entries {
        io.set_entry(i, RTE_MASKED, 0);
    }
    let mut t = TABLE.lock();
    t.dest = dest;
    let overlaps = t.ioapics.iter().flatten().any(|o| {
        gsi_base < o.gsi_base + o.entries && o.gsi_base < gsi_base.saturating_add(io.entries)
    });
    let free = t.ioapics.iter_mut().find(|s| s.is_none());
    match free {
        Some(s) if !overlaps => {
            *s = Some(io);
            log::info!(
                "ioapic: IOAPIC {id} at {phys:#x}: version {:#x}, GSIs {gsi_base}..{}, all masked",
                version & 0xff,
                gsi_base + io.entries - 1
            );
        }
        Some(_) => log::error!("ioapic: IOAPIC {id}'s GSIs overlap another's; ignored"),
        None => log::error!("ioapic: more than {MAX_IOAPICS} IOAPICs; IOAPIC {id} ignored"),
    }
}

/// The IOAPIC serving `gsi`, and the entry's index in it.
fn find(t: &Table, gsi: u64) -> Option<(IoApic, u32)> {
    let gsi = u32::try_from(gsi).ok().filter(|&g| g < MAX_LINES)?;
    t.ioapics
        .iter()
        .flatten()
        .find(|o| (o.gsi_base..o.gsi_base + o.entries).contains(&gsi))
        .map(|o| (*o, gsi - o.gsi_base))
}

/// How many lines the platform has: GSIs `0 .. count()` may be served.
pub fn count() -> u64 {
    let t = TABLE.lock();
    let top = t
        .ioapics
        .iter()
        .flatten()
        .map(|o| o.gsi_base.saturating_add(o.entries))
        .max()
        .unwrap_or(0);
    u64::from(top.min(MAX_LINES))
}

/// Whether `gsi` (below [`count`]) is reserved: no IOAPIC serves it.
/// The kernel's own interrupts (its timer) come from the LAPIC, so every
/// GSI an IOAPIC serves can be handed out.
pub fn reserved(gsi: u64) -> bool {
    find(&TABLE.lock(), gsi).is_none()
}

/// Program `gsi` with the trigger word of IRQControl Get (spec: IRQ-4:
/// bit 0 level, bit 1 active-low) and unmask it.
pub fn unmask(gsi: u64, trigger: u64) {
    let t = TABLE.lock();
    let Some((io, index)) = find(&t, gsi) else {
        return;
    };
    let mut low = u32::from(DEVICE_VECTOR_BASE) + gsi as u32;
    if trigger & TRIGGER_LEVEL != 0 {
        low |= RTE_LEVEL;
    }
    if trigger & TRIGGER_ACTIVE_LOW != 0 {
        low |= RTE_ACTIVE_LOW;
    }
    io.set_entry(index, low, t.dest);
}

/// Mask `gsi`.
pub fn mask(gsi: u64) {
    let t = TABLE.lock();
    if let Some((io, index)) = find(&t, gsi) {
        let low = io.read(0x10 + 2 * index);
        io.write(0x10 + 2 * index, low | RTE_MASKED);
    }
}

/// Whether `gsi`'s redirection entry is masked, read back from its IOAPIC
/// (`None` for a GSI no IOAPIC serves): the checking kernel compares it
/// with the line's state (INV-36).
#[cfg(feature = "check")]
pub fn is_masked(gsi: u64) -> Option<bool> {
    let t = TABLE.lock();
    let (io, index) = find(&t, gsi)?;
    Some(io.read(0x10 + 2 * index) & RTE_MASKED != 0)
}

/// Call `f` with the physical page of every IOAPIC the kernel drives.
pub fn windows(f: &mut dyn FnMut(u64, u64)) {
    for io in TABLE.lock().ioapics.iter().flatten() {
        f(io.phys & !0xfff, 0x1000);
    }
}
