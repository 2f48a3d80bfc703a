//! Building the root task (spec: ST-10, ST-11).
//!
//! 1. The objects of ST-10 — the root TCB, CNode, VSpace, initial ASID
//!    pool, IPC-buffer and boot-info frames, and the kernel's IRQ table —
//!    are carved from one block of free RAM, which is then no longer free;
//!    every other free byte becomes an untyped capability.
//!    [`Kernel::boot`] (the object core's own boot) places their
//!    capabilities.
//! 2. The root task's address space is then built by invocations the
//!    kernel makes on the root thread's behalf through the ordinary entry
//!    path — `Untyped Retype` of page tables and frames from one untyped,
//!    `PageTable Map`, `Frame Map` — so it is exactly what a user-space
//!    loader would have built, and every invariant the spec states holds
//!    of it by construction. The kernel copies the ELF segments and the
//!    initial image into the new frames through the direct map.
//! 3. The boot-info frame (`abi::root_task::RootInfo`) tells the root task
//!    which slots hold what; its registers are set to start at the ELF
//!    entry point with the stack pointer at `STACK_TOP` and the boot-info
//!    address in the first argument register.
//!
//! Every step checks its input (the root task's ELF is untrusted data on
//! the boot medium) and fails with a [`BootError`]; after this module the
//! kernel never allocates again.

use crate::phys::PhysMemory;
use abi::boot::{BootInfo, MemoryKind};
use abi::cptr::CPtr;
use abi::error::ErrorDetail;
use abi::invocation::Label;
use abi::ipc_buffer::IpcBuffer;
use abi::msginfo::MessageInfo;
use abi::object::{ObjectType, RETYPE_FAN_OUT_LIMIT, root_slot};
use abi::rights::Rights;
use abi::root_task::{self as rt, RootInfo, SlotRange, UntypedDesc};
use abi::syscall::Syscall;
use abi::vm::VmAttributes;
use kernel_core::cap::Cap;
use kernel_core::kernel::{BootSpec, BootUntyped, Entry, Kernel, Outcome, Reply, cnode_slot};
use kernel_core::mem::{self, Memory};
use kernel_core::object::tcb;
use kernel_core::region;
use user_image::{Image, ImageError, Machine, PAGE_SIZE};

/// Name of the boot module holding the root task's ELF file.
pub const ROOT_TASK_MODULE: &str = "root-task";
/// Name of the boot module holding the initial image (a cpio archive).
pub const INITRD_MODULE: &str = "initrd.cpio";

/// Pages of the root task's stack.
const STACK_PAGES: u64 = rt::STACK_SIZE / PAGE_SIZE;
/// Size of the block the ST-10 objects are carved from (aligned to it).
const BOOT_BLOCK_BITS: u32 = 18;
/// Offsets of the ST-10 objects in that block. The CNode (2^(12+5) =
/// 128 KiB) comes first, aligned to its size; the IRQ table's 1024 slots
/// take 32 KiB.
const CNODE_AT: u64 = 0;
const IRQ_SLOTS_AT: u64 = 128 << 10;
const TCB_AT: u64 = 160 << 10;
const VSPACE_AT: u64 = 164 << 10;
const ASID_POOL_AT: u64 = 168 << 10;
const IPC_BUFFER_AT: u64 = 172 << 10;
const BOOT_INFO_AT: u64 = 176 << 10;
const _: () = assert!(
    (1u64 << (root_slot::ROOT_CNODE_RADIX + abi::object::SLOT_BITS)) <= IRQ_SLOTS_AT
        && IRQ_SLOTS_AT + abi::irq::IRQ_LINES * (1 << abi::object::SLOT_BITS) <= TCB_AT
        && BOOT_INFO_AT + PAGE_SIZE <= 1 << BOOT_BLOCK_BITS
);

