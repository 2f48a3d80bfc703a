//! GICv3 (and v4): the distributor, this CPU's redistributor, and the
//! system-register CPU interface (`ICC_*_EL1`).
//!
//! The distributor runs with affinity routing (ARE) on, so it holds only
//! SPI state; SGIs and PPIs are configured in the redistributor's SGI
//! frame. The kernel uses group 1 (`ICC_IAR1_EL1`/`ICC_EOIR1_EL1`):
//! every interrupt is put in group 1 where the kernel may write the group
//! registers (a GIC with one security state, as on QEMU `virt`), and is
//! already there where the secure firmware owns them.
//!
//! A CPU's redistributor is found by walking the redistributor regions the
//! firmware lists, frame by frame, until `GICR_TYPER.Affinity` matches
//! `MPIDR_EL1`; the walk never leaves the regions, whatever the frames
//! say. Waiting for the GIC (register writes pending, the redistributor
//! waking up) is bounded too: a GIC that never answers is reported, not
//! waited for.

use super::distributor;
use super::{Ack, Trigger};
use crate::arch::aarch64::mmio;
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::MPIDR_EL1;
use abi::boot::BootInfo;
use tock_registers::{
    interfaces::{Readable, Writeable},
    register_structs,
    registers::{ReadOnly, ReadWrite},
};

register_structs! {
    /// `GICR_*` in the RD_base frame.
    Redistributor {
        (0x0000 => ctlr: ReadWrite<u32>),
        (0x0004 => _reserved),
        (0x0008 => typer: ReadOnly<u64>),
        (0x0010 => _reserved_statusr),
        (0x0014 => waker: ReadWrite<u32>),
        (0x0018 => @END),
    },
    /// `GICR_*` in the SGI_base frame (64 KiB after RD_base): the SGI and
    /// PPI state, laid out like the distributor's first entries.
    SgiFrame {
        (0x0000 => _reserved0),
        (0x0080 => igroupr0: ReadWrite<u32>),
        (0x0084 => _reserved1),
        (0x0100 => isenabler0: [ReadWrite<u32>; 1]),
        (0x0104 => _reserved2),
        (0x0180 => icenabler0: [ReadWrite<u32>; 1]),
        (0x0184 => _reserved3),
        (0x0200 => ispendr0: [ReadWrite<u32>; 1]),
        (0x0204 => _reserved7),
        (0x0280 => icpendr0: ReadWrite<u32>),
        (0x0284 => _reserved4),
        (0x0380 => icactiver0: ReadWrite<u32>),
        (0x0384 => _reserved5),
        (0x0400 => ipriorityr: [ReadWrite<u8>; 32]),
        (0x0420 => _reserved6),
        (0x0c00 => icfgr: [ReadWrite<u32>; 2]),
        (0x0c08 => @END),
    }
}

/// Size of the distributor's register window.
pub const DISTRIBUTOR_SIZE: u64 = 0x1_0000;
/// One redistributor: RD_base and SGI_base frames (GICv3).
const REDISTRIBUTOR_STRIDE: u64 = 0x2_0000;
/// With virtual LPIs (GICv4) two more frames follow.
const REDISTRIBUTOR_STRIDE_V4: u64 = 0x4_0000;
const SGI_FRAME: u64 = 0x1_0000;
/// `GICD_IROUTER<n>`: 64-bit, at this offset + 8n in the distributor.
const GICD_IROUTER: u64 = 0x6000;

const GICD_CTLR_ENABLE_G0_OR_G1: u32 = 1 << 0;
const GICD_CTLR_ENABLE_G1A_OR_G1: u32 = 1 << 1;
const GICD_CTLR_ARE: u32 = 1 << 4;
const GICD_CTLR_RWP: u32 = 1 << 31;
const GICR_CTLR_RWP: u32 = 1 << 3;
const GICR_TYPER_VLPIS: u64 = 1 << 1;
const GICR_TYPER_LAST: u64 = 1 << 4;
const GICR_WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const GICR_WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
const ICC_SRE_SRE: u64 = 1 << 0;
const ICC_SRE_DFB: u64 = 1 << 1;
const ICC_SRE_DIB: u64 = 1 << 2;
const ICC_CTLR_EOIMODE: u64 = 1 << 1;
/// Interrupt ID field of `ICC_IAR1_EL1` (24 bits covers every ID).
const IAR_INTID: u64 = 0xff_ffff;

/// How many times to poll a GIC status bit before giving up (each poll is
/// a device read: far longer than any GIC needs).
const POLL_LIMIT: u32 = 1_000_000;

