//! The interrupt controllers: local APIC and IOAPICs, found in the MADT.
//!
//! The MADT is read through the `acpi` crate's entry iterator, but only
//! after its raw entry list has been checked here: the iterator trusts
//! entry lengths, so a zero length would loop forever and a length past the
//! end would read beyond the table. A table that fails the check is
//! rejected as a whole and the kernel runs without interrupts.
//!
//! Registers are reached through the direct map, which maps everything
//! that is not RAM uncached — nothing new is mapped. If the firmware left
//! the LAPIC in x2APIC mode (its MMIO window is then dead), the LAPIC is
//! driven through its MSRs instead; the register numbering is the same.
//!
//! Device interrupts come through the IOAPICs ([`super::ioapic`]), every
//! input masked until user space claims its line. LINT0 (the 8259's
//! virtual-wire input) is masked unless the MADT says it carries NMI. The
//! LAPIC itself delivers the timer tick, its error interrupt and spurious
//! interrupts.

use super::idt::{LAPIC_ERROR_VECTOR, SPURIOUS_VECTOR};
use super::{cpu, pic};
use crate::firmware::DirectMap;
use crate::memory::phys_to_virt;
use abi::boot::BootInfo;
use acpi::madt::{
    EntryHeader, InterruptSourceOverrideEntry, IoApicEntry, LocalApicAddressOverrideEntry,
    LocalApicEntry, LocalApicNmiEntry, LocalX2ApicEntry, Madt, MadtEntry,
};
use acpi::{AcpiTables, PhysicalMapping};
use core::mem::size_of;
use core::pin::Pin;
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicU32, Ordering};
use spin::Once;
use x86_64::registers::model_specific::Msr;

/// LAPIC register offsets (xAPIC MMIO layout; x2APIC MSR = 0x800 + off/16).
mod reg {
    pub const ID: u32 = 0x20;
    pub const VERSION: u32 = 0x30;
    pub const TPR: u32 = 0x80;
    pub const EOI: u32 = 0xb0;
    pub const SVR: u32 = 0xf0;
    pub const ISR0: u32 = 0x100;
    pub const IRR0: u32 = 0x200;
    pub const ESR: u32 = 0x280;
    pub const LVT_TIMER: u32 = 0x320;
    pub const LVT_LINT0: u32 = 0x350;
    pub const LVT_LINT1: u32 = 0x360;
    pub const LVT_ERROR: u32 = 0x370;
    pub const TIMER_INITIAL: u32 = 0x380;
    pub const TIMER_CURRENT: u32 = 0x390;
    pub const TIMER_DIVIDE: u32 = 0x3e0;
}

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;
const APIC_BASE_ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
const X2APIC_MSR_BASE: u32 = 0x800;

const LVT_MASKED: u32 = 1 << 16;
const LVT_TIMER_PERIODIC: u32 = 1 << 17;
const LVT_DELIVERY_NMI: u32 = 0b100 << 8;
const LVT_ACTIVE_LOW: u32 = 1 << 13;
const SVR_ENABLE: u32 = 1 << 8;
/// Divide configuration for "divide by 16".
const TIMER_DIVIDE_BY_16: u32 = 0b0011;

/// The LAPIC timer counts the bus clock divided by this.
pub const TIMER_DIVISOR: u64 = 16;

/// The MADT's fixed part: SDT header, LAPIC address, flags.
const MADT_HEADER_LEN: usize = 44;
const MADT_PCAT_COMPAT: u32 = 1 << 0;

/// This CPU's local APIC.
#[derive(Clone, Copy)]
pub struct Lapic {
    /// Virtual address of the register window (xAPIC), or `None` when the
    /// LAPIC is in x2APIC mode and is driven through MSRs.
    mmio: Option<u64>,
    /// Physical address of the register window (xAPIC mode only).
    phys: u64,
}

static LAPIC: Once<Lapic> = Once::new();

impl Lapic {
    fn read(&self, reg: u32) -> u32 {
        match self.mmio {
            // SAFETY: `base` is the LAPIC window in the direct map (checked
            // in `init`, uncached), `reg` one of its 16-byte-aligned
            // registers, which must be accessed as 32-bit words.
            Some(base) => unsafe { read_volatile((base + u64::from(reg)) as *const u32) },
            // SAFETY: the LAPIC is in x2APIC mode (checked in `init`), where
            // every register is the MSR 0x800 + reg/16; reads have no side
            // effects.
            None => unsafe { Msr::new(X2APIC_MSR_BASE + reg / 16).read() as u32 },
        }
    }

