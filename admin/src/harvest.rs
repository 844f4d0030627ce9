//! `streampackctl harvest`: a closed window of an endpoint written out as a standalone VOD
//! (playlists with `EXT-X-ENDLIST`, init and media segments) that plays from the file system
//! or any static web server.
//!
//! The endpoint is found over the admin socket (its URL, its AuthKey); the media comes over
//! HTTP from the daemon's pull listener, as a player would get it: the closed window's
//! manifest (`?start=…&end=…`), every playlist it names, every segment they list. A window
//! that has not ended yet is waited for. Files are written below the output directory under
//! their URL paths; playlists last, so a directory with a playlist is complete.

use crate::client;
use crate::error::CtlError;
use crate::fetch::Fetcher;
use crate::socket::SocketChoice;
use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use streampack_core::admin::proto::{Request, Response, StatusView};
use streampack_core::timeshift::query::{parse_time, Window};

/// `harvest CH EP --start T --end T --out DIR`.
#[derive(Debug, clap::Args)]
pub struct HarvestArgs {
    /// Channel id or name
    #[arg(value_name = "CH")]
    pub channel: String,
    /// Endpoint id or name
    #[arg(value_name = "EP")]
    pub endpoint: String,
    /// Start of the window: Unix seconds or RFC 3339 UTC (2026-12-06T17:00:00Z)
    #[arg(long, value_name = "T")]
    pub start: String,
    /// End of the window (after start); a window still to end is waited for
    #[arg(long, value_name = "T")]
    pub end: String,
    /// Directory to write the VOD into (created; must be empty unless --force)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Write into a directory that is not empty (files of the same names are replaced)
    #[arg(long)]
    pub force: bool,
}

/// What was written.
#[derive(Debug, serde::Serialize)]
pub struct Summary {
    /// The output directory.
    pub out: String,
    /// The manifest to play, relative to `out`.
    pub manifest: String,
    /// Playlists written.
    pub playlists: usize,
    /// Media segments written.
    pub segments: usize,
    /// Init segments written.
    pub init_segments: usize,
    /// Bytes of media written.
    pub bytes: u64,
    /// Media duration, seconds (of the longest playlist).
    pub duration_secs: f64,
    /// The window, RFC 3339.
    pub start: String,
    /// The window's end.
    pub end: String,
}

fn fail(msg: impl Into<String>) -> CtlError {
    CtlError::Harvest(msg.into())
}

/// Runs a harvest; the summary is printed by the caller.
pub fn run(socket: &SocketChoice, a: &HarvestArgs) -> Result<Summary, CtlError> {
    let start_ms = parse_time(&a.start).ok_or_else(|| {
        fail(format!(
            "--start {:?} is not a time (Unix seconds or RFC 3339 UTC)",
            a.start
        ))
    })?;
    let end_ms = parse_time(&a.end).ok_or_else(|| {
        fail(format!(
            "--end {:?} is not a time (Unix seconds or RFC 3339 UTC)",
            a.end
        ))
    })?;
    if end_ms <= start_ms {
        return Err(fail("--end must be after --start"));
    }
    prepare_dir(&a.out, a.force)?;
    let req = Request::EndpointShow {
        channel: a.channel.clone(),
        endpoint: a.endpoint.clone(),
    };
    let ep = match client::call(socket, &req, client::READ_TIMEOUT)? {
        Response::Endpoint(ep) => ep,
        Response::Error(e) => return Err(CtlError::Refused(e)),
        _ => {
            return Err(fail(
                "streampackd answered an endpoint request with something else",
            ))
        }
    };
    let status = match client::call(socket, &Request::Status, client::READ_TIMEOUT)? {
        Response::Status(s) => s,
        Response::Error(e) => return Err(CtlError::Refused(e)),
        _ => {
            return Err(fail(
                "streampackd answered a status request with something else",
            ))
        }
    };
    let mut fetch = fetcher(&ep.url, &ep.auth_keys, &status)?;
    let window = Window::Closed { start_ms, end_ms };
    let query = window.to_query();
    let (base, manifest) = ep
        .url
        .rsplit_once('/')
        .map(|(b, m)| (format!("{}/", split_path(b)), m.to_string()))
        .ok_or_else(|| fail(format!("endpoint URL {} has no manifest name", ep.url)))?;
    let now = unix_ms();
    if end_ms > now {
        eprintln!(
            "harvest: the window ends in {} s; waiting for it",
            (end_ms - now).div_ceil(1000)
        );
        std::thread::sleep(Duration::from_millis(end_ms - now + 1_000));
    }
    let main_text = fetch.text(&format!("{base}{manifest}?{query}"))?;
    let listed = if manifest.ends_with(".mpd") {
        mpd_objects(&manifest, &main_text)?
    } else {
        playlist_objects(&mut fetch, &base, &query, manifest.clone(), main_text)?
    };
    let Listed {
        manifests,
        objects,
        segments,
        inits,
        duration_ms,
    } = listed;
    if segments == 0 {
        return Err(fail("the window holds no segment"));
    }
    let mut bytes = 0u64;
    let progress = Progress::new(objects.len());
    for (i, rel) in objects.iter().enumerate() {
        let body = fetch.bytes(&format!("{base}{rel}"))?;
        bytes += body.len() as u64;
        write(&a.out, rel, &body)?;
        progress.show(i + 1, bytes);
    }
    progress.done();
    for (rel, text) in &manifests {
        write(&a.out, rel, text.as_bytes())?;
    }
    Ok(Summary {
        out: a.out.display().to_string(),
        manifest,
        playlists: manifests.len(),
        segments,
        init_segments: inits,
        bytes,
        duration_secs: duration_ms as f64 / 1000.0,
        start: streampack_core::time::format_datetime(start_ms),
        end: streampack_core::time::format_datetime(end_ms),
    })
}

