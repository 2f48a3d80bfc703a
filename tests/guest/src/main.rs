//! The in-guest invariant suite: every system call and invocation of the
//! spec, positive and hostile, made from user mode against the real
//! kernel (spec: TP-1 in the booted system), on both architectures.
//!
//! The root task spawns it (spec: ABI-20) with: slot 1 its TCB, 2 its
//! CNode (radix 12), 3 its VSpace, 7 its IPC-buffer frame; 16 an untyped
//! of 32 MiB, 17 a copy of the initial ASID pool, 18 ASIDControl, 19
//! IRQControl; priority 100 and an mcp above it. It prints one line per
//! test (`ok …` or `FAIL …` with the failed check), then the plain line
//! `N passed, N failed`, and stops the machine with the verdict (debug
//! halt, ABI-19). The boot tests require `0 failed` on both
//! architectures, under the checking kernel.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

mod sys;
mod tests;
mod threads;

use cap_runtime::println;

cap_runtime::entry!(main);

fn main(_arg: u64) -> ! {
    // SAFETY: spawn maps this thread's IPC buffer at IPC_BUFFER_VADDR
    // (ABI-20) and nothing else uses it.
    unsafe { cap_runtime::ipc::set_ipc_buffer(sys::IPC_BUFFER_VADDR as usize) };
    println!("invariant suite: started");
    let mut suite = sys::Suite::new();
    let (mut passed, mut failed) = (0u32, 0u32);
    for (name, test) in tests::all() {
        match test(&mut suite) {
            Ok(()) => {
                passed += 1;
                println!("ok   {name}");
            }
            Err(()) => {
                failed += 1;
                println!("FAIL {name}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    cap_runtime::syscall::debug_halt(u64::from(failed != 0))
}
