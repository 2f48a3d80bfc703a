//! Building a process from an ELF image, holding exactly the capabilities
//! its creator passes (spec: ABI-20).
//!
//! [`spawn`] makes, with ordinary invocations from the caller's untypeds
//! (through its [`UntypedAllocator`]) into slots of its CSpace (through
//! its [`SlotAllocator`]):
//!
//! - in four slots of the caller's CNode: the new CNode (radix 12), the
//!   VSpace (given an ASID from the pool the caller names), the TCB, and
//!   an *objects* CNode that holds the page tables and frames of the new
//!   address space (so a process costs the caller four slots however big
//!   its image is);
//! - the page tables for every 2 MiB region used, linked top down
//!   (VM-9); a frame per image page, filled through the caller's scratch
//!   page ([`Scratch`]: mapped there, written, unmapped; user space has no
//!   other way to write a frame) unless the page has no file bytes (a new
//!   frame is zero, UT-9), and mapped with the segment's rights (W^X,
//!   VM-6); the stack frames; the IPC-buffer frame;
//! - the new CNode's contents of ABI-20: copies of the TCB, CNode, VSpace
//!   and IPC-buffer frame capabilities in slots 1, 2, 3, 7 and the passed
//!   capabilities from slot 16 on, each copied, minted or moved ([`Pass`]);
//! - the TCB configured with that CNode, VSpace and IPC buffer (TCB-6),
//!   the fault endpoint (TCB-12), mcp and priority (TCB-8, TCB-7), then
//!   its registers (pc, sp and the argument word, TCB-5) with Resume.
//!
//! # Tearing down
//!
//! The caller keeps what it retyped: the [`Process`] names the four
//! slots. [`Process::destroy`] revokes and deletes each (TCB first, so
//! the thread stops; then the CNode, which deletes everything in it, moved
//! capabilities included; the VSpace, which releases the ASID; the
//! objects CNode, which deletes the frames and tables) and frees the
//! slots. The memory of the objects stays below the untyped's watermark
//! until the untyped has no children left (UT-6, DER-13); the caller then
//! tells its allocator ([`UntypedAllocator::reset`]).
//!
//! # When spawn fails
//!
//! It returns a [`SpawnError`] naming the failing invocation and the
//! kernel's error, after undoing what it did: capabilities it had moved
//! are moved back to their slots, and everything it created is destroyed
//! as above and its slots freed. What cannot be undone: the untyped bytes
//! it consumed stay used (as for destroy), and a copied or minted
//! capability is gone with the CNode (the caller's original stays).
//!
//! # Caches
//!
//! On aarch64 the new code is written through a data mapping and later
//! executed through another mapping; the kernel traps EL0 cache
//! maintenance (`SCTLR_EL1.UCI` = 0), so making the instruction cache
//! coherent is the kernel's business: every Frame Map that asks for
//! `EXECUTE` cleans the frame's data cache lines to the point of
//! unification and invalidates the instruction cache (`kernel/src/user.rs`;
//! steps `CTR_EL0.IDC`/`.DIC` make unnecessary are skipped). `spawn` maps
//! code frames executable only after it has written them, which is what
//! makes that enough.

use crate::cap::{AsidPool, CNode, Cap, Endpoint, Frame4K, PageTable, Tcb, VSpace};
use crate::ops::{self, Invoke, InvokeError};
use crate::slots::SlotAllocator;
use crate::untyped::{self, RetypeError, UntypedAllocator};
use abi::context::Layout;
use abi::object::{MAX_CNODE_RADIX, ObjectType, RETYPE_FAN_OUT_LIMIT};
use abi::process::{self as p, slot};
use abi::rights::Rights;
use abi::vm::VmAttributes;
use core::fmt;
use user_image::{Image, ImageError, Machine, PAGE_SIZE};

/// Bytes in a page.
pub const PAGE: usize = PAGE_SIZE as usize;
/// Pages of a process's stack.
pub const STACK_PAGES: u64 = abi::root_task::STACK_SIZE / PAGE_SIZE;

/// The register layout of the machine this is compiled for.
#[cfg(target_arch = "aarch64")]
pub const LAYOUT: Layout = Layout::AARCH64;
/// The register layout of the machine this is compiled for.
#[cfg(not(target_arch = "aarch64"))]
pub const LAYOUT: Layout = Layout::X86_64;