/// What a window's manifests list: the manifests to write (as written), the objects to fetch
/// (paths relative to the endpoint), counts and duration.
struct Listed {
    manifests: Vec<(String, String)>,
    objects: BTreeSet<String>,
    segments: usize,
    inits: usize,
    duration_ms: u64,
}

/// A static MPD's init and media segments (the MPD is written as it is: its paths are
/// relative and carry no query).
fn mpd_objects(manifest: &str, text: &str) -> Result<Listed, CtlError> {
    use streampack_core::dash::parse::{parse_mpd, SegmentsIn};
    let mpd = parse_mpd(manifest, text.as_bytes())
        .map_err(|e| fail(format!("the window's MPD cannot be read: {e}")))?;
    if mpd.dynamic {
        return Err(fail(
            "the window did not end (the daemon answered a dynamic MPD)",
        ));
    }
    let mut objects = BTreeSet::new();
    let (mut segments, mut inits) = (0, 0);
    for rep in mpd
        .periods
        .iter()
        .flat_map(|p| p.adaptation_sets.iter())
        .flat_map(|s| s.representations.iter())
    {
        if let Some(init) = &rep.init {
            if objects.insert(local(init)?) {
                inits += 1;
            }
        }
        if let SegmentsIn::Listed(list) = &rep.segments {
            for s in list {
                if objects.insert(local(&s.path)?) {
                    segments += 1;
                }
            }
        }
    }
    Ok(Listed {
        manifests: vec![(manifest.to_string(), text.to_string())],
        objects,
        segments,
        inits,
        duration_ms: mpd.media_presentation_duration_ms.unwrap_or(0),
    })
}

/// A playlist's playlists and objects, fetched with the window's query; written without it.
fn playlist_objects(
    fetch: &mut Fetcher,
    base: &str,
    query: &str,
    manifest: String,
    main_text: String,
) -> Result<Listed, CtlError> {
    // Every playlist below the main one, then every object they list.
    let mut playlists = vec![(manifest, main_text)];
    for uri in child_playlists(&playlists[0].1) {
        let rel = local(&uri)?;
        let text = fetch.text(&format!("{base}{rel}?{query}"))?;
        playlists.push((rel, text));
    }
    let mut objects = BTreeSet::new();
    let mut duration_ms = 0u64;
    let mut segments = 0usize;
    let mut inits = 0usize;
    for (rel, text) in &playlists {
        if is_master(text) {
            continue;
        }
        if !text.contains("#EXT-X-ENDLIST") {
            return Err(fail(format!(
                "{rel} of the window did not end (the daemon answered a live playlist)"
            )));
        }
        duration_ms = duration_ms.max(playlist_duration_ms(text));
        let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
        for (uri, init) in media_uris(text) {
            let path = if dir.is_empty() {
                local(&uri)?
            } else {
                format!("{dir}/{}", local(&uri)?)
            };
            if objects.insert(path) {
                if init {
                    inits += 1;
                } else {
                    segments += 1;
                }
            }
        }
    }
    let manifests = playlists
        .iter()
        .map(|(rel, text)| (rel.clone(), strip_queries(text)))
        .collect();
    Ok(Listed {
        manifests,
        objects,
        segments,
        inits,
        duration_ms,
    })
}

/// The text `harvest` prints without `--json`.
pub fn human(s: &Summary) -> String {
    format!(
        "harvested {} segments ({:.1} s, {:.1} MB) of {} .. {} into {}\nplay: {}/{}\n",
        s.segments,
        s.duration_secs,
        s.bytes as f64 / 1e6,
        s.start,
        s.end,
        s.out,
        s.out,
        s.manifest
    )
}

fn fetcher(url: &str, keys: &[String], status: &StatusView) -> Result<Fetcher, CtlError> {
    let auth = keys
        .first()
        .map(|k| (status.auth_key_header.clone(), k.clone()));
    Fetcher::new(url, auth).map_err(fail)
}

/// `/v1/ch/ep` of `http://host:port/v1/ch/ep`.
fn split_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("/", |i| &rest[i..])
}

