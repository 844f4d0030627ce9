//! A real browser as a player: headless Debian `chromium` driven by `tests/browser/play.mjs`
//! (playwright-core), playing a manifest with hls.js, dash.js or Shaka and reporting what a
//! viewer would have seen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Where Debian's chromium lives; `play.mjs` launches exactly this one.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Which player library the page loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Player {
    /// hls.js (HLS).
    HlsJs,
    /// dash.js (DASH).
    DashJs,
    /// Shaka Player (DASH or HLS).
    Shaka,
}

impl Player {
    /// `play.mjs`'s name for the player.
    pub fn arg(self) -> &'static str {
        match self {
            Player::HlsJs => "hls",
            Player::DashJs => "dash",
            Player::Shaka => "shaka",
        }
    }
}

/// What the viewer saw, from `play.mjs`'s JSON line.
#[derive(Debug, Clone, PartialEq)]
pub struct Playback {
    /// Media seconds actually played (sum of `video.played`; seeks do not count).
    pub advanced: f64,
    /// `waiting` events after playback had started.
    pub stalls: u32,
    /// Longest stall, seconds (one still open at the end counts up to the end).
    pub longest_stall_s: f64,
    /// Player errors, fatal or not, as text (with the URL and HTTP status when the player gave one).
    pub errors: Vec<String>,
    /// Whether the player (or the video element) gave up.
    pub fatal: bool,
    /// `getVideoPlaybackQuality().totalVideoFrames`.
    pub frames_decoded: u64,
    /// `getVideoPlaybackQuality().droppedVideoFrames`.
    pub frames_dropped: u64,
    /// Median of the player's own live-latency figure, seconds, sampled every second once
    /// playing (`None`: the player gave none).
    pub latency_median_s: Option<f64>,
    /// Protocols the media came over (Resource Timing's `nextHopProtocol`: `h2`, `http/1.1`).
    pub protocols: Vec<String>,
    /// The whole JSON line (stall log, failed requests, time to first frame …) for messages.
    pub json: String,
}

impl Playback {
    /// Parses `play.mjs`'s JSON line.
    pub fn from_json(line: &str) -> Result<Playback, String> {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("{e}: {line}"))?;
        let num = |k: &str| {
            v[k].as_f64()
                .ok_or_else(|| format!("{k} is not a number in {line}"))
        };
        let int = |k: &str| {
            v[k].as_u64()
                .ok_or_else(|| format!("{k} is not an integer in {line}"))
        };
        let errors = v["errors"]
            .as_array()
            .ok_or_else(|| format!("errors is not an array in {line}"))?
            .iter()
            .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string))
            .collect();
        Ok(Playback {
            advanced: num("advanced")?,
            stalls: u32::try_from(int("stalls")?).map_err(|e| e.to_string())?,
            longest_stall_s: num("longest_stall_s")?,
            errors,
            fatal: v["fatal"]
                .as_bool()
                .ok_or_else(|| format!("fatal is not a boolean in {line}"))?,
            frames_decoded: int("frames_decoded")?,
            frames_dropped: int("frames_dropped")?,
            latency_median_s: v["latency_median_s"].as_f64(),
            protocols: v["protocols"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            json: line.to_string(),
        })
    }
}

/// `tests/browser/`: the node project with `play.mjs` and its `node_modules`.
pub fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Whether `npm ci --prefix tests/browser` has run (the player libraries and playwright-core).
pub fn browser_packages_installed() -> bool {
    let nm = browser_dir().join("node_modules");
    [
        "playwright-core/package.json",
        "hls.js/dist/hls.min.js",
        "dashjs/dist/modern/umd/dash.all.min.js",
        "shaka-player/dist/shaka-player.compiled.js",
    ]
    .iter()
    .all(|f| nm.join(f).is_file())
}

