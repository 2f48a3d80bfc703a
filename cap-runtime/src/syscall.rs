//! The eight system calls (spec: ABI-2, ABI-5), for bare-metal targets.
//!
//! Each takes and returns the role registers of ABI-5 as [`Registers`];
//! [`crate::message`] builds them from a message and reads a delivered
//! message back. The kernel reads and writes the caller's IPC buffer
//! during the call, so every call is an opaque memory access to the
//! compiler (no `nomem`/`readonly`), and the buffer must not be borrowed
//! elsewhere across it — the functions that take `&mut IpcBuffer`
//! express that.

use abi::ipc_buffer::IpcBuffer;
use abi::syscall::{Syscall, debug};

use crate::message::Registers;

/// Enter the kernel with system call `number` and the role registers
/// `regs`; return the role registers as the kernel left them.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn raw(number: u64, regs: Registers) -> Registers {
    let mut out = regs;
    // SAFETY: `syscall` transfers to the kernel, which (ABI-5) preserves
    // every register but the output roles declared here and `rcx`/`r11`,
    // which the instruction itself overwrites; it uses no user stack
    // (`nostack`) and touches no user memory but this thread's IPC buffer,
    // exclusively borrowed by the caller for the call's duration.
    unsafe {
        core::arch::asm!(
            "syscall",
            in("rax") number,
            inout("rdi") out.cptr_or_badge,
            inout("rsi") out.info,
            inout("rdx") out.mrs[0],
            inout("r10") out.mrs[1],
            inout("r8") out.mrs[2],
            inout("r9") out.mrs[3],
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    out
}

/// Enter the kernel with system call `number` and the role registers
/// `regs`; return the role registers as the kernel left them.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
fn raw(number: u64, regs: Registers) -> Registers {
    let mut out = regs;
    // SAFETY: `svc #0` transfers to the kernel, which (ABI-5) preserves
    // every register but the output roles declared here; it uses no user
    // stack (`nostack`) and touches no user memory but this thread's IPC
    // buffer, exclusively borrowed by the caller for the call's duration.
    unsafe {
        core::arch::asm!(
            "svc #0",
            in("x7") number,
            inout("x0") out.cptr_or_badge,
            inout("x1") out.info,
            inout("x2") out.mrs[0],
            inout("x3") out.mrs[1],
            inout("x4") out.mrs[2],
            inout("x5") out.mrs[3],
            options(nostack),
        );
    }
    out
}

/// Enter the kernel with system call `number`; `_buf` is this thread's
/// IPC buffer, borrowed for the call because the kernel may read and
/// write it.
#[inline(always)]
fn enter(number: Syscall, regs: Registers, _buf: &mut IpcBuffer) -> Registers {
    raw(number.number(), regs)
}

/// Call: invoke the capability at `regs.cptr_or_badge` and wait for the
/// answer (spec: SYS-9, IPC-9).
pub fn call(regs: Registers, buf: &mut IpcBuffer) -> Registers {
    enter(Syscall::Call, regs, buf)
}

/// Send: invoke the capability; block on an endpoint without a receiver
/// (spec: IPC-5). Registers are unchanged (SYS-8).
pub fn send(regs: Registers, buf: &mut IpcBuffer) {
    enter(Syscall::Send, regs, buf);
}

/// NBSend: invoke the capability, never block (spec: SYS-4).
pub fn nb_send(regs: Registers, buf: &mut IpcBuffer) {
    enter(Syscall::NBSend, regs, buf);
}

/// Recv on the endpoint or notification at `regs.cptr_or_badge` (spec:
/// SYS-11).
pub fn recv(regs: Registers, buf: &mut IpcBuffer) -> Registers {
    enter(Syscall::Recv, regs, buf)
}

/// NBRecv: receive without blocking; Poll on a notification (spec:
/// IPC-10, NTFN-5).
pub fn nb_recv(regs: Registers, buf: &mut IpcBuffer) -> Registers {
    enter(Syscall::NBRecv, regs, buf)
}

/// Reply to the caller in the reply slot (spec: SYS-12).
pub fn reply(regs: Registers, buf: &mut IpcBuffer) {
    enter(Syscall::Reply, regs, buf);
}

/// ReplyRecv: reply, then receive on `regs.cptr_or_badge` (spec: SYS-13).
pub fn reply_recv(regs: Registers, buf: &mut IpcBuffer) -> Registers {
    enter(Syscall::ReplyRecv, regs, buf)
}

/// Give up the rest of the time slice (spec: SCHED-7).
pub fn yield_now(buf: &mut IpcBuffer) {
    enter(Syscall::Yield, Registers::default(), buf);
}

/// Write `bytes` (at most `debug::WRITE_MAX`; the rest is ignored) to the
/// kernel console (spec: ABI-19).
pub fn debug_write(bytes: &[u8]) {
    let (n, w) = debug::pack(bytes);
    raw(
        debug::WRITE,
        Registers {
            cptr_or_badge: w[0],
            info: n,
            mrs: [w[1], w[2], w[3], w[4]],
        },
    );
}

/// Stop the machine with `status` (0 success) (spec: ABI-19).
pub fn debug_halt(status: u64) -> ! {
    raw(
        debug::HALT,
        Registers {
            cptr_or_badge: status,
            ..Registers::default()
        },
    );
    // A kernel without the debug calls raises `UnknownSyscall` instead;
    // its handler decides what happens to this thread.
    loop {
        core::hint::spin_loop();
    }
}
