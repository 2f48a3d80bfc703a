//! The checking kernel (cargo feature `check`, which the boot tests boot):
//! live invariant checking.
//!
//! After every entry from user mode ([`after_entry`], called by
//! `user::from_user` right after `Kernel::entry`) the live kernel state is
//! projected onto the spec's abstract state (`kernel_core::project`, spec:
//! TP-1) and every checker of `spec::invariants::CHECKERS` runs on it,
//! with INV-36's boot part (`inv_36_boot`) and, as the refinement suite
//! does after every step, the transition checkers of `spec::transitions`
//! (TP-6, TP-7) on the states before and after the entry. A violation
//! panics naming the rule and what was found; the panic handler reports
//! it as `KERNEL PANIC` and stops the machine with a failure status.
//!
//! The same checks run right after the object core's boot — where the
//! projection must also equal the spec's boot state (`Model::boot`, spec:
//! ST-10) — and once the root task is built, before user mode is entered.
//!
//! What is scanned: the projection is seeded with the root TCB and the
//! root CNode and follows every CNode and TCB capability from there
//! (`project` module comment), so every object reachable from the root's
//! CSpace is seen. Those two seeds are always safe to scan: they live in
//! the boot block, which is never handed out as untyped, so their memory
//! is never reused for anything else (after a deletion their slots are
//! empty). Threads the state names (current, ready, queued, awaiting a
//! reply) but no seed leads to — islands, such as a thread whose only
//! capabilities lie in its own CSpace — are added as seeds until the
//! projection settles, as the refinement suite adds the model's objects.
//! Only the kernel's own references lead there; a stale one is scanned as
//! the kernel would use it and shows up as a broken state (a dangling
//! reference, INV-9, or a state that does not project).
//!
//! Command line: `check.every=N` (default 1) checks only every N-th entry
//! (the transition checkers then compare the state before that entry with
//! the state after it, each projected afresh); `test.check=corrupt`
//! corrupts one derivation link once the root task is built, so that the
//! first entry's check fails (the boot test `check-corrupt`).
//!
//! The kernel has no heap; the projection and the checkers need one
//! (`spec` is `no_std + alloc`). [`HEAP`] is the global allocator, over a
//! static region in `.bss`, and may be used only while a check runs:
//! anything else that allocates panics, as does exhaustion.

use crate::cmdline::CommandLine;
use crate::phys::PhysMemory;
use abi::boot::{BootInfo, MemoryKind};
use abi::ipc_buffer::IpcBuffer;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::alloc::{GlobalAlloc, Layout};
use core::fmt::Debug;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use kernel_core::kernel::{BootSpec, Entry, Kernel, cnode_slot};
use kernel_core::mem::Memory;
use kernel_core::object::tcb;
use kernel_core::project::{self, Container, FrameData};
use kernel_core::slot::{RawSlot, SLOT_SIZE};
use spec::entry::{Arch, BootConfig};
use spec::invariants::{self, Violation, ZeroOracle};
use spec::model::Model;
use spec::state::{Cap, EndpointState, NotificationState, Object, State};
use spin::Mutex;

// ----- the checker's heap -------------------------------------------------

/// Size of the checker's heap. Measured high-water mark (the span of the
/// region ever handed out, logged at halt) with the current root task
/// (4096-slot root CNode, ~110 capabilities, ~30 objects): 145 KiB on
/// x86_64, 122 KiB on aarch64 — two projected states live at once (before
/// and after an entry) plus the checkers' temporaries. A state grows by
/// roughly 150 bytes per capability, so 4 MiB leaves room for the in-guest
/// suites' thousands of objects; exhaustion panics, naming this heap.
const HEAP_SIZE: usize = 4 << 20;

/// The heap's memory. Zero-initialised, so it lies in `.bss` and costs
/// nothing in the kernel file.
#[repr(C, align(4096))]
struct HeapRegion([u8; HEAP_SIZE]);

static mut HEAP_REGION: HeapRegion = HeapRegion([0; HEAP_SIZE]);

