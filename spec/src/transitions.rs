//! Checkers of the transition properties of `invariants.md` that relate
//! the abstract state before one kernel entry to the state after it, each
//! named after its rule id. TP-1 (refinement) and TP-3 (failure changes
//! nothing) compare two runs or need the outcome and live in the
//! refinement harness; the ones here read the two states alone.

use abi::context::Layout;
use abi::msginfo::{MessageInfo, REGISTER_MRS};
use alloc::collections::{BTreeSet, VecDeque};
use alloc::format;
use alloc::vec::Vec;

use crate::invariants::Violation;
use crate::state::{Addr, Cap, Object, SlotRef, State, ThreadState};

/// IPC-buffer word of `msg[0]` (ABI-8).
const MSG_WORD: u64 = 1;

/// The threads to which `thread`'s CSpace holds a capability: the TCB
/// capabilities in every CNode reachable from its CSpace root through
/// CNode capabilities. A superset of what it can address (guards and
/// depths limit addressing further), so the ceiling below is generous.
fn tcbs_in_cspace(s: &State, thread: Addr) -> BTreeSet<Addr> {
    let mut found = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut todo = VecDeque::new();
    let root = SlotRef::Tcb {
        obj: thread,
        index: 0,
    };
    if let Some(Cap::CNode { obj }) = s.slots.get(&root).map(|sl| sl.cap) {
        todo.push_back(obj);
    }
    while let Some(cnode) = todo.pop_front() {
        if !seen.insert(cnode) {
            continue;
        }
        let from = SlotRef::CNode {
            obj: cnode,
            index: 0,
        };
        let to = SlotRef::CNode {
            obj: cnode,
            index: u64::MAX,
        };
        for (_, sl) in s.slots.range(from..=to) {
            match sl.cap {
                Cap::Tcb { obj } => {
                    found.insert(obj);
                }
                Cap::CNode { obj } => todo.push_back(obj),
                _ => {}
            }
        }
    }
    found
}