/// Why the root task could not be built.
#[derive(Debug)]
pub enum BootError {
    /// No boot module of this name.
    MissingModule(&'static str),
    /// A boot module lies outside the direct map.
    ModuleOutOfMemory(&'static str),
    /// The root task's ELF file is not a loadable image.
    Elf(ImageError),
    /// No free block of RAM can hold the ST-10 objects.
    NoBootBlock,
    /// No untyped region can hold the root task's pages and tables (bytes
    /// needed).
    NoUntypedFor(u64),
    /// More frames or tables than the root CNode has slots for.
    TooBig,
    /// An invocation made while building the address space failed.
    Invocation(Label, ErrorDetail),
    /// An invocation made while building the address space did not
    /// complete.
    Incomplete(Label),
}

impl core::fmt::Display for BootError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BootError::MissingModule(n) => write!(f, "no boot module '{n}'"),
            BootError::ModuleOutOfMemory(n) => write!(f, "boot module '{n}' lies outside memory"),
            BootError::Elf(e) => write!(f, "root task ELF: {e}"),
            BootError::NoBootBlock => write!(
                f,
                "no free {} KiB block for the root objects",
                (1 << BOOT_BLOCK_BITS) >> 10
            ),
            BootError::NoUntypedFor(n) => write!(
                f,
                "no untyped region of {n} bytes for the root task's pages"
            ),
            BootError::TooBig => write!(f, "root task needs more slots than its CNode has"),
            BootError::Invocation(l, e) => write!(f, "{l:?} failed: {e:?}"),
            BootError::Incomplete(l) => write!(f, "{l:?} did not complete"),
        }
    }
}

impl From<ImageError> for BootError {
    fn from(e: ImageError) -> Self {
        BootError::Elf(e)
    }
}

/// The started root task: the kernel, with the root thread current and
/// ready to enter user mode with `context`.
pub struct RootTask {
    /// The kernel state.
    pub kernel: Kernel<PhysMemory>,
    /// The root VSpace's physical address.
    pub vspace: u64,
}

/// The bytes of boot module `name`, if the loader handed one over.
fn module(bi: &BootInfo, name: &'static str) -> Result<Option<&'static [u8]>, BootError> {
    let Some(m) = bi.modules().iter().find(|m| {
        let len = m.name.iter().position(|&b| b == 0).unwrap_or(m.name.len());
        &m.name[..len] == name.as_bytes()
    }) else {
        return Ok(None);
    };
    let end = m.start.checked_add(m.len);
    if end.is_none_or(|e| e > bi.phys_map_size) {
        return Err(BootError::ModuleOutOfMemory(name));
    }
    let va = crate::memory::phys_to_virt(m.start) as *const u8;
    // SAFETY: the loader placed the module at `[start, start + len)`,
    // memory of kind `BootModules` that nothing ever writes or frees (it is
    // never free memory, so never untyped); the range lies in the direct
    // map (checked above), which is never unmapped.
    Ok(Some(unsafe {
        core::slice::from_raw_parts(va, m.len as usize)
    }))
}

/// Whether the boot medium carries a root task.
pub fn present(bi: &BootInfo) -> bool {
    bi.modules()
        .iter()
        .any(|m| m.name.starts_with(ROOT_TASK_MODULE.as_bytes()))
}

/// The free RAM ranges, minus physical page 0 (the object core uses
/// address 0 for "none") and minus `hole`.
fn free_ranges(bi: &BootInfo, hole: (u64, u64)) -> impl Iterator<Item = (u64, u64)> + '_ {
    bi.memory()
        .iter()
        .filter(|r| r.kind() == MemoryKind::Free && r.len > 0)
        .flat_map(move |r| {
            let (s, e) = (r.start.max(PAGE_SIZE), r.end().min(bi.phys_map_size));
            [(s, e.min(hole.0)), (s.max(hole.1), e)]
        })
        .filter(|(s, e)| s < e)
}

/// Bytes of the device (or RAM) untypeds.
fn size_of(untypeds: &[BootUntyped], device: bool) -> u64 {
    untypeds
        .iter()
        .filter(|u| u.device == device)
        .map(|u| 1u64 << u.size_bits)
        .fold(0, u64::saturating_add)
}