/// The global allocator: `talc` (crates.io, maintained, `no_std`, builds
/// for both bare-metal targets) over [`HEAP_REGION`], behind a spin lock
/// (one CPU, interrupts masked in the kernel: never contended, but
/// `GlobalAlloc` needs `Sync`). Chosen over `linked_list_allocator`,
/// whose first-fit search and sorted free list are linear in the number
/// of free blocks: a check makes tens of thousands of small allocations
/// (B-tree nodes) and frees them in any order, which talc's segregated
/// free lists serve in constant time — it matters under QEMU's TCG. The
/// wrapper adds what a kernel needs: exhaustion and use outside a check
/// panic with a clear message instead of returning null, and it keeps the
/// high-water mark for the report.
#[global_allocator]
static HEAP: CheckerHeap = CheckerHeap {
    talc: talc::TalcLock::new(
        // SAFETY: Talc's claim contract: the region is valid for reads and
        // writes for the kernel's whole life (a static), and nothing but
        // this allocator ever touches it — `HEAP_REGION` is named only
        // here.
        unsafe { talc::source::Claim::new((&raw mut HEAP_REGION).cast(), HEAP_SIZE) },
    ),
};

struct CheckerHeap {
    talc: talc::TalcLock<spin::mutex::SpinMutex<()>, talc::source::Claim>,
}

/// Whether a check is running (the only time the heap may be used).
static IN_CHECK: AtomicBool = AtomicBool::new(false);
/// Bytes allocated now, and at most.
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// The lowest address and highest end ever handed out: their distance is
/// the part of the region ever used (what `HEAP_SIZE` must cover).
static LOWEST: AtomicUsize = AtomicUsize::new(usize::MAX);
static HIGHEST: AtomicUsize = AtomicUsize::new(0);

impl CheckerHeap {
    fn account(&self, p: *mut u8, old: usize, new: usize, what: Layout) {
        if p.is_null() {
            // Panicking here unwinds nothing: both kernel targets abort on
            // panic, and the panic handler stops the machine without
            // allocating. No allocator state is left half-changed (talc
            // returned; its lock is released).
            panic!(
                "checking kernel: checker heap exhausted ({} bytes requested, {} of {} in use)",
                what.size(),
                LIVE.load(Ordering::Relaxed),
                HEAP_SIZE
            );
        }
        let live = LIVE.load(Ordering::Relaxed) + new - old;
        LIVE.store(live, Ordering::Relaxed);
        PEAK.fetch_max(live, Ordering::Relaxed);
        LOWEST.fetch_min(p as usize, Ordering::Relaxed);
        HIGHEST.fetch_max(p as usize + new, Ordering::Relaxed);
    }
}

fn outside_check() -> ! {
    panic!("checking kernel: the checker heap was used outside a check")
}

// SAFETY: every method forwards to talc's `GlobalAlloc` under the same
// contract and returns what it returned (or panics instead of returning
// null); the bookkeeping touches only atomics.
unsafe impl GlobalAlloc for CheckerHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !IN_CHECK.load(Ordering::Relaxed) {
            outside_check();
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        let p = unsafe { self.talc.alloc(layout) };
        self.account(p, 0, layout.size(), layout);
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !IN_CHECK.load(Ordering::Relaxed) {
            outside_check();
        }
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract;
        // `ptr` came from this allocator, which is talc.
        unsafe { self.talc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !IN_CHECK.load(Ordering::Relaxed) {
            outside_check();
        }
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let p = unsafe { self.talc.realloc(ptr, layout, new_size) };
        self.account(p, layout.size(), new_size, layout);
        p
    }
}

/// Marks a check as running while it lives.
struct InCheck;

impl InCheck {
    fn enter() -> InCheck {
        IN_CHECK.store(true, Ordering::Relaxed);
        InCheck
    }
}

impl Drop for InCheck {
    fn drop(&mut self) {
        IN_CHECK.store(false, Ordering::Relaxed);
    }
}

// ----- the checker --------------------------------------------------------

// ----- INV-6: memory known to be zero --------------------------------------

/// Page size of the known-zero map.
const PAGE: u64 = 4096;
/// Physical memory below this is tracked by the known-zero map; pages
/// above are scanned on every check (correct, only slower).
const TRACKED: u64 = 16 << 30;

