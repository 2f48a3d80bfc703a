//! x86_64 side of the user-mode boundary (`crate::user`).
//!
//! # Entering and leaving user mode
//!
//! Three ways in — `syscall`, a CPU exception, an interrupt — and two ways
//! out — `sysretq` and `iretq` — all meet in one [`TrapFrame`] at the top
//! of the one kernel stack (`trap_entry` has the assembly). The Rust side
//! converts the frame, plus the user's FS and GS bases from their MSRs, to
//! a [`Context`] in the ABI-10 order, runs [`crate::user::from_user`], and
//! writes whatever context that left — often another thread's — back into
//! the frame and the MSRs.
//!
//! `sysretq` is faster but restores less than `iretq`, and is dangerous in
//! one case: on Intel CPUs a non-canonical `rcx` makes it raise #GP *at
//! CPL 0, on the user's stack* — a privilege escalation if ever allowed.
//! The system-call path therefore uses it only when it restores exactly
//! what `iretq` would ([`sysret_is_exact`]).
//!
//! # Segments and MSRs
//!
//! The GDT layout `SYSCALL`/`SYSRET` require is in `gdt`; `STAR` names it,
//! `LSTAR` the entry, `FMASK` clears IF, DF, TF, AC and NT on `syscall`.
//! While the kernel runs, `GS_BASE` holds the per-CPU block ([`PerCpu`]) and
//! `KERNEL_GS_BASE` the user's GS base; `swapgs` exchanges them on every
//! crossing. `FS_BASE` always holds the current thread's FS base (the
//! kernel does not use FS); both are written only when the context to
//! resume has a different value (`wrmsr` is serialising). DS, ES, FS and
//! GS *selectors* are not part of the ABI-10 context and are neither saved
//! nor reset: a thread that loads one leaves it for the next thread to see
//! (a few bits of state; user mode can only load null or a user segment,
//! and in 64-bit mode neither changes what a DS or ES access means, while
//! an FS or GS load may change that base, which is then saved as the
//! thread's).
//!
//! # Floating point
//!
//! User mode runs with CR0.TS set: any x87, MMX, SSE or AVX instruction
//! raises #NM (vector 7), delivered like any other exception, so no vector
//! state exists to leak from one thread to the next. The kernel is
//! soft-float and never uses it.
//!
//! # Address spaces
//!
//! A VSpace is a PML4 whose entries 0..256 are the user's; entry 510 holds
//! the object core's (non-present) ASID record; the other upper-half
//! entries must be the kernel's, and [`activate`] copies them in from the
//! boot PML4 before loading `CR3`. There is no PCID yet: the ASID is
//! unused and every address-space switch flushes the user's translations.

use super::gdt::{KERNEL_CODE, KERNEL_DATA, USER_CODE, USER_DATA};
use super::trap_entry::{self, TrapFrame};
use super::{exceptions, timer};
use crate::memory::phys_to_virt;
use crate::user::{Context, Trap};
use abi::boot::layout::KERNEL_STACK_TOP;
use abi::context::{Layout, USER_TOP, x86_64 as regs};
use core::mem::offset_of;
use core::sync::atomic::AtomicU64;
use kernel_core::fault::Fault;
use kernel_core::object::tcb::MAX_CONTEXT_WORDS;
use spin::Once;
use x86_64::instructions::{interrupts, tlb};
use x86_64::registers::control::{Cr0, Cr0Flags, Cr2, Cr3, Cr3Flags};
use x86_64::registers::model_specific::{
    Efer, EferFlags, FsBase, GsBase, KernelGsBase, LStar, SFMask, Star,
};
use x86_64::registers::rflags::RFlags;
use x86_64::structures::paging::PhysFrame;
use x86_64::{PhysAddr, VirtAddr};

/// The register layout of the object core on this architecture.
pub const LAYOUT: Layout = Layout::X86_64;

const _: () = assert!(LAYOUT.words <= MAX_CONTEXT_WORDS);