/// Device space: every physical range below the CPU's physical address
/// limit (and the untyped limit, UT-14) that the firmware's memory map
/// does not describe as memory — holes in the map and regions it calls
/// memory-mapped I/O — minus physical page 0 and the devices the kernel
/// drives itself (its interrupt controllers and console), in address
/// order (spec: ST-10).
fn device_ranges(bi: &BootInfo) -> impl Iterator<Item = (u64, u64)> + '_ {
    let bits = crate::arch::phys_addr_bits().min(63);
    let top = (1u64 << bits).min(region::RAM_LIMIT);
    region::gaps(PAGE_SIZE, top, move |f: &mut dyn FnMut(u64, u64)| {
        for r in bi.memory() {
            if r.kind() != MemoryKind::Mmio {
                f(r.start, r.end());
            }
        }
        crate::arch::kernel_devices(bi, &mut |base, len| {
            let start = base & !(PAGE_SIZE - 1);
            f(
                start,
                base.saturating_add(len).saturating_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1),
            );
        });
    })
}

/// Find an aligned free block for the ST-10 objects.
fn boot_block(bi: &BootInfo) -> Option<u64> {
    let size = 1u64 << BOOT_BLOCK_BITS;
    free_ranges(bi, (0, 0)).find_map(|(s, e)| {
        let at = s.checked_add(size - 1)? & !(size - 1);
        (at.checked_add(size)? <= e).then_some(at)
    })
}

/// Build the root task from the boot modules; the kernel state is ready
/// to enter it.
pub fn build(bi: &'static BootInfo) -> Result<(RootTask, crate::user::Context), BootError> {
    let elf = module(bi, ROOT_TASK_MODULE)?.ok_or(BootError::MissingModule(ROOT_TASK_MODULE))?;
    let initrd = module(bi, INITRD_MODULE)?.unwrap_or(&[]);
    let image = Image::parse(elf, Machine::NATIVE, rt::IMAGE_LOW, rt::IMAGE_HIGH)?;

    let block = boot_block(bi).ok_or(BootError::NoBootBlock)?;
    let hole = (block, block + (1 << BOOT_BLOCK_BITS));
    // The untypeds: every free byte of RAM, then every byte of device
    // space (spec: ST-10), as far as the boot-info frame can list them
    // (MAX_UNTYPEDS; what does not fit is logged: device space first).
    let mut untypeds = [BootUntyped {
        base: 0,
        size_bits: 0,
        device: false,
    }; rt::MAX_UNTYPEDS];
    let mut n = 0;
    let mut dropped = [0u64; 2];
    let ram = free_ranges(bi, hole).flat_map(|(s, e)| region::untyped_blocks(s, e));
    let device = device_ranges(bi).flat_map(|(s, e)| region::untyped_blocks(s, e));
    let blocks = ram.map(|b| (b, false)).chain(device.map(|b| (b, true)));
    for ((base, bits), device) in blocks {
        if n < rt::MAX_UNTYPEDS {
            untypeds[n] = BootUntyped {
                base,
                size_bits: bits as u8,
                device,
            };
            n += 1;
        } else {
            dropped[device as usize] = dropped[device as usize].saturating_add(1 << bits);
        }
    }
    if dropped != [0, 0] {
        log::warn!(
            "root task: {} KiB of free memory and {} MiB of device space in more than {} blocks not handed out",
            dropped[0] >> 10,
            dropped[1] >> 20,
            rt::MAX_UNTYPEDS
        );
    }
    // In ascending physical address (spec: ABI-16).
    untypeds[..n].sort_unstable_by_key(|u| u.base);
    let untypeds = &untypeds[..n];

    // SAFETY: the only `PhysMemory`; the direct map covers `phys_map_size`
    // for the kernel's life; no Rust reference points into free RAM (the
    // kernel has used none of it so far: no heap, statics are in the
    // image) or into the boot block.
    let mut memory = unsafe { PhysMemory::new(bi.phys_map_size) };
    memory.zero(block, 1 << BOOT_BLOCK_BITS);
    // spec: INV-6 — untyped memory above the watermark is zero, and Retype
    // relies on it: a new object's initial state (UT-9) is the zero bytes
    // it finds (a CNode of stale bytes would hold forged capabilities).
    // Free RAM is not zero when
    // the firmware hands it over (QEMU's OVMF leaves data in it), so every
    // byte becomes zero before it is untyped. Found by the checking
    // kernel's boot check. Only pages that are not zero already are
    // written: most free RAM is (QEMU's fresh RAM always), and reading it
    // costs a tenth of writing it — under emulation, writing every page
    // of 500 MiB took 1.5 s.
    for u in untypeds.iter().filter(|u| !u.device) {
        for page in (u.base..u.base + (1 << u.size_bits)).step_by(PAGE_SIZE as usize) {
            if !memory.is_zero(page, PAGE_SIZE) {
                memory.zero(page, PAGE_SIZE as usize);
            }
        }
    }
    let layout = crate::arch::user::LAYOUT;
    // spec: IRQ-2 — the platform's lines; the kernel's own are reserved.
    let (irq_lines, reserved_irqs, reserved_count) = crate::irq::platform_lines::<64>();
    let spec = BootSpec {
        layout,
        root_tcb: block + TCB_AT,
        root_cnode: block + CNODE_AT,
        root_radix: root_slot::ROOT_CNODE_RADIX as u8,
        root_ipc_buffer: block + IPC_BUFFER_AT,
        root_ipc_buffer_vaddr: rt::IPC_BUFFER_VADDR,
        root_boot_info: block + BOOT_INFO_AT,
        root_vspace: block + VSPACE_AT,
        root_asid_pool: block + ASID_POOL_AT,
        irq_slots: block + IRQ_SLOTS_AT,
        irq_lines,
        reserved_irqs: &reserved_irqs[..reserved_count],
        untypeds,
    };
    let kernel = Kernel::boot(memory, &spec);
    #[cfg(feature = "check")]
    crate::check::kernel_booted(&kernel, &spec, bi);
    let mut b = Builder {
        k: kernel,
        cnode: spec.root_cnode,
        ipc_buffer: spec.root_ipc_buffer,
        next_slot: root_slot::FIRST_UNTYPED + untypeds.len() as u64,
    };
    let info = b.address_space(&image, initrd, untypeds)?;
    // The boot-info frame, then the registers of ST-10.
    *mem::get_mut::<RootInfo>(&mut b.k.mem, spec.root_boot_info) = info;
    let mut ctx = [0; kernel_core::object::tcb::MAX_CONTEXT_WORDS];
    ctx[layout.pc] = image.entry;
    ctx[layout.sp] = rt::STACK_TOP;
    ctx[layout.flags] = layout.forced_flags;
    ctx[layout.cptr] = rt::BOOT_INFO_VADDR;
    tcb::tcb_mut(&mut b.k.mem, spec.root_tcb).context = ctx;
    log::info!(
        "root task: entry {:#x}, {} image pages, {} untypeds ({} MiB of RAM, {} of them device: {} GiB) from slot {}, first free slot {}, IRQ lines 0..{} ({} reserved)",
        image.entry,
        info.image_frame_slots.count,
        info.untyped_slots.count,
        size_of(untypeds, false) >> 20,
        untypeds.iter().filter(|u| u.device).count(),
        size_of(untypeds, true) >> 30,
        info.untyped_slots.start,
        info.first_free_slot,
        spec.irq_lines,
        spec.reserved_irqs.len()
    );
    Ok((
        RootTask {
            kernel: b.k,
            vspace: spec.root_vspace,
        },
        ctx,
    ))
}

