//! The root task: the first user program. The kernel starts it holding
//! every capability (spec: ST-10, ST-11); it reads the boot-info frame and
//! brings the system up.
//!
//! It checks that the basic invocations work from user mode, then starts
//! the in-guest suite (`invariant-suite`, from the initial image) as a
//! process of its own (spec: ABI-20) and stays its fault handler: the
//! suite stops the machine itself when it is done (ABI-19), so a message
//! on the fault endpoint means the suite faulted, which is reported and
//! stops the machine with failure.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

use abi::cptr::CPtr;
use abi::error::ErrorDetail;
use abi::invocation::Label;
use abi::object::{ObjectType, root_slot};
use abi::rights::Rights;
use abi::root_task::{self as rt, RootInfo};
use cap_runtime::cap::{AsidPool, CNode, Cap, Endpoint, Kind, Tcb, Untyped, VSpace};
use cap_runtime::fault::Fault;
use cap_runtime::ops::{self, InvokeError, Syscalls};
use cap_runtime::slots::SlotAllocator;
use cap_runtime::spawn::{self, Caller, Config, Native, Pass, PassCap};
use cap_runtime::untyped::{self, UntypedAllocator};
use cap_runtime::{cpio, println};
use zerocopy::FromBytes;

cap_runtime::entry!(main);

/// The program the root task starts.
const SUITE: &str = "invariant-suite";
/// The badge of the suite's fault endpoint capability.
const SUITE_BADGE: u64 = 1;
/// The IPC benchmark's programs (started instead of the suite when the
/// initial image holds them) and their fault badges.
const BENCH: &str = "ipc-bench";
const BENCH_SERVER: &str = "ipc-bench-server";
const BENCH_BADGE: u64 = 2;
const BENCH_SERVER_BADGE: u64 = 3;
/// The untyped memory the suite gets: 32 MiB.
const SUITE_UNTYPED_BITS: u64 = 25;
/// The suite's priority (below the root task's 255) and mcp.
const SUITE_PRIORITY: u8 = 100;
const SUITE_MCP: u8 = 255;

/// A root CNode slot as a typed capability.
fn slot<K: Kind>(i: u64) -> Cap<K> {
    match CPtr::new(i, root_slot::ROOT_CNODE_RADIX) {
        Ok(c) => Cap::new(c),
        Err(_) => fail(format_args!("root slot {i} out of range")),
    }
}

/// Report and stop the machine with failure.
fn fail(why: core::fmt::Arguments<'_>) -> ! {
    println!("root task: {why}");
    cap_runtime::syscall::debug_halt(1)
}

struct Tally {
    passed: u32,
    failed: u32,
}

impl Tally {
    fn check(&mut self, name: &str, ok: bool) {
        if ok {
            self.passed += 1;
            println!("ok   {name}");
        } else {
            self.failed += 1;
            println!("FAIL {name}");
        }
    }
}

