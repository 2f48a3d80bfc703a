# Everyday recipes. Each is a thin name for a `cargo xtask` command, so
# nothing here works differently from what the README says.

# Boot x86_64 in QEMU with the serial console on this terminal (Ctrl-A X quits).
run:
    cargo xtask run --arch x86_64

# Boot aarch64 in QEMU (`just run-arm --el2` starts the firmware at EL2).
run-arm *ARGS:
    cargo xtask run --arch aarch64 {{ARGS}}

# Everything CI runs: fmt + clippy on every crate and target, host tests, boot tests.
test:
    cargo xtask test

# Host tests only (no QEMU).
test-host:
    cargo xtask test --host-only

# Boot tests only, one architecture or both (`just boot-test aarch64`).
boot-test ARCH="all":
    cargo xtask test --boot-only --arch {{ARCH}} --verbose

# Write a bootable disk image and print its path.
image ARCH="x86_64":
    cargo xtask image --arch {{ARCH}}

# Format every crate.
fmt:
    cargo fmt --all

# The refinement suite as a soak run: STEPS random steps per run (release build).
soak STEPS="5000000":
    REFINEMENT_STEPS={{STEPS}} cargo test --release -p refinement --test refinement

# Steps per second of the refinement suite, and of the core and the model alone.
bench:
    cargo bench -p refinement

# The IPC round-trip benchmark in QEMU under -icount shift=0, both
# architectures (figures in docs/ipc-benchmark.md).
bench-ipc:
    cargo xtask bench

# The object core's unit tests and the refinement suite under Miri (needs a
# nightly toolchain with the miri component: `rustup +nightly component add
# miri rust-src`). The suite runs 60 steps per architecture and checks the
# whole state at the end of each sequence (see tests/refinement/README.md).
miri:
    cargo +nightly miri test -p kernel-core
    cargo +nightly miri test -p refinement --test refinement

# Mutation testing of the object core (cargo-mutants; config in .cargo/mutants.toml).
# Each mutant runs the core's unit tests, the scenarios and 5 000 refinement
# steps, two mutants at a time; survivors are worth re-running with more steps.
mutants:
    REFINEMENT_STEPS=5000 cargo mutants --no-shuffle -j 2