// ABI-10 indices of the registers `abi::context::x86_64` does not name.
const RAX: usize = 3;
const RBX: usize = 4;
const RCX: usize = 5;
const RDX: usize = 6;
const RSI: usize = 7;
const RDI: usize = 8;
const RBP: usize = 9;
const R8: usize = 10;
const R9: usize = 11;
const R10: usize = 12;
const R11: usize = 13;
const R12: usize = 14;
const R13: usize = 15;
const R14: usize = 16;
const R15: usize = 17;

/// Whether ABI-10 calls register `index` `name`.
const fn named(index: usize, name: &str) -> bool {
    let (a, b) = (regs::NAMES[index].as_bytes(), name.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const _: () = assert!(
    named(regs::RIP, "rip")
        && named(regs::RSP, "rsp")
        && named(regs::RFLAGS, "rflags")
        && named(RAX, "rax")
        && named(RBX, "rbx")
        && named(RCX, "rcx")
        && named(RDX, "rdx")
        && named(RSI, "rsi")
        && named(RDI, "rdi")
        && named(RBP, "rbp")
        && named(R8, "r8")
        && named(R9, "r9")
        && named(R10, "r10")
        && named(R11, "r11")
        && named(R12, "r12")
        && named(R13, "r13")
        && named(R14, "r14")
        && named(R15, "r15")
        && named(regs::FS_BASE, "fs_base")
        && named(regs::GS_BASE, "gs_base")
);

// `sysretq` loads `rflags` from `r11 & 0x3C7FD7 | 2`: every sanitised
// value passes through unchanged, so `r11 == rflags` is all it takes.
const SYSRET_RFLAGS_MASK: u64 = 0x3C_7FD7;
const _: () = assert!((regs::USER_RFLAGS | regs::FORCED_RFLAGS) & !(SYSRET_RFLAGS_MASK | 2) == 0);

/// The per-CPU block: what the `syscall` entry needs before it has a stack.
/// `GS_BASE` holds its address while the kernel runs, `KERNEL_GS_BASE`
/// while user mode runs; the assembly reaches the fields as `%gs:offset`.
#[repr(C)]
pub struct PerCpu {
    /// Top of the kernel stack, where the entry builds its frame
    /// (`abi::boot::layout::KERNEL_STACK_TOP`, as the TSS's `rsp0`).
    kernel_rsp: AtomicU64,
    /// Scratch: the user's `rsp` between `syscall` and the frame.
    user_rsp: AtomicU64,
}

/// `%gs:` offset of [`PerCpu`]'s kernel stack top.
pub const PER_CPU_KERNEL_RSP: usize = offset_of!(PerCpu, kernel_rsp);
/// `%gs:` offset of [`PerCpu`]'s user `rsp` slot.
pub const PER_CPU_USER_RSP: usize = offset_of!(PerCpu, user_rsp);

/// One CPU, one block. Written only by the `syscall` entry (the user `rsp`
/// slot); the atomics make the static writable memory.
static PER_CPU: PerCpu = PerCpu {
    kernel_rsp: AtomicU64::new(KERNEL_STACK_TOP),
    user_rsp: AtomicU64::new(0),
};

/// Physical address of the boot PML4: the source of every VSpace's kernel
/// half, and the address space of a thread without one.
static BOOT_PML4: Once<u64> = Once::new();

/// PML4 entries of the kernel half.
const KERNEL_HALF: core::ops::Range<usize> = 256..512;
/// The PML4 entry in which the object core keeps a VSpace's ASID record.
const ASID_ENTRY: usize = 510;

/// Exceptions with an error code or meaning of their own.
const NMI: u64 = 2;
const DOUBLE_FAULT: u64 = 8;
const GENERAL_PROTECTION: u64 = 13;
const PAGE_FAULT: u64 = 14;
const MACHINE_CHECK: u64 = 18;
/// Page-fault error code bit: the access was an instruction fetch.
const PF_INSTRUCTION: u64 = 1 << 4;

/// Make user mode reachable: system-call MSRs, the per-CPU block, CR0.TS,
/// and the boot PML4 recorded as the source of the kernel half.
///
/// Runs once, after `arch::init` (the GDT with the user segments and the
/// TSS's `rsp0` are live since entry; the boot PML4's lower half must be
/// empty, which `arch::init` ensures), and before the first [`activate`].
pub fn init() {
    let (boot, _) = Cr3::read();
    let boot = boot.start_address().as_u64();
    // SAFETY: CR3 holds the live boot PML4, a page in RAM the direct map
    // covers; the kernel runs on one CPU and never forms a reference to
    // it, and the loader's tables are never freed.
    let pml4 = unsafe { Pml4::at(boot) };
    assert!(
        pml4.get(ASID_ENTRY) == 0,
        "boot PML4 entry {ASID_ENTRY} is in use, but VSpaces keep their ASID record there"
    );
    assert!(
        (0..KERNEL_HALF.start).all(|i| pml4.get(i) == 0),
        "boot PML4 still maps the lower half (arch::user::init before arch::init?)"
    );
    BOOT_PML4.call_once(|| boot);

    // In the kernel, GS_BASE is the per-CPU block; the first exit to user
    // mode swaps it into KERNEL_GS_BASE.
    GsBase::write(VirtAddr::from_ptr(&PER_CPU));
    KernelGsBase::write(VirtAddr::zero());
    FsBase::write(VirtAddr::zero());

    if let Err(e) = Star::write(USER_CODE, USER_DATA, KERNEL_CODE, KERNEL_DATA) {
        panic!("GDT layout unusable for SYSCALL/SYSRET: {e}");
    }
    LStar::write(trap_entry::syscall_entry_address());
    SFMask::write(
        RFlags::INTERRUPT_FLAG
            | RFlags::DIRECTION_FLAG
            | RFlags::TRAP_FLAG
            | RFlags::ALIGNMENT_CHECK
            | RFlags::NESTED_TASK,
    );
    // SAFETY: STAR, LSTAR and FMASK are set up above, so `syscall` enters
    // the kernel at its entry, on the kernel's segments, with interrupts
    // masked; no user code runs before `enter_user`.
    unsafe { Efer::update(|f| f.insert(EferFlags::SYSTEM_CALL_EXTENSIONS)) };
    // SAFETY: the kernel is soft-float and never executes an x87, MMX,
    // SSE or AVX instruction, so TS changes nothing for it; user mode
    // gets #NM for each.
    unsafe { Cr0::update(|f| f.insert(Cr0Flags::TASK_SWITCHED)) };

    log::info!(
        "user: syscall entry {:#x}; user CS {:#x} SS {:#x}; kernel stack top {KERNEL_STACK_TOP:#x}; CR0.TS set (user FP/SIMD raises #NM); boot PML4 {boot:#x}",
        trap_entry::syscall_entry_address().as_u64(),
        USER_CODE.0,
        USER_DATA.0,
    );
}

/// Make the address space whose PML4 is at physical `root` current; root 0
/// means none (the boot PML4, whose lower half is empty: every user access
/// faults).
///
/// The ASID is unused: without PCID, loading CR3 flushes the previous
/// address space's (non-global) translations, so tags have nothing to do.
pub fn activate(root: u64, _asid: u16) {
    let boot = boot_pml4();
    let root = if root == 0 { boot } else { root };
    let (current, _) = Cr3::read();
    if current.start_address().as_u64() == root {
        return;
    }
    if root != boot {
        share_kernel_half(boot, root);
    }
    let Ok(frame) = PhysFrame::from_start_address(PhysAddr::new(root)) else {
        panic!("VSpace root {root:#x} is not page-aligned");
    };
    // SAFETY: `root` is a PML4 whose upper half is now the kernel's (the
    // boot PML4's entries, or the boot PML4 itself), so the kernel's code,
    // stack, data and direct map stay mapped identically across the
    // switch; its lower half maps only user pages.
    unsafe { Cr3::write(frame, Cr3Flags::empty()) };
}

/// Drop every user translation: reload CR3. The loader maps the kernel
/// with global pages, which survive; were they not global, this would
/// flush the kernel's translations too (correct, only slower).
pub fn flush_user_tlb() {
    tlb::flush_all();
}

/// Make code the kernel wrote at `[start, start + len)` (through the
/// direct map) visible to instruction fetch: nothing to do on x86, whose
/// instruction fetch is coherent with stores to the same physical memory
/// (the self-modifying-code detection works on physical addresses), and
/// the code runs only after a change of privilege level.
pub fn sync_icache(_start: u64, _len: u64) {}

/// Leave the boot stack for user mode with the registers in `ctx` (the
/// current thread's, whose address space is current); never returns.
///
/// The kernel stack restarts at its top (nothing on it is live after
/// this); interrupts are masked until `iretq` loads the sanitised
/// `rflags`, which always have IF set.
pub fn enter_user(ctx: &Context) -> ! {
    interrupts::disable();
    let mut ctx = *ctx;
    let mut frame = TrapFrame {
        r15: 0,
        r14: 0,
        r13: 0,
        r12: 0,
        r11: 0,
        r10: 0,
        r9: 0,
        r8: 0,
        rbp: 0,
        rdi: 0,
        rsi: 0,
        rdx: 0,
        rcx: 0,
        rbx: 0,
        rax: 0,
        vector: 0,
        error_code: 0,
        rip: 0,
        cs: 0,
        rflags: 0,
        rsp: 0,
        ss: 0,
    };
    resume(&mut ctx, &mut frame, None);
    trap_entry::enter_user(&frame)
}

/// The `syscall` entry's Rust half: run the system call, leave the
/// context to resume in `frame` and the MSRs, and answer whether the
/// assembly may return with `sysretq` (else it uses `iretq`).
pub extern "C" fn syscall(frame: &mut TrapFrame) -> bool {
    // The frame's rip and rflags are the CPU's rcx and r11, and so are its
    // rcx and r11: the context shows both as the CPU left them.
    let mut ctx = context(frame);
    let live = bases(&ctx);
    crate::user::from_user(Trap::Syscall, &mut ctx);
    resume(&mut ctx, frame, Some(live));
    sysret_is_exact(frame)
}

/// Whether `sysretq` restores exactly the state `iretq` would from
/// `frame`, which [`resume`] has filled (user selectors, sanitised
/// `rflags`, `rip` below `USER_TOP`):
///
/// - `sysretq` takes `rip` from `rcx` and `rflags` from `r11`: both must
///   hold the frame's values (they do after a plain system call; not after
///   a switch to a thread that was interrupted, or whose registers were
///   written);
/// - `rip` must be canonical: on Intel CPUs `sysretq` with a non-canonical
///   `rcx` raises #GP while still at CPL 0 but after `rsp` is the user's —
///   the kernel would run its #GP handler on a user-chosen stack. Below
///   `USER_TOP` is canonical; [`resume`] guarantees it, this checks it
///   again where it matters;
/// - TF must be clear: `sysretq` with TF set traps right after it, before
///   the first user instruction, where `iretq` runs that instruction first
///   (and a `syscall` at such a `rip` would then loop).
///
/// CS and SS are the same either way (`STAR`), `sysretq` clears RF as the
/// sanitised `rflags` do, and it loads `r11` unchanged
/// (`SYSRET_RFLAGS_MASK`). The one difference left is that `sysretq` does
/// not end NMI blocking — and an NMI is fatal here anyway.
fn sysret_is_exact(frame: &TrapFrame) -> bool {
    frame.rcx == frame.rip
        && frame.r11 == frame.rflags
        && frame.rip < USER_TOP
        && frame.rflags & RFlags::TRAP_FLAG.bits() == 0
}

/// A CPU exception (vector 0–31) taken in user mode.
///
/// NMI, double fault and machine check are not the thread's doing (and a
/// double fault's saved CS is not even defined): they get the kernel's
/// fatal report. Every other exception is the thread's fault.
pub fn exception(frame: &mut TrapFrame) {
    let fault = match frame.vector {
        NMI | DOUBLE_FAULT | MACHINE_CHECK => exceptions::report(frame),
        PAGE_FAULT => Fault::Vm {
            address: Cr2::read_raw(),
            instruction: frame.error_code & PF_INSTRUCTION != 0,
            status: frame.error_code,
        },
        number => Fault::UserException {
            number,
            code: frame.error_code,
        },
    };
    enter(Trap::Fault(fault), frame);
}

/// The timer interrupt taken in user mode: count the tick and acknowledge
/// it as in the kernel, then let the object core run (time slices).
pub fn tick(frame: &mut TrapFrame) {
    timer::on_interrupt();
    enter(Trap::Tick, frame);
}

/// A device interrupt taken in user mode (already masked and ended, see
/// `idt::dispatch`): the object core signals the line's notification.
pub fn interrupt(frame: &mut TrapFrame, line: u64) {
    enter(Trap::Interrupt(line), frame);
}

/// An entry from user mode through a trap frame.
fn enter(trap: Trap, frame: &mut TrapFrame) {
    let mut ctx = context(frame);
    let live = bases(&ctx);
    crate::user::from_user(trap, &mut ctx);
    resume(&mut ctx, frame, Some(live));
}

/// The FS and GS bases of `ctx`.
fn bases(ctx: &Context) -> [u64; 2] {
    [ctx[regs::FS_BASE], ctx[regs::GS_BASE]]
}

/// The user registers in `frame` (plus the FS and GS bases, which are
/// only in their MSRs) as a context in ABI-10 order.
fn context(frame: &TrapFrame) -> Context {
    let mut ctx = [0; MAX_CONTEXT_WORDS];
    ctx[regs::RIP] = frame.rip;
    ctx[regs::RSP] = frame.rsp;
    ctx[regs::RFLAGS] = frame.rflags;
    ctx[RAX] = frame.rax;
    ctx[RBX] = frame.rbx;
    ctx[RCX] = frame.rcx;
    ctx[RDX] = frame.rdx;
    ctx[RSI] = frame.rsi;
    ctx[RDI] = frame.rdi;
    ctx[RBP] = frame.rbp;
    ctx[R8] = frame.r8;
    ctx[R9] = frame.r9;
    ctx[R10] = frame.r10;
    ctx[R11] = frame.r11;
    ctx[R12] = frame.r12;
    ctx[R13] = frame.r13;
    ctx[R14] = frame.r14;
    ctx[R15] = frame.r15;
    ctx[regs::FS_BASE] = FsBase::read().as_u64();
    // The entry's `swapgs` moved the user's GS base here.
    ctx[regs::GS_BASE] = KernelGsBase::read().as_u64();
    ctx
}

/// Make `ctx` loadable, then load it: registers into `frame` (with the
/// user selectors and sanitised `rflags`), FS base into `FS_BASE`, GS base
/// into `KERNEL_GS_BASE` (the exit's `swapgs` makes it live). `live` is
/// what those two MSRs hold now, if known: an equal value is not written
/// again.
fn resume(ctx: &mut Context, frame: &mut TrapFrame, live: Option<[u64; 2]>) {
    settle(ctx);
    frame.rip = ctx[regs::RIP];
    frame.rsp = ctx[regs::RSP];
    frame.rflags = regs::sanitise_rflags(ctx[regs::RFLAGS]);
    frame.cs = u64::from(USER_CODE.0);
    frame.ss = u64::from(USER_DATA.0);
    frame.rax = ctx[RAX];
    frame.rbx = ctx[RBX];
    frame.rcx = ctx[RCX];
    frame.rdx = ctx[RDX];
    frame.rsi = ctx[RSI];
    frame.rdi = ctx[RDI];
    frame.rbp = ctx[RBP];
    frame.r8 = ctx[R8];
    frame.r9 = ctx[R9];
    frame.r10 = ctx[R10];
    frame.r11 = ctx[R11];
    frame.r12 = ctx[R12];
    frame.r13 = ctx[R13];
    frame.r14 = ctx[R14];
    frame.r15 = ctx[R15];
    // Below USER_TOP (settled), so truncation changes nothing.
    let [fs, gs] = bases(ctx);
    if live.is_none_or(|[live_fs, _]| live_fs != fs) {
        FsBase::write(VirtAddr::new_truncate(fs));
    }
    if live.is_none_or(|[_, live_gs]| live_gs != gs) {
        KernelGsBase::write(VirtAddr::new_truncate(gs));
    }
}

/// While an address register of `ctx` (`rip`, `fs_base`, `gs_base`) is
/// not a user address, the thread takes #GP(0) instead of resuming.
///
/// The CPU cannot be given such a context: `iretq` and `sysretq` to a
/// non-canonical `rip` fault at CPL 0, and `wrmsr` of a non-canonical base
/// faults too. Written registers are checked (TCB-5), so only one case
/// arises: a `syscall` occupying the last two bytes below `USER_TOP`,
/// whose return address is `USER_TOP` itself. The thread sees what a
/// jump there would give it: a general-protection fault at that address.
fn settle(ctx: &mut Context) {
    while !regs::ADDRESS_REGISTERS
        .iter()
        .all(|&i| regs::acceptable(i, ctx[i]))
    {
        let fault = Fault::UserException {
            number: GENERAL_PROTECTION,
            code: 0,
        };
        crate::user::from_user(Trap::Fault(fault), ctx);
    }
}

fn boot_pml4() -> u64 {
    match BOOT_PML4.get() {
        Some(&boot) => boot,
        None => panic!("arch::user::activate before arch::user::init"),
    }
}

/// Give the VSpace PML4 at `root` the kernel half of the boot PML4 (all
/// of entries 256..512 but the ASID record in 510), unless it has it.
///
/// The kernel's upper-half PML4 entries never change after boot (the
/// loader builds them; the kernel adds no top-level entries, and what
/// changes below them is shared), so two entries, one from each end, tell
/// whether the copy was made.
fn share_kernel_half(boot: u64, root: u64) {
    // SAFETY: `boot` is the boot PML4 (recorded by `init`) and `root` a
    // VSpace PML4 handed over by the object core: both are pages of RAM
    // in the direct map, distinct, and nothing holds a reference to either
    // while the kernel runs this (one CPU, no preemption).
    let (src, mut dst) = unsafe { (Pml4::at(boot), Pml4::at(root)) };
    let (first, last) = (KERNEL_HALF.start, KERNEL_HALF.end - 1);
    if dst.get(first) == src.get(first) && dst.get(last) == src.get(last) {
        return;
    }
    for i in KERNEL_HALF.filter(|&i| i != ASID_ENTRY) {
        dst.set(i, src.get(i));
    }
}

/// A PML4 reached through the direct map, one entry at a time: its memory
/// belongs to the object core (or the loader), so no Rust reference to it
/// is ever formed here.
struct Pml4(*mut u64);

impl Pml4 {
    /// # Safety
    ///
    /// `phys` is the page-aligned physical address of a page-table page in
    /// RAM covered by the direct map, and while the returned value is used
    /// nothing else accesses that page except through such values.
    unsafe fn at(phys: u64) -> Self {
        Self(phys_to_virt(phys) as *mut u64)
    }

    fn get(&self, index: usize) -> u64 {
        assert!(index < 512);
        // SAFETY: `at`'s contract: a mapped, aligned page of 512 entries,
        // accessed by nothing else meanwhile; `index` is in it.
        unsafe { self.0.add(index).read() }
    }

    fn set(&mut self, index: usize, value: u64) {
        assert!(index < 512);
        // SAFETY: as in `get`.
        unsafe { self.0.add(index).write(value) }
    }
}
