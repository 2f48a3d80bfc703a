//! The user-mode boundary: the portable object core (`kernel_core`) wired
//! to the machine.
//!
//! Every entry from user mode arrives here through the architecture's trap
//! path ([`from_user`]) with the user registers already converted to the
//! ABI-10 order of `abi::context` (a [`Context`]). This module stores them
//! in the current TCB, runs [`Kernel::entry`] — the same code the host
//! refinement suite runs — and hands back the registers of whatever
//! thread is current afterwards, having told the architecture which
//! address space to make current. The kernel is not preemptible: an entry
//! runs to completion with interrupts masked.
//!
//! The architecture provides, in `arch::user`:
//!
//! | item | meaning |
//! |---|---|
//! | `LAYOUT: abi::context::Layout` | the register layout of the core |
//! | `init()` | make user mode reachable (system-call MSRs, user segments, kernel stack for traps from user mode; aarch64: lower-half walks with ASIDs) |
//! | `activate(root, asid)` | make the address space whose top-level table is at physical `root`, tagged `asid`, the current user address space; `(0, 0)`: none (every user access faults) |
//! | `flush_user_tlb()` | drop every user translation (after an invocation that may have changed a mapping) |
//! | `sync_icache(va, len)` | make code the kernel wrote through the direct map at `va` visible to instruction fetch |
//! | `enter_user(&Context) -> !` | leave the boot stack for user mode, the first time |
//!
//! and calls [`from_user`] on every system call, exception, timer tick and
//! device interrupt taken from user mode.

use crate::arch;
use crate::phys::PhysMemory;
use abi::boot::BootInfo;
use abi::exit::ExitStatus;
use abi::invocation::{Label, TcbSlot};
use abi::msginfo::MessageInfo;
use abi::syscall::{Syscall, debug};
use abi::vm::{ROOT_ASID, VmAttributes};
use kernel_core::cap::Cap;
use kernel_core::fault::Fault;
use kernel_core::kernel::{Entry, Kernel};
use kernel_core::object::tcb::{self, MAX_CONTEXT_WORDS, ThreadState};
use spin::Mutex;

/// The kernel state, once the root task is built.
static KERNEL: Mutex<Option<Kernel<PhysMemory>>> = Mutex::new(None);

/// A user register set in ABI-10 order (`abi::context`); the first
/// `LAYOUT.words` words are used.
pub type Context = [u64; MAX_CONTEXT_WORDS];

/// Why the CPU left user mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trap {
    /// The system-call instruction (`syscall`, `svc #0`).
    Syscall,
    /// A processor exception: `Fault::Vm` for translation and permission
    /// faults, `Fault::UserException` for every other exception.
    Fault(Fault),
    /// The periodic timer (after `time::on_tick` counted it).
    Tick,
    /// A device interrupt on this line (already masked at the controller,
    /// see `crate::irq`).
    Interrupt(u64),
}

