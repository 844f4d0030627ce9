//! The real `streampackctl` binary against a fake daemon: a Unix listener in a temp dir that
//! reads one request frame and answers with a canned frame.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Command, Output};
use std::thread::JoinHandle;
use streampack_core::admin::frame;
use streampack_core::admin::proto::{
    ChannelCreate, ChannelPatch, ChannelView, InputLiveView, InputView, LiveView, Request, Response,
};
use streampack_core::channel::Protocol;
use streampack_core::control::ControlError;

type TestResult = Result<(), Box<dyn std::error::Error>>;
type Daemon = JoinHandle<Result<Request, String>>;

/// Waits for the fake daemon. If the binary never connected, connects once so the daemon's
/// `accept` returns and the test fails instead of hanging.
fn finish(daemon: Daemon, sock: &Path) -> Result<Request, Box<dyn std::error::Error>> {
    if !daemon.is_finished() {
        let _unblock = UnixStream::connect(sock);
    }
    Ok(daemon.join().map_err(|_| "fake daemon panicked")??)
}

const CH_ID: &str = "0123456789abcdef0123456789ab";

/// Serves one connection: decodes the request, writes `answer` verbatim, returns the request.
fn fake_daemon(path: &Path, answer: Vec<u8>) -> std::io::Result<Daemon> {
    let listener = UnixListener::bind(path)?;
    Ok(std::thread::spawn(move || {
        let (mut s, _) = listener.accept().map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let req = loop {
            if let Some((req, _)) = frame::decode::<Request>(&buf).map_err(|e| e.to_string())? {
                break req;
            }
            let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("client hung up before a whole request".into());
            }
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        };
        s.write_all(&answer).map_err(|e| e.to_string())?;
        Ok(req)
    }))
}

fn ctl(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_streampackctl"));
    cmd.args(args).env_remove("STREAMPACK_SOCKET");
    cmd
}

/// Runs `args` against a fake daemon answering `resp`; returns the output and the request.
fn exchange(
    args: &[&str],
    resp: &Response,
) -> Result<(Output, Request), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let sock = dir.path().join("streampackd.sock");
    let daemon = fake_daemon(&sock, frame::encode(resp)?)?;
    let out = ctl(args).arg("--socket").arg(&sock).output()?;
    Ok((out, finish(daemon, &sock)?))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn channel() -> ChannelView {
    let input = |id: &str, role: &str| InputView {
        id: id.into(),
        role: role.into(),
        url: format!("http://127.0.0.1:8080/v1/{CH_ID}/{id}"),
        auth: Default::default(),
    };
    ChannelView {
        id: CH_ID.into(),
        name: "news".into(),
        protocol: Protocol::Hls,
        max_segment_duration: 15,
        max_playlist_duration: 600,
        description: String::new(),
        inputs: vec![
            input("aaaaaaaaaaaaaaaaaaaaaaaaaaaa", "primary"),
            input("bbbbbbbbbbbbbbbbbbbbbbbbbbbb", "backup"),
        ],
        endpoints: Vec::new(),
        cdn_domains: Vec::new(),
        manifest_ttl: 1,
        segment_ttl: 600,
        end_on_endlist: false,
        timeshift_window_secs: 0,
        live: LiveView {
            active_input: None,
            inputs: ["primary", "backup"]
                .iter()
                .map(|r| InputLiveView {
                    role: (*r).into(),
                    health: "never".into(),
                    ..InputLiveView::default()
                })
                .collect(),
            ..LiveView::default()
        },
    }
}

#[test]
fn create_sends_the_request_and_prints_the_channel() -> TestResult {
    let (out, req) = exchange(
        &["channel", "create", "--name", "news", "--protocol", "hls"],
        &Response::Channel(channel()),
    )?;
    assert_eq!(
        req,
        Request::ChannelCreate(ChannelCreate {
            name: "news".into(),
            protocol: Protocol::Hls,
            ..ChannelCreate::default()
        })
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("id:                    {CH_ID}\n")),
        "{stdout}"
    );
    assert!(
        stdout.contains("  backup   never   idle   never"),
        "{stdout}"
    );
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    Ok(())
}

#[test]
fn edit_sends_the_timeshift_window_and_show_prints_it() -> TestResult {
    let edited = ChannelView {
        timeshift_window_secs: 3600,
        ..channel()
    };
    let (out, req) = exchange(
        &["channel", "edit", "news", "--timeshift-window", "3600"],
        &Response::Channel(edited.clone()),
    )?;
    assert_eq!(
        req,
        Request::ChannelEdit {
            channel: "news".into(),
            patch: ChannelPatch {
                timeshift_window_secs: Some(3600),
                ..ChannelPatch::default()
            },
        }
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("\ntime-shift window:     3600 s\n"),
        "{stdout}"
    );
    let (out, _) = exchange(
        &["channel", "show", "news", "--json"],
        &Response::Channel(edited),
    )?;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["timeshift_window_secs"], 3600);
    let (out, _) = exchange(&["channel", "show", "news"], &Response::Channel(channel()))?;
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("\ntime-shift window:     off\n"),
        "{stdout}"
    );
    Ok(())
}