/// Invocations on the root thread's behalf.
struct Builder {
    k: Kernel<PhysMemory>,
    cnode: u64,
    ipc_buffer: u64,
    next_slot: u64,
}

/// A capability address in the root CNode.
fn root(slot: u64) -> u64 {
    match CPtr::new(slot, root_slot::ROOT_CNODE_RADIX) {
        Ok(c) => c.raw(),
        // Slots are below 2^12 (checked by `alloc`): always well formed.
        Err(_) => unreachable!("root slot {slot} out of range"),
    }
}

impl Builder {
    /// `Call` on root slot `slot` with `label`, `words` and extra
    /// capabilities in root slots `extra`, as the root thread.
    fn invoke(
        &mut self,
        slot: u64,
        label: Label,
        words: &[u64],
        extra: &[u64],
    ) -> Result<Reply, BootError> {
        let l = self.k.layout;
        let t = self.k.current;
        let info = MessageInfo::new(label as u64, 0, extra.len() as u64, words.len() as u64)
            .map_err(|_| BootError::Invocation(label, ErrorDetail::TruncatedMessage))?;
        {
            let buf = mem::get_mut::<IpcBuffer>(&mut self.k.mem, self.ipc_buffer);
            for (i, &w) in words.iter().enumerate().skip(l.mrs.len()) {
                buf.msg[i] = w;
            }
            for (i, &c) in extra.iter().enumerate() {
                buf.caps_or_badges[i] = root(c);
            }
        }
        let ctx = &mut tcb::tcb_mut(&mut self.k.mem, t).context;
        ctx[l.number] = Syscall::Call.number();
        ctx[l.cptr] = root(slot);
        ctx[l.info] = info.raw();
        for (r, &w) in l.mrs.iter().zip(words) {
            ctx[*r] = w;
        }
        match self.k.entry(Entry::Syscall, &mut || false) {
            Outcome::Done(Ok(reply)) => Ok(reply),
            Outcome::Done(Err(e)) => Err(BootError::Invocation(label, e)),
            _ => Err(BootError::Incomplete(label)),
        }
    }