/// The `ICC_*_EL1` system registers `aarch64-cpu` does not provide. None
/// of them is `nomem`: acknowledging and ending interrupts must stay
/// ordered with the handler's memory accesses.
mod icc {
    macro_rules! sysreg_read {
        ($fn:ident, $name:literal) => {
            pub fn $fn() -> u64 {
                let v;
                // SAFETY: reading a GIC CPU-interface register has no effect
                // beyond the register's own (acknowledging, for IAR1); the
                // CPU has the interface (checked before the first call).
                unsafe { core::arch::asm!(concat!("mrs {}, ", $name), out(reg) v, options(nostack)) };
                v
            }
        };
    }
    macro_rules! sysreg_write {
        ($fn:ident, $name:literal) => {
            pub fn $fn(v: u64) {
                // SAFETY: as for reads; each caller writes a value the GIC
                // architecture defines for the register.
                unsafe { core::arch::asm!(concat!("msr ", $name, ", {}"), in(reg) v, options(nostack)) };
            }
        };
    }
    sysreg_read!(sre, "icc_sre_el1");
    sysreg_write!(set_sre, "icc_sre_el1");
    sysreg_read!(ctlr, "icc_ctlr_el1");
    sysreg_write!(set_ctlr, "icc_ctlr_el1");
    sysreg_write!(set_pmr, "icc_pmr_el1");
    sysreg_write!(set_bpr1, "icc_bpr1_el1");
    sysreg_write!(set_igrpen1, "icc_igrpen1_el1");
    sysreg_read!(iar1, "icc_iar1_el1");
    sysreg_write!(set_eoir1, "icc_eoir1_el1");
}

/// Poll until `done` holds; `false` if it never did.
fn poll(mut done: impl FnMut() -> bool) -> bool {
    (0..POLL_LIMIT).any(|_| done())
}

/// This CPU's affinity as `GICR_TYPER` reports it: Aff3.Aff2.Aff1.Aff0.
fn my_affinity() -> u32 {
    let mpidr = MPIDR_EL1.get();
    ((((mpidr >> 32) & 0xff) << 24) | (mpidr & 0xff_ffff)) as u32
}

/// A GICv3 driven by this CPU.
pub struct GicV3 {
    gicd: &'static distributor::Registers,
    rd: &'static Redistributor,
    sgi: &'static SgiFrame,
    /// Physical address of this CPU's redistributor, for the log.
    rd_phys: u64,
}

