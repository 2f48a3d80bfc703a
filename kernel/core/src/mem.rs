//! The narrow interface through which the object core reaches memory.
//!
//! Kernel objects live in physical memory that user space retyped from
//! untyped capabilities; the core names them by physical address and never
//! holds a Rust reference across calls. All access goes through [`Memory`]:
//! the bare-metal kernel implements it over its direct physical map, the
//! host tests over an ordinary buffer ([`BufferMemory`]). Because every
//! access borrows the `Memory` mutably or immutably for its own duration, at
//! most one mutable view of kernel memory exists at a time — the aliasing
//! discipline the borrow checker enforces for the whole core.
//!
//! Object layouts are `repr(C)` types with `zerocopy` derives, so viewing
//! bytes as an object needs no `unsafe` here; any bit pattern is a value
//! (meaningful contents are an invariant of the core, checked by the
//! spec's invariant checkers).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A physical address of kernel memory.
pub type PAddr = u64;

/// Byte-level access to the physical memory that holds kernel objects.
///
/// Implementations panic when asked for memory outside what they cover:
/// the core only computes addresses from capabilities it validated, so such
/// a request is a kernel bug, never a consequence of user input.
pub trait Memory {
    /// `len` bytes at `pa`.
    fn bytes(&self, pa: PAddr, len: usize) -> &[u8];
    /// `len` bytes at `pa`, writable.
    fn bytes_mut(&mut self, pa: PAddr, len: usize) -> &mut [u8];

    /// Zero `len` bytes at `pa` (untyped reset and retype; spec: UT rules).
    fn zero(&mut self, pa: PAddr, len: usize) {
        self.bytes_mut(pa, len).fill(0);
    }
}

/// View the object of type `T` at `pa`.
///
/// Panics if `pa` is not aligned for `T` or out of range (a kernel bug).
pub fn get<T: FromBytes + KnownLayout + Immutable>(m: &impl Memory, pa: PAddr) -> &T {
    match T::ref_from_bytes(m.bytes(pa, core::mem::size_of::<T>())) {
        Ok(t) => t,
        Err(_) => panic!("kernel object at {pa:#x} is misaligned"),
    }
}

/// View the object of type `T` at `pa`, writable.
///
/// Panics if `pa` is not aligned for `T` or out of range (a kernel bug).
pub fn get_mut<T: FromBytes + IntoBytes + KnownLayout>(m: &mut impl Memory, pa: PAddr) -> &mut T {
    match T::mut_from_bytes(m.bytes_mut(pa, core::mem::size_of::<T>())) {
        Ok(t) => t,
        Err(_) => panic!("kernel object at {pa:#x} is misaligned"),
    }
}

/// Physical memory backed by an ordinary buffer: the host tests' machine.
///
/// Covers `[base, base + size)`; the buffer is made of `u64`s so every
/// object up to 8-byte alignment is aligned in the host address space when
/// it is aligned physically (kernel objects are at least 16-byte aligned
/// physically; their Rust layouts need at most 8).
#[cfg(any(test, feature = "host"))]
pub struct BufferMemory {
    base: PAddr,
    words: alloc::vec::Vec<u64>,
}

#[cfg(any(test, feature = "host"))]
impl BufferMemory {
    /// A zeroed machine memory of `size` bytes (a multiple of 8) at `base`.
    pub fn new(base: PAddr, size: usize) -> Self {
        assert!(
            size.is_multiple_of(8) && base.is_multiple_of(8),
            "buffer memory must be word aligned"
        );
        BufferMemory {
            base,
            words: alloc::vec![0; size / 8],
        }
    }

    fn range(&self, pa: PAddr, len: usize) -> core::ops::Range<usize> {
        let off = pa.checked_sub(self.base).map(|o| o as usize);
        match off {
            Some(o)
                if o.checked_add(len)
                    .is_some_and(|end| end <= self.words.len() * 8) =>
            {
                o..o + len
            }
            _ => panic!("kernel access [{pa:#x}, +{len:#x}) outside machine memory"),
        }
    }
}

#[cfg(any(test, feature = "host"))]
impl Memory for BufferMemory {
    fn bytes(&self, pa: PAddr, len: usize) -> &[u8] {
        let r = self.range(pa, len);
        &self.words.as_bytes()[r]
    }

    fn bytes_mut(&mut self, pa: PAddr, len: usize) -> &mut [u8] {
        let r = self.range(pa, len);
        &mut self.words.as_mut_bytes()[r]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(FromBytes, IntoBytes, KnownLayout, Immutable)]
    #[repr(C)]
    struct Pair {
        a: u64,
        b: u64,
    }

    #[test]
    fn typed_views_read_and_write_the_buffer() {
        let mut m = BufferMemory::new(0x1000, 0x1000);
        get_mut::<Pair>(&mut m, 0x1010).b = 7;
        assert_eq!(get::<Pair>(&m, 0x1010).b, 7);
        assert_eq!(m.bytes(0x1018, 1), &[7]);
        // Unaligned and empty ranges.
        m.bytes_mut(0x1019, 3).copy_from_slice(&[1, 2, 3]);
        assert_eq!(m.bytes(0x1018, 5), &[7, 1, 2, 3, 0]);
        assert_eq!(m.bytes(0x101b, 0), &[] as &[u8]);
        assert_eq!(m.bytes(0x1ff8, 8), &[0; 8]);
        m.zero(0x1010, 16);
        assert_eq!(get::<Pair>(&m, 0x1010).b, 0);
    }

    #[test]
    #[should_panic(expected = "outside machine memory")]
    fn out_of_range_is_a_kernel_bug() {
        let m = BufferMemory::new(0x1000, 0x1000);
        m.bytes(0x1ff8, 16);
    }

    #[test]
    #[should_panic(expected = "misaligned")]
    fn misaligned_object_is_a_kernel_bug() {
        let m = BufferMemory::new(0x1000, 0x1000);
        get::<Pair>(&m, 0x1004);
    }
}
