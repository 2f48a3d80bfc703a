//! Interrupt lines and the IRQControl Get `trigger` word (spec: IRQ-1,
//! IRQ-4, ABI-15).

/// Number of IRQ lines the kernel tracks (spec: IRQ-1).
pub const IRQ_LINES: u64 = 1024;
/// aarch64: lines below this (SGIs and PPIs) are never handed out.
pub const AARCH64_FIRST_SPI: u64 = 32;

/// The `trigger` word of IRQControl Get (spec: IRQ-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Trigger {
    /// Level-triggered (else edge-triggered).
    pub level: bool,
    /// Active-low (x86_64 only).
    pub active_low: bool,
}

/// Bit 0 of the trigger word: level-triggered.
pub const TRIGGER_LEVEL: u64 = 1;
/// Bit 1 of the trigger word: active-low (x86_64 only).
pub const TRIGGER_ACTIVE_LOW: u64 = 2;

/// A trigger word with bits the architecture does not define
/// (`InvalidArgument(1)`, spec: IRQ-4, ERR-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownTrigger(pub u64);

impl Trigger {
    /// Decode for x86_64 (bits 0 and 1 defined).
    pub const fn from_word_x86_64(word: u64) -> Result<Trigger, UnknownTrigger> {
        if word & !(TRIGGER_LEVEL | TRIGGER_ACTIVE_LOW) != 0 {
            return Err(UnknownTrigger(word));
        }
        Ok(Trigger {
            level: word & TRIGGER_LEVEL != 0,
            active_low: word & TRIGGER_ACTIVE_LOW != 0,
        })
    }

    /// Decode for aarch64 (bit 0 defined).
    pub const fn from_word_aarch64(word: u64) -> Result<Trigger, UnknownTrigger> {
        if word & !TRIGGER_LEVEL != 0 {
            return Err(UnknownTrigger(word));
        }
        Ok(Trigger {
            level: word & TRIGGER_LEVEL != 0,
            active_low: false,
        })
    }

    /// The word.
    pub const fn to_word(self) -> u64 {
        (self.level as u64) | ((self.active_low as u64) << 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_words_round_trip_and_unknown_bits_are_refused() {
        for w in 0..4 {
            assert_eq!(Trigger::from_word_x86_64(w).unwrap().to_word(), w);
        }
        for w in 0..2 {
            assert_eq!(Trigger::from_word_aarch64(w).unwrap().to_word(), w);
        }
        assert_eq!(Trigger::from_word_aarch64(2), Err(UnknownTrigger(2)));
        assert_eq!(Trigger::from_word_x86_64(4), Err(UnknownTrigger(4)));
        assert_eq!(
            Trigger::from_word_x86_64(u64::MAX),
            Err(UnknownTrigger(u64::MAX))
        );
    }
}
