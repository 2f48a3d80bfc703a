//! Building the target crates and assembling a bootable image.

use crate::{
    arch::Arch,
    disk::{EspFile, cpio_newc, loadable_part, write_disk_image},
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
    cargo_build_features(package, target, &[])
}

/// `cargo build` with these cargo features. Builds with different features
/// share the target directory: cargo keeps each one's artifacts, so
/// switching only relinks (the final binary's path is shared, the last
/// build wins).
fn cargo_build_features(package: &str, target: &str, features: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let features = features.join(",");
    let mut args = vec![
        "build",
        "--release",
        "--package",
        package,
        "--target",
        target,
    ];
    if !features.is_empty() {
        args.extend(["--features", &features]);
    }
    let status = Command::new(cargo)
        .current_dir(root())
        .args(args)
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
    /// The programs of the initial image: (name in the archive, ELF).
    pub programs: Vec<(String, PathBuf)>,
}

/// The programs of the initial image (`boot/modules/initrd.cpio`), built
/// for the user target: (package, binary). The root task finds them in
/// the archive by the binary's name.
pub const INITRD_PROGRAMS: &[(&str, &str)] = &[("invariant-suite", "invariant-suite")];

/// The initial image of the IPC benchmark (`cargo xtask bench`): its
/// server and client; the root task starts them instead of the suite.
pub const BENCH_PROGRAMS: &[(&str, &str)] = &[
    ("ipc-bench", "ipc-bench-server"),
    ("ipc-bench", "ipc-bench"),
];

/// Which kernel [`build`] builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelBuild {
    /// The plain kernel (`cargo xtask run`, `image`).
    Plain,
    /// The checking kernel (cargo feature `check`, kernel/README.md): it
    /// runs the spec's invariant checkers after every entry from user
    /// mode. The boot tests boot it.
    Checking,
}

/// Build the loader and the kernel for `arch`.
pub fn build(arch: Arch, kernel: KernelBuild) -> Result<Artifacts> {
    build_with(arch, kernel, INITRD_PROGRAMS)
}

/// [`build`] with the initial image's `programs` (package, binary).
pub fn build_with(arch: Arch, kernel: KernelBuild, programs: &[(&str, &str)]) -> Result<Artifacts> {
    cargo_build("loader", &arch.uefi_target())?;
    match kernel {
        KernelBuild::Plain => cargo_build("kernel", &arch.kernel_target())?,
        KernelBuild::Checking => cargo_build_features("kernel", &arch.kernel_target(), &["check"])?,
    }
    cargo_build("root-task", &arch.user_target())?;
    let mut packages: Vec<&str> = programs.iter().map(|(p, _)| *p).collect();
    packages.dedup();
    for package in packages {
        cargo_build(package, &arch.user_target())?;
    }
    let t = target_dir();
    Ok(Artifacts {
        loader: t.join(arch.uefi_target()).join("release/loader.efi"),
        kernel: t.join(arch.kernel_target()).join("release/kernel"),
        root_task: t.join(arch.user_target()).join("release/root-task"),
        programs: programs
            .iter()
            .map(|(_, bin)| {
                let path = t.join(arch.user_target()).join("release").join(bin);
                (bin.to_string(), path)
            })
            .collect(),
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
    // The initial image: every program, in one cpio archive the kernel
    // maps into the root task (ABI-18).
    let mut programs = Vec::new();
    for (name, path) in &a.programs {
        let elf = read(path)?;
        let small = loadable_part(&elf)
            .with_context(|| format!("{} is not an ELF64 executable", path.display()))?;
        programs.push((name.as_str(), small));
    }
    files.push(EspFile {
        path: "boot/modules/initrd.cpio".into(),
        data: cpio_newc(&programs)?,
    });
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
