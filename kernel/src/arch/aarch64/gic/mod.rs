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
//! through [`Gic::enable_ppi`]. Device interrupts will be enabled when
//! user-space drivers claim them.
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

/// Priority of the kernel's own interrupts (all of them, for now).
pub const KERNEL_PRIORITY: u8 = 0xa0;

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
