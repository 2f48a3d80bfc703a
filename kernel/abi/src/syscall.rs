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
}
