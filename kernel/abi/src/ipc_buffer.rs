//! The IPC buffer: one 1 KiB, 1 KiB-aligned area per thread (spec: MSG-5,
//! ABI-8). The kernel reads and writes it through physical memory as plain
//! words with `zerocopy`, so any contents are a valid value: a hostile
//! buffer can make an IPC fail, never make the kernel misbehave.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::msginfo::{MAX_EXTRA_CAPS, MAX_LENGTH};

/// Size of the IPC buffer, log2 bytes (spec: ABI-14).
pub const IPC_BUFFER_BITS: u32 = 10;
/// Size of the IPC buffer in bytes; also its required alignment
/// (spec: TCB-6).
pub const IPC_BUFFER_SIZE: usize = 1 << IPC_BUFFER_BITS;

/// The IPC buffer (spec: ABI-8). Field offsets are part of the ABI and
/// pinned by the tests below.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct IpcBuffer {
    /// Offset 0: user space's spill slot for the info word; the kernel
    /// never touches it.
    pub tag: u64,
    /// Offset 8: message words. `msg[4..]` are MR4 onwards; `msg[0..4]`
    /// are never read or written by the kernel (spec: MSG-3).
    pub msg: [u64; MAX_LENGTH as usize],
    /// Offset 968: user space's word (conventionally the thread pointer);
    /// the kernel never touches it.
    pub user_data: u64,
    /// Offset 976: sender: extra capability addresses (spec: MSG-4);
    /// receiver: badges of unwrapped capabilities (spec: IPC-13).
    pub caps_or_badges: [u64; MAX_EXTRA_CAPS as usize],
    /// Offset 1000: the receiver's receive-slot address, 0 for none
    /// (spec: IPC-14).
    pub receive_slot: u64,
    /// Offset 1008: unused; must be ignored.
    pub reserved: [u64; 2],
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};
    use zerocopy::FromZeros;

    #[test]
    fn layout_is_pinned() {
        // spec: ABI-8
        assert_eq!(size_of::<IpcBuffer>(), IPC_BUFFER_SIZE);
        assert_eq!(offset_of!(IpcBuffer, tag), 0);
        assert_eq!(offset_of!(IpcBuffer, msg), 8);
        assert_eq!(offset_of!(IpcBuffer, user_data), 968);
        assert_eq!(offset_of!(IpcBuffer, caps_or_badges), 976);
        assert_eq!(offset_of!(IpcBuffer, receive_slot), 1000);
        assert_eq!(offset_of!(IpcBuffer, reserved), 1008);
    }

    #[test]
    fn any_bytes_are_a_buffer_and_round_trip() {
        let bytes: [u8; IPC_BUFFER_SIZE] = core::array::from_fn(|i| (i * 7) as u8);
        let buf = IpcBuffer::read_from_bytes(&bytes).unwrap();
        assert_eq!(buf.as_bytes(), &bytes[..]);
        let mut zero = IpcBuffer::new_zeroed();
        zero.receive_slot = 0x0c00_0000_0000_0005;
        let back = IpcBuffer::read_from_bytes(zero.as_bytes()).unwrap();
        assert_eq!(back.receive_slot, 0x0c00_0000_0000_0005);
        assert!(IpcBuffer::read_from_bytes(&bytes[..IPC_BUFFER_SIZE - 1]).is_err());
    }
}
