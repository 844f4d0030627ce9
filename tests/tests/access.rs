//! Access control with the real daemon, CLI and ffmpeg: ingest credentials (HTTP Basic, 401
//! before the body, rotation with and without grace), endpoint IP allow/block lists over IPv4
//! and IPv6 and behind trusted/untrusted proxies, and AuthKeys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use serde_json::Value;
use std::thread;
use std::time::{Duration, Instant};
use streampack_tests::*;

fn basic(user: &str, pass: &str) -> String {
    let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    format!("Basic {enc}")
}

/// `(username, password)` of an input in a channel JSON (`inputs[slot].auth`).
fn creds(ch: &Value, slot: usize) -> (String, String) {
    let a = &ch["inputs"][slot]["auth"];
    assert_eq!(a["enabled"], true, "auth enabled: {ch}");
    (
        a["username"].as_str().expect("username").to_string(),
        a["password"].as_str().expect("password").to_string(),
    )
}

/// Segments the origin received on the primary input (`channel show --json`).
fn primary_segments(d: &Daemon, ch: &str) -> u64 {
    d.ctl_json(&["channel", "show", ch])["live"]["inputs"][0]["segments"]
        .as_u64()
        .expect("segments")
}

/// A PUT of a small segment with optional `Authorization`; returns the status.
fn put_seg(d: &Daemon, f: &Fixture, name: &str, auth: Option<&str>) -> Response {
    let mut h = vec![];
    if let Some(a) = auth {
        h.push(("Authorization", a));
    }
    http(d.ingest, "PUT", &f.ingest(name), &h, Some(&fake_ts(1, 5)))
}

/// The `WWW-Authenticate` values of a response.
fn challenges(r: &Response) -> Vec<String> {
    r.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("www-authenticate"))
        .map(|(_, v)| v.clone())
        .collect()
}

fn assert_401(r: &Response, what: &str) {
    assert_eq!(r.status, 401, "{what}: {} {}", r.status, r.text());
    let c = challenges(r);
    assert!(
        c.iter().any(|v| v.starts_with("Basic realm="))
            && c.iter()
                .any(|v| v.starts_with("Digest ") && v.contains("algorithm=SHA-256"))
            && c.iter()
                .any(|v| v.starts_with("Digest ") && v.contains("algorithm=MD5")),
        "{what}: WWW-Authenticate {c:?}"
    );
}

/// ffmpeg pushing with credentials in the URL (first PUT: `Expect: 100-continue` and no
/// credentials, answered 401 before the body; it retries answering the challenge, with Digest
/// since one is offered) and with an explicit Basic `Authorization` header: every segment
/// arrives, and the endpoint serves them all.
#[test]
fn ffmpeg_with_credentials_delivers_every_segment() {
    if !require_tool("ffmpeg") {
        return;
    }
    const SECONDS: u32 = 10;
    const SEGMENTS: u64 = 5; // -hls_time 2, keyframe every 2 s
    let d = Daemon::start(DaemonOpts::default());
    let url_ch = d.hls_channel("userinfo", &[]);
    let hdr_ch = d.hls_channel("header", &[]);
    let a = d.ctl_json(&["input", "auth", "enable", "userinfo", "1"]);
    let b = d.ctl_json(&["input", "auth", "enable", "header", "primary"]);
    let (ua, pa) = creds(&a, 0);
    let (ub, pb) = creds(&b, 0);
    assert_eq!(b["inputs"][1]["auth"]["enabled"], false, "backup untouched");

    let with_userinfo = url_ch
        .primary_url
        .replacen("http://", &format!("http://{ua}:{pa}@"), 1);
    let log_a = d.dir().join("ffmpeg-userinfo.log");
    let mut fa = ffmpeg_push_hls(HlsPush::Ts, &with_userinfo, SECONDS, &log_a);
    let mut args = ffmpeg_push_hls_args(HlsPush::Ts, &hdr_ch.primary_url, SECONDS);
    let out = args.pop().expect("output url");
    args.push("-headers".into());
    args.push(format!("Authorization: {}\r\n", basic(&ub, &pb)));
    args.push(out);
    let log_b = std::fs::File::create(d.dir().join("ffmpeg-header.log")).unwrap();
    let mut fb = std::process::Command::new("ffmpeg")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log_b)
        .spawn()
        .expect("spawn ffmpeg");
    wait_child(&mut fa, Duration::from_secs(60));
    wait_child(&mut fb, Duration::from_secs(60));

    for (f, name) in [(&url_ch, "userinfo"), (&hdr_ch, "header")] {
        let got = primary_segments(&d, name);
        let log =
            std::fs::read_to_string(d.dir().join(format!("ffmpeg-{name}.log"))).unwrap_or_default();
        assert_eq!(got, SEGMENTS, "{name}: segments received\nffmpeg: {log}");
        let pl = get(d.pull, &f.endpoint_path);
        assert_eq!(pl.status, 200, "{name}: {}", pl.text());
        let uris = playlist_uris(&pl.text());
        assert_eq!(uris.len() as u64, SEGMENTS, "{name}: {}", pl.text());
        for u in uris {
            let s = get(d.pull, &resolve(&f.endpoint_path, &u));
            assert_eq!(s.status, 200, "{name}: {u}");
            assert!(!s.body.is_empty());
        }
    }
}

