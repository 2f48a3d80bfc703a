//! An untyped-memory allocator: for each untyped capability the program
//! holds, how many of its bytes may be in use, and which untyped has room
//! for the next objects.
//!
//! Retype places objects at the untyped's watermark rounded up to the
//! object size, and raises the watermark past them (spec: UT-6 … UT-8).
//! [`UntypedAllocator`] keeps its own watermark per untyped that is never
//! below the kernel's, as long as every Retype from those untypeds goes
//! through it: the kernel's placement is then at or below the one
//! computed here, so what fits here fits in the kernel. It can be above
//! the kernel's (the kernel resets an untyped whose children are all gone,
//! UT-10, and this record only learns that through
//! [`UntypedAllocator::reset`]), which wastes room but never promises room
//! that is not there. Should the kernel still answer `NotEnoughMemory`
//! (someone retyped behind the allocator's back), [`retype`] takes the
//! kernel's figure and tries the next untyped.
//!
//! Device untypeds are recorded but never chosen: kernel objects cannot
//! come from them (UT-13) and a driver asks for a device region by its
//! address, not by size.
//!
//! The bookkeeping is pure ([`UntypedAllocator::reserve`] and friends);
//! [`retype`] adds the invocation, over any [`Invoke`].

use crate::cap::{CNode, Cap, Untyped};
use crate::ops::{self, Invoke, InvokeError};
use abi::cptr::CPtr;
use abi::error::ErrorDetail;
use abi::object::{MAX_UNTYPED_BITS, MIN_UNTYPED_BITS, ObjectType, SizeOutOfRange};
use abi::root_task::RootInfo;

/// Most untypeds one allocator tracks (as many as the boot-info frame
/// lists).
pub const MAX_UNTYPEDS: usize = abi::root_task::MAX_UNTYPEDS;

/// What the allocator knows of one untyped capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UntypedInfo {
    /// Its capability.
    pub cap: Cap<Untyped>,
    /// log2 of its size in bytes.
    pub size_bits: u8,
    /// A device untyped (never chosen).
    pub device: bool,
    /// Bytes from its start that may be in use (at least the kernel's
    /// watermark).
    pub used: u64,
}

impl UntypedInfo {
    /// Its size in bytes.
    pub const fn size(&self) -> u64 {
        1 << self.size_bits
    }

    /// Bytes above `used`.
    pub const fn free(&self) -> u64 {
        self.size().saturating_sub(self.used)
    }

    /// Where `count` objects of `2^obj_bits` bytes would go (start, end),
    /// by UT-7, if they fit.
    fn place(&self, obj_bits: u32, count: u64) -> Option<(u64, u64)> {
        if self.device || count == 0 || obj_bits > u32::from(self.size_bits) {
            return None;
        }
        let align = 1u64 << obj_bits;
        let start = self.used.checked_add(align - 1)? & !(align - 1);
        let end = start.checked_add(count.checked_mul(align)?)?;
        (end <= self.size()).then_some((start, end))
    }
}

/// Why an untyped cannot be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UntypedError {
    /// The allocator already tracks [`MAX_UNTYPEDS`].
    Full,
    /// A size outside UT-2's `4 ..= 47`.
    BadSize(u8),
    /// This capability is tracked already.
    Duplicate,
}

/// A reservation made by [`UntypedAllocator::reserve`]: which untyped to
/// retype, and what to undo if the Retype fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// The untyped to invoke.
    pub untyped: Cap<Untyped>,
    index: usize,
    previous: u64,
}

/// The untypeds of a program and how much of each is used.
#[derive(Clone, Debug)]
pub struct UntypedAllocator {
    list: [Option<UntypedInfo>; MAX_UNTYPEDS],
    len: usize,
}

impl Default for UntypedAllocator {
    fn default() -> Self {
        UntypedAllocator::new()
    }
}

impl UntypedAllocator {
    /// No untypeds.
    pub const fn new() -> UntypedAllocator {
        UntypedAllocator {
            list: [None; MAX_UNTYPEDS],
            len: 0,
        }
    }

