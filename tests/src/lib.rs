//! Integration-test harness: starts the real `streampackd`, drives it with the real
//! `streampackctl`, and talks HTTP/1.1 to it over plain TCP so that tests see the bytes a
//! player or an encoder would see.
//!
//! # Layout
//! - binaries: [`bin_path`] finds `target/<profile>/streampack{d,ctl}` next to the test executable.
//! - daemon: [`Daemon`] (temp state dir, free loopback ports, readiness, signals, restart).
//! - HTTP: [`http`], [`Conn`], [`raw`] and [`Response`] (Content-Length and chunked framing).
//! - tools: [`require_tool`], [`ffmpeg_push_hls`], [`run_with_timeout`].
//! - HLS: [`media_sequence`], [`playlist_uris`], [`resolve`], [`split_url`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

pub mod seccomp;

/// How long a daemon may take to answer `status` after it was spawned.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a daemon may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one `streampackctl` call may take.
pub const CTL_TIMEOUT: Duration = Duration::from_secs(20);
/// Read/write timeout of the raw HTTP helpers.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Binaries and tools
// ---------------------------------------------------------------------------------------------

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

/// [`require_tool`]'s decision, with the facts passed in (unit-tested below).
pub fn require_tool_with(name: &str, present: bool, ci: bool) -> bool {
    if present {
        return true;
    }
    if ci {
        panic!("{name} is required in CI (CI=true) but is not on PATH: install it (see .ci/run)");
    }
    // Straight to the process's stderr: libtest hides eprintln! output of passing tests.
    let notice = format!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !!! SKIPPED: {name} is not installed, so this test checked NOTHING.\n\
         !!! Install it (apt-get install {name}) or run under CI=true to make this a failure.\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
    let _ = io::stderr().write_all(notice.as_bytes());
    false
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

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback TCP port that was free a moment ago and that this process has not handed out
/// before (tests in one binary run in parallel threads).
pub fn free_port() -> u16 {
    let mut guard = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let seen = guard.get_or_insert_with(HashSet::new);
    for _ in 0..100 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().expect("local_addr").port();
        if seen.insert(port) {
            return port;
        }
    }
    panic!("no free loopback port after 100 tries");
}

// ---------------------------------------------------------------------------------------------
// Daemon
// ---------------------------------------------------------------------------------------------

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
    args: Vec<String>,
    stderr_path: PathBuf,
    block_io_uring: bool,
}

impl Daemon {
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
        let pull: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
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
        args.extend(opts.args.iter().cloned());
        let stderr_path = dir.path().join("streampackd.stderr.log");
        let mut d = Daemon {
            child: None,
            dir,
            state_dir,
            socket,
            ingest,
            pull,
            args,
            stderr_path,
            block_io_uring: opts.block_io_uring,
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

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// An HTTP response as read off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Status line reason phrase.
    pub reason: String,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Body after de-chunking (empty for HEAD, 1xx, 204, 304).
    pub body: Vec<u8>,
}

impl Response {
    /// First header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Body as text (lossy).
    pub fn text(&self) -> String {
        text(&self.body)
    }
}

/// Splits `http://host:port/path` into (`host:port`, `/path`).
pub fn split_url(url: &str) -> (String, String) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("not an http:// URL: {url}"));
    match rest.find('/') {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
        None => (rest.to_string(), "/".to_string()),
    }
}

