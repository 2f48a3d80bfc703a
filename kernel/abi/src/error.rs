//! Error codes, their detail words, and lookup failures.
//!
//! A Call to a kernel object returns label 0 on success or an [`Error`]
//! code, with the detail words of [`ErrorDetail`] as the message
//! (spec: SYS-9, ERR-1, ERR-2). Lookup failures appear inside
//! `FailedLookup` details and in `CapFault` messages (spec: ERR-4, FLT-4).

/// The error codes (spec: ERR-1, ABI-7).
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// An argument word has a value the invocation does not accept.
    InvalidArgument = 1,
    /// A capability has the wrong type, lacks a right, or is in the wrong
    /// state for this use.
    InvalidCapability = 2,
    /// The operation is not allowed on this capability or object as it is.
    IllegalOperation = 3,
    /// A number is outside the range given in the detail.
    RangeError = 4,
    /// An address is not aligned as required.
    AlignmentError = 5,
    /// A lookup needed by the invocation failed.
    FailedLookup = 6,
    /// Fewer message words or extra capabilities than needed.
    TruncatedMessage = 7,
    /// A destination is occupied.
    DeleteFirst = 8,
    /// Derived capabilities or users must go first.
    RevokeFirst = 9,
    /// The untyped region cannot hold the requested objects.
    NotEnoughMemory = 10,
    /// The reply for this Call was deleted before it was used
    /// (spec: IPC-20).
    NoReply = 11,
}

/// The highest label the kernel reserves in answers (spec: SYS-10).
pub const RESERVED_LABELS_END: u64 = 15;

/// A raw word that is not an error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownError(pub u64);

impl Error {
    /// Every error, in code order.
    pub const ALL: [Error; 11] = [
        Error::InvalidArgument,
        Error::InvalidCapability,
        Error::IllegalOperation,
        Error::RangeError,
        Error::AlignmentError,
        Error::FailedLookup,
        Error::TruncatedMessage,
        Error::DeleteFirst,
        Error::RevokeFirst,
        Error::NotEnoughMemory,
        Error::NoReply,
    ];

    /// The numeric code (the result label).
    pub const fn code(self) -> u64 {
        self as u64
    }
}

impl TryFrom<u64> for Error {
    type Error = UnknownError;

    fn try_from(raw: u64) -> Result<Self, UnknownError> {
        Ok(match raw {
            1 => Error::InvalidArgument,
            2 => Error::InvalidCapability,
            3 => Error::IllegalOperation,
            4 => Error::RangeError,
            5 => Error::AlignmentError,
            6 => Error::FailedLookup,
            7 => Error::TruncatedMessage,
            8 => Error::DeleteFirst,
            9 => Error::RevokeFirst,
            10 => Error::NotEnoughMemory,
            11 => Error::NoReply,
            other => return Err(UnknownError(other)),
        })
    }
}

/// Kinds of lookup failure (spec: ERR-4, CS-4).
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LookupFailureKind {
    /// The root is not a CNode capability (or the thread has none).
    InvalidRoot = 1,
    /// The address word is not well formed (spec: CS-2).
    MalformedAddress = 2,
    /// An empty slot was reached.
    MissingCapability = 3,
    /// The depth does not end exactly at a slot.
    DepthMismatch = 4,
}

/// A raw word that is not a lookup failure kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownLookupFailure(pub u64);

impl TryFrom<u64> for LookupFailureKind {
    type Error = UnknownLookupFailure;

    fn try_from(raw: u64) -> Result<Self, UnknownLookupFailure> {
        Ok(match raw {
            1 => LookupFailureKind::InvalidRoot,
            2 => LookupFailureKind::MalformedAddress,
            3 => LookupFailureKind::MissingCapability,
            4 => LookupFailureKind::DepthMismatch,
            other => return Err(UnknownLookupFailure(other)),
        })
    }
}

/// A lookup failure with its detail (spec: ERR-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LookupFailure {
    /// What went wrong.
    pub kind: LookupFailureKind,
    /// Address bits not yet resolved where it went wrong.
    pub bits_left: u64,
    /// For `DepthMismatch`: the radix that needed more bits, or 0 when a
    /// non-CNode capability was reached with bits left.
    pub bits_found: u64,
}