/// The known-zero map: bit `p` is set when page `p` was found zero by a
/// check and nothing can have written it since. INV-6 asks whether every
/// free byte of every untyped above its watermark is zero — all of RAM,
/// nearly: scanning 500 MiB takes 100 ms under QEMU's TCG, ten timer ticks,
/// so checking after every entry would livelock on tick entries. With the
/// map, a check scans only the pages that may have changed; the answer is
/// the same as a full scan's, because every write to RAM clears bits first:
///
/// - the kernel writes only through `PhysMemory::bytes_mut` (the object
///   core's `Memory`), which calls [`written`];
/// - user mode and the architecture layer (`activate` writes a VSpace's
///   upper half) write only into live objects — mapped frames (INV-32),
///   the current VSpace — and every check clears the bits of every live
///   object's pages ([`forget_objects`]) before it asks INV-6. An object
///   is live at a check before user mode or `activate` can write it, so
///   its pages stay unknown until a later check finds them zero again
///   above a watermark.
///
/// (With `check.every=N` an object can live and die between two checks;
/// the map then trusts the untyped reset that zeroed it, UT-10, through
/// `PhysMemory`.) 512 KiB of `.bss`.
static KNOWN_ZERO: [AtomicU64; (TRACKED / PAGE / 64) as usize] =
    [const { AtomicU64::new(0) }; (TRACKED / PAGE / 64) as usize];

/// Pages `[first, end)` (page numbers below the tracked limit).
fn pages(base: u64, len: u64) -> core::ops::Range<u64> {
    // Empty when `base` lies above the limit.
    base / PAGE..base.saturating_add(len).min(TRACKED).div_ceil(PAGE)
}

fn forget(base: u64, len: u64) {
    for p in pages(base, len) {
        KNOWN_ZERO[(p / 64) as usize].fetch_and(!(1 << (p % 64)), Ordering::Relaxed);
    }
}

/// `PhysMemory::bytes_mut` lends `[pa, pa + len)` for writing: forget
/// that its pages were zero.
pub fn written(pa: u64, len: u64) {
    if len > 0 {
        forget(pa, len);
    }
}

/// Forget the pages of every live object of `s`: user mode and the
/// architecture layer write them without `PhysMemory`.
fn forget_objects(s: &State) {
    for (&a, o) in &s.objects {
        forget(a, 1 << o.size_bits().min(63));
    }
}

fn known(p: u64) -> bool {
    p < TRACKED / PAGE
        && KNOWN_ZERO[(p / 64) as usize].load(Ordering::Relaxed) & (1 << (p % 64)) != 0
}

/// INV-6's oracle: the real memory, through the direct map and the
/// known-zero map.
struct PhysZero<'a>(&'a PhysMemory);

impl ZeroOracle for PhysZero<'_> {
    fn is_zero(&self, base: u64, len: u64) -> bool {
        let end = base.saturating_add(len);
        let mut at = base;
        while at < end {
            let p = at / PAGE;
            // 64 known pages at once.
            if p.is_multiple_of(64)
                && at.is_multiple_of(PAGE)
                && at + 64 * PAGE <= end
                && p < TRACKED / PAGE
                && KNOWN_ZERO[(p / 64) as usize].load(Ordering::Relaxed) == u64::MAX
            {
                at += 64 * PAGE;
                continue;
            }
            let next = ((p + 1) * PAGE).min(end);
            let whole = at.is_multiple_of(PAGE) && next - at == PAGE;
            if whole && known(p) {
                at = next;
                continue;
            }
            if !self.0.is_zero(at, next - at) {
                return false;
            }
            if whole && p < TRACKED / PAGE {
                KNOWN_ZERO[(p / 64) as usize].fetch_or(1 << (p % 64), Ordering::Relaxed);
            }
            at = next;
        }
        true
    }
}

