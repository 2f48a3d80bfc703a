//! Where the GIC is and which version, from the ACPI MADT or the device
//! tree.
//!
//! MADT: one GICD entry (base, version), a GICC entry per CPU (the GICv2
//! CPU-interface base, or a GICv3 redistributor base when the table lists
//! no redistributor regions) and, for GICv3, GICR entries (redistributor
//! discovery ranges). The entry list is walked here, over the table's
//! checked bytes, rather than through the `acpi` crate's iterator: that
//! iterator trusts each entry's length (a zero length loops forever, a
//! long one reads past the table) and hands out references to structs
//! longer than older firmware's entries. A malformed list rejects the
//! whole table.
//!
//! Device tree: the interrupt-controller node by `compatible`
//! (`arm,gic-400`, `arm,cortex-a15-gic`, `arm,cortex-a7-gic` → v2;
//! `arm,gic-v3` → v3), `reg` = distributor, then the CPU interface (v2) or
//! `#redistributor-regions` redistributor regions (v3). Addresses are
//! taken as CPU physical addresses (the node sits at the root or on a bus
//! with identity `ranges`, as on every board with a GIC).

use super::Version;
use crate::arch::aarch64::tables::{Firmware, dt_reg, read_u8, read_u32, read_u64};
use aarch64_cpu::registers::{MPIDR_EL1, Readable};
use acpi::madt::{GicRedistributorEntry, GiccEntry, GicdEntry, Madt};
use core::mem::{offset_of, size_of};

/// At most this many redistributor regions are used.
const MAX_REDISTRIBUTOR_REGIONS: usize = 4;

/// The GIC as the firmware describes it.
pub struct Description {
    pub version: Version,
    /// Which description it came from, for the log.
    pub source: &'static str,
    /// Distributor base.
    pub gicd: u64,
    /// GICv2: the CPU interface base.
    pub gicc: u64,
    /// GICv3: redistributor regions (physical base, length).
    gicr: [(u64, u64); MAX_REDISTRIBUTOR_REGIONS],
    gicr_count: usize,
}

impl Description {
    fn new(version: Version, source: &'static str, gicd: u64) -> Self {
        Description {
            version,
            source,
            gicd,
            gicc: 0,
            gicr: [(0, 0); MAX_REDISTRIBUTOR_REGIONS],
            gicr_count: 0,
        }
    }

    fn add_redistributors(&mut self, base: u64, len: u64) {
        if self.gicr_count < MAX_REDISTRIBUTOR_REGIONS {
            self.gicr[self.gicr_count] = (base, len);
            self.gicr_count += 1;
        } else {
            log::warn!(
                "gic: more than {MAX_REDISTRIBUTOR_REGIONS} redistributor regions; ignoring {base:#x}"
            );
        }
    }

    /// The redistributor regions found.
    pub fn redistributors(&self) -> &[(u64, u64)] {
        &self.gicr[..self.gicr_count]
    }
}

/// The GIC from the MADT if the firmware gave ACPI tables, else from the
/// device tree; each failure is logged.
pub fn describe(fw: &Firmware) -> Option<Description> {
    if fw.acpi.is_some() {
        match from_madt(fw) {
            Ok(d) => return Some(d),
            Err(e) => log::error!("gic: ACPI MADT unusable: {e}"),
        }
    }
    if fw.dt.is_some() {
        match from_device_tree(fw) {
            Ok(d) => return Some(d),
            Err(e) => log::error!("gic: device tree: {e}"),
        }
    }
    None
}

/// MADT entry types used here.
const MADT_GICC: u8 = 0x0b;
const MADT_GICD: u8 = 0x0c;
const MADT_GICR: u8 = 0x0e;
/// GICC flags: the CPU is enabled.
const GICC_ENABLED: u32 = 1 << 0;
/// The MPIDR bits that make up a CPU's affinity.
const MPIDR_AFFINITY: u64 = 0xff_00ff_ffff;
/// Size of one GICv3 redistributor (RD_base + SGI_base frames), for a
/// GICC entry that names a single redistributor.
const REDISTRIBUTOR_SIZE: u64 = 0x2_0000;

/// The fields of this CPU's GICC entry.
#[derive(Clone, Copy)]
struct Gicc {
    cpu_interface: u64,
    redistributor: u64,
}

fn from_madt(fw: &Firmware) -> Result<Description, &'static str> {
    let madt = fw.acpi_table::<Madt>()?;
    parse_madt(madt, MPIDR_EL1.get() & MPIDR_AFFINITY)
}