/// Resolves a playlist URI against the path of the playlist that holds it.
pub fn resolve(base_path: &str, uri: &str) -> String {
    if uri.starts_with("http://") {
        return split_url(uri).1;
    }
    if uri.starts_with('/') {
        return uri.to_string();
    }
    let dir = match base_path.rfind('/') {
        Some(i) => &base_path[..=i],
        None => "/",
    };
    let mut parts: Vec<&str> = Vec::new();
    let full = format!("{dir}{uri}");
    for seg in full.split('/') {
        match seg {
            "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    if joined.starts_with('/') {
        joined
    } else {
        format!("/{joined}")
    }
}

/// A keep-alive client connection with a read buffer (so pipelined responses parse in order).
pub struct Conn {
    /// The socket.
    pub stream: TcpStream,
    buf: Vec<u8>,
    host: String,
}

impl Conn {
    /// Connects with [`IO_TIMEOUT`] read/write timeouts.
    pub fn connect(addr: impl std::fmt::Display) -> Conn {
        let host = addr.to_string();
        let sa: SocketAddr = host.parse().expect("socket address");
        let stream = TcpStream::connect_timeout(&sa, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect {host}: {e}"));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: Vec::new(),
            host,
        }
    }

    /// Writes bytes as they are.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends one request (adds `Host`, and `Content-Length` for a body unless the headers
    /// frame it already) without reading the answer.
    pub fn send_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> io::Result<()> {
        let req = build_request(&self.host, method, path, headers, body);
        self.send(&req)
    }

    /// Sends a request and reads its response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        self.send_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: write failed: {e}"));
        self.read_response(method == "HEAD")
            .unwrap_or_else(|e| panic!("{method} {path}: no response: {e}"))
    }

    /// Sends a chunked PUT the way ffmpeg does (no Content-Type, no Content-Length).
    pub fn put_chunked(&mut self, path: &str, body: &[u8]) -> Response {
        let mut req = format!(
            "PUT {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: Lavf/59.27.100\r\nAccept: */*\r\n\
             Transfer-Encoding: chunked\r\n\r\n",
            self.host
        )
        .into_bytes();
        req.extend_from_slice(&chunked(body, 4096));
        self.send(&req)
            .unwrap_or_else(|e| panic!("PUT {path}: write failed: {e}"));
        self.read_response(false)
            .unwrap_or_else(|e| panic!("PUT {path}: no response: {e}"))
    }

    /// Reads exactly one response (a `1xx` interim response counts as one).
    pub fn read_response(&mut self, head_request: bool) -> io::Result<Response> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill()?;
        };
        let head = text(&self.buf[..head_end]);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_string();
        let mut sp = status_line.splitn(3, ' ');
        let version = sp.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {status_line:?}"),
            ));
        }
        let status: u16 = sp.next().unwrap_or_default().parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {status_line:?}"),
            )
        })?;
        let reason = sp.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        for l in lines.filter(|l| !l.is_empty()) {
            let (n, v) = l.split_once(':').ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, format!("bad header {l:?}"))
            })?;
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
        self.buf.drain(..head_end);
        let mut resp = Response {
            status,
            reason,
            headers,
            body: Vec::new(),
        };
        if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(resp);
        }
        let te = resp.header("transfer-encoding").map(|s| s.to_lowercase());
        if te.as_deref().is_some_and(|t| t.contains("chunked")) {
            resp.body = self.read_chunked()?;
        } else if let Some(cl) = resp.header("content-length") {
            let n: usize = cl.parse().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad Content-Length {cl}"),
                )
            })?;
            while self.buf.len() < n {
                self.fill()?;
            }
            resp.body = self.buf.drain(..n).collect();
        } else {
            // Close-delimited.
            loop {
                match self.fill() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            resp.body = std::mem::take(&mut self.buf);
        }
        Ok(resp)
    }

    fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                self.fill()?;
            };
            let line = text(&self.buf[..line_end]);
            let size_str = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_str, 16).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad chunk size {line:?}"),
                )
            })?;
            self.buf.drain(..line_end + 2);
            if size == 0 {
                // Trailers until an empty line.
                loop {
                    let end = loop {
                        if let Some(i) = find(&self.buf, b"\r\n") {
                            break i;
                        }
                        self.fill()?;
                    };
                    self.buf.drain(..end + 2);
                    if end == 0 {
                        return Ok(body);
                    }
                }
            }
            while self.buf.len() < size + 2 {
                self.fill()?;
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut tmp = [0u8; 65536];
        let n = self.stream.read(&mut tmp)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(())
    }

    /// Bytes received but not yet parsed.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Reads until the peer closes or `timeout` passes; returns buffered plus new bytes and
    /// whether the peer closed.
    pub fn read_to_close(&mut self, timeout: Duration) -> (Vec<u8>, bool) {
        let deadline = Instant::now() + timeout;
        let mut closed = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.fill() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    closed = true;
                    break;
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    break
                }
                // A reset is a close too.
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        self.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        (std::mem::take(&mut self.buf), closed)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Encodes a body as chunks of at most `max` bytes plus the last chunk.
pub fn chunked(body: &[u8], max: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for c in body.chunks(max.max(1)) {
        v.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        v.extend_from_slice(c);
        v.extend_from_slice(b"\r\n");
    }
    v.extend_from_slice(b"0\r\n\r\n");
    v
}

