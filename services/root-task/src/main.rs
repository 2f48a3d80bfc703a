//! The root task: the first user program. The kernel starts it holding
//! every capability (spec: ST-10, ST-11); it reads the boot-info frame and
//! brings the system up.
//!
//! So far it reports what it was given and checks that the basic
//! invocations work from user mode, then stops the machine with the
//! verdict (spawning the programs of the initial image comes next).
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

use abi::cptr::CPtr;
use abi::error::ErrorDetail;
use abi::invocation::Label;
use abi::object::{ObjectType, root_slot};
use abi::root_task::{self as rt, RootInfo};
use cap_runtime::ipc::invoke;
use cap_runtime::message::{InvocationError, Message, ResultWords};
use cap_runtime::println;
use zerocopy::FromBytes;

cap_runtime::entry!(main);

/// A root CNode slot as a capability address.
fn slot(i: u64) -> CPtr {
    match CPtr::new(i, root_slot::ROOT_CNODE_RADIX) {
        Ok(c) => c,
        Err(_) => panic!("root slot {i} out of range"),
    }
}

fn call(
    cptr: u64,
    label: Label,
    words: &[u64],
    caps: &[u64],
) -> Result<ResultWords, InvocationError> {
    let mut m = match Message::with_words(label as u64, words) {
        Ok(m) => m,
        Err(e) => panic!("message for {label:?}: {e:?}"),
    };
    for &c in caps {
        if let Err(e) = m.push_cap(slot(c)) {
            panic!("message for {label:?}: {e:?}");
        }
    }
    invoke(slot(cptr), &m)
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
        _ => panic!("no boot-info frame at {boot_info:#x}"),
    };
    let ram: u64 = info.untypeds[..info.untyped_slots.count as usize]
        .iter()
        .filter(|u| u.device == 0)
        .map(|u| 1u64 << u.size_bits)
        .sum();
    println!(
        "root task: running in user mode; {} untypeds ({} MiB), image {} pages, initial image {} bytes, first free slot {}",
        info.untyped_slots.count,
        ram >> 20,
        info.image_frame_slots.count,
        info.initrd_len,
        info.first_free_slot
    );

    let mut t = Tally {
        passed: 0,
        failed: 0,
    };
    let free = info.first_free_slot;
    let ut = info.boot_untyped_slot;
    let retype = |ty: ObjectType, dest: u64| {
        call(
            ut,
            Label::UntypedRetype,
            &[ty as u64, 0, dest, 1],
            &[root_slot::CNODE],
        )
    };
    t.check(
        "retype an endpoint",
        retype(ObjectType::Endpoint, free).is_ok(),
    );
    t.check(
        "retype into an occupied slot is refused",
        retype(ObjectType::Endpoint, free)
            == Err(InvocationError::Kernel(ErrorDetail::DeleteFirst)),
    );
    t.check(
        "read one's own registers is refused",
        call(root_slot::TCB, Label::TcbReadRegisters, &[0, 1], &[])
            == Err(InvocationError::Kernel(ErrorDetail::IllegalOperation)),
    );
    t.check(
        "a truncated retype is refused",
        call(ut, Label::UntypedRetype, &[0], &[])
            == Err(InvocationError::Kernel(ErrorDetail::TruncatedMessage)),
    );
    println!("{} passed, {} failed", t.passed, t.failed);
    cap_runtime::syscall::debug_halt(u64::from(t.failed != 0))
}
