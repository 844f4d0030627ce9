//! A real `streampackd` per test: temp state dir, free ports, readiness, signals, restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::fs::{self, OpenOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How to start a daemon. `Default` gives fresh ports and a fresh state dir.
#[derive(Debug, Clone, Default)]
pub struct DaemonOpts {
    /// Contents of a TOML file passed with `--config`.
    pub config_toml: Option<String>,
    /// Extra flags appended after the harness's own.
    pub args: Vec<String>,
    /// Files to place in the state dir before the first start (name, bytes).
    pub state_files: Vec<(String, Vec<u8>)>,
    /// Start the daemon under a seccomp filter that fails `io_uring_setup` with EPERM, as
    /// container runtimes' default profiles do: io_uring is really unavailable to it.
    pub block_io_uring: bool,
    /// Listen for pulls on `[::1]` instead of `127.0.0.1` (IPv6 clients).
    pub pull_ipv6: bool,
    /// Run the daemon over a tmpfs of this many bytes at `<state dir>/media` (its default
    /// `media_dir`), mounted for it alone: a disk that really fills up. Each start (a restart
    /// too) mounts a fresh, empty one.
    pub media_tmpfs_bytes: Option<u64>,
}

impl DaemonOpts {
    /// Options with extra flags.
    pub fn args(args: &[&str]) -> DaemonOpts {
        DaemonOpts {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..DaemonOpts::default()
        }
    }
}

/// A running (or stopped) `streampackd` with its own temp dir and ports.
pub struct Daemon {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// `--state-dir`.
    pub state_dir: PathBuf,
    /// `--admin-socket`.
    pub socket: PathBuf,
    /// `--ingest-listen`.
    pub ingest: SocketAddr,
    /// `--pull-listen`.
    pub pull: SocketAddr,
    /// `--metrics-listen` (a free port, so parallel daemons never share the default one).
    pub metrics: SocketAddr,
    args: Vec<String>,
    stderr_path: PathBuf,
    block_io_uring: bool,
    media_tmpfs: Option<std::sync::Arc<crate::tmpfs::PrivateTmpfs>>,
}

impl Daemon {
    /// PUTs `body` at ingest path `path`, as an encoder does.
    pub fn put(&self, path: &str, body: &[u8]) -> Response {
        http(self.ingest, "PUT", path, &[], Some(body))
    }

    /// Spawns a daemon and waits until `streampackctl status` answers.
    pub fn start(opts: DaemonOpts) -> Daemon {
        let mut d = Daemon::launch(opts);
        d.wait_ready();
        d
    }