/// An entry from user mode: `ctx` holds the interrupted thread's
/// registers; on return it holds the registers to resume with, and the
/// address space of the thread they belong to is current.
pub fn from_user(trap: Trap, ctx: &mut Context) {
    let mut guard = KERNEL.lock();
    let Some(k) = guard.as_mut() else {
        panic!("entry from user mode before the root task was built");
    };
    let l = k.layout;
    if trap == Trap::Syscall && debug_call(ctx, &l) {
        return;
    }
    let current = k.current;
    if current != 0 {
        save(k, current, trap, ctx);
    }
    let after = if trap == Trap::Syscall && current != 0 {
        after(k, current, ctx)
    } else {
        After::default()
    };
    let entry = match trap {
        Trap::Syscall => Entry::Syscall,
        Trap::Fault(f) => Entry::Exception(f),
        Trap::Tick => Entry::Tick,
        Trap::Interrupt(line) => Entry::Interrupt(line),
    };
    run(k, entry);
    if k.current == 0 {
        log::debug!("idle: no runnable thread; waiting for an interrupt");
        // Only a device interrupt can make a thread runnable now: wait
        // for one (the timer still ticks), and hand each line taken
        // meanwhile to the core (spec: IRQ-8).
        loop {
            while let Some(line) = crate::irq::take_deferred() {
                if let Some(k) = guard.as_mut() {
                    run(k, Entry::Interrupt(line));
                }
            }
            if guard.as_ref().is_none_or(|k| k.current != 0) {
                break;
            }
            drop(guard);
            arch::wait_for_interrupt();
            guard = KERNEL.lock();
        }
    }
    let limit = match guard.as_mut() {
        Some(k) => {
            resume(k, ctx);
            k.mem.limit()
        }
        None => unreachable!("the kernel state is never removed"),
    };
    // Code written through a data mapping becomes visible to instruction
    // fetch before it can run from the executable mapping (aarch64 without
    // coherent caches; nothing on x86_64). A failed Map costs the
    // maintenance only. Device frames are never executable (VM-6).
    if let Some((frame, bits)) = after.exec_frame {
        let len = 1u64 << bits;
        if frame.checked_add(len).is_some_and(|end| end <= limit) {
            arch::user::sync_icache(crate::memory::phys_to_virt(frame), len);
        }
    }
    // After the switch, so that no translation of an address space this
    // entry destroyed can be used or walked again (not even
    // speculatively) once user mode resumes.
    if after.flush {
        arch::user::flush_user_tlb();
    }
}

/// Operations stopped at a preemption point, for the log at halt.
static PREEMPTED: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Run one entry of the object core, then bring the interrupt controller
/// in line with its IRQ states.
fn run(k: &mut Kernel<PhysMemory>, entry: Entry) {
    // The checking kernel keeps the state before the entry (for the
    // transition properties) and checks every invariant after it (spec:
    // INV-1 … INV-37, TP-6, TP-7; check.rs).
    #[cfg(feature = "check")]
    crate::check::before_entry(k, entry);
    // Long operations (revoke, Zombie steps, untyped reset) stop at their
    // preemption points when an interrupt is pending (spec: SYS-15,
    // SYS-16): the thread is left `Restart`, the interrupt is taken on the
    // way out, and the call continues when the thread runs again.
    k.entry(entry, &mut || {
        let pending = arch::interrupt_pending();
        if pending {
            PREEMPTED.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        }
        pending
    });
    crate::irq::sync(k);
    #[cfg(feature = "check")]
    crate::check::after_entry(k, entry);
}

/// Save the registers of `t`, which entered the kernel by `trap`, into its
/// TCB (spec: ABI-17).
///
/// A `Restart` thread keeps the address after its system call instruction
/// as its saved PC while it runs at the instruction itself (see
/// [`resume`]). If it re-executed the system call, the processor saved
/// exactly that address. If a tick or an interrupt came first, it has run
/// nothing: the saved PC goes back to the `Restart` form. If it faulted on
/// the instruction itself (an unmapped code page), it is `Running` at that
/// instruction, whose address the fault carries.
fn save(k: &mut Kernel<PhysMemory>, t: u64, trap: Trap, ctx: &Context) {
    let l = k.layout;
    let restart = tcb::state(&k.mem, t) == ThreadState::Restart;
    let o = tcb::tcb_mut(&mut k.mem, t);
    o.context[..l.words].copy_from_slice(&ctx[..l.words]);
    if restart {
        match trap {
            Trap::Syscall => {}
            Trap::Tick | Trap::Interrupt(_) => {
                o.context[l.pc] = ctx[l.pc].wrapping_add(l.syscall_len);
            }
            Trap::Fault(_) => tcb::set_state(&mut k.mem, t, ThreadState::Running),
        }
    }
}

/// Load the registers of the current thread into `ctx` and make its
/// address space current. A `Restart` thread continues at its system call
/// instruction, its saved PC minus the instruction's length (ABI-17).
fn resume(k: &mut Kernel<PhysMemory>, ctx: &mut Context) {
    let l = k.layout;
    let t = k.current;
    ctx[..l.words].copy_from_slice(&tcb::tcb(&k.mem, t).context[..l.words]);
    if tcb::state(&k.mem, t) == ThreadState::Restart {
        ctx[l.pc] = ctx[l.pc].wrapping_sub(l.syscall_len);
    }
    // A thread whose VSpace capability is gone or has lost its ASID runs
    // with no user address space: its first instruction fetch faults
    // (spec: VM-4), and the fault goes to its handler.
    let root = kernel_core::slot::cap(&k.mem, tcb::slot_addr(t, TcbSlot::VSpaceRoot as u64));
    match (root, k.vspace_asid(root)) {
        (Cap::VSpace { obj }, Some(asid)) => arch::user::activate(obj, asid),
        _ => arch::user::activate(0, 0),
    }
}

