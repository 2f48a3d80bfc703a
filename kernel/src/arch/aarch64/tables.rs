//! The firmware's description of the machine as the aarch64 bring-up
//! reads it: the ACPI tables or the device tree, whichever the firmware
//! gave, plus bounded access to the raw bytes of an ACPI table.
//!
//! The `acpi` crate finds a table and checks its checksum, but its typed
//! views trust the table's length (a FADT shorter than the crate's struct,
//! a MADT entry whose length runs past the table). The bring-up therefore
//! reads fields from the checked byte slice, at offsets taken from the
//! crate's own structs, and treats every short read as a malformed table.

use crate::firmware::{self, DirectMap};
use abi::boot::BootInfo;
use acpi::{AcpiTable, AcpiTables};

/// Both firmware descriptions, parsed once for the whole bring-up.
pub struct Firmware<'a> {
    pub bi: &'a BootInfo,
    pub acpi: Option<AcpiTables<DirectMap>>,
    pub dt: Option<fdt::Fdt<'static>>,
}

impl<'a> Firmware<'a> {
    /// Find the ACPI tables and the device tree the loader handed over.
    pub fn new(bi: &'a BootInfo) -> Self {
        Firmware {
            bi,
            acpi: firmware::acpi(bi),
            dt: firmware::device_tree(bi),
        }
    }

    /// The bytes of ACPI table `T` (header included, `length` bytes), after
    /// the crate has checked its signature and checksum and this function
    /// has checked that it lies in the direct map. The error says why not.
    pub fn acpi_table<T: AcpiTable>(&self) -> Result<&'static [u8], &'static str> {
        let tables = self.acpi.as_ref().ok_or("no ACPI tables")?;
        let mapping = tables
            .find_table::<T>()
            .map_err(|_| "table missing or invalid")?;
        let len = { mapping.get().header().length } as usize;
        let end = (mapping.physical_start() as u64).checked_add(len as u64);
        if end.is_none_or(|end| end > self.bi.phys_map_size) {
            return Err("table lies outside the direct map");
        }
        let start = mapping.virtual_start().as_ptr().cast::<u8>();
        // The crate has read all `len` bytes to verify the checksum, so they
        // are mapped; nothing in the kernel writes ACPI memory.
        // SAFETY: the bytes lie in the direct map (checked above), which
        // stays mapped for the kernel's lifetime, and are never written.
        Ok(unsafe { core::slice::from_raw_parts(start, len) })
    }
}

/// Little-endian field readers over table bytes: `None` past the end.
pub fn read_u8(bytes: &[u8], offset: usize) -> Option<u8> {
    bytes.get(offset).copied()
}

pub fn read_u16(bytes: &[u8], offset: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        bytes.get(offset..offset.checked_add(2)?)?.try_into().ok()?,
    ))
}

pub fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(offset..offset.checked_add(4)?)?.try_into().ok()?,
    ))
}

pub fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        bytes.get(offset..offset.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Big-endian 32-bit cells of a device-tree property value.
pub fn dt_cells(value: &[u8]) -> impl Iterator<Item = u32> + '_ {
    value
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}

/// The `index`th `reg` entry of a device-tree node, as (address, size).
pub fn dt_reg(node: fdt::node::FdtNode, index: usize) -> Option<(u64, u64)> {
    let region = node.reg()?.nth(index)?;
    Some((region.starting_address as u64, region.size? as u64))
}
