//! The UEFI loader application (`BOOTX64.EFI` / `BOOTAA64.EFI`).
//!
//! Reads `\boot\kernel.elf`, `\boot\cmdline.txt` and every file in
//! `\boot\modules\` from the ESP it was started from, collects the memory
//! map, ACPI RSDP, device tree and GOP framebuffer, builds the kernel's
//! translation tables, exits boot services and enters the kernel with the
//! physical address of a [`BootInfo`] (see `abi::boot` for the protocol).
//!
//! Every failure before boot services are exited prints one clear line on
//! the firmware console and returns to the firmware (or, with
//! `loader.on_error=shutdown` on the command line, powers off), never
//! hangs. After the exit nothing can fail.
#![no_std]
#![no_main]

extern crate alloc;

mod arch;

use abi::boot::{
    BOOT_MAGIC, BOOT_VERSION, BootInfo, BootModule, CMDLINE_LEN, MAX_BOOT_MODULES,
    MAX_MEMORY_REGIONS, MODULE_NAME_LEN, MemoryRegion, PAGE_SIZE, PixelFormat,
    layout::{KERNEL_STACK_SIZE, KERNEL_STACK_TOP, PHYS_MAP_BASE},
};
use alloc::{boxed::Box, string::String, vec::Vec};
use core::fmt;
use loader::{
    kernel_elf::{ElfError, KernelImage},
    memory_map::{Inventory, OS_TYPE_BOOT_DATA, OS_TYPE_KERNEL, OS_TYPE_MODULES, classify, is_ram},
    paging::{Attributes, MapError, PageTables, TableSource},
};
use uefi::{
    CStr16, CString16, Status,
    boot::{self, AllocateType, MemoryType, OpenProtocolAttributes, OpenProtocolParams},
    cstr16,
    fs::{FileSystem, Path},
    mem::memory_map::MemoryMap,
    println,
    proto::console::gop::{self, GraphicsOutput},
    runtime::ResetType,
    system,
    table::cfg::ConfigTableEntry,
};
use zerocopy::{FromBytes, FromZeros};

/// UEFI configuration-table GUID of a flattened device tree.
const DTB_GUID: uefi::Guid = uefi::guid!("b1b621d5-f19c-41a5-830b-d9152c69aae0");
/// Largest device tree the loader copies.
const MAX_DTB_SIZE: u32 = 2 << 20;

#[derive(Debug)]
enum LoaderError {
    File(&'static str, Status),
    TooLarge(&'static str, u64, u64),
    Kernel(ElfError),
    TooManyModules,
    OutOfMemory(&'static str),
    Map(MapError),
}

impl fmt::Display for LoaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoaderError::File(p, s) => write!(f, "cannot read {p}: {s:?}"),
            LoaderError::Kernel(e) => write!(f, "kernel file rejected: {e}"),
            LoaderError::TooLarge(p, size, limit) => {
                write!(
                    f,
                    "{p} is {size} bytes, more than the {limit} this loader accepts"
                )
            }
            LoaderError::TooManyModules => write!(f, "more than {MAX_BOOT_MODULES} boot modules"),
            LoaderError::OutOfMemory(what) => write!(f, "out of memory allocating {what}"),
            LoaderError::Map(e) => write!(f, "building page tables failed: {e:?}"),
        }
    }
}

impl From<MapError> for LoaderError {
    fn from(e: MapError) -> Self {
        LoaderError::Map(e)
    }
}

#[uefi::entry]
fn main() -> Status {
    println!(
        "cairn loader {} ({})",
        env!("CARGO_PKG_VERSION"),
        arch::NAME
    );
    let mut cmdline = String::new();
    match run(&mut cmdline) {
        Ok(never) => never,
        Err(e) => {
            println!("loader: error: {e}");
            if cmdline
                .split_whitespace()
                .any(|w| w == "loader.on_error=shutdown")
            {
                println!("loader: powering off (loader.on_error=shutdown)");
                uefi::runtime::reset(ResetType::SHUTDOWN, Status::LOAD_ERROR, None);
            }
            println!("loader: returning to the firmware");
            boot::stall(core::time::Duration::from_secs(2));
            Status::LOAD_ERROR
        }
    }
}

/// Largest kernel file accepted.
const MAX_KERNEL_FILE: u64 = 64 << 20;
/// Largest command-line file accepted (only `CMDLINE_LEN` bytes are used).
const MAX_CMDLINE_FILE: u64 = 4096;
/// Largest boot module accepted.
const MAX_MODULE_FILE: u64 = 256 << 20;