    /// `count` consecutive free root slots.
    fn alloc(&mut self, count: u64) -> Result<SlotRange, BootError> {
        let start = self.next_slot;
        let end = start.checked_add(count).ok_or(BootError::TooBig)?;
        if end > 1 << root_slot::ROOT_CNODE_RADIX {
            return Err(BootError::TooBig);
        }
        self.next_slot = end;
        Ok(SlotRange { start, count })
    }

    /// Retype `count` objects of type `ty` from the untyped in `ut` into
    /// fresh root slots.
    fn retype(&mut self, ut: u64, ty: ObjectType, count: u64) -> Result<SlotRange, BootError> {
        let r = self.alloc(count)?;
        let mut done = 0;
        // `count` may be 0 (no initial image): no invocation then.
        while done < count {
            let n = (count - done).min(RETYPE_FAN_OUT_LIMIT);
            self.invoke(
                ut,
                Label::UntypedRetype,
                &[ty as u64, 0, r.start + done, n],
                &[root_slot::CNODE],
            )?;
            done += n;
        }
        Ok(r)
    }

    /// The physical address of the frame in root slot `slot`.
    fn frame(&self, slot: u64) -> u64 {
        match kernel_core::slot::cap(&self.k.mem, cnode_slot(self.cnode, slot)) {
            Cap::Frame { obj, .. } => obj,
            other => unreachable!("slot {slot} holds {other:?}, not the frame just retyped"),
        }
    }

    fn map(
        &mut self,
        slot: u64,
        vaddr: u64,
        rights: Rights,
        attrs: VmAttributes,
    ) -> Result<(), BootError> {
        self.invoke(
            slot,
            Label::FrameMap,
            &[vaddr, rights.bits(), attrs.bits()],
            &[root_slot::VSPACE],
        )
        .map(|_| ())
    }

