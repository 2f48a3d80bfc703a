//! The thread control block: its layout in its 2 KiB of retyped memory and
//! its state (spec: ST-7, ST-8, ABI-14).

use crate::mem::{Memory, PAddr, get, get_mut};
use crate::queue::Links;
use crate::slot::{RawSlot, SLOT_SIZE};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A TCB as stored. The all-zero value is the initial state of UT-9 except
/// for the slice, which Retype sets.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct TcbObj {
    /// The five TCB slots (spec: ABI-11).
    pub slots: [RawSlot; abi::invocation::TCB_SLOTS],
    /// [`ThreadState`] code.
    pub state: u64,
    /// The endpoint or notification of a blocked state.
    pub state_obj: u64,
    /// `BlockedOnSend.badge`.
    pub state_badge: u64,
    /// `BlockedOnSend`/`BlockedOnRecv` flags: bit 0 grant, 1 grant_reply,
    /// 2 call.
    pub state_flags: u64,
    /// Priority.
    pub priority: u64,
    /// Maximum controlled priority.
    pub mcp: u64,
    /// Remaining ticks of the slice.
    pub slice: u64,
    /// IPC buffer virtual address.
    pub ipc_buffer: u64,
    /// Bound notification, 0 for none.
    pub bound_notification: u64,
    /// Pending fault ([`crate::fault`] encoding), all zero for none.
    pub fault: [u64; 6],
    /// Slot holding the Reply capability naming this thread, 0 for none.
    pub reply_at: u64,
    /// Links in an endpoint, notification or ready queue.
    pub queue: Links,
    /// 1 while the thread is in a ready queue (spec: SCHED-2).
    pub in_ready: u64,
    /// The user register set (spec: ABI-10), `Layout::words` used.
    pub context: [u64; MAX_CONTEXT_WORDS],
}

/// The largest register set of the architectures (aarch64's).
pub const MAX_CONTEXT_WORDS: usize = abi::context::aarch64::CONTEXT_WORDS;

const _: () = assert!(core::mem::size_of::<TcbObj>() <= 1 << abi::object::TCB_BITS);

/// Offset of the queue links inside a TCB (for [`crate::queue::Queue`]).
pub const QUEUE_LINKS_AT: u64 = core::mem::offset_of!(TcbObj, queue) as u64;

/// Address of TCB slot `index` of the TCB at `tcb`.
pub const fn slot_addr(tcb: PAddr, index: u64) -> PAddr {
    tcb + index * SLOT_SIZE
}

/// Thread states (spec: ST-8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Not runnable.
    Inactive,
    /// Runnable, after its last system call.
    Running,
    /// Runnable, re-executing its system call.
    Restart,
    /// Queued to send.
    BlockedOnSend {
        /// The endpoint.
        ep: PAddr,
        /// Badge of the capability used.
        badge: u64,
        /// That capability had Grant.
        grant: bool,
        /// That capability had GrantReply.
        grant_reply: bool,
        /// A Call.
        call: bool,
    },
    /// Queued to receive.
    BlockedOnRecv {
        /// The endpoint.
        ep: PAddr,
        /// The capability had Grant.
        grant: bool,
    },
    /// Waiting for a reply.
    BlockedOnReply,
    /// Queued on a notification.
    BlockedOnNotification {
        /// The notification.
        ntfn: PAddr,
    },
    /// The idle thread.
    Idle,
}

impl ThreadState {
    /// Runnable states.
    pub fn is_runnable(self) -> bool {
        matches!(self, ThreadState::Running | ThreadState::Restart)
    }
}

/// The state of the TCB at `tcb`.
pub fn state(m: &impl Memory, tcb: PAddr) -> ThreadState {
    let t = get::<TcbObj>(m, tcb);
    let flag = |bit: u64| t.state_flags & (1 << bit) != 0;
    match t.state {
        0 => ThreadState::Inactive,
        1 => ThreadState::Running,
        2 => ThreadState::Restart,
        3 => ThreadState::BlockedOnSend {
            ep: t.state_obj,
            badge: t.state_badge,
            grant: flag(0),
            grant_reply: flag(1),
            call: flag(2),
        },
        4 => ThreadState::BlockedOnRecv {
            ep: t.state_obj,
            grant: flag(0),
        },
        5 => ThreadState::BlockedOnReply,
        6 => ThreadState::BlockedOnNotification { ntfn: t.state_obj },
        7 => ThreadState::Idle,
        other => panic!("corrupt thread state {other} in TCB {tcb:#x}"),
    }
}

/// Set the state of the TCB at `tcb`.
pub fn set_state(m: &mut impl Memory, tcb: PAddr, s: ThreadState) {
    let (code, obj, badge, flags) = match s {
        ThreadState::Inactive => (0, 0, 0, 0),
        ThreadState::Running => (1, 0, 0, 0),
        ThreadState::Restart => (2, 0, 0, 0),
        ThreadState::BlockedOnSend {
            ep,
            badge,
            grant,
            grant_reply,
            call,
        } => (
            3,
            ep,
            badge,
            grant as u64 | (grant_reply as u64) << 1 | (call as u64) << 2,
        ),
        ThreadState::BlockedOnRecv { ep, grant } => (4, ep, 0, grant as u64),
        ThreadState::BlockedOnReply => (5, 0, 0, 0),
        ThreadState::BlockedOnNotification { ntfn } => (6, ntfn, 0, 0),
        ThreadState::Idle => (7, 0, 0, 0),
    };
    let t = get_mut::<TcbObj>(m, tcb);
    t.state = code;
    t.state_obj = obj;
    t.state_badge = badge;
    t.state_flags = flags;
}

/// The TCB at `tcb`.
pub fn tcb(m: &impl Memory, tcb: PAddr) -> &TcbObj {
    get::<TcbObj>(m, tcb)
}

/// The TCB at `tcb`, writable.
pub fn tcb_mut(m: &mut impl Memory, tcb: PAddr) -> &mut TcbObj {
    get_mut::<TcbObj>(m, tcb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::BufferMemory;

    #[test]
    fn states_round_trip_and_zero_is_inactive() {
        let mut m = BufferMemory::new(0x800, 0x800);
        assert_eq!(state(&m, 0x800), ThreadState::Inactive);
        for s in [
            ThreadState::Running,
            ThreadState::Restart,
            ThreadState::BlockedOnSend {
                ep: 0x10,
                badge: 9,
                grant: true,
                grant_reply: false,
                call: true,
            },
            ThreadState::BlockedOnRecv {
                ep: 0x20,
                grant: true,
            },
            ThreadState::BlockedOnReply,
            ThreadState::BlockedOnNotification { ntfn: 0x40 },
            ThreadState::Idle,
            ThreadState::Inactive,
        ] {
            set_state(&mut m, 0x800, s);
            assert_eq!(state(&m, 0x800), s);
        }
    }
}
