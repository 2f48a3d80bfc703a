//! Time: the reference clock, the TSC, and calibrating both timers.
//!
//! Neither the TSC's nor the LAPIC timer's frequency is architecturally
//! known, so both are measured against a clock whose rate firmware
//! publishes: the HPET (rate in its capabilities register) or, without
//! one, the ACPI PM timer (3.579545 MHz by definition). One window of the
//! reference clock times both, so the tick rate and `now_ns` agree with
//! each other even if the reference itself is off.
//!
//! `now_ns` is the TSC since kernel entry scaled by a 32.32 fixed-point
//! factor — one `rdtsc` and one multiply, usable from any context. It is 0
//! until calibration.
//!
//! Everything firmware says is checked before use, and every wait is
//! bounded: a reference clock that is absent, malformed, stuck or absurd is
//! logged and the next source is tried. The last resort is a TSC frequency
//! from CPUID (or a guess, said loudly), with the LAPIC timer measured
//! against that: time is then possibly wrong, but it still advances.

use super::apic::{Lapic, TIMER_DIVISOR};
use super::cpu;
use crate::firmware::DirectMap;
use crate::memory::phys_to_virt;
use abi::boot::BootInfo;
use acpi::address::AddressSpace;
use acpi::fadt::Fadt;
use acpi::hpet::HpetTable;
use acpi::{AcpiTable, AcpiTables, HpetInfo};
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::instructions::port::Port;

/// Length of the calibration window: long enough that the reads at its
/// edges (well under a microsecond) are noise, short enough not to slow
/// the boot.
const WINDOW_MS: u64 = 50;
/// A reference clock read this many times in a row without changing is
/// stuck (even the slow PM timer ticks every 280 ns; a read takes longer).
const STUCK_READS: u32 = 1_000_000;
/// Give up on a window after this many TSC cycles (over 8 s at 4 GHz):
/// the reference is then far slower than it claims.
const WINDOW_TSC_LIMIT: u64 = 1 << 35;
/// The ACPI PM timer's fixed rate.
const PM_TIMER_HZ: u64 = 3_579_545;
/// Largest HPET period the specification allows (100 ns), in fs.
const HPET_MAX_PERIOD_FS: u64 = 100_000_000;
/// TSC frequency assumed when nothing better is known.
const TSC_GUESS_HZ: u64 = 2_000_000_000;
const FS_PER_S: u128 = 1_000_000_000_000_000;

/// Plausible frequencies; anything outside means a broken measurement.
const TSC_HZ_RANGE: core::ops::RangeInclusive<u64> = 10_000_000..=20_000_000_000;
const LAPIC_HZ_RANGE: core::ops::RangeInclusive<u64> = 1_000_000..=20_000_000_000;

/// HPET registers (offsets from its base).
const HPET_CAPABILITIES: u64 = 0x00;
const HPET_CONFIG: u64 = 0x10;
const HPET_COUNTER: u64 = 0xf0;
const HPET_CAP_COUNTER_64: u64 = 1 << 13;
const HPET_CONFIG_ENABLE: u64 = 1 << 0;
/// Offset of the base address's address-space byte in the HPET table,
/// and the table's full length.
const HPET_TABLE_SPACE_OFFSET: usize = 40;
const HPET_TABLE_LEN: u32 = 56;
/// FADT lengths: ACPI 1.0's, and the length up to the end of X_PM_TMR_BLK,
/// which the acpi crate reads for revision 2 and later.
const FADT_V1_LEN: u32 = 116;
const FADT_X_PM_TMR_END: u32 = 220;

static TSC_AT_ENTRY: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per TSC cycle, 32.32 fixed point; 0 until calibrated.
static NS_PER_CYCLE_FP: AtomicU64 = AtomicU64::new(0);

