//! Headless boots whose serial transcripts are checked.
//!
//! Each test builds a disk image (optionally with a command line or a
//! corrupted kernel), boots it under QEMU with a time limit and checks the
//! transcript and QEMU's exit code. A boot that does not finish within the
//! limit fails as a hang.

use crate::{
    arch::Arch,
    build::{self, Artifacts, ImageSpec, KernelBuild, KernelFile},
    qemu::{self, Machine, Outcome},
};
use anyhow::Result;
use std::time::Duration;

/// Address the kernel's deliberate-fault self test touches (unmapped,
/// canonical upper half on both architectures).
const FAULT_TEST_ADDR: &str = "0xffffdeadbeef0000";
/// Time limit of one boot.
const LIMIT: Duration = Duration::from_secs(180);

/// What a boot is expected to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Boot fully and exit with success.
    CleanBoot,
    /// Boot fully from a device tree (no ACPI) and exit with success.
    CleanBootDtb,
    /// Boot fully with a GICv3 interrupt controller and exit with success.
    CleanBootGicV3,
    /// The loader rejects the kernel file with a clear error and powers off.
    LoaderRejects,
    /// The loader finds no kernel file, says so clearly and powers off.
    LoaderNoKernel,
    /// The kernel takes a page fault on purpose, reports it, fails.
    Exception,
    /// The kernel panics on purpose: file:line and message, failure status.
    Panic,
    /// The checking kernel finds the invariant the `test.check=corrupt`
    /// self test broke (INV-17) after the first entry, and panics.
    CheckerCatches,
}

/// Which kernel file a boot test puts on the ESP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kernel {
    Built,
    Truncated,
    Missing,
}

struct BootTest {
    name: &'static str,
    arch: Arch,
    cmdline: &'static str,
    machine: Machine,
    kernel: Kernel,
    expect: Expect,
}

fn tests_for(arch: Arch) -> Vec<BootTest> {
    let base = "loader.on_error=shutdown exit=semihosting";
    let mut v = vec![
        BootTest {
            name: "boot",
            arch,
            cmdline: base,
            machine: Machine::default(),
            kernel: Kernel::Built,
            expect: Expect::CleanBoot,
        },
        BootTest {
            name: "corrupt-kernel",
            arch,
            cmdline: base,
            machine: Machine::default(),
            kernel: Kernel::Truncated,
            expect: Expect::LoaderRejects,
        },
        BootTest {
            name: "missing-kernel",
            arch,
            cmdline: base,
            machine: Machine::default(),
            kernel: Kernel::Missing,
            expect: Expect::LoaderNoKernel,
        },
        BootTest {
            name: "kernel-panic",
            arch,
            cmdline: "loader.on_error=shutdown exit=semihosting test.panic=1",
            machine: Machine::default(),
            kernel: Kernel::Built,
            expect: Expect::Panic,
        },
        BootTest {
            name: "check-corrupt",
            arch,
            cmdline: "loader.on_error=shutdown exit=semihosting test.check=corrupt",
            machine: Machine::default(),
            kernel: Kernel::Built,
            expect: Expect::CheckerCatches,
        },
        BootTest {
            name: "cpu-exception",
            arch,
            cmdline: "loader.on_error=shutdown exit=semihosting test.fault=page",
            machine: Machine::default(),
            kernel: Kernel::Built,
            expect: Expect::Exception,
        },
    ];
    if arch == Arch::Aarch64 {
        v.push(BootTest {
            name: "boot-el2",
            arch,
            cmdline: base,
            machine: Machine {
                el2: true,
                ..Machine::default()
            },
            kernel: Kernel::Built,
            expect: Expect::CleanBoot,
        });
        v.push(BootTest {
            name: "boot-gicv3",
            arch,
            cmdline: base,
            machine: Machine {
                gic_v3: true,
                ..Machine::default()
            },
            kernel: Kernel::Built,
            expect: Expect::CleanBootGicV3,
        });
        v.push(BootTest {
            name: "boot-dtb",
            arch,
            cmdline: base,
            machine: Machine {
                no_acpi: true,
                ..Machine::default()
            },
            kernel: Kernel::Built,
            expect: Expect::CleanBootDtb,
        });
        v.push(BootTest {
            name: "boot-gicv3-el2-dtb",
            arch,
            cmdline: base,
            machine: Machine {
                gic_v3: true,
                el2: true,
                no_acpi: true,
                ..Machine::default()
            },
            kernel: Kernel::Built,
            expect: Expect::CleanBootDtb,
        });
    }
    v
}