fn prepare_dir(dir: &Path, force: bool) -> Result<(), CtlError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() && !force {
                return Err(fail(format!(
                    "{} is not empty: name a new directory, or pass --force to write into it",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(dir)
            .map_err(|e| fail(format!("cannot create {}: {e}", dir.display()))),
        Err(e) => Err(fail(format!("cannot read {}: {e}", dir.display()))),
    }
}

fn write(dir: &Path, rel: &str, body: &[u8]) -> Result<(), CtlError> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| fail(format!("cannot create {}: {e}", parent.display())))?;
    }
    std::fs::write(&path, body).map_err(|e| fail(format!("cannot write {}: {e}", path.display())))
}

/// A playlist URI as a relative path below the output directory: its query dropped; refused
/// when it could leave the directory.
fn local(uri: &str) -> Result<String, CtlError> {
    let path = uri.split('?').next().unwrap_or_default();
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.contains("://")
        || path
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
    if bad {
        return Err(fail(format!(
            "cannot harvest the URI {uri:?}: not a relative path"
        )));
    }
    Ok(path.to_string())
}

fn is_master(text: &str) -> bool {
    text.contains("#EXT-X-STREAM-INF")
}

/// The playlists a master names: variant streams and renditions' `URI="…"`.
fn child_playlists(text: &str) -> Vec<String> {
    if !is_master(text) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("#EXT-X-MEDIA:") {
            out.extend(uri_attr(line));
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            out.push(line.trim().to_string());
        }
    }
    out.dedup();
    out
}

/// `(uri, is_init)` of a media playlist's segments and `EXT-X-MAP`s.
fn media_uris(text: &str) -> Vec<(String, bool)> {
    text.lines()
        .filter_map(|line| {
            if line.starts_with("#EXT-X-MAP:") {
                uri_attr(line).map(|u| (u, true))
            } else if !line.starts_with('#') && !line.trim().is_empty() {
                Some((line.trim().to_string(), false))
            } else {
                None
            }
        })
        .collect()
}

fn uri_attr(line: &str) -> Option<String> {
    let at = line.find("URI=\"")? + 5;
    let end = line[at..].find('"')? + at;
    Some(line[at..end].to_string())
}

fn playlist_duration_ms(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .filter_map(|v| v.split(',').next()?.parse::<f64>().ok())
        .map(|s| (s * 1000.0).round() as u64)
        .sum()
}

/// The playlist with the window's query taken off every URI: the files sit beside it.
fn strip_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if !line.starts_with('#') {
            out.push_str(line.split('?').next().unwrap_or_default());
        } else if let Some(at) = line.find("URI=\"").map(|a| a + 5) {
            let end = line[at..].find('"').map_or(line.len(), |e| e + at);
            let uri = &line[at..end];
            out.push_str(&line[..at]);
            out.push_str(uri.split('?').next().unwrap_or_default());
            out.push_str(&line[end..]);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A progress bar on stderr when it is a terminal.
struct Progress {
    total: usize,
    tty: bool,
    started: Instant,
}

impl Progress {
    fn new(total: usize) -> Progress {
        Progress {
            total,
            tty: std::io::stderr().is_terminal(),
            started: Instant::now(),
        }
    }

    fn show(&self, done: usize, bytes: u64) {
        if !self.tty {
            return;
        }
        let width = 30;
        let filled = done * width / self.total.max(1);
        let _ = write!(
            std::io::stderr(),
            "\rharvest [{}{}] {done}/{} objects, {:.1} MB, {:.0} s",
            "#".repeat(filled),
            ".".repeat(width - filled),
            self.total,
            bytes as f64 / 1e6,
            self.started.elapsed().as_secs_f64()
        );
    }

    fn done(&self) {
        if self.tty {
            let _ = writeln!(std::io::stderr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_kept_below_the_directory() {
        for ok in ["hi/index.m3u8?start=1&end=2", "123.ts", "main/init1.mp4"] {
            assert!(local(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/abs.ts",
            "../x.ts",
            "a/../b",
            "http://h/x.ts",
            "a//b",
            "?q",
        ] {
            assert!(local(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn playlists_lose_the_window_query() {
        let master = "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",URI=\"au/index.m3u8?start=1&end=2\"\n\
                      #EXT-X-STREAM-INF:BANDWIDTH=1\nhi/index.m3u8?start=1&end=2\n";
        assert_eq!(
            child_playlists(master),
            ["au/index.m3u8?start=1&end=2", "hi/index.m3u8?start=1&end=2"]
        );
        assert_eq!(
            strip_queries(master),
            "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",URI=\"au/index.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1\nhi/index.m3u8\n"
        );
        let media = "#EXTM3U\n#EXT-X-MAP:URI=\"init1.mp4\"\n#EXTINF:2.000,\n5.m4s\n#EXTINF:1.500,\n6.m4s\n#EXT-X-ENDLIST\n";
        assert_eq!(
            media_uris(media),
            [
                ("init1.mp4".to_string(), true),
                ("5.m4s".into(), false),
                ("6.m4s".into(), false)
            ]
        );
        assert_eq!(playlist_duration_ms(media), 3_500);
        assert_eq!(split_path("http://127.0.0.1:8081/v1/c/e"), "/v1/c/e");
    }
}
