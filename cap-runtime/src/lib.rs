//! The user-space library every cairn program links (see the README).
//!
//! What is here so far:
//! - [`message`]: building a message for a system call and reading what
//!   one delivered, over the message registers and the IPC buffer (spec:
//!   MSG-2 … MSG-6, SYS-9), results of kernel invocations decoded into
//!   the ABI's typed errors;
//! - [`cap`]: typed capability handles (`Cap<Endpoint>`, …) over the ABI's
//!   capability addresses;
//! - [`syscall`] (bare-metal targets only): the eight system calls as
//!   functions over [`message::Registers`], with the register roles of
//!   ABI-5 for `syscall` (x86_64) and `svc #0` (aarch64), and the debug
//!   console and halt calls of ABI-19;
//! - [`start`] (bare-metal targets only): the program entry (`entry!`),
//!   `print!`/`println!` on the debug console, and the panic handler.
#![cfg_attr(not(test), no_std)]

pub mod cap;
#[cfg(target_os = "none")]
pub mod ipc;
pub mod message;
#[cfg(target_os = "none")]
pub mod start;
#[cfg(target_os = "none")]
pub mod syscall;
