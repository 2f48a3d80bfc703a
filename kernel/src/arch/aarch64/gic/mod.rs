//! The interrupt controller: a GICv2 or a GICv3, as the firmware
//! describes it.
//!
//! [`discover`] reads where the GIC is and which version it is (ACPI MADT
//! or device tree), [`v2`] and [`v3`] drive the two programming models,
//! and [`distributor`] holds what they share. This module picks the
//! driver, checks the register windows ([`super::mmio`]) and keeps the
//! one instance the interrupt path uses.
//!
//! At boot every interrupt is disabled and cleared; only the interrupts
//! the kernel itself takes (the timer's PPI) are enabled, by their owner
//! through [`Gic::enable_ppi`]. Shared peripheral interrupts (device
//! interrupts, lines for user space) are enabled by [`Gic::enable_spi`]
//! when user space claims them and after each Ack (see `crate::irq`).
//!
//! Without a usable description, or with a GIC that does not respond,
//! the kernel runs without interrupts: logged as an error, never a panic.

mod discover;
mod distributor;
mod v2;
mod v3;

use super::mmio;
use super::tables::Firmware;
use aarch64_cpu::registers::{ID_AA64PFR0_EL1, Readable};
use spin::Once;

/// Programming model of the GIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// GICv2 (also GICv1): memory-mapped CPU interface.
    V2,
    /// GICv3 or GICv4: redistributors, system-register CPU interface.
    V3,
}

impl core::fmt::Display for Version {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        f.write_str(match self {
            Version::V2 => "GICv2",
            Version::V3 => "GICv3",
        })
    }
}

/// Trigger mode of an interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Level,
    Edge,
}

impl core::fmt::Display for Trigger {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        f.write_str(match self {
            Trigger::Level => "level-triggered",
            Trigger::Edge => "edge-triggered",
        })
    }
}

/// An acknowledged interrupt, to be handed back to [`Gic::end`].
#[derive(Clone, Copy, Debug)]
pub struct Ack {
    /// The acknowledge register's value (GICv2 adds an SGI's source CPU).
    raw: u32,
    /// The interrupt ID.
    pub intid: u32,
}

/// The GIC driver of this CPU.
pub enum Gic {
    V2(v2::GicV2),
    V3(v3::GicV3),
}

// SAFETY: the GIC is driven from one CPU, and only with interrupts masked
// (at boot and in the interrupt handler), so its register blocks are never
// accessed concurrently; each access is a single device load or store.
unsafe impl Sync for Gic {}
// SAFETY: as above; the register references point at device memory that
// stays mapped for the kernel's lifetime.
unsafe impl Send for Gic {}

static GIC: Once<Gic> = Once::new();

/// Priority of the kernel's own interrupts and of device interrupts
/// (all interrupts are masked while the kernel runs, so their order
/// matters only among interrupts pending together).
pub const KERNEL_PRIORITY: u8 = 0xa0;

/// Most register windows the kernel records (distributor, CPU interface
/// or redistributor regions).
const MAX_WINDOWS: usize = 6;
/// The GIC's register windows (physical base, length): never part of a
/// device untyped.
static WINDOWS: spin::Mutex<[(u64, u64); MAX_WINDOWS]> = spin::Mutex::new([(0, 0); MAX_WINDOWS]);

/// Call `f` with each of the GIC's register windows.
pub fn windows(f: &mut dyn FnMut(u64, u64)) {
    for &(base, len) in WINDOWS.lock().iter().filter(|w| w.1 != 0) {
        f(base, len);
    }
}

/// Find, check and initialise the GIC; `None` (logged) if there is none
/// that works.
pub fn init(fw: &Firmware) -> Option<&'static Gic> {
    let Some(d) = discover::describe(fw) else {
        log::error!("gic: no interrupt controller described: running without interrupts");
        return None;
    };
    match start(fw, &d) {
        Ok(gic) => Some(GIC.call_once(|| gic)),
        Err(e) => {
            log::error!(
                "gic: {} from the {} at {:#x}: {e}: running without interrupts",
                d.version,
                d.source,
                d.gicd
            );
            None
        }
    }
}

