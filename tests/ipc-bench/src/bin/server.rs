//! The benchmark's server: answers every Call on its endpoint (slot 16,
//! ABI-20) with a message of the same length, by ReplyRecv, for ever.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

use abi::cptr::CPtr;
use cap_runtime::message::Registers;
use cap_runtime::syscall;

cap_runtime::entry!(main);

/// The endpoint (ABI-20: the first capability passed in).
const EP: u64 = 16;

fn main(_arg: u64) -> ! {
    // SAFETY: spawn maps this thread's IPC buffer there (ABI-20) and
    // nothing else uses it.
    unsafe { cap_runtime::ipc::set_ipc_buffer(abi::root_task::IPC_BUFFER_VADDR as usize) };
    let ep = match CPtr::new(EP, 12) {
        Ok(c) => c.raw(),
        Err(_) => panic!("slot 16 out of range"),
    };
    cap_runtime::ipc::with_ipc_buffer(|buf| {
        // The first ReplyRecv finds no caller: its Reply does nothing
        // (SYS-12) and it receives.
        let mut out = Registers {
            cptr_or_badge: ep,
            ..Registers::default()
        };
        loop {
            // Answer with the info word as received (label and length);
            // MR4 onwards are still in the buffer.
            out = syscall::reply_recv(
                Registers {
                    cptr_or_badge: ep,
                    ..out
                },
                buf,
            );
        }
    })
}
