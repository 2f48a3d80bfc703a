//! Faults: what a thread did that the kernel cannot complete for it
//! (spec: FLT-1), stored in its TCB until its handler has seen it.

use abi::error::{LookupFailure, LookupFailureKind};

/// A fault (spec: FLT-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A failed capability lookup in a system call.
    Cap {
        /// The capability address.
        address: u64,
        /// Raised by a receive phase.
        in_receive_phase: bool,
        /// The failure.
        failure: LookupFailure,
    },
    /// An unknown system call number.
    UnknownSyscall {
        /// The number.
        number: u64,
    },
    /// A processor exception other than a memory fault.
    UserException {
        /// x86_64 vector, aarch64 `ESR_EL1.EC`.
        number: u64,
        /// x86_64 error code, aarch64 `ESR_EL1`.
        code: u64,
    },
    /// A translation or permission fault.
    Vm {
        /// The address.
        address: u64,
        /// An instruction fetch.
        instruction: bool,
        /// x86_64 error code, aarch64 `ESR_EL1`.
        status: u64,
    },
}

impl Fault {
    /// The fault label (spec: ABI-9).
    pub fn label(self) -> u64 {
        use abi::fault::FaultLabel as L;
        (match self {
            Fault::Cap { .. } => L::CapFault,
            Fault::UnknownSyscall { .. } => L::UnknownSyscall,
            Fault::UserException { .. } => L::UserException,
            Fault::Vm { .. } => L::VmFault,
        }) as u64
    }

    /// The stored form: `[label, …]`; all zero is "no fault".
    pub fn encode(self) -> [u64; 6] {
        let l = self.label();
        match self {
            Fault::Cap {
                address,
                in_receive_phase,
                failure,
            } => [
                l,
                address,
                in_receive_phase as u64,
                failure.kind as u64,
                failure.bits_left,
                failure.bits_found,
            ],
            Fault::UnknownSyscall { number } => [l, number, 0, 0, 0, 0],
            Fault::UserException { number, code } => [l, number, code, 0, 0, 0],
            Fault::Vm {
                address,
                instruction,
                status,
            } => [l, address, instruction as u64, status, 0, 0],
        }
    }

    /// Decode a stored fault; `None` for "no fault". Only the core writes
    /// the words, so an unknown label is a broken kernel invariant.
    pub fn decode(w: [u64; 6]) -> Option<Fault> {
        Some(match w[0] {
            0 => return None,
            1 => Fault::Cap {
                address: w[1],
                in_receive_phase: w[2] != 0,
                failure: LookupFailure {
                    kind: LookupFailureKind::try_from(w[3])
                        .unwrap_or_else(|_| panic!("corrupt lookup failure {}", w[3])),
                    bits_left: w[4],
                    bits_found: w[5],
                },
            },
            2 => Fault::UnknownSyscall { number: w[1] },
            3 => Fault::UserException {
                number: w[1],
                code: w[2],
            },
            4 => Fault::Vm {
                address: w[1],
                instruction: w[2] != 0,
                status: w[3],
            },
            other => panic!("corrupt fault label {other}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_round_trip() {
        // spec: FLT-1, ABI-9
        for f in [
            Fault::Cap {
                address: u64::MAX,
                in_receive_phase: true,
                failure: LookupFailure {
                    kind: LookupFailureKind::DepthMismatch,
                    bits_left: 7,
                    bits_found: 3,
                },
            },
            Fault::UnknownSyscall { number: 99 },
            Fault::UserException { number: 6, code: 0 },
            Fault::Vm {
                address: 0xdead_0000,
                instruction: true,
                status: 0x15,
            },
        ] {
            assert_eq!(Fault::decode(f.encode()), Some(f));
        }
        assert_eq!(Fault::decode([0; 6]), None);
    }
}