/// Read the TSC, ordered after every earlier load (`lfence`), so that it
/// never runs ahead of the code before it.
fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: `lfence` and `rdtsc` only read the time-stamp counter into
    // edx:eax (CR4.TSD is clear, and the kernel runs in ring 0 anyway);
    // they touch no memory and no flags.
    unsafe {
        core::arch::asm!("lfence", "rdtsc", out("eax") lo, out("edx") hi,
            options(nomem, nostack, preserves_flags));
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Remember the TSC at kernel entry: `now_ns` counts from here.
pub fn mark_entry() {
    TSC_AT_ENTRY.store(rdtsc(), Ordering::Relaxed);
}

/// Monotonic nanoseconds since kernel entry, from the TSC; 0 until
/// calibrated.
pub fn now_ns() -> u64 {
    let factor = NS_PER_CYCLE_FP.load(Ordering::Acquire);
    if factor == 0 {
        return 0;
    }
    let cycles = rdtsc().wrapping_sub(TSC_AT_ENTRY.load(Ordering::Relaxed));
    ((u128::from(cycles) * u128::from(factor)) >> 32) as u64
}

fn set_tsc_hz(hz: u64) {
    let factor = (1_000_000_000u128 << 32) / u128::from(hz.max(1));
    NS_PER_CYCLE_FP.store(factor as u64, Ordering::Release);
}

/// How a PM timer is read.
#[derive(Clone, Copy)]
pub enum PmAccess {
    Port(u16),
    /// Physical address, reached through the direct map.
    Mmio(u64),
}

/// A free-running counter of known rate.
pub enum Reference {
    Hpet {
        phys: u64,
        /// Virtual address of the register block.
        base: u64,
        period_fs: u64,
        wide: bool,
    },
    PmTimer {
        access: PmAccess,
        wide: bool,
    },
    /// The TSC itself at an assumed rate: the fallback's "reference".
    Tsc {
        hz: u64,
    },
}

impl Reference {
    fn read(&self) -> u64 {
        match *self {
            // SAFETY: `base` is the HPET's register block in the direct map
            // (checked in `hpet`); the main counter is a 64-bit register
            // that may be read at any time.
            Reference::Hpet { base, .. } => unsafe {
                read_volatile((base + HPET_COUNTER) as *const u64)
            },
            Reference::PmTimer { access, .. } => u64::from(match access {
                // SAFETY: reading the PM timer port has no side effects;
                // the FADT names it and nothing else uses it.
                PmAccess::Port(port) => unsafe { Port::<u32>::new(port).read() },
                // SAFETY: as above, memory-mapped, checked to lie in the
                // direct map.
                PmAccess::Mmio(phys) => unsafe { read_volatile(phys_to_virt(phys) as *const u32) },
            }),
            Reference::Tsc { .. } => rdtsc(),
        }
    }

    /// Bits the counter actually has (it wraps at `mask + 1`).
    fn mask(&self) -> u64 {
        match *self {
            Reference::Hpet { wide: true, .. } | Reference::Tsc { .. } => u64::MAX,
            Reference::Hpet { wide: false, .. } | Reference::PmTimer { wide: true, .. } => {
                u64::from(u32::MAX)
            }
            Reference::PmTimer { wide: false, .. } => 0x00ff_ffff,
        }
    }

    /// Duration of `ticks` ticks in femtoseconds.
    fn ticks_to_fs(&self, ticks: u64) -> u128 {
        match *self {
            Reference::Hpet { period_fs, .. } => u128::from(ticks) * u128::from(period_fs),
            Reference::PmTimer { .. } => u128::from(ticks) * FS_PER_S / u128::from(PM_TIMER_HZ),
            Reference::Tsc { hz } => u128::from(ticks) * FS_PER_S / u128::from(hz),
        }
    }

    /// Ticks in `ms` milliseconds (at least one). Goes through the length
    /// of a million ticks so that the PM timer's fractional period keeps
    /// its precision.
    fn ticks_in_ms(&self, ms: u64) -> u64 {
        let fs = u128::from(ms) * FS_PER_S / 1000;
        let per_tick = self.ticks_to_fs(1_000_000).max(1);
        ((fs * 1_000_000 / per_tick) as u64).max(1)
    }

    fn name(&self) -> &'static str {
        match self {
            Reference::Hpet { .. } => "HPET",
            Reference::PmTimer { .. } => "ACPI PM timer",
            Reference::Tsc { .. } => "TSC",
        }
    }
}

/// The reference clocks firmware describes, best first: HPET, PM timer.
/// Each unusable one is logged with the reason.
pub fn find_references(tables: &AcpiTables<DirectMap>, bi: &BootInfo) -> [Option<Reference>; 2] {
    let hpet = hpet(tables, bi)
        .inspect_err(|why| log::warn!("clock: no usable HPET: {why}"))
        .ok();
    let pm = pm_timer(tables, bi)
        .inspect_err(|why| log::warn!("clock: no usable ACPI PM timer: {why}"))
        .ok();
    [hpet, pm]
}