/// Read a whole file of at most `limit` bytes; `what` names it in errors.
/// The size is checked before anything is allocated, so a huge or hostile
/// file gives a clear error rather than exhausting loader memory.
fn read_file(
    fs: &mut FileSystem,
    path: &CStr16,
    what: &'static str,
    limit: u64,
) -> Result<Vec<u8>, LoaderError> {
    let path = Path::new(path);
    let size = fs
        .metadata(path)
        .map_err(|e| LoaderError::File(what, fs_status(&e)))?
        .file_size();
    if size > limit {
        return Err(LoaderError::TooLarge(what, size, limit));
    }
    fs.read(path)
        .map_err(|e| LoaderError::File(what, fs_status(&e)))
}

fn fs_status(e: &uefi::fs::Error) -> Status {
    match e {
        uefi::fs::Error::Io(io) => io.uefi_error.status(),
        _ => Status::NOT_FOUND,
    }
}

/// Allocate `len` bytes of whole pages of OS type `ty`, zeroed.
#[allow(
    clippy::mut_from_ref,
    reason = "the slice is fresh firmware memory; `what` only names it in errors"
)]
fn alloc_pages(len: u64, ty: u32, what: &'static str) -> Result<&'static mut [u8], LoaderError> {
    let pages = len.div_ceil(PAGE_SIZE).max(1) as usize;
    let p = boot::allocate_pages(AllocateType::AnyPages, MemoryType::custom(ty), pages)
        .map_err(|_| LoaderError::OutOfMemory(what))?;
    // SAFETY: the firmware just gave us `pages` pages at `p`, identity
    // mapped and owned by nobody else; they stay allocated for the rest of
    // the loader's life and are handed to the kernel (never freed), so a
    // 'static exclusive slice over them is sound. They are zeroed before use.
    let s = unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), pages * PAGE_SIZE as usize) };
    s.fill(0);
    Ok(s)
}

/// Page tables from batches of firmware pages typed as boot data.
struct FirmwareTables {
    batch: &'static mut [u8],
    used: usize,
}

impl TableSource for FirmwareTables {
    fn alloc(&mut self) -> Option<u64> {
        const BATCH: u64 = 32 * PAGE_SIZE;
        if self.used == self.batch.len() {
            self.batch = alloc_pages(BATCH, OS_TYPE_BOOT_DATA, "page tables").ok()?;
            self.used = 0;
        }
        let phys = self.batch.as_ptr() as u64 + self.used as u64;
        self.used += PAGE_SIZE as usize;
        Some(phys)
    }

    fn table(&mut self, phys: u64) -> &mut [u64; 512] {
        // SAFETY: `phys` is only ever an address this source returned from
        // `alloc` (the builder stores no other table addresses): a zeroed,
        // page-aligned page of boot data, identity mapped while boot services
        // run, and accessed only through this `&mut self`.
        unsafe { &mut *(phys as *mut [u64; 512]) }
    }
}