    fn write(&self, reg: u32, value: u32) {
        match self.mmio {
            // SAFETY: as in `read`; the callers write values that keep the
            // LAPIC in a configuration this kernel handles.
            Some(base) => unsafe { write_volatile((base + u64::from(reg)) as *mut u32, value) },
            // SAFETY: as in `read`.
            None => unsafe { Msr::new(X2APIC_MSR_BASE + reg / 16).write(u64::from(value)) },
        }
    }

    /// Signal end of interrupt for the highest-priority in-service vector.
    pub fn eoi(&self) {
        self.write(reg::EOI, 0);
    }

    fn id(&self) -> u32 {
        let id = self.read(reg::ID);
        if self.mmio.is_some() { id >> 24 } else { id }
    }

    fn in_service(&self, vector: u8) -> bool {
        let word = self.read(reg::ISR0 + u32::from(vector / 32) * 0x10);
        word & (1 << (vector % 32)) != 0
    }

    /// Start the timer as a masked one-shot from `initial`, counting the
    /// bus clock divided by [`TIMER_DIVISOR`]: for calibration.
    pub fn timer_start_masked(&self, initial: u32) {
        self.write(reg::LVT_TIMER, LVT_MASKED);
        self.write(reg::TIMER_DIVIDE, TIMER_DIVIDE_BY_16);
        self.write(reg::TIMER_INITIAL, initial);
    }

    /// The timer's current count.
    pub fn timer_current(&self) -> u32 {
        self.read(reg::TIMER_CURRENT)
    }

    /// Run the timer periodically, raising `vector` every `initial`
    /// divided bus-clock cycles.
    pub fn timer_start_periodic(&self, vector: u8, initial: u32) {
        self.write(reg::TIMER_DIVIDE, TIMER_DIVIDE_BY_16);
        self.write(reg::LVT_TIMER, LVT_TIMER_PERIODIC | u32::from(vector));
        self.write(reg::TIMER_INITIAL, initial);
    }
}

/// The LAPIC, once [`init`] has set it up.
pub fn lapic() -> Option<&'static Lapic> {
    LAPIC.get()
}

/// Check that the MADT lies in the direct map and that its entry list is
/// well formed (see [`check_madt_entries`]).
fn validate_madt(
    madt: &PhysicalMapping<DirectMap, Madt>,
    bi: &BootInfo,
) -> Result<(), &'static str> {
    let len = { madt.get().header.length } as usize;
    if len < MADT_HEADER_LEN {
        return Err("shorter than its fixed header");
    }
    if (madt.physical_start() as u64).saturating_add(len as u64) > bi.phys_map_size {
        return Err("extends beyond the direct map");
    }
    // SAFETY: the acpi crate mapped `len` bytes (the header's length) and
    // has already read them all to verify the checksum; the direct map
    // keeps them mapped for the kernel's lifetime.
    let bytes =
        unsafe { core::slice::from_raw_parts(madt.virtual_start().as_ptr().cast::<u8>(), len) };
    check_madt_entries(&bytes[MADT_HEADER_LEN..])
}

/// Check a MADT's raw entry list (the bytes after its fixed header): every
/// entry at least a header long and inside the table, and the entries this
/// module reads at least as long as the crate's view of them.
fn check_madt_entries(mut rest: &[u8]) -> Result<(), &'static str> {
    while !rest.is_empty() {
        let [kind, entry_len, ..] = *rest else {
            return Err("an entry header is cut off at the end of the table");
        };
        let needed = match kind {
            0 => size_of::<LocalApicEntry>(),
            1 => size_of::<IoApicEntry>(),
            2 => size_of::<InterruptSourceOverrideEntry>(),
            4 => size_of::<LocalApicNmiEntry>(),
            5 => size_of::<LocalApicAddressOverrideEntry>(),
            9 => size_of::<LocalX2ApicEntry>(),
            _ => size_of::<EntryHeader>(),
        };
        let entry_len = usize::from(entry_len);
        if entry_len < needed || entry_len > rest.len() {
            return Err("an entry's length is too short or runs past the table");
        }
        rest = &rest[entry_len..];
    }
    Ok(())
}