/// The checker's state.
struct Checker {
    /// Check every `every`-th entry (`check.every=N`).
    every: u64,
    /// Entries run, and checked.
    entries: u64,
    checked: u64,
    /// Time spent checking after entries (projecting, in all), and the
    /// slowest check.
    project_ns: u64,
    total_ns: u64,
    slowest_ns: u64,
    /// The projection's seeds (see the module comment).
    seeds: [Container; 2],
    /// The boot configuration (for INV-36's boot part).
    boot: BootConfig,
    /// The state before the entry being run, when it is checked.
    before: Option<State>,
    /// The state after the last entry, if that entry was checked: the
    /// next entry's state before, once the user's changes are added.
    last: Option<State>,
    /// `test.check=corrupt` was asked for.
    corrupt: bool,
}

static CHECKER: Mutex<Option<Checker>> = Mutex::new(None);

impl Checker {
    /// The live state, projected (spec: TP-1). A state that does not
    /// project is as broken as one that breaks an invariant.
    fn project(&self, k: &Kernel<PhysMemory>, when: &When) -> State {
        let mut seeds = self.seeds.to_vec();
        for _round in 0..64 {
            let mut s =
                match project::project_with(k, &seeds, &self.boot.kernel_memory, FrameData::None) {
                    Ok(s) => s,
                    Err(e) => panic!(
                        "checking kernel: {when}: the state does not project (spec: TP-1): {}",
                        e.0
                    ),
                };
            // Islands: a thread whose every capability lies in slots no
            // seed leads to (say, only in its own CSpace) is still one the
            // kernel runs or queues. Scan the threads the state names
            // but does not hold, as the refinement suite seeds the
            // model's objects (see the module comment).
            let islands: Vec<u64> = named_threads(&s)
                .filter(|t| !matches!(s.objects.get(t), Some(Object::Tcb(_))))
                .filter(|&t| !seeds.contains(&Container::Tcb(t)))
                .collect();
            if islands.is_empty() {
                ipc_buffers(&mut s, &k.mem);
                return s;
            }
            seeds.extend(islands.into_iter().map(Container::Tcb));
        }
        panic!("checking kernel: {when}: the projection does not settle on its seeds")
    }

    /// Every invariant of `s`, and the transition properties from
    /// `before` if given; panics naming each broken rule.
    fn check(&self, k: &Kernel<PhysMemory>, before: Option<&State>, s: &State, when: &When) {
        forget_objects(s);
        let mut broken = invariants::check_all(s, &PhysZero(&k.mem));
        broken.extend(invariants::inv_36_boot(s, &self.boot).err());
        if let Err((line, state, masked)) = crate::irq::controller_agrees(k) {
            broken.push(Violation {
                rule: "INV-36",
                detail: format!(
                    "line {line} is {} at the interrupt controller in state {state}",
                    if masked { "masked" } else { "unmasked" }
                ),
            });
        }
        if let Some(b) = before {
            broken.extend(spec::transitions::check_all(b, s, k.layout));
        }
        if !broken.is_empty() {
            panic!(
                "checking kernel: {when}: invariant violated: {}",
                list(&broken)
            );
        }
    }
}

/// Every thread `s` names: current, ready, queued, bound, awaiting a
/// reply.
fn named_threads(s: &State) -> impl Iterator<Item = u64> + '_ {
    let queued = s.objects.values().flat_map(|o| {
        let (q, bound): (&[u64], Option<u64>) = match o {
            Object::Endpoint(EndpointState::Sending(q) | EndpointState::Receiving(q)) => (q, None),
            Object::Notification(n) => match &n.state {
                NotificationState::Waiting(q) => (q, n.bound_tcb),
                _ => (&[], n.bound_tcb),
            },
            _ => (&[], None),
        };
        q.iter().copied().chain(bound)
    });
    let callers = s.slots.values().filter_map(|x| match x.cap {
        Cap::Reply { caller, .. } => Some(caller),
        _ => None,
    });
    s.current
        .into_iter()
        .chain(s.ready.values().flatten().copied())
        .chain(queued)
        .chain(callers)
}