fn hpet(tables: &AcpiTables<DirectMap>, bi: &BootInfo) -> Result<Reference, &'static str> {
    // `HpetInfo::new` asserts that the registers are in memory space; check
    // the raw table first so that a table saying otherwise is an error
    // here, not a panic there.
    let table = tables
        .find_table::<HpetTable>()
        .map_err(|_| "no HPET table")?;
    if { table.header().length } < HPET_TABLE_LEN {
        return Err("HPET table too short");
    }
    // SAFETY: the mapping covers the table's `length` bytes (at least 56,
    // checked above) and the crate has read them all for the checksum.
    let space = unsafe {
        read_volatile(
            table
                .virtual_start()
                .as_ptr()
                .cast::<u8>()
                .add(HPET_TABLE_SPACE_OFFSET),
        )
    };
    if space != 0 {
        return Err("HPET registers not in memory space");
    }
    let info = HpetInfo::new(tables).map_err(|_| "HPET table unreadable")?;
    let phys = info.base_address as u64;
    if !phys.is_multiple_of(8) || phys.saturating_add(HPET_COUNTER + 8) > bi.phys_map_size {
        return Err("HPET address outside the direct map");
    }
    let base = phys_to_virt(phys);
    // SAFETY: `base` is the HPET register block in the direct map
    // (uncached, checked above); the capabilities register is read-only.
    let caps = unsafe { read_volatile((base + HPET_CAPABILITIES) as *const u64) };
    let period_fs = caps >> 32;
    if period_fs == 0 || period_fs > HPET_MAX_PERIOD_FS {
        return Err("HPET reports an impossible period");
    }
    let config = (base + HPET_CONFIG) as *mut u64;
    // SAFETY: as above; setting ENABLE_CNF starts the main counter and
    // changes nothing else (no comparator is armed by this kernel).
    unsafe {
        let c = read_volatile(config);
        if c & HPET_CONFIG_ENABLE == 0 {
            write_volatile(config, c | HPET_CONFIG_ENABLE);
        }
    }
    Ok(Reference::Hpet {
        phys,
        base,
        period_fs,
        wide: caps & HPET_CAP_COUNTER_64 != 0,
    })
}

fn pm_timer(tables: &AcpiTables<DirectMap>, bi: &BootInfo) -> Result<Reference, &'static str> {
    let fadt = tables.find_table::<Fadt>().map_err(|_| "no FADT")?;
    let (len, revision) = ({ fadt.header().length }, fadt.header().revision);
    if len < FADT_V1_LEN || (revision >= 2 && len < FADT_X_PM_TMR_END) {
        return Err("FADT too short for its revision");
    }
    let block = fadt
        .pm_timer_block()
        .map_err(|_| "invalid PM timer address")?
        .ok_or("the FADT names no PM timer")?;
    let wide = { fadt.flags }.pm_timer_is_32_bit();
    let access = match block.address_space {
        AddressSpace::SystemIo => {
            PmAccess::Port(u16::try_from(block.address).map_err(|_| "PM timer port out of range")?)
        }
        AddressSpace::SystemMemory => {
            if !block.address.is_multiple_of(4)
                || block.address.saturating_add(4) > bi.phys_map_size
            {
                return Err("PM timer address outside the direct map");
            }
            PmAccess::Mmio(block.address)
        }
        _ => return Err("PM timer in an unsupported address space"),
    };
    Ok(Reference::PmTimer { access, wide })
}

/// Frequencies measured over one window.
struct Measured {
    tsc_hz: u64,
    lapic_hz: Option<u64>,
}

/// One reading of every counter, always in the same order.
struct Sample {
    reference: u64,
    tsc: u64,
    lapic: Option<u32>,
}

/// Read the reference, the TSC and the LAPIC timer back to back. Both
/// edges of a window use this same code, so the delay between the reads
/// cancels out (under an emulator, code run for the first time is also
/// translated first, which would otherwise skew the last edge by µs).
#[inline(never)]
fn sample(r: &Reference, lapic: Option<&Lapic>) -> Sample {
    Sample {
        reference: r.read(),
        tsc: rdtsc(),
        lapic: lapic.map(|l| l.timer_current()),
    }
}

/// Count TSC cycles (and LAPIC timer ticks) over one window of `r`.
fn measure(r: &Reference, lapic: Option<&Lapic>) -> Result<Measured, &'static str> {
    let target = r.ticks_in_ms(WINDOW_MS);
    if let Some(l) = lapic {
        l.timer_start_masked(u32::MAX);
    }
    let start = sample(r, lapic);
    let (mut last, mut same) = (start.reference, 0u32);
    let (end, elapsed) = loop {
        let now = sample(r, lapic);
        let elapsed = now.reference.wrapping_sub(start.reference) & r.mask();
        if elapsed >= target {
            break (now, elapsed);
        }
        if now.reference == last {
            same += 1;
            if same > STUCK_READS {
                return Err("the reference clock does not advance");
            }
        } else {
            (last, same) = (now.reference, 0);
        }
        if now.tsc.wrapping_sub(start.tsc) > WINDOW_TSC_LIMIT {
            return Err("the reference clock is far slower than it claims");
        }
    };
    let fs = r.ticks_to_fs(elapsed).max(1);
    let hz = |count: u64| (u128::from(count) * FS_PER_S / fs) as u64;

    let tsc_hz = hz(end.tsc.wrapping_sub(start.tsc));
    if !TSC_HZ_RANGE.contains(&tsc_hz) {
        return Err("implausible TSC frequency");
    }
    let lapic_hz = match (start.lapic, end.lapic) {
        (Some(start), Some(end)) => {
            // The one-shot stops at 0: reaching it means it ran out.
            if end == 0 || end >= start {
                return Err("the LAPIC timer did not count down");
            }
            let hz = hz(u64::from(start - end) * TIMER_DIVISOR);
            if !LAPIC_HZ_RANGE.contains(&hz) {
                return Err("implausible LAPIC timer frequency");
            }
            Some(hz)
        }
        _ => None,
    };
    Ok(Measured { tsc_hz, lapic_hz })
}

