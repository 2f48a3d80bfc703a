//! Steps per second of the refinement suite, and of its parts: a checked
//! step (core entry, model entry, projection, invariant checks,
//! comparison), the core's entries alone and the model's alone, replayed
//! over the same entries. A benchmark, not a test: it measures and prints.
//!
//! `cargo bench -p refinement` (optionally `REFINEMENT_BENCH_STEPS`).

use kernel_core::kernel::{BootSpec, BootUntyped, Kernel};
use kernel_core::mem::BufferMemory;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use refinement::{Pair, Step, boot_config, machine, ops};
use spec::entry::Invocation;
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
    // A fixed seed, so every run measures the same sequences.
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let seq = proptest::collection::vec(ops::step(), 200);
    let mut sequences: Vec<Vec<(Invocation, u64)>> = Vec::new();
    let (mut steps, mut checked) = (0u64, Duration::ZERO);
    while steps < want {
        let generated: Vec<Step> = seq.new_tree(&mut runner).expect("generate").current();
        let mut pair = Pair::new();
        let mut resolved = Vec::new();
        let t = Instant::now();
        for s in &generated {
            if !pair.caller_alive() {
                break;
            }
            let (_, inv) = pair.step(s).expect("the core diverged from the model");
            resolved.push((inv, s.preempt));
        }
        checked += t.elapsed();
        steps += pair.steps;
        sequences.push(resolved);
    }
    let untypeds: Vec<BootUntyped> = machine::UNTYPEDS
        .iter()
        .map(|&(base, size_bits, device)| BootUntyped {
            base,
            size_bits: size_bits as u8,
            device,
        })
        .collect();
    let spec = BootSpec {
        root_tcb: machine::ROOT_TCB,
        root_cnode: machine::ROOT_CNODE,
        root_radix: machine::ROOT_RADIX as u8,
        untypeds: &untypeds,
    };
    // The same entries on the core alone (preemption answers dropped: the
    // figure is for uninterrupted entries).
    let mut core_time = Duration::ZERO;
    for seq in &sequences {
        let mut k = Kernel::boot(BufferMemory::new(machine::BASE, machine::SIZE), &spec);
        let t = Instant::now();
        for (inv, _) in seq {
            std::hint::black_box(k.call(inv.cptr, inv.label, &inv.words, &inv.extra, &mut never));
        }
        core_time += t.elapsed();
    }
    let mut model_time = Duration::ZERO;
    for seq in &sequences {
        let mut m = Model::boot(&boot_config());
        let t = Instant::now();
        for (inv, _) in seq {
            std::hint::black_box(m.invoke(inv, &mut never));
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