/// A page of the caller's own address space where spawn may map a frame
/// for a moment to write it.
pub trait Scratch {
    /// The page's address: page aligned, in a 2 MiB region whose
    /// level-3 table the caller's VSpace has, never mapped otherwise.
    fn scratch_vaddr(&self) -> u64;

    /// Run `f` on the page at [`Scratch::scratch_vaddr`].
    ///
    /// # Safety
    ///
    /// A frame must be mapped there, readable and writable, for the
    /// duration of the call.
    unsafe fn with_scratch(&mut self, f: &mut dyn FnMut(&mut [u8; PAGE]));
}

/// The real system calls, and a scratch page of this address space.
#[cfg(target_os = "none")]
#[derive(Debug)]
pub struct Native {
    scratch: u64,
}

#[cfg(target_os = "none")]
impl Native {
    /// Spawn's environment, with the scratch page at `scratch`
    /// (conventionally `abi::process::SCRATCH_VADDR`, ABI-20).
    ///
    /// # Safety
    ///
    /// `scratch` must be page aligned, unmapped, and used by nothing else
    /// in this program (no Rust object lives there) while this value is.
    pub unsafe fn new(scratch: u64) -> Native {
        Native { scratch }
    }
}

#[cfg(target_os = "none")]
impl Invoke for Native {
    fn invoke(
        &mut self,
        cptr: abi::cptr::CPtr,
        msg: &crate::message::Message,
    ) -> Result<crate::message::ResultWords, crate::message::InvocationError> {
        crate::ipc::invoke(cptr, msg)
    }
}

#[cfg(target_os = "none")]
impl Scratch for Native {
    fn scratch_vaddr(&self) -> u64 {
        self.scratch
    }

    unsafe fn with_scratch(&mut self, f: &mut dyn FnMut(&mut [u8; PAGE])) {
        // SAFETY: by the contract of `with_scratch` a frame is mapped
        // readable and writable at `scratch` for the call; by that of
        // `new`, the address is page aligned and nothing else in the
        // program refers to it, so this is the only reference.
        let page = unsafe { &mut *(self.scratch as *mut [u8; PAGE]) };
        f(page);
    }
}

/// How a capability is passed to the new process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// CNode Copy with this rights mask (CNODE-2).
    Copy(Rights),
    /// CNode Mint with this rights mask and badge (CNODE-3).
    Mint(Rights, u64),
    /// CNode Move: the caller loses it (CNODE-4); the way to pass what
    /// cannot be copied (CAP-9: untypeds, IRQControl, ASIDControl).
    Move,
}

/// A capability to pass: the slot of the caller's CNode it is in, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PassCap {
    /// Its slot in the caller's CNode.
    pub slot: u64,
    /// Copy, mint or move.
    pub how: Pass,
}

/// What the caller lends spawn.
#[derive(Debug)]
pub struct Caller<'a> {
    /// Its CNode (its CSpace root) as it addresses it (depth = its
    /// radix); new capabilities go into it and passed ones come from it.
    pub cnode: Cap<CNode>,
    /// Its VSpace (for the scratch mapping).
    pub vspace: Cap<VSpace>,
    /// Its TCB: the authority for the priorities (TCB-7, TCB-8).
    pub tcb: Cap<Tcb>,
    /// Its free slots; the radix is its CNode's.
    pub slots: &'a mut SlotAllocator,
    /// Its untypeds.
    pub untypeds: &'a mut UntypedAllocator,
}

/// What to build.
#[derive(Clone, Copy, Debug)]
pub struct Config<'a> {
    /// The ELF file (untrusted: validated by `user_image`).
    pub elf: &'a [u8],
    /// The pool the new VSpace's ASID comes from.
    pub asid_pool: Cap<AsidPool>,
    /// Its fault endpoint (an endpoint capability with Write and Grant or
    /// GrantReply, TCB-12), usually badged to tell processes apart; `None`
    /// leaves it without a fault handler (a fault suspends it, FLT-3).
    pub fault_endpoint: Option<Cap<Endpoint>>,
    /// Its priority (at most the caller's mcp).
    pub priority: u8,
    /// Its mcp (at most the caller's mcp).
    pub mcp: u8,
    /// The word in its first argument register.
    pub arg: u64,
    /// The capabilities it gets from slot 16 on, in order.
    pub caps: &'a [PassCap],
}