fn list(v: &[Violation]) -> String {
    v.iter()
        .map(|x| format!("{}: {}", x.rule, x.detail))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Replace `s.frame_data` by the words of every thread's IPC buffer, all
/// the transition checkers read of frame contents (TP-7, MSG-5).
fn ipc_buffers(s: &mut State, m: &PhysMemory) {
    s.frame_data.clear();
    let buffers: Vec<u64> = s
        .objects
        .iter()
        .filter(|(_, o)| matches!(o, Object::Tcb(_)))
        .filter_map(|(&t, _)| s.ipc_buffer(t))
        .collect();
    for b in buffers {
        let bytes = m.bytes(b, size_of::<IpcBuffer>());
        for (i, w) in bytes.chunks_exact(8).enumerate() {
            let mut word = [0; 8];
            word.copy_from_slice(w);
            let w = u64::from_le_bytes(word);
            if w != 0 {
                s.frame_data.insert(b + 8 * i as u64, w);
            }
        }
    }
}

/// When a check runs, for the panic message.
enum When {
    KernelBoot,
    RootTaskBuilt,
    BeforeEntry(u64),
    Entry(u64, Entry),
}

impl core::fmt::Display for When {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            When::KernelBoot => write!(f, "after the object core's boot"),
            When::RootTaskBuilt => write!(f, "after building the root task"),
            When::BeforeEntry(n) => write!(f, "before entry {n}"),
            When::Entry(n, e) => write!(f, "after entry {n} ({e:?})"),
        }
    }
}

/// Right after the object core's boot (`root_task::build`): set up the
/// checker, then check that the projected state is the spec's boot state
/// for the same configuration (spec: ST-10) and every invariant holds.
pub fn kernel_booted(k: &Kernel<PhysMemory>, spec: &BootSpec, bi: &BootInfo) {
    let cmdline = CommandLine::new(bi.cmdline());
    let every = match cmdline.get("check.every").map(str::parse::<u64>) {
        None => 1,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => panic!("checking kernel: check.every wants a positive number"),
    };
    let _heap = InCheck::enter();
    let t0 = crate::arch::now_ns();
    // The kernel's own memory (spec: INV-2): its image, the boot modules,
    // what the loader allocated for it, and the IRQ table.
    let mut kernel_memory: Vec<(u64, u64)> = bi
        .memory()
        .iter()
        .filter(|r| {
            matches!(
                r.kind(),
                MemoryKind::Kernel | MemoryKind::BootModules | MemoryKind::BootData
            )
        })
        .map(|r| (r.start, r.len))
        .collect();
    kernel_memory.push((spec.irq_slots, abi::irq::IRQ_LINES * SLOT_SIZE));
    let boot = BootConfig {
        arch: if k.layout == abi::context::Layout::X86_64 {
            Arch::X86_64
        } else {
            Arch::Aarch64
        },
        root_ipc_buffer: spec.root_ipc_buffer,
        root_boot_info: spec.root_boot_info,
        root_vspace: spec.root_vspace,
        root_asid_pool: spec.root_asid_pool,
        irq_lines: spec.irq_lines,
        reserved_irqs: spec.reserved_irqs.to_vec(),
        root_ipc_buffer_vaddr: spec.root_ipc_buffer_vaddr,
        root_tcb: spec.root_tcb,
        root_cnode: spec.root_cnode,
        root_radix: u32::from(spec.root_radix),
        untypeds: spec
            .untypeds
            .iter()
            .map(|u| spec::entry::BootUntyped {
                base: u.base,
                size_bits: u32::from(u.size_bits),
                device: u.device,
            })
            .collect(),
        kernel_memory,
    };
    let c = Checker {
        every,
        entries: 0,
        checked: 0,
        project_ns: 0,
        total_ns: 0,
        slowest_ns: 0,
        seeds: [
            Container::Tcb(spec.root_tcb),
            Container::CNode {
                obj: spec.root_cnode,
                radix: spec.root_radix,
            },
        ],
        boot,
        before: None,
        last: None,
        corrupt: cmdline.is("test.check", "corrupt"),
    };
    let s = c.project(k, &When::KernelBoot);
    // spec: ST-10 — the boot state, exactly (TP-1 at boot).
    let model = Model::boot(&c.boot);
    if let Some(d) = first_difference(&s, &model.state) {
        panic!("checking kernel: the boot state is not the spec's (spec: ST-10, TP-1): {d}");
    }
    c.check(k, None, &s, &When::KernelBoot);
    drop(s);
    log::info!(
        "check: checking kernel: invariants checked after {}; boot state is ST-10's ({} ms)",
        if every == 1 {
            String::from("every entry")
        } else {
            format!("one entry in {every}")
        },
        (crate::arch::now_ns() - t0) / 1_000_000
    );
    *CHECKER.lock() = Some(c);
}