    /// Build the address space: tables, image, stack, IPC buffer, boot
    /// info, initial image. Returns the boot-info contents.
    fn address_space(
        &mut self,
        image: &Image<'_>,
        initrd: &[u8],
        untypeds: &[BootUntyped],
    ) -> Result<RootInfo, BootError> {
        let image_pages = image.pages().count() as u64;
        let initrd_pages = (initrd.len() as u64).div_ceil(PAGE_SIZE);
        // Every address used lies below 512 GiB and, by the layout of
        // `abi::root_task`, below 1 GiB: one level-1 and one level-2
        // table, and a level-3 table per 2 MiB region touched.
        let chunk = |va: u64| va >> 21;
        let mut chunks = heapless::Vec::<u64, 512>::new();
        let mut add = |va: u64| {
            let c = chunk(va);
            if !chunks.contains(&c) {
                chunks.push(c).map_err(|_| BootError::TooBig)?;
            }
            Ok::<(), BootError>(())
        };
        for (va, _) in image.pages() {
            add(va)?;
        }
        for va in [
            rt::IPC_BUFFER_VADDR,
            rt::BOOT_INFO_VADDR,
            rt::STACK_BOTTOM,
            rt::STACK_TOP - 1,
        ] {
            add(va)?;
        }
        let initrd_end = rt::INITRD_VADDR + initrd_pages * PAGE_SIZE;
        if initrd_end > 1 << 30 {
            return Err(BootError::TooBig);
        }
        for p in 0..initrd_pages {
            add(rt::INITRD_VADDR + p * PAGE_SIZE)?;
        }
        let tables = 2 + chunks.len() as u64;
        let frames = image_pages + STACK_PAGES + initrd_pages;
        let need = (tables + frames) * PAGE_SIZE;
        let (ut_index, _) = untypeds
            .iter()
            .enumerate()
            .find(|(_, u)| !u.device && 1u64 << u.size_bits >= need)
            .ok_or(BootError::NoUntypedFor(need))?;
        let ut_slot = root_slot::FIRST_UNTYPED + ut_index as u64;

        let pts = self.retype(ut_slot, ObjectType::PageTable, tables)?;
        // Level 1 and level 2 at address 0, then one level-3 table per
        // 2 MiB chunk (spec: VM-9 links each where the walk stops).
        for (i, s) in (pts.start..pts.end()).enumerate() {
            let va = if i < 2 { 0 } else { chunks[i - 2] << 21 };
            self.invoke(s, Label::PageTableMap, &[va], &[root_slot::VSPACE])?;
        }

        let image_frames = self.retype(ut_slot, ObjectType::Frame4K, image_pages)?;
        let mut page = [0u8; PAGE_SIZE as usize];
        for ((va, r), s) in image.pages().zip(image_frames.start..) {
            image.fill_page(va, &mut page);
            let pa = self.frame(s);
            self.k.mem.bytes_mut(pa, page.len()).copy_from_slice(&page);
            crate::arch::user::sync_icache(crate::memory::phys_to_virt(pa), PAGE_SIZE);
            let (rights, attrs) = r.mapping();
            self.map(s, va, rights, attrs)?;
        }

        let stack = self.retype(ut_slot, ObjectType::Frame4K, STACK_PAGES)?;
        for (i, s) in (stack.start..stack.end()).enumerate() {
            self.map(
                s,
                rt::STACK_BOTTOM + i as u64 * PAGE_SIZE,
                Rights::READ_WRITE,
                VmAttributes::NONE,
            )?;
        }
        self.map(
            root_slot::IPC_BUFFER,
            rt::IPC_BUFFER_VADDR,
            Rights::READ_WRITE,
            VmAttributes::NONE,
        )?;
        self.map(
            root_slot::BOOT_INFO,
            rt::BOOT_INFO_VADDR,
            Rights::READ,
            VmAttributes::NONE,
        )?;

        let initrd_frames = self.retype(ut_slot, ObjectType::Frame4K, initrd_pages)?;
        for (i, (s, bytes)) in (initrd_frames.start..initrd_frames.end())
            .zip(initrd.chunks(PAGE_SIZE as usize))
            .enumerate()
        {
            let pa = self.frame(s);
            self.k.mem.bytes_mut(pa, bytes.len()).copy_from_slice(bytes);
            self.map(
                s,
                rt::INITRD_VADDR + i as u64 * PAGE_SIZE,
                Rights::READ,
                VmAttributes::NONE,
            )?;
        }

        let mut descs = [UntypedDesc::default(); rt::MAX_UNTYPEDS];
        for (d, u) in descs.iter_mut().zip(untypeds) {
            *d = UntypedDesc {
                paddr: u.base,
                size_bits: u.size_bits,
                device: u.device as u8,
                _pad: [0; 6],
            };
        }
        Ok(RootInfo {
            magic: rt::ROOT_INFO_MAGIC,
            cnode_radix: root_slot::ROOT_CNODE_RADIX as u64,
            untyped_slots: SlotRange {
                start: root_slot::FIRST_UNTYPED,
                count: untypeds.len() as u64,
            },
            boot_untyped_slot: ut_slot,
            boot_untyped_used: need,
            page_table_slots: pts,
            image_frame_slots: image_frames,
            stack_frame_slots: stack,
            initrd_frame_slots: initrd_frames,
            initrd_len: initrd.len() as u64,
            first_free_slot: self.next_slot,
            tick_us: 1_000_000 / crate::time::TICK_HZ,
            _reserved: [0; 2],
            untypeds: descs,
        })
    }
}