/// The GIC described by a MADT (`madt`: the whole table), for the CPU whose
/// affinity is `me`.
fn parse_madt(madt: &[u8], me: u64) -> Result<Description, &'static str> {
    let mut rest = madt
        .get(size_of::<Madt>()..)
        .ok_or("shorter than its fixed header")?;
    let mut d = Description::new(Version::V2, "ACPI MADT", 0);
    let (mut gicd_version, mut mine, mut first) = (None, None, None);
    while !rest.is_empty() {
        let (kind, len) = match rest {
            [kind, len, ..] => (*kind, usize::from(*len)),
            _ => return Err("an entry header is cut off at the end of the table"),
        };
        if len < 2 || len > rest.len() {
            return Err("an entry's length is too short or runs past the table");
        }
        let (entry, next) = rest.split_at(len);
        rest = next;
        match kind {
            MADT_GICC => {
                let short = "a GICC entry is too short";
                let field = |off| read_u64(entry, off).ok_or(short);
                let flags = read_u32(entry, offset_of!(GiccEntry, flags)).ok_or(short)?;
                let gicc = Gicc {
                    cpu_interface: field(offset_of!(GiccEntry, gic_registers_address))?,
                    redistributor: field(offset_of!(GiccEntry, gicr_base_address))?,
                };
                let mpidr = field(offset_of!(GiccEntry, mpidr))? & MPIDR_AFFINITY;
                if flags & GICC_ENABLED == 0 {
                    continue;
                }
                if mpidr == me && mine.is_none() {
                    mine = Some(gicc);
                }
                first.get_or_insert(gicc);
            }
            MADT_GICD => {
                let base = read_u64(entry, offset_of!(GicdEntry, physical_base_address));
                let version = read_u8(entry, offset_of!(GicdEntry, gic_version));
                let (Some(base), Some(version)) = (base, version) else {
                    return Err("the GICD entry is too short");
                };
                if gicd_version.replace(version).is_some() {
                    return Err("more than one GICD entry");
                }
                d.gicd = base;
            }
            MADT_GICR => {
                let base = read_u64(
                    entry,
                    offset_of!(GicRedistributorEntry, discovery_range_base_address),
                );
                let len = read_u32(
                    entry,
                    offset_of!(GicRedistributorEntry, discovery_range_length),
                );
                let (Some(base), Some(len)) = (base, len) else {
                    return Err("a GICR entry is too short");
                };
                d.add_redistributors(base, u64::from(len));
            }
            _ => {}
        }
    }
    let version = gicd_version.ok_or("no GICD entry")?;
    let gicc = match (mine, first) {
        (Some(g), _) => Some(g),
        (None, Some(g)) => {
            log::warn!("gic: no enabled GICC entry has this CPU's MPIDR {me:#x}; using the first");
            Some(g)
        }
        (None, None) => None,
    };
    d.version = match version {
        1 | 2 => Version::V2,
        3 | 4 => Version::V3,
        // 0: "discover it from the hardware"; the entries give it away.
        0 if d.gicr_count > 0 || gicc.is_some_and(|g| g.redistributor != 0) => Version::V3,
        0 => Version::V2,
        _ => return Err("the GICD entry names an unknown GIC version"),
    };
    match d.version {
        Version::V2 => {
            d.gicc = gicc
                .map(|g| g.cpu_interface)
                .filter(|&a| a != 0)
                .ok_or("no enabled GICC entry with a CPU interface address")?;
        }
        Version::V3 if d.gicr_count == 0 => {
            let base = gicc
                .map(|g| g.redistributor)
                .filter(|&a| a != 0)
                .ok_or("no GICR entry and no redistributor address in the GICC entry")?;
            d.add_redistributors(base, REDISTRIBUTOR_SIZE);
        }
        Version::V3 => {}
    }
    Ok(d)
}

const V2_COMPATIBLE: &[&str] = &["arm,gic-400", "arm,cortex-a15-gic", "arm,cortex-a7-gic"];
const V3_COMPATIBLE: &[&str] = &["arm,gic-v3"];

fn from_device_tree(fw: &Firmware) -> Result<Description, &'static str> {
    let dt = fw.dt.as_ref().ok_or("no device tree")?;
    let node = dt
        .all_nodes()
        .find(|n| {
            n.compatible().is_some_and(|c| {
                c.all()
                    .any(|s| V2_COMPATIBLE.contains(&s) || V3_COMPATIBLE.contains(&s))
            })
        })
        .ok_or("no GICv2 or GICv3 node")?;
    let is_v3 = node
        .compatible()
        .is_some_and(|c| c.all().any(|s| V3_COMPATIBLE.contains(&s)));
    let gicd = dt_reg(node, 0)
        .ok_or("the GIC node has no distributor in reg")?
        .0;
    if !is_v3 {
        let mut d = Description::new(Version::V2, "device tree", gicd);
        d.gicc = dt_reg(node, 1)
            .ok_or("the GICv2 node has no CPU interface in reg")?
            .0;
        return Ok(d);
    }
    let mut d = Description::new(Version::V3, "device tree", gicd);
    let count = node
        .property("#redistributor-regions")
        .and_then(|p| p.as_usize())
        .unwrap_or(1);
    for i in 1..=count.min(MAX_REDISTRIBUTOR_REGIONS) {
        let (base, len) = dt_reg(node, i)
            .ok_or("the GICv3 node lists fewer redistributor regions than it says")?;
        d.add_redistributors(base, len);
    }
    if d.gicr_count == 0 {
        return Err("the GICv3 node lists no redistributor region");
    }
    Ok(d)
}