/// Find the interrupt controllers in the MADT, mask the 8259s and every
/// IOAPIC input, and enable this CPU's LAPIC. `None` (after logging why)
/// if there is no usable MADT or LAPIC: the kernel then runs without
/// interrupts.
pub fn init(tables: &AcpiTables<DirectMap>, bi: &BootInfo) -> Option<Lapic> {
    let madt = match tables.find_table::<Madt>() {
        Ok(madt) => madt,
        Err(e) => {
            log::error!("apic: no MADT ({e:?}): running without interrupts");
            pic::remap_and_mask();
            return None;
        }
    };
    if let Err(why) = validate_madt(&madt, bi) {
        log::error!("apic: MADT rejected: {why}: running without interrupts");
        pic::remap_and_mask();
        return None;
    }
    let madt = madt.get();

    let has_8259 = { madt.flags } & MADT_PCAT_COMPAT != 0;
    if has_8259 {
        pic::remap_and_mask();
    }
    let (mut cpus, mut ioapics, mut overrides) = (0, 0, 0);
    for entry in madt.entries() {
        match entry {
            MadtEntry::LocalApic(e) if { e.flags } & 0b11 != 0 => cpus += 1,
            MadtEntry::LocalX2Apic(e) if { e.flags } & 0b11 != 0 => cpus += 1,
            MadtEntry::IoApic(_) => ioapics += 1,
            MadtEntry::InterruptSourceOverride(_) => overrides += 1,
            _ => {}
        }
    }
    log::info!(
        "apic: MADT: {cpus} CPU(s), {ioapics} IOAPIC(s), {overrides} interrupt source override(s), 8259s {}",
        if has_8259 {
            "present (remapped to 0x20, masked)"
        } else {
            "absent"
        }
    );

    let lapic = setup_lapic(madt, bi)?;
    let our_id = lapic.id();
    let our_uid = madt.entries().find_map(|entry| match entry {
        MadtEntry::LocalApic(e) if u32::from(e.apic_id) == our_id => Some(e.processor_id),
        _ => None,
    });
    let lint0 = setup_lints(&lapic, madt, our_uid);
    let version = lapic.read(reg::VERSION);
    match lapic.mmio {
        Some(_) => log::info!(
            "apic: LAPIC at {:#x} (xAPIC mode), id {our_id}, version {version:#x}, LINT0 {lint0}, spurious vector {SPURIOUS_VECTOR:#x}",
            lapic.phys
        ),
        None => log::info!(
            "apic: LAPIC in x2APIC mode, id {our_id}, version {version:#x}, LINT0 {lint0}, spurious vector {SPURIOUS_VECTOR:#x}"
        ),
    }

    for entry in madt.entries() {
        if let MadtEntry::IoApic(e) = entry {
            super::ioapic::add(e, bi, our_id);
        }
    }
    Some(*LAPIC.call_once(|| lapic))
}

/// Locate, enable and configure this CPU's LAPIC (all LVTs but LINTs).
fn setup_lapic(madt: Pin<&Madt>, bi: &BootInfo) -> Option<Lapic> {
    if cpu::cpuid(1).is_none_or(|r| r.edx & (1 << 9) == 0) {
        log::error!("apic: CPUID reports no local APIC: running without interrupts");
        return None;
    }
    let mut madt_base = u64::from(madt.local_apic_address);
    for entry in madt.entries() {
        if let MadtEntry::LocalApicAddressOverride(e) = entry {
            madt_base = e.local_apic_address;
        }
    }
    let msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: IA32_APIC_BASE exists on every CPU with a LAPIC (checked
    // above); reading it has no side effects.
    let mut apic_base = unsafe { msr.read() };
    if apic_base & APIC_BASE_ENABLE == 0 {
        log::warn!("apic: LAPIC disabled by firmware; enabling it");
        apic_base |= APIC_BASE_ENABLE;
        let mut msr = msr;
        // SAFETY: setting the global enable bit with the base unchanged
        // turns the LAPIC on at the address it already decodes.
        unsafe { msr.write(apic_base) };
    }
    let phys = if apic_base & APIC_BASE_X2APIC != 0 {
        log::info!(
            "apic: LAPIC left in x2APIC mode by firmware (MADT address {madt_base:#x} unused)"
        );
        None
    } else {
        let cpu_base = apic_base & APIC_BASE_ADDR_MASK;
        if cpu_base != madt_base {
            // The CPU decodes the MSR's address, whatever the table says.
            log::warn!(
                "apic: MADT puts the LAPIC at {madt_base:#x}, IA32_APIC_BASE at {cpu_base:#x}; using the latter"
            );
        }
        if !cpu_base.is_multiple_of(4096) || cpu_base.saturating_add(4096) > bi.phys_map_size {
            log::error!(
                "apic: LAPIC address {cpu_base:#x} is outside the direct map: running without interrupts"
            );
            return None;
        }
        Some(cpu_base)
    };
    let lapic = Lapic {
        mmio: phys.map(phys_to_virt),
        phys: phys.unwrap_or(0),
    };
    lapic.write(reg::TPR, 0);
    lapic.write(reg::LVT_TIMER, LVT_MASKED);
    lapic.write(reg::LVT_ERROR, u32::from(LAPIC_ERROR_VECTOR));
    // The ESR latches errors on write; two writes clear stale ones.
    lapic.write(reg::ESR, 0);
    lapic.write(reg::ESR, 0);
    lapic.write(reg::SVR, SVR_ENABLE | u32::from(SPURIOUS_VECTOR));
    Some(lapic)
}

/// Program LINT0/LINT1 as NMI where the MADT says so for this CPU, and
/// mask LINT0 otherwise (it carries the masked 8259s). LINT1 keeps the
/// firmware's setting unless named. Returns how LINT0 ended up.
fn setup_lints(lapic: &Lapic, madt: Pin<&Madt>, our_uid: Option<u8>) -> &'static str {
    let mut lint0 = "masked";
    let mut lint0_nmi = false;
    for entry in madt.entries() {
        let MadtEntry::LocalApicNmi(e) = entry else {
            continue;
        };
        if e.processor_id != 0xff && Some(e.processor_id) != our_uid {
            continue;
        }
        // MPS INTI flags: polarity in bits 0–1 (3 = active low). NMIs are
        // edge triggered whatever the trigger bits say.
        let mut value = LVT_DELIVERY_NMI;
        if { e.flags } & 0b11 == 0b11 {
            value |= LVT_ACTIVE_LOW;
        }
        match e.nmi_line {
            0 => {
                lapic.write(reg::LVT_LINT0, value);
                lint0 = "NMI";
                lint0_nmi = true;
            }
            1 => lapic.write(reg::LVT_LINT1, value),
            n => log::warn!("apic: MADT names LINT{n} for NMI, which does not exist; ignored"),
        }
    }
    if !lint0_nmi {
        lapic.write(reg::LVT_LINT0, LVT_MASKED);
    }
    lint0
}

