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
    let names = d.channel_names();
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

/// One control-plane change the writer made, and what the CLI said.
#[derive(Debug, Clone)]
enum Change {
    Create(String),
    Delete(String),
    Describe(String),
}

/// The control-plane facts the crash test follows: channel names and `base`'s description.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Model {
    names: std::collections::BTreeSet<String>,
    description: String,
}

impl Model {
    fn read(d: &Daemon) -> Model {
        let list = d.ctl_json(&["channel", "list"]);
        let list = list.as_array().unwrap();
        Model {
            names: list
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_string())
                .collect(),
            description: list
                .iter()
                .find(|c| c["name"] == "base")
                .map(|c| c["description"].as_str().unwrap_or("").to_string())
                .expect("channel base exists"),
        }
    }

    fn apply(&mut self, c: &Change) {
        match c {
            Change::Create(n) => {
                self.names.insert(n.clone());
            }
            Change::Delete(n) => {
                self.names.remove(n);
            }
            Change::Describe(t) => self.description = t.clone(),
        }
    }
}

/// SIGKILL in a loop while streampackctl makes changes: after every restart the daemon starts,
/// every change the CLI acknowledged is there, and the one in flight at the kill is either
/// wholly there or wholly absent.
#[test]
fn sigkill_during_admin_changes_loses_nothing_acknowledged() {
    let mut d = Daemon::start(DaemonOpts::default());
    d.ctl_json(&["channel", "create", "--name", "base", "--protocol", "hls"]);
    let mut model = Model::read(&d);
    let rounds = 20;
    let mut acked_total = 0;
    let mut in_flight_applied = 0;
    let mut in_flight_absent = 0;
    for round in 0..rounds {
        let socket = d.socket.clone();
        let existing: Vec<String> = model
            .names
            .iter()
            .filter(|n| *n != "base")
            .cloned()
            .collect();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let done_w = std::sync::Arc::clone(&done);
        let writer = std::thread::spawn(move || {
            let mut acked = Vec::new();
            let mut to_delete = existing;
            for k in 0.. {
                let change = match k % 3 {
                    0 => Change::Create(format!("r{round}c{k}")),
                    1 => Change::Describe(format!("round {round} change {k}")),
                    _ => match to_delete.pop() {
                        Some(n) => Change::Delete(n),
                        None => Change::Create(format!("r{round}x{k}")),
                    },
                };
                let args: Vec<String> = match &change {
                    Change::Create(n) => ["channel", "create", "--name", n, "--protocol", "hls"]
                        .map(String::from)
                        .to_vec(),
                    Change::Delete(n) => ["channel", "delete", n].map(String::from).to_vec(),
                    Change::Describe(t) => ["channel", "edit", "base", "--description", t]
                        .map(String::from)
                        .to_vec(),
                };
                let out = run_with_timeout(
                    std::process::Command::new(streampackctl())
                        .arg("--socket")
                        .arg(&socket)
                        .args(&args),
                    CTL_TIMEOUT,
                );
                if out.status.success() {
                    if let Change::Create(n) = &change {
                        to_delete.insert(0, n.clone());
                    }
                    acked.push(change);
                    done_w.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                } else {
                    // The daemon died under it: this change may or may not have been made.
                    return (acked, Some(change), out.status.code(), text(&out.stderr));
                }
            }
            unreachable!()
        });
        // Kill a few changes in, at a moment that sweeps across one CLI call (process start,
        // request, the daemon's fsync and rename, the answer).
        let wait_for = 2 + (round as usize % 5);
        let t = std::time::Instant::now();
        while done.load(std::sync::atomic::Ordering::SeqCst) < wait_for
            && t.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(round * 7 % 40));
        d.kill9();
        let (acked, in_flight, code, why) = writer.join().unwrap();
        assert!(
            code != Some(1),
            "round {round}: a change was refused rather than cut by the kill: {why}"
        );
        // The file on disk is whole JSON whatever the moment of the kill.
        let raw = fs::read(d.state_dir.join("state.json")).unwrap();
        serde_json::from_slice::<Value>(&raw)
            .unwrap_or_else(|e| panic!("round {round}: torn state file ({e})"));
        d.restart();
        for c in &acked {
            model.apply(c);
        }
        acked_total += acked.len();
        let got = Model::read(&d);
        let mut with = model.clone();
        if let Some(c) = &in_flight {
            with.apply(c);
        }
        assert!(
            got == model || got == with,
            "round {round}: after SIGKILL the state is neither the acknowledged one nor that \
             plus the change in flight ({in_flight:?})\nexpected {model:?}\nor {with:?}\ngot {got:?}"
        );
        if got == with && got != model {
            in_flight_applied += 1;
        }
        if code == Some(3) && got == model {
            in_flight_absent += 1;
        }
        model = got;
    }
    eprintln!(
        "{rounds} SIGKILLs, {acked_total} acknowledged changes all kept; changes cut by the \
         kill: {in_flight_applied} found applied, {in_flight_absent} absent"
    );
    assert!(
        acked_total as u64 >= rounds,
        "the writer made changes between kills"
    );
    d.stop_term();
}