/// Wrong or missing credentials: ffmpeg's pushes are all refused with 401 and nothing is
/// stored; the 401 comes before `100 Continue`, so no body is ever asked for.
#[test]
fn wrong_or_missing_credentials_store_nothing() {
    // Many wrong tries from one address here: the limit on them is tested on its own below.
    let d = Daemon::start(DaemonOpts {
        config_toml: Some("[limits]\ningest_auth_failures = 0\n".into()),
        ..DaemonOpts::default()
    });
    let f = d.hls_channel("locked", &[]);
    let ch = d.ctl_json(&["input", "auth", "enable", "locked", "1"]);
    let (user, pass) = creds(&ch, 0);

    // The head alone, announcing a body it has not sent: the answer must be the 401, at once.
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n",
        f.ingest("seg_00000.ts")
    );
    let raw_answer = String::from_utf8_lossy(&raw(d.ingest, head.as_bytes())).into_owned();
    assert!(
        raw_answer.starts_with("HTTP/1.1 401"),
        "401 before 100 Continue: {raw_answer}"
    );
    assert!(
        raw_answer
            .to_ascii_lowercase()
            .contains("www-authenticate: basic"),
        "{raw_answer}"
    );

    assert_401(&put_seg(&d, &f, "seg_00000.ts", None), "no credentials");
    assert_401(
        &put_seg(&d, &f, "seg_00000.ts", Some(&basic(&user, "wrong"))),
        "wrong password",
    );
    assert_401(
        &put_seg(&d, &f, "seg_00000.ts", Some(&basic("someone", &pass))),
        "wrong user",
    );
    assert_401(
        &put_seg(&d, &f, "seg_00000.ts", Some("Bearer abc")),
        "other scheme",
    );

    if require_tool("ffmpeg") {
        let bad = f
            .primary_url
            .replacen("http://", &format!("http://{user}:nope@"), 1);
        let mut a = ffmpeg_push_hls(HlsPush::Ts, &bad, 5, &d.dir().join("ff-bad.log"));
        let mut b = ffmpeg_push_hls(HlsPush::Ts, &f.primary_url, 5, &d.dir().join("ff-none.log"));
        wait_child(&mut a, Duration::from_secs(60));
        wait_child(&mut b, Duration::from_secs(60));
    }
    assert_eq!(primary_segments(&d, "locked"), 0, "nothing stored");
    let errors = d.ctl_json(&["channel", "show", "locked"])["live"]["inputs"][0]["ingest_errors"]
        .as_u64()
        .unwrap();
    assert!(errors >= 5, "refusals are counted: {errors}");
    assert_eq!(get(d.pull, &f.endpoint_path).status, 503, "no media");
    // The right credentials work on the same input.
    let ok = put_seg(&d, &f, "seg_00000.ts", Some(&basic(&user, &pass)));
    assert_eq!(ok.status, 201, "{}", ok.text());
}