/// Once the root task is built, before user mode: check every invariant;
/// then run the `test.check=corrupt` self test if asked for.
pub fn root_task_built(k: &mut Kernel<PhysMemory>) {
    let mut g = CHECKER.lock();
    let Some(c) = g.as_mut() else {
        panic!("checking kernel: the checker was not set up at boot");
    };
    let _heap = InCheck::enter();
    let t0 = crate::arch::now_ns();
    let s = c.project(k, &When::RootTaskBuilt);
    c.check(k, None, &s, &When::RootTaskBuilt);
    log::info!(
        "check: root task built: {} objects, {} capabilities, invariants hold ({} ms)",
        s.objects.len(),
        s.slots.len(),
        (crate::arch::now_ns() - t0) / 1_000_000
    );
    c.last = Some(s);
    if c.corrupt {
        corrupt(k, &c.seeds);
        // The state changed behind the checker's back: project afresh.
        c.last = None;
    }
}

/// The `test.check=corrupt` self test: point the last untyped
/// capability's first-child link at the root CNode's last slot, which is
/// empty — a broken derivation tree (spec: INV-17), in a slot and a
/// capability no system call of the root task's first ones touches, so
/// the check after the first entry must report it.
fn corrupt(k: &mut Kernel<PhysMemory>, seeds: &[Container; 2]) {
    let Container::CNode { obj: cnode, radix } = seeds[1] else {
        unreachable!("seed 1 is the root CNode")
    };
    let last_untyped = (0..1u64 << radix)
        .rev()
        .map(|i| cnode_slot(cnode, i))
        .find(|&a| {
            matches!(
                kernel_core::slot::cap(&k.mem, a),
                kernel_core::cap::Cap::Untyped { .. }
            )
        });
    let Some(victim) = last_untyped else {
        panic!("selftest: no untyped capability to corrupt");
    };
    let target = cnode_slot(cnode, (1 << radix) - 1);
    // The packed links (`slot::Links`): the first child's slot number
    // (address / 32) sits in bits 20.. of the second word.
    let raw = kernel_core::mem::get_mut::<RawSlot>(&mut k.mem, victim);
    raw.links[1] = (raw.links[1] & ((1 << 20) - 1)) | (target / SLOT_SIZE) << 20;
    log::warn!(
        "selftest: corrupted the derivation link of slot {victim:#x} (its first child is now \
         empty slot {target:#x}); the next check must fail"
    );
}

/// Whether entries of this kind are checked: system calls and faults — the
/// entries user space causes — but not timer ticks and interrupts. Under
/// emulation a check can take longer than a tick period, so checking after
/// ticks would check tick after tick and never let user mode run; a tick
/// only moves the current thread in the ready queues, which the next
/// checked entry's state covers (its before-state is then projected
/// afresh).
fn checked(entry: Entry) -> bool {
    matches!(entry, Entry::Syscall | Entry::Exception(_))
}

/// Before `Kernel::entry`, the user's registers already saved in the
/// current TCB: keep the state before the entry if it will be checked.
pub fn before_entry(k: &Kernel<PhysMemory>, entry: Entry) {
    let mut g = CHECKER.lock();
    let Some(c) = g.as_mut() else { return };
    let n = c.entries + 1;
    let _heap = InCheck::enter();
    if !checked(entry) || !n.is_multiple_of(c.every) {
        c.last = None;
        return;
    }
    c.before = Some(match c.last.take() {
        // The state after the previous entry is the state before this
        // one, but for what user mode changed since: the current thread's
        // registers (saved into its TCB just now) and the contents of
        // user-writable frames, of which the projection keeps only the
        // IPC buffers. Nothing else is writable from user mode.
        Some(mut s) => {
            if let Some(cur) = s.current
                && let Some(Object::Tcb(t)) = s.objects.get_mut(&cur)
            {
                t.context.clear();
                t.context
                    .extend_from_slice(&tcb::tcb(&k.mem, cur).context[..k.layout.words]);
            }
            ipc_buffers(&mut s, &k.mem);
            s
        }
        None => c.project(k, &When::BeforeEntry(n)),
    });
}

