//! The executable model of the kernel specification (`spec/*.md`).
//!
//! The model holds exactly the abstract state of `state.md` ([`state`]) and
//! implements each operation as the rules state it, in plain Rust over
//! vectors and ordered maps, with no concern for speed ([`model`]). The
//! invariant checkers ([`invariants`]) evaluate `invariants.md` on any
//! abstract state — the model's, or the kernel core's projected to the
//! same view — each named after its rule id; [`transitions`] checks the
//! transition properties that relate a state to the next.
//!
//! `no_std + alloc`, so a checking kernel build can run the checkers too.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod entry;
pub mod invariants;
pub mod model;
pub mod state;
pub mod transitions;
