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
// entries, comparing outcomes and states after every step:
//
// state and boot: ST-1, ST-2, ST-3, ST-4, ST-5, ST-6, ST-8, ST-10, UT-14;
// entry: SYS-4, SYS-5, SYS-6, SYS-7, SYS-9, SYS-15, SYS-16, SYS-17, SYS-18;
// addressing: CS-1, CS-2, CS-3, CS-4, CS-5, CS-6, CS-7, CS-8;
// capabilities: CAP-1, CAP-2, CAP-3, CAP-4, CAP-6, CAP-7, CAP-8, CAP-9;
// CNodes: CNODE-1 … CNODE-8, CNODE-10, CNODE-11 (CNODE-1, CNODE-2,
// CNODE-3, CNODE-4, CNODE-5, CNODE-6, CNODE-7, CNODE-8);
// untyped: UT-1, UT-2, UT-3, UT-4, UT-5, UT-6, UT-7, UT-8, UT-9, UT-10,
// UT-11, UT-12, UT-13;
// derivation: DER-1, DER-2, DER-3, DER-4, DER-5, DER-6, DER-7, DER-8,
// DER-9, DER-10, DER-11, DER-12, DER-13, DER-14, DER-15, DER-16;
// errors: ERR-1, ERR-2, ERR-3, ERR-4, ERR-5, ERR-6, ERR-7, ERR-8, ERR-9;
// transitions: TP-1, TP-3, TP-5, TP-9 (every entry ends: no step loops);
// invariants after every step: INV-1 … INV-27, INV-30, INV-37 (INV-1,
// INV-2, INV-3, INV-4, INV-5, INV-6, INV-7, INV-8, INV-9, INV-10, INV-11,
// INV-12, INV-13, INV-14, INV-15, INV-16, INV-17, INV-18, INV-19, INV-20,
// INV-21, INV-22, INV-23, INV-24, INV-25, INV-26, INV-27).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use refinement::{Pair, ops};
use spec::entry::Outcome;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Steps per generated sequence, at most.
const MAX_LEN: usize = 200;

fn total_steps() -> u64 {
    std::env::var("REFINEMENT_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

#[test]
fn core_refines_the_model() {
    let want = total_steps();
    // Sequences average MAX_LEN / 2 steps, fewer when a sequence ends
    // early because the caller destroyed its own thread or CSpace.
    let cases = (want * 5 / 2).div_ceil(MAX_LEN as u64) as u32;
    let ran = AtomicU64::new(0);
    // What the steps did, to show the suite reaches deep states.
    let tally: Mutex<BTreeMap<String, u64>> = Mutex::default();
    let mut runner = TestRunner::new(Config {
        cases,
        // Relative to the crate directory, where `cargo test` runs.
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "tests/refinement.proptest-regressions",
            ),
        )),
        ..Config::default()
    });
    let result = runner.run(&prop::collection::vec(ops::step(), 1..=MAX_LEN), |steps| {
        let mut pair = Pair::new();
        for s in &steps {
            if !pair.caller_alive() {
                break;
            }
            let kind = match pair.step(s) {
                Err(d) => {
                    return Err(TestCaseError::fail(format!("step {}: {}", pair.steps, d.0)));
                }
                Ok((Outcome::Result(Ok(_)), inv)) => format!("label {} ok", inv.label),
                Ok((Outcome::Result(Err(e)), _)) => format!("{:?}", e.error()),
                Ok((Outcome::CapFault(f), _)) => format!("CapFault {:?}", f.kind),
                Ok((o, _)) => format!("{o:?}"),
            };
            let mut t = tally.lock().unwrap();
            *t.entry(kind).or_default() += 1;
            if pair.model.state.pending_delete.is_some() {
                *t.entry("(pending delete after the step)".into())
                    .or_default() += 1;
            }
            let zombies = pair
                .model
                .state
                .slots
                .values()
                .filter(|s| matches!(s.cap, spec::state::Cap::Zombie { .. }))
                .count();
            if zombies > 1 {
                *t.entry("(zombie chain after the step)".into()).or_default() += 1;
            }
        }
        ran.fetch_add(pair.steps, Ordering::Relaxed);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let ran = ran.into_inner();
    eprintln!("refinement: {cases} sequences, {ran} steps");
    for (k, n) in tally.into_inner().unwrap() {
        eprintln!("  {k}: {n}");
    }
    assert!(ran >= want, "only {ran} of {want} steps ran");
}