/// Exit code QEMU returns for a kernel-reported status (0 = success).
fn qemu_code(arch: Arch, status: u8) -> i32 {
    match arch {
        // isa-debug-exit: (value << 1) | 1.
        Arch::X86_64 => ((status as i32) << 1) | 1,
        // semihosting SYS_EXIT_EXTENDED carries the status itself.
        Arch::Aarch64 => status as i32,
    }
}

fn line_with<'a>(t: &'a str, needle: &str) -> Option<&'a str> {
    t.lines().find(|l| l.contains(needle))
}

/// The numbers in a line, in order.
fn numbers(line: &str) -> Vec<u64> {
    line.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}

type Check = (&'static str, Box<dyn Fn(&Outcome) -> Result<(), String>>);

fn contains(what: &'static str, needle: &'static str) -> Check {
    (
        what,
        Box::new(move |o: &Outcome| {
            if o.transcript.contains(needle) {
                Ok(())
            } else {
                Err(format!("no '{needle}' in the transcript"))
            }
        }),
    )
}

fn exit_code(arch: Arch, status: u8) -> Check {
    let want = qemu_code(arch, status);
    (
        "QEMU exit status",
        Box::new(move |o: &Outcome| match o.exit_code {
            Some(c) if c == want => Ok(()),
            Some(c) => Err(format!("exit code {c}, expected {want}")),
            None => Err(format!("no exit within {}s (hang)", LIMIT.as_secs())),
        }),
    )
}

/// The transcript does not contain `needle`.
fn absent(what: &'static str, needle: &'static str) -> Check {
    (
        what,
        Box::new(move |o: &Outcome| {
            if o.transcript.contains(needle) {
                Err(format!("'{needle}' appears in the transcript"))
            } else {
                Ok(())
            }
        }),
    )
}

/// QEMU stopped by itself within the time limit.
fn no_hang() -> Check {
    (
        "no hang",
        Box::new(|o: &Outcome| {
            if o.exit_code.is_some() {
                Ok(())
            } else {
                Err(format!("QEMU did not stop within {}s", LIMIT.as_secs()))
            }
        }),
    )
}

/// The first word of a kernel log line's message: `[  t.s] LEVEL word …`.
fn message_head(line: &str) -> Option<&str> {
    line.split_once("] ")?.1.split_whitespace().nth(1)
}

/// The first line that starts (after the log prefix) with `marker` has at
/// least two numbers after the marker and both are positive (e.g.
/// `timer: 51 interrupts in 509 ms`). Only the log message's first word is
/// matched, so other lines that merely mention the marker do not count.
fn positive_pair(what: &'static str, marker: &'static str) -> Check {
    (
        what,
        Box::new(move |o: &Outcome| {
            let l = o
                .transcript
                .lines()
                .find(|l| message_head(l) == Some(marker))
                .ok_or(format!("no '{marker}' line"))?;
            match numbers(l.split(marker).nth(1).unwrap_or("")).as_slice() {
                [a, b, ..] if *a > 0 && *b > 0 => Ok(()),
                _ => Err(format!("implausible: {l}")),
            }
        }),
    )
}

/// The user-mode tests ended with `N passed, 0 failed`, N > 0.
fn user_tests_pass() -> Check {
    (
        "user-mode tests: N passed, 0 failed",
        Box::new(|o: &Outcome| {
            let l = o
                .transcript
                .lines()
                .find(|l| l.trim_end().ends_with(" failed") && l.contains(" passed, "))
                .ok_or("no 'N passed, N failed' line")?;
            match numbers(l).as_slice() {
                [p, 0] if *p > 0 => Ok(()),
                _ => Err(format!("not all passed: {l}")),
            }
        }),
    )
}

/// The checking kernel ran: `check: N entries checked, 0 violations`
/// with N > 0, logged when user space halts.
fn checker_ran() -> Check {
    (
        "invariants checked after every entry: N checked, 0 violations",
        Box::new(|o: &Outcome| {
            let l = o
                .transcript
                .lines()
                .find(|l| message_head(l) == Some("check:") && l.contains(" entries checked, "))
                .ok_or("no 'check: N entries checked, 0 violations' line")?;
            match numbers(l.split("check:").nth(1).unwrap_or("")).as_slice() {
                [n, 0, ..] if *n > 0 => Ok(()),
                _ => Err(format!("implausible: {l}")),
            }
        }),
    )
}

fn checks(t: &BootTest) -> Vec<Check> {
    match t.expect {
        Expect::CleanBoot => vec![
            contains("loader banner", "cairn loader"),
            contains("kernel banner", "cairn kernel"),
            positive_pair("memory summary (free regions, MiB)", "memory:"),
            contains("ACPI RSDP found", "ACPI: RSDP found"),
            positive_pair(
                "timer interrupts counted over a measured interval",
                "timer:",
            ),
            contains("boot completes", "boot complete"),
            contains(
                "root task runs in user mode",
                "root task: running in user mode",
            ),
            user_tests_pass(),
            checker_ran(),
            contains("kernel reports success", "EXIT: 0"),
            exit_code(t.arch, 0),
        ],
        Expect::CleanBootDtb => vec![
            contains("loader banner", "cairn loader"),
            contains("kernel banner", "cairn kernel"),
            positive_pair("memory summary (free regions, MiB)", "memory:"),
            contains("device tree found", "device tree: "),
            absent("device tree usable", "device tree: none"),
            contains("no ACPI", "ACPI: no RSDP"),
            positive_pair(
                "timer interrupts counted over a measured interval",
                "timer:",
            ),
            contains("boot completes", "boot complete"),
            contains(
                "root task runs in user mode",
                "root task: running in user mode",
            ),
            user_tests_pass(),
            checker_ran(),
            contains("kernel reports success", "EXIT: 0"),
            exit_code(t.arch, 0),
        ],
        Expect::CleanBootGicV3 => vec![
            contains("kernel banner", "cairn kernel"),
            contains("GICv3 found", "gic: GICv3"),
            positive_pair(
                "timer interrupts counted over a measured interval",
                "timer:",
            ),
            contains("boot completes", "boot complete"),
            contains(
                "root task runs in user mode",
                "root task: running in user mode",
            ),
            user_tests_pass(),
            checker_ran(),
            contains("kernel reports success", "EXIT: 0"),
            exit_code(t.arch, 0),
        ],
        Expect::LoaderRejects => vec![
            contains("loader banner", "cairn loader"),
            contains("clear loader error", "loader: error: kernel file rejected"),
            absent("kernel never entered", "cairn kernel"),
            no_hang(),
        ],
        Expect::LoaderNoKernel => vec![
            contains("loader banner", "cairn loader"),
            contains(
                "clear loader error",
                "loader: error: cannot read \\boot\\kernel.elf",
            ),
            no_hang(),
        ],
        Expect::Panic => vec![
            contains("panic reported", "KERNEL PANIC"),
            contains("panic names file and line", "kernel/src/selftest.rs:"),
            contains("panic message", "deliberate kernel panic"),
            exit_code(t.arch, 1),
        ],
        Expect::CheckerCatches => vec![
            contains("boot state checked", "boot state is ST-10's"),
            contains("root task checked before user mode", "invariants hold"),
            contains("corruption made", "selftest: corrupted the derivation link"),
            contains("panic reported", "KERNEL PANIC"),
            contains("panic names the checker", "kernel/src/check.rs:"),
            contains(
                "caught at the first checked entry",
                " (Syscall): invariant violated",
            ),
            contains("violated invariant named", "INV-17: "),
            absent("user space never halts", "user space asked to halt"),
            exit_code(t.arch, 1),
        ],
        Expect::Exception => vec![
            contains("exception reported", "EXCEPTION"),
            (
                "exception named",
                Box::new(move |o: &Outcome| {
                    let l = line_with(&o.transcript, "EXCEPTION").unwrap_or("");
                    let lower = l.to_ascii_lowercase();
                    if lower.contains("page fault") || lower.contains("data abort") {
                        Ok(())
                    } else {
                        Err(format!("exception not named: {l}"))
                    }
                }),
            ),
            contains("faulting address reported", FAULT_TEST_ADDR),
            exit_code(t.arch, 1),
        ],
    }
}

/// A truncated kernel: the ELF header survives, the segments do not.
fn corrupt(kernel: &[u8]) -> Vec<u8> {
    kernel[..kernel.len().min(4096)].to_vec()
}

/// Run the boot tests for `arches` (only those whose name contains `only`,
/// if given); returns (passed, failed) over all checks.
pub fn run(arches: &[Arch], only: Option<&str>, verbose: bool) -> Result<(usize, usize)> {
    let (mut passed, mut failed) = (0, 0);
    for &arch in arches {
        let artifacts: Artifacts = build::build(arch, KernelBuild::Checking)?;
        for t in tests_for(arch)
            .into_iter()
            .filter(|t| only.is_none_or(|o| t.name.contains(o)))
        {
            let kernel = match t.kernel {
                Kernel::Built => KernelFile::Built,
                Kernel::Truncated => {
                    KernelFile::Replaced(corrupt(&std::fs::read(&artifacts.kernel)?))
                }
                Kernel::Missing => KernelFile::Missing,
            };
            let image = build::image(
                arch,
                &artifacts,
                &ImageSpec {
                    name: t.name,
                    cmdline: t.cmdline,
                    kernel,
                },
            )?;
            let cmd = qemu::command(arch, &image, &t.machine, false)?;
            println!("boot test {arch}/{}: booting", t.name);
            let outcome = qemu::run_headless(cmd, LIMIT, |l| {
                if verbose {
                    print!("    | {l}");
                }
            })?;
            let log = build::out_dir().join(format!("{arch}-{}.log", t.name));
            std::fs::write(&log, &outcome.transcript)?;
            let mut ok = true;
            for (what, check) in checks(&t) {
                match check(&outcome) {
                    Ok(()) => {
                        passed += 1;
                        println!("  ok   {arch}/{}: {what}", t.name);
                    }
                    Err(e) => {
                        failed += 1;
                        ok = false;
                        println!("  FAIL {arch}/{}: {what}: {e}", t.name);
                    }
                }
            }
            println!(
                "boot test {arch}/{}: {} in {:.1}s (transcript: {})",
                t.name,
                if ok { "passed" } else { "FAILED" },
                outcome.elapsed.as_secs_f64(),
                log.display()
            );
            if !ok && !verbose {
                println!("---- last lines of the transcript ----");
                let lines: Vec<&str> = outcome.transcript.lines().collect();
                for l in &lines[lines.len().saturating_sub(40)..] {
                    println!("    | {l}");
                }
            }
        }
    }
    Ok((passed, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_message_head_counts_as_the_marker() {
        let outcome = |t: &str| Outcome {
            transcript: t.into(),
            exit_code: Some(0),
            elapsed: Duration::ZERO,
        };
        let (_, check) = positive_pair("timer", "timer:");
        let decoy = "[    0.1] INFO  generic timer: 62500000 Hz, tick every 625000 counts\n";
        assert!(check(&outcome(decoy)).is_err());
        let zero = "[    0.5] INFO  timer: 0 interrupts in 500 ms\n";
        assert!(check(&outcome(&format!("{decoy}{zero}"))).is_err());
        let good = "[    0.5] INFO  timer: 51 interrupts in 509 ms (expected about 50)\n";
        assert!(check(&outcome(&format!("{decoy}{good}"))).is_ok());
    }

    #[test]
    fn the_checker_line_needs_checks_and_no_violation() {
        let outcome = |t: &str| Outcome {
            transcript: t.into(),
            exit_code: Some(0),
            elapsed: Duration::ZERO,
        };
        let (_, check) = checker_ran();
        let boot = "[    0.9] INFO  check: checking kernel: invariants checked after every entry\n";
        assert!(check(&outcome(boot)).is_err());
        let none = "[    1.0] INFO  check: 0 entries checked, 0 violations (0 entries)\n";
        assert!(check(&outcome(&format!("{boot}{none}"))).is_err());
        let good =
            "[    1.0] INFO  check: 16 entries checked, 0 violations (16 entries, every 1th)\n";
        assert!(check(&outcome(&format!("{boot}{good}"))).is_ok());
    }

    #[test]
    fn numbers_are_extracted_in_order() {
        assert_eq!(
            numbers("memory: 12 free regions, 480 MiB free"),
            vec![12, 480]
        );
    }

    #[test]
    fn every_arch_has_the_required_boot_tests() {
        for arch in Arch::ALL {
            let names: Vec<_> = tests_for(arch).iter().map(|t| t.expect).collect();
            for e in [
                Expect::CleanBoot,
                Expect::LoaderRejects,
                Expect::LoaderNoKernel,
                Expect::Exception,
                Expect::Panic,
                Expect::CheckerCatches,
            ] {
                assert!(names.contains(&e), "{arch} lacks {e:?}");
            }
        }
    }
}
