//! The one definition of everything that crosses a privilege boundary.
//!
//! Loader → kernel: [`boot`] (the `BootInfo` hand-over and the shared
//! virtual layout). Kernel ↔ user space: syscall numbers, invocation
//! labels, the message-info word, rights and error codes (added as the
//! kernel grows them). Both sides depend on this crate, so they can never
//! disagree about a layout. It depends on nothing of ours.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod boot;
pub mod context;
pub mod cptr;
pub mod error;
pub mod exit;
pub mod fault;
pub mod invocation;
pub mod ipc_buffer;
pub mod irq;
pub mod msginfo;
pub mod object;
pub mod process;
pub mod rights;
pub mod root_task;
pub mod sched;
pub mod syscall;
pub mod vm;