impl GicV3 {
    /// Find this CPU's redistributor in `regions` (physical base, length)
    /// and wrap the GIC.
    ///
    /// # Safety
    /// `gicd` must be the direct-map address of the distributor's 64 KiB
    /// register window, and `regions` must be the redistributor regions of
    /// the same GIC, as the firmware describes them; nothing else may
    /// drive this GIC.
    pub unsafe fn new(
        bi: &BootInfo,
        gicd: u64,
        regions: &[(u64, u64)],
    ) -> Result<Self, &'static str> {
        let me = my_affinity();
        for &(base, len) in regions {
            let virt = mmio::device_window(bi, base, len)?;
            let mut offset = 0;
            while offset + REDISTRIBUTOR_STRIDE <= len {
                // SAFETY: the frame lies inside a redistributor region of
                // this GIC (checked to be device memory in the direct map),
                // and RD_base starts with these registers.
                let rd = unsafe { &*((virt + offset) as *const Redistributor) };
                let typer = rd.typer.get();
                if (typer >> 32) as u32 == me {
                    // SAFETY: as above: the SGI frame follows RD_base inside
                    // the same redistributor, within the region. The
                    // distributor is the caller's guarantee.
                    return Ok(unsafe {
                        GicV3 {
                            gicd: &*(gicd as *const distributor::Registers),
                            rd,
                            sgi: &*((virt + offset + SGI_FRAME) as *const SgiFrame),
                            rd_phys: base + offset,
                        }
                    });
                }
                if typer & GICR_TYPER_LAST != 0 {
                    break;
                }
                offset += if typer & GICR_TYPER_VLPIS != 0 {
                    REDISTRIBUTOR_STRIDE_V4
                } else {
                    REDISTRIBUTOR_STRIDE
                };
            }
        }
        Err("no redistributor for this CPU in the listed regions")
    }

    /// Interrupt IDs the distributor implements (SPIs and below).
    pub fn lines(&self) -> u32 {
        self.gicd.lines()
    }

    /// Physical address of this CPU's redistributor.
    pub fn redistributor(&self) -> u64 {
        self.rd_phys
    }

    /// This CPU's affinity, for the log.
    pub fn affinity(&self) -> [u8; 4] {
        my_affinity().to_be_bytes()
    }

    /// Quiesce every interrupt, enable the distributor with affinity
    /// routing, wake this CPU's redistributor and enable the system-register
    /// CPU interface for group 1, accepting every priority, with EOI both
    /// dropping the priority and deactivating (EOImode 0).
    pub fn init(&self) -> Result<(), &'static str> {
        let d = self.gicd;
        let d_settled = || poll(|| d.ctlr.get() & GICD_CTLR_RWP == 0);
        // Groups off (keeping ARE as it is: clearing it is not allowed
        // everywhere), SPIs off, then ARE on, then the groups.
        d.ctlr.set(d.ctlr.get() & GICD_CTLR_ARE);
        if !d_settled() {
            return Err("distributor never finished a register write (GICD_CTLR.RWP)");
        }
        d.quiesce_spis(true);
        d.ctlr.set(GICD_CTLR_ARE);
        d_settled();
        d.ctlr
            .set(GICD_CTLR_ARE | GICD_CTLR_ENABLE_G1A_OR_G1 | GICD_CTLR_ENABLE_G0_OR_G1);
        if !d_settled() || d.ctlr.get() & GICD_CTLR_ARE == 0 {
            return Err("distributor refused affinity routing (GICD_CTLR.ARE)");
        }

        let rd = self.rd;
        rd.waker.set(rd.waker.get() & !GICR_WAKER_PROCESSOR_SLEEP);
        if !poll(|| rd.waker.get() & GICR_WAKER_CHILDREN_ASLEEP == 0) {
            return Err("redistributor did not wake up (GICR_WAKER.ChildrenAsleep)");
        }
        let s = self.sgi;
        s.igroupr0.set(u32::MAX);
        s.icenabler0[0].set(u32::MAX);
        s.icpendr0.set(u32::MAX);
        s.icactiver0.set(u32::MAX);
        if !poll(|| rd.ctlr.get() & GICR_CTLR_RWP == 0) {
            return Err("redistributor never finished a register write (GICR_CTLR.RWP)");
        }

        icc::set_sre(icc::sre() | ICC_SRE_SRE | ICC_SRE_DFB | ICC_SRE_DIB);
        barrier::isb(barrier::SY);
        if icc::sre() & ICC_SRE_SRE == 0 {
            return Err("system-register CPU interface disabled by a higher EL (ICC_SRE_EL1.SRE)");
        }
        icc::set_pmr(0xff);
        icc::set_bpr1(0);
        icc::set_ctlr(icc::ctlr() & !ICC_CTLR_EOIMODE);
        icc::set_igrpen1(1);
        barrier::isb(barrier::SY);
        Ok(())
    }

    /// Configure and enable a PPI (`intid` 16–31) in this CPU's
    /// redistributor.
    pub fn enable_ppi(&self, intid: u32, trigger: Trigger, priority: u8) {
        let s = self.sgi;
        distributor::set_priority(&s.ipriorityr, intid, priority);
        distributor::set_trigger(&s.icfgr, intid, trigger);
        distributor::set_bit(&s.isenabler0, intid);
    }

    /// Configure a shared peripheral interrupt (`intid` ≥ 32), route it
    /// to this CPU (`GICD_IROUTER<n>`, affinity routing) and enable it.
    pub fn enable_spi(&self, intid: u32, trigger: Trigger, priority: u8) {
        let d = self.gicd;
        distributor::set_priority(&d.ipriorityr, intid, priority);
        distributor::set_trigger(&d.icfgr, intid, trigger);
        if (distributor::FIRST_SPI..self.lines()).contains(&intid) {
            let mpidr = MPIDR_EL1.get();
            let route = ((mpidr >> 32) & 0xff) << 32 | (mpidr & 0xff_ffff);
            let at = core::ptr::from_ref(d) as u64 + GICD_IROUTER + 8 * u64::from(intid);
            // SAFETY: GICD_IROUTER<n> is the 64-bit register at 0x6000 +
            // 8n of the distributor's 64 KiB window (mapped as device
            // memory for the kernel's life, the caller's guarantee in
            // `new`), for an SPI the distributor implements (checked).
            unsafe { core::ptr::write_volatile(at as *mut u64, route) };
        }
        distributor::set_bit(&d.isenabler, intid);
    }

    /// Whether PPI `intid` is pending in this CPU's redistributor.
    pub fn ppi_pending(&self, intid: u32) -> bool {
        distributor::bit_is_set(&self.sgi.ispendr0, intid)
    }

    /// Whether SPI `intid` is enabled (`GICD_ISENABLER`).
    #[cfg(feature = "check")]
    pub fn spi_enabled(&self, intid: u32) -> bool {
        distributor::bit_is_set(&self.gicd.isenabler, intid)
    }

    /// Disable an interrupt.
    pub fn disable(&self, intid: u32) {
        if intid < distributor::FIRST_SPI {
            distributor::set_bit(&self.sgi.icenabler0, intid);
        } else {
            distributor::set_bit(&self.gicd.icenabler, intid);
        }
    }

    /// Acknowledge the highest-priority pending group 1 interrupt, if any.
    pub fn acknowledge(&self) -> Option<Ack> {
        let iar = icc::iar1();
        let intid = (iar & IAR_INTID) as u32;
        (!(1020..1024).contains(&intid)).then_some(Ack {
            raw: iar as u32,
            intid,
        })
    }

    /// End an acknowledged interrupt.
    pub fn end(&self, ack: Ack) {
        icc::set_eoir1(u64::from(ack.raw));
        barrier::isb(barrier::SY);
    }
}