    /// The root task's untypeds as the boot-info frame lists them (spec:
    /// ABI-18), with the boot untyped's used bytes. Entries beyond the
    /// frame's capacity or with impossible sizes are skipped (the frame is
    /// the kernel's, but a reader does not trust a count).
    pub fn from_root_info(info: &RootInfo) -> UntypedAllocator {
        let mut a = UntypedAllocator::new();
        let radix = u32::try_from(info.cnode_radix).unwrap_or(0);
        let count = usize::try_from(info.untyped_slots.count).unwrap_or(usize::MAX);
        for (i, d) in info.untypeds.iter().take(count).enumerate() {
            let slot = info.untyped_slots.start.saturating_add(i as u64);
            let Ok(cptr) = CPtr::new(slot, radix) else {
                continue;
            };
            let used = if slot == info.boot_untyped_slot {
                info.boot_untyped_used
            } else {
                0
            };
            let _ = a.add(Cap::new(cptr), d.size_bits, d.device != 0, used);
        }
        a
    }

    /// Track `cap`, of `2^size_bits` bytes, whose first `used` bytes may
    /// be in use.
    pub fn add(
        &mut self,
        cap: Cap<Untyped>,
        size_bits: u8,
        device: bool,
        used: u64,
    ) -> Result<(), UntypedError> {
        if !(MIN_UNTYPED_BITS..=MAX_UNTYPED_BITS).contains(&u32::from(size_bits)) {
            return Err(UntypedError::BadSize(size_bits));
        }
        if self.find(cap).is_some() {
            return Err(UntypedError::Duplicate);
        }
        let slot = self.list.get_mut(self.len).ok_or(UntypedError::Full)?;
        *slot = Some(UntypedInfo {
            cap,
            size_bits,
            device,
            used: used.min(1 << size_bits),
        });
        self.len += 1;
        Ok(())
    }

    /// Stop tracking `cap` (moved away, or deleted); what was known of it.
    pub fn remove(&mut self, cap: Cap<Untyped>) -> Option<UntypedInfo> {
        let i = self.find(cap)?;
        let info = self.list[i].take();
        // Keep the list dense: the last entry takes the hole.
        self.len -= 1;
        self.list.swap(i, self.len);
        info
    }

    /// The tracked untypeds.
    pub fn iter(&self) -> impl Iterator<Item = &UntypedInfo> {
        self.list[..self.len].iter().flatten()
    }

    /// What is known of `cap`.
    pub fn get(&self, cap: Cap<Untyped>) -> Option<&UntypedInfo> {
        self.list[self.find(cap)?].as_ref()
    }

    fn find(&self, cap: Cap<Untyped>) -> Option<usize> {
        self.list[..self.len]
            .iter()
            .position(|u| u.is_some_and(|u| u.cap == cap))
    }

    /// Free bytes of RAM (the sum of every non-device untyped's room
    /// above its watermark; alignment may make less usable).
    pub fn free_bytes(&self) -> u64 {
        self.iter()
            .filter(|u| !u.device)
            .map(|u| u.free())
            .fold(0u64, u64::saturating_add)
    }

    /// Choose an untyped with room for `count ≥ 1` objects of
    /// `2^obj_bits` bytes and count them as used. The choice wastes the
    /// fewest bytes to alignment, then leaves the least room behind (big
    /// regions are kept for big objects), then comes first.
    pub fn reserve(&mut self, obj_bits: u32, count: u64) -> Option<Reservation> {
        let (index, end) = self.list[..self.len]
            .iter()
            .enumerate()
            .filter_map(|(i, u)| {
                let u = (*u)?;
                let (start, end) = u.place(obj_bits, count)?;
                Some((start - u.used, u.size() - end, i, end))
            })
            .min()
            .map(|(_, _, i, end)| (i, end))?;
        let u = self.list[index].as_mut()?;
        let r = Reservation {
            untyped: u.cap,
            index,
            previous: u.used,
        };
        u.used = end;
        Some(r)
    }

    fn entry(&mut self, r: &Reservation) -> Option<&mut UntypedInfo> {
        self.list
            .get_mut(r.index)?
            .as_mut()
            .filter(|u| u.cap == r.untyped)
    }

    /// The Retype of `r` failed without creating anything: undo it.
    pub fn cancel(&mut self, r: Reservation) {
        if let Some(u) = self.entry(&r) {
            u.used = r.previous;
        }
    }

    /// The Retype of `r` failed with `NotEnoughMemory(available)`: undo it
    /// and believe the kernel that only `available` bytes are left.
    pub fn correct(&mut self, r: Reservation, available: u64) {
        if let Some(u) = self.entry(&r) {
            u.used = r.previous.max(u.size().saturating_sub(available));
        }
    }