impl LookupFailure {
    /// As the three words `kind, bits_left, bits_found` (spec: ERR-2, FLT-4).
    pub const fn to_words(self) -> [u64; 3] {
        [self.kind as u64, self.bits_left, self.bits_found]
    }

    /// Decode three words; rejects an unknown kind.
    pub fn from_words(words: [u64; 3]) -> Result<LookupFailure, UnknownLookupFailure> {
        Ok(LookupFailure {
            kind: LookupFailureKind::try_from(words[0])?,
            bits_left: words[1],
            bits_found: words[2],
        })
    }
}

/// Most detail words an error carries (spec: ERR-2).
pub const MAX_DETAIL_WORDS: usize = 4;

/// An error with its detail words (spec: ERR-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorDetail {
    /// Index of the offending message word.
    InvalidArgument {
        /// Message word index.
        index: u64,
    },
    /// Position of the offending capability (spec: ERR-3).
    InvalidCapability {
        /// 0 for the invoked capability, `i + 1` for extra capability `i`.
        position: u64,
    },
    /// No detail.
    IllegalOperation,
    /// The allowed range, inclusive.
    RangeError {
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// No detail.
    AlignmentError,
    /// Which lookup failed and how.
    FailedLookup {
        /// Position (spec: ERR-3).
        position: u64,
        /// The failure.
        failure: LookupFailure,
    },
    /// No detail.
    TruncatedMessage,
    /// No detail.
    DeleteFirst,
    /// No detail.
    RevokeFirst,
    /// Bytes available above the effective watermark.
    NotEnoughMemory {
        /// Bytes available.
        available: u64,
    },
    /// No detail.
    NoReply,
}

/// Detail words that do not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadDetail {
    /// The label is not an error code.
    UnknownError(u64),
    /// The length is not the one the error has.
    WrongLength {
        /// The error.
        error: Error,
        /// The length found.
        length: usize,
    },
    /// A `FailedLookup` detail with an unknown kind.
    UnknownLookupFailure(u64),
}

impl ErrorDetail {
    /// The error code.
    pub const fn error(self) -> Error {
        match self {
            ErrorDetail::InvalidArgument { .. } => Error::InvalidArgument,
            ErrorDetail::InvalidCapability { .. } => Error::InvalidCapability,
            ErrorDetail::IllegalOperation => Error::IllegalOperation,
            ErrorDetail::RangeError { .. } => Error::RangeError,
            ErrorDetail::AlignmentError => Error::AlignmentError,
            ErrorDetail::FailedLookup { .. } => Error::FailedLookup,
            ErrorDetail::TruncatedMessage => Error::TruncatedMessage,
            ErrorDetail::DeleteFirst => Error::DeleteFirst,
            ErrorDetail::RevokeFirst => Error::RevokeFirst,
            ErrorDetail::NotEnoughMemory { .. } => Error::NotEnoughMemory,
            ErrorDetail::NoReply => Error::NoReply,
        }
    }

    /// Number of detail words `error` carries (spec: ERR-2).
    pub const fn length_of(error: Error) -> usize {
        match error {
            Error::InvalidArgument | Error::InvalidCapability | Error::NotEnoughMemory => 1,
            Error::RangeError => 2,
            Error::FailedLookup => 4,
            _ => 0,
        }
    }

    /// The detail words; only the first [`ErrorDetail::length_of`] are
    /// meaningful, the rest are 0.
    pub const fn to_words(self) -> [u64; MAX_DETAIL_WORDS] {
        match self {
            ErrorDetail::InvalidArgument { index } => [index, 0, 0, 0],
            ErrorDetail::InvalidCapability { position } => [position, 0, 0, 0],
            ErrorDetail::RangeError { min, max } => [min, max, 0, 0],
            ErrorDetail::FailedLookup { position, failure } => {
                let w = failure.to_words();
                [position, w[0], w[1], w[2]]
            }
            ErrorDetail::NotEnoughMemory { available } => [available, 0, 0, 0],
            _ => [0; MAX_DETAIL_WORDS],
        }
    }

