//! The architecture-specific end of the loader: which tables the hand-over
//! needs and the final jump into the kernel.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(target_arch = "aarch64")]
pub use aarch64::*;
#[cfg(target_arch = "x86_64")]
pub use x86_64::*;

/// Everything the final jump needs; all addresses are final.
pub struct Handover {
    /// Physical address of the upper-half root table (x86_64 loads it;
    /// aarch64's kernel reads it from the BootInfo).
    #[cfg_attr(target_arch = "aarch64", allow(dead_code))]
    pub upper_root: u64,
    /// Kernel entry, virtual (x86_64 jumps here with the new tables live).
    #[cfg_attr(target_arch = "aarch64", allow(dead_code))]
    pub entry_virt: u64,
    /// Kernel entry, physical (aarch64 jumps here with the MMU off).
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    pub entry_phys: u64,
    /// Top of the kernel's boot stack (virtual; aarch64's kernel knows it).
    #[cfg_attr(target_arch = "aarch64", allow(dead_code))]
    pub stack_top: u64,
    /// Physical address of the BootInfo (the kernel's first argument).
    pub bootinfo_phys: u64,
    /// Memory the kernel reads before its caches are on (aarch64 cleans it
    /// to the point of coherency).
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    pub flush: [(u64, u64); 2],
}
