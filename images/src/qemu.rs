//! Running QEMU: making sure it is installed, building its command line,
//! and running a headless boot with a time limit while recording the serial
//! transcript.

use crate::arch::Arch;
use anyhow::{Context, Result, bail};
use std::{
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

/// The Debian packages that provide QEMU and the UEFI firmware.
const PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "qemu-system-arm",
    "ovmf",
    "qemu-efi-aarch64",
];

fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(bin).is_file()))
        .unwrap_or(false)
}

fn firmware(arch: Arch) -> Option<PathBuf> {
    arch.firmware_candidates()
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

fn apt_get(args: &[&str]) -> bool {
    Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Make sure QEMU and firmware for `arches` are present: install them with
/// apt-get when running as root, otherwise print the command and fail.
pub fn ensure_installed(arches: &[Arch]) -> Result<()> {
    let missing = |a: &Arch| !on_path(a.qemu()) || firmware(*a).is_none();
    if !arches.iter().any(missing) {
        return Ok(());
    }
    let install: Vec<&str> = ["install", "-y", "--no-install-recommends"]
        .into_iter()
        .chain(PACKAGES.iter().copied())
        .collect();
    if !is_root() {
        bail!(
            "QEMU or its UEFI firmware is missing. Install them with:\n  sudo apt-get update && sudo apt-get {}",
            install.join(" ")
        );
    }
    eprintln!("xtask: installing QEMU and UEFI firmware with apt-get");
    if !apt_get(&["update"]) {
        eprintln!("xtask: apt-get update failed; trying the install anyway");
    }
    // An install has been seen to fail once on a fresh machine with a dpkg
    // archive read error and pass on the next try.
    if !apt_get(&install) && !apt_get(&install) {
        bail!("apt-get {} failed", install.join(" "));
    }
    if let Some(a) = arches.iter().find(|a| missing(a)) {
        bail!(
            "{} or its firmware is still missing after the install",
            a.qemu()
        );
    }
    Ok(())
}

/// Options of one QEMU run.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    /// aarch64: start the firmware at EL2 (`virtualization=on`).
    pub el2: bool,
    /// aarch64: no ACPI tables (`acpi=off`): the firmware hands over a
    /// device tree instead, as U-Boot does on boards.
    pub no_acpi: bool,
    /// Use `-icount shift=0` (deterministic, instruction-counting time).
    pub icount: bool,
    /// aarch64: a GICv3 interrupt controller (`gic-version=3`) instead of
    /// `virt`'s default GICv2.
    pub gic_v3: bool,
}

/// The QEMU command that boots `image`. `interactive` puts the serial port
/// and monitor on the terminal; otherwise serial goes to stdout only.
pub fn command(arch: Arch, image: &Path, m: &Machine, interactive: bool) -> Result<Command> {
    let fw = firmware(arch).with_context(|| format!("no UEFI firmware for {arch}"))?;
    let mut c = Command::new(arch.qemu());
    c.args([
        "-m",
        "512M",
        "-smp",
        "1",
        "-no-reboot",
        "-nic",
        "none",
        "-display",
        "none",
    ]);
    c.arg("-bios").arg(fw);
    c.arg("-drive").arg(format!(
        "if=none,id=boot,format=raw,file={}",
        image.display()
    ));
    match arch {
        Arch::X86_64 => {
            c.args(["-machine", "q35", "-cpu", "max"]);
            c.args(["-device", "virtio-blk-pci,drive=boot"]);
            c.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
        }
        Arch::Aarch64 => {
            let mut machine = String::from("virt");
            if m.el2 {
                machine.push_str(",virtualization=on");
            }
            if m.no_acpi {
                machine.push_str(",acpi=off");
            }
            if m.gic_v3 {
                machine.push_str(",gic-version=3");
            }
            c.args(["-machine", &machine, "-cpu", "cortex-a57"]);
            c.args(["-device", "virtio-blk-pci,drive=boot"]);
            c.args(["-semihosting-config", "enable=on,target=native"]);
        }
    }
    if m.icount {
        c.args(["-icount", "shift=0"]);
    }
    if interactive {
        c.args(["-serial", "mon:stdio"]);
    } else {
        c.args(["-serial", "stdio", "-monitor", "none"]);
    }
    Ok(c)
}

/// How a headless run ended.
pub struct Outcome {
    /// The serial transcript (escape sequences removed).
    pub transcript: String,
    /// QEMU's exit code, or `None` when it was killed at the time limit.
    pub exit_code: Option<i32>,
    /// How long it ran.
    pub elapsed: Duration,
}

/// Drop ANSI escape sequences and carriage returns (the firmware draws its
/// console with them).
fn clean(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    while let Some(&n) = chars.peek() {
                        chars.next();
                        if n.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Forward lines from `r` to `tx` until end of file.
fn forward_lines(r: impl Read + Send + 'static, tx: mpsc::Sender<(bool, String)>, is_stderr: bool) {
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut buf = Vec::new();
        while let Ok(n) = r.read_until(b'\n', &mut buf) {
            if n == 0
                || tx
                    .send((is_stderr, String::from_utf8_lossy(&buf).into_owned()))
                    .is_err()
            {
                break;
            }
            buf.clear();
        }
    });
}

/// Run `cmd` headless for at most `limit`, recording stdout (and stderr,
/// appended at the end); `log` receives stdout lines as they arrive.
///
/// The reader threads are never joined: after a kill at the time limit a
/// pipe may stay open (a grandchild holding it), and the run must still end
/// on time. They finish on their own when the pipes close.
pub fn run_headless(
    mut cmd: Command,
    limit: Duration,
    mut log: impl FnMut(&str),
) -> Result<Outcome> {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting QEMU")?;
    let (tx, rx) = mpsc::channel();
    forward_lines(
        child.stdout.take().context("QEMU stdout")?,
        tx.clone(),
        false,
    );
    forward_lines(child.stderr.take().context("QEMU stderr")?, tx, true);
    let (mut out, mut err) = (String::new(), String::new());
    let mut take = |(is_err, line): (bool, String), log: &mut dyn FnMut(&str)| {
        if is_err {
            err.push_str(&line);
        } else {
            log(&clean(&line));
            out.push_str(&line);
        }
    };
    let exit_code = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(item) => take(item, &mut log),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // Both pipes closed: the process is gone or going.
            Err(mpsc::RecvTimeoutError::Disconnected) => break child.wait()?.code(),
        }
        if let Some(status) = child.try_wait()? {
            // Drain what is already buffered, briefly.
            while let Ok(item) = rx.recv_timeout(Duration::from_millis(200)) {
                take(item, &mut log);
            }
            break status.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
    };
    for item in rx.try_iter() {
        take(item, &mut log);
    }
    if !err.trim().is_empty() {
        out.push_str("\n[qemu stderr] ");
        out.push_str(&err);
    }
    Ok(Outcome {
        transcript: clean(&out),
        exit_code,
        elapsed: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_removed() {
        assert_eq!(
            clean("\u{1b}[2J\u{1b}[01;01Hhello\r\n\u{1b}[0mworld"),
            "hello\nworld"
        );
    }

    #[test]
    fn a_hanging_process_is_killed_at_the_limit() {
        let mut cmd = Command::new("sh");
        // The sleep runs as a grandchild that keeps the pipe open after the
        // shell is killed: the run must end anyway, long before the sleep.
        cmd.args(["-c", "echo started; sleep 60; echo late"]);
        let out = run_headless(cmd, Duration::from_millis(300), |_| {}).unwrap();
        assert_eq!(out.exit_code, None, "killed at the limit");
        assert!(out.transcript.contains("started"));
        assert!(!out.transcript.contains("late"));
        assert!(
            out.elapsed < Duration::from_secs(60),
            "returned before the child would have ended"
        );
    }

    #[test]
    fn exit_code_and_stderr_are_captured() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo oops >&2; exit 3"]);
        let out = run_headless(cmd, Duration::from_secs(60), |_| {}).unwrap();
        assert_eq!(out.exit_code, Some(3));
        assert!(out.transcript.contains("out"));
        assert!(out.transcript.contains("[qemu stderr] oops"));
    }
}