/// The LAPIC's register page (xAPIC mode), if the kernel drives one.
pub fn window() -> Option<(u64, u64)> {
    lapic()
        .filter(|l| l.mmio.is_some())
        .map(|l| (l.phys, 0x1000))
}

/// Whether an interrupt waits in the LAPIC's request register (with
/// interrupts masked, every accepted interrupt waits there): the kernel's
/// preemption points ask (spec: SYS-16).
pub fn interrupt_pending() -> bool {
    lapic().is_some_and(|l| (0..8).any(|i| l.read(reg::IRR0 + i * 0x10) != 0))
}

/// End the interrupt in service (a device interrupt's line is masked
/// first, see `idt::dispatch`).
pub fn eoi() {
    if let Some(lapic) = lapic() {
        lapic.eoi();
    }
}

/// Unexpected and spurious interrupts logged individually, before the
/// log would flood.
const LOG_LIMIT: u32 = 8;
static UNEXPECTED: AtomicU32 = AtomicU32::new(0);
static SPURIOUS: AtomicU32 = AtomicU32::new(0);

/// The LAPIC's spurious vector: a request withdrawn before it was
/// delivered. Nothing is in service, so there must be no EOI.
pub fn on_spurious() {
    let n = SPURIOUS.fetch_add(1, Ordering::Relaxed);
    if n < LOG_LIMIT {
        log::warn!(
            "apic: spurious interrupt (vector {SPURIOUS_VECTOR:#x}, #{})",
            n + 1
        );
    }
}

/// The LAPIC error interrupt: log the error status.
pub fn on_error() {
    let Some(lapic) = lapic() else { return };
    // Writing the ESR latches the current error bits for reading.
    lapic.write(reg::ESR, 0);
    let esr = lapic.read(reg::ESR);
    log::error!("apic: LAPIC error interrupt, ESR {esr:#x}");
    lapic.eoi();
}

/// Any vector nothing is registered for: log it (up to a limit), and
/// acknowledge it if the LAPIC has it in service — a software `int` or a
/// stray 8259 interrupt is not in service, and an EOI would then retire
/// some other interrupt.
pub fn on_unexpected(vector: u8) {
    let n = UNEXPECTED.fetch_add(1, Ordering::Relaxed);
    if n < LOG_LIMIT {
        log::warn!("apic: unexpected interrupt on vector {vector:#x}");
    } else if n == LOG_LIMIT {
        log::warn!("apic: further unexpected interrupts are not logged");
    }
    if let Some(lapic) = lapic()
        && lapic.in_service(vector)
    {
        lapic.eoi();
    }
}