/// Guessing: after `ingest_auth_failures` wrong credentials the address is refused with 429
/// and `Retry-After`, even with the right ones (a right guess is not told apart), the refusal
/// is counted and remembered on the input; once the time passed, the right credentials work.
/// Requests without credentials (an encoder's first try) do not count.
#[test]
fn repeated_wrong_credentials_are_refused_for_a_while() {
    let d = Daemon::start(DaemonOpts {
        config_toml: Some(
            "[limits]\ningest_auth_failures = 4\ningest_auth_block_secs = 2\n".into(),
        ),
        ..DaemonOpts::default()
    });
    let f = d.hls_channel("guarded", &[]);
    let (user, pass) = creds(&d.ctl_json(&["input", "auth", "enable", "guarded", "1"]), 0);
    for _ in 0..10 {
        assert_401(&put_seg(&d, &f, "seg_00000.ts", None), "no credentials");
    }
    for i in 0..3 {
        assert_401(
            &put_seg(
                &d,
                &f,
                "seg_00000.ts",
                Some(&basic(&user, &format!("guess{i}"))),
            ),
            "a wrong guess under the limit",
        );
    }
    let r = put_seg(&d, &f, "seg_00000.ts", Some(&basic(&user, "guess3")));
    assert_401(&r, "the guess that reaches the limit is still answered 401");
    let blocked = put_seg(&d, &f, "seg_00000.ts", Some(&basic(&user, &pass)));
    assert_eq!(blocked.status, 429, "{}", blocked.text());
    let secs: u64 = blocked.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=2).contains(&secs), "Retry-After {secs}");
    assert!(
        blocked.text().contains("too many wrong credentials"),
        "{}",
        blocked.text()
    );
    let live = &d.ctl_json(&["channel", "show", "guarded"])["live"]["inputs"][0];
    assert_eq!(live["recent_errors"][0]["status"], 429, "{live}");
    assert_eq!(primary_segments(&d, "guarded"), 0, "nothing stored");
    std::thread::sleep(Duration::from_millis(secs * 1000 + 200));
    let ok = put_seg(&d, &f, "seg_00000.ts", Some(&basic(&user, &pass)));
    assert_eq!(ok.status, 201, "{}", ok.text());
}

