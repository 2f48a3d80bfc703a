//! The user-space library every cairn program links (see the README).
//!
//! What is here so far:
//! - [`message`]: building a message for a system call and reading what
//!   one delivered, over the message registers and the IPC buffer (spec:
//!   MSG-2 … MSG-6, SYS-9), results of kernel invocations decoded into
//!   the ABI's typed errors;
//! - [`cap`]: typed capability handles (`Cap<Endpoint>`, …) over the ABI's
//!   capability addresses;
//! - [`ops`]: kernel invocations as typed functions over any [`ops::Invoke`]
//!   (the real `Call`, or a test double);
//! - [`slots`]: a CSpace slot allocator (bitmap over a range of the
//!   program's CNode);
//! - [`untyped`]: an untyped-memory allocator that tracks each untyped's
//!   watermark (spec: UT-7) and retypes from one with room;
//! - [`cpio`]: reading a cpio "newc" archive (the initial image);
//! - [`spawn`]: building a process from an ELF image with exactly the
//!   capabilities passed in (spec: ABI-20);
//! - [`fault`]: fault messages decoded for a fault handler (spec: FLT-4);
//! - [`syscall`] (bare-metal targets only): the eight system calls as
//!   functions over [`message::Registers`], with the register roles of
//!   ABI-5 for `syscall` (x86_64) and `svc #0` (aarch64), and the debug
//!   console and halt calls of ABI-19;
//! - [`start`] (bare-metal targets only): the program entry (`entry!`),
//!   `print!`/`println!` on the debug console, and the panic handler.
#![cfg_attr(not(test), no_std)]

pub mod cap;
pub mod cpio;
pub mod fault;
#[cfg(target_os = "none")]
pub mod ipc;
pub mod message;
pub mod ops;
pub mod slots;
pub mod spawn;
#[cfg(target_os = "none")]
pub mod start;
#[cfg(target_os = "none")]
pub mod syscall;
pub mod untyped;