/// The TSC frequency as CPUID states it (leaf 0x15: crystal × ratio, or
/// leaf 0x16: base frequency in MHz), if it does.
fn tsc_hz_from_cpuid() -> Option<u64> {
    if let Some(r) = cpu::cpuid(0x15)
        && r.eax != 0
        && r.ebx != 0
        && r.ecx != 0
    {
        return Some(u64::from(r.ecx) * u64::from(r.ebx) / u64::from(r.eax));
    }
    cpu::cpuid(0x16)
        .map(|r| u64::from(r.eax & 0xffff) * 1_000_000)
        .filter(|hz| TSC_HZ_RANGE.contains(hz))
}

/// `1234.567 MHz`.
struct Mhz(u64);

impl core::fmt::Display for Mhz {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        write!(
            f,
            "{}.{:03} MHz",
            self.0 / 1_000_000,
            (self.0 / 1000) % 1000
        )
    }
}

/// Calibrate the TSC (which starts `now_ns`) and the LAPIC timer against
/// the first reference clock that works, falling back to CPUID's word on
/// the TSC. Returns the LAPIC timer's input frequency (before its divider),
/// if a LAPIC was given and could be measured.
pub fn calibrate(references: &[Option<Reference>], lapic: Option<&Lapic>) -> Option<u64> {
    let invariant = cpu::cpuid(0x8000_0007).is_some_and(|r| r.edx & (1 << 8) != 0);
    let tsc_kind = if invariant {
        "invariant"
    } else {
        "not invariant: may drift with power states"
    };
    for r in references.iter().flatten() {
        match r {
            Reference::Hpet {
                phys,
                period_fs,
                wide,
                ..
            } => log::info!(
                "clock: reference clock HPET at {phys:#x}, {}, {}-bit counter",
                Mhz((FS_PER_S / u128::from(*period_fs)) as u64),
                if *wide { 64 } else { 32 }
            ),
            Reference::PmTimer { access, wide } => {
                let bits = if *wide { 32 } else { 24 };
                match access {
                    PmAccess::Port(port) => log::info!(
                        "clock: reference clock ACPI PM timer at port {port:#x}, {}, {bits}-bit counter",
                        Mhz(PM_TIMER_HZ)
                    ),
                    PmAccess::Mmio(phys) => log::info!(
                        "clock: reference clock ACPI PM timer at {phys:#x}, {}, {bits}-bit counter",
                        Mhz(PM_TIMER_HZ)
                    ),
                }
            }
            Reference::Tsc { .. } => {}
        }
        match measure(r, lapic) {
            Ok(m) => {
                set_tsc_hz(m.tsc_hz);
                log_result(&m, tsc_kind, r.name());
                return m.lapic_hz;
            }
            Err(why) => log::error!("clock: calibration against the {} failed: {why}", r.name()),
        }
    }
    let (tsc_hz, source) = match tsc_hz_from_cpuid() {
        Some(hz) => (hz, "as CPUID states it"),
        None => (TSC_GUESS_HZ, "GUESSED: wall-clock time is unreliable"),
    };
    log::error!(
        "clock: no working reference clock; TSC frequency {} {source}",
        Mhz(tsc_hz)
    );
    set_tsc_hz(tsc_hz);
    match measure(&Reference::Tsc { hz: tsc_hz }, lapic) {
        Ok(m) => {
            log_result(&m, tsc_kind, "TSC");
            m.lapic_hz
        }
        Err(why) => {
            log::error!("clock: LAPIC timer not measurable against the TSC: {why}");
            None
        }
    }
}

fn log_result(m: &Measured, tsc_kind: &str, against: &str) {
    match m.lapic_hz {
        Some(lapic_hz) => log::info!(
            "clock: TSC {} ({tsc_kind}), LAPIC timer input {}, measured against the {against} over {WINDOW_MS} ms",
            Mhz(m.tsc_hz),
            Mhz(lapic_hz)
        ),
        None => log::info!(
            "clock: TSC {} ({tsc_kind}), measured against the {against} over {WINDOW_MS} ms",
            Mhz(m.tsc_hz)
        ),
    }
}