fn main(boot_info: u64) -> ! {
    // SAFETY: the kernel maps this thread's IPC buffer at IPC_BUFFER_VADDR
    // (ABI-18) and nothing else uses it.
    unsafe { cap_runtime::ipc::set_ipc_buffer(rt::IPC_BUFFER_VADDR as usize) };
    // SAFETY: the kernel maps the 4 KiB boot-info frame read-only at the
    // address it passes in the first argument register (ABI-18); it never
    // changes afterwards.
    let page = unsafe { core::slice::from_raw_parts(boot_info as *const u8, 4096) };
    let info = match RootInfo::ref_from_prefix(page) {
        Ok((info, _)) if info.magic == rt::ROOT_INFO_MAGIC => info,
        _ => fail(format_args!("no boot-info frame at {boot_info:#x}")),
    };
    let count = (info.untyped_slots.count as usize).min(rt::MAX_UNTYPEDS);
    let ram: u64 = info.untypeds[..count]
        .iter()
        .filter(|u| u.device == 0)
        .map(|u| 1u64 << u.size_bits.min(63))
        .sum();
    println!(
        "root task: running in user mode; {} untypeds ({} MiB), image {} pages, initial image {} bytes, first free slot {}",
        info.untyped_slots.count,
        ram >> 20,
        info.image_frame_slots.count,
        info.initrd_len,
        info.first_free_slot
    );

    let radix = root_slot::ROOT_CNODE_RADIX;
    let Ok(mut slots) = SlotAllocator::new(info.first_free_slot, 1 << radix, radix) else {
        fail(format_args!(
            "first free slot {} is past the CNode",
            info.first_free_slot
        ))
    };
    let mut untypeds = UntypedAllocator::from_root_info(info);
    let k = &mut Syscalls;
    let cnode: Cap<CNode> = slot(root_slot::CNODE);
    let Some(ep_slot) = slots.alloc() else {
        fail(format_args!("no free slot"))
    };

    // Startup checks: a few invocations from user mode.
    let mut t = Tally {
        passed: 0,
        failed: 0,
    };
    let made = untyped::retype(k, &mut untypeds, ObjectType::Endpoint, 0, cnode, ep_slot, 1);
    t.check("retype an endpoint", made.is_ok());
    let refused = |r: Result<(), InvokeError>, want: ErrorDetail| {
        r.err().and_then(|e| e.detail()) == Some(want)
    };
    if let Ok(ut) = made {
        t.check(
            "retype into an occupied slot is refused",
            refused(
                ops::retype(k, ut, ObjectType::Endpoint, 0, cnode, ep_slot, 1),
                ErrorDetail::DeleteFirst,
            ),
        );
    }
    t.check(
        "read one's own registers is refused",
        refused(
            ops::invoke(
                k,
                slot::<Tcb>(root_slot::TCB).cptr(),
                Label::TcbReadRegisters,
                &[0, 1],
                &[],
            )
            .map(|_| ()),
            ErrorDetail::IllegalOperation,
        ),
    );
    t.check(
        "a truncated retype is refused",
        refused(
            ops::invoke(
                k,
                slot::<Untyped>(info.boot_untyped_slot).cptr(),
                Label::UntypedRetype,
                &[0],
                &[],
            )
            .map(|_| ()),
            ErrorDetail::TruncatedMessage,
        ),
    );
    if t.failed != 0 || made.is_err() {
        fail(format_args!(
            "{} of {} startup checks failed",
            t.failed,
            t.passed + t.failed
        ));
    }
    // Not of the form "N passed, N failed": that line is the suite's.
    println!("root task: {} startup checks passed", t.passed);

    let mut root = Root {
        k: Syscalls,
        info,
        slots,
        untypeds,
        fault_ep: ep_slot,
    };
    if matches!(cpio::find(initrd(info), BENCH), Ok(Some(_))) {
        start_bench(&mut root)
    }
    start_suite(&mut root)
}

/// What the root task works with once its startup checks passed: its
/// boot-info frame, free slots, untyped memory and the endpoint it
/// handles its children's faults on.
struct Root<'a> {
    k: Syscalls,
    info: &'a RootInfo,
    slots: SlotAllocator,
    untypeds: UntypedAllocator,
    fault_ep: u64,
}

/// The initial image (the `initrd.cpio` boot module, ABI-18).
fn initrd(info: &RootInfo) -> &'static [u8] {
    // The kernel maps exactly the frames it lists; never read past them.
    let mapped = info.initrd_frame_slots.count.saturating_mul(4096);
    let len = info.initrd_len.min(mapped) as usize;
    // SAFETY: the kernel maps the initial image read-only at INITRD_VADDR,
    // `initrd_frame_slots.count` pages of it (ABI-18), and never changes
    // or unmaps it; nothing in this program writes it.
    unsafe { core::slice::from_raw_parts(rt::INITRD_VADDR as *const u8, len) }
}