/// Request bytes: request line, `Host`, the given headers, `Content-Length` when there is a
/// body and no framing header was given.
pub fn build_request(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    let framed = headers.iter().any(|(n, _)| {
        n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
    });
    if let Some(b) = body {
        if !framed {
            req.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    bytes
}

/// One request on a fresh connection.
pub fn http(
    addr: impl std::fmt::Display,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Response {
    Conn::connect(addr).request(method, path, headers, body)
}

/// `GET` on a fresh connection.
pub fn get(addr: impl std::fmt::Display, path: &str) -> Response {
    http(addr, "GET", path, &[], None)
}

/// Writes bytes on a fresh connection and reads until the peer closes or `timeout` passes.
pub fn raw_with_timeout(addr: impl std::fmt::Display, bytes: &[u8], timeout: Duration) -> Vec<u8> {
    let mut c = Conn::connect(addr);
    // The peer may close before taking everything: that is an answer too.
    let _ = c.send(bytes);
    c.read_to_close(timeout).0
}

/// [`raw_with_timeout`] with 5 s.
pub fn raw(addr: impl std::fmt::Display, bytes: &[u8]) -> Vec<u8> {
    raw_with_timeout(addr, bytes, Duration::from_secs(5))
}

/// Polls `GET path` until it answers 200 or `timeout` passes; returns the last response.
pub fn wait_for_200(addr: impl std::fmt::Display, path: &str, timeout: Duration) -> Response {
    let addr = addr.to_string();
    let deadline = Instant::now() + timeout;
    loop {
        let r = get(&addr, path);
        if r.status == 200 || Instant::now() >= deadline {
            return r;
        }
        thread::sleep(Duration::from_millis(200));
    }
}

// ---------------------------------------------------------------------------------------------
// HLS text helpers
// ---------------------------------------------------------------------------------------------

/// `EXT-X-MEDIA-SEQUENCE` of a media playlist (0 when absent, per RFC 8216).
pub fn media_sequence(playlist: &str) -> u64 {
    playlist
        .lines()
        .find_map(|l| l.trim().strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .map(|v| v.trim().parse().expect("numeric media sequence"))
        .unwrap_or(0)
}

/// URI lines (non-empty, not tags/comments) in order.
pub fn playlist_uris(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Whether a playlist is a master playlist.
pub fn is_master(playlist: &str) -> bool {
    playlist.contains("#EXT-X-STREAM-INF")
}

/// Sum of `EXTINF` durations, seconds.
pub fn total_duration(playlist: &str) -> f64 {
    playlist
        .lines()
        .filter_map(|l| l.trim().strip_prefix("#EXTINF:"))
        .map(|v| {
            v.split(',')
                .next()
                .unwrap_or("0")
                .trim()
                .parse::<f64>()
                .unwrap_or(0.0)
        })
        .sum()
}

/// A media playlist as an encoder writes it: `segments` are (uri, duration seconds).
pub fn encoder_playlist(media_sequence: u64, segments: &[(String, f64)], ended: bool) -> String {
    let target = segments
        .iter()
        .map(|(_, d)| d.ceil() as u64)
        .max()
        .unwrap_or(2);
    let mut s = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{media_sequence}\n"
    );
    for (uri, d) in segments {
        s.push_str(&format!("#EXTINF:{d:.6},\n{uri}\n"));
    }
    if ended {
        s.push_str("#EXT-X-ENDLIST\n");
    }
    s
}

/// Bytes shaped like an MPEG-TS segment (188-byte null packets with a marker in the payload),
/// distinct per `tag`. Good enough for ingest, not for playback.
pub fn fake_ts(tag: u32, packets: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(packets * 188);
    for i in 0..packets {
        let mut p = [0xffu8; 188];
        p[0] = 0x47;
        p[1] = 0x1f;
        p[2] = 0xff;
        p[3] = 0x10 | (i as u8 & 0x0f);
        p[4..8].copy_from_slice(&tag.to_be_bytes());
        p[8..12].copy_from_slice(&(i as u32).to_be_bytes());
        v.extend_from_slice(&p);
    }
    v
}

// ---------------------------------------------------------------------------------------------
// ffmpeg
// ---------------------------------------------------------------------------------------------

/// What [`ffmpeg_push_hls`] sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HlsPush {
    /// One rendition, MPEG-TS segments `seg_%05d.ts`, playlist `main.m3u8`.
    Ts,
    /// One rendition, fMP4 segments `seg_%05d.m4s` and `init.mp4`, playlist `main.m3u8`.
    Fmp4,
    /// Two renditions (`hi` 640x360, `lo` 320x180) as TS, variant playlists `hi.m3u8` and
    /// `lo.m3u8`, master playlist `main.m3u8`.
    Master,
}

/// The ffmpeg arguments of TOOLS.md's recipes, pushing `seconds` of test pattern to
/// `input_url` (the input's URL prefix, without trailing slash).
pub fn ffmpeg_push_hls_args(kind: HlsPush, input_url: &str, seconds: u32) -> Vec<String> {
    let mut a: Vec<String> = [
        "-nostdin",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(seconds.to_string());
    if kind == HlsPush::Master {
        for m in ["0:v", "0:v", "1:a", "1:a"] {
            a.push("-map".into());
            a.push(m.into());
        }
    }
    a.extend(
        [
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-g",
            "50",
            "-keyint_min",
            "50",
            "-sc_threshold",
            "0",
            "-b:v",
            "800k",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    if kind == HlsPush::Master {
        a.extend(
            ["-filter:v:1", "scale=320:180"]
                .iter()
                .map(|s| s.to_string()),
        );
    }
    a.extend(
        [
            "-f",
            "hls",
            "-hls_time",
            "2",
            "-hls_list_size",
            "6",
            "-hls_flags",
            "delete_segments",
            "-method",
            "PUT",
            "-http_persistent",
            "1",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    match kind {
        HlsPush::Ts => {
            a.push("-hls_segment_filename".into());
            a.push(format!("{input_url}/seg_%05d.ts"));
            a.push(format!("{input_url}/main.m3u8"));
        }
        HlsPush::Fmp4 => {
            a.extend(
                [
                    "-hls_segment_type",
                    "fmp4",
                    "-hls_fmp4_init_filename",
                    "init.mp4",
                ]
                .iter()
                .map(|s| s.to_string()),
            );
            a.push("-hls_segment_filename".into());
            a.push(format!("{input_url}/seg_%05d.m4s"));
            a.push(format!("{input_url}/main.m3u8"));
        }
        HlsPush::Master => {
            a.extend(
                [
                    "-var_stream_map",
                    "v:0,a:0,name:hi v:1,a:1,name:lo",
                    "-master_pl_name",
                    "main.m3u8",
                ]
                .iter()
                .map(|s| s.to_string()),
            );
            a.push("-hls_segment_filename".into());
            a.push(format!("{input_url}/%v_%05d.ts"));
            a.push(format!("{input_url}/%v.m3u8"));
        }
    }
    a
}

/// Spawns ffmpeg pushing HLS to `input_url`; its stderr goes to `log`. Remember: ffmpeg exits 0
/// even when every PUT was refused, so check what the origin holds, not ffmpeg's status.
pub fn ffmpeg_push_hls(kind: HlsPush, input_url: &str, seconds: u32, log: &Path) -> Child {
    let log = File::create(log).expect("create ffmpeg log");
    Command::new("ffmpeg")
        .args(ffmpeg_push_hls_args(kind, input_url, seconds))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn ffmpeg")
}

/// Waits for a child up to `timeout`, killing it after that. Returns its status.
pub fn wait_child(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            return child.wait().expect("wait");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_dir_is_parent_of_deps() {
        // Unit tests of this lib run from target/<profile>/deps/ too.
        let exe = std::env::current_exe().unwrap();
        assert_eq!(exe.parent().unwrap().file_name().unwrap(), "deps");
        assert_eq!(target_dir(), exe.parent().unwrap().parent().unwrap());
    }

    #[test]
    #[should_panic(expected = "build first: cargo build --workspace --bins")]
    fn missing_binary_says_how_to_build() {
        bin_path("no-such-streampack-binary");
    }

    #[test]
    fn tool_present_is_used() {
        assert!(require_tool_with("sh", true, true));
        assert!(require_tool_with("sh", true, false));
        assert!(tool_on_path("sh"));
        assert!(!tool_on_path("no-such-tool-xyz"));
    }

    #[test]
    fn tool_missing_outside_ci_skips() {
        assert!(!require_tool_with("no-such-tool-xyz", false, false));
    }

    #[test]
    #[should_panic(expected = "no-such-tool-xyz is required in CI")]
    fn tool_missing_in_ci_fails() {
        require_tool_with("no-such-tool-xyz", false, true);
    }

    #[test]
    fn ports_are_not_handed_out_twice() {
        let ports: HashSet<u16> = (0..50).map(|_| free_port()).collect();
        assert_eq!(ports.len(), 50);
    }

    #[test]
    fn resolves_relative_uris() {
        assert_eq!(
            resolve("/v1/c/e/main.m3u8", "0/index.m3u8"),
            "/v1/c/e/0/index.m3u8"
        );
        assert_eq!(resolve("/v1/c/e/0/index.m3u8", "5.ts"), "/v1/c/e/0/5.ts");
        assert_eq!(
            resolve("/v1/c/e/0/index.m3u8", "../init0.mp4"),
            "/v1/c/e/init0.mp4"
        );
        assert_eq!(resolve("/v1/c/e/main.m3u8", "/abs/x.ts"), "/abs/x.ts");
        assert_eq!(resolve("/a/b.m3u8", "http://h:1/z/y.ts"), "/z/y.ts");
    }

    #[test]
    fn parses_pipelined_chunked_and_sized_responses() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let srv = thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 1024];
            let _ = s.read(&mut b).unwrap();
            s.write_all(
                b"HTTP/1.1 100 Continue\r\n\r\n\
                  HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n\
                  3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: x\r\n\r\n\
                  HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
                  HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n\
                  HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n\
                  HTTP/1.1 200 OK\r\n\r\nuntil close",
            )
            .unwrap();
        });
        let mut c = Conn::connect(addr);
        c.send(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(c.read_response(false).unwrap().status, 100);
        let r = c.read_response(false).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abcde"[..]));
        assert_eq!(r.header("x-a"), Some("1"));
        assert_eq!(c.read_response(false).unwrap().body, b"hello");
        // A HEAD answer carries a Content-Length but no body.
        let h = c.read_response(true).unwrap();
        assert_eq!((h.header("Content-Length"), h.body.len()), (Some("7"), 0));
        assert_eq!(c.read_response(false).unwrap().status, 304);
        srv.join().unwrap();
        assert_eq!(c.read_response(false).unwrap().body, b"until close");
    }

    #[test]
    fn playlist_helpers() {
        let p = encoder_playlist(7, &[("a.ts".into(), 2.0), ("b.ts".into(), 1.5)], true);
        assert_eq!(media_sequence(&p), 7);
        assert_eq!(playlist_uris(&p), vec!["a.ts", "b.ts"]);
        assert!((total_duration(&p) - 3.5).abs() < 1e-9);
        assert!(p.ends_with("#EXT-X-ENDLIST\n"));
        assert!(!is_master(&p));
        assert_eq!(fake_ts(1, 3).len(), 564);
    }

    #[test]
    fn push_args_follow_tools_md() {
        let a = ffmpeg_push_hls_args(HlsPush::Master, "http://h:1/v1/c/i", 20).join(" ");
        assert!(a.contains("-var_stream_map v:0,a:0,name:hi v:1,a:1,name:lo"));
        assert!(a.contains("-master_pl_name main.m3u8"));
        assert!(a.ends_with("http://h:1/v1/c/i/%v_%05d.ts http://h:1/v1/c/i/%v.m3u8"));
        let t = ffmpeg_push_hls_args(HlsPush::Ts, "http://h:1/v1/c/i", 20).join(" ");
        assert!(t.contains("-method PUT -http_persistent 1"));
        assert!(t.contains("-re "));
        assert!(t.ends_with("seg_%05d.ts http://h:1/v1/c/i/main.m3u8"));
    }
}