/// What the system call in `ctx` asks of the architecture after the
/// entry, judged before it runs.
#[derive(Clone, Copy, Default)]
struct After {
    /// It may change a mapping: any invocation of a kernel object other
    /// than IPC (retype, map, unmap, delete and revoke can all remove
    /// translations). IPC, `Recv`, `Reply` and `Yield` never do; neither
    /// do faults, ticks or interrupts.
    flush: bool,
    /// A Frame Map asking for `EXECUTE`: the frame (physical address,
    /// size bits), whose contents user space wrote through a data
    /// mapping and will now fetch as instructions.
    exec_frame: Option<(u64, u8)>,
}

fn after(k: &Kernel<PhysMemory>, t: u64, ctx: &Context) -> After {
    let l = k.layout;
    let invokes = matches!(
        Syscall::try_from(ctx[l.number]),
        Ok(Syscall::Call | Syscall::Send | Syscall::NBSend)
    );
    if !invokes {
        return After::default();
    }
    match k.lookup(t, ctx[l.cptr]) {
        Ok((_, Cap::Endpoint { .. } | Cap::Notification { .. } | Cap::Reply { .. })) | Err(_) => {
            After::default()
        }
        Ok((_, Cap::Frame { obj, size_bits, .. })) => {
            let info = MessageInfo::from_raw(ctx[l.info]);
            let exec = info.label() == Label::FrameMap as u64
                && info.length() >= 3
                && ctx[l.mrs[2]] & VmAttributes::EXECUTE.bits() != 0;
            After {
                flush: true,
                exec_frame: exec.then_some((obj, size_bits)),
            }
        }
        Ok(_) => After {
            flush: true,
            exec_frame: None,
        },
    }
}

/// The debug system calls (spec: ABI-19), handled outside the object
/// core. Returns whether `ctx` held one; registers are left as they were.
fn debug_call(ctx: &Context, l: &abi::context::Layout) -> bool {
    match ctx[l.number] {
        debug::WRITE => {
            let regs = [
                ctx[l.cptr],
                ctx[l.mrs[0]],
                ctx[l.mrs[1]],
                ctx[l.mrs[2]],
                ctx[l.mrs[3]],
            ];
            let (bytes, n) = debug::unpack(ctx[l.info], regs);
            crate::console::write_bytes(&bytes[..n]);
            true
        }
        debug::HALT => {
            let ok = ctx[l.cptr] == 0;
            #[cfg(feature = "check")]
            crate::check::report();
            log::info!(
                "preemption: {} long operations stopped at a preemption point",
                PREEMPTED.load(core::sync::atomic::Ordering::Relaxed)
            );
            log::info!(
                "user space asked to halt ({})",
                if ok { "success" } else { "failure" }
            );
            arch::exit(if ok {
                ExitStatus::Success
            } else {
                ExitStatus::Failure
            })
        }
        _ => false,
    }
}

/// Build the root task from the boot modules and enter it; never returns.
/// A root task that cannot be built stops the machine with the reason.
pub fn start(bi: &'static BootInfo) -> ! {
    arch::user::init();
    let (root, ctx) = match crate::root_task::build(bi) {
        Ok(r) => r,
        Err(e) => {
            log::error!("root task: {e}");
            arch::exit(ExitStatus::Failure)
        }
    };
    arch::user::activate(root.vspace, ROOT_ASID);
    *KERNEL.lock() = Some(root.kernel);
    #[cfg(feature = "check")]
    if let Some(k) = KERNEL.lock().as_mut() {
        crate::check::root_task_built(k);
    }
    log::info!("entering the root task");
    arch::user::enter_user(&ctx)
}