/// TP-6 *Priority ceiling*: every priority or mcp an entry sets is at most
/// the mcp (before the entry) of a thread the caller holds a capability
/// to — the authority of TCB-7 and TCB-8 can only come from there. A
/// thread that did not exist before starts at priority and mcp 0 (UT-9);
/// an entry without a calling thread (tick, interrupt, idle) sets none.
pub fn tp_6(before: &State, after: &State) -> Result<(), Violation> {
    let ceiling = before.current.and_then(|c| {
        tcbs_in_cspace(before, c)
            .into_iter()
            .filter_map(|a| before.tcb(a).map(|t| t.mcp))
            .max()
    });
    for (&t, o) in &after.objects {
        let Object::Tcb(now) = o else { continue };
        let Some(was) = before.tcb(t) else {
            if now.priority != 0 || now.mcp != 0 {
                return Err(Violation {
                    rule: "TP-6",
                    detail: format!(
                        "new thread {t:#x} starts at priority {} mcp {}",
                        now.priority, now.mcp
                    ),
                });
            }
            continue;
        };
        for (what, old, new) in [
            ("priority", was.priority, now.priority),
            ("mcp", was.mcp, now.mcp),
        ] {
            if old != new && ceiling.is_none_or(|c| new > c) {
                return Err(Violation {
                    rule: "TP-6",
                    detail: format!(
                        "thread {t:#x}: {what} {old} -> {new} above the caller's ceiling {ceiling:?}"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Label, message words and badge register of `t` in `s`, as MSG-2 …
/// MSG-4 lay a message out: the info word's label and length (at most 4
/// without an IPC buffer), MR0 … MR3 in registers, the rest in the
/// buffer's `msg` array.
fn message(s: &State, t: Addr, l: Layout) -> (u64, Vec<u64>, u64) {
    let reg = |i: usize| {
        s.tcb(t)
            .and_then(|x| x.context.get(i).copied())
            .unwrap_or(0)
    };
    let info = MessageInfo::from_raw(reg(l.info));
    let buf = s.ipc_buffer(t);
    let mut n = info.length();
    if buf.is_none() {
        n = n.min(REGISTER_MRS);
    }
    let words = (0..n)
        .map(|i| match buf {
            _ if i < REGISTER_MRS => reg(l.mrs[i as usize]),
            Some(b) => s
                .frame_data
                .get(&(b + 8 * (MSG_WORD + i)))
                .copied()
                .unwrap_or(0),
            None => 0,
        })
        .collect();
    (info.label(), words, reg(l.cptr))
}

/// TP-7 *Message conservation*, for the messages the state records
/// before the entry — those of queued senders (IPC-5): a sender that
/// leaves `BlockedOnSend` for `Running` (Send) or `BlockedOnReply` (Call)
/// had its message delivered, which only the calling thread's receive
/// can do; the caller then holds that message's label and first words
/// (all of them when both have IPC buffers, MSG-6) and the badge the
/// sender's capability carried. Fault messages (IPC-8) are FLT-3's. At
/// most one queued message is taken per entry, and in one entry at most
/// one thread receives from an endpoint or notification and at most one
/// takes a reply: a message reaches one thread, once.
pub fn tp_7(before: &State, after: &State, l: Layout) -> Result<(), Violation> {
    let broken = |detail| {
        Err(Violation {
            rule: "TP-7",
            detail,
        })
    };
    let mut taken = 0;
    let (mut received, mut replied) = (0, 0);
    for (&t, o) in &before.objects {
        let Object::Tcb(was) = o else { continue };
        let Some(now) = after.tcb(t) else { continue };
        match (was.state, now.state) {
            (
                ThreadState::BlockedOnRecv { .. } | ThreadState::BlockedOnNotification { .. },
                ThreadState::Running,
            ) => received += 1,
            (ThreadState::BlockedOnReply, ThreadState::Running) => replied += 1,
            (ThreadState::BlockedOnSend { badge, call, .. }, next)
                if was.fault.is_none()
                    && (next == ThreadState::Running && !call
                        || next == ThreadState::BlockedOnReply && call) =>
            {
                taken += 1;
                let Some(r) = before.current else {
                    return broken(format!("{t:#x}'s message taken without a caller"));
                };
                let (label, words, _) = message(before, t, l);
                let (got_label, got, got_badge) = message(after, r, l);
                let n = got.len();
                let whole = if before.ipc_buffer(t).is_some() && after.ipc_buffer(r).is_some() {
                    words.len()
                } else {
                    words.len().min(REGISTER_MRS as usize)
                };
                if got_label != label & ((1 << abi::msginfo::LABEL_BITS) - 1)
                    || n != whole
                    || got[..] != words[..n]
                    || got_badge != badge
                {
                    return broken(format!(
                        "{t:#x} sent label {label} {words:?} badge {badge}; \
                         {r:#x} got label {got_label} {got:?} badge {got_badge}"
                    ));
                }
            }
            _ => {}
        }
    }
    if taken > 1 || received > 1 || replied > 1 {
        return broken(format!(
            "one entry delivered {taken} queued messages, woke {received} receivers, \
             {replied} reply waiters"
        ));
    }
    Ok(())
}

/// A transition checker's type: the states before and after one entry,
/// and the register layout.
pub type Checker = fn(&State, &State, Layout) -> Result<(), Violation>;

/// Every transition checker with its rule id.
pub const CHECKERS: &[(&str, Checker)] = &[("TP-6", |b, a, _| tp_6(b, a)), ("TP-7", tp_7)];

/// Run every transition checker on `before` → `after`.
pub fn check_all(before: &State, after: &State, l: Layout) -> Vec<Violation> {
    CHECKERS
        .iter()
        .filter_map(|(_, f)| f(before, after, l).err())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Arch;
    use crate::invariants::tests::{c, call, fixture, tcb_mut};
    use crate::model::Model;
    use abi::invocation::Label;
    use alloc::vec;

    fn model(s: &State) -> Model {
        Model {
            state: s.clone(),
            arch: Arch::Aarch64,
        }
    }

    #[test]
    fn tp_6_priorities_set_through_the_root_thread_stay_under_its_mcp() {
        let f = fixture();
        let mut m = model(&f.s);
        // The root thread (mcp 255, root slot 1) sets the new thread's
        // (root slot 42) priority and mcp.
        call(&mut m, c(42), Label::TcbSetPriority, &[200], &[c(1)]);
        assert_eq!(tp_6(&f.s, &m.state), Ok(()));
        let before = m.state.clone();
        call(&mut m, c(42), Label::TcbSetMcPriority, &[100], &[c(1)]);
        assert_eq!(tp_6(&before, &m.state), Ok(()));
        assert_eq!(check_all(&f.s, &m.state, Arch::Aarch64.layout()), vec![]);
    }

    #[test]
    fn tp_6_a_priority_above_every_authority_is_a_violation() {
        let f = fixture();
        // Lower the root thread's mcp, then let the new thread's priority
        // rise above it: no authority the caller holds allows that.
        let mut before = f.s.clone();
        let root = before.current.unwrap();
        tcb_mut(&mut before, root).mcp = 10;
        tcb_mut(&mut before, f.tcb).mcp = 10;
        let mut after = before.clone();
        tcb_mut(&mut after, f.tcb).priority = 11;
        assert_eq!(tp_6(&before, &after).unwrap_err().rule, "TP-6");
        tcb_mut(&mut after, f.tcb).priority = 10;
        assert_eq!(tp_6(&before, &after), Ok(()));
        // Without a calling thread nothing may change.
        before.current = None;
        assert!(tp_6(&before, &after).is_err());
    }

    #[test]
    fn tp_6_a_new_thread_above_priority_zero_is_a_violation() {
        let f = fixture();
        let mut before = f.s.clone();
        before.objects.remove(&f.tcb);
        let mut after = f.s.clone();
        assert_eq!(tp_6(&before, &after), Ok(()));
        tcb_mut(&mut after, f.tcb).mcp = 1;
        assert!(tp_6(&before, &after).is_err());
    }

    /// A state where the fixture's thread is queued to send label 5,
    /// words [11, 12] with badge 7 on the fixture's endpoint, and the
    /// state after the root thread received it.
    fn queued_send() -> (State, State, Addr, Addr) {
        let f = fixture();
        let l = Arch::Aarch64.layout();
        let root = f.s.current.unwrap();
        let mut before = f.s.clone();
        let s = tcb_mut(&mut before, f.tcb);
        s.state = ThreadState::BlockedOnSend {
            ep: f.ep,
            badge: 7,
            grant: false,
            grant_reply: false,
            call: false,
        };
        s.context[l.info] = (5 << 12) | 2;
        s.context[l.mrs[0]] = 11;
        s.context[l.mrs[1]] = 12;
        let mut after = before.clone();
        tcb_mut(&mut after, f.tcb).state = ThreadState::Running;
        let r = tcb_mut(&mut after, root);
        r.context[l.info] = (5 << 12) | 2;
        r.context[l.mrs[0]] = 11;
        r.context[l.mrs[1]] = 12;
        r.context[l.cptr] = 7;
        (before, after, root, f.tcb)
    }

    #[test]
    fn tp_7_a_queued_message_reaches_the_receiver_whole() {
        let l = Arch::Aarch64.layout();
        let (before, after, root, sender) = queued_send();
        assert_eq!(tp_7(&before, &after, l), Ok(()));
        // A changed word, badge or label, a lost word: each a violation.
        for (i, v) in [
            (l.mrs[1], 13),
            (l.cptr, 8),
            (l.info, (6 << 12) | 2),
            (l.info, (5 << 12) | 1),
        ] {
            let mut bad = after.clone();
            tcb_mut(&mut bad, root).context[i] = v;
            assert_eq!(
                tp_7(&before, &bad, l).unwrap_err().rule,
                "TP-7",
                "register {i}"
            );
        }
        // Taken with no thread to receive it.
        let mut idle = before.clone();
        idle.current = None;
        assert!(tp_7(&idle, &after, l).is_err());
        // A Call's sender ends waiting for the reply, not running.
        let mut call = before.clone();
        if let ThreadState::BlockedOnSend { call: c, .. } = &mut tcb_mut(&mut call, sender).state {
            *c = true;
        }
        assert_eq!(tp_7(&call, &after, l), Ok(()), "not a delivery: unchecked");
        let mut waits = after.clone();
        tcb_mut(&mut waits, sender).state = ThreadState::BlockedOnReply;
        assert_eq!(tp_7(&call, &waits, l), Ok(()));
        tcb_mut(&mut waits, root).context[l.mrs[0]] = 0;
        assert!(tp_7(&call, &waits, l).is_err());
    }

    #[test]
    fn tp_7_one_entry_wakes_at_most_one_receiver() {
        let l = Arch::Aarch64.layout();
        let f = fixture();
        let root = f.s.current.unwrap();
        let mut before = f.s.clone();
        for t in [root, f.tcb] {
            tcb_mut(&mut before, t).state = ThreadState::BlockedOnRecv {
                ep: f.ep,
                grant: false,
            };
        }
        let mut after = before.clone();
        tcb_mut(&mut after, root).state = ThreadState::Running;
        assert_eq!(tp_7(&before, &after, l), Ok(()));
        tcb_mut(&mut after, f.tcb).state = ThreadState::Running;
        assert!(tp_7(&before, &after, l).is_err());
    }
}