    /// `cap` has no children any more (the program revoked or deleted
    /// them all): the kernel resets it on the next Retype (UT-6, UT-10).
    pub fn reset(&mut self, cap: Cap<Untyped>) {
        if let Some(i) = self.find(cap)
            && let Some(u) = self.list[i].as_mut()
        {
            u.used = 0;
        }
    }
}

/// Why [`retype`] made nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetypeError {
    /// No tracked untyped has room (as far as the allocator knows) for
    /// `count` objects of `2^bits` bytes.
    NoMemory {
        /// log2 of the object size.
        bits: u32,
        /// How many.
        count: u64,
    },
    /// The `size_bits` argument is out of range for the type (UT-5
    /// check 3), found before any invocation.
    Size(SizeOutOfRange),
    /// The kernel refused the Retype for a reason other than memory.
    Invocation(InvokeError),
}

impl From<InvokeError> for RetypeError {
    fn from(e: InvokeError) -> Self {
        RetypeError::Invocation(e)
    }
}

/// Retype `count` objects of type `ty` (`size_bits` as UT-4 reads it) into
/// slots `offset ..` of `dest`, from an untyped the allocator chooses.
/// On `NotEnoughMemory` the allocator learns the kernel's figure and the
/// next untyped with room is tried. Returns the untyped used.
pub fn retype<I: Invoke + ?Sized>(
    k: &mut I,
    untypeds: &mut UntypedAllocator,
    ty: ObjectType,
    size_bits: u64,
    dest: Cap<CNode>,
    offset: u64,
    count: u64,
) -> Result<Cap<Untyped>, RetypeError> {
    let bits = ty.size_bits(size_bits).map_err(RetypeError::Size)?;
    // Each round either succeeds, fails for good, or fills one untyped
    // (its `used` reaches what the kernel says): at most one round per
    // untyped, and one more to find none left.
    for _ in 0..=untypeds.len {
        let r = untypeds
            .reserve(bits, count)
            .ok_or(RetypeError::NoMemory { bits, count })?;
        match ops::retype(k, r.untyped, ty, size_bits, dest, offset, count) {
            Ok(()) => return Ok(r.untyped),
            Err(InvokeError::Kernel {
                detail: ErrorDetail::NotEnoughMemory { available },
                ..
            }) => {
                untypeds.correct(r, available);
                // An untyped that still looks as if it had room would be
                // chosen again: the kernel says otherwise, so it is full
                // for this request.
                if let Some(u) = untypeds.entry(&r)
                    && u.place(bits, count).is_some()
                {
                    u.used = u.size();
                }
            }
            Err(e) => {
                untypeds.cancel(r);
                return Err(e.into());
            }
        }
    }
    Err(RetypeError::NoMemory { bits, count })
}

/// A device untyped: where it lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceRegion {
    /// Its capability; it must have no children yet.
    pub cap: Cap<Untyped>,
    /// Physical base address.
    pub base: u64,
    /// log2 of its size.
    pub size_bits: u8,
}

/// Why [`device_frame`] made no frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceFrameError {
    /// The page is not page aligned or not inside the region.
    Outside,
    /// The slot allocator has no two consecutive free slots left.
    NoSlots,
    /// The kernel refused a Retype.
    Invocation(InvokeError),
}