/// After `Kernel::entry`: check the state (every `every`-th entry).
pub fn after_entry(k: &Kernel<PhysMemory>, entry: Entry) {
    let mut g = CHECKER.lock();
    let Some(c) = g.as_mut() else { return };
    c.entries += 1;
    if !checked(entry) || !c.entries.is_multiple_of(c.every) {
        return;
    }
    let _heap = InCheck::enter();
    let t0 = crate::arch::now_ns();
    let when = When::Entry(c.entries, entry);
    let s = c.project(k, &when);
    c.project_ns += crate::arch::now_ns() - t0;
    let before = c.before.take();
    c.check(k, before.as_ref(), &s, &when);
    drop(before);
    c.last = Some(s);
    let dt = crate::arch::now_ns() - t0;
    c.checked += 1;
    c.total_ns += dt;
    c.slowest_ns = c.slowest_ns.max(dt);
}

/// At halt: how many entries were checked, and at what cost.
pub fn report() {
    let g = CHECKER.lock();
    let Some(c) = g.as_ref() else { return };
    let low = LOWEST.load(Ordering::Relaxed);
    let span = HIGHEST.load(Ordering::Relaxed).saturating_sub(low);
    log::info!(
        "check: {} entries checked, 0 violations (of {} entries, check.every={}; \
         per check: mean {} us ({} us projecting), slowest {} us; \
         heap: {} KiB used of {} KiB, {} KiB at most live)",
        c.checked,
        c.entries,
        c.every,
        c.total_ns / c.checked.max(1) / 1000,
        c.project_ns / c.checked.max(1) / 1000,
        c.slowest_ns / 1000,
        span.div_ceil(1024),
        HEAP_SIZE / 1024,
        PEAK.load(Ordering::Relaxed).div_ceil(1024)
    );
}

/// The first place where `kernel` and `spec` differ, if any.
fn first_difference(kernel: &State, spec: &State) -> Option<String> {
    fn maps<K: Ord + Debug, V: PartialEq + Debug>(
        name: &str,
        a: &BTreeMap<K, V>,
        b: &BTreeMap<K, V>,
    ) -> Option<String> {
        for (key, v) in a {
            match b.get(key) {
                Some(w) if w == v => {}
                w => return Some(format!("{name}[{key:?}]: kernel {v:?}, spec {w:?}")),
            }
        }
        b.iter()
            .find(|(key, _)| !a.contains_key(key))
            .map(|(key, w)| format!("{name}[{key:?}]: kernel none, spec {w:?}"))
    }
    fn field<T: PartialEq + Debug>(name: &str, a: &T, b: &T) -> Option<String> {
        (a != b).then(|| format!("{name}: kernel {a:?}, spec {b:?}"))
    }
    maps("objects", &kernel.objects, &spec.objects)
        .or_else(|| maps("slots", &kernel.slots, &spec.slots))
        .or_else(|| field("current", &kernel.current, &spec.current))
        .or_else(|| {
            field(
                "pending_delete",
                &kernel.pending_delete,
                &spec.pending_delete,
            )
        })
        .or_else(|| maps("ready", &kernel.ready, &spec.ready))
        .or_else(|| maps("asid_table", &kernel.asid_table, &spec.asid_table))
        .or_else(|| maps("irq", &kernel.irq, &spec.irq))
        .or_else(|| maps("frame_data", &kernel.frame_data, &spec.frame_data))
        .or_else(|| field("kernel_memory", &kernel.kernel_memory, &spec.kernel_memory))
}
