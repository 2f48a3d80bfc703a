//! Intrusive doubly-linked queues of kernel objects, O(1) in every
//! operation.
//!
//! A queue is two physical addresses (head, tail) stored wherever the queue
//! lives — inside an endpoint or notification object, or in the scheduler's
//! ready queues. Each queued object carries its own [`Links`] at a fixed
//! offset, so queuing needs no memory beyond the objects themselves (no
//! kernel heap). An object is in at most one queue at a time (spec: the
//! "one queue" invariant), which one set of links per object enforces.
//!
//! Queue values are `Copy`: callers read the queue out of its object,
//! operate (which updates the nodes' links through [`Memory`]) and write it
//! back. Address 0 means "none"; no kernel object is ever placed at
//! physical address 0.

use crate::mem::{Memory, PAddr, get, get_mut};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The links a queued object carries.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Links {
    /// Previous node, 0 at the head.
    pub prev: PAddr,
    /// Next node, 0 at the tail.
    pub next: PAddr,
}

/// A queue: first and last node, 0 when empty.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Queue {
    /// First node (dequeued first), 0 if empty.
    pub head: PAddr,
    /// Last node, 0 if empty.
    pub tail: PAddr,
}

impl Queue {
    /// Whether the queue is empty.
    pub fn is_empty(&self) -> bool {
        self.head == 0
    }

    /// Append `node`, whose links live at `node + links_at`.
    pub fn push_back(&mut self, m: &mut impl Memory, node: PAddr, links_at: u64) {
        debug_assert!(node != 0);
        *get_mut::<Links>(m, node + links_at) = Links {
            prev: self.tail,
            next: 0,
        };
        if self.tail == 0 {
            self.head = node;
        } else {
            get_mut::<Links>(m, self.tail + links_at).next = node;
        }
        self.tail = node;
    }

    /// Insert `node` at the head.
    pub fn push_front(&mut self, m: &mut impl Memory, node: PAddr, links_at: u64) {
        debug_assert!(node != 0);
        *get_mut::<Links>(m, node + links_at) = Links {
            prev: 0,
            next: self.head,
        };
        if self.head == 0 {
            self.tail = node;
        } else {
            get_mut::<Links>(m, self.head + links_at).prev = node;
        }
        self.head = node;
    }

    /// Remove and return the first node.
    pub fn pop_front(&mut self, m: &mut impl Memory, links_at: u64) -> Option<PAddr> {
        let node = self.head;
        if node == 0 {
            return None;
        }
        self.remove(m, node, links_at);
        Some(node)
    }

    /// Unlink `node`, which must be in this queue.
    pub fn remove(&mut self, m: &mut impl Memory, node: PAddr, links_at: u64) {
        let Links { prev, next } = *get::<Links>(m, node + links_at);
        if prev == 0 {
            self.head = next;
        } else {
            get_mut::<Links>(m, prev + links_at).next = next;
        }
        if next == 0 {
            self.tail = prev;
        } else {
            get_mut::<Links>(m, next + links_at).prev = prev;
        }
        *get_mut::<Links>(m, node + links_at) = Links::default();
    }

    /// Iterate over the nodes front to back (for invariant checks and
    /// projections; `O(n)`, never on a kernel fast path).
    pub fn iter<'m, M: Memory>(&self, m: &'m M, links_at: u64) -> impl Iterator<Item = PAddr> + 'm {
        let mut at = self.head;
        core::iter::from_fn(move || {
            if at == 0 {
                return None;
            }
            let node = at;
            at = get::<Links>(m, node + links_at).next;
            Some(node)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::BufferMemory;
    use alloc::vec::Vec;

    const L: u64 = 16; // links at offset 16 in each 64-byte test node

    fn nodes() -> (BufferMemory, [PAddr; 4]) {
        (
            BufferMemory::new(0x1000, 0x1000),
            [0x1000, 0x1040, 0x1080, 0x10c0],
        )
    }

    #[test]
    fn fifo_order_and_removal_from_anywhere() {
        let (mut m, n) = nodes();
        let mut q = Queue::default();
        for &x in &n {
            q.push_back(&mut m, x, L);
        }
        assert_eq!(q.iter(&m, L).collect::<Vec<_>>(), n);
        q.remove(&mut m, n[0], L);
        q.push_front(&mut m, n[0], L);
        assert_eq!(q.iter(&m, L).collect::<Vec<_>>(), n);
        q.remove(&mut m, n[2], L); // middle
        q.remove(&mut m, n[0], L); // head
        q.remove(&mut m, n[3], L); // tail
        assert_eq!(q.iter(&m, L).collect::<Vec<_>>(), [n[1]]);
        assert_eq!(q.pop_front(&mut m, L), Some(n[1]));
        assert!(q.is_empty());
        assert_eq!(q, Queue::default());
        assert_eq!(q.pop_front(&mut m, L), None);
        for &x in &n {
            assert_eq!(
                *get::<Links>(&m, x + L),
                Links::default(),
                "unlinked nodes carry no stale links"
            );
        }
    }
}
