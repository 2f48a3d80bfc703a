//! Building the target crates and assembling a bootable image.

use crate::{
    arch::Arch,
    disk::{EspFile, write_disk_image},
};
use anyhow::{Context, Result, bail};
use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// Repository root (the workspace this tool belongs to).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("images/ has a parent")
        .to_path_buf()
}

/// Where build outputs live (shared with cargo).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Where this tool writes images and transcripts.
pub fn out_dir() -> PathBuf {
    target_dir().join("xtask")
}

fn cargo_build(package: &str, target: &str) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root())
        .args([
            "build",
            "--release",
            "--package",
            package,
            "--target",
            target,
        ])
        .status()
        .with_context(|| format!("running cargo build for {package}"))?;
    if !status.success() {
        bail!("building {package} for {target} failed");
    }
    Ok(())
}

/// The built artifacts for one architecture.
pub struct Artifacts {
    /// The UEFI loader (PE/COFF).
    pub loader: PathBuf,
    /// The kernel ELF.
    pub kernel: PathBuf,
    /// The root task's ELF.
    pub root_task: PathBuf,
}

/// Build the loader and the kernel for `arch`.
pub fn build(arch: Arch) -> Result<Artifacts> {
    cargo_build("loader", &arch.uefi_target())?;
    cargo_build("kernel", &arch.kernel_target())?;
    cargo_build("root-task", &arch.user_target())?;
    let t = target_dir();
    Ok(Artifacts {
        loader: t.join(arch.uefi_target()).join("release/loader.efi"),
        kernel: t.join(arch.kernel_target()).join("release/kernel"),
        root_task: t.join(arch.user_target()).join("release/root-task"),
    })
}

/// What goes on one disk image.
pub struct ImageSpec<'a> {
    /// Image name (file `<name>.img` in the output directory).
    pub name: &'a str,
    /// The kernel command line.
    pub cmdline: &'a str,
    /// The kernel file: the built kernel, replacement bytes (corruption
    /// tests), or none at all.
    pub kernel: KernelFile,
}

/// Which kernel file goes on the ESP.
pub enum KernelFile {
    /// The kernel that was just built.
    Built,
    /// These bytes instead.
    Replaced(Vec<u8>),
    /// No kernel file.
    Missing,
}

/// Assemble the disk image for `arch` from built artifacts.
pub fn image(arch: Arch, a: &Artifacts, spec: &ImageSpec) -> Result<PathBuf> {
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let mut files = vec![
        EspFile {
            path: arch.efi_boot_path().into(),
            data: read(&a.loader)?,
        },
        EspFile {
            path: "boot/cmdline.txt".into(),
            data: spec.cmdline.as_bytes().to_vec(),
        },
        EspFile {
            path: "boot/modules/root-task".into(),
            data: read(&a.root_task)?,
        },
    ];
    let kernel = match &spec.kernel {
        KernelFile::Built => Some(read(&a.kernel)?),
        KernelFile::Replaced(k) => Some(k.clone()),
        KernelFile::Missing => None,
    };
    if let Some(data) = kernel {
        files.push(EspFile {
            path: "boot/kernel.elf".into(),
            data,
        });
    }
    let dir = out_dir();
    std::fs::create_dir_all(&dir)?;
    let out = dir.join(format!("{}-{}.img", arch, spec.name));
    write_disk_image(&out, &files)?;
    Ok(out)
}
