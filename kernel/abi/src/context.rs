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

/// An architecture's register set as the portable kernel sees it: where
/// each role of a system call (spec: ABI-5) and each special register
/// (spec: ABI-10) sits in the context, so the object core and the model
/// need no `cfg(target_arch)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Number of context words.
    pub words: usize,
    /// Program counter.
    pub pc: usize,
    /// Stack pointer.
    pub sp: usize,
    /// Flags register (`rflags` / `spsr`).
    pub flags: usize,
    /// Thread pointer of TCB-11.
    pub tls: usize,
    /// System call number (in).
    pub number: usize,
    /// Capability address (in) and badge (out).
    pub cptr: usize,
    /// Message info (in and out).
    pub info: usize,
    /// MR0 … MR3.
    pub mrs: [usize; 4],
    /// Length of the system call instruction in bytes (spec: ABI-17).
    pub syscall_len: u64,
    /// Registers a written value must keep below `USER_TOP` (TCB-5).
    pub address_registers: &'static [usize],
    /// Bits of the flags register a written value keeps.
    pub user_flags: u64,
    /// Bits of the flags register always set.
    pub forced_flags: u64,
    /// The bits an IRQControl Get `trigger` word may have (spec: IRQ-4).
    pub trigger_bits: u64,
    /// The page-table entry format.
    pub paging: Paging,
}

/// Which page-table entry format an architecture uses (the shape — four
/// levels of 512 entries, 48-bit addresses — is the same, VM-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paging {
    /// x86_64 4-level paging.
    X86_64,
    /// aarch64 stage-1 translation, 4 KiB granule.
    Aarch64,
}

impl Layout {
    /// x86_64 (spec: ABI-5, ABI-10).
    pub const X86_64: Layout = Layout {
        words: x86_64::CONTEXT_WORDS,
        pc: x86_64::RIP,
        sp: x86_64::RSP,
        flags: x86_64::RFLAGS,
        tls: x86_64::FS_BASE,
        number: 3,            // rax
        cptr: 8,              // rdi
        info: 7,              // rsi
        mrs: [6, 12, 10, 11], // rdx, r10, r8, r9
        syscall_len: 2,
        address_registers: &x86_64::ADDRESS_REGISTERS,
        user_flags: x86_64::USER_RFLAGS,
        forced_flags: x86_64::FORCED_RFLAGS,
        trigger_bits: crate::irq::TRIGGER_LEVEL | crate::irq::TRIGGER_ACTIVE_LOW,
        paging: Paging::X86_64,
    };

    /// aarch64 (spec: ABI-5, ABI-10).
    pub const AARCH64: Layout = Layout {
        words: aarch64::CONTEXT_WORDS,
        pc: aarch64::PC,
        sp: aarch64::SP,
        flags: aarch64::SPSR,
        tls: aarch64::TPIDR_EL0,
        number: aarch64::X0 + 7,
        cptr: aarch64::X0,
        info: aarch64::X0 + 1,
        mrs: [
            aarch64::X0 + 2,
            aarch64::X0 + 3,
            aarch64::X0 + 4,
            aarch64::X0 + 5,
        ],
        syscall_len: 4,
        address_registers: &[],
        user_flags: aarch64::USER_SPSR,
        forced_flags: 0,
        trigger_bits: crate::irq::TRIGGER_LEVEL,
        paging: Paging::Aarch64,
    };

    /// The value register `index` gets when `value` is written to it
    /// (spec: TCB-5, ABI-10): `None` if the value is refused (an address
    /// register at or above `USER_TOP`), the sanitised value for the flags
    /// register, the value itself otherwise.
    pub fn written(&self, index: usize, value: u64) -> Option<u64> {
        if self.address_registers.contains(&index) && value >= USER_TOP {
            None
        } else if index == self.flags {
            Some((value & self.user_flags) | self.forced_flags)
        } else {
            Some(value)
        }
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

    #[test]
    fn layouts_name_the_abi_5_registers() {
        // spec: ABI-5, ABI-17
        let x = Layout::X86_64;
        let name = |i: usize| x86_64::NAMES[i];
        assert_eq!(
            [name(x.number), name(x.cptr), name(x.info)],
            ["rax", "rdi", "rsi"]
        );
        assert_eq!(x.mrs.map(name), ["rdx", "r10", "r8", "r9"]);
        let a = Layout::AARCH64;
        assert_eq!([a.number, a.cptr, a.info], [10, 3, 4]);
        assert_eq!(a.mrs, [5, 6, 7, 8]);
        assert_eq!((x.syscall_len, a.syscall_len), (2, 4));
        assert_eq!(x.written(x.flags, 0), Some(0x202));
        assert_eq!(x.written(x.pc, USER_TOP), None);
        assert_eq!(a.written(a.pc, USER_TOP), Some(USER_TOP));
        assert_eq!(a.written(a.flags, u64::MAX), Some(0xF000_0000));
    }
}