/// Rotation: the old credentials fail on the very next request; with `--grace` both work until
/// the window ends; credentials survive a restart; disabling removes the check.
#[test]
fn rotation_with_and_without_grace() {
    let mut d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel("rot", &[]);
    let e = d.ctl_refused(&["input", "auth", "rotate", "rot", "1"]);
    assert!(e.contains("input auth enable"), "{e}");
    let (u0, p0) = creds(&d.ctl_json(&["input", "auth", "enable", "rot", "1"]), 0);
    assert_eq!(put_seg(&d, &f, "a.ts", Some(&basic(&u0, &p0))).status, 201);

    let (u1, p1) = creds(&d.ctl_json(&["input", "auth", "rotate", "rot", "1"]), 0);
    assert_ne!(p1, p0);
    assert_401(
        &put_seg(&d, &f, "b.ts", Some(&basic(&u0, &p0))),
        "old after rotate",
    );
    assert_eq!(put_seg(&d, &f, "b.ts", Some(&basic(&u1, &p1))).status, 201);

    let t0 = Instant::now();
    let ch = d.ctl_json(&["input", "auth", "rotate", "rot", "1", "--grace", "4"]);
    let (u2, p2) = creds(&ch, 0);
    assert!(ch["inputs"][0]["auth"]["previous_valid_until_unix_ms"].is_u64());
    assert_eq!(
        put_seg(&d, &f, "c.ts", Some(&basic(&u1, &p1))).status,
        201,
        "old in grace"
    );
    assert_eq!(
        put_seg(&d, &f, "c.ts", Some(&basic(&u2, &p2))).status,
        201,
        "new"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "grace checked in time"
    );
    thread::sleep(Duration::from_secs(4).saturating_sub(t0.elapsed()) + Duration::from_millis(300));
    assert_401(
        &put_seg(&d, &f, "d.ts", Some(&basic(&u1, &p1))),
        "old after grace",
    );
    assert_eq!(put_seg(&d, &f, "d.ts", Some(&basic(&u2, &p2))).status, 201);

    // Persisted (mode 0600 state file) and restored.
    d.stop_term();
    d.restart();
    let (u3, p3) = creds(&d.ctl_json(&["channel", "show", "rot"]), 0);
    assert_eq!((u3.as_str(), p3.as_str()), (u2.as_str(), p2.as_str()));
    assert_401(&put_seg(&d, &f, "e.ts", None), "after restart");
    assert_eq!(put_seg(&d, &f, "e.ts", Some(&basic(&u2, &p2))).status, 201);
    let state = std::fs::read_to_string(d.state_dir.join("state.json")).unwrap();
    assert!(
        state.contains(&p2),
        "credentials persisted in the state file"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.state_dir.join("state.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "state file readable by others: {mode:o}");
    }

    let ch = d.ctl_json(&["input", "auth", "disable", "rot", "1"]);
    assert_eq!(ch["inputs"][0]["auth"]["enabled"], false);
    assert_eq!(put_seg(&d, &f, "f.ts", None).status, 201);
    // Human output shows the credentials next to the input.
    d.ctl_json(&["input", "auth", "enable", "rot", "2"]);
    let text = String::from_utf8_lossy(&d.ctl(&["channel", "show", "rot"]).stdout).into_owned();
    assert!(text.contains("AUTH") && text.contains(":"), "{text}");
}

/// A channel with one segment and a playlist, so that an admitted pull answers 200.
fn live(d: &Daemon, name: &str, endpoint_flags: &[&str]) -> (Fixture, String) {
    let f = d.hls_channel(name, &[]);
    let mut args = vec!["endpoint", "create", name, "--name", "guarded"];
    args.extend_from_slice(endpoint_flags);
    let ep = d.ctl_json(&args);
    let mut c = Conn::connect(d.ingest);
    assert_eq!(
        c.put_chunked(&f.ingest("seg_00000.ts"), &fake_ts(0, 20))
            .status,
        201
    );
    let pl = encoder_playlist(0, &[("seg_00000.ts".into(), 2.0)], false);
    assert_eq!(
        c.put_chunked(&f.ingest("main.m3u8"), pl.as_bytes()).status,
        201
    );
    let path = split_url(ep["url"].as_str().unwrap()).1;
    (f, path)
}

fn status_of(addr: impl std::fmt::Display, path: &str, headers: &[(&str, &str)]) -> Response {
    http(addr, "GET", path, headers, None)
}

fn assert_403(r: &Response, why: &str) {
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains(why), "reason {why:?} in {:?}", r.text());
}

/// IPv4 allow/block from 127.0.0.1, edits replacing the lists, clear CLI errors.
#[test]
fn ip_lists_ipv4() {
    let d = Daemon::start(DaemonOpts::default());
    let (f, p) = live(&d, "ip4", &["--allow", "127.0.0.0/8"]);
    assert_eq!(status_of(d.pull, &p, &[]).status, 200, "allowed");
    assert_eq!(
        get(d.pull, &f.endpoint_path).status,
        200,
        "other endpoint open"
    );

    d.ctl_json(&[
        "endpoint",
        "edit",
        "ip4",
        "guarded",
        "--allow",
        "10.0.0.0/8",
    ]);
    assert_403(
        &status_of(d.pull, &p, &[]),
        "not in this endpoint's allowlist",
    );

    d.ctl_json(&[
        "endpoint",
        "edit",
        "ip4",
        "guarded",
        "--clear-allow",
        "--block",
        "127.0.0.1",
    ]);
    assert_403(&status_of(d.pull, &p, &[]), "127.0.0.1 is blocked");

    // Block wins over allow.
    d.ctl_json(&["endpoint", "edit", "ip4", "guarded", "--allow", "127.0.0.1"]);
    assert_403(&status_of(d.pull, &p, &[]), "blocked");
    let ep = d.ctl_json(&["endpoint", "edit", "ip4", "guarded", "--clear-block"]);
    assert_eq!(ep["allow"], serde_json::json!(["127.0.0.1/32"]));
    assert_eq!(ep["block"], serde_json::json!([]));
    assert_eq!(status_of(d.pull, &p, &[]).status, 200);
    // An untrusted peer's X-Forwarded-For is ignored: it cannot talk its way in or out.
    assert_eq!(
        status_of(d.pull, &p, &[("X-Forwarded-For", "10.1.2.3")]).status,
        200
    );

    let e = d.ctl_refused(&[
        "endpoint",
        "edit",
        "ip4",
        "guarded",
        "--allow",
        "10.0.0.1/8",
    ]);
    assert!(
        e.contains("--allow") && e.contains("did you mean 10.0.0.0/8"),
        "{e}"
    );
    let e = d.ctl_refused(&[
        "endpoint", "create", "ip4", "--name", "x", "--block", "::/200",
    ]);
    assert!(e.contains("::/200") && e.contains("0-128"), "{e}");
    let e = d.ctl_refused(&[
        "endpoint",
        "create",
        "ip4",
        "--name",
        "x",
        "--allow",
        "localhost",
    ]);
    assert!(e.contains("\"localhost\""), "{e}");
}

