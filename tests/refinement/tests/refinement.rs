//! The refinement suite: random sequences of kernel entries run on the
//! object core and the model in lock step; after every step the invariants
//! hold, the states agree, the outcomes agree and failures change nothing
//! (see the crate documentation).
//!
//! `REFINEMENT_STEPS` sets the total number of random steps (default
//! 100 000); failing sequences are persisted by proptest under
//! `tests/refinement.proptest-regressions` and re-run first.

// The rules this suite holds the object core to, by running it against
// the model that implements them over generated valid and hostile
// entries on both register layouts, comparing outcomes and whole states
// (registers, queues, frame contents included) after every step:
//
// state and boot: ST-1, ST-2, ST-3, ST-4, ST-5, ST-6, ST-7, ST-8, ST-9,
// ST-10, UT-14, ABI-5, ABI-10, ABI-17;
// entries: SYS-1, SYS-2, SYS-3, SYS-4, SYS-5, SYS-6, SYS-7, SYS-8, SYS-9,
// SYS-11, SYS-12, SYS-13, SYS-14, SYS-15, SYS-16, SYS-17, SYS-18;
// addressing: CS-1, CS-2, CS-3, CS-4, CS-5, CS-6, CS-7, CS-8;
// capabilities: CAP-1, CAP-2, CAP-3, CAP-4, CAP-5, CAP-6, CAP-7, CAP-8,
// CAP-9;
// CNodes: CNODE-1, CNODE-2, CNODE-3, CNODE-4, CNODE-5, CNODE-6, CNODE-7,
// CNODE-8, CNODE-10, CNODE-11;
// untyped: UT-1, UT-2, UT-3, UT-4, UT-5, UT-6, UT-7, UT-8, UT-9, UT-10,
// UT-11, UT-12, UT-13;
// derivation: DER-1, DER-2, DER-3, DER-4, DER-5, DER-6, DER-7, DER-8,
// DER-9, DER-10, DER-11, DER-12, DER-13, DER-14, DER-15, DER-16;
// messages and IPC: MSG-1, MSG-2, MSG-3, MSG-4, MSG-5, MSG-6, MSG-7,
// IPC-1, IPC-2, IPC-4, IPC-5, IPC-6, IPC-7, IPC-8, IPC-9, IPC-10, IPC-11,
// IPC-13, IPC-14, IPC-15, IPC-16, IPC-17, IPC-18, IPC-19, IPC-20;
// notifications: NTFN-1, NTFN-2, NTFN-3, NTFN-4, NTFN-5, NTFN-6, NTFN-7,
// NTFN-8;
// threads: TCB-1, TCB-2, TCB-3, TCB-4, TCB-5, TCB-6, TCB-7, TCB-8, TCB-9,
// TCB-10, TCB-11, TCB-12, TCB-13, TCB-14;
// scheduling: SCHED-1, SCHED-2, SCHED-3, SCHED-4, SCHED-5, SCHED-6,
// SCHED-7, SCHED-8, SCHED-9, SCHED-10, SCHED-11;
// faults: FLT-1, FLT-2, FLT-3, FLT-4, FLT-5, FLT-6, FLT-7, FLT-8;
// interrupts: IRQ-1, IRQ-2, IRQ-3, IRQ-4, IRQ-5, IRQ-6, IRQ-7, IRQ-8,
// IRQ-9;
// address spaces: VM-1, VM-2, VM-3, VM-4, VM-5, VM-6, VM-7, VM-8, VM-9,
// VM-10, VM-11, ASID-1, ASID-2, ASID-3, ASID-4, ASID-5, ASID-6;
// errors: ERR-1, ERR-2, ERR-3, ERR-4, ERR-5, ERR-6, ERR-7, ERR-8, ERR-9;
// transitions: TP-1, TP-3, TP-5, TP-6, TP-7, TP-8, TP-9;
// invariants after every step: all of them, INV-1 … INV-37 (INV-1, INV-2,
// INV-3, INV-4, INV-5, INV-6, INV-7, INV-8, INV-9, INV-10, INV-11,
// INV-12, INV-13, INV-14, INV-15, INV-16, INV-17, INV-18, INV-19, INV-20,
// INV-21, INV-22, INV-23, INV-24, INV-25, INV-26, INV-27, INV-28, INV-29,
// INV-30, INV-31, INV-32, INV-33, INV-34, INV-35, INV-36, INV-37).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use refinement::{Pair, ops};
use spec::entry::Outcome;
use spec::entry::{Arch, Entry};
use spec::state::{Object, ThreadState};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Steps per generated sequence, at most (fewer when the whole run is
/// shorter, as under Miri).
fn max_len() -> usize {
    (total_steps() as usize).clamp(1, 200)
}

/// `REFINEMENT_STEPS`, else 100 000 (under Miri, which sees no
/// environment by default, 40: the prologue and about 20 random steps per
/// architecture).
fn total_steps() -> u64 {
    std::env::var("REFINEMENT_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(miri) { 40 } else { 100_000 })
}

/// Run at least `want` random steps on architecture `arch`, in rounds of
/// proptest cases until enough have run (a sequence ends early once every
/// thread is blocked or stopped).
fn run(arch: Arch, want: u64) {
    let ran = AtomicU64::new(0);
    // What the steps did, to show the suite reaches deep states.
    let tally: Mutex<BTreeMap<String, u64>> = Mutex::default();
    let mut cases = 0;
    while ran.load(Ordering::Relaxed) < want {
        // A sequence runs a few dozen steps: size the round to what is
        // left, so a small `REFINEMENT_STEPS` (a Miri run) stays small.
        let left = want - ran.load(Ordering::Relaxed);
        let round = left.div_ceil(30).clamp(1, 64) as u32;
        cases += round;
        run_round(arch, round, &ran, &tally);
    }
    let ran = ran.into_inner();
    eprintln!("refinement on {arch:?}: {cases} sequences, {ran} steps");
    for (k, n) in tally.into_inner().unwrap() {
        eprintln!("  {k}: {n}");
    }
}

fn run_round(arch: Arch, cases: u32, ran: &AtomicU64, tally: &Mutex<BTreeMap<String, u64>>) {
    let mut runner = TestRunner::new(Config {
        cases,
        // Relative to the crate directory, where `cargo test` runs.
        // (Miri runs isolated from the file system.)
        failure_persistence: if cfg!(miri) {
            None
        } else {
            Some(Box::new(
                proptest::test_runner::FileFailurePersistence::Direct(
                    "tests/refinement.proptest-regressions",
                ),
            ))
        },
        max_shrink_iters: 4000,
        ..Config::default()
    });
    let result = runner.run(
        &prop::collection::vec(ops::step(), 1..=max_len()),
        |steps| {
            let mut pair = Pair::new(arch);
            for s in &ops::prologue(arch.layout()) {
                if let Err(d) = pair.step(s) {
                    return Err(TestCaseError::fail(format!(
                        "prologue step {}: {}",
                        pair.steps, d.0
                    )));
                }
            }
            for s in &steps {
                if !pair.alive() {
                    break;
                }
                let kind = match pair.step(s) {
                    Err(d) => {
                        return Err(TestCaseError::fail(format!("step {}: {}", pair.steps, d.0)));
                    }
                    Ok((o, e)) => describe(&o, &e, pair.core.layout),
                };
                let mut t = tally.lock().unwrap();
                *t.entry(kind).or_default() += 1;
                let st = &pair.model.state;
                if st.pending_delete.is_some() {
                    *t.entry("(pending delete after the step)".into())
                        .or_default() += 1;
                }
                let threads = st
                    .objects
                    .values()
                    .filter(|o| matches!(o, Object::Tcb(t) if t.state != ThreadState::Inactive))
                    .count();
                if threads > 2 {
                    *t.entry("(more than two live threads)".into()).or_default() += 1;
                }
                let blocked = st
                    .objects
                    .values()
                    .filter(|o| {
                        matches!(o, Object::Tcb(t) if matches!(
                            t.state,
                            ThreadState::BlockedOnSend { .. }
                                | ThreadState::BlockedOnRecv { .. }
                                | ThreadState::BlockedOnReply
                                | ThreadState::BlockedOnNotification { .. }
                        ))
                    })
                    .count();
                if blocked > 0 {
                    *t.entry("(a thread blocked in IPC)".into()).or_default() += 1;
                }
            }
            ran.fetch_add(pair.steps, Ordering::Relaxed);
            Ok(())
        },
    );
    if let Err(e) = result {
        // The reason only: the minimal sequence is saved as a regression.
        let reason = match &e {
            proptest::test_runner::TestError::Fail(r, _) => r.to_string(),
            other => other.to_string(),
        };
        panic!("{arch:?}: {reason}");
    }
}

/// A short name for what an entry did, for the tally.
fn describe(o: &Outcome, e: &Entry, l: abi::context::Layout) -> String {
    let call = match e {
        Entry::Syscall(u) => u.regs.iter().rev().find(|(i, _)| *i == l.number).map_or(
            "syscall".to_string(),
            |(_, n)| match abi::syscall::Syscall::try_from(*n) {
                Ok(s) => format!("{s:?}"),
                Err(_) => "unknown syscall".to_string(),
            },
        ),
        Entry::Exception(..) => "exception".to_string(),
        Entry::Tick => "tick".to_string(),
        Entry::Interrupt(_) => "interrupt".to_string(),
    };
    let label = match e {
        Entry::Syscall(u) => u
            .regs
            .iter()
            .rev()
            .find(|(i, _)| *i == l.info)
            .and_then(|(_, info)| abi::invocation::Label::try_from(info >> 12).ok()),
        _ => None,
    };
    let call = match label {
        Some(label) => format!("{call} {label:?}"),
        None => call,
    };
    match o {
        Outcome::Result(Ok(_)) => format!("{call}: ok"),
        Outcome::Result(Err(err)) => format!("{call}: {:?}", err.error()),
        Outcome::Fault(f) => format!(
            "{call}: fault {}",
            format!("{f:?}").split(' ').next().unwrap_or("")
        ),
        other => format!("{call}: {other:?}"),
    }
}

#[test]
fn core_refines_the_model_on_x86_64() {
    run(Arch::X86_64, total_steps() / 2);
}

#[test]
fn core_refines_the_model_on_aarch64() {
    run(Arch::Aarch64, total_steps().div_ceil(2));
}
