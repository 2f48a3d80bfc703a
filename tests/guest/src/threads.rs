//! Helper threads: code the suite runs in second threads of its own
//! address space and CSpace, one priority above the suite's, so a helper
//! runs as soon as it is resumed or woken and until it blocks — every
//! interleaving is deterministic. Each takes one word: its IPC buffer's
//! address (page aligned) plus, in the low 12 bits, the slot it works on.
//! A helper that finishes its job reports on the suite's fault endpoint
//! with a label from [`report`], so the suite's Recv there sees either the
//! fault it provoked or the helper's report — never a hang.

use crate::sys::{cptr, read_msg};
use abi::ipc_buffer::IpcBuffer;
use abi::msginfo::MessageInfo;
use cap_runtime::message::Registers;
use cap_runtime::syscall;
use core::sync::atomic::{AtomicU64, Ordering};

/// Labels of the reports helpers send (above every fault label, FLT-1).
pub mod report {
    /// The helper did what it was asked and nothing faulted.
    pub const DONE: u64 = 0x5afe;
    /// A receive returned: MR0 = badge, MR1 = label, MR2 = length, MR3 =
    /// first word.
    pub const RECEIVED: u64 = 0x5aff;
    /// A Call returned: MR0 = label, MR1 = length, MR2 = first word.
    pub const REPLIED: u64 = 0x5b00;
}

/// The suite's fault endpoint slot, for helpers' reports.
pub static REPORT_EP: AtomicU64 = AtomicU64::new(0);
/// An endpoint nobody ever sends to: where a finished helper blocks until
/// the suite deletes it.
pub static PARK_EP: AtomicU64 = AtomicU64::new(0);

const STACK_SIZE: usize = 8192;
const STACKS: usize = 40;

#[repr(C, align(16))]
struct Stacks([[u8; STACK_SIZE]; STACKS]);

/// Only ever reached by address (each helper's stack pointer); never
/// through a Rust reference.
static mut HELPER_STACKS: Stacks = Stacks([[0; STACK_SIZE]; STACKS]);

/// The top of helper stack `i`.
pub fn stack(i: u64) -> u64 {
    assert!((i as usize) < STACKS, "out of helper stacks");
    let base = (&raw const HELPER_STACKS) as u64;
    base + (i + 1) * STACK_SIZE as u64
}

fn split(arg: u64) -> (&'static mut IpcBuffer, u64) {
    let buf = arg & !0xfff;
    // SAFETY: the suite maps a fresh frame at `buf` for this helper alone
    // (`Suite::helper`) and never touches it while the helper runs.
    (unsafe { &mut *(buf as *mut IpcBuffer) }, arg & 0xfff)
}

fn regs(slot: u64, label: u64, words: &[u64]) -> Registers {
    let mut mrs = [0; 4];
    mrs[..words.len()].copy_from_slice(words);
    Registers {
        cptr_or_badge: cptr(slot).raw(),
        info: MessageInfo::new(label, 0, 0, words.len() as u64)
            .map(|i| i.raw())
            .unwrap_or(0),
        mrs,
    }
}

/// Send a report to the suite, then wait for deletion.
fn report_and_park(buf: &mut IpcBuffer, label: u64, words: &[u64]) -> ! {
    let ep = REPORT_EP.load(Ordering::Relaxed);
    syscall::send(regs(ep, label, words), buf);
    park(buf)
}

/// Block for ever (helpers run above the suite's priority, so they must
/// never spin).
fn park(buf: &mut IpcBuffer) -> ! {
    let ep = PARK_EP.load(Ordering::Relaxed);
    loop {
        syscall::recv(regs(ep, 0, &[]), buf);
    }
}

/// Receive once on the slot; report what arrived.
pub extern "C" fn receiver(arg: u64) -> ! {
    let (buf, slot) = split(arg);
    let out = syscall::recv(regs(slot, 0, &[]), buf);
    let m = read_msg(out, buf);
    report_and_park(
        buf,
        report::RECEIVED,
        &[m.badge, m.label, m.len as u64, m.words[0]],
    )
}

/// Send label 7 with one word (42) on the slot (blocking); report after.
pub extern "C" fn sender(arg: u64) -> ! {
    let (buf, slot) = split(arg);
    syscall::send(regs(slot, 7, &[42]), buf);
    report_and_park(buf, report::DONE, &[])
}

/// Serve on the endpoint in the slot for ever: answer each message with
/// label + 1 and the same words (MR4 onwards stay in the buffer, so the
/// reply carries them back).
pub extern "C" fn echo_server(arg: u64) -> ! {
    let (buf, slot) = split(arg);
    let mut out = syscall::recv(regs(slot, 0, &[]), buf);
    loop {
        let info = MessageInfo::from_raw(out.info);
        let answer = Registers {
            cptr_or_badge: cptr(slot).raw(),
            info: MessageInfo::new(info.label() + 1, 0, 0, info.length())
                .map(|i| i.raw())
                .unwrap_or(0),
            mrs: out.mrs,
        };
        out = syscall::reply_recv(answer, buf);
    }
}

/// Receive a Call on the slot, reply to it twice (the second finds the
/// reply slot empty and does nothing, SYS-12), then report.
pub extern "C" fn double_replier(arg: u64) -> ! {
    let (buf, slot) = split(arg);
    let _ = syscall::recv(regs(slot, 0, &[]), buf);
    syscall::reply(regs(0, 1, &[11]), buf);
    syscall::reply(regs(0, 2, &[22]), buf);
    report_and_park(buf, report::DONE, &[])
}

/// Call the endpoint in the slot with 10 words (MR4 … from the buffer),
/// report the answer's label, length and first word.
pub extern "C" fn caller10(arg: u64) -> ! {
    let (buf, slot) = split(arg);
    for i in 4..10 {
        buf.msg[i] = 100 + i as u64;
    }
    let mut r = regs(slot, 9, &[100, 101, 102, 103]);
    r.info = MessageInfo::new(9, 0, 0, 10).map(|i| i.raw()).unwrap_or(0);
    let out = syscall::call(r, buf);
    let m = read_msg(out, buf);
    report_and_park(buf, report::REPLIED, &[m.label, m.len as u64, m.words[0]])
}

/// Write to the address given as the whole argument (page aligned: the
/// helper's IPC buffer is not used before the write); report if it did
/// not fault.
pub extern "C" fn writer(arg: u64) -> ! {
    // SAFETY: not sound to complete when the page is read-only — that is
    // the point: the write faults and the fault goes to the suite.
    unsafe { core::ptr::write_volatile(arg as *mut u64, 0xdead) };
    let buf = arg;
    let (buf, _) = split(buf);
    report_and_park(buf, report::DONE, &[])
}
