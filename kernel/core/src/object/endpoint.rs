//! The endpoint object: one queue of blocked threads (spec: IPC-1,
//! ABI-14). Whether it is `Sending` or `Receiving` is the state of the
//! threads in it (INV-20), so 16 bytes suffice.

use crate::mem::{Memory, PAddr, get, get_mut};
use crate::queue::Queue;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// An endpoint as stored; all zero is `Idle` (spec: UT-9).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EndpointObj {
    /// Blocked senders or receivers, head first.
    pub queue: Queue,
}

const _: () = assert!(core::mem::size_of::<EndpointObj>() == 1 << abi::object::ENDPOINT_BITS);

/// The endpoint at `ep`.
pub fn queue(m: &impl Memory, ep: PAddr) -> Queue {
    get::<EndpointObj>(m, ep).queue
}

/// Store the queue of the endpoint at `ep`.
pub fn set_queue(m: &mut impl Memory, ep: PAddr, q: Queue) {
    get_mut::<EndpointObj>(m, ep).queue = q;
}
