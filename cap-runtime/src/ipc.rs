//! This thread's IPC buffer and kernel invocations through it
//! (bare-metal targets only).
//!
//! A program has one thread so far; its IPC buffer's address is set once
//! at start ([`set_ipc_buffer`]) and borrowed for the duration of each
//! system call by [`with_ipc_buffer`], which refuses re-entrant use (a
//! second borrow while one is live would alias the buffer).

use crate::message::{InvocationError, Message, Received, Registers, ResultWords};
use crate::syscall;
use abi::cptr::CPtr;
use abi::ipc_buffer::IpcBuffer;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static BUFFER: AtomicUsize = AtomicUsize::new(0);
static IN_USE: AtomicBool = AtomicBool::new(false);

/// Use the 1 KiB-aligned `IpcBuffer` at `addr` from now on.
///
/// # Safety
///
/// `addr` must be this thread's IPC buffer as the kernel knows it: mapped
/// readable and writable, 1 KiB aligned, and used for nothing else for
/// the rest of the program.
pub unsafe fn set_ipc_buffer(addr: usize) {
    BUFFER.store(addr, Ordering::Relaxed);
}

/// Run `f` with this thread's IPC buffer.
///
/// Panics if no buffer was set or if called from inside `f`.
pub fn with_ipc_buffer<R>(f: impl FnOnce(&mut IpcBuffer) -> R) -> R {
    let addr = BUFFER.load(Ordering::Relaxed);
    assert!(addr != 0, "no IPC buffer set");
    assert!(
        !IN_USE.swap(true, Ordering::Acquire),
        "IPC buffer borrowed twice"
    );
    // SAFETY: `set_ipc_buffer`'s contract makes `addr` a valid, aligned,
    // exclusively owned `IpcBuffer` (any bit pattern is a value); `IN_USE`
    // makes this the only reference to it until `f` returns.
    let r = f(unsafe { &mut *(addr as *mut IpcBuffer) });
    IN_USE.store(false, Ordering::Release);
    r
}

/// Invoke the kernel object at `cptr` with `msg` (a `Call`), and decode
/// the answer (spec: SYS-9, ERR-1).
pub fn invoke(cptr: CPtr, msg: &Message) -> Result<ResultWords, InvocationError> {
    with_ipc_buffer(|buf| {
        let regs = msg.stage(cptr, buf);
        let out = syscall::call(regs, buf);
        Received::new(out, buf).result()
    })
}

/// Run the system call `f` with `msg` staged for `cptr`, and return the
/// registers it produced (for IPC, where the answer is a message rather
/// than a result).
pub fn with_message<R>(
    cptr: CPtr,
    msg: &Message,
    f: impl FnOnce(Registers, &mut IpcBuffer) -> R,
) -> R {
    with_ipc_buffer(|buf| {
        let regs = msg.stage(cptr, buf);
        f(regs, buf)
    })
}

/// A message taken by [`recv`]: the sender's badge, the label and the
/// words (copied out of the registers and the IPC buffer).
#[derive(Clone, Copy, Debug)]
pub struct Incoming {
    /// The badge of the capability the sender used (spec: MSG-6).
    pub badge: u64,
    /// The label.
    pub label: u64,
    words: [u64; abi::msginfo::MAX_LENGTH as usize],
    len: usize,
}

impl Incoming {
    /// The words.
    pub fn words(&self) -> &[u64] {
        &self.words[..self.len]
    }
}

/// Recv on the endpoint or notification at `cptr`: block until a message
/// arrives (spec: SYS-11, IPC-10).
pub fn recv(cptr: CPtr) -> Incoming {
    with_ipc_buffer(|buf| {
        let regs = Registers {
            cptr_or_badge: cptr.raw(),
            ..Registers::default()
        };
        let out = syscall::recv(regs, buf);
        let got = Received::new(out, buf);
        let mut words = [0; abi::msginfo::MAX_LENGTH as usize];
        let mut len = 0;
        for (dst, w) in words.iter_mut().zip(got.words()) {
            *dst = w;
            len += 1;
        }
        Incoming {
            badge: got.badge(),
            label: got.label(),
            words,
            len,
        }
    })
}
