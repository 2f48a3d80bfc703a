//! The object core's view of physical memory: [`kernel_core::mem::Memory`]
//! over the direct map.
//!
//! Every kernel object lives in RAM that user space retyped; the core names
//! it by physical address and reaches it only through this type, borrowing
//! it for the duration of one access. The bytes are also user-visible when
//! a frame is mapped, but user code never runs while the kernel does (one
//! CPU, no kernel preemption), so no user write races a kernel access.

use crate::memory::phys_to_virt;
use kernel_core::mem::{Memory, PAddr};

/// Physical memory below `limit`, through the direct map.
pub struct PhysMemory {
    /// One past the highest physical address the direct map covers.
    limit: u64,
}

impl PhysMemory {
    /// The direct map's physical memory up to `limit` (the BootInfo's
    /// `phys_map_size`).
    ///
    /// # Safety
    ///
    /// At most one `PhysMemory` may exist, and every byte of
    /// `[0, limit)` must be mapped at `phys_to_virt` for as long as it
    /// lives; nothing else may hold a Rust reference into RAM the object
    /// core manages (untyped memory and the root task's boot objects).
    pub unsafe fn new(limit: u64) -> PhysMemory {
        PhysMemory { limit }
    }

    /// The end of the physical memory it reaches (exclusive).
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Whether every byte of `[pa, pa + len)` is zero. Reads whole aligned
    /// words, ORed in blocks: cheap enough to scan all of RAM (the boot
    /// zeroing of untyped memory and the checking kernel's INV-6 do).
    pub fn is_zero(&self, pa: PAddr, len: u64) -> bool {
        let bytes = self.bytes(pa, len as usize);
        // The direct map keeps the physical alignment.
        let head = ((8 - pa % 8) % 8).min(len) as usize;
        let (h, rest) = bytes.split_at(head);
        let (m, t) = rest.split_at(rest.len() & !7);
        h.iter().chain(t).all(|&b| b == 0)
            && match <[u64] as zerocopy::FromBytes>::ref_from_bytes(m) {
                Ok(words) => words
                    .chunks(32)
                    .all(|c| c.iter().fold(0, |a, &w| a | w) == 0),
                Err(_) => m.iter().all(|&b| b == 0),
            }
    }

    /// The direct-map address of `[pa, pa + len)`, after checking that the
    /// map covers it. A range outside is a kernel bug (the core only
    /// computes addresses from validated capabilities).
    fn virt(&self, pa: PAddr, len: usize) -> *mut u8 {
        let end = pa.checked_add(len as u64);
        assert!(
            end.is_some_and(|e| e <= self.limit),
            "kernel access [{pa:#x}, +{len:#x}) outside the direct map"
        );
        phys_to_virt(pa) as *mut u8
    }
}

impl Memory for PhysMemory {
    fn bytes(&self, pa: PAddr, len: usize) -> &[u8] {
        let p = self.virt(pa, len);
        // SAFETY: `virt` checked that the range lies in the direct map,
        // which maps it for the kernel's whole life (`new`'s contract); the
        // returned borrow of `self` keeps any mutable view (which needs
        // `&mut self`) from existing at the same time, and no other Rust
        // reference points into object memory (`new`'s contract).
        unsafe { core::slice::from_raw_parts(p, len) }
    }

    fn bytes_mut(&mut self, pa: PAddr, len: usize) -> &mut [u8] {
        let p = self.virt(pa, len);
        // The checking kernel tracks which memory may have been written
        // since it last found it zero (spec: INV-6, see check.rs).
        #[cfg(feature = "check")]
        crate::check::written(pa, len as u64);
        // SAFETY: as in `bytes`; the `&mut self` borrow makes this the only
        // view of object memory while it lives.
        unsafe { core::slice::from_raw_parts_mut(p, len) }
    }
}
