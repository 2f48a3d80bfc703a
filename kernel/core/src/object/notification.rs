//! The notification object (spec: NTFN-1, ABI-14).

use crate::mem::{Memory, PAddr, get, get_mut};
use crate::queue::Queue;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A notification as stored; all zero is `Idle` and unbound (spec: UT-9).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct NotificationObj {
    /// Waiting threads, head first.
    pub queue: Queue,
    /// The OR of pending badges while `Active`.
    pub word: u64,
    /// Bound TCB (2 KiB aligned) with bit 0 set while `Active`.
    pub bound_and_active: u64,
}

const _: () =
    assert!(core::mem::size_of::<NotificationObj>() == 1 << abi::object::NOTIFICATION_BITS);

/// The notification at `n`.
pub fn get_ntfn(m: &impl Memory, n: PAddr) -> NotificationObj {
    *get::<NotificationObj>(m, n)
}

/// The notification at `n`, writable.
pub fn ntfn_mut(m: &mut impl Memory, n: PAddr) -> &mut NotificationObj {
    get_mut::<NotificationObj>(m, n)
}

impl NotificationObj {
    /// Whether it is `Active`.
    pub fn is_active(&self) -> bool {
        self.bound_and_active & 1 != 0
    }

    /// The bound TCB, 0 for none.
    pub fn bound(&self) -> PAddr {
        self.bound_and_active & !1
    }
}