    /// Spawns a daemon without waiting for it (for tests that expect it to refuse to start).
    pub fn launch(opts: DaemonOpts) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("sp-itest-")
            .tempdir()
            .expect("tempdir");
        let state_dir = dir.path().join("state");
        fs::create_dir_all(&state_dir).expect("create state dir");
        for (name, bytes) in &opts.state_files {
            fs::write(state_dir.join(name), bytes).expect("write state file");
        }
        let socket = dir.path().join("ctl.sock");
        let ingest: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let pull: SocketAddr = if opts.pull_ipv6 {
            format!("[::1]:{}", free_port()).parse().unwrap()
        } else {
            format!("127.0.0.1:{}", free_port()).parse().unwrap()
        };
        let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut args = vec![
            "--state-dir".to_string(),
            state_dir.display().to_string(),
            "--admin-socket".into(),
            socket.display().to_string(),
            "--ingest-listen".into(),
            ingest.to_string(),
            "--pull-listen".into(),
            pull.to_string(),
        ];
        if let Some(toml) = &opts.config_toml {
            let cfg = dir.path().join("streampack.toml");
            fs::write(&cfg, toml).expect("write config");
            args.push("--config".into());
            args.push(cfg.display().to_string());
        }
        // Lets CI run the whole suite once per I/O driver.
        if let Ok(drv) = std::env::var("STREAMPACK_TEST_IO_DRIVER") {
            if !drv.is_empty() {
                args.push("--io-driver".into());
                args.push(drv);
            }
        }
        if !opts.args.iter().any(|a| a.starts_with("--metrics-listen")) {
            args.push("--metrics-listen".into());
            args.push(metrics.to_string());
        }
        args.extend(opts.args.iter().cloned());
        let stderr_path = dir.path().join("streampackd.stderr.log");
        let media_tmpfs = opts.media_tmpfs_bytes.map(|bytes| {
            let media = state_dir.join("media");
            fs::create_dir_all(&media).expect("create media dir");
            std::sync::Arc::new(crate::tmpfs::PrivateTmpfs::new(&media, bytes))
        });
        let mut d = Daemon {
            child: None,
            dir,
            state_dir,
            socket,
            ingest,
            pull,
            metrics,
            args,
            stderr_path,
            block_io_uring: opts.block_io_uring,
            media_tmpfs,
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "daemon already running");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_path)
            .expect("open stderr log");
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("streampackd.stdout.log"))
            .expect("open stdout log");
        let mut cmd = Command::new(streampackd());
        if self.block_io_uring {
            use std::os::unix::process::CommandExt;
            // SAFETY: the hook only calls prctl(2), which is async-signal-safe.
            unsafe {
                cmd.pre_exec(seccomp::deny_io_uring_setup);
            }
        }
        if let Some(tmpfs) = self.media_tmpfs.clone() {
            use std::os::unix::process::CommandExt;
            // SAFETY: `enter` only makes async-signal-safe system calls on prepared buffers.
            unsafe {
                cmd.pre_exec(move || tmpfs.enter());
            }
        }
        let child = cmd
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(log)
            .spawn()
            .expect("spawn streampackd");
        self.child = Some(child);
    }

    /// Temp dir holding the state dir, socket, config and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the daemon wrote on stderr so far (all runs).
    pub fn stderr_log(&self) -> String {
        fs::read(&self.stderr_path)
            .map(|b| text(&b))
            .unwrap_or_default()
    }

    /// `streampackd`'s pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Polls `streampackctl status` until it succeeds; panics (with the daemon's stderr) when
    /// the daemon exits or [`READY_TIMEOUT`] passes.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                panic!(
                    "streampackd exited during startup with {st}\nargs: {:?}\n--- stderr ---\n{}",
                    self.args,
                    self.stderr_log()
                );
            }
            let out = run_with_timeout(
                Command::new(streampackctl())
                    .arg("--socket")
                    .arg(&self.socket)
                    .arg("status"),
                Duration::from_secs(5),
            );
            if out.status.success() {
                return;
            }
            if Instant::now() >= deadline {
                let last = out;
                panic!(
                    "streampackd not ready after {READY_TIMEOUT:?}: `streampackctl status` gave {} \
                     stdout={:?} stderr={:?}\n--- daemon stderr ---\n{}",
                    last.status,
                    text(&last.stdout),
                    text(&last.stderr),
                    self.stderr_log()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `streampackctl --socket S ARGS...` and returns its output.
    pub fn ctl(&self, args: &[&str]) -> Output {
        run_with_timeout(
            Command::new(streampackctl())
                .arg("--socket")
                .arg(&self.socket)
                .args(args),
            CTL_TIMEOUT,
        )
    }

    /// Channel names, in the order `channel list --json` gives them.
    pub fn channel_names(&self) -> Vec<String> {
        self.ctl_json(&["channel", "list"])
            .as_array()
            .expect("channel list is an array")
            .iter()
            .map(|c| c["name"].as_str().expect("channel name").to_string())
            .collect()
    }

    /// Runs `streampackctl --socket S --json ARGS...`, asserts it succeeded and parses stdout.
    pub fn ctl_json(&self, args: &[&str]) -> Value {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let out = self.ctl(&full);
        assert!(
            out.status.success(),
            "streampackctl --json {args:?} failed with {}\nstdout: {}\nstderr: {}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "streampackctl --json {args:?} printed invalid JSON ({e}):\n{}",
                text(&out.stdout)
            )
        })
    }

    /// Runs `streampackctl ARGS...` and asserts it was refused with exit status 1 and a
    /// message on stderr; returns that message in lowercase.
    pub fn ctl_refused(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "streampackctl {args:?} should be refused with exit 1, got {}\nstdout: {}\nstderr: {}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        let err = text(&out.stderr);
        assert!(
            !err.trim().is_empty(),
            "streampackctl {args:?} was refused without a message on stderr"
        );
        err.to_lowercase()
    }

    /// Sends a signal to the running daemon.
    pub fn signal(&self, sig: Signal) {
        let pid = self.pid().expect("daemon is not running");
        kill(Pid::from_raw(pid as i32), sig).expect("kill");
    }

    /// Waits up to `timeout` for the daemon to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut()?;
            if let Some(st) = child.try_wait().expect("try_wait") {
                self.child = None;
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then asserts a clean exit (status 0) within [`STOP_TIMEOUT`].
    pub fn stop_term(&mut self) {
        self.stop_with(Signal::SIGTERM);
    }

    /// Like [`Daemon::stop_term`] with another signal (SIGINT must be graceful too).
    pub fn stop_with(&mut self, sig: Signal) {
        self.signal(sig);
        match self.wait_exit(STOP_TIMEOUT) {
            Some(st) => assert_eq!(
                st.code(),
                Some(0),
                "streampackd should exit 0 on {sig}, got {st}\n--- stderr ---\n{}",
                self.stderr_log()
            ),
            None => panic!(
                "streampackd still running {STOP_TIMEOUT:?} after {sig}\n--- stderr ---\n{}",
                self.stderr_log()
            ),
        }
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the daemon again with the same state dir, socket and ports, and waits until ready.
    pub fn restart(&mut self) {
        self.relaunch();
        self.wait_ready();
    }

    /// Starts the daemon again without waiting for it.
    pub fn relaunch(&mut self) {
        assert!(self.child.is_none(), "stop the daemon before restarting it");
        self.spawn();
    }

    /// Creates an HLS channel with one `hls` endpoint through the CLI.
    /// `extra` goes to `channel create` (e.g. durations).
    pub fn hls_channel(&self, name: &str, extra: &[&str]) -> Fixture {
        let mut args = vec!["channel", "create", "--name", name, "--protocol", "hls"];
        args.extend_from_slice(extra);
        let ch = self.ctl_json(&args);
        let id = ch["id"].as_str().expect("channel id").to_string();
        let ep = self.ctl_json(&["endpoint", "create", &id, "--name", "ep1"]);
        Fixture::new(ch, ep)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if thread::panicking() {
            let log = self.stderr_log();
            let tail: String = {
                let lines: Vec<&str> = log.lines().collect();
                lines[lines.len().saturating_sub(60)..].join("\n")
            };
            eprintln!(
                "--- streampackd stderr (last 60 lines), dir {} ---\n{tail}\n--- end ---",
                self.dir.path().display()
            );
        }
    }
}

/// A channel and its first endpoint, with the URLs tests need.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// `channel create --json` output.
    pub channel: Value,
    /// `endpoint create --json` output.
    pub endpoint: Value,
    /// Channel id.
    pub id: String,
    /// Primary input URL prefix (`http://HOST:PORT/v1/<ch>/<input>`).
    pub primary_url: String,
    /// Backup input URL prefix.
    pub backup_url: String,
    /// Path part of the primary input URL (`/v1/<ch>/<input>`), no trailing slash.
    pub primary_path: String,
    /// Endpoint manifest URL.
    pub endpoint_url: String,
    /// Path part of the endpoint manifest URL.
    pub endpoint_path: String,
}

impl Fixture {
    /// Extracts the URLs from the CLI's JSON.
    pub fn new(channel: Value, endpoint: Value) -> Fixture {
        let id = channel["id"].as_str().expect("id").to_string();
        let inputs = channel["inputs"].as_array().expect("inputs array");
        assert_eq!(inputs.len(), 2, "a channel has two inputs: {channel}");
        let primary_url = inputs[0]["url"].as_str().expect("input url");
        let primary_url = primary_url.trim_end_matches('/').to_string();
        let backup_url = inputs[1]["url"]
            .as_str()
            .expect("input url")
            .trim_end_matches('/')
            .to_string();
        let endpoint_url = endpoint["url"].as_str().expect("endpoint url").to_string();
        let primary_path = split_url(&primary_url).1;
        let endpoint_path = split_url(&endpoint_url).1;
        Fixture {
            channel,
            endpoint,
            id,
            primary_url,
            backup_url,
            primary_path,
            endpoint_path,
            endpoint_url,
        }
    }

    /// Ingest path of a file on the primary input.
    pub fn ingest(&self, file: &str) -> String {
        format!("{}/{}", self.primary_path, file)
    }
}
