//! `cargo xtask` — the project's one host tool.
//!
//! ```text
//! cargo xtask run  [--arch x86_64|aarch64] [--cmdline "..."] [--el2] [--no-acpi] [--gic-v3] [--icount]
//! cargo xtask test [--arch x86_64|aarch64] [--boot-only | --host-only] [--only NAME] [--verbose]
//! cargo xtask image [--arch x86_64|aarch64] [--cmdline "..."]
//! ```
//! `run` builds everything and boots in QEMU with the serial console on the
//! terminal (Ctrl-A X quits). `test` checks formatting and clippy on every
//! crate and target, runs the host test suites, then boots each
//! architecture headless and checks the transcripts. QEMU and the UEFI
//! firmware are installed with apt-get when missing and running as root.

mod arch;
mod boot_tests;
mod build;
mod disk;
mod qemu;

use anyhow::{Context, Result, bail};
use arch::Arch;
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <run|test|image|bench> [--arch x86_64|aarch64] [--cmdline \"...\"] [--el2] [--no-acpi] [--gic-v3] [--icount] [--boot-only|--host-only] [--only NAME] [--verbose]";

#[cfg(test)]
mod tests {
    use super::test_result_counts;

    #[test]
    fn libtest_summaries_are_counted() {
        let l = "test result: ok. 36 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s";
        assert_eq!(test_result_counts(l), Some((36, 0)));
        let l = "test result: FAILED. 4 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out";
        assert_eq!(test_result_counts(l), Some((4, 1)));
        assert_eq!(test_result_counts("running 3 tests"), None);
    }
}

#[derive(Default)]
struct Options {
    arches: Vec<Arch>,
    cmdline: Option<String>,
    el2: bool,
    no_acpi: bool,
    gic_v3: bool,
    icount: bool,
    boot_only: bool,
    host_only: bool,
    verbose: bool,
    only: Option<String>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--arch" => {
                let v = it.next().context("--arch needs a value")?;
                if v == "all" {
                    o.arches.extend(Arch::ALL);
                } else {
                    o.arches.push(
                        Arch::parse(v).with_context(|| format!("unknown architecture '{v}'"))?,
                    );
                }
            }
            "--cmdline" => o.cmdline = Some(it.next().context("--cmdline needs a value")?.clone()),
            "--el2" => o.el2 = true,
            "--no-acpi" => o.no_acpi = true,
            "--gic-v3" => o.gic_v3 = true,
            "--icount" => o.icount = true,
            "--boot-only" => o.boot_only = true,
            "--host-only" => o.host_only = true,
            "--verbose" | "-v" => o.verbose = true,
            "--only" => o.only = Some(it.next().context("--only needs a boot test name")?.clone()),
            other => bail!("unknown option '{other}'\n{USAGE}"),
        }
    }
    Ok(o)
}

/// Crates built only for bare-metal or UEFI targets; everything else in the
/// workspace is a host crate.
const TARGET_ONLY: &[&str] = &[
    "kernel",
    "loader",
    "root-task",
    "invariant-suite",
    "ipc-bench",
];

fn cargo(args: &[&str]) -> Result<bool> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("== cargo {}", args.join(" "));
    let status = Command::new(cargo)
        .current_dir(build::root())
        .args(args)
        .status()?;
    Ok(status.success())
}

/// Host test suites: every host crate's tests, and the loader's logic
/// (ELF validation, memory map, page tables), which builds for the host.
/// Returns whether they passed and the summed test counts.
fn host_tests() -> Result<(bool, usize, usize)> {
    use std::io::BufRead;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("== cargo test --workspace");
    let mut child = Command::new(cargo)
        .current_dir(build::root())
        .args(["test", "--workspace"])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let (mut passed, mut failed) = (0, 0);
    let stdout = child.stdout.take().context("cargo test stdout")?;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        if let Some((p, f)) = test_result_counts(&line) {
            passed += p;
            failed += f;
        }
    }
    Ok((child.wait()?.success(), passed, failed))
}

/// The counts of a libtest summary line
/// (`test result: ok. 36 passed; 0 failed; …`).
fn test_result_counts(line: &str) -> Option<(usize, usize)> {
    let rest = line.strip_prefix("test result: ")?;
    // The number is the word just before "passed;" / "failed;".
    let words: Vec<&str> = rest.split_whitespace().collect();
    let count = |word: &str| {
        let at = words.iter().position(|w| w.trim_end_matches(';') == word)?;
        words.get(at.checked_sub(1)?)?.parse().ok()
    };
    Some((count("passed")?, count("failed")?))
}

/// `cargo fmt --check` and `clippy -D warnings` on every crate and target.
fn lint(arches: &[Arch]) -> Result<bool> {
    let mut ok = cargo(&["fmt", "--all", "--", "--check"])?;
    let mut host = vec!["clippy", "--workspace", "--all-targets"];
    for p in TARGET_ONLY {
        host.extend(["--exclude", p]);
    }
    host.extend(["--", "-D", "warnings"]);
    ok &= cargo(&host)?;
    ok &= cargo(&[
        "clippy", "-p", "loader", "--lib", "--tests", "--", "-D", "warnings",
    ])?;
    for a in arches {
        // The kernel for the bare-metal target, the user library (its
        // system-call stubs exist only there) and the programs for the user
        // target, the loader for UEFI.
        for (package, target) in [
            ("cap-runtime", a.user_target()),
            ("root-task", a.user_target()),
            ("invariant-suite", a.user_target()),
            ("ipc-bench", a.user_target()),
            ("kernel", a.kernel_target()),
            ("loader", a.uefi_target()),
        ] {
            ok &= cargo(&[
                "clippy", "-p", package, "--target", &target, "--", "-D", "warnings",
            ])?;
        }
    }
    Ok(ok)
}