/// `true` when chromium, node and the npm packages are there. When one is missing: panics under
/// `CI=true`, otherwise prints a loud skip notice and returns `false` so the caller returns
/// early. Call it first in a test, before spending time on a daemon and an encoder.
pub fn require_browser() -> bool {
    let ci = in_ci();
    require_tool_with("chromium", Path::new(CHROMIUM).is_file(), ci)
        && require_tool("node")
        && require_browser_packages_with(browser_packages_installed(), ci)
}

/// [`require_browser`]'s decision about the npm packages, with the facts passed in.
pub fn require_browser_packages_with(present: bool, ci: bool) -> bool {
    require(
        &format!("{}/node_modules", browser_dir().display()),
        present,
        ci,
        "npm ci --prefix tests/browser",
    )
}

/// Plays `manifest_url` with `player` in headless chromium for `seconds` and returns what the
/// viewer saw. Returns `None` (after a loud skip message) when chromium, node or the npm
/// packages are missing outside CI; panics when they are missing under `CI=true`. Panics with
/// the script's stderr when the harness itself failed (not when the player failed: that is in
/// the returned [`Playback`]).
pub fn play_in_browser(player: Player, manifest_url: &str, seconds: u32) -> Option<Playback> {
    play_in_browser_with(player, manifest_url, seconds, false)
}

/// [`play_in_browser`] with the players' low-latency modes on when `low_latency`.
pub fn play_in_browser_with(
    player: Player,
    manifest_url: &str,
    seconds: u32,
    low_latency: bool,
) -> Option<Playback> {
    play_in_browser_opts(player, manifest_url, seconds, low_latency, None, false)
}

/// [`play_in_browser`] of encrypted content: the players get `clear_keys`, JSON
/// `{"<kid hex>": "<key hex>"}`, for the browser's ClearKey CDM.
pub fn play_in_browser_clear_keys(
    player: Player,
    manifest_url: &str,
    seconds: u32,
    clear_keys: &str,
) -> Option<Playback> {
    play_in_browser_opts(
        player,
        manifest_url,
        seconds,
        false,
        Some(clear_keys),
        false,
    )
}

/// [`play_in_browser`] with the first subtitle track on: the JSON (`Playback::json`) has
/// `text_samples` `[[currentTime, program date ms|null, [cue text…]]…]` every 250 ms and
/// `text_tracks`.
pub fn play_in_browser_text(player: Player, manifest_url: &str, seconds: u32) -> Option<Playback> {
    play_in_browser_opts(player, manifest_url, seconds, false, None, true)
}

fn play_in_browser_opts(
    player: Player,
    manifest_url: &str,
    seconds: u32,
    low_latency: bool,
    clear_keys: Option<&str>,
    subtitles: bool,
) -> Option<Playback> {
    if !require_browser() {
        return None;
    }
    let script = browser_dir().join("play.mjs");
    let timeout = Duration::from_secs(u64::from(seconds) + 60);
    let out = run_with_timeout(
        Command::new("node")
            .arg(&script)
            .arg(player.arg())
            .arg(manifest_url)
            .arg(seconds.to_string())
            .env("PLAY_LOW_LATENCY", if low_latency { "1" } else { "0" })
            .env("PLAY_CLEARKEYS", clear_keys.unwrap_or(""))
            .env("PLAY_TEXT", if subtitles { "1" } else { "0" }),
        timeout,
    );
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    if !out.status.success() {
        panic!(
            "browser harness failed ({}): node {} {} {manifest_url} {seconds}\n--- stdout ---\n{stdout}\
             --- stderr ---\n{stderr}",
            out.status,
            script.display(),
            player.arg()
        );
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| {
            panic!("browser harness printed no JSON line\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}")
        });
    let pb = Playback::from_json(line).unwrap_or_else(|e| {
        panic!("browser harness printed bad JSON: {e}\n--- stderr ---\n{stderr}")
    });
    if !stderr.trim().is_empty() {
        // Console errors of the page and the like: captured by libtest, so shown only when the
        // test fails (expected 404/503s would otherwise clutter every CI log).
        eprint!("--- play.mjs stderr ---\n{stderr}");
    }
    Some(pb)
}
