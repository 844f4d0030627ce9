//! Control plane through the real CLI: `streampackctl` against a real `streampackd`.
//! Creates, lists, shows, edits and deletes channels and endpoints, checks the `--json`
//! contract (field names of `core::admin::proto`), every validation rule, and exit statuses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::collections::HashSet;
use std::os::unix::net::UnixListener;
use std::process::Command;
use std::time::Duration;
use streampack_tests::*;

fn is_id(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 28
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn keys(v: &Value) -> HashSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn assert_has_keys(v: &Value, want: &[&str]) {
    let have = keys(v);
    for k in want {
        assert!(have.contains(*k), "missing field {k:?} in {v:#}");
    }
}

fn stdout(o: &std::process::Output) -> String {
    text(&o.stdout)
}

#[test]
fn channel_create_defaults_and_json_fields() {
    let d = Daemon::start(DaemonOpts::default());
    let ch = d.ctl_json(&["channel", "create", "--name", "news", "--protocol", "hls"]);
    assert_has_keys(
        &ch,
        &[
            "id",
            "name",
            "protocol",
            "max_segment_duration",
            "max_playlist_duration",
            "inputs",
            "endpoints",
            "live",
        ],
    );
    assert!(
        is_id(&ch["id"]),
        "id must be 28 lowercase hex: {}",
        ch["id"]
    );
    assert_eq!(ch["name"], "news");
    assert_eq!(ch["protocol"], "hls");
    assert_eq!(
        ch["max_segment_duration"], 15,
        "default max segment duration"
    );
    assert_eq!(
        ch["max_playlist_duration"], 600,
        "default max playlist duration"
    );
    assert_eq!(ch["endpoints"], Value::Array(vec![]));

    let id = ch["id"].as_str().unwrap();
    let inputs = ch["inputs"].as_array().expect("inputs array");
    assert_eq!(inputs.len(), 2, "exactly two inputs: {ch:#}");
    let roles: Vec<&str> = inputs.iter().map(|i| i["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["primary", "backup"]);
    let mut ids = HashSet::from([id.to_string()]);
    for i in inputs {
        assert_has_keys(i, &["id", "role", "url"]);
        assert!(is_id(&i["id"]), "input id: {i}");
        assert!(
            ids.insert(i["id"].as_str().unwrap().to_string()),
            "ids unique: {ch:#}"
        );
        let url = i["url"].as_str().unwrap();
        assert_eq!(
            url.trim_end_matches('/'),
            format!("http://{}/v1/{id}/{}", d.ingest, i["id"].as_str().unwrap()),
            "input url is the ingest prefix for this channel and input"
        );
    }

    let live = &ch["live"];
    assert_has_keys(
        live,
        &[
            "active_input",
            "inputs",
            "window_segments",
            "held_bytes",
            "failovers",
            "ended",
        ],
    );
    assert!(
        live["active_input"].is_null(),
        "no input delivered yet: {live}"
    );
    assert_eq!(live["window_segments"], 0);
    assert_eq!(live["held_bytes"], 0);
    assert_eq!(live["failovers"], 0);
    assert_eq!(live["ended"], false);
    let live_inputs = live["inputs"].as_array().expect("live.inputs array");
    assert_eq!(live_inputs.len(), 2);
    for (li, role) in live_inputs.iter().zip(["primary", "backup"]) {
        assert_has_keys(li, &["role", "last_segment_age_ms", "segments", "bytes"]);
        assert_eq!(li["role"], role);
        assert_eq!(li["segments"], 0);
        assert_eq!(li["bytes"], 0);
        assert!(li["last_segment_age_ms"].is_null());
    }

    // show prints the same object.
    let shown = d.ctl_json(&["channel", "show", id]);
    assert_eq!(shown, ch);

    // A DASH channel keeps its protocol.
    let dash = d.ctl_json(&[
        "channel",
        "create",
        "--name",
        "dash-1",
        "--protocol",
        "dash",
    ]);
    assert_eq!(dash["protocol"], "dash");
    assert_ne!(dash["id"], ch["id"]);
}

#[test]
fn endpoint_create_defaults_and_json_fields() {
    let d = Daemon::start(DaemonOpts::default());
    let ch = d.ctl_json(&["channel", "create", "--name", "sport", "--protocol", "hls"]);
    let cid = ch["id"].as_str().unwrap();
    let ep = d.ctl_json(&["endpoint", "create", "sport", "--name", "web"]);
    assert_has_keys(
        &ep,
        &["id", "name", "type", "manifest_name", "url", "channel_id"],
    );
    assert!(is_id(&ep["id"]), "endpoint id: {ep}");
    assert_eq!(ep["name"], "web");
    assert_eq!(
        ep["type"], "hls",
        "hls channel gets hls endpoints by default"
    );
    assert_eq!(ep["manifest_name"], "main");
    assert_eq!(ep["channel_id"], cid);
    let eid = ep["id"].as_str().unwrap();
    assert_eq!(
        ep["url"],
        format!("http://{}/v1/{cid}/{eid}/main.m3u8", d.pull),
        "endpoint url is the full manifest URL on the pull listener"
    );

    let ep2 = d.ctl_json(&[
        "endpoint",
        "create",
        cid,
        "--name",
        "tv",
        "--type",
        "hls",
        "--manifest-name",
        "live",
    ]);
    assert_eq!(ep2["manifest_name"], "live");
    assert!(
        ep2["url"].as_str().unwrap().ends_with("/live.m3u8"),
        "manifest name shapes the url: {ep2}"
    );

    // The channel lists its endpoints in creation order, as the endpoint commands print them.
    let ch = d.ctl_json(&["channel", "show", cid]);
    let eps = ch["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 2);
    assert_eq!(eps[0], ep);
    assert_eq!(eps[1], ep2);
    assert_eq!(d.ctl_json(&["endpoint", "list", "sport"]), ch["endpoints"]);
    assert_eq!(d.ctl_json(&["endpoint", "show", "sport", "web"]), ep);
}

#[test]
fn lookup_by_name_or_id() {
    let d = Daemon::start(DaemonOpts::default());
    let ch = d.ctl_json(&["channel", "create", "--name", "alpha", "--protocol", "hls"]);
    let cid = ch["id"].as_str().unwrap().to_string();
    let ep = d.ctl_json(&["endpoint", "create", "alpha", "--name", "e1"]);
    let eid = ep["id"].as_str().unwrap().to_string();

    assert_eq!(
        d.ctl_json(&["channel", "show", "alpha"]),
        d.ctl_json(&["channel", "show", &cid])
    );
    for (c, e) in [
        ("alpha", "e1"),
        ("alpha", &eid[..]),
        (&cid[..], "e1"),
        (&cid[..], &eid[..]),
    ] {
        assert_eq!(
            d.ctl_json(&["endpoint", "show", c, e]),
            ep,
            "endpoint show {c} {e}"
        );
    }
    // Edit by id, then the new name finds it and the old one does not.
    let edited = d.ctl_json(&["channel", "edit", &cid, "--name", "beta"]);
    assert_eq!(edited["id"], cid.as_str());
    assert_eq!(d.ctl_json(&["channel", "show", "beta"])["id"], cid.as_str());
    let err = d.ctl_refused(&["channel", "show", "alpha"]);
    assert!(
        err.contains("alpha"),
        "not-found error names the key: {err}"
    );
}

#[test]
fn list_channels_json_and_human() {
    let d = Daemon::start(DaemonOpts::default());
    assert_eq!(d.ctl_json(&["channel", "list"]), Value::Array(vec![]));
    let a = d.ctl_json(&["channel", "create", "--name", "one", "--protocol", "hls"]);
    let b = d.ctl_json(&["channel", "create", "--name", "two", "--protocol", "dash"]);
    let list = d.ctl_json(&["channel", "list"]);
    let ids: Vec<&Value> = list.as_array().unwrap().iter().map(|c| &c["id"]).collect();
    assert_eq!(ids, [&a["id"], &b["id"]], "creation order");
    for c in list.as_array().unwrap() {
        assert_has_keys(
            c,
            &["id", "name", "protocol", "inputs", "endpoints", "live"],
        );
    }

    let out = d.ctl(&["channel", "list"]);
    assert!(out.status.success(), "{out:?}");
    let s = stdout(&out);
    for want in [
        "one",
        "two",
        a["id"].as_str().unwrap(),
        b["id"].as_str().unwrap(),
    ] {
        assert!(s.contains(want), "human list shows {want}:\n{s}");
    }
}

#[test]
fn human_output_shows_ids_and_urls() {
    let d = Daemon::start(DaemonOpts::default());
    let out = d.ctl(&["channel", "create", "--name", "human", "--protocol", "hls"]);
    assert!(out.status.success(), "{out:?}");
    let ch = d.ctl_json(&["channel", "show", "human"]);
    assert!(
        stdout(&out).contains(ch["id"].as_str().unwrap()),
        "create prints the new id:\n{}",
        stdout(&out)
    );
    assert!(
        serde_json::from_slice::<Value>(&out.stdout).is_err() || stdout(&out).trim().is_empty(),
        "without --json the CLI prints text, not JSON"
    );
    let out = d.ctl(&["endpoint", "create", "human", "--name", "web"]);
    assert!(out.status.success(), "{out:?}");
    let ep = d.ctl_json(&["endpoint", "show", "human", "web"]);
    assert!(
        stdout(&out).contains(ep["url"].as_str().unwrap()),
        "endpoint create prints the URL"
    );

    let show = d.ctl(&["channel", "show", "human"]);
    assert!(show.status.success());
    let s = stdout(&show);
    for i in ch["inputs"].as_array().unwrap() {
        assert!(
            s.contains(i["url"].as_str().unwrap()),
            "show prints input URLs:\n{s}"
        );
    }
    assert!(
        s.contains(ep["url"].as_str().unwrap()),
        "show prints endpoint URLs:\n{s}"
    );

    let st = d.ctl(&["status"]);
    assert!(st.status.success());
    assert!(!stdout(&st).trim().is_empty(), "status prints something");
}

#[test]
fn status_json() {
    let d = Daemon::start(DaemonOpts::default());
    let st = d.ctl_json(&["status"]);
    assert_has_keys(
        &st,
        &[
            "version",
            "uptime_secs",
            "io_driver",
            "shards",
            "channels",
            "endpoints",
            "connections",
            "held_bytes",
            "ingest_url",
            "pull_url",
            "state_dir",
        ],
    );
    assert!(
        ["io_uring", "epoll"].contains(&st["io_driver"].as_str().unwrap()),
        "io_driver: {st}"
    );
    assert!(st["shards"].as_u64().unwrap() >= 1);
    assert_eq!(st["channels"], 0);
    assert_eq!(st["endpoints"], 0);
    assert!(st["ingest_url"]
        .as_str()
        .unwrap()
        .contains(&d.ingest.port().to_string()));
    assert!(st["pull_url"]
        .as_str()
        .unwrap()
        .contains(&d.pull.port().to_string()));
    d.ctl_json(&["channel", "create", "--name", "c", "--protocol", "hls"]);
    d.ctl_json(&["endpoint", "create", "c", "--name", "e"]);
    let st = d.ctl_json(&["status"]);
    assert_eq!(st["channels"], 1);
    assert_eq!(st["endpoints"], 1);
}

#[test]
fn edit_channel_and_endpoint() {
    let d = Daemon::start(DaemonOpts::default());
    let ch = d.ctl_json(&["channel", "create", "--name", "ed", "--protocol", "hls"]);
    let edited = d.ctl_json(&[
        "channel",
        "edit",
        "ed",
        "--max-segment-duration",
        "4",
        "--max-playlist-duration",
        "60",
        "--description",
        "evening news",
    ]);
    assert_eq!(edited["id"], ch["id"]);
    assert_eq!(edited["max_segment_duration"], 4);
    assert_eq!(edited["max_playlist_duration"], 60);
    assert_eq!(edited["description"], "evening news");
    assert_eq!(edited["protocol"], "hls");
    assert_eq!(edited["inputs"], ch["inputs"], "inputs survive an edit");
    assert_eq!(d.ctl_json(&["channel", "show", "ed"]), edited);

    let ep = d.ctl_json(&["endpoint", "create", "ed", "--name", "web"]);
    let e2 = d.ctl_json(&[
        "endpoint",
        "edit",
        "ed",
        "web",
        "--name",
        "site",
        "--manifest-name",
        "index",
    ]);
    assert_eq!(e2["id"], ep["id"]);
    assert_eq!(e2["name"], "site");
    assert_eq!(e2["manifest_name"], "index");
    assert!(e2["url"].as_str().unwrap().ends_with("/index.m3u8"), "{e2}");
    assert_eq!(d.ctl_json(&["endpoint", "show", "ed", "site"]), e2);
    d.ctl_refused(&["endpoint", "show", "ed", "web"]);
}

#[test]
fn validation_errors_exit_1_with_a_reason() {
    let d = Daemon::start(DaemonOpts::default());
    d.ctl_json(&["channel", "create", "--name", "taken", "--protocol", "hls"]);
    let long = "a".repeat(33);
    let desc = "d".repeat(300);
    // (args, words the message must contain, lowercase)
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["--name", ""], vec!["name"]),
        (vec!["--name", &long], vec!["name"]),
        (vec!["--name", "a b"], vec!["name"]),
        (vec!["--name", "a/b"], vec!["name"]),
        (vec!["--name", "caf\u{e9}"], vec!["name"]),
        (vec!["--name", "taken"], vec!["taken"]),
        (
            vec!["--name", "x1", "--max-segment-duration", "0"],
            vec!["segment"],
        ),
        (
            vec!["--name", "x2", "--max-segment-duration", "61"],
            vec!["segment"],
        ),
        (
            vec![
                "--name",
                "x3",
                "--max-playlist-duration",
                "5",
                "--max-segment-duration",
                "1",
            ],
            vec!["playlist"],
        ),
        (
            vec!["--name", "x4", "--max-playlist-duration", "86401"],
            vec!["playlist"],
        ),
        (
            vec![
                "--name",
                "x5",
                "--max-segment-duration",
                "10",
                "--max-playlist-duration",
                "29",
            ],
            vec!["playlist", "segment"],
        ),
        (
            vec!["--name", "x6", "--max-playlist-duration", "44"],
            vec!["playlist", "segment"],
        ),
    ];
    for (extra, words) in &cases {
        let mut args = vec!["channel", "create", "--protocol", "hls"];
        args.extend_from_slice(extra);
        let err = d.ctl_refused(&args);
        for w in words {
            assert!(
                err.contains(w),
                "`{}`: message should mention {w:?}: {err}",
                args.join(" ")
            );
        }
        // --json does not change how a refusal is reported.
        let mut json_args = vec!["--json"];
        json_args.extend_from_slice(&args);
        d.ctl_refused(&json_args);
    }
    let long_desc = vec![
        "channel",
        "create",
        "--protocol",
        "hls",
        "--name",
        "x7",
        "--description",
        &desc,
    ];
    assert!(d.ctl_refused(&long_desc).contains("description"));

    // Boundaries that are accepted.
    for (name, seg, pl) in [
        ("b1", "1", "6"),
        ("b2", "10", "30"),
        ("b3", "60", "86400"),
        ("b4", "15", "45"),
    ] {
        let c = d.ctl_json(&[
            "channel",
            "create",
            "--name",
            name,
            "--protocol",
            "hls",
            "--max-segment-duration",
            seg,
            "--max-playlist-duration",
            pl,
        ]);
        assert_eq!(c["max_segment_duration"].to_string(), seg);
        assert_eq!(c["max_playlist_duration"].to_string(), pl);
    }
    let ok32 = "Z".repeat(32);
    d.ctl_json(&["channel", "create", "--name", &ok32, "--protocol", "hls"]);
    d.ctl_json(&[
        "channel",
        "create",
        "--name",
        "A-z_09",
        "--protocol",
        "dash",
    ]);

    // Usage errors (not a number, unknown protocol) fail too, whatever the exact status.
    for args in [
        vec!["channel", "create", "--name", "u1", "--protocol", "rtmp"],
        vec![
            "channel",
            "create",
            "--name",
            "u2",
            "--protocol",
            "hls",
            "--max-segment-duration",
            "abc",
        ],
        vec!["channel", "create", "--protocol", "hls"],
    ] {
        let out = d.ctl(&args);
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(!text(&out.stderr).trim().is_empty(), "{args:?} says why");
    }

    // Edits follow the same rules.
    let e = d.ctl_refused(&["channel", "edit", "taken", "--max-playlist-duration", "44"]);
    assert!(e.contains("playlist"), "{e}");
    let e = d.ctl_refused(&["channel", "edit", "taken", "--max-segment-duration", "61"]);
    assert!(e.contains("segment"), "{e}");
    let e = d.ctl_refused(&["channel", "edit", "taken", "--name", "b1"]);
    assert!(e.contains("b1"), "{e}");
    let e = d.ctl_refused(&["channel", "edit", "taken", "--name", "no good"]);
    assert!(e.contains("name"), "{e}");
    d.ctl_json(&["channel", "edit", "taken", "--max-playlist-duration", "45"]);

    // Endpoints.
    d.ctl_json(&["endpoint", "create", "taken", "--name", "web"]);
    let e = d.ctl_refused(&["endpoint", "create", "taken", "--name", "web"]);
    assert!(e.contains("web"), "duplicate endpoint name: {e}");
    let e = d.ctl_refused(&[
        "endpoint", "create", "taken", "--name", "d", "--type", "dash",
    ]);
    assert!(e.contains("dash"), "dash endpoint on an hls channel: {e}");
    let e = d.ctl_refused(&["endpoint", "create", "taken", "--name", "bad name"]);
    assert!(e.contains("name"), "{e}");
    let e = d.ctl_refused(&["endpoint", "create", "taken", "--name", &long]);
    assert!(e.contains("name"), "{e}");
    let e = d.ctl_refused(&[
        "endpoint",
        "create",
        "taken",
        "--name",
        "m",
        "--manifest-name",
        "a/b",
    ]);
    assert!(e.contains("manifest"), "{e}");
    // The same endpoint name is fine on another channel.
    d.ctl_json(&["endpoint", "create", "b1", "--name", "web"]);

    // Nothing refused was created, nothing refused was changed.
    let names = d.channel_names();
    assert_eq!(
        names,
        ["taken", "b1", "b2", "b3", "b4", ok32.as_str(), "A-z_09"]
    );
    let taken = d.ctl_json(&["channel", "show", "taken"]);
    assert_eq!(taken["max_segment_duration"], 15);
    assert_eq!(taken["max_playlist_duration"], 45);
    assert_eq!(taken["endpoints"].as_array().unwrap().len(), 1);
}

#[test]
fn delete_rules_name_the_endpoints() {
    let d = Daemon::start(DaemonOpts::default());
    let ch = d.ctl_json(&["channel", "create", "--name", "del", "--protocol", "hls"]);
    let cid = ch["id"].as_str().unwrap();
    let e1 = d.ctl_json(&["endpoint", "create", "del", "--name", "first-ep"]);
    d.ctl_json(&["endpoint", "create", "del", "--name", "second-ep"]);

    let err = d.ctl_refused(&["channel", "delete", "del"]);
    assert!(
        err.contains("first-ep") && err.contains("second-ep"),
        "refusal names every endpoint: {err}"
    );
    assert_eq!(
        d.ctl_json(&["channel", "show", cid])["endpoints"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Delete one endpoint by id, the other by name; then the channel by id.
    let out = d.ctl(&["endpoint", "delete", "del", e1["id"].as_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let err = d.ctl_refused(&["channel", "delete", cid]);
    assert!(
        err.contains("second-ep") && !err.contains("first-ep"),
        "{err}"
    );
    let out = d.ctl(&["endpoint", "delete", cid, "second-ep"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        d.ctl_json(&["endpoint", "list", "del"]),
        Value::Array(vec![])
    );
    let out = d.ctl(&["channel", "delete", cid]);
    assert!(out.status.success(), "{out:?}");

    assert!(d.ctl_refused(&["channel", "show", cid]).contains(cid));
    assert_eq!(d.ctl_json(&["channel", "list"]), Value::Array(vec![]));
    // The name is free again.
    d.ctl_json(&["channel", "create", "--name", "del", "--protocol", "hls"]);
}

#[test]
fn unknown_channels_and_endpoints_exit_1() {
    let d = Daemon::start(DaemonOpts::default());
    d.ctl_json(&["channel", "create", "--name", "known", "--protocol", "hls"]);
    let ghost_id = "0123456789abcdef0123456789ab";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["channel", "show", "nope"], "nope"),
        (vec!["channel", "show", ghost_id], ghost_id),
        (
            vec!["channel", "edit", "nope", "--description", "x"],
            "nope",
        ),
        (vec!["channel", "delete", ghost_id], ghost_id),
        (vec!["endpoint", "create", "nope", "--name", "e"], "nope"),
        (vec!["endpoint", "list", "nope"], "nope"),
        (vec!["endpoint", "show", "known", "nope"], "nope"),
        (vec!["endpoint", "show", "known", ghost_id], ghost_id),
        (
            vec!["endpoint", "edit", "known", "nope", "--name", "x"],
            "nope",
        ),
        (vec!["endpoint", "delete", "known", "nope"], "nope"),
        (vec!["endpoint", "show", "nope", "nope2"], "nope"),
    ];
    for (args, key) in cases {
        let err = d.ctl_refused(&args);
        assert!(
            err.contains(key),
            "`{}` should name {key}: {err}",
            args.join(" ")
        );
    }
}

#[test]
fn cli_without_daemon_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.sock");
    // A stale socket file: bound once, nobody listening now.
    let stale = dir.path().join("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    for sock in [&missing, &stale] {
        for args in [vec!["status"], vec!["--json", "channel", "list"]] {
            let out = run_with_timeout(
                Command::new(streampackctl())
                    .arg("--socket")
                    .arg(sock)
                    .args(&args),
                Duration::from_secs(20),
            );
            assert_eq!(
                out.status.code(),
                Some(3),
                "daemon unreachable at {} must exit 3: {out:?}",
                sock.display()
            );
            let err = text(&out.stderr);
            assert!(
                err.contains(&sock.display().to_string()),
                "message names the socket it tried: {err}"
            );
            assert!(
                out.stdout.is_empty(),
                "nothing on stdout: {}",
                text(&out.stdout)
            );
        }
    }
}

#[test]
fn public_url_flags_shape_the_printed_urls() {
    let d = Daemon::start(DaemonOpts::args(&[
        "--public-ingest-url",
        "http://ingest.example.test:9001",
        "--public-pull-url",
        "http://cdn.example.test:9000",
    ]));
    let f = d.hls_channel("pub", &[]);
    let ep_id = f.endpoint["id"].as_str().unwrap();
    assert!(
        f.primary_url
            .starts_with("http://ingest.example.test:9001/")
            && f.primary_url.contains(&format!("/v1/{}/", f.id)),
        "input url uses the public ingest url: {}",
        f.primary_url
    );
    assert!(
        f.endpoint_url.starts_with("http://cdn.example.test:9000/")
            && f.endpoint_url
                .ends_with(&format!("/v1/{}/{ep_id}/main.m3u8", f.id)),
        "endpoint url uses the public pull url: {}",
        f.endpoint_url
    );
}

#[test]
fn channel_and_endpoint_caps_come_from_the_config() {
    let d = Daemon::start(DaemonOpts {
        config_toml: Some("[limits]\nmax_channels = 2\nmax_endpoints_per_channel = 1\n".into()),
        ..DaemonOpts::default()
    });
    d.ctl_json(&["channel", "create", "--name", "one", "--protocol", "hls"]);
    d.ctl_json(&["channel", "create", "--name", "two", "--protocol", "hls"]);
    let err = d.ctl_refused(&["channel", "create", "--name", "three", "--protocol", "hls"]);
    assert!(err.contains("at most 2 channels"), "{err}");
    d.ctl_json(&["endpoint", "create", "one", "--name", "a"]);
    let err = d.ctl_refused(&["endpoint", "create", "one", "--name", "b"]);
    assert!(err.contains("at most 1 endpoints"), "{err}");
    // Deleting makes room again.
    assert!(d.ctl(&["channel", "delete", "two"]).status.success());
    d.ctl_json(&["channel", "create", "--name", "three", "--protocol", "hls"]);
}

#[test]
fn a_flood_of_idle_admin_connections_gets_busy_answers_not_the_daemon_s_threads() {
    let d = Daemon::start(DaemonOpts::default());
    // 32 clients that connect and say nothing hold every admin slot (each for up to 10 s).
    let idle: Vec<std::os::unix::net::UnixStream> = (0..32)
        .map(|_| std::os::unix::net::UnixStream::connect(&d.socket).unwrap())
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let err = d.ctl_refused(&["status"]);
    assert!(err.contains("busy"), "{err}");
    drop(idle);
    // Slots free as soon as the idle clients hang up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let out = d.ctl(&["status"]);
        if out.status.success() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "admin socket stayed busy"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A daemon started with no config file and no `--admin-socket` is found by `streampackctl`
/// from another working directory (the quick start's second terminal), through the per-user
/// socket in a directory only its user may enter.
#[test]
fn default_socket_is_found_from_any_directory() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("runtime");
    let daemon_cwd = dir.path().join("daemon-cwd");
    let ctl_cwd = dir.path().join("elsewhere");
    std::fs::create_dir_all(&daemon_cwd).unwrap();
    std::fs::create_dir_all(&ctl_cwd).unwrap();
    let mut child = Command::new(streampackd())
        .args([
            "--ingest-listen",
            &format!("127.0.0.1:{}", free_port()),
            "--pull-listen",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .env("XDG_RUNTIME_DIR", &runtime)
        .env_remove("RUNTIME_DIRECTORY")
        .env_remove("STATE_DIRECTORY")
        .current_dir(&daemon_cwd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ctl = || {
        Command::new(streampackctl())
            .arg("status")
            .env("XDG_RUNTIME_DIR", &runtime)
            .env_remove("STREAMPACK_SOCKET")
            .current_dir(&ctl_cwd)
            .output()
            .unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut out = ctl();
    while !out.status.success() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        out = ctl();
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        out.status.success(),
        "streampackctl status from another directory: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sock_dir = runtime.join("streampack");
    let mode = std::fs::metadata(&sock_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{} is private", sock_dir.display());
    // The state still goes where the quick start says: ./streampack-state of the daemon's cwd.
    assert!(daemon_cwd.join("streampack-state").is_dir());
}
