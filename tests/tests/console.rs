//! The web console (`streampackctl console`): its gate (token, session cookie, other sites),
//! its JSON API (the CLI's views and messages, statuses that fit), a daemon that goes away
//! and comes back, and an operator walking its pages in chromium.

use serde_json::Value;
use std::process::Command;
use std::time::Duration;
use streampack_tests::*;

fn cookie_of(r: &Response) -> String {
    let set = r.header("Set-Cookie").expect("a session cookie");
    set.split(';').next().unwrap().to_string()
}

#[test]
fn the_token_signs_in_and_other_sites_cannot_change_anything() {
    let d = Daemon::start(DaemonOpts::default());
    let c = Console::start(&d.socket);
    assert!(
        c.login_url.ends_with(&format!("/?token={CONSOLE_TOKEN}")),
        "{}",
        c.login_url
    );

    // Nobody signed in: 401 from the API, the sign-in page for people.
    let r = get(c.addr, "/api/channels");
    assert_eq!(r.status, 401);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert!(v["error"].as_str().unwrap().contains("Bearer"), "{v}");
    let page = get(c.addr, "/");
    assert_eq!(page.status, 401);
    assert!(page.text().contains("Console token"), "{}", page.text());
    let wrong = get(c.addr, "/?token=not-the-token-at-all");
    assert_eq!(wrong.status, 401);
    assert!(wrong.header("Set-Cookie").is_none());
    assert!(wrong.text().contains("role=\"alert\""), "{}", wrong.text());
    let forged = http(
        c.addr,
        "GET",
        "/api/status",
        &[("Cookie", "streampack_console=guess")],
        None,
    );
    assert_eq!(forged.status, 401);

    // The token buys a session cookie scripts cannot read and other sites never send.
    let login = get(c.addr, &format!("/?token={CONSOLE_TOKEN}"));
    assert_eq!(login.status, 303);
    assert_eq!(login.header("Location"), Some("/"));
    let set = login.header("Set-Cookie").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = cookie_of(&login);
    let page = http(c.addr, "GET", "/", &[("Cookie", &cookie)], None);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("/assets/app.js"));
    let csp = page.header("Content-Security-Policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let status = http(c.addr, "GET", "/api/status", &[("Cookie", &cookie)], None);
    assert_eq!(status.status, 200);
    let st: Value = serde_json::from_slice(&status.body).unwrap();
    assert_eq!(
        st,
        d.ctl_json(&["status"])["version"].clone().pipe(|v| {
            let mut s = st.clone();
            s["version"] = v;
            s
        })
    );

    // A change from another site is refused, whatever it carries.
    let own = format!("http://{}", c.addr);
    let body = br#"{"name": "evil", "protocol": "hls"}"#;
    for (name, value) in [
        ("Origin", "http://evil.example"),
        ("Origin", "null"),
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Site", "same-site"),
    ] {
        let r = http(
            c.addr,
            "POST",
            "/api/channels",
            &[
                ("Cookie", &cookie),
                (name, value),
                ("Content-Type", "application/json"),
            ],
            Some(body),
        );
        assert_eq!(r.status, 403, "{name}: {value}: {}", r.text());
    }
    assert!(d.channel_names().is_empty(), "nothing was created");
    // A cookie alone cannot show it came from the console's page (an old browser, a form on
    // another port of this host): refused too.
    let r = http(
        c.addr,
        "POST",
        "/api/channels",
        &[("Cookie", &cookie), ("Content-Type", "application/json")],
        Some(body),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(d.channel_names().is_empty(), "nothing was created");
    // The console's own page may (with JSON); so may a script with the bearer token.
    let r = http(
        c.addr,
        "POST",
        "/api/channels",
        &[
            ("Cookie", &cookie),
            ("Origin", &own),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        Some(body),
    );
    assert_eq!(r.status, 415, "a form's body is not JSON: {}", r.text());
    let r = http(
        c.addr,
        "POST",
        "/api/channels",
        &[
            ("Cookie", &cookie),
            ("Origin", &own),
            ("Sec-Fetch-Site", "same-origin"),
            ("Content-Type", "application/json"),
        ],
        Some(body),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(d.channel_names(), ["evil"]);

    // The sign-in form posts the token; from another site it is refused.
    let form = format!("token={CONSOLE_TOKEN}");
    let form_ct = ("Content-Type", "application/x-www-form-urlencoded");
    let r = http(
        c.addr,
        "POST",
        "/login",
        &[form_ct, ("Origin", &own)],
        Some(form.as_bytes()),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_ne!(
        cookie_of(&r),
        cookie,
        "each sign-in is a session of its own"
    );
    let r = http(
        c.addr,
        "POST",
        "/login",
        &[form_ct, ("Origin", "http://evil.example")],
        Some(form.as_bytes()),
    );
    assert_eq!(r.status, 403);

    // A body claiming to be huge is refused unread, and the console stays up.
    let bearer = format!("Bearer {CONSOLE_TOKEN}");
    let huge = http(
        c.addr,
        "POST",
        "/api/channels",
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
            ("Content-Length", "1099511627776"),
        ],
        None,
    );
    assert_eq!(huge.status, 413, "{}", huge.text());
    let unsigned = [("Content-Length", "18446744073709551615")];
    // (hyper refuses a length that large before the gate sees it.)
    let r = http(c.addr, "POST", "/api/channels", &unsigned, None);
    assert!((400..500).contains(&r.status), "{}", r.status);
    assert_eq!(
        http(c.addr, "GET", "/api/status", &[("Cookie", &cookie)], None).status,
        200
    );

    // Signing out ends the session.
    let r = http(
        c.addr,
        "POST",
        "/api/logout",
        &[("Cookie", &cookie), ("Origin", &own)],
        None,
    );
    assert_eq!(r.status, 200);
    assert!(r.header("Set-Cookie").unwrap().contains("Max-Age=0"));
    let r = http(c.addr, "GET", "/api/status", &[("Cookie", &cookie)], None);
    assert_eq!(r.status, 401);
}

/// `Value::pipe`: keeps the status comparison above on one expression.
trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl Pipe for Value {}

#[test]
fn the_api_answers_the_clis_views_and_messages() {
    let d = Daemon::start(DaemonOpts::default());
    let c = Console::start(&d.socket);
    let (s, ch) = c.api_json(
        "POST",
        "/api/channels",
        Some(r#"{"name": "news", "protocol": "hls", "max_segment_duration": 8}"#),
    );
    assert_eq!(s, 201, "{ch}");
    let id = ch["id"].as_str().unwrap().to_string();
    assert_eq!(ch["max_segment_duration"], 8);
    assert_eq!(ch["max_playlist_duration"], 600, "the daemon's default");
    // The same view the CLI prints.
    let (s, shown) = c.api_json("GET", "/api/channels/news", None);
    assert_eq!(s, 200);
    let mut cli = d.ctl_json(&["channel", "show", "news"]);
    let mut api = shown.clone();
    cli["live"] = Value::Null;
    api["live"] = Value::Null;
    assert_eq!(api, cli);
    assert!(shown["live"]["inputs"][0]["recent_errors"].is_array());

    // Refusals carry the daemon's own message, with a status that fits.
    let (s, e) = c.api_json(
        "POST",
        "/api/channels",
        Some(r#"{"name": "bad name!", "protocol": "hls"}"#),
    );
    assert_eq!(s, 400);
    let cli = d.ctl_refused(&[
        "channel",
        "create",
        "--name",
        "bad name!",
        "--protocol",
        "hls",
    ]);
    assert_eq!(
        e["error"].as_str().unwrap(),
        cli.trim_start_matches("streampackctl: ").trim_end()
    );
    let (s, e) = c.api_json(
        "POST",
        "/api/channels",
        Some(r#"{"name": "news", "protocol": "hls"}"#),
    );
    assert_eq!(s, 409, "{e}");
    let (s, e) = c.api_json("GET", "/api/channels/nope", None);
    assert_eq!(s, 404, "{e}");
    let (s, e) = c.api_json("POST", "/api/channels", Some("{\"name\": \"x\","));
    assert_eq!(s, 400);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("not the JSON expected"),
        "{e}"
    );
    let (s, e) = c.api_json(
        "PATCH",
        "/api/channels/news",
        Some(r#"{"segment_duration": 4}"#),
    );
    assert_eq!(s, 400);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("unknown field `segment_duration`"),
        "{e}"
    );
    let r = c.api("PUT", "/api/channels/news", Some("{}"));
    assert_eq!(
        (r.status, r.header("Allow")),
        (405, Some("GET, PATCH, DELETE"))
    );

    // Endpoints, input auth, CDN: each answer is what the CLI shows afterwards.
    let (s, ep) = c.api_json(
        "POST",
        &format!("/api/channels/{id}/endpoints"),
        Some(r#"{"name": "web", "allow": ["127.0.0.1/32"], "auth_keys": ["k3y-k3y-k3y"]}"#),
    );
    assert_eq!(s, 201, "{ep}");
    assert_eq!(ep["type"], "hls", "the channel's protocol by default");
    assert_eq!(ep, d.ctl_json(&["endpoint", "show", "news", "web"]));
    // Encryption from the console's form: what the CLI sets, refused with the CLI's reason.
    let (s, enc) = c.api_json(
        "POST",
        &format!("/api/channels/{id}/endpoints"),
        Some(r#"{"name": "secure", "encryption": "aes-128", "key_rotation_secs": 60}"#),
    );
    assert_eq!(s, 201, "{enc}");
    assert_eq!(
        (
            enc["encryption"].as_str(),
            enc["key_rotation_secs"].as_u64()
        ),
        (Some("aes-128"), Some(60))
    );
    assert_eq!(enc, d.ctl_json(&["endpoint", "show", "news", "secure"]));
    let (s, e) = c.api_json(
        "PATCH",
        &format!("/api/channels/{id}/endpoints/secure"),
        Some(r#"{"encryption": "cenc"}"#),
    );
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("for cmaf endpoints"),
        "{e}"
    );
    let (s, _) = c.api_json("DELETE", "/api/channels/news/endpoints/secure", None);
    assert_eq!(s, 200);
    let (s, e) = c.api_json("DELETE", "/api/channels/news", None);
    assert_eq!(s, 409);
    assert!(
        e["error"].as_str().unwrap().contains("delete it first"),
        "{e}"
    );
    let (s, ch) = c.api_json("POST", "/api/channels/news/inputs/1/auth/enable", None);
    assert_eq!(s, 200);
    let old = ch["inputs"][0]["auth"]["password"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, ch) = c.api_json(
        "POST",
        "/api/channels/news/inputs/1/auth/rotate",
        Some("{}"),
    );
    assert_ne!(ch["inputs"][0]["auth"]["password"].as_str().unwrap(), old);
    let (s, ch) = c.api_json(
        "POST",
        "/api/channels/news/cdn",
        Some(r#"{"domain": "live.example.com"}"#),
    );
    assert_eq!(s, 200, "{ch}");
    let (_, cdn) = c.api_json("GET", "/api/channels/news/cdn", None);
    assert_eq!(cdn, d.ctl_json(&["cdn", "list", "news"]));
    let url = cdn["endpoints"][0]["cdn_urls"][0].as_str().unwrap();
    assert!(url.starts_with("http://live.example.com/v1/"), "{url}");
    let (s, _) = c.api_json("DELETE", "/api/channels/news/cdn/live.example.com", None);
    assert_eq!(s, 200);
    let (s, gone) = c.api_json("DELETE", "/api/channels/news/endpoints/web", None);
    assert_eq!((s, gone["deleted"].as_str()), (200, ep["id"].as_str()));
    let (s, gone) = c.api_json("DELETE", &format!("/api/channels/{id}"), None);
    assert_eq!((s, gone["deleted"].as_str()), (200, Some(id.as_str())));
    assert!(d.channel_names().is_empty());
}

#[test]
fn a_daemon_that_is_down_is_named_and_the_console_recovers() {
    let mut d = Daemon::start(DaemonOpts::default());
    let c = Console::start(&d.socket);
    d.stop_term();
    let (s, e) = c.api_json("GET", "/api/channels", None);
    assert_eq!(s, 502);
    let msg = e["error"].as_str().unwrap();
    assert!(msg.contains(&d.socket.display().to_string()), "{msg}");
    assert!(msg.contains("not running or not reachable"), "{msg}");
    d.restart();
    let (s, list) = c.api_json("GET", "/api/channels", None);
    assert_eq!((s, list), (200, Value::Array(vec![])));

    // The page says so too, and recovers by itself once the daemon is back.
    d.stop_term();
    let socket = d.socket.clone();
    let back = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(6));
        d.restart();
        d
    });
    let walked = console_walk(&c, "daemon-down", &[]);
    let _d = back.join().unwrap();
    let Some(v) = walked else { return };
    let banner = v["banner"].as_str().unwrap();
    assert!(banner.starts_with("Daemon not reachable:"), "{banner}");
    assert!(banner.contains(&socket.display().to_string()), "{banner}");
}

#[test]
fn listen_address_and_token_are_checked() {
    let ctl = |args: &[&str], token: Option<&str>| {
        let mut cmd = Command::new(streampackctl());
        cmd.args(["--socket", "/nonexistent/ctl.sock", "console"])
            .args(args);
        match token {
            Some(t) => cmd.env("STREAMPACK_CONSOLE_TOKEN", t),
            None => cmd.env_remove("STREAMPACK_CONSOLE_TOKEN"),
        };
        run_with_timeout(&mut cmd, Duration::from_secs(10))
    };
    let out = ctl(&["--listen", "0.0.0.0:0"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("not a loopback address") && err.contains("--allow-remote"),
        "{err}"
    );
    let out = ctl(&["--listen", "127.0.0.1:0"], Some("short"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("at least 16 characters"),
        "{}",
        text(&out.stderr)
    );
    let out = ctl(
        &["--listen", "127.0.0.1:0"],
        Some("long-enough-but has a space"),
    );
    assert_eq!(out.status.code(), Some(1));
    let out = ctl(
        &[
            "--listen",
            "127.0.0.1:0",
            "--public-origin",
            "console.example",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("e.g. https://"),
        "{}",
        text(&out.stderr)
    );
    let out = ctl(&["--listen", "127.0.0.1:not-a-port"], None);
    assert_eq!(out.status.code(), Some(2), "a usage error");
}

/// The issue's walk: an operator creates a channel, reads its inputs, turns authentication on
/// and rotates it (the old password is refused by the ingest at once), creates an endpoint
/// with an allowlist and an AuthKey, previews a live ffmpeg push in the page, binds a CDN
/// domain, is refused deleting the channel, deletes the endpoint, then the channel.
#[test]
fn an_operator_walks_the_console() {
    if !require_tool("ffmpeg") || !require_browser() {
        return;
    }
    let d = Daemon::start(DaemonOpts::default());
    let c = Console::start(&d.socket);
    let Some(setup) = console_walk(&c, "setup", &[]) else {
        return;
    };
    let field = |k: &str| setup[k].as_str().unwrap().to_string();
    let (old_user, old) = (field("old_user"), field("old_password"));
    let (user, new) = (field("user"), field("new_password"));

    // What the page did is what the daemon holds.
    let ch = d.ctl_json(&["channel", "show", "studio"]);
    assert_eq!(ch["max_segment_duration"], 6);
    assert_eq!(
        ch["inputs"][0]["url"].as_str(),
        Some(field("primary_url").as_str())
    );
    assert_eq!(
        ch["inputs"][0]["auth"]["password"].as_str(),
        Some(new.as_str())
    );
    assert_eq!(ch["inputs"][1]["auth"]["enabled"], false);
    let ep = d.ctl_json(&["endpoint", "show", "studio", "web"]);
    assert_eq!(ep["allow"], serde_json::json!(["127.0.0.1/32"]));
    assert_eq!(ep["auth_keys"], serde_json::json!(["studio-key-1"]));
    assert_eq!(ep["url"].as_str(), Some(field("endpoint_url").as_str()));

    // The rotated-out password is refused at once; the new one is taken.
    let seg = format!("{}/seg_00000.ts", field("primary_url"));
    let (host, path) = split_url(&seg);
    let put = |user: &str, pass: &str| {
        let auth = format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("{user}:{pass}")
            )
        );
        http(
            &host,
            "PUT",
            &path,
            &[("Authorization", &auth)],
            Some(&fake_ts(1, 5)),
        )
        .status
    };
    assert_eq!(
        put(&old_user, &old),
        401,
        "the old credentials after rotation"
    );
    assert_eq!(put(&user, &new), 201, "the new credentials");

    // A live push with the new credentials, previewed in the page.
    let with_creds = field("primary_url").replacen("http://", &format!("http://{user}:{new}@"), 1);
    let _ff = Killed(ffmpeg_push_hls(
        HlsPush::Ts,
        &with_creds,
        120,
        &d.dir().join("ff.log"),
    ));
    let (_, ep_path) = split_url(&field("endpoint_url"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while http(
        d.pull,
        "GET",
        &ep_path,
        &[("X-TENCENT-PACKAGE", "studio-key-1")],
        None,
    )
    .status
        != 200
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the push never reached the endpoint"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let shot = std::env::var("CONSOLE_SCREENSHOT").unwrap_or_default();
    let Some(done) = console_walk(&c, "finish", &[("CONSOLE_SCREENSHOT", &shot)]) else {
        return;
    };
    assert!(
        done["listed"].as_str().unwrap().contains("studio"),
        "{done}"
    );
    assert!(done["played_s"].as_f64().unwrap() >= 2.0, "{done}");
    let cdn = done["cdn_url"].as_str().unwrap();
    assert!(
        cdn.starts_with("http://live.example.com/v1/") && cdn.ends_with("/main.m3u8"),
        "{cdn}"
    );
    // The ad break inserted from the Ad breaks tab (its DATERANGE was read back by the walk).
    let splice = done["splice"].as_str().unwrap();
    assert!(
        splice.starts_with("Ad break ") && splice.ends_with("for 20 s."),
        "{splice}"
    );
    let refusal = done["refusal"].as_str().unwrap();
    assert!(refusal.contains("delete it first"), "{refusal}");
    assert!(d.channel_names().is_empty(), "the walk deleted the channel");
}
