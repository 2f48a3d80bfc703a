//! Fault messages as a fault handler receives them (spec: FLT-1, FLT-4,
//! ABI-9), decoded into a [`Fault`] that prints legibly.

use abi::context::Layout;
use abi::error::{LookupFailure, LookupFailureKind};
use abi::fault::{FaultLabel, cap_fault, unknown_syscall, user_exception, vm_fault};
use core::fmt;

/// A decoded fault message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A failed capability lookup.
    Cap {
        /// The fault PC (FLT-2).
        pc: u64,
        /// The capability address that failed.
        address: u64,
        /// Whether the receive phase of a call failed.
        in_receive_phase: bool,
        /// The lookup failure (ERR-4).
        failure: LookupFailure,
    },
    /// A system call number that is not in ABI-2.
    UnknownSyscall {
        /// The fault PC (the system call instruction).
        pc: u64,
        /// The stack pointer.
        sp: u64,
        /// The system call number.
        number: u64,
    },
    /// A processor exception other than a memory fault.
    UserException {
        /// The fault PC.
        pc: u64,
        /// The stack pointer.
        sp: u64,
        /// The flags register.
        flags: u64,
        /// x86_64 vector, aarch64 `ESR_EL1.EC`.
        number: u64,
        /// x86_64 error code, aarch64 `ESR_EL1`.
        code: u64,
    },
    /// A translation or permission fault on a memory access.
    Vm {
        /// The fault PC.
        pc: u64,
        /// The address accessed.
        address: u64,
        /// An instruction fetch (else a data access).
        instruction: bool,
        /// x86_64 page-fault error code, aarch64 `ESR_EL1`.
        status: u64,
    },
}

/// A message that is no fault message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotAFault {
    /// The label is no fault label (the label).
    Label(u64),
    /// The length is not the one FLT-4 gives (label, length).
    Length(FaultLabel, usize),
    /// A `CapFault` with an unknown lookup failure kind.
    LookupKind(u64),
}

impl Fault {
    /// Decode the message with `label` and `words` that a fault handler
    /// received, for a thread with register layout `layout` (FLT-4).
    pub fn decode(label: u64, words: &[u64], layout: &Layout) -> Result<Fault, NotAFault> {
        let kind = FaultLabel::try_from(label).map_err(|e| NotAFault::Label(e.0))?;
        let want = match kind {
            FaultLabel::CapFault => cap_fault::LENGTH,
            FaultLabel::VmFault => vm_fault::LENGTH,
            FaultLabel::UserException => user_exception::LENGTH,
            FaultLabel::UnknownSyscall => unknown_syscall::length(layout.words),
        };
        if words.len() != want {
            return Err(NotAFault::Length(kind, words.len()));
        }
        let w = |i: usize| words.get(i).copied().unwrap_or(0);
        Ok(match kind {
            FaultLabel::CapFault => Fault::Cap {
                pc: w(cap_fault::PC),
                address: w(cap_fault::ADDRESS),
                in_receive_phase: w(cap_fault::IN_RECEIVE_PHASE) != 0,
                failure: LookupFailure::from_words([
                    w(cap_fault::LOOKUP_KIND),
                    w(cap_fault::BITS_LEFT),
                    w(cap_fault::BITS_FOUND),
                ])
                .map_err(|e| NotAFault::LookupKind(e.0))?,
            },
            FaultLabel::VmFault => Fault::Vm {
                pc: w(vm_fault::PC),
                address: w(vm_fault::ADDRESS),
                instruction: w(vm_fault::IS_INSTRUCTION) != 0,
                status: w(vm_fault::STATUS),
            },
            FaultLabel::UserException => Fault::UserException {
                pc: w(user_exception::PC),
                sp: w(user_exception::SP),
                flags: w(user_exception::FLAGS),
                number: w(user_exception::NUMBER),
                code: w(user_exception::CODE),
            },
            FaultLabel::UnknownSyscall => Fault::UnknownSyscall {
                pc: w(layout.pc),
                sp: w(layout.sp),
                number: w(layout.words),
            },
        })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Fault::Cap {
                pc,
                address,
                in_receive_phase,
                failure,
            } => {
                let kind = match failure.kind {
                    LookupFailureKind::InvalidRoot => "invalid root",
                    LookupFailureKind::MalformedAddress => "malformed address",
                    LookupFailureKind::MissingCapability => "missing capability",
                    LookupFailureKind::DepthMismatch => "depth mismatch",
                };
                write!(
                    f,
                    "capability fault at pc {pc:#x}: address {address:#x}{}: {kind} (bits left {}, found {})",
                    if in_receive_phase {
                        " (receive phase)"
                    } else {
                        ""
                    },
                    failure.bits_left,
                    failure.bits_found
                )
            }
            Fault::UnknownSyscall { pc, sp, number } => write!(
                f,
                "unknown system call {number:#x} at pc {pc:#x} (sp {sp:#x})"
            ),
            Fault::UserException {
                pc,
                sp,
                flags,
                number,
                code,
            } => write!(
                f,
                "user exception {number:#x} (code {code:#x}) at pc {pc:#x} (sp {sp:#x}, flags {flags:#x})"
            ),
            Fault::Vm {
                pc,
                address,
                instruction,
                status,
            } => write!(
                f,
                "memory fault at pc {pc:#x}: {} {address:#x} (status {status:#x})",
                if instruction {
                    "instruction fetch from"
                } else {
                    "data access to"
                }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flt_4_messages_decode() {
        let x = Layout::X86_64;
        assert_eq!(
            Fault::decode(4, &[0x40_1000, 0xdead_0000, 0, 6], &x),
            Ok(Fault::Vm {
                pc: 0x40_1000,
                address: 0xdead_0000,
                instruction: false,
                status: 6
            })
        );
        let f = Fault::decode(1, &[0x40_0000, 0x1234, 1, 3, 0, 0], &x).unwrap();
        assert_eq!(
            f.to_string(),
            "capability fault at pc 0x400000: address 0x1234 (receive phase): missing capability (bits left 0, found 0)"
        );
        assert_eq!(
            Fault::decode(3, &[1, 2, 0x202, 6, 0], &x)
                .unwrap()
                .to_string(),
            "user exception 0x6 (code 0x0) at pc 0x1 (sp 0x2, flags 0x202)"
        );
        // UnknownSyscall: the whole register set, then the number.
        let a = Layout::AARCH64;
        let mut words = vec![0; a.words + 1];
        words[a.pc] = 0x40_0010;
        words[a.sp] = 0x1002_0000;
        words[a.words] = 0x999;
        assert_eq!(
            Fault::decode(2, &words, &a),
            Ok(Fault::UnknownSyscall {
                pc: 0x40_0010,
                sp: 0x1002_0000,
                number: 0x999
            })
        );
        assert_eq!(
            Fault::decode(2, &words, &x),
            Err(NotAFault::Length(FaultLabel::UnknownSyscall, 37))
        );
    }

    #[test]
    fn other_messages_are_no_faults() {
        let x = Layout::X86_64;
        assert_eq!(Fault::decode(0, &[], &x), Err(NotAFault::Label(0)));
        assert_eq!(Fault::decode(5, &[], &x), Err(NotAFault::Label(5)));
        assert_eq!(
            Fault::decode(4, &[1, 2, 3], &x),
            Err(NotAFault::Length(FaultLabel::VmFault, 3))
        );
        assert_eq!(
            Fault::decode(1, &[0, 0, 0, 9, 0, 0], &x),
            Err(NotAFault::LookupKind(9))
        );
    }
}
