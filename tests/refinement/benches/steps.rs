//! Steps per second of the refinement suite, and of its parts: a checked
//! step (core entry, model entry, projection, invariant checks,
//! comparison), the core's entries alone and the model's alone, replayed
//! over the same entries. A benchmark, not a test: it measures and prints.
//!
//! `cargo bench -p refinement` (optionally `REFINEMENT_BENCH_STEPS`).

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use refinement::{Pair, Step, boot_config, boot_core, core_entry, ops};
use spec::entry::{Arch, Entry};
use spec::model::Model;
use std::time::{Duration, Instant};

fn never() -> bool {
    false
}

fn main() {
    let want: u64 = std::env::var("REFINEMENT_BENCH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let arch = Arch::X86_64;
    // A fixed seed, so every run measures the same sequences.
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let seq = proptest::collection::vec(ops::step(), 200);
    let mut sequences: Vec<Vec<Entry>> = Vec::new();
    let (mut steps, mut checked) = (0u64, Duration::ZERO);
    while steps < want {
        let generated: Vec<Step> = seq.new_tree(&mut runner).expect("generate").current();
        let mut pair = Pair::new(arch);
        let mut resolved = Vec::new();
        let t = Instant::now();
        for s in ops::prologue(arch.layout()).iter().chain(&generated) {
            if !pair.alive() {
                break;
            }
            let (_, e) = pair.step(s).expect("the core diverged from the model");
            resolved.push(e);
        }
        checked += t.elapsed();
        steps += pair.steps;
        sequences.push(resolved);
    }
    // The same entries on each side alone (preemption answers dropped: the
    // figures are for uninterrupted entries).
    let mut core_time = Duration::ZERO;
    for seq in &sequences {
        let mut k = boot_core(arch);
        let t = Instant::now();
        for e in seq {
            let ce = core_entry(&mut k, e);
            std::hint::black_box(k.entry(ce, &mut never));
        }
        core_time += t.elapsed();
    }
    let mut model_time = Duration::ZERO;
    for seq in &sequences {
        let mut m = Model::boot(&boot_config(arch));
        let t = Instant::now();
        for e in seq {
            std::hint::black_box(m.entry(e, &mut never));
        }
        model_time += t.elapsed();
    }
    let rate = |d: Duration| steps as f64 / d.as_secs_f64();
    println!(
        "refinement benchmark: {steps} entries in {} sequences",
        sequences.len()
    );
    println!(
        "  checked steps (core + model + projection + invariants): {:>10.0} steps/s",
        rate(checked)
    );
    println!(
        "  object core entries alone:                             {:>10.0} entries/s",
        rate(core_time)
    );
    println!(
        "  model entries alone:                                   {:>10.0} entries/s",
        rate(model_time)
    );
}
