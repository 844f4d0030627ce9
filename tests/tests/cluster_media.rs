//! Cluster mode, media plane: three streampackd nodes on a three-member etcd; the primary
//! encoder (ffmpeg) pushes to n1, the backup to n2; n3 receives nothing. Every node serves the
//! channel with byte-identical playlists and segments; hls.js in chromium plays through nginx
//! with the three nodes as upstreams (`proxy_next_upstream`) while n1 is SIGKILLed, and keeps
//! playing: every node then serves the backup. An `aes-128` endpoint rotating keys gets the
//! same keys on the two nodes that encrypt (derived from the cluster's key master).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::thread;
use std::time::{Duration, Instant};
use streampack_tests::*;

/// The inputs each node says it receives, by node name.
fn inputs(d: &Daemon) -> Vec<(String, bool, Vec<String>)> {
    let v = d.ctl_json(&["cluster", "status"]);
    v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let ins = n["inputs"].as_array().unwrap();
            (
                n["name"].as_str().unwrap().to_string(),
                n["alive"] == true,
                ins.iter()
                    .map(|i| i.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + timeout;
    loop {
        let Some(why_not) = ok() else { return };
        assert!(
            Instant::now() < deadline,
            "{what} within {timeout:?}: {why_not}"
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// nginx in front of every node, trying the next one when a node does not answer.
fn edge(dir: &std::path::Path, nodes: &[&Daemon]) -> Nginx {
    let servers: String = nodes
        .iter()
        .map(|d| format!("        server {} max_fails=1 fail_timeout=5s;\n", d.pull))
        .collect();
    let body = format!(
        r#"    access_log {{prefix}}/logs/access.log;
    upstream origins {{
{servers}    }}
    server {{
        listen 127.0.0.1:{{port}};
        location / {{
            proxy_pass http://origins;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 1s;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 3;
        }}
    }}"#
    );
    Nginx::start(dir, &body)
}

#[test]
fn every_node_serves_the_channel_and_players_survive_a_node_kill() {
    if !require_tool("etcd")
        || !require_tool("ffmpeg")
        || !require_tool("nginx")
        || !require_browser()
    {
        return;
    }
    let etcd = Etcd::start(3);
    let mut n1 = etcd.node("n1");
    let n2 = etcd.node("n2");
    let n3 = etcd.node("n3");
    let f = n1.hls_channel(
        "live",
        &[
            "--max-segment-duration",
            "2",
            "--max-playlist-duration",
            "30",
        ],
    );
    let aes = n1.ctl_json(&[
        "endpoint",
        "create",
        "live",
        "--name",
        "aes",
        "--encryption",
        "aes-128",
        "--key-rotation",
        "4",
    ]);
    let aes_path = split_url(aes["url"].as_str().unwrap()).1;
    let cenc = n1.ctl_json(&[
        "endpoint",
        "create",
        "live",
        "--name",
        "cenc",
        "--type",
        "cmaf",
        "--encryption",
        "cenc",
    ]);
    let cenc_dir = split_url(cenc["url"].as_str().unwrap())
        .1
        .rsplit_once('/')
        .unwrap()
        .0
        .to_string();
    // Each encoder pushes to its own node: the primary to n1, the backup to n2 (the channel's
    // input paths are the same on every node).
    let backup_path = split_url(&f.backup_url).1;
    let tmp = tempfile::tempdir().unwrap();
    let _primary = Killed(ffmpeg_push_hls(
        HlsPush::Ts,
        &f.primary_url,
        90,
        &tmp.path().join("primary.log"),
    ));
    let _backup = Killed(ffmpeg_push_hls(
        HlsPush::Ts,
        &format!("http://{}{backup_path}", n2.ingest),
        90,
        &tmp.path().join("backup.log"),
    ));
    wait_for(
        "n1 and n2 receiving the inputs",
        Duration::from_secs(20),
        || {
            let seen = inputs(&n3);
            let want = [
                ("n1".to_string(), true, vec!["live/primary".to_string()]),
                ("n2".to_string(), true, vec!["live/backup".to_string()]),
                ("n3".to_string(), true, vec![]),
            ];
            (seen != want).then(|| format!("{seen:?}"))
        },
    );
    wait_for(
        "three segments served by n3",
        Duration::from_secs(20),
        || {
            let r = get(n3.pull, &f.endpoint_path);
            let segs = playlist_uris(&text(&r.body)).len();
            (r.status != 200 || segs < 3).then(|| format!("{} {}", r.status, text(&r.body)))
        },
    );

    // The same playlist, byte for byte, from every node (taken at a moment it does not change
    // between the three requests), and the same segment bytes.
    let mut same = None;
    for _ in 0..20 {
        let lists: Vec<Vec<u8>> = [&n1, &n2, &n3]
            .iter()
            .map(|d| get(d.pull, &f.endpoint_path).body)
            .collect();
        if lists.iter().all(|l| *l == lists[0]) {
            same = Some(text(&lists[0]));
            break;
        }
        thread::sleep(Duration::from_millis(150));
    }
    let playlist = same.expect("the three nodes never served the same playlist");
    let uris = playlist_uris(&playlist);
    let seg = resolve(&f.endpoint_path, uris.last().unwrap());
    let bodies: Vec<Response> = [&n1, &n2, &n3].iter().map(|d| get(d.pull, &seg)).collect();
    for (i, b) in bodies.iter().enumerate() {
        assert_eq!(b.status, 200, "node {} segment {seg}", i + 1);
        assert_eq!(
            b.body,
            bodies[0].body,
            "node {} serves other bytes for {seg}",
            i + 1
        );
        assert_eq!(b.header("etag"), bodies[0].header("etag"));
    }
    // A range of a fetched segment, and a second fetch from the cache, as from its maker.
    let ranged = http(n3.pull, "GET", &seg, &[("Range", "bytes=0-187")], None);
    assert_eq!(ranged.status, 206);
    assert_eq!(ranged.body[..], bodies[0].body[..188]);

    // The encrypted endpoint: n1 and n2 both encrypt (each has both inputs) with the same keys
    // for the same periods; n3 serves n1's playlist and its key.
    let keys = |d: &Daemon| -> Vec<(u64, String, String)> {
        let listed = d.ctl_json(&["endpoint", "keys", "live", "aes"]);
        listed
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["period"].as_u64().unwrap(),
                    k["kid"].to_string(),
                    k["key"].to_string(),
                )
            })
            .collect()
    };
    wait_for("keys on n1 and n2", Duration::from_secs(10), || {
        let (k1, k2) = (keys(&n1), keys(&n2));
        let shared: Vec<_> = k1.iter().filter(|k| k2.contains(k)).collect();
        let clash = k1.iter().any(|a| k2.iter().any(|b| a.0 == b.0 && a != b));
        assert!(
            !clash,
            "n1 and n2 made different keys for one period: {k1:?} {k2:?}"
        );
        shared.is_empty().then(|| format!("{k1:?} / {k2:?}"))
    });
    let enc = text(&get(n3.pull, &aes_path).body);
    let key_uri = enc
        .lines()
        .find_map(|l| {
            l.strip_prefix("#EXT-X-KEY:")
                .and_then(|a| a.split("URI=\"").nth(1))
        })
        .and_then(|u| u.split('"').next())
        .unwrap_or_else(|| panic!("no key in {enc}"))
        .to_string();
    let k3 = get(n3.pull, &resolve(&aes_path, &key_uri));
    let k1 = get(n1.pull, &resolve(&aes_path, &key_uri));
    assert_eq!((k3.status, k3.body.len()), (200, 16), "{key_uri}");
    assert_eq!(k3.body, k1.body);

    // A ClearKey licence request on n3 is answered with n1's key.
    let mut cenc_keys = vec![];
    wait_for("a cenc key on n1", Duration::from_secs(10), || {
        cenc_keys = n1
            .ctl_json(&["endpoint", "keys", "live", "cenc"])
            .as_array()
            .unwrap()
            .clone();
        cenc_keys.is_empty().then(|| "none yet".to_string())
    });
    let b64url = |hex: &str| {
        use base64::Engine;
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).unwrap())
            .collect();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let (kid, key) = (
        cenc_keys[0]["kid"].as_str().unwrap(),
        cenc_keys[0]["key"].as_str().unwrap(),
    );
    let req = format!("{{\"kids\":[\"{}\"],\"type\":\"temporary\"}}", b64url(kid));
    let license = format!("{cenc_dir}/keys/clearkey");
    let h = [("Content-Type", "application/json")];
    let r = http(n3.pull, "POST", &license, &h, Some(req.as_bytes()));
    assert_eq!(r.status, 200, "licence via n3: {r:?}");
    assert_eq!(r.header("cache-control"), Some("private, no-store"));
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["keys"][0]["k"], b64url(key).as_str(), "{v}");

    // An operator's splice goes to the node whose media every node serves: asked on another
    // node, it is refused naming that node.
    for d in [&n2, &n3] {
        let err = d.ctl_refused(&["channel", "splice", "live", "--duration", "30"]);
        assert!(err.contains("node n1"), "{err}");
    }

    // What the nodes count: n3 fetched from n1 and answered from its cache; n1 and n2
    // relayed their encoders' pushes to each other.
    let m3 = scrape(n3.metrics);
    assert_eq!(m3.get("streampack_cluster_etcd_connected", &[]), 1.0);
    assert_eq!(m3.get("streampack_cluster_nodes_alive", &[]), 3.0);
    assert!(m3.get("streampack_cluster_fetches_total", &[("result", "fetched")]) >= 3.0);
    assert!(m3.get("streampack_cluster_fetches_total", &[("result", "hit")]) >= 1.0);
    assert!(m3.get("streampack_cluster_cache_bytes", &[]) > 0.0);
    for d in [&n1, &n2] {
        let relayed =
            scrape(d.metrics).get("streampack_cluster_relayed_total", &[("result", "queued")]);
        assert!(relayed >= 3.0, "{relayed} pushes relayed by {}", d.pull);
    }

    // Players through nginx with all nodes as upstreams; n1 (the primary's node, which every
    // node fetched from) is SIGKILLed mid-play.
    let nginx = edge(tmp.path(), &[&n1, &n2, &n3]);
    let url = format!("http://127.0.0.1:{}{}", nginx.port, f.endpoint_path);
    let playback = thread::scope(|s| {
        let player = s.spawn(|| play_in_browser(Player::HlsJs, &url, 45));
        thread::sleep(Duration::from_secs(15));
        n1.kill9();
        player.join().unwrap()
    });
    let Some(p) = playback else {
        panic!("the browser did not report")
    };
    eprintln!("playback across the kill: {}", p.json);
    assert!(!p.fatal, "the player gave up: {:?}", p.errors);
    assert!(
        p.advanced >= 30.0,
        "played {:.1} s of a 45 s watch across the node's death: {}",
        p.advanced,
        p.json
    );

    // n1 is gone: n2 and n3 serve the backup, the same playlist, still advancing.
    wait_for("n1 shown down", Duration::from_secs(6), || {
        let seen = inputs(&n3);
        (seen[0].1 || seen[1].2 != ["live/backup"]).then(|| format!("{seen:?}"))
    });
    let before = media_sequence(&text(&get(n3.pull, &f.endpoint_path).body));
    thread::sleep(Duration::from_secs(5));
    let mut same = false;
    for _ in 0..20 {
        let a = get(n2.pull, &f.endpoint_path).body;
        let b = get(n3.pull, &f.endpoint_path).body;
        if a == b {
            same = true;
            assert!(
                media_sequence(&text(&b)) > before,
                "n3's playlist stopped: {}",
                text(&b)
            );
            break;
        }
        thread::sleep(Duration::from_millis(150));
    }
    assert!(
        same,
        "n2 and n3 never served the same playlist after n1 died"
    );
    let live: Value = n2.ctl_json(&["channel", "show", "live"])["live"].clone();
    assert_eq!(live["active_input"], "backup", "{live:#}");
}