/// Check the description against the CPU and the memory map, initialise
/// the GIC and log it.
fn start(fw: &Firmware, d: &discover::Description) -> Result<Gic, &'static str> {
    let bi = fw.bi;
    {
        let mut w = WINDOWS.lock();
        let regions = match d.version {
            Version::V2 => [
                (d.gicd, distributor::V2_SIZE),
                (d.gicc, v2::CPU_INTERFACE_SIZE),
            ],
            Version::V3 => [(d.gicd, v3::DISTRIBUTOR_SIZE), (0, 0)],
        };
        let all = regions
            .into_iter()
            .chain(d.redistributors().iter().copied());
        for (slot, r) in w.iter_mut().zip(all.filter(|r| r.1 != 0)) {
            *slot = r;
        }
    }
    match d.version {
        Version::V2 => {
            let gicd = mmio::device_window(bi, d.gicd, distributor::V2_SIZE)?;
            let gicc = mmio::device_window(bi, d.gicc, v2::CPU_INTERFACE_SIZE)?;
            // SAFETY: both windows were checked to be device memory in the
            // direct map, the firmware names them as this GIC's distributor
            // and CPU interface, and only this module drives the GIC.
            let gic = unsafe { v2::GicV2::new(gicd, gicc) };
            gic.init();
            log::info!(
                "gic: {} from the {}: distributor {:#x}, CPU interface {:#x}, {} interrupt IDs",
                d.version,
                d.source,
                d.gicd,
                d.gicc,
                gic.lines()
            );
            Ok(Gic::V2(gic))
        }
        Version::V3 => {
            // ID_AA64PFR0_EL1.GIC: the CPU implements the system-register
            // CPU interface (without it, every ICC_* access is undefined).
            if (ID_AA64PFR0_EL1.get() >> 24) & 0xf == 0 {
                return Err("this CPU has no GICv3 system-register interface");
            }
            let gicd = mmio::device_window(bi, d.gicd, v3::DISTRIBUTOR_SIZE)?;
            // SAFETY: the distributor window was checked to be device
            // memory in the direct map; the regions are this GIC's as the
            // firmware describes them; only this module drives the GIC.
            let gic = unsafe { v3::GicV3::new(bi, gicd, d.redistributors())? };
            gic.init()?;
            let [a3, a2, a1, a0] = gic.affinity();
            log::info!(
                "gic: {} from the {}: distributor {:#x}, redistributor {:#x} (affinity {a3}.{a2}.{a1}.{a0}), {} interrupt IDs",
                d.version,
                d.source,
                d.gicd,
                gic.redistributor(),
                gic.lines()
            );
            Ok(Gic::V3(gic))
        }
    }
}

/// The GIC, once [`init`] has found one.
pub fn get() -> Option<&'static Gic> {
    GIC.get()
}

impl Gic {
    /// Configure and enable private peripheral interrupt `intid` (16–31)
    /// on this CPU.
    pub fn enable_ppi(&self, intid: u32, trigger: Trigger) {
        match self {
            Gic::V2(g) => g.enable_ppi(intid, trigger, KERNEL_PRIORITY),
            Gic::V3(g) => g.enable_ppi(intid, trigger, KERNEL_PRIORITY),
        }
    }

    /// Interrupt IDs the distributor implements.
    pub fn lines(&self) -> u32 {
        match self {
            Gic::V2(g) => g.lines(),
            Gic::V3(g) => g.lines(),
        }
    }

    /// Configure shared peripheral interrupt `intid` (≥ 32), route it to
    /// this CPU and enable it.
    pub fn enable_spi(&self, intid: u32, trigger: Trigger) {
        match self {
            Gic::V2(g) => g.enable_spi(intid, trigger, KERNEL_PRIORITY),
            Gic::V3(g) => g.enable_spi(intid, trigger, KERNEL_PRIORITY),
        }
    }

    /// Whether shared peripheral interrupt `intid` is enabled.
    #[cfg(feature = "check")]
    pub fn is_enabled(&self, intid: u32) -> bool {
        match self {
            Gic::V2(g) => g.spi_enabled(intid),
            Gic::V3(g) => g.spi_enabled(intid),
        }
    }

    /// Whether private peripheral interrupt `intid` is pending on this CPU.
    pub fn ppi_pending(&self, intid: u32) -> bool {
        match self {
            Gic::V2(g) => g.ppi_pending(intid),
            Gic::V3(g) => g.ppi_pending(intid),
        }
    }

    /// Disable interrupt `intid`.
    pub fn disable(&self, intid: u32) {
        match self {
            Gic::V2(g) => g.disable(intid),
            Gic::V3(g) => g.disable(intid),
        }
    }

    /// Acknowledge the highest-priority pending interrupt; `None` if the
    /// GIC has nothing (a spurious interrupt).
    pub fn acknowledge(&self) -> Option<Ack> {
        match self {
            Gic::V2(g) => g.acknowledge(),
            Gic::V3(g) => g.acknowledge(),
        }
    }

    /// Signal the end of an acknowledged interrupt (priority drop and
    /// deactivation).
    pub fn end(&self, ack: Ack) {
        match self {
            Gic::V2(g) => g.end(ack),
            Gic::V3(g) => g.end(ack),
        }
    }
}
