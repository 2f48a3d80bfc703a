//! The IPC round-trip benchmark's client (the item 9): Call +
//! ReplyRecv between two address spaces on one core, 0-length and 10-word
//! messages, timed with the cycle counter (`rdtsc`; aarch64 `CNTVCT_EL0`
//! scaled by `CNTFRQ_EL0` to nanoseconds). Under QEMU with `-icount
//! shift=0` one guest instruction is one nanosecond (and one TSC tick), so
//! the figures are guest instructions per round trip, comparable with
//! seL4's in the same setup (docs/ipc-benchmark.md). A benchmark, not a
//! test: it prints its figures and stops the machine.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

use abi::cptr::CPtr;
use abi::msginfo::MessageInfo;
use cap_runtime::message::Registers;
use cap_runtime::{println, syscall};

cap_runtime::entry!(main);

/// The server's endpoint (ABI-20: the first capability passed in).
const EP: u64 = 16;
const WARMUP: u64 = 1_000;
const ROUNDS: u64 = 20_000;

/// The cycle counter, in "ticks" of [`TICKS_PER_UNIT`].
#[cfg(target_arch = "x86_64")]
fn counter() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: `rdtsc` reads the time-stamp counter (CR4.TSD is clear, so
    // it is allowed in user mode); it has no other effect. `lfence` keeps
    // earlier instructions from being counted late.
    unsafe {
        core::arch::asm!("lfence", "rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack));
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

#[cfg(target_arch = "aarch64")]
fn counter() -> u64 {
    let v: u64;
    // SAFETY: the kernel lets EL0 read the virtual counter
    // (CNTKCTL_EL1.EL0VCTEN); `isb` keeps the read in program order.
    unsafe { core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) v, options(nomem, nostack)) };
    v
}

/// Nanoseconds per counter tick, as a fraction (numerator, denominator).
#[cfg(target_arch = "x86_64")]
fn scale() -> (u64, u64) {
    // Under -icount the TSC advances one tick per guest instruction; the
    // figure is reported in ticks.
    (1, 1)
}

#[cfg(target_arch = "aarch64")]
fn scale() -> (u64, u64) {
    let f: u64;
    // SAFETY: CNTFRQ_EL0 is readable at EL0 when the virtual counter is.
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) f, options(nomem, nostack)) };
    (1_000_000_000, f.max(1))
}

fn round_trips(ep: u64, words: u64, n: u64) -> u64 {
    let info = MessageInfo::new(1, 0, 0, words)
        .map(|i| i.raw())
        .unwrap_or(0);
    cap_runtime::ipc::with_ipc_buffer(|buf| {
        for i in 4..words as usize {
            buf.msg[i] = i as u64;
        }
        let regs = Registers {
            cptr_or_badge: ep,
            info,
            mrs: [1, 2, 3, 4],
        };
        let start = counter();
        for _ in 0..n {
            let out = syscall::call(regs, buf);
            core::hint::black_box(out);
        }
        counter() - start
    })
}

fn main(_arg: u64) -> ! {
    // SAFETY: spawn maps this thread's IPC buffer there (ABI-20) and
    // nothing else uses it.
    unsafe { cap_runtime::ipc::set_ipc_buffer(abi::root_task::IPC_BUFFER_VADDR as usize) };
    let ep = match CPtr::new(EP, 12) {
        Ok(c) => c.raw(),
        Err(_) => panic!("slot 16 out of range"),
    };
    let (num, den) = scale();
    println!("ipc-bench: Call + ReplyRecv, two address spaces, one core, {ROUNDS} rounds each");
    for words in [0u64, 10] {
        round_trips(ep, words, WARMUP);
        let ticks = round_trips(ep, words, ROUNDS);
        let per = ticks * num / den / ROUNDS;
        println!(
            "ipc-bench: {words:2}-word round trip: {per} (counter ticks {ticks}, scale {num}/{den})"
        );
    }
    println!("ipc-bench: done");
    cap_runtime::syscall::debug_halt(0)
}
