//! The kernel's portable object core.
//!
//! This crate is the code the bare-metal kernel links *and* the code the
//! host property tests run against the executable model in `spec/` — one
//! implementation, never a second copy. It contains no architecture code
//! and no `cfg(target_arch)`; it reaches memory only through
//! [`mem::Memory`], which the kernel implements over its direct physical map
//! and the tests over a buffer.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![forbid(unsafe_code)]

#[cfg(any(test, feature = "host", feature = "check"))]
extern crate alloc;

pub mod cap;
pub mod delete;
pub mod fault;
pub mod ipc;
pub mod kernel;
pub mod mem;
pub mod message;
pub mod object;
#[cfg(feature = "check")]
pub mod project;
pub mod pte;
pub mod queue;
pub mod ready;
pub mod region;
pub mod sched;
pub mod slot;
