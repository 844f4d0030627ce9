//! Cluster mode, configuration plane: three streampackd nodes on a three-member etcd (Debian's
//! etcd-server, on loopback). A change made on any node's admin socket reaches every node
//! within a second; concurrent changes on two nodes never interleave; an etcd member's death
//! changes nothing; with all of etcd stopped the nodes keep serving their last configuration
//! (a restarted node too) and refuse writes naming etcd, and all is well again once etcd is
//! back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::thread;
use std::time::{Duration, Instant};
use streampack_tests::*;

fn cluster(d: &Daemon) -> Value {
    d.ctl_json(&["cluster", "status"])
}

/// Waits until `ok` holds for `d`'s cluster view.
fn wait_cluster(d: &Daemon, timeout: Duration, what: &str, ok: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        let v = cluster(d);
        if ok(&v) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} within {timeout:?}: {v:#}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn alive(v: &Value) -> Vec<String> {
    v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["alive"] == true)
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect()
}

/// How long until every node lists exactly `names` (asserted within 1 s).
fn converges(nodes: &[&Daemon], names: &[&str], what: &str) -> Duration {
    let started = Instant::now();
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    for d in nodes {
        loop {
            let mut got = d.channel_names();
            got.sort();
            if got == want {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "{what}: a node still lists {got:?} after 1 s, want {want:?}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
    started.elapsed()
}

#[test]
fn configuration_follows_etcd_on_every_node_through_etcd_outages() {
    if !require_tool("etcd") {
        return;
    }
    let mut etcd = Etcd::start(3);
    let n1 = etcd.node("n1");
    let n2 = etcd.node("n2");
    let mut n3 = etcd.node("n3");
    for d in [&n1, &n2, &n3] {
        wait_cluster(d, Duration::from_secs(10), "three nodes alive", |v| {
            v["etcd_connected"] == true && alive(v).len() == 3
        });
    }
    let view = cluster(&n2);
    assert_eq!(view["node"], "n2");
    let n1_view = &view["nodes"][0];
    assert_eq!(n1_view["name"], "n1");
    assert_eq!(n1_view["pull_url"], format!("http://{}", n1.pull));
    assert_eq!(n1_view["ingest_url"], format!("http://{}", n1.ingest));

    // A channel and an endpoint made on n1 are on every node within a second, the endpoint
    // served by each (no media yet: 404 with its reason, not "unknown channel").
    let f = n1.hls_channel("news", &[]);
    let took = converges(&[&n1, &n2, &n3], &["news"], "create on n1");
    eprintln!("create on n1 seen by every node after {took:?}");
    for d in [&n2, &n3] {
        let shown = d.ctl_json(&["channel", "show", "news"]);
        assert_eq!(shown["id"], f.id.as_str());
        // Ids and credentials alike (each node shows its own ingest URL).
        let inputs = |v: &Value| {
            let mut v = v["inputs"].clone();
            for i in v.as_array_mut().unwrap() {
                i.as_object_mut().unwrap().remove("url");
            }
            v
        };
        assert_eq!(inputs(&shown), inputs(&f.channel));
        let r = get(d.pull, &f.endpoint_path);
        assert_ne!(text(&r.body).trim(), "unknown channel", "{}", text(&r.body));
    }
    // An edit on n3 reaches n1.
    n3.ctl_json(&["channel", "edit", "news", "--description", "from n3"]);
    let deadline = Instant::now() + Duration::from_secs(1);
    while n1.ctl_json(&["channel", "show", "news"])["description"] != "from n3" {
        assert!(Instant::now() < deadline, "edit on n3 not on n1 within 1 s");
        thread::sleep(Duration::from_millis(10));
    }

    // Two nodes writing at once: both changes land, neither is lost; the same name asked for
    // on both at once exists once.
    let (a, b) = thread::scope(|s| {
        let a = s.spawn(|| {
            n1.ctl(&[
                "channel",
                "create",
                "--name",
                "from-n1",
                "--protocol",
                "hls",
            ])
        });
        let b = s.spawn(|| {
            n2.ctl(&[
                "channel",
                "create",
                "--name",
                "from-n2",
                "--protocol",
                "hls",
            ])
        });
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.status.success() && b.status.success(), "{a:?} {b:?}");
    converges(
        &[&n1, &n2, &n3],
        &["news", "from-n1", "from-n2"],
        "concurrent creates",
    );
    let (a, b) = thread::scope(|s| {
        let a = s.spawn(|| n2.ctl(&["channel", "create", "--name", "twice", "--protocol", "hls"]));
        let b = s.spawn(|| n3.ctl(&["channel", "create", "--name", "twice", "--protocol", "hls"]));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(
        a.status.success() != b.status.success(),
        "exactly one of two concurrent creates of one name wins: {a:?} {b:?}"
    );
    let loser = if a.status.success() { &b } else { &a };
    assert!(
        text(&loser.stderr).contains("twice"),
        "{}",
        text(&loser.stderr)
    );
    converges(
        &[&n1, &n2, &n3],
        &["news", "from-n1", "from-n2", "twice"],
        "one twice",
    );

    // An etcd member dies: nothing changes; writes still work on every node.
    etcd.kill(0);
    for (i, d) in [&n1, &n2, &n3].into_iter().enumerate() {
        let name = format!("after-kill-{i}");
        let out = d.ctl(&["channel", "create", "--name", &name, "--protocol", "hls"]);
        assert!(
            out.status.success(),
            "write with a member down: {}",
            text(&out.stderr)
        );
    }
    let names = [
        "news",
        "from-n1",
        "from-n2",
        "twice",
        "after-kill-0",
        "after-kill-1",
        "after-kill-2",
    ];
    converges(&[&n1, &n2, &n3], &names, "writes with a member down");
    etcd.start_member(0);

    // All of etcd stops: every node keeps serving its configuration, writes are refused with
    // a message that names etcd, `cluster status` says so; a node restarted meanwhile starts
    // from its local copy.
    etcd.stop_all();
    for d in [&n1, &n2, &n3] {
        let err = d.ctl_refused(&["channel", "create", "--name", "lost", "--protocol", "hls"]);
        assert!(err.contains("etcd cannot be reached"), "{err}");
        assert!(err.contains("nothing changed"), "{err}");
        let r = get(d.pull, &f.endpoint_path);
        assert_ne!(text(&r.body).trim(), "unknown channel");
    }
    wait_cluster(
        &n2,
        Duration::from_secs(5),
        "etcd shown as not connected",
        |v| v["etcd_connected"] == false && v["etcd_error"].is_string(),
    );
    assert_eq!(
        scrape(n2.metrics).get("streampack_cluster_etcd_connected", &[]),
        0.0
    );
    n3.kill9();
    n3.restart();
    let mut listed = n3.channel_names();
    listed.sort();
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(
        listed, want,
        "a node restarted while etcd is down serves its last configuration"
    );
    assert_ne!(
        text(&get(n3.pull, &f.endpoint_path).body).trim(),
        "unknown channel"
    );

    // etcd is back: every node reconnects, writes work again and converge.
    etcd.start_all();
    for d in [&n1, &n2, &n3] {
        wait_cluster(d, Duration::from_secs(10), "reconnected to etcd", |v| {
            v["etcd_connected"] == true && alive(v).len() == 3
        });
    }
    n2.ctl_json(&["channel", "delete", "twice"]);
    let mut names: Vec<&str> = names.to_vec();
    names.retain(|n| *n != "twice");
    converges(
        &[&n1, &n2, &n3],
        &names,
        "delete on n2 after etcd came back",
    );

    // A node that dies shows as down once its lease expires; back, it is alive again.
    n3.kill9();
    wait_cluster(&n1, Duration::from_secs(6), "n3 down", |v| {
        alive(v) == ["n1", "n2"] && v["nodes"].as_array().unwrap().len() == 3
    });
    n3.restart();
    wait_cluster(&n1, Duration::from_secs(6), "n3 alive again", |v| {
        alive(v).len() == 3
    });
    // A node stopped cleanly (SIGTERM) leaves at once: its lease is revoked, not left to
    // expire (2 s here).
    n3.stop_term();
    wait_cluster(
        &n1,
        Duration::from_secs(1),
        "n3 gone at once after SIGTERM",
        |v| alive(v) == ["n1", "n2"],
    );
}

#[test]
fn cluster_flags_are_checked_before_anything_starts() {
    for (args, want) in [
        (vec!["--node-name", "a"], "needs --cluster-etcd"),
        (
            vec!["--cluster-etcd", "http://127.0.0.1:1"],
            "needs --node-name",
        ),
        (
            vec!["--cluster-etcd", "127.0.0.1:2379", "--node-name", "a"],
            "http://HOST:PORT",
        ),
        (
            vec!["--cluster-etcd", "http://127.0.0.1:1", "--node-name", "A/B"],
            "node name",
        ),
    ] {
        let mut d = Daemon::launch(DaemonOpts::args(&args));
        let status = d
            .wait_exit(Duration::from_secs(10))
            .expect("refused at start");
        assert!(!status.success());
        let log = d.stderr_log();
        assert!(log.contains(want), "{args:?}: {log}");
    }
    // A single node answers `cluster status` with what to do.
    let d = Daemon::start(DaemonOpts::default());
    let err = d.ctl_refused(&["cluster", "status"]);
    assert!(err.contains("--cluster-etcd"), "{err}");
}