/// IPv6 clients (`::1`) against v6 rules, and X-Forwarded-For believed only from a trusted proxy.
#[test]
fn ip_lists_ipv6_and_forwarded_for() {
    let d = Daemon::start(DaemonOpts {
        pull_ipv6: true,
        config_toml: Some("[access]\ntrusted_proxies = [\"::1\"]\n".into()),
        ..DaemonOpts::default()
    });
    assert!(d.pull.is_ipv6());
    let (_, p) = live(&d, "ip6", &["--allow", "::1", "--allow", "198.51.100.0/24"]);
    assert_eq!(status_of(d.pull, &p, &[]).status, 200, "::1 allowed");
    // ::1 is a trusted proxy: the client is the rightmost untrusted X-Forwarded-For entry.
    let via = |xff: &str| status_of(d.pull, &p, &[("X-Forwarded-For", xff)]);
    assert_eq!(via("198.51.100.7").status, 200);
    assert_eq!(via("203.0.113.1, 198.51.100.7").status, 200);
    assert_403(&via("198.51.100.7, 203.0.113.1"), "203.0.113.1");
    assert_403(&via("2001:db8::1"), "2001:db8::1");
    d.ctl_json(&[
        "endpoint",
        "edit",
        "ip6",
        "guarded",
        "--clear-allow",
        "--block",
        "::1/128",
    ]);
    assert_403(&status_of(d.pull, &p, &[]), "::1 is blocked");
    assert_eq!(
        via("198.51.100.7").status,
        200,
        "the proxy is not the client"
    );

    // The same header from a peer that is not trusted proves nothing.
    let plain = Daemon::start(DaemonOpts {
        pull_ipv6: true,
        ..DaemonOpts::default()
    });
    let (_, p) = live(&plain, "ip6", &["--allow", "198.51.100.0/24"]);
    assert_403(
        &status_of(plain.pull, &p, &[("X-Forwarded-For", "198.51.100.7")]),
        "::1 is not in this endpoint's allowlist",
    );
}