/// A process spawn built; the caller's handles on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Process {
    /// Its TCB (the original; the process has a copy).
    pub tcb: Cap<Tcb>,
    /// Its CNode.
    pub cnode: Cap<CNode>,
    /// Its VSpace.
    pub vspace: Cap<VSpace>,
    /// The caller's CNode holding its page tables and frames.
    pub objects: Cap<CNode>,
    /// The entry point.
    pub entry: u64,
    /// Frames of the ELF image.
    pub image_pages: u64,
    /// Page tables.
    pub page_tables: u64,
}

/// Why spawn failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpawnError {
    /// The ELF file is not a loadable image.
    Image(ImageError),
    /// More capabilities than the CNode has slots from 16 on.
    TooManyCaps(usize),
    /// The image needs more page tables and frames than one objects CNode
    /// can hold.
    TooBig,
    /// The caller's slot allocator has no free slot.
    NoSlots,
    /// No untyped has room for `count` objects of `2^bits` bytes.
    NoMemory {
        /// log2 of the object size.
        bits: u32,
        /// How many.
        count: u64,
    },
    /// An invocation failed: which one and the kernel's error.
    Invocation(InvokeError),
}

impl From<InvokeError> for SpawnError {
    fn from(e: InvokeError) -> Self {
        SpawnError::Invocation(e)
    }
}

impl From<RetypeError> for SpawnError {
    fn from(e: RetypeError) -> Self {
        match e {
            RetypeError::NoMemory { bits, count } => SpawnError::NoMemory { bits, count },
            RetypeError::Size(_) => SpawnError::TooBig,
            RetypeError::Invocation(e) => SpawnError::Invocation(e),
        }
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Image(e) => write!(f, "ELF image: {e}"),
            SpawnError::TooManyCaps(n) => {
                write!(f, "{n} capabilities to pass, at most {}", p::MAX_PASSED)
            }
            SpawnError::TooBig => write!(f, "image too big for one objects CNode"),
            SpawnError::NoSlots => write!(f, "no free slot in the caller's CNode"),
            SpawnError::NoMemory { bits, count } => {
                write!(
                    f,
                    "no untyped has room for {count} objects of 2^{bits} bytes"
                )
            }
            SpawnError::Invocation(e) => write!(f, "{e}"),
        }
    }
}

/// The counts of a process's objects, from its image (pure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Pages of the ELF image.
    pub image_pages: u64,
    /// Page tables of every level.
    pub page_tables: u64,
    /// Radix of the objects CNode.
    pub objects_radix: u32,
}

impl Plan {
    /// Frames: image, stack, IPC buffer.
    pub const fn frames(&self) -> u64 {
        self.image_pages + STACK_PAGES + 1
    }

    /// Objects-CNode slot of the first image frame.
    pub const fn first_frame(&self) -> u64 {
        self.page_tables
    }

    /// Objects-CNode slot of the first stack frame.
    pub const fn first_stack_frame(&self) -> u64 {
        self.page_tables + self.image_pages
    }

    /// Objects-CNode slot of the IPC-buffer frame (the last one used).
    pub const fn ipc_frame(&self) -> u64 {
        self.first_stack_frame() + STACK_PAGES
    }
}

/// Every page the new address space maps, in ascending order: the image,
/// the IPC buffer, the stack (ABI-20).
fn mapped_pages<'a>(image: &'a Image<'a>) -> impl Iterator<Item = u64> + 'a {
    image
        .pages()
        .map(|(va, _)| va)
        .chain(core::iter::once(p::IPC_BUFFER_VADDR))
        .chain((0..STACK_PAGES).map(|i| p::STACK_BOTTOM + i * PAGE_SIZE))
}

/// Whether the image page at `va` holds bytes from the file (else it is
/// all zero: `.bss` or the zero tail of a segment).
fn has_file_bytes(image: &Image<'_>, va: u64) -> bool {
    image.segments().any(|s| {
        let end = s.data_vaddr.saturating_add(s.file_len);
        s.file_len > 0 && s.data_vaddr < va.saturating_add(PAGE_SIZE) && va < end
    })
}

