//! Finding the built binaries and the external tools tests need (ffmpeg …).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::{self};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// `target/<profile>/` of this build: the test executable lives in `target/<profile>/deps/`.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe
        .parent()
        .expect("test executable has a parent")
        .to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    dir
}

/// Path of a workspace binary built in the same profile as the tests. Panics with the command
/// to run when it is absent: tests never run against a binary from somewhere else.
pub fn bin_path(name: &str) -> PathBuf {
    let p = target_dir().join(name);
    if !p.is_file() {
        panic!(
            "{} not found: build first: cargo build --workspace --bins",
            p.display()
        );
    }
    p
}

/// `streampackd`'s path.
pub fn streampackd() -> PathBuf {
    bin_path("streampackd")
}

/// `streampackctl`'s path.
pub fn streampackctl() -> PathBuf {
    bin_path("streampackctl")
}

/// Whether an executable of that name is on `PATH`.
pub fn tool_on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|d| {
        fs::metadata(d.join(name))
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

/// Whether we run under CI (`CI=true`), where a missing tool is a failure, never a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// `true` when `name` is on `PATH`. When it is missing: panics under `CI=true`, otherwise
/// prints a loud skip notice and returns `false` so the caller returns early.
pub fn require_tool(name: &str) -> bool {
    require_tool_with(name, tool_on_path(name), in_ci())
}

/// [`require_tool`]'s decision, with the facts passed in.
pub fn require_tool_with(name: &str, present: bool, ci: bool) -> bool {
    require(
        name,
        present,
        ci,
        &format!("apt-get install {}", debian_package(name)),
    )
}

/// The Debian package that brings the command `name` (tests/setup.sh installs them all).
pub fn debian_package(name: &str) -> &str {
    match name {
        "ffprobe" => "ffmpeg",
        "node" => "nodejs",
        "promtool" => "prometheus",
        "etcd" => "etcd-server",
        "systemd-analyze" => "systemd",
        other => other,
    }
}

/// What a test does about a peer it needs: run, skip loudly (outside CI) or fail (under CI).
#[derive(Debug, PartialEq, Eq)]
pub enum Need {
    Run,
    /// The notice to print; its `!!! SKIPPED: ` line is what `tests/run.sh` lists at the end.
    Skip(String),
    Fail(String),
}

/// The decision behind every `require_*`: `what` is missing unless `present`; `install` says
/// how to get it; `test` names the test that would have checked nothing.
pub fn need(what: &str, present: bool, ci: bool, install: &str, test: &str) -> Need {
    if present {
        Need::Run
    } else if ci {
        Need::Fail(format!(
            "{what} is required in CI (CI=true) but is missing: {install} (tests/setup.sh does it)"
        ))
    } else {
        Need::Skip(format!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !!! SKIPPED: {test}: {what} is missing, so this test checked NOTHING.\n\
             !!! Fix: {install} (or run bash tests/setup.sh); under CI=true this is a failure.\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        ))
    }
}

/// [`need`] for the running test: `true` to go on; prints the skip notice or panics.
pub fn require(what: &str, present: bool, ci: bool, install: &str) -> bool {
    let test = thread::current().name().unwrap_or("a test").to_string();
    match need(what, present, ci, install, &test) {
        Need::Run => true,
        Need::Fail(msg) => panic!("{msg}"),
        Need::Skip(notice) => {
            // Straight to the process's stderr: libtest hides eprintln! output of passing tests.
            let _ = io::stderr().write_all(notice.as_bytes());
            false
        }
    }
}

/// Runs a command with piped stdout/stderr, killing it after `timeout`.
/// Returns its output; a timeout shows as a non-success status and a note on stderr.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {desc}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stdout = t_out.join().unwrap();
    let mut stderr = t_err.join().unwrap();
    if timed_out {
        stderr.extend_from_slice(
            format!("\n[harness] killed after {timeout:?}: {desc}\n").as_bytes(),
        );
    }
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Lossy UTF-8 of some bytes.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Kills a child process when the test ends, however it ends (or when the test kills it:
/// an encoder's crash).
pub struct Killed(pub std::process::Child);

impl Killed {
    /// SIGKILL and reap (again: nothing).
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        self.kill();
    }
}
