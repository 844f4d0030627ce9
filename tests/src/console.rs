//! The web console as a peer: `streampackctl console` started on a free loopback port against
//! a daemon's admin socket, and `tests/browser/console.mjs` walking it in headless chromium.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The token the tests' consoles are started with.
pub const CONSOLE_TOKEN: &str = "console-test-token-0123456789";

/// A running `streampackctl console`, killed on drop.
pub struct Console {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// The URL it printed (with the login token).
    pub login_url: String,
    _child: Killed,
}

impl Console {
    /// Starts the console for the daemon listening on `socket`, and waits for its URL line.
    pub fn start(socket: &Path) -> Console {
        let port = free_port();
        let mut child = Command::new(streampackctl())
            .args(["--socket"])
            .arg(socket)
            .args(["console", "--listen", &format!("127.0.0.1:{port}")])
            .env("STREAMPACK_CONSOLE_TOKEN", CONSOLE_TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn streampackctl console");
        let out = child.stdout.take().unwrap();
        let mut lines = BufReader::new(out);
        let mut first = String::new();
        lines.read_line(&mut first).unwrap();
        // The rest of what it prints goes to the test's output.
        std::thread::spawn(move || {
            for l in lines.lines().map_while(Result::ok) {
                eprintln!("[console] {l}");
            }
        });
        let login_url = first
            .trim()
            .strip_prefix("streampack console: ")
            .unwrap_or_else(|| panic!("console printed {first:?}"))
            .to_string();
        Console {
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            login_url,
            _child: Killed(child),
        }
    }

    /// An API call with the bearer token; `body` is JSON.
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        let auth = format!("Bearer {CONSOLE_TOKEN}");
        let mut headers = vec![("Authorization", auth.as_str())];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        http(self.addr, method, path, &headers, body.map(str::as_bytes))
    }

    /// [`Console::api`], parsed.
    pub fn api_json(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let r = self.api(method, path, body);
        let v = serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}: {}", r.text()));
        (r.status, v)
    }
}

/// Runs one step of `tests/browser/console.mjs` against `console` and returns the JSON object
/// it printed last. `None` when the browser is missing outside CI (after a loud notice).
pub fn console_walk(console: &Console, step: &str, env: &[(&str, &str)]) -> Option<Value> {
    if !require_browser() {
        return None;
    }
    let script = browser_dir().join("console.mjs");
    let mut cmd = Command::new("node");
    cmd.arg(&script).arg(&console.login_url).arg(step);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run_with_timeout(&mut cmd, Duration::from_secs(120));
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'));
    let parsed = line.and_then(|l| serde_json::from_str::<Value>(l).ok());
    match parsed {
        Some(v) if out.status.success() && v["ok"] == true => {
            if !stderr.trim().is_empty() {
                eprint!("--- console.mjs {step} stderr ---\n{stderr}");
            }
            Some(v)
        }
        _ => panic!(
            "console walk {step:?} failed ({})\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}",
            out.status
        ),
    }
}