/// AuthKey: right 200, wrong or missing 403, two keys during a rotation both work; the header
/// name is configurable.
#[test]
fn auth_keys() {
    let d = Daemon::start(DaemonOpts::default());
    let (_, p) = live(&d, "keyed", &["--auth-key", "first-key-1"]);
    let with = |k: &str| status_of(d.pull, &p, &[("X-TENCENT-PACKAGE", k)]);
    assert_eq!(with("first-key-1").status, 200);
    assert_eq!(
        status_of(d.pull, &p, &[("x-tencent-package", "first-key-1")]).status,
        200,
        "header names are case-insensitive"
    );
    assert_403(&with("first-key-2"), "wrong X-TENCENT-PACKAGE key");
    assert_403(
        &status_of(d.pull, &p, &[]),
        "requires the X-TENCENT-PACKAGE header",
    );

    let ep = d.ctl_json(&[
        "endpoint",
        "edit",
        "keyed",
        "guarded",
        "--auth-key",
        "first-key-1",
        "--auth-key",
        "second-key-2",
    ]);
    assert_eq!(ep["auth_keys"].as_array().unwrap().len(), 2);
    assert_eq!(with("first-key-1").status, 200, "old key during rotation");
    assert_eq!(with("second-key-2").status, 200, "new key during rotation");
    d.ctl_json(&[
        "endpoint",
        "edit",
        "keyed",
        "guarded",
        "--auth-key",
        "second-key-2",
    ]);
    assert_403(&with("first-key-1"), "wrong");
    assert_eq!(with("second-key-2").status, 200);
    d.ctl_json(&["endpoint", "edit", "keyed", "guarded", "--clear-auth-keys"]);
    assert_eq!(status_of(d.pull, &p, &[]).status, 200);
    let e = d.ctl_refused(&[
        "endpoint",
        "edit",
        "keyed",
        "guarded",
        "--auth-key",
        "short",
    ]);
    assert!(e.contains("--auth-key") && e.contains("8-256"), "{e}");

    let custom = Daemon::start(DaemonOpts {
        config_toml: Some("[access]\nauth_key_header = \"X-Edge-Key\"\n".into()),
        ..DaemonOpts::default()
    });
    let (_, p) = live(&custom, "keyed", &["--auth-key", "edge-key-123"]);
    assert_eq!(
        status_of(custom.pull, &p, &[("X-Edge-Key", "edge-key-123")]).status,
        200
    );
    assert_403(
        &status_of(custom.pull, &p, &[("X-TENCENT-PACKAGE", "edge-key-123")]),
        "X-Edge-Key",
    );
}

/// `param="value"` out of a challenge.
fn param(challenge: &str, name: &str) -> String {
    let start = challenge.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
    challenge[start..].split('"').next().unwrap().to_string()
}