fn run(cmdline_out: &mut String) -> Result<Status, LoaderError> {
    let sfs = boot::get_image_file_system(boot::image_handle())
        .map_err(|e| LoaderError::File("the boot volume", e.status()))?;
    let mut fs = FileSystem::new(sfs);

    // A missing or unreadable command line is an empty one.
    let cmdline = read_file(
        &mut fs,
        cstr16!("\\boot\\cmdline.txt"),
        "\\boot\\cmdline.txt",
        MAX_CMDLINE_FILE,
    )
    .unwrap_or_default();
    let cmdline = core::str::from_utf8(&cmdline).unwrap_or("").trim();
    cmdline_out.push_str(cmdline);

    let kernel_file = read_file(
        &mut fs,
        cstr16!("\\boot\\kernel.elf"),
        "\\boot\\kernel.elf",
        MAX_KERNEL_FILE,
    )?;
    let image = KernelImage::parse(&kernel_file, arch::MACHINE).map_err(LoaderError::Kernel)?;
    let kernel_mem = alloc_pages(image.size, OS_TYPE_KERNEL, "the kernel image")?;
    image.load_into(kernel_mem).map_err(LoaderError::Kernel)?;
    let kernel_phys = kernel_mem.as_ptr() as u64;

    let bi_mem = alloc_pages(
        core::mem::size_of::<BootInfo>() as u64,
        OS_TYPE_BOOT_DATA,
        "boot info",
    )?;
    let bi = BootInfo::mut_from_prefix(bi_mem)
        .map_err(|_| LoaderError::OutOfMemory("boot info"))?
        .0;
    bi.zero();
    bi.magic = BOOT_MAGIC;
    bi.version = BOOT_VERSION;
    bi.kernel_phys = kernel_phys;
    bi.kernel_len = image.size;
    let n = cmdline.len().min(CMDLINE_LEN);
    bi.cmdline[..n].copy_from_slice(&cmdline.as_bytes()[..n]);
    bi.cmdline_len = n as u64;

    load_modules(&mut fs, bi)?;
    find_config_tables(bi)?;
    find_framebuffer(bi);

    // Translation tables.
    let mut src = FirmwareTables {
        batch: &mut [],
        used: 0,
    };
    let mut upper = PageTables::new(arch::FORMAT, &mut src)?;
    let phys_map_size = map_physical_memory(&mut upper, &mut src)?;
    bi.phys_map_size = phys_map_size;
    for s in image.segments() {
        let attrs = Attributes {
            write: s.rights.write,
            execute: s.rights.execute,
            device: false,
        };
        upper.map(
            &mut src,
            s.vaddr,
            kernel_phys + (s.vaddr - image.base),
            s.len,
            attrs,
        )?;
    }
    let stack = alloc_pages(KERNEL_STACK_SIZE, OS_TYPE_BOOT_DATA, "the kernel stack")?;
    upper.map(
        &mut src,
        KERNEL_STACK_TOP - KERNEL_STACK_SIZE,
        stack.as_ptr() as u64,
        KERNEL_STACK_SIZE,
        Attributes::RW,
    )?;
    // The code that runs while the new tables take over must stay mapped at
    // its physical address: on x86_64 the loader's own hand-over code (it
    // switches CR3), on aarch64 the kernel's entry (it turns the MMU on).
    let (lo, lo_len) = arch::handover_code_range(kernel_phys, image.size);
    let mut separate = arch::separate_identity_tables(&mut src)?;
    let identity = separate.as_mut().unwrap_or(&mut upper);
    identity.map(&mut src, lo, lo, lo_len, Attributes::RX)?;
    bi.identity_root = separate.map_or(0, |t| t.root);
    bi.page_table_root = upper.root;

    let entry_phys = kernel_phys + (image.entry - image.base);
    let bi_phys = bi as *const BootInfo as u64;
    println!(
        "loader: kernel {} KiB at {:#x}, entry {:#x}; {} module(s); ACPI RSDP {:#x}; DTB {:#x}; direct map {} MiB",
        image.size / 1024,
        kernel_phys,
        image.entry,
        bi.modules_len,
        bi.acpi_rsdp,
        bi.dtb,
        phys_map_size >> 20
    );
    println!("loader: exiting boot services");

    drop(fs);
    // SAFETY: nothing created from boot services is used past this point:
    // the file system handle and GOP were dropped above, the loader only
    // touches memory it already owns and firmware tables by address.
    let mmap = unsafe { boot::exit_boot_services(None) };
    let mut inv = Inventory::new(&mut bi.memory);
    for d in mmap.entries() {
        inv.add(d.phys_start, d.page_count, classify(d.ty.0));
    }
    bi.memory_len = inv.finish() as u32;

    arch::enter_kernel(&arch::Handover {
        upper_root: upper.root,
        entry_virt: image.entry,
        entry_phys,
        stack_top: KERNEL_STACK_TOP,
        bootinfo_phys: bi_phys,
        flush: [
            (kernel_phys, image.size),
            (bi_phys, core::mem::size_of::<BootInfo>() as u64),
        ],
    })
}

/// Map all RAM write-back and everything else below the top of RAM (at
/// least the low 4 GiB, where firmware puts device registers) as device
/// memory at `PHYS_MAP_BASE`. Returns the size of the mapped window.
fn map_physical_memory(pt: &mut PageTables, src: &mut FirmwareTables) -> Result<u64, LoaderError> {
    let mmap = boot::memory_map(MemoryType::LOADER_DATA)
        .map_err(|_| LoaderError::OutOfMemory("memory map"))?;
    let mut storage: Box<[MemoryRegion; MAX_MEMORY_REGIONS]> =
        Box::new([MemoryRegion::default(); MAX_MEMORY_REGIONS]);
    let mut inv = Inventory::new(&mut storage);
    for d in mmap.entries() {
        inv.add(d.phys_start, d.page_count, classify(d.ty.0));
    }
    let n = inv.finish();
    let regions = &storage[..n];
    let top_ram = regions
        .iter()
        .filter(|r| is_ram(r.kind()))
        .map(|r| r.end())
        .max()
        .unwrap_or(0);
    let size = top_ram.max(4 << 30).next_multiple_of(1 << 30);
    let mut at = 0u64;
    for r in regions
        .iter()
        .filter(|r| is_ram(r.kind()) && r.end() <= size)
    {
        if r.start > at {
            pt.map(
                src,
                PHYS_MAP_BASE + at,
                at,
                r.start - at,
                Attributes::DEVICE,
            )?;
        }
        pt.map(src, PHYS_MAP_BASE + r.start, r.start, r.len, Attributes::RW)?;
        at = r.end();
    }
    if at < size {
        pt.map(src, PHYS_MAP_BASE + at, at, size - at, Attributes::DEVICE)?;
    }
    Ok(size)
}