/// Call `f(vaddr)` for each page table the pages in ascending order
/// need, in the order they must be linked (VM-9: a level-1 table before
/// the level-2 table below it, and so on); a table is named by the
/// first page it serves. Returns how many.
fn for_each_table<E>(
    pages: impl Iterator<Item = u64>,
    mut f: impl FnMut(u64) -> Result<(), E>,
) -> Result<u64, E> {
    let mut last: [Option<u64>; 3] = [None; 3];
    let mut n = 0;
    for va in pages {
        // A level-k table (k = 1 … 3) serves the region of one level-(k-1)
        // entry: 2^39, 2^30, 2^21 bytes.
        for (level, last) in last.iter_mut().enumerate() {
            let key = va >> (39 - 9 * level as u32);
            if *last != Some(key) {
                *last = Some(key);
                f(va)?;
                n += 1;
            }
        }
    }
    Ok(n)
}

/// The plan for `image` within a caller CSpace of radix `caller_radix`.
pub fn plan(image: &Image<'_>, caller_radix: u32) -> Result<Plan, SpawnError> {
    let image_pages = image.pages().count() as u64;
    let page_tables = for_each_table(mapped_pages(image), |_| Ok::<(), ()>(())).unwrap_or(0);
    let slots = page_tables + image_pages + STACK_PAGES + 1;
    let objects_radix = (u64::BITS - (slots - 1).leading_zeros()).max(1);
    if objects_radix > MAX_CNODE_RADIX || caller_radix + objects_radix > abi::cptr::MAX_DEPTH {
        return Err(SpawnError::TooBig);
    }
    Ok(Plan {
        image_pages,
        page_tables,
        objects_radix,
    })
}

/// The first `count` registers (ABI-10 order) of a new thread: pc, sp,
/// the argument word in the capability register of ABI-5 (`rdi`, `x0`),
/// and 0 elsewhere (the flags register is sanitised from 0, ABI-10).
pub fn initial_registers(layout: &Layout, entry: u64, arg: u64) -> ([u64; 64], usize) {
    let mut regs = [0; 64];
    let count = [layout.pc, layout.sp, layout.flags, layout.cptr]
        .into_iter()
        .max()
        .map_or(0, |m| m + 1)
        .min(regs.len());
    for (i, v) in [
        (layout.pc, entry),
        (layout.sp, p::STACK_TOP),
        (layout.cptr, arg),
    ] {
        if let Some(r) = regs.get_mut(i) {
            *r = v;
        }
    }
    (regs, count)
}

/// What a spawn has made so far (for undoing it).
#[derive(Clone, Copy, Debug, Default)]
struct Made {
    /// Caller slots taken, in the order TCB, CNode, VSpace, objects.
    slots: [Option<u64>; 4],
    /// The frame mapped at the scratch page, if one is.
    scratch: Option<Cap<Frame4K>>,
    /// How many of the passed capabilities were transferred.
    passed: usize,
}

const TCB: usize = 0;
const CNODE: usize = 1;
const VSPACE: usize = 2;
const OBJECTS: usize = 3;

/// Build and start a process from `cfg.elf` (see the module comment).
pub fn spawn<K: Invoke + Scratch>(
    k: &mut K,
    caller: &mut Caller<'_>,
    cfg: &Config<'_>,
) -> Result<Process, SpawnError> {
    let image = Image::parse(cfg.elf, Machine::NATIVE, p::IMAGE_LOW, p::IMAGE_HIGH)
        .map_err(SpawnError::Image)?;
    if cfg.caps.len() > p::MAX_PASSED {
        return Err(SpawnError::TooManyCaps(cfg.caps.len()));
    }
    let plan = plan(&image, caller.slots.radix())?;
    let mut made = Made::default();
    match build(k, caller, cfg, &image, &plan, &mut made) {
        Ok(process) => Ok(process),
        Err(e) => {
            undo(k, caller, cfg, &made);
            Err(e)
        }
    }
}

/// The capability in caller slot `s` (depth = the caller's radix).
fn own<K: crate::cap::Kind>(caller: &Caller<'_>, s: u64) -> Result<Cap<K>, SpawnError> {
    caller
        .slots
        .cptr(s)
        .map(Cap::new)
        .ok_or(SpawnError::NoSlots)
}

/// Retype `count` objects into `dest` from `offset` on, at most the
/// fan-out limit per Retype.
fn retype_many<I: Invoke + ?Sized>(
    k: &mut I,
    untypeds: &mut UntypedAllocator,
    ty: ObjectType,
    dest: Cap<CNode>,
    offset: u64,
    count: u64,
) -> Result<(), SpawnError> {
    let mut done = 0;
    while done < count {
        let n = (count - done).min(RETYPE_FAN_OUT_LIMIT);
        untyped::retype(k, untypeds, ty, 0, dest, offset + done, n)?;
        done += n;
    }
    Ok(())
}