/// The Digest `Authorization` a client computes (RFC 7616 §3.4.1, qop=auth), written here
/// from the RFC, independently of the daemon's code.
fn digest_header(
    alg: &str,
    user: &str,
    pass: &str,
    nonce: &str,
    method: &str,
    uri: &str,
    nc: u32,
) -> String {
    use md5::Md5;
    use sha2::{Digest, Sha256};
    let h = |s: String| -> String {
        let bytes: Vec<u8> = match alg {
            "MD5" => Md5::digest(s.as_bytes()).to_vec(),
            _ => Sha256::digest(s.as_bytes()).to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    let realm = "streampack ingest";
    let (nc, cnonce) = (format!("{nc:08x}"), "0a4f113b");
    let ha1 = h(format!("{user}:{realm}:{pass}"));
    let ha2 = h(format!("{method}:{uri}"));
    let resp = h(format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         algorithm={alg}, qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{resp}\""
    )
}

/// Digest (RFC 7616): MD5 and SHA-256 responses computed from the RFC, the daemon's nonces
/// checked (forged, other URI, wrong password refused), and curl --digest as a real client.
#[test]
fn digest_md5_sha256_and_curl() {
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel("dig", &[]);
    let (user, pass) = creds(&d.ctl_json(&["input", "auth", "enable", "dig", "1"]), 0);
    let first = put_seg(&d, &f, "seg_00000.ts", None);
    assert_401(&first, "challenge");
    let c = challenges(&first);
    let sha = c.iter().find(|v| v.contains("algorithm=SHA-256")).unwrap();
    let nonce = param(sha, "nonce");
    assert_eq!(param(sha, "qop"), "auth");

    let mut stored = 0;
    for (i, alg) in ["MD5", "SHA-256"].iter().enumerate() {
        let path = f.ingest(&format!("seg_{i:05}.ts"));
        // Counts go up across requests with one nonce, whatever the algorithm.
        let nc = i as u32 + 1;
        let h = digest_header(alg, &user, &pass, &nonce, "PUT", &path, nc);
        let r = http(
            d.ingest,
            "PUT",
            &path,
            &[("Authorization", &h)],
            Some(&fake_ts(1, 5)),
        );
        assert_eq!(r.status, 201, "{alg}: {}", r.text());
        stored += 1;
        // The same request captured and sent again: its count was used, it is stale.
        let replay = http(
            d.ingest,
            "PUT",
            &path,
            &[("Authorization", &h)],
            Some(&fake_ts(9, 5)),
        );
        assert_401(&replay, &format!("{alg} replayed"));
        assert!(
            replay.text().contains("count was used already"),
            "{}",
            replay.text()
        );
        assert!(
            challenges(&replay).iter().any(|c| c.contains("stale=true")),
            "{:?}",
            challenges(&replay)
        );
        let wrong = digest_header(alg, &user, "nope", &nonce, "PUT", &path, 7);
        let r = http(
            d.ingest,
            "PUT",
            &path,
            &[("Authorization", &wrong)],
            Some(b"x"),
        );
        assert_401(&r, &format!("{alg} wrong password"));
        let other_uri = digest_header(alg, &user, &pass, &nonce, "PUT", &f.ingest("x.ts"), 8);
        let r = http(
            d.ingest,
            "PUT",
            &path,
            &[("Authorization", &other_uri)],
            Some(b"x"),
        );
        assert_401(&r, &format!("{alg} signed for another URI"));
        let forged_nonce = format!("{:016x}-{}", 1u64, &nonce[17..]);
        let forged = digest_header(alg, &user, &pass, &forged_nonce, "PUT", &path, 1);
        let r = http(
            d.ingest,
            "PUT",
            &path,
            &[("Authorization", &forged)],
            Some(b"x"),
        );
        assert_401(&r, &format!("{alg} forged nonce"));
    }
    // A rotation retires every nonce issued for the old password.
    let (user2, pass2) = creds(&d.ctl_json(&["input", "auth", "rotate", "dig", "1"]), 0);
    let path = f.ingest("seg_00009.ts");
    let old = digest_header("SHA-256", &user2, &pass2, &nonce, "PUT", &path, 9);
    assert_401(
        &http(
            d.ingest,
            "PUT",
            &path,
            &[("Authorization", &old)],
            Some(b"x"),
        ),
        "nonce of the old password",
    );

    if require_tool("curl") {
        let file = d.dir().join("seg.ts");
        std::fs::write(&file, fake_ts(7, 5)).unwrap();
        let curl = |userpass: &str, name: &str| {
            let out = std::process::Command::new("curl")
                .args([
                    "-sS",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "--digest",
                    "-u",
                ])
                .arg(userpass)
                .arg("-T")
                .arg(&file)
                .arg(format!("{}/{name}", f.primary_url))
                .output()
                .expect("run curl");
            text(&out.stdout)
        };
        assert_eq!(curl(&format!("{user2}:{pass2}"), "seg_00002.ts"), "201");
        stored += 1;
        assert_eq!(curl(&format!("{user2}:wrong"), "seg_00003.ts"), "401");
        assert_eq!(
            curl(&format!("{user}:{pass}"), "seg_00003.ts"),
            "401",
            "old credentials"
        );
    }
    assert_eq!(
        primary_segments(&d, "dig"),
        stored,
        "only authenticated PUTs stored"
    );
}

/// The admin socket is 0600 by default; `admin_socket_group` makes it 0660 owned by that group;
/// an unknown group stops the daemon with a message naming it.
#[test]
fn admin_socket_mode_and_group() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let d = Daemon::start(DaemonOpts::default());
    let m = std::fs::metadata(&d.socket).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o600);

    let gid = nix::unistd::getegid();
    let group = nix::unistd::Group::from_gid(gid)
        .unwrap()
        .expect("own group")
        .name;
    let g = Daemon::start(DaemonOpts {
        config_toml: Some(format!("admin_socket_group = \"{group}\"\n")),
        ..DaemonOpts::default()
    });
    let m = std::fs::metadata(&g.socket).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o660);
    assert_eq!(m.gid(), gid.as_raw());
    assert!(g.ctl_json(&["status"])["version"].is_string());

    let mut bad = Daemon::launch(DaemonOpts {
        config_toml: Some("admin_socket_group = \"no-such-group-sp\"\n".into()),
        ..DaemonOpts::default()
    });
    let st = bad
        .wait_exit(Duration::from_secs(10))
        .expect("daemon exits");
    assert!(!st.success());
    let log = bad.stderr_log();
    assert!(log.contains("no-such-group-sp"), "{log}");
}
