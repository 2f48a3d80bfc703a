//! GICv2: the distributor and a memory-mapped CPU interface (`GICC_*`).
//!
//! SGI and PPI state (IDs 0–31) is banked per CPU in the distributor.
//! Interrupt groups are left as the firmware set them: on a GIC without
//! security extensions (QEMU `virt`) everything stays in group 0, which
//! the CPU interface signals as IRQ (FIQEn is 0); on one with them the
//! secure firmware has put everything in group 1 and the kernel sees the
//! non-secure register view. Bit 0 of both control registers enables the
//! group the kernel uses in either view.

use super::distributor;
use super::{Ack, Trigger};
use tock_registers::{
    interfaces::{Readable, Writeable},
    register_structs,
    registers::{ReadOnly, ReadWrite, WriteOnly},
};

register_structs! {
    /// `GICC_*`: the CPU interface registers the kernel uses.
    CpuInterface {
        (0x00 => ctlr: ReadWrite<u32>),
        (0x04 => pmr: ReadWrite<u32>),
        (0x08 => bpr: ReadWrite<u32>),
        (0x0c => iar: ReadOnly<u32>),
        (0x10 => eoir: WriteOnly<u32>),
        (0x14 => @END),
    }
}

/// Size of the CPU interface window the kernel needs (GICC_DIR, at
/// 0x1000, is part of the architected 8 KiB).
pub const CPU_INTERFACE_SIZE: u64 = 0x2000;

/// Interrupt ID field of `GICC_IAR` (the CPU ID of an SGI sits above it).
const IAR_INTID: u32 = 0x3ff;

/// A GICv2 driven by this CPU.
pub struct GicV2 {
    gicd: &'static distributor::Registers,
    gicc: &'static CpuInterface,
}

impl GicV2 {
    /// Wrap the GIC whose registers are mapped at `gicd` and `gicc`.
    ///
    /// # Safety
    /// `gicd` and `gicc` must be the direct-map addresses of the
    /// distributor (4 KiB) and CPU interface (8 KiB) register windows,
    /// mapped as device memory for the kernel's lifetime, and nothing else
    /// may drive this GIC.
    pub unsafe fn new(gicd: u64, gicc: u64) -> Self {
        // SAFETY: guaranteed by the caller; both windows are at least as
        // large as the register blocks.
        unsafe {
            GicV2 {
                gicd: &*(gicd as *const distributor::Registers),
                gicc: &*(gicc as *const CpuInterface),
            }
        }
    }

    /// Interrupt IDs the distributor implements.
    pub fn lines(&self) -> u32 {
        self.gicd.lines()
    }

    /// Quiesce every interrupt, then enable the distributor and this CPU's
    /// interface, accepting every priority, with EOI both dropping the
    /// priority and deactivating (EOImode 0).
    pub fn init(&self) {
        let d = self.gicd;
        d.ctlr.set(0);
        d.icenabler[0].set(u32::MAX);
        d.icpendr[0].set(u32::MAX);
        d.icactiver[0].set(u32::MAX);
        d.quiesce_spis(false);
        d.ctlr.set(1);
        let c = self.gicc;
        c.pmr.set(0xff);
        c.bpr.set(0);
        c.ctlr.set(1);
    }

    /// Configure and enable a PPI (`intid` 16–31, banked for this CPU).
    pub fn enable_ppi(&self, intid: u32, trigger: Trigger, priority: u8) {
        let d = self.gicd;
        distributor::set_priority(&d.ipriorityr, intid, priority);
        distributor::set_trigger(&d.icfgr, intid, trigger);
        distributor::set_bit(&d.isenabler, intid);
    }

    /// Configure a shared peripheral interrupt (`intid` ≥ 32), route it
    /// to this CPU and enable it.
    pub fn enable_spi(&self, intid: u32, trigger: Trigger, priority: u8) {
        let d = self.gicd;
        distributor::set_priority(&d.ipriorityr, intid, priority);
        distributor::set_trigger(&d.icfgr, intid, trigger);
        // The banked GICD_ITARGETSR0..7 read as this CPU's own target bit
        // (all zero on a GIC built for one CPU, whose SPI targets are
        // then read-as-zero and ignored anyway).
        let me = d.itargetsr[..32]
            .iter()
            .map(|r| r.get())
            .find(|&b| b != 0)
            .unwrap_or(1);
        if let Some(r) = d.itargetsr.get(intid as usize) {
            r.set(me);
        }
        distributor::set_bit(&d.isenabler, intid);
    }

    /// Whether PPI `intid` is pending for this CPU.
    pub fn ppi_pending(&self, intid: u32) -> bool {
        distributor::bit_is_set(&self.gicd.ispendr, intid)
    }

    /// Whether SPI `intid` is enabled (`GICD_ISENABLER`).
    #[cfg(feature = "check")]
    pub fn spi_enabled(&self, intid: u32) -> bool {
        distributor::bit_is_set(&self.gicd.isenabler, intid)
    }

    /// Disable an interrupt.
    pub fn disable(&self, intid: u32) {
        distributor::set_bit(&self.gicd.icenabler, intid);
    }

    /// Acknowledge the highest-priority pending interrupt, if any.
    pub fn acknowledge(&self) -> Option<Ack> {
        let iar = self.gicc.iar.get();
        let intid = iar & IAR_INTID;
        (intid < 1020).then_some(Ack { raw: iar, intid })
    }

    /// End an acknowledged interrupt.
    pub fn end(&self, ack: Ack) {
        self.gicc.eoir.set(ack.raw);
    }
}
