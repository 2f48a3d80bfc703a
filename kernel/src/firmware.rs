//! Reading the firmware's description of the machine: ACPI tables (through
//! the `acpi` crate) and the flattened device tree (through `fdt`), both
//! reached through the direct physical map. Everything here is untrusted
//! input: a malformed table yields `None`, never a fault.

use crate::memory::phys_to_virt;
use abi::boot::BootInfo;
use acpi::{AcpiHandler, AcpiTables, PhysicalMapping};
use core::ptr::NonNull;

/// `AcpiHandler` over the direct map: mapping is address arithmetic.
#[derive(Clone, Copy)]
pub struct DirectMap;

impl AcpiHandler for DirectMap {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let virt = phys_to_virt(physical_address as u64) as *mut T;
        // SAFETY: every physical address below the direct map's size is
        // mapped at `phys_to_virt`; the acpi crate only asks for table
        // addresses it read from the RSDP/XSDT, which firmware places in
        // RAM or ACPI memory inside that window. The mapping lives as long
        // as the kernel, so handing out any lifetime is sound.
        unsafe {
            PhysicalMapping::new(
                physical_address,
                NonNull::new_unchecked(virt),
                size,
                size,
                *self,
            )
        }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// The ACPI tables, if the firmware provided a valid RSDP.
pub fn acpi(bi: &BootInfo) -> Option<AcpiTables<DirectMap>> {
    if bi.acpi_rsdp == 0 || bi.acpi_rsdp >= bi.phys_map_size {
        return None;
    }
    // SAFETY: the RSDP address came from the UEFI configuration table and
    // lies inside the direct map (checked above); the crate validates the
    // signature and checksum before trusting it.
    unsafe { AcpiTables::from_rsdp(DirectMap, bi.acpi_rsdp as usize) }.ok()
}

/// The flattened device tree, if the loader passed one and it parses.
pub fn device_tree(bi: &BootInfo) -> Option<fdt::Fdt<'static>> {
    if bi.dtb == 0 || bi.dtb >= bi.phys_map_size {
        return None;
    }
    let ptr = phys_to_virt(bi.dtb) as *const u8;
    // SAFETY: the loader copied the device tree into boot-data memory that
    // stays untouched while the kernel runs, at an address inside the
    // direct map; `from_ptr` reads the header, checks the magic and size,
    // and reads no further than the size it declares.
    unsafe { fdt::Fdt::from_ptr(ptr) }.ok()
}

/// Where the boot console is, as the firmware describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SerialPort {
    /// An Arm PL011 at this physical address.
    Pl011(u64),
    /// A 16550 in x86 I/O space at this port.
    Ns16550Io(u16),
    /// A memory-mapped 16550 at this physical address, registers this many
    /// bytes apart.
    Ns16550Mmio(u64, u8),
}

/// The serial console named by the ACPI SPCR table or the device tree's
/// `/chosen/stdout-path`.
pub fn serial_port(bi: &BootInfo) -> Option<SerialPort> {
    if let Some(p) = acpi(bi).and_then(|t| spcr_port(&t)) {
        return Some(p);
    }
    let dt = device_tree(bi)?;
    let node = dt.chosen().stdout()?;
    let reg = node.reg()?.next()?;
    let base = reg.starting_address as u64;
    let compatible = node.compatible()?;
    if compatible.all().any(|c| c == "arm,pl011") {
        Some(SerialPort::Pl011(base))
    } else if compatible.all().any(|c| c == "ns16550a" || c == "ns16550") {
        let shift = node
            .property("reg-shift")
            .and_then(|p| p.as_usize())
            .unwrap_or(0);
        Some(SerialPort::Ns16550Mmio(base, 1u8 << shift.min(3)))
    } else {
        None
    }
}

fn spcr_port(tables: &AcpiTables<DirectMap>) -> Option<SerialPort> {
    use acpi::{
        address::AddressSpace,
        spcr::{Spcr, SpcrInterfaceType},
    };
    let spcr = tables.find_table::<Spcr>().ok()?;
    let addr = spcr.base_address()?.ok()?;
    match (spcr.interface_type(), addr.address_space) {
        (SpcrInterfaceType::ArmPL011, AddressSpace::SystemMemory) => {
            Some(SerialPort::Pl011(addr.address))
        }
        (SpcrInterfaceType::Full16550 | SpcrInterfaceType::Full16450, AddressSpace::SystemIo) => {
            u16::try_from(addr.address).ok().map(SerialPort::Ns16550Io)
        }
        (
            SpcrInterfaceType::Full16550 | SpcrInterfaceType::Full16450,
            AddressSpace::SystemMemory,
        ) => Some(SerialPort::Ns16550Mmio(
            addr.address,
            (addr.bit_width / 8).max(1),
        )),
        _ => None,
    }
}

/// Log what the firmware handed over.
pub fn log_summary(bi: &BootInfo) {
    match acpi(bi) {
        Some(t) => log::info!(
            "ACPI: RSDP found at {:#x} (revision {})",
            bi.acpi_rsdp,
            t.revision()
        ),
        None if bi.acpi_rsdp != 0 => log::warn!("ACPI: RSDP at {:#x} is not valid", bi.acpi_rsdp),
        None => log::info!("ACPI: no RSDP"),
    }
    match device_tree(bi) {
        Some(dt) => log::info!("device tree: {} bytes at {:#x}", dt.total_size(), bi.dtb),
        None => log::info!("device tree: none"),
    }
    let fb = &bi.framebuffer;
    if fb.base != 0 {
        log::info!("framebuffer: {}x{} at {:#x}", fb.width, fb.height, fb.base);
    }
    for m in bi.modules() {
        log::info!(
            "boot module '{}': {} bytes at {:#x}",
            m.name(),
            m.len,
            m.start
        );
    }
}