#[test]
fn json_list_prints_an_array_of_views() -> TestResult {
    let (out, req) = exchange(
        &["--json", "channel", "list"],
        &Response::Channels(vec![channel()]),
    )?;
    assert_eq!(req, Request::ChannelList);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v[0]["id"], CH_ID);
    assert_eq!(v[0]["protocol"], "hls");
    assert_eq!(v[0]["inputs"][1]["role"], "backup");
    Ok(())
}

#[test]
fn delete_with_json_after_the_subcommand() -> TestResult {
    let (out, req) = exchange(
        &["channel", "delete", "news", "--json"],
        &Response::Deleted { id: CH_ID.into() },
    )?;
    assert_eq!(
        req,
        Request::ChannelDelete {
            channel: "news".into()
        }
    );
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v, serde_json::json!({ "deleted": CH_ID }));
    Ok(())
}

#[test]
fn refusal_exits_1_with_the_daemons_message() -> TestResult {
    let msg = "channel news still has endpoints web, cdn: delete them first";
    let (out, _) = exchange(
        &["channel", "delete", "news"],
        &Response::Error(ControlError::Conflict(msg.into())),
    )?;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), format!("streampackctl: {msg}\n"));
    assert!(out.stdout.is_empty());
    Ok(())
}

#[test]
fn version_mismatch_exits_4() -> TestResult {
    let mut answer = frame::encode(&Response::Deleted { id: "x".into() })?;
    answer[4..6].copy_from_slice(&(frame::PROTOCOL_VERSION + 1).to_be_bytes());
    let dir = tempfile::tempdir()?;
    let sock = dir.path().join("d.sock");
    let daemon = fake_daemon(&sock, answer)?;
    let out = ctl(&["status", "--socket"]).arg(&sock).output()?;
    finish(daemon, &sock)?;
    assert_eq!(out.status.code(), Some(4));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("streampackctl: admin protocol version mismatch"),
        "{err}"
    );
    Ok(())
}

#[test]
fn missing_socket_exits_3_naming_the_path() -> TestResult {
    let dir = tempfile::tempdir()?;
    let sock = dir.path().join("nope.sock");
    let out = ctl(&["status", "--socket"]).arg(&sock).output()?;
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    let want = format!(
        "streampackctl: streampackd is not running or not reachable at {} (",
        sock.display()
    );
    assert!(err.starts_with(&want), "{err}");
    assert!(err.contains("or pass --socket PATH"), "{err}");
    Ok(())
}

#[test]
fn env_socket_is_used_when_no_flag() -> TestResult {
    let dir = tempfile::tempdir()?;
    let sock = dir.path().join("env.sock");
    let out = ctl(&["channel", "list"])
        .env("STREAMPACK_SOCKET", &sock)
        .output()?;
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains(&sock.display().to_string()));
    Ok(())
}

#[test]
fn default_socket_lookup_names_the_paths_tried() -> TestResult {
    if Path::new("/run/streampack/streampackd.sock").exists() {
        // A real daemon is installed here; the fallback cannot be observed.
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let runtime = dir.path().join("runtime");
    let out = ctl(&["status"])
        .env("XDG_RUNTIME_DIR", &runtime)
        .current_dir(dir.path())
        .output()?;
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    let user = runtime.join("streampack/streampackd.sock");
    assert!(
        err.contains(&format!("not reachable at {}", user.display())),
        "{err}"
    );
    assert!(err.contains("/run/streampack/streampackd.sock"), "{err}");
    Ok(())
}

#[test]
fn user_socket_is_found_from_any_working_dir() -> TestResult {
    if Path::new("/run/streampack/streampackd.sock").exists() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let runtime = dir.path().join("runtime");
    std::fs::create_dir_all(runtime.join("streampack"))?;
    let sock = runtime.join("streampack/streampackd.sock");
    let elsewhere = dir.path().join("somewhere/else");
    std::fs::create_dir_all(&elsewhere)?;
    let daemon = fake_daemon(&sock, frame::encode(&Response::Channels(Vec::new()))?)?;
    let out = ctl(&["channel", "list"])
        .env("XDG_RUNTIME_DIR", &runtime)
        .current_dir(&elsewhere)
        .output()?;
    let req = finish(daemon, &sock)?;
    assert_eq!(req, Request::ChannelList);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("no channels"));
    Ok(())
}

#[test]
fn usage_errors_exit_2() -> TestResult {
    let out = ctl(&["channel", "create", "--name", "x", "--protocol", "rtmp"]).output()?;
    assert_eq!(out.status.code(), Some(2));
    let out = ctl(&["channel", "edit", "news"]).output()?;
    assert_eq!(out.status.code(), Some(2));
    Ok(())
}
