//! Persistence: what the operator configured survives a graceful stop, a SIGKILL right after
//! the CLI returned, and a corrupt state file is refused rather than silently replaced.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nix::sys::signal::Signal;
use serde_json::Value;
use std::fs;
use std::time::Duration;
use streampack_tests::*;

/// Everything the control plane knows, without the live (in-memory) part.
fn snapshot(d: &Daemon) -> Value {
    let mut list = d.ctl_json(&["channel", "list"]);
    for c in list.as_array_mut().unwrap() {
        c.as_object_mut().unwrap().remove("live");
    }
    let eps: Vec<Value> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| d.ctl_json(&["endpoint", "list", c["id"].as_str().unwrap()]))
        .collect();
    serde_json::json!({ "channels": list, "endpoints": eps })
}

fn assert_same(before: &Value, after: &Value, when: &str) {
    assert_eq!(
        before, after,
        "state changed across {when}\nbefore: {before:#}\nafter: {after:#}"
    );
}

fn populate(d: &Daemon) {
    d.ctl_json(&[
        "channel",
        "create",
        "--name",
        "news",
        "--protocol",
        "hls",
        "--max-segment-duration",
        "4",
        "--max-playlist-duration",
        "120",
    ]);
    d.ctl_json(&["channel", "edit", "news", "--description", "24/7 news"]);
    d.ctl_json(&["endpoint", "create", "news", "--name", "web"]);
    d.ctl_json(&[
        "endpoint",
        "create",
        "news",
        "--name",
        "tv",
        "--manifest-name",
        "tv",
    ]);
    d.ctl_json(&["channel", "create", "--name", "sport", "--protocol", "hls"]);
    d.ctl_json(&["endpoint", "create", "sport", "--name", "app"]);
    d.ctl_json(&["channel", "create", "--name", "dashy", "--protocol", "dash"]);
}

#[test]
fn state_survives_sigterm_sigint_and_sigkill() {
    let mut d = Daemon::start(DaemonOpts::default());
    populate(&d);
    let before = snapshot(&d);
    assert_eq!(before["channels"].as_array().unwrap().len(), 3);
    assert!(
        d.state_dir.join("state.json").is_file(),
        "state is persisted as state.json in the state dir"
    );

    d.stop_term();
    d.restart();
    let after = snapshot(&d);
    assert_same(&before, &after, "SIGTERM + restart");

    // The restored channel is served again on the same URL: no media yet, so 503, not 404.
    let ep = &after["endpoints"][0][0];
    let (addr, path) = split_url(ep["url"].as_str().unwrap());
    let r = get(&addr, &path);
    assert_eq!(
        r.status, 503,
        "restored endpoint answers 503 before media: {r:?}"
    );

    // Changes acknowledged by the CLI are on disk before the answer: SIGKILL right after.
    let out = d.ctl(&["endpoint", "delete", "news", "tv"]);
    assert!(out.status.success(), "{out:?}");
    d.ctl_json(&[
        "channel",
        "edit",
        "sport",
        "--name",
        "sports",
        "--max-playlist-duration",
        "300",
    ]);
    d.ctl_json(&[
        "endpoint",
        "create",
        "sports",
        "--name",
        "tv",
        "--manifest-name",
        "x",
    ]);
    let out = d.ctl(&["channel", "delete", "dashy"]);
    assert!(out.status.success(), "{out:?}");
    let before = snapshot(&d);
    d.kill9();
    d.restart();
    assert_same(&before, &snapshot(&d), "SIGKILL + restart");

    // SIGINT is a graceful stop too.
    d.stop_with(Signal::SIGINT);
    d.restart();
    assert_same(&before, &snapshot(&d), "SIGINT + restart");
    d.stop_term();
}

/// Starts a daemon on `state_dir` contents that must be refused; checks it exits non-zero,
/// says why, and leaves the file alone.
fn assert_refuses(d: &mut Daemon, bad: &[u8], what: &str) {
    let state = d.state_dir.join("state.json");
    fs::write(&state, bad).unwrap();
    d.relaunch();
    let st = d
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("streampackd kept running on a corrupt state file ({what})"));
    assert!(
        !st.success(),
        "non-zero exit on a corrupt state file ({what}): {st}"
    );
    let log = d.stderr_log().to_lowercase();
    assert!(
        log.contains("state") && log.contains("corrupt"),
        "stderr says the state is corrupt ({what}):\n{log}"
    );
    assert_eq!(
        fs::read(&state).unwrap(),
        bad,
        "the corrupt state file must not be overwritten ({what})"
    );
    let out = d.ctl(&["status"]);
    assert!(
        !out.status.success(),
        "no daemon answers after refusing to start"
    );
}

#[test]
fn corrupt_state_is_refused_and_kept() {
    let mut d = Daemon::start(DaemonOpts::default());
    populate(&d);
    d.stop_term();
    let good = fs::read(d.state_dir.join("state.json")).unwrap();
    assert!(good.len() > 20, "state file has content");

    let truncated = good[..good.len() / 2].to_vec();
    assert_refuses(&mut d, &truncated, "truncated");
    assert_refuses(&mut d, b"\x00\xffnot json at all\n", "binary garbage");

    // Put the good file back: the daemon starts with everything there.
    fs::write(d.state_dir.join("state.json"), &good).unwrap();
    d.restart();
    let names: Vec<String> = d
        .ctl_json(&["channel", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["news", "sport", "dashy"]);
}

#[test]
fn corrupt_state_on_first_start_is_refused() {
    let bad = b"{\"format\":1,\"channels\":[{\"id\":".to_vec();
    let mut d = Daemon::launch(DaemonOpts {
        state_files: vec![("state.json".into(), bad.clone())],
        ..DaemonOpts::default()
    });
    let st = d
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("streampackd started on a corrupt state file"));
    assert!(!st.success(), "{st}");
    let log = d.stderr_log().to_lowercase();
    assert!(log.contains("state") && log.contains("corrupt"), "{log}");
    assert_eq!(fs::read(d.state_dir.join("state.json")).unwrap(), bad);
}
