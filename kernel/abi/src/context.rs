//! The user register set of a thread, per architecture: the order used by
//! ReadRegisters, WriteRegisters and `UnknownSyscall` fault messages, and
//! how written values are made safe (spec: ABI-10, TCB-4, TCB-5, FLT-4).
//!
//! Both architectures are described on every target, so the host-side
//! model and tests can use either.

/// Highest user virtual address plus one (spec: VM-6, ABI-15). Values
/// written to address registers must lie below it (spec: TCB-5).
pub const USER_TOP: u64 = 1 << 47;

/// x86_64 register set (spec: ABI-10).
pub mod x86_64 {
    /// Number of words.
    pub const CONTEXT_WORDS: usize = 20;
    /// Register names in order.
    pub const NAMES: [&str; CONTEXT_WORDS] = [
        "rip", "rsp", "rflags", "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10",
        "r11", "r12", "r13", "r14", "r15", "fs_base", "gs_base",
    ];
    /// Index of the program counter.
    pub const RIP: usize = 0;
    /// Index of the stack pointer.
    pub const RSP: usize = 1;
    /// Index of the flags register.
    pub const RFLAGS: usize = 2;
    /// Index of the thread pointer (spec: TCB-11).
    pub const FS_BASE: usize = 18;
    /// Index of `gs_base`.
    pub const GS_BASE: usize = 19;
    /// Registers whose written value must be below `USER_TOP`.
    pub const ADDRESS_REGISTERS: [usize; 3] = [RIP, FS_BASE, GS_BASE];
    /// Flags user space may set: CF, PF, AF, ZF, SF, TF, DF, OF, AC.
    pub const USER_RFLAGS: u64 = 0x4_0DD5;
    /// Flags always set: IF and the reserved bit 1.
    pub const FORCED_RFLAGS: u64 = 0x202;

    /// The `rflags` value a written `value` becomes (spec: ABI-10).
    pub const fn sanitise_rflags(value: u64) -> u64 {
        (value & USER_RFLAGS) | FORCED_RFLAGS
    }

    /// Whether `value` may be written to register `index`
    /// (spec: TCB-5: address registers must be below `USER_TOP`).
    pub const fn acceptable(index: usize, value: u64) -> bool {
        !(index == RIP || index == FS_BASE || index == GS_BASE) || value < super::USER_TOP
    }
}

/// aarch64 register set (spec: ABI-10).
pub mod aarch64 {
    /// Number of words.
    pub const CONTEXT_WORDS: usize = 36;
    /// Index of the program counter.
    pub const PC: usize = 0;
    /// Index of the stack pointer (`SP_EL0`).
    pub const SP: usize = 1;
    /// Index of the saved program status.
    pub const SPSR: usize = 2;
    /// Index of `x0`; `x(n)` is at `X0 + n` for n in 0 ..= 30.
    pub const X0: usize = 3;
    /// Index of the thread pointer `tpidr_el0` (spec: TCB-11).
    pub const TPIDR_EL0: usize = 34;
    /// Index of `tpidrro_el0`.
    pub const TPIDRRO_EL0: usize = 35;
    /// The condition flags N, Z, C, V: all user space may set in SPSR.
    pub const USER_SPSR: u64 = 0xF000_0000;

    /// The `spsr` value a written `value` becomes: EL0t, interrupts
    /// unmasked, only NZCV from the value (spec: ABI-10).
    pub const fn sanitise_spsr(value: u64) -> u64 {
        value & USER_SPSR
    }

    /// Whether `value` may be written to register `index`: every value is
    /// (a bad PC faults in user mode).
    pub const fn acceptable(_index: usize, _value: u64) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_64_order_and_sanitising() {
        // spec: ABI-10
        assert_eq!(x86_64::NAMES[x86_64::RIP], "rip");
        assert_eq!(x86_64::NAMES[x86_64::RFLAGS], "rflags");
        assert_eq!(x86_64::NAMES[x86_64::FS_BASE], "fs_base");
        assert_eq!(x86_64::NAMES[x86_64::GS_BASE], "gs_base");
        // IOPL, NT, VM, RF, VIF, VIP, ID are never taken from user values.
        assert_eq!(x86_64::sanitise_rflags(u64::MAX), 0x4_0DD5 | 0x202);
        assert_eq!(x86_64::sanitise_rflags(0), 0x202);
        assert!(x86_64::acceptable(x86_64::RIP, USER_TOP - 1));
        assert!(!x86_64::acceptable(x86_64::RIP, USER_TOP));
        assert!(!x86_64::acceptable(x86_64::FS_BASE, u64::MAX));
        assert!(x86_64::acceptable(x86_64::RSP, u64::MAX));
    }

    #[test]
    fn aarch64_order_and_sanitising() {
        // spec: ABI-10
        assert_eq!(aarch64::X0 + 30, 33);
        assert_eq!(aarch64::TPIDR_EL0, 34);
        assert_eq!(aarch64::CONTEXT_WORDS, aarch64::TPIDRRO_EL0 + 1);
        // Mode bits, DAIF, SS, IL are never taken from user values.
        assert_eq!(aarch64::sanitise_spsr(u64::MAX), 0xF000_0000);
        assert_eq!(aarch64::sanitise_spsr(0x3c5), 0);
        assert!(aarch64::acceptable(aarch64::PC, u64::MAX));
    }
}
