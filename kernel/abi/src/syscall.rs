//! System call numbers and the register roles of the system call
//! instructions.
//!
//! A thread enters the kernel with `syscall` (x86_64) or `svc #0`
//! (aarch64), the number in `rax` / `x7`. Values that are not a
//! [`Syscall`] raise an `UnknownSyscall` fault (spec: SYS-3), so decoding
//! never fails in a way the kernel has to handle specially.

/// The eight system calls (spec: ABI-2, SYS-3).
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Syscall {
    /// Invoke a capability and wait for the answer (spec: SYS-9, IPC-9).
    Call = 1,
    /// Reply to the caller in the reply slot, then receive (spec: SYS-13).
    ReplyRecv = 2,
    /// Invoke a capability; block on an endpoint without receiver
    /// (spec: IPC-5).
    Send = 3,
    /// Invoke a capability; never block (spec: SYS-4, IPC-5).
    NBSend = 4,
    /// Receive on an endpoint or wait on a notification (spec: SYS-11).
    Recv = 5,
    /// Answer the caller held in the reply slot (spec: SYS-12).
    Reply = 6,
    /// Give up the rest of the time slice (spec: SCHED-7).
    Yield = 7,
    /// Receive without blocking; Poll on a notification (spec: IPC-10,
    /// NTFN-5).
    NBRecv = 8,
}

/// A system call number that names no system call (spec: SYS-3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownSyscall(pub u64);

impl Syscall {
    /// Every system call, in number order.
    pub const ALL: [Syscall; 8] = [
        Syscall::Call,
        Syscall::ReplyRecv,
        Syscall::Send,
        Syscall::NBSend,
        Syscall::Recv,
        Syscall::Reply,
        Syscall::Yield,
        Syscall::NBRecv,
    ];

    /// The number passed in the number register.
    pub const fn number(self) -> u64 {
        self as u64
    }
}

impl TryFrom<u64> for Syscall {
    type Error = UnknownSyscall;

    fn try_from(raw: u64) -> Result<Self, UnknownSyscall> {
        Ok(match raw {
            1 => Syscall::Call,
            2 => Syscall::ReplyRecv,
            3 => Syscall::Send,
            4 => Syscall::NBSend,
            5 => Syscall::Recv,
            6 => Syscall::Reply,
            7 => Syscall::Yield,
            8 => Syscall::NBRecv,
            other => return Err(UnknownSyscall(other)),
        })
    }
}

/// Register roles on x86_64 (`syscall`; spec: ABI-5). `rcx` and `r11` are
/// overwritten by the instruction and carry nothing.
pub mod x86_64 {
    /// System call number.
    pub const NUMBER: &str = "rax";
    /// Capability address in, badge out.
    pub const CPTR_BADGE: &str = "rdi";
    /// Message-info word in and out.
    pub const INFO: &str = "rsi";
    /// MR0 … MR3.
    pub const MRS: [&str; 4] = ["rdx", "r10", "r8", "r9"];
}

/// Register roles on aarch64 (`svc #0`; spec: ABI-5).
pub mod aarch64 {
    /// System call number.
    pub const NUMBER: &str = "x7";
    /// Capability address in, badge out.
    pub const CPTR_BADGE: &str = "x0";
    /// Message-info word in and out.
    pub const INFO: &str = "x1";
    /// MR0 … MR3.
    pub const MRS: [&str; 4] = ["x2", "x3", "x4", "x5"];
}

/// Debug system calls (spec: ABI-19): handled by the bare-metal kernel
/// before the object core sees the entry, outside the object model — they
/// change no kernel object and no register. seL4 has the same pair in its
/// debug builds (`seL4_DebugPutChar`, `seL4_DebugHalt`). Numbers that are
/// not one of these and not a [`Syscall`] still raise `UnknownSyscall`.
pub mod debug {
    /// Write bytes to the kernel console: the info register holds the
    /// count (at most [`WRITE_MAX`]), the bytes are packed little-endian
    /// into the capability register, then MR0 … MR3. A longer count is
    /// clipped to [`WRITE_MAX`].
    pub const WRITE: u64 = 0x100;
    /// Most bytes one [`WRITE`] carries: five 8-byte registers.
    pub const WRITE_MAX: usize = 40;
    /// Stop the machine (QEMU exits): the capability register holds the
    /// status, 0 for success, anything else failure.
    pub const HALT: u64 = 0x101;

    /// The registers of a [`WRITE`] of `bytes` (clipped to [`WRITE_MAX`]):
    /// the count for the info register and the five words for the
    /// capability register and MR0 … MR3.
    pub fn pack(bytes: &[u8]) -> (u64, [u64; 5]) {
        let n = bytes.len().min(WRITE_MAX);
        let mut words = [0u64; 5];
        for (w, chunk) in words.iter_mut().zip(bytes[..n].chunks(8)) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            *w = u64::from_le_bytes(b);
        }
        (n as u64, words)
    }

    /// The bytes a [`WRITE`] with these registers carries: the buffer and
    /// how many of its bytes count (a count above [`WRITE_MAX`] is
    /// clipped).
    pub fn unpack(count: u64, words: [u64; 5]) -> ([u8; WRITE_MAX], usize) {
        let mut bytes = [0u8; WRITE_MAX];
        for (chunk, w) in bytes.chunks_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        (bytes, count.min(WRITE_MAX as u64) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        // spec: ABI-2
        for s in Syscall::ALL {
            assert_eq!(Syscall::try_from(s.number()), Ok(s));
        }
        assert_eq!(Syscall::Call.number(), 1);
        assert_eq!(Syscall::NBRecv.number(), 8);
    }

    #[test]
    fn unknown_numbers_are_rejected() {
        // spec: ABI-2, SYS-3
        for raw in [0, 9, 64, u64::MAX, 1 << 63] {
            assert_eq!(Syscall::try_from(raw), Err(UnknownSyscall(raw)));
        }
    }

    #[test]
    fn abi_19_debug_write_packs_bytes_little_endian_and_clips() {
        let (n, w) = debug::pack(b"hello, kernel");
        assert_eq!(n, 13);
        assert_eq!(w[0], u64::from_le_bytes(*b"hello, k"));
        assert_eq!(w[1], u64::from_le_bytes(*b"ernel\0\0\0"));
        assert_eq!(&w[2..], &[0, 0, 0]);
        let (bytes, len) = debug::unpack(n, w);
        assert_eq!(&bytes[..len], b"hello, kernel");
        // 41 bytes: clipped to 40 on both sides.
        let long = [b'x'; 41];
        let (n, w) = debug::pack(&long);
        assert_eq!(n, debug::WRITE_MAX as u64);
        let (bytes, len) = debug::unpack(u64::MAX, w);
        assert_eq!(&bytes[..len], &long[..40]);
        assert_eq!(debug::unpack(0, w).1, 0);
        // Neither number collides with a system call (SYS-3 still holds
        // for every other number).
        for n in [debug::WRITE, debug::HALT] {
            assert!(Syscall::try_from(n).is_err());
        }
    }
}
