//! The UEFI loader's logic, kept free of firmware calls so it runs under the
//! host's test harness: kernel ELF validation and placement
//! ([`kernel_elf`]), memory-map conversion ([`memory_map`]) and the
//! translation-table builder for both architectures ([`paging`]).
//! `main.rs` is the thin UEFI application around it.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![forbid(unsafe_code)]

pub mod kernel_elf;
pub mod memory_map;
pub mod paging;
