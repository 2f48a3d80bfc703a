//! The GIC distributor registers shared by GICv2 and GICv3, and the
//! per-interrupt bit and byte arrays both versions use.
//!
//! Enable, pending, active, priority and configuration state is kept in
//! arrays indexed by interrupt ID with the same packing everywhere: one
//! bit per ID in the set/clear-enable words, one byte in the priority
//! array, two bits in the configuration words. GICv2 keeps the entries of
//! IDs 0–31 (SGIs and PPIs) in banked copies in the distributor; GICv3
//! keeps them in each CPU's redistributor, at the same offsets within its
//! SGI frame. The helpers below take the arrays as slices, so both
//! drivers share them.

use super::Trigger;
use tock_registers::{
    interfaces::{Readable, Writeable},
    register_structs,
    registers::{ReadOnly, ReadWrite},
};

register_structs! {
    /// `GICD_*`: the architected first 3.25 KiB of the distributor.
    pub Registers {
        (0x000 => pub ctlr: ReadWrite<u32>),
        (0x004 => pub typer: ReadOnly<u32>),
        (0x008 => pub iidr: ReadOnly<u32>),
        (0x00c => _reserved0),
        (0x080 => pub igroupr: [ReadWrite<u32>; 32]),
        (0x100 => pub isenabler: [ReadWrite<u32>; 32]),
        (0x180 => pub icenabler: [ReadWrite<u32>; 32]),
        (0x200 => pub ispendr: [ReadWrite<u32>; 32]),
        (0x280 => pub icpendr: [ReadWrite<u32>; 32]),
        (0x300 => pub isactiver: [ReadWrite<u32>; 32]),
        (0x380 => pub icactiver: [ReadWrite<u32>; 32]),
        (0x400 => pub ipriorityr: [ReadWrite<u8>; 1020]),
        (0x7fc => _reserved1),
        (0x800 => pub itargetsr: [ReadWrite<u8>; 1020]),
        (0xbfc => _reserved2),
        (0xc00 => pub icfgr: [ReadWrite<u32>; 64]),
        (0xd00 => @END),
    }
}

/// Size of the register window a GICv2 distributor needs.
pub const V2_SIZE: u64 = 0x1000;

/// The first SPI: IDs below are SGIs (0–15) and PPIs (16–31).
pub const FIRST_SPI: u32 = 32;

impl Registers {
    /// How many interrupt IDs the distributor implements: 32 × (TYPER.
    /// ITLinesNumber + 1), at most 1020 (IDs 1020–1023 are special).
    pub fn lines(&self) -> u32 {
        (((self.typer.get() & 0x1f) + 1) * 32).min(1020)
    }

    /// Disable every shared peripheral interrupt and clear its pending and
    /// active state: the firmware may have left some on, and no driver has
    /// claimed any yet. With `group1`, also put them in group 1 (GICv3:
    /// the group `ICC_IAR1_EL1` acknowledges; the write is ignored where
    /// the secure firmware owns the groups, which then has done it).
    pub fn quiesce_spis(&self, group1: bool) {
        let words = (self.lines() / 32) as usize;
        for i in 1..words {
            self.icenabler[i].set(u32::MAX);
            self.icpendr[i].set(u32::MAX);
            self.icactiver[i].set(u32::MAX);
            if group1 {
                self.igroupr[i].set(u32::MAX);
            }
        }
    }
}

/// Set the priority byte of `intid` (lower is more urgent).
pub fn set_priority(ipriorityr: &[ReadWrite<u8>], intid: u32, priority: u8) {
    if let Some(r) = ipriorityr.get(intid as usize) {
        r.set(priority);
    }
}

/// Set the trigger mode of `intid` (configuration bit 2n+1: 1 = edge).
/// For SGIs, and for PPIs on some GICs, the field is read-only and the
/// write is ignored.
pub fn set_trigger(icfgr: &[ReadWrite<u32>], intid: u32, trigger: Trigger) {
    if let Some(r) = icfgr.get((intid / 16) as usize) {
        let bit = 1 << ((intid % 16) * 2 + 1);
        let v = r.get();
        r.set(match trigger {
            Trigger::Edge => v | bit,
            Trigger::Level => v & !bit,
        });
    }
}

/// Set `intid`'s bit in a set-enable or clear-enable array (writing 0 bits
/// changes nothing there, so a plain write suffices).
pub fn set_bit(words: &[ReadWrite<u32>], intid: u32) {
    if let Some(r) = words.get((intid / 32) as usize) {
        r.set(1 << (intid % 32));
    }
}

/// Whether `intid`'s bit is set in a bit array (pending, enabled...).
pub fn bit_is_set(words: &[ReadWrite<u32>], intid: u32) -> bool {
    words
        .get((intid / 32) as usize)
        .is_some_and(|r| r.get() & (1 << (intid % 32)) != 0)
}