/// The IPC round-trip benchmark (tests/ipc-bench) under `-icount
/// shift=0`: the plain kernel, an initial image holding only the
/// benchmark's server and client; prints the figures and keeps the
/// transcript (`target/xtask/<arch>-bench.log`). See docs/ipc-benchmark.md.
fn bench_ipc(arch: Arch) -> Result<()> {
    let a = build::build_with(arch, build::KernelBuild::Plain, build::BENCH_PROGRAMS)?;
    let image = build::image(
        arch,
        &a,
        &build::ImageSpec {
            name: "bench",
            cmdline: "loader.on_error=shutdown exit=semihosting",
            kernel: build::KernelFile::Built,
        },
    )?;
    let machine = qemu::Machine {
        icount: true,
        ..qemu::Machine::default()
    };
    println!("xtask: IPC benchmark on {arch} (-icount shift=0)");
    let cmd = qemu::command(arch, &image, &machine, false)?;
    let outcome = qemu::run_headless(cmd, std::time::Duration::from_secs(900), |_| {})?;
    let log = build::out_dir().join(format!("{arch}-bench.log"));
    std::fs::write(&log, &outcome.transcript)?;
    let lines: Vec<&str> = outcome
        .transcript
        .lines()
        .filter(|l| l.starts_with("ipc-bench:") || l.contains("faulted"))
        .collect();
    for l in &lines {
        println!("  {arch}: {l}");
    }
    if !lines.iter().any(|l| l.contains("ipc-bench: done")) {
        bail!(
            "the benchmark did not finish on {arch} (transcript: {})",
            log.display()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        bail!("{USAGE}");
    };
    let opts = parse(rest)?;
    match cmd.as_str() {
        "run" => {
            let arch = opts.arches.first().copied().unwrap_or(Arch::X86_64);
            qemu::ensure_installed(&[arch])?;
            let a = build::build(arch, build::KernelBuild::Plain)?;
            let cmdline = opts.cmdline.as_deref().unwrap_or("exit=semihosting");
            let image = build::image(
                arch,
                &a,
                &build::ImageSpec {
                    name: "run",
                    cmdline,
                    kernel: build::KernelFile::Built,
                },
            )?;
            let machine = qemu::Machine {
                el2: opts.el2,
                no_acpi: opts.no_acpi,
                gic_v3: opts.gic_v3,
                icount: opts.icount,
            };
            println!("xtask: booting {} (Ctrl-A X quits QEMU)", image.display());
            let status = qemu::command(arch, &image, &machine, true)?
                .status()
                .context("starting QEMU")?;
            Ok(
                if status.success() || (arch == Arch::X86_64 && status.code() == Some(1)) {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                },
            )
        }
        "bench" => {
            let arches = if opts.arches.is_empty() {
                Arch::ALL.to_vec()
            } else {
                opts.arches.clone()
            };
            qemu::ensure_installed(&arches)?;
            for arch in arches {
                bench_ipc(arch)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        "image" => {
            let arch = opts.arches.first().copied().unwrap_or(Arch::X86_64);
            let a = build::build(arch, build::KernelBuild::Plain)?;
            let cmdline = opts.cmdline.as_deref().unwrap_or("");
            let image = build::image(
                arch,
                &a,
                &build::ImageSpec {
                    name: "disk",
                    cmdline,
                    kernel: build::KernelFile::Built,
                },
            )?;
            println!("{}", image.display());
            Ok(ExitCode::SUCCESS)
        }
        "test" => {
            let arches = if opts.arches.is_empty() {
                Arch::ALL.to_vec()
            } else {
                opts.arches.clone()
            };
            let mut ok = true;
            if opts.boot_only && opts.host_only {
                bail!("--boot-only and --host-only exclude each other");
            }
            let (mut passed, mut failed) = (0, 0);
            if !opts.boot_only {
                ok &= lint(&arches)?;
                let (host_ok, p, f) = host_tests()?;
                ok &= host_ok;
                println!("host tests: {p} passed, {f} failed");
                (passed, failed) = (p, f);
            }
            if !opts.host_only {
                qemu::ensure_installed(&arches)?;
                println!("== boot tests");
                let (p, f) = boot_tests::run(&arches, opts.only.as_deref(), opts.verbose)?;
                println!("boot test checks: {p} passed, {f} failed");
                ok &= f == 0;
                (passed, failed) = (passed + p, failed + f);
            }
            // One closing line in the plain form CI tools read.
            println!("total: {passed} passed, {failed} failed");
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        other => bail!("unknown command '{other}'\n{USAGE}"),
    }
}