fn build<K: Invoke + Scratch>(
    k: &mut K,
    caller: &mut Caller<'_>,
    cfg: &Config<'_>,
    image: &Image<'_>,
    plan: &Plan,
    made: &mut Made,
) -> Result<Process, SpawnError> {
    let radix = caller.slots.radix();
    for s in made.slots.iter_mut() {
        *s = Some(caller.slots.alloc().ok_or(SpawnError::NoSlots)?);
    }
    let [Some(tcb_s), Some(cnode_s), Some(vspace_s), Some(objects_s)] = made.slots else {
        return Err(SpawnError::NoSlots);
    };
    let (tcb, cnode, vspace, objects): (Cap<Tcb>, Cap<CNode>, Cap<VSpace>, Cap<CNode>) = (
        own(caller, tcb_s)?,
        own(caller, cnode_s)?,
        own(caller, vspace_s)?,
        own(caller, objects_s)?,
    );
    // An objects-CNode slot as the caller addresses it (CS-5).
    let obj = |i: u64| {
        ops::nested::<Frame4K>(radix, objects_s, plan.objects_radix, i)
            .map(|c| c.cptr())
            .ok_or(SpawnError::TooBig)
    };
    let mine = caller.cnode;
    let u = &mut *caller.untypeds;

    // The objects, biggest alignment first.
    untyped::retype(
        k,
        u,
        ObjectType::CNode,
        u64::from(p::CNODE_RADIX),
        mine,
        cnode_s,
        1,
    )?;
    untyped::retype(
        k,
        u,
        ObjectType::CNode,
        u64::from(plan.objects_radix),
        mine,
        objects_s,
        1,
    )?;
    untyped::retype(k, u, ObjectType::VSpace, 0, mine, vspace_s, 1)?;
    retype_many(k, u, ObjectType::PageTable, objects, 0, plan.page_tables)?;
    retype_many(
        k,
        u,
        ObjectType::Frame4K,
        objects,
        plan.first_frame(),
        plan.frames(),
    )?;
    untyped::retype(k, u, ObjectType::Tcb, 0, mine, tcb_s, 1)?;

    // The address space (ASID-5, VM-9, VM-6).
    ops::asid_assign(k, cfg.asid_pool, vspace)?;
    let mut next_table = 0;
    for_each_table(mapped_pages(image), |va| {
        let table: Cap<PageTable> = Cap::new(obj(next_table)?);
        next_table += 1;
        ops::page_table_map(k, table, vspace, va).map_err(SpawnError::from)
    })?;
    let scratch = k.scratch_vaddr();
    for ((va, r), i) in image.pages().zip(plan.first_frame()..) {
        let frame: Cap<Frame4K> = Cap::new(obj(i)?);
        // A new frame is all zero (UT-9): only pages with file bytes need
        // writing.
        if has_file_bytes(image, va) {
            ops::frame_map(
                k,
                frame,
                caller.vspace,
                scratch,
                Rights::READ_WRITE,
                VmAttributes::NONE,
            )?;
            made.scratch = Some(frame);
            // SAFETY: `frame` was just mapped readable and writable at the
            // scratch page, and stays so until the Unmap below.
            unsafe { k.with_scratch(&mut |page| image.fill_page(va, page)) };
            ops::frame_unmap(k, frame)?;
            made.scratch = None;
        }
        let (rights, attrs) = r.mapping();
        ops::frame_map(k, frame, vspace, va, rights, attrs)?;
    }
    for i in 0..STACK_PAGES {
        ops::frame_map(
            k,
            Cap::new(obj(plan.first_stack_frame() + i)?),
            vspace,
            p::STACK_BOTTOM + i * PAGE_SIZE,
            Rights::READ_WRITE,
            VmAttributes::NONE,
        )?;
    }
    let ipc: Cap<Frame4K> = Cap::new(obj(plan.ipc_frame())?);
    ops::frame_map(
        k,
        ipc,
        vspace,
        p::IPC_BUFFER_VADDR,
        Rights::READ_WRITE,
        VmAttributes::NONE,
    )?;

    // The CNode of ABI-20 and the thread (CNODE-2, TCB-6, TCB-12, TCB-7,
    // TCB-8).
    ops::copy(k, cnode, slot::TCB, mine, tcb_s, Rights::ALL)?;
    ops::copy(k, cnode, slot::CNODE, mine, cnode_s, Rights::ALL)?;
    ops::copy(k, cnode, slot::VSPACE, mine, vspace_s, Rights::ALL)?;
    ops::copy(
        k,
        cnode,
        slot::IPC_BUFFER,
        objects,
        plan.ipc_frame(),
        Rights::ALL,
    )?;
    ops::tcb_configure(k, tcb, cnode, vspace, ipc, p::IPC_BUFFER_VADDR)?;
    if cfg.fault_endpoint.is_some() {
        ops::tcb_set_fault_endpoint(k, tcb, cfg.fault_endpoint)?;
    }
    ops::tcb_set_mcp(k, tcb, caller.tcb, cfg.mcp)?;
    ops::tcb_set_priority(k, tcb, caller.tcb, cfg.priority)?;

    // The passed capabilities, last: nothing after them can fail but the
    // start itself, and a failure moves the moved ones back.
    for (dest, c) in (slot::FIRST_PASSED..).zip(cfg.caps) {
        match c.how {
            Pass::Copy(rights) => ops::copy(k, cnode, dest, mine, c.slot, rights)?,
            Pass::Mint(rights, badge) => ops::mint(k, cnode, dest, mine, c.slot, rights, badge)?,
            Pass::Move => ops::move_cap(k, cnode, dest, mine, c.slot)?,
        }
        made.passed += 1;
    }
    let (regs, count) = initial_registers(&LAYOUT, image.entry, cfg.arg);
    ops::tcb_write_registers(k, tcb, true, &regs[..count])?;
    Ok(Process {
        tcb,
        cnode,
        vspace,
        objects,
        entry: image.entry,
        image_pages: plan.image_pages,
        page_tables: plan.page_tables,
    })
}

