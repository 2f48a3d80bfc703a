//! PSCI (Power State Coordination Interface): how the kernel powers the
//! machine off.
//!
//! PSCI calls go to firmware through a *conduit*: `hvc` (to EL2) or `smc`
//! (to EL3). Which one is a property of the machine, published in the
//! ACPI FADT (ARM boot flags: "PSCI compliant", "use HVC") or in the device
//! tree's `/psci` node (`method = "hvc" | "smc"`). QEMU `virt` uses `hvc`,
//! except with `virtualization=on`, where the guest owns EL2 and QEMU
//! answers `smc` instead.
//!
//! Two rules on top of the tables:
//! - when the kernel was entered at EL2 it left EL2 itself, with no
//!   handler installed there, so an `hvc` would land in whatever the
//!   firmware's EL2 vectors point at: the conduit is then always `smc`;
//! - the conduit is tried once at boot (`PSCI_VERSION`), through calls
//!   that survive being undefined ([`super::conduit`]); if it does not
//!   answer, power-off is disabled and `exit` only halts.
//!
//! Until [`init`] has read the tables (an early panic, say), the conduit
//! is guessed from the entry exception level: `smc` after entry at EL2,
//! `hvc` otherwise.

use super::conduit;
use super::tables::{Firmware, read_u16};
use acpi::fadt::Fadt;
use core::fmt;
use core::sync::atomic::{AtomicU8, Ordering};

const PSCI_VERSION: u64 = 0x8400_0000;
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;

/// FADT ARM boot flags.
const ARM_BOOT_PSCI_COMPLIANT: u16 = 1 << 0;
const ARM_BOOT_PSCI_USE_HVC: u16 = 1 << 1;

/// How PSCI calls reach the firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    Hvc,
    Smc,
}

impl fmt::Display for Conduit {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Conduit::Hvc => "hvc",
            Conduit::Smc => "smc",
        })
    }
}

const NONE: u8 = 0;
const HVC: u8 = 1;
const SMC: u8 = 2;

static CONDUIT: AtomicU8 = AtomicU8::new(NONE);

fn store(c: Option<Conduit>) {
    let v = match c {
        None => NONE,
        Some(Conduit::Hvc) => HVC,
        Some(Conduit::Smc) => SMC,
    };
    CONDUIT.store(v, Ordering::Relaxed);
}

fn load() -> Option<Conduit> {
    match CONDUIT.load(Ordering::Relaxed) {
        HVC => Some(Conduit::Hvc),
        SMC => Some(Conduit::Smc),
        _ => None,
    }
}

/// The conduit to use before the tables are read, or when they say
/// nothing: see the module documentation.
fn guess() -> Conduit {
    if super::entry::entered_at_el2() {
        Conduit::Smc
    } else {
        Conduit::Hvc
    }
}

/// Set the early guess (called at entry, before any Rust code that could
/// fail).
pub fn init_early() {
    store(Some(guess()));
}

/// What a firmware description says about PSCI.
enum Described {
    /// PSCI through this conduit.
    Conduit(Conduit),
    /// The firmware says there is no PSCI.
    Absent,
}

/// Find the conduit in the firmware tables, check that it answers, and
/// log the result.
pub fn init(fw: &Firmware) {
    let described = match from_fadt(fw) {
        Ok(d) => Some((d, "ACPI FADT")),
        Err(e) => {
            if fw.acpi.is_some() {
                log::warn!("psci: ACPI FADT: {e}");
            }
            match from_device_tree(fw) {
                Ok(d) => Some((d, "device tree")),
                Err(e) => {
                    if fw.dt.is_some() {
                        log::warn!("psci: device tree: {e}");
                    }
                    None
                }
            }
        }
    };
    let (mut conduit, source) = match described {
        Some((Described::Conduit(c), source)) => (c, source),
        Some((Described::Absent, source)) => {
            log::warn!("psci: the {source} says there is no PSCI: power-off disabled");
            store(None);
            return;
        }
        None => {
            let c = guess();
            log::warn!("psci: not described by the firmware; trying {c}");
            (c, "guess")
        }
    };
    if conduit == Conduit::Hvc && super::entry::entered_at_el2() {
        log::warn!(
            "psci: the {source} names hvc, but the kernel was entered at EL2 and left it empty; using smc"
        );
        conduit = Conduit::Smc;
    }
    // SAFETY: PSCI_VERSION only reads the implemented version; an
    // undefined conduit instruction is recovered (see `conduit`).
    let version = unsafe { call(conduit, PSCI_VERSION) };
    if version & (1 << 31) != 0 {
        log::error!(
            "psci: PSCI_VERSION via {conduit} failed ({:#x}: undefined or not supported): power-off disabled",
            version as u32
        );
        store(None);
        return;
    }
    log::info!(
        "psci: version {}.{} via {conduit} (from the {source})",
        (version >> 16) & 0x7fff,
        version & 0xffff
    );
    store(Some(conduit));
}

fn from_fadt(fw: &Firmware) -> Result<Described, &'static str> {
    let fadt = fw.acpi_table::<Fadt>()?;
    let flags = read_u16(fadt, core::mem::offset_of!(Fadt, arm_boot_arch))
        .ok_or("too short to hold the ARM boot flags")?;
    Ok(
        match (
            flags & ARM_BOOT_PSCI_COMPLIANT != 0,
            flags & ARM_BOOT_PSCI_USE_HVC != 0,
        ) {
            (false, _) => Described::Absent,
            (true, true) => Described::Conduit(Conduit::Hvc),
            (true, false) => Described::Conduit(Conduit::Smc),
        },
    )
}

fn from_device_tree(fw: &Firmware) -> Result<Described, &'static str> {
    let dt = fw.dt.as_ref().ok_or("no device tree")?;
    let Some(node) = dt.find_compatible(&["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]) else {
        return Ok(Described::Absent);
    };
    match node.property("method").and_then(|p| p.as_str()) {
        Some("hvc") => Ok(Described::Conduit(Conduit::Hvc)),
        Some("smc") => Ok(Described::Conduit(Conduit::Smc)),
        _ => Err("/psci has no valid method property"),
    }
}

/// A PSCI call with function ID `fid` and no arguments.
///
/// # Safety
/// The caller must want what `fid` does.
unsafe fn call(conduit: Conduit, fid: u64) -> u64 {
    // SAFETY: passed on from the caller.
    unsafe {
        match conduit {
            Conduit::Hvc => conduit::hvc(fid, 0, 0, 0),
            Conduit::Smc => conduit::smc(fid, 0, 0, 0),
        }
    }
}

/// PSCI `SYSTEM_OFF`. Returns only if there is no working conduit or the
/// firmware refused.
pub fn system_off() {
    if let Some(c) = load() {
        // SAFETY: powering off is what the caller (`exit`) wants; on
        // failure the call returns an error code, which is ignored.
        unsafe { call(c, PSCI_SYSTEM_OFF) };
    }
}