/// Spawn program `name` of the initial image with `caps` (after the
/// fault endpoint's slot is filled: a copy of `ep_slot` with Write and
/// GrantReply, TCB-12, badged `badge`); the root task stays its fault
/// handler.
fn spawn_program(root: &mut Root<'_>, name: &str, badge: u64, caps: &[PassCap]) -> spawn::Process {
    let Root {
        k,
        info,
        slots,
        untypeds,
        fault_ep: ep_slot,
    } = root;
    let ep_slot = *ep_slot;
    let elf = match cpio::find(initrd(info), name) {
        Ok(Some(elf)) => elf,
        Ok(None) => fail(format_args!("no {name} in the initial image")),
        Err(e) => fail(format_args!("initial image: {e}")),
    };
    let cnode: Cap<CNode> = slot(root_slot::CNODE);
    let Some(fault_slot) = slots.alloc() else {
        fail(format_args!("no free slots"))
    };
    if let Err(e) = ops::mint(
        k,
        cnode,
        fault_slot,
        cnode,
        ep_slot,
        Rights::WRITE.union(Rights::GRANT_REPLY),
        badge,
    ) {
        fail(format_args!("minting the fault endpoint: {e}"));
    }
    let mut caller = Caller {
        cnode,
        vspace: slot::<VSpace>(root_slot::VSPACE),
        tcb: slot::<Tcb>(root_slot::TCB),
        slots,
        untypeds,
    };
    let cfg = Config {
        elf,
        asid_pool: slot::<AsidPool>(root_slot::ASID_POOL),
        fault_endpoint: Some(slot::<Endpoint>(fault_slot)),
        priority: SUITE_PRIORITY,
        mcp: SUITE_MCP,
        arg: 0,
        caps,
    };
    // SAFETY: the root task's address space (ABI-18) never maps the
    // scratch page of ABI-20 and no Rust object lives there; only spawn
    // uses it.
    let mut native = unsafe { Native::new(abi::process::SCRATCH_VADDR) };
    let process = match spawn::spawn(&mut native, &mut caller, &cfg) {
        Ok(p) => p,
        Err(e) => fail(format_args!("spawning {name} failed: {e}")),
    };
    println!(
        "root task: started {name} (entry {:#x}, {} image pages, {} page tables)",
        process.entry, process.image_pages, process.page_tables
    );
    process
}

/// Serve as the fault handler of the programs started: any message on
/// the fault endpoint means one of them faulted (they stop the machine
/// themselves when done), which is reported and stops the machine with
/// failure.
fn handle_faults(ep_slot: u64, names: &[(u64, &str)]) -> ! {
    let ep: Cap<Endpoint> = slot(ep_slot);
    let m = cap_runtime::ipc::recv(ep.cptr());
    let Some(&(_, name)) = names.iter().find(|(b, _)| *b == m.badge) else {
        fail(format_args!(
            "unexpected message with badge {} and label {} on the fault endpoint",
            m.badge, m.label
        ))
    };
    match Fault::decode(m.label, m.words(), &spawn::LAYOUT) {
        Ok(f) => fail(format_args!("{name} faulted: {f}")),
        Err(e) => fail(format_args!(
            "{name} sent a message that is no fault: {e:?}"
        )),
    }
}

/// Spawn the suite with its capabilities, then serve as its fault
/// handler.
fn start_suite(root: &mut Root<'_>) -> ! {
    let cnode: Cap<CNode> = slot(root_slot::CNODE);
    let Some(ut_slot) = root.slots.alloc() else {
        fail(format_args!("no free slots"))
    };
    // The suite's memory: a child untyped of one of ours (untypeds cannot
    // be copied, CAP-9: it is moved to the suite).
    if let Err(e) = untyped::retype(
        &mut root.k,
        &mut root.untypeds,
        ObjectType::Untyped,
        SUITE_UNTYPED_BITS,
        cnode,
        ut_slot,
        1,
    ) {
        fail(format_args!("no untyped for {SUITE}: {e:?}"));
    }
    // The page of the device the suite's interrupt tests drive.
    let Some(dev_slot) = root.slots.alloc() else {
        fail(format_args!("no free slots"))
    };
    suite_device_frame(root, dev_slot);
    // spec: ABI-20: slot 16 the untyped, 17 a copy of the initial ASID
    // pool, 18 ASIDControl, 19 IRQControl, 20 the device frame.
    // ASIDControl and IRQControl cannot be copied (CAP-9): the root task
    // moves its own; it needs neither once the suite runs.
    let caps = [
        PassCap {
            slot: ut_slot,
            how: Pass::Move,
        },
        PassCap {
            slot: root_slot::ASID_POOL,
            how: Pass::Copy(Rights::ALL),
        },
        PassCap {
            slot: root_slot::ASID_CONTROL,
            how: Pass::Move,
        },
        PassCap {
            slot: root_slot::IRQ_CONTROL,
            how: Pass::Move,
        },
        PassCap {
            slot: dev_slot,
            how: Pass::Move,
        },
    ];
    spawn_program(root, SUITE, SUITE_BADGE, &caps);
    let _ = root.slots.free(dev_slot);
    // The moved untyped's slot is empty again.
    let _ = root.slots.free(ut_slot);
    handle_faults(root.fault_ep, &[(SUITE_BADGE, SUITE)])
}

