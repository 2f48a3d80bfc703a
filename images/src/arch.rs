//! The two target architectures and what differs between them on the host
//! side: Rust targets, file names, QEMU binary, machine and firmware.

use std::fmt;

/// A target architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// x86_64 (QEMU q35 + OVMF).
    X86_64,
    /// aarch64 (QEMU virt + AAVMF / QEMU_EFI).
    Aarch64,
}

impl Arch {
    /// Both architectures, in test order.
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// Parse `x86_64` / `aarch64` (and a few common aliases).
    pub fn parse(s: &str) -> Option<Arch> {
        match s {
            "x86_64" | "x86-64" | "amd64" | "x64" => Some(Arch::X86_64),
            "aarch64" | "arm64" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// Name as used in paths and messages.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// Rust target of the kernel.
    pub fn kernel_target(self) -> String {
        format!("{}-unknown-none", self.name())
    }

    /// Rust target of user programs: soft-float, because user threads
    /// have no FP/SIMD state yet (any use faults).
    pub fn user_target(self) -> String {
        match self {
            Arch::X86_64 => "x86_64-unknown-none".into(),
            Arch::Aarch64 => "aarch64-unknown-none-softfloat".into(),
        }
    }

    /// Rust target of the UEFI loader.
    pub fn uefi_target(self) -> String {
        format!("{}-unknown-uefi", self.name())
    }

    /// Removable-media boot path of the loader on the ESP.
    pub fn efi_boot_path(self) -> &'static str {
        match self {
            Arch::X86_64 => "EFI/BOOT/BOOTX64.EFI",
            Arch::Aarch64 => "EFI/BOOT/BOOTAA64.EFI",
        }
    }

    /// QEMU system emulator.
    pub fn qemu(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86_64",
            Arch::Aarch64 => "qemu-system-aarch64",
        }
    }

    /// Firmware images to try, in order of preference.
    pub fn firmware_candidates(self) -> &'static [&'static str] {
        match self {
            Arch::X86_64 => &["/usr/share/ovmf/OVMF.fd", "/usr/share/qemu/OVMF.fd"],
            Arch::Aarch64 => &[
                "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd",
                "/usr/share/AAVMF/AAVMF_CODE.fd",
            ],
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
