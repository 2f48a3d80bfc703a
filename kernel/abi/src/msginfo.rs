//! The message-info word and the message limits.
//!
//! Layout, least significant first (spec: ABI-4, MSG-1): `length` 7 bits,
//! `extra_caps` 2 bits, `caps_unwrapped` 3 bits, `label` 52 bits. Every
//! `u64` decodes; a `length` above [`MAX_LENGTH`] is read as
//! [`MAX_LENGTH`] (spec: MSG-2), so user input can never make the kernel
//! fail here.

/// Most message words in one message (spec: ABI-6).
pub const MAX_LENGTH: u64 = 120;
/// Message words that travel in registers (spec: MSG-3, ABI-6).
pub const REGISTER_MRS: u64 = 4;
/// Most extra capabilities in one message (spec: ABI-6).
pub const MAX_EXTRA_CAPS: u64 = 3;
/// Width of the label field.
pub const LABEL_BITS: u32 = 52;

const LENGTH_BITS: u32 = 7;
const EXTRA_SHIFT: u32 = 7;
const EXTRA_BITS: u32 = 2;
const UNWRAPPED_SHIFT: u32 = 9;
const UNWRAPPED_BITS: u32 = 3;
const LABEL_SHIFT: u32 = 12;

const fn mask(bits: u32) -> u64 {
    (1 << bits) - 1
}

/// A message-info word (spec: MSG-1, ABI-4).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MessageInfo(u64);

/// A field given to [`MessageInfo::new`] does not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageInfoError {
    /// The label needs more than 52 bits.
    LabelTooLarge,
    /// More than 3 unwrapped-capability bits.
    CapsUnwrappedTooLarge,
    /// More than [`MAX_EXTRA_CAPS`] extra capabilities.
    TooManyExtraCaps,
    /// More than [`MAX_LENGTH`] words.
    TooLong,
}

impl MessageInfo {
    /// Build a word; fails when a field is out of range (user code builds
    /// words with this; the kernel decodes with [`MessageInfo::from_raw`]).
    pub const fn new(
        label: u64,
        caps_unwrapped: u64,
        extra_caps: u64,
        length: u64,
    ) -> Result<MessageInfo, MessageInfoError> {
        if label > mask(LABEL_BITS) {
            return Err(MessageInfoError::LabelTooLarge);
        }
        if caps_unwrapped > mask(UNWRAPPED_BITS) {
            return Err(MessageInfoError::CapsUnwrappedTooLarge);
        }
        if extra_caps > MAX_EXTRA_CAPS {
            return Err(MessageInfoError::TooManyExtraCaps);
        }
        if length > MAX_LENGTH {
            return Err(MessageInfoError::TooLong);
        }
        Ok(MessageInfo(
            (label << LABEL_SHIFT)
                | (caps_unwrapped << UNWRAPPED_SHIFT)
                | (extra_caps << EXTRA_SHIFT)
                | length,
        ))
    }

    /// Decode any raw word (spec: ABI-4).
    pub const fn from_raw(raw: u64) -> MessageInfo {
        MessageInfo(raw)
    }

    /// The raw word.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The label (52 bits).
    pub const fn label(self) -> u64 {
        self.0 >> LABEL_SHIFT
    }

    /// Bit `i` set: extra capability `i` was unwrapped (spec: IPC-13).
    pub const fn caps_unwrapped(self) -> u64 {
        (self.0 >> UNWRAPPED_SHIFT) & mask(UNWRAPPED_BITS)
    }

    /// Number of extra capabilities, 0 ..= 3.
    pub const fn extra_caps(self) -> u64 {
        (self.0 >> EXTRA_SHIFT) & mask(EXTRA_BITS)
    }

    /// The raw length field, 0 ..= 127.
    pub const fn raw_length(self) -> u64 {
        self.0 & mask(LENGTH_BITS)
    }

    /// The length the kernel uses: the field, at most [`MAX_LENGTH`]
    /// (spec: MSG-2).
    pub const fn length(self) -> u64 {
        let l = self.raw_length();
        if l > MAX_LENGTH { MAX_LENGTH } else { l }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let cases = [
            (0, 0, 0, 0),
            (1, 0, 1, 4),
            (mask(LABEL_BITS), 7, 3, MAX_LENGTH),
            (0xdead_beef, 5, 2, 77),
        ];
        for (label, unwrapped, extra, len) in cases {
            let m = MessageInfo::new(label, unwrapped, extra, len).unwrap();
            assert_eq!(m.label(), label);
            assert_eq!(m.caps_unwrapped(), unwrapped);
            assert_eq!(m.extra_caps(), extra);
            assert_eq!(m.length(), len);
            assert_eq!(MessageInfo::from_raw(m.raw()), m);
        }
    }

    #[test]
    fn layout_is_fixed() {
        // spec: ABI-4 — label at bit 12, unwrapped at 9, extra at 7.
        let m = MessageInfo::new(1, 1, 1, 1).unwrap();
        assert_eq!(m.raw(), (1 << 12) | (1 << 9) | (1 << 7) | 1);
    }

    #[test]
    fn out_of_range_fields_are_rejected() {
        // spec: ABI-6, MSG-1
        assert_eq!(
            MessageInfo::new(1 << 52, 0, 0, 0),
            Err(MessageInfoError::LabelTooLarge)
        );
        assert_eq!(
            MessageInfo::new(0, 8, 0, 0),
            Err(MessageInfoError::CapsUnwrappedTooLarge)
        );
        assert_eq!(
            MessageInfo::new(0, 0, 4, 0),
            Err(MessageInfoError::TooManyExtraCaps)
        );
        assert_eq!(
            MessageInfo::new(0, 0, 0, 121),
            Err(MessageInfoError::TooLong)
        );
    }

    #[test]
    fn any_raw_word_decodes_and_length_is_clamped() {
        // spec: ABI-4, MSG-2
        let m = MessageInfo::from_raw(u64::MAX);
        assert_eq!(m.raw_length(), 127);
        assert_eq!(m.length(), MAX_LENGTH);
        assert_eq!(m.extra_caps(), 3);
        assert_eq!(m.caps_unwrapped(), 7);
        assert_eq!(m.label(), mask(LABEL_BITS));
        assert_eq!(MessageInfo::from_raw(121).length(), MAX_LENGTH);
        assert_eq!(MessageInfo::from_raw(120).length(), 120);
    }
}