/// The device whose interrupts the suite's IRQ tests raise, on QEMU's
/// machines: x86_64 `q35`'s HPET; aarch64 `virt`'s PL031 real-time clock.
/// (A root task for other machines would find its devices in the ACPI
/// tables or the device tree; the suite runs under QEMU.)
#[cfg(target_arch = "x86_64")]
const SUITE_DEVICE: u64 = 0xfed0_0000;
#[cfg(target_arch = "aarch64")]
const SUITE_DEVICE: u64 = 0x0901_0000;

/// Put the page of [`SUITE_DEVICE`] as a device frame in root slot
/// `dest`, carved from the device untyped that covers it.
fn suite_device_frame(root: &mut Root<'_>, dest: u64) {
    let info = root.info;
    let count = (info.untyped_slots.count as usize).min(rt::MAX_UNTYPEDS);
    let found = info.untypeds[..count].iter().enumerate().find(|(_, u)| {
        u.device != 0
            && u.paddr <= SUITE_DEVICE
            && SUITE_DEVICE - u.paddr < 1u64.checked_shl(u32::from(u.size_bits)).unwrap_or(0)
    });
    let Some((i, u)) = found else {
        fail(format_args!(
            "no device untyped covers the suite's device at {SUITE_DEVICE:#x}"
        ))
    };
    let region = untyped::DeviceRegion {
        cap: slot(info.untyped_slots.start + i as u64),
        base: u.paddr,
        size_bits: u.size_bits,
    };
    let cnode: Cap<CNode> = slot(root_slot::CNODE);
    if let Err(e) = untyped::device_frame(
        &mut root.k,
        &mut root.slots,
        cnode,
        region,
        SUITE_DEVICE,
        dest,
    ) {
        fail(format_args!(
            "the suite's device frame at {SUITE_DEVICE:#x}: {e:?}"
        ));
    }
}

/// The IPC benchmark (tests/ipc-bench), when the initial image holds it
/// instead of the suite: its server and its client, each in its own
/// address space at the same priority, sharing one endpoint (ABI-20 slot
/// 16).
fn start_bench(root: &mut Root<'_>) -> ! {
    let cnode: Cap<CNode> = slot(root_slot::CNODE);
    let Some(bench_ep) = root.slots.alloc() else {
        fail(format_args!("no free slots"))
    };
    let made = untyped::retype(
        &mut root.k,
        &mut root.untypeds,
        ObjectType::Endpoint,
        0,
        cnode,
        bench_ep,
        1,
    );
    if let Err(e) = made {
        fail(format_args!("no endpoint for the benchmark: {e:?}"));
    }
    let caps = [PassCap {
        slot: bench_ep,
        how: Pass::Copy(Rights::ALL),
    }];
    spawn_program(root, BENCH_SERVER, BENCH_SERVER_BADGE, &caps);
    spawn_program(root, BENCH, BENCH_BADGE, &caps);
    handle_faults(
        root.fault_ep,
        &[(BENCH_SERVER_BADGE, BENCH_SERVER), (BENCH_BADGE, BENCH)],
    )
}