/// Carve the 4 KiB device frame at physical `paddr` out of `region` (a
/// device untyped with no children), into slot `dest` of `cnode` (the
/// CSpace root, whose radix `slots` allocates for).
///
/// Retype places objects at the untyped's watermark (UT-6), so a frame at
/// a given address needs the memory before it used up: the region is
/// split in halves — one Retype of two Untyped children each — and the
/// half holding `paddr` split again, down to the page, which becomes the
/// Frame. The halves not taken stay in their slots (`2 × (size_bits −
/// 12)` slots at most), still the caller's to use for other devices.
pub fn device_frame<I: Invoke + ?Sized>(
    k: &mut I,
    slots: &mut crate::slots::SlotAllocator,
    cnode: Cap<CNode>,
    region: DeviceRegion,
    paddr: u64,
    dest: u64,
) -> Result<(), DeviceFrameError> {
    const PAGE_BITS: u8 = 12;
    let size = 1u64.checked_shl(u32::from(region.size_bits)).unwrap_or(0);
    if !paddr.is_multiple_of(1 << PAGE_BITS)
        || paddr < region.base
        || paddr - region.base >= size
        || region.size_bits < PAGE_BITS
    {
        return Err(DeviceFrameError::Outside);
    }
    let (mut ut, mut base, mut bits) = (region.cap, region.base, region.size_bits);
    while bits > PAGE_BITS {
        let pair = slots.alloc_range(2).ok_or(DeviceFrameError::NoSlots)?;
        let half_bits = bits - 1;
        ops::retype(
            k,
            ut,
            ObjectType::Untyped,
            u64::from(half_bits),
            cnode,
            pair.start,
            2,
        )
        .map_err(DeviceFrameError::Invocation)?;
        let upper = paddr - base >= 1 << half_bits;
        let index = pair.start + u64::from(upper);
        let Some(cptr) = slots.cptr(index) else {
            return Err(DeviceFrameError::NoSlots);
        };
        ut = Cap::new(cptr);
        if upper {
            base += 1 << half_bits;
        }
        bits = half_bits;
    }
    ops::retype(k, ut, ObjectType::Frame4K, 0, cnode, dest, 1).map_err(DeviceFrameError::Invocation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{InvocationError, Message, ResultWords};
    use abi::root_task::{SlotRange, UntypedDesc};
    use proptest::prelude::*;

    fn cap(slot: u64) -> Cap<Untyped> {
        Cap::new(CPtr::new(slot, 12).unwrap())
    }

    #[test]
    fn ut_7_placement_aligns_to_the_object_size() {
        let mut a = UntypedAllocator::new();
        a.add(cap(16), 20, false, 0x800).unwrap(); // 1 MiB, 2 KiB used
        // A 4 KiB object goes at 4 KiB: the 2 KiB gap is lost.
        let r = a.reserve(12, 2).unwrap();
        assert_eq!(r.untyped, cap(16));
        assert_eq!(a.get(cap(16)).unwrap().used, 0x3000);
        a.cancel(r);
        assert_eq!(a.get(cap(16)).unwrap().used, 0x800);
        // Bigger than the untyped, or more than fits: nothing.
        assert_eq!(a.reserve(21, 1), None);
        assert_eq!(a.reserve(12, 256), None);
        assert_eq!(a.reserve(12, 255).map(|r| r.untyped), Some(cap(16)));
        assert_eq!(a.get(cap(16)).unwrap().free(), 0);
        assert_eq!(a.reserve(4, 1), None);
        assert_eq!(a.reserve(4, 0), None);
        assert_eq!(a.reserve(60, u64::MAX), None, "no overflow");
    }

    #[test]
    fn the_choice_wastes_least_and_keeps_big_regions() {
        let mut a = UntypedAllocator::new();
        a.add(cap(16), 25, false, 0).unwrap(); // 32 MiB
        a.add(cap(17), 12, false, 0).unwrap(); // 4 KiB
        a.add(cap(18), 30, true, 0).unwrap(); // device: never
        a.add(cap(19), 17, false, 0x1000).unwrap(); // 128 KiB, 4 KiB used
        // A page: the 4 KiB untyped fits it exactly.
        assert_eq!(a.reserve(12, 1).unwrap().untyped, cap(17));
        // Another page: 19 leaves less room than 16.
        assert_eq!(a.reserve(12, 1).unwrap().untyped, cap(19));
        // A 128 KiB CNode: 19 would waste its first 8 KiB; 16 wastes none.
        assert_eq!(a.reserve(17, 1).unwrap().untyped, cap(16));
        assert_eq!(
            a.free_bytes(),
            (32 << 20) - (128 << 10) + (128 << 10) - 0x2000
        );
        assert_eq!(a.add(cap(16), 12, false, 0), Err(UntypedError::Duplicate));
        assert_eq!(a.add(cap(20), 3, false, 0), Err(UntypedError::BadSize(3)));
        assert_eq!(a.add(cap(20), 48, false, 0), Err(UntypedError::BadSize(48)));
        // Removing keeps the others.
        assert_eq!(a.remove(cap(17)).map(|u| u.size_bits), Some(12));
        assert_eq!(a.iter().count(), 3);
        assert!(a.get(cap(19)).is_some());
        a.reset(cap(19));
        assert_eq!(a.get(cap(19)).unwrap().used, 0);
    }

    #[test]
    fn the_boot_info_frame_gives_the_untypeds() {
        // spec: ABI-18
        let mut info: RootInfo = zerocopy::FromZeros::new_zeroed();
        info.cnode_radix = 12;
        info.untyped_slots = SlotRange {
            start: 16,
            count: 3,
        };
        info.boot_untyped_slot = 17;
        info.boot_untyped_used = 0x5000;
        for (i, bits) in [20u8, 24, 2].into_iter().enumerate() {
            info.untypeds[i] = UntypedDesc {
                paddr: 0,
                size_bits: bits,
                device: 0,
                _pad: [0; 6],
            };
        }
        let a = UntypedAllocator::from_root_info(&info);
        let got: Vec<_> = a.iter().map(|u| (u.cap, u.size_bits, u.used)).collect();
        // The impossible 4-byte untyped is skipped.
        assert_eq!(got, vec![(cap(16), 20, 0), (cap(17), 24, 0x5000)]);
        // A hostile count does not read past the array.
        info.untyped_slots.count = u64::MAX;
        assert_eq!(UntypedAllocator::from_root_info(&info).iter().count(), 2);
    }

    /// A kernel with a real watermark per untyped (UT-6 … UT-8), possibly
    /// lower than the allocator's (after resets) or higher (retypes behind
    /// its back).
    struct Kernel {
        watermark: Vec<(CPtr, u8, u64)>,
        calls: usize,
    }

    impl Invoke for Kernel {
        fn invoke(&mut self, cptr: CPtr, msg: &Message) -> Result<ResultWords, InvocationError> {
            self.calls += 1;
            let w = msg.words();
            let ty = ObjectType::try_from(w[0]).unwrap();
            let bits = ty.size_bits(w[1]).unwrap();
            let u = self.watermark.iter_mut().find(|u| u.0 == cptr).unwrap();
            let size = 1u64 << u.1;
            let align = 1u64 << bits;
            let start = (u.2 + align - 1) & !(align - 1);
            let end = start.checked_add(w[3] << bits);
            match end {
                Some(end) if end <= size => {
                    u.2 = end;
                    crate::message::Received::new(
                        crate::message::Registers::default(),
                        &zerocopy::FromZeros::new_zeroed(),
                    )
                    .result()
                }
                _ => Err(InvocationError::Kernel(ErrorDetail::NotEnoughMemory {
                    available: size - u.2,
                })),
            }
        }
    }

    fn dest() -> Cap<CNode> {
        Cap::new(CPtr::new(2, 12).unwrap())
    }

    #[test]
    fn ut_1_not_enough_memory_from_the_kernel_moves_on_to_the_next_untyped() {
        let mut a = UntypedAllocator::new();
        a.add(cap(16), 14, false, 0).unwrap();
        a.add(cap(17), 16, false, 0).unwrap();
        // Someone used 16 behind the allocator's back.
        let mut k = Kernel {
            watermark: vec![(cap(16).cptr(), 14, 0x3800), (cap(17).cptr(), 16, 0)],
            calls: 0,
        };
        let got = retype(&mut k, &mut a, ObjectType::Frame4K, 0, dest(), 40, 2).unwrap();
        assert_eq!(got, cap(17));
        assert_eq!(k.calls, 2);
        assert_eq!(
            a.get(cap(16)).unwrap().used,
            0x3800,
            "the kernel's watermark"
        );
        // Nothing left anywhere for 64 KiB: refused without a call.
        let e = retype(&mut k, &mut a, ObjectType::Untyped, 16, dest(), 50, 1).unwrap_err();
        assert_eq!(e, RetypeError::NoMemory { bits: 16, count: 1 });
        assert_eq!(k.calls, 2);
        assert_eq!(
            retype(&mut k, &mut a, ObjectType::CNode, 0, dest(), 50, 1),
            Err(RetypeError::Size(SizeOutOfRange { min: 1, max: 24 }))
        );
    }

    #[test]
    fn other_refusals_undo_the_reservation() {
        struct No;
        impl Invoke for No {
            fn invoke(&mut self, _: CPtr, _: &Message) -> Result<ResultWords, InvocationError> {
                Err(InvocationError::Kernel(ErrorDetail::DeleteFirst))
            }
        }
        let mut a = UntypedAllocator::new();
        a.add(cap(16), 20, false, 0x1000).unwrap();
        let e = retype(&mut No, &mut a, ObjectType::Tcb, 0, dest(), 9, 1).unwrap_err();
        assert_eq!(
            e,
            RetypeError::Invocation(InvokeError::Kernel {
                label: abi::invocation::Label::UntypedRetype,
                detail: ErrorDetail::DeleteFirst
            })
        );
        assert_eq!(a.get(cap(16)).unwrap().used, 0x1000);
    }

    proptest! {
        /// The allocator never over-promises: against a kernel whose
        /// watermarks start at or below the allocator's (resets it did not
        /// hear of), every retype it attempts succeeds on the first call.
        #[test]
        fn ut_7_what_the_allocator_promises_the_kernel_keeps(
            sizes in proptest::collection::vec((12u8..24, 0u64..1 << 12), 1..6),
            reqs in proptest::collection::vec((4u32..20, 1u64..40), 1..60),
        ) {
            let mut a = UntypedAllocator::new();
            let mut k = Kernel { watermark: vec![], calls: 0 };
            for (i, &(bits, used)) in sizes.iter().enumerate() {
                a.add(cap(16 + i as u64), bits, false, used).unwrap();
                // The kernel's watermark is at most the allocator's.
                k.watermark.push((cap(16 + i as u64).cptr(), bits, used / 2));
            }
            for (bits, count) in reqs {
                let before = k.calls;
                let ty = if bits == 12 { ObjectType::Frame4K } else { ObjectType::Untyped };
                let arg = u64::from(bits);
                match retype(&mut k, &mut a, ty, arg, dest(), 0, count) {
                    Ok(u) => {
                        prop_assert_eq!(k.calls, before + 1, "first call succeeds");
                        let mine = a.get(u).unwrap().used;
                        let theirs = k.watermark.iter().find(|w| w.0 == u.cptr()).unwrap().2;
                        prop_assert!(mine >= theirs);
                    }
                    Err(RetypeError::NoMemory { .. }) => prop_assert_eq!(k.calls, before),
                    Err(e) => prop_assert!(false, "unexpected {:?}", e),
                }
            }
        }
    }

    /// A kernel that places Retype's objects as UT-6 says, knows where
    /// every untyped and frame it made lies, and records the frames.
    struct Placer {
        /// Untyped by slot: (base, size_bits, watermark).
        untypeds: std::collections::BTreeMap<u64, (u64, u8, u64)>,
        /// Frames by slot: physical address.
        frames: std::collections::BTreeMap<u64, u64>,
    }

    impl Invoke for Placer {
        fn invoke(&mut self, cptr: CPtr, msg: &Message) -> Result<ResultWords, InvocationError> {
            let w = msg.words();
            let ty = ObjectType::try_from(w[0]).unwrap();
            let bits = ty.size_bits(w[1]).unwrap();
            let u = self.untypeds.get_mut(&cptr.address()).unwrap();
            let align = 1u64 << bits;
            let start = (u.2 + align - 1) & !(align - 1);
            let end = start + (w[3] << bits);
            if end > 1 << u.1 {
                return Err(InvocationError::Kernel(ErrorDetail::NotEnoughMemory {
                    available: (1 << u.1) - u.2,
                }));
            }
            u.2 = end;
            let base = u.0;
            for i in 0..w[3] {
                let at = base + start + (i << bits);
                let slot = w[2] + i;
                if ty == ObjectType::Untyped {
                    self.untypeds.insert(slot, (at, bits as u8, 0));
                } else {
                    self.frames.insert(slot, at);
                }
            }
            crate::message::Received::new(
                crate::message::Registers::default(),
                &zerocopy::FromZeros::new_zeroed(),
            )
            .result()
        }
    }

    proptest! {
        /// The frame lands exactly on the page asked for, with one split
        /// per halving; a page outside the region is refused untouched.
        #[test]
        fn device_frame_lands_on_the_page(bits in 12u8..=30, page in any::<u64>()) {
            let base = 0xfe00_0000_0000u64 & !((1u64 << bits) - 1);
            let paddr = base + ((page << 12) & ((1u64 << bits) - 1));
            let mut k = Placer {
                untypeds: [(16, (base, bits, 0))].into(),
                frames: Default::default(),
            };
            let mut slots = crate::slots::SlotAllocator::new(100, 4096, 12).unwrap();
            let region = DeviceRegion { cap: cap(16), base, size_bits: bits };
            device_frame(&mut k, &mut slots, dest(), region, paddr, 50).unwrap();
            prop_assert_eq!(k.frames.get(&50), Some(&paddr));
            prop_assert_eq!(k.untypeds.len(), 1 + 2 * usize::from(bits - 12));
            for bad in [paddr + 1, base + (1u64 << bits), base.wrapping_sub(4096)] {
                let r = device_frame(&mut k, &mut slots, dest(), region, bad, 51);
                prop_assert_eq!(r, Err(DeviceFrameError::Outside));
            }
        }
    }
}