/// Undo a failed spawn (best effort: every step is tried whatever the
/// others did).
fn undo<I: Invoke + ?Sized>(k: &mut I, caller: &mut Caller<'_>, cfg: &Config<'_>, made: &Made) {
    if let Some(frame) = made.scratch {
        let _ = ops::frame_unmap(k, frame);
    }
    if let Some(cnode_s) = made.slots[CNODE]
        && let Some(cnode) = caller.slots.cptr(cnode_s).map(Cap::<CNode>::new)
    {
        let moved = (slot::FIRST_PASSED..)
            .zip(cfg.caps)
            .take(made.passed)
            .filter(|(_, c)| c.how == Pass::Move);
        for (from, c) in moved {
            let _ = ops::move_cap(k, caller.cnode, c.slot, cnode, from);
        }
    }
    let _ = teardown(k, caller, made.slots);
}

/// Revoke and delete the caller slots `slots` (TCB, CNode, VSpace,
/// objects; empty ones are skipped by the kernel) and free them. Returns
/// the first error, having tried everything.
fn teardown<I: Invoke + ?Sized>(
    k: &mut I,
    caller: &mut Caller<'_>,
    slots: [Option<u64>; 4],
) -> Result<(), InvokeError> {
    let mut first = Ok(());
    for s in [TCB, CNODE, VSPACE, OBJECTS]
        .map(|i| slots[i])
        .into_iter()
        .flatten()
    {
        let r = ops::revoke(k, caller.cnode, s).and_then(|()| ops::delete(k, caller.cnode, s));
        if r.is_ok() {
            let _ = caller.slots.free(s);
        }
        if first.is_ok() {
            first = r;
        }
    }
    first
}

impl Process {
    /// Stop the process and delete everything spawn made for it (see the
    /// module comment); its slots in the caller's CNode are freed.
    /// Capabilities moved to it are deleted with its CNode.
    pub fn destroy<I: Invoke + ?Sized>(
        self,
        k: &mut I,
        caller: &mut Caller<'_>,
    ) -> Result<(), InvokeError> {
        let slot = |c: abi::cptr::CPtr| Some(c.address());
        teardown(
            k,
            caller,
            [
                slot(self.tcb.cptr()),
                slot(self.cnode.cptr()),
                slot(self.vspace.cptr()),
                slot(self.objects.cptr()),
            ],
        )
    }
}

#[cfg(test)]
mod tests;
