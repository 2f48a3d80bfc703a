//! Fault messages: the label of each fault kind and the meaning of its
//! message words (spec: FLT-1, FLT-4, ABI-9).

/// The fault kinds, as message labels (spec: FLT-1, ABI-9).
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultLabel {
    /// A capability lookup or type failure in a system call.
    CapFault = 1,
    /// A system call number that is not one of ABI-2.
    UnknownSyscall = 2,
    /// A processor exception other than a memory translation fault.
    UserException = 3,
    /// A translation or permission fault on a user memory access.
    VmFault = 4,
}

/// A label that is not a fault label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownFault(pub u64);

impl TryFrom<u64> for FaultLabel {
    type Error = UnknownFault;

    fn try_from(raw: u64) -> Result<Self, UnknownFault> {
        Ok(match raw {
            1 => FaultLabel::CapFault,
            2 => FaultLabel::UnknownSyscall,
            3 => FaultLabel::UserException,
            4 => FaultLabel::VmFault,
            other => return Err(UnknownFault(other)),
        })
    }
}

/// Word indices of a `CapFault` message (spec: FLT-4).
pub mod cap_fault {
    /// The fault PC.
    pub const PC: usize = 0;
    /// The capability address that failed.
    pub const ADDRESS: usize = 1;
    /// 1 when the fault happened in a receive phase.
    pub const IN_RECEIVE_PHASE: usize = 2;
    /// Lookup failure kind (`error::LookupFailureKind`).
    pub const LOOKUP_KIND: usize = 3;
    /// Lookup failure `bits_left`.
    pub const BITS_LEFT: usize = 4;
    /// Lookup failure `bits_found`.
    pub const BITS_FOUND: usize = 5;
    /// Message length.
    pub const LENGTH: usize = 6;
}

/// Word indices of a `VmFault` message (spec: FLT-4).
pub mod vm_fault {
    /// The fault PC.
    pub const PC: usize = 0;
    /// The address accessed.
    pub const ADDRESS: usize = 1;
    /// 1 for an instruction fetch.
    pub const IS_INSTRUCTION: usize = 2;
    /// Architectural status (x86_64 page-fault error code, aarch64 ESR).
    pub const STATUS: usize = 3;
    /// Message length.
    pub const LENGTH: usize = 4;
}

/// Word indices of a `UserException` message (spec: FLT-4).
pub mod user_exception {
    /// The fault PC.
    pub const PC: usize = 0;
    /// The stack pointer.
    pub const SP: usize = 1;
    /// The flags register.
    pub const FLAGS: usize = 2;
    /// x86_64 vector, aarch64 `ESR_EL1.EC`.
    pub const NUMBER: usize = 3;
    /// x86_64 error code, aarch64 `ESR_EL1`.
    pub const CODE: usize = 4;
    /// Message length.
    pub const LENGTH: usize = 5;
}

/// `UnknownSyscall`: the register set in `context` order, then the number
/// (spec: FLT-4); its length is `CONTEXT_WORDS + 1` for the architecture.
pub mod unknown_syscall {
    /// Length of the message for a register set of `context_words` words.
    pub const fn length(context_words: usize) -> usize {
        context_words + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_and_unknown_are_rejected() {
        // spec: ABI-9, FLT-1
        for l in [
            FaultLabel::CapFault,
            FaultLabel::UnknownSyscall,
            FaultLabel::UserException,
            FaultLabel::VmFault,
        ] {
            assert_eq!(FaultLabel::try_from(l as u64), Ok(l));
        }
        for raw in [0, 5, u64::MAX] {
            assert_eq!(FaultLabel::try_from(raw), Err(UnknownFault(raw)));
        }
    }

    #[test]
    fn lengths_follow_the_spec() {
        // spec: FLT-4
        assert_eq!(cap_fault::LENGTH, 6);
        assert_eq!(vm_fault::LENGTH, 4);
        assert_eq!(user_exception::LENGTH, 5);
        assert_eq!(unknown_syscall::length(20), 21);
    }
}