fn load_modules(fs: &mut FileSystem, bi: &mut BootInfo) -> Result<(), LoaderError> {
    let dir = cstr16!("\\boot\\modules");
    let Ok(entries) = fs.read_dir(Path::new(dir)) else {
        return Ok(()); // No modules directory: an empty initial image.
    };
    let mut n = 0;
    for info in entries.flatten() {
        if info.is_directory() {
            continue;
        }
        if n == MAX_BOOT_MODULES {
            return Err(LoaderError::TooManyModules);
        }
        let name: &CStr16 = info.file_name();
        let mut path = CString16::from(dir);
        path.push_str(cstr16!("\\"));
        path.push_str(name);
        let data = read_file(fs, &path, "a boot module", MAX_MODULE_FILE)?;
        let mem = alloc_pages(data.len() as u64, OS_TYPE_MODULES, "a boot module")?;
        mem[..data.len()].copy_from_slice(&data);
        let mut m = BootModule {
            start: mem.as_ptr() as u64,
            len: data.len() as u64,
            ..BootModule::default()
        };
        let mut w = 0;
        for c in name.iter() {
            let ch = char::from(*c);
            let mut buf = [0u8; 4];
            let enc = ch.encode_utf8(&mut buf).as_bytes();
            if w + enc.len() > MODULE_NAME_LEN {
                break;
            }
            m.name[w..w + enc.len()].copy_from_slice(enc);
            w += enc.len();
        }
        bi.modules[n] = m;
        n += 1;
    }
    bi.modules_len = n as u64;
    Ok(())
}

fn find_config_tables(bi: &mut BootInfo) -> Result<(), LoaderError> {
    let (rsdp2, rsdp1, dtb) = system::with_config_table(|t: &[ConfigTableEntry]| {
        let find = |g| {
            t.iter()
                .find(|e| e.guid == g)
                .map(|e| e.address as u64)
                .unwrap_or(0)
        };
        (
            find(ConfigTableEntry::ACPI2_GUID),
            find(ConfigTableEntry::ACPI_GUID),
            find(DTB_GUID),
        )
    });
    bi.acpi_rsdp = if rsdp2 != 0 { rsdp2 } else { rsdp1 };
    if dtb != 0 {
        // The firmware's device tree may live in boot-services memory, which
        // becomes free: copy it into boot data. Header: magic, totalsize (BE).
        // SAFETY: the firmware published a device tree at `dtb`, identity
        // mapped; its 8-byte header is readable.
        let header = unsafe { core::ptr::read_unaligned(dtb as *const [u8; 8]) };
        let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        if magic == 0xd00d_feed && (8..=MAX_DTB_SIZE).contains(&size) {
            let copy = alloc_pages(size as u64, OS_TYPE_BOOT_DATA, "the device tree")?;
            // SAFETY: the header says the blob is `size` bytes long; it is
            // identity mapped firmware memory we only read.
            let src = unsafe { core::slice::from_raw_parts(dtb as *const u8, size as usize) };
            copy[..size as usize].copy_from_slice(src);
            bi.dtb = copy.as_ptr() as u64;
        } else {
            println!("loader: ignoring a device tree with a bad header");
        }
    }
    Ok(())
}

fn find_framebuffer(bi: &mut BootInfo) {
    let Ok(handle) = boot::get_handle_for_protocol::<GraphicsOutput>() else {
        return;
    };
    let params = OpenProtocolParams {
        handle,
        agent: boot::image_handle(),
        controller: None,
    };
    // SAFETY: GetProtocol does not take the protocol from the console driver;
    // we only read the current mode and the framebuffer address.
    let Ok(mut gop) = (unsafe {
        boot::open_protocol::<GraphicsOutput>(params, OpenProtocolAttributes::GetProtocol)
    }) else {
        return;
    };
    let mode = gop.current_mode_info();
    let format = match mode.pixel_format() {
        gop::PixelFormat::Rgb => PixelFormat::Rgbx,
        gop::PixelFormat::Bgr => PixelFormat::Bgrx,
        // Bitmask layouts are rare; Blt-only modes have no linear buffer.
        _ => return,
    };
    let (w, h) = mode.resolution();
    let mut fb = gop.frame_buffer();
    bi.framebuffer.base = fb.as_mut_ptr() as u64;
    bi.framebuffer.size = fb.size() as u64;
    bi.framebuffer.width = w as u32;
    bi.framebuffer.height = h as u32;
    bi.framebuffer.stride = mode.stride() as u32;
    bi.framebuffer.format = format as u32;
}