    /// Decode a result: its label and its words (exactly the error's
    /// detail length).
    pub fn from_words(label: u64, words: &[u64]) -> Result<ErrorDetail, BadDetail> {
        let error = Error::try_from(label).map_err(|e| BadDetail::UnknownError(e.0))?;
        if words.len() != Self::length_of(error) {
            return Err(BadDetail::WrongLength {
                error,
                length: words.len(),
            });
        }
        Ok(match error {
            Error::InvalidArgument => ErrorDetail::InvalidArgument { index: words[0] },
            Error::InvalidCapability => ErrorDetail::InvalidCapability { position: words[0] },
            Error::IllegalOperation => ErrorDetail::IllegalOperation,
            Error::RangeError => ErrorDetail::RangeError {
                min: words[0],
                max: words[1],
            },
            Error::AlignmentError => ErrorDetail::AlignmentError,
            Error::FailedLookup => ErrorDetail::FailedLookup {
                position: words[0],
                failure: LookupFailure::from_words([words[1], words[2], words[3]])
                    .map_err(|e| BadDetail::UnknownLookupFailure(e.0))?,
            },
            Error::TruncatedMessage => ErrorDetail::TruncatedMessage,
            Error::DeleteFirst => ErrorDetail::DeleteFirst,
            Error::RevokeFirst => ErrorDetail::RevokeFirst,
            Error::NotEnoughMemory => ErrorDetail::NotEnoughMemory {
                available: words[0],
            },
            Error::NoReply => ErrorDetail::NoReply,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        // spec: ABI-7, ERR-1
        for (i, e) in Error::ALL.iter().enumerate() {
            assert_eq!(e.code(), i as u64 + 1);
            assert_eq!(Error::try_from(e.code()), Ok(*e));
            assert!(e.code() <= RESERVED_LABELS_END);
        }
    }

    #[test]
    fn unknown_codes_are_rejected() {
        for raw in [0, 12, 15, 16, u64::MAX] {
            assert_eq!(Error::try_from(raw), Err(UnknownError(raw)));
        }
        for raw in [0, 5, u64::MAX] {
            assert_eq!(
                LookupFailureKind::try_from(raw),
                Err(UnknownLookupFailure(raw))
            );
        }
    }

    #[test]
    fn details_round_trip() {
        // spec: ERR-2, ERR-4
        let failure = LookupFailure {
            kind: LookupFailureKind::DepthMismatch,
            bits_left: 8,
            bits_found: 10,
        };
        let all = [
            ErrorDetail::InvalidArgument { index: 3 },
            ErrorDetail::InvalidCapability { position: 1 },
            ErrorDetail::IllegalOperation,
            ErrorDetail::RangeError { min: 1, max: 256 },
            ErrorDetail::AlignmentError,
            ErrorDetail::FailedLookup {
                position: 2,
                failure,
            },
            ErrorDetail::TruncatedMessage,
            ErrorDetail::DeleteFirst,
            ErrorDetail::RevokeFirst,
            ErrorDetail::NotEnoughMemory { available: 4096 },
            ErrorDetail::NoReply,
        ];
        for d in all {
            let n = ErrorDetail::length_of(d.error());
            let words = d.to_words();
            assert_eq!(
                ErrorDetail::from_words(d.error().code(), &words[..n]),
                Ok(d)
            );
            assert!(words[n..].iter().all(|&w| w == 0));
        }
    }

    #[test]
    fn bad_details_are_rejected() {
        assert_eq!(
            ErrorDetail::from_words(0, &[]),
            Err(BadDetail::UnknownError(0))
        );
        assert_eq!(
            ErrorDetail::from_words(4, &[1]),
            Err(BadDetail::WrongLength {
                error: Error::RangeError,
                length: 1
            })
        );
        assert_eq!(
            ErrorDetail::from_words(6, &[0, 9, 0, 0]),
            Err(BadDetail::UnknownLookupFailure(9))
        );
    }
}
