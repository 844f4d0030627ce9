//! `streampack-load`: load generator for streampack (and any HTTP/1.1 origin, e.g. nginx).
//! Each run prints a human summary and one `RESULT key=value …` line for scripts.

use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use streampack_benches::load::client::Url;
use streampack_benches::load::dash_capture::Capture;
use streampack_benches::load::encoders::{self, EncodersArgs, Target};
use streampack_benches::load::hammer::{self, HammerArgs};
use streampack_benches::load::ll_encoders::{self, LlEncodersArgs};
use streampack_benches::load::ll_players::{self, LlPlayersArgs};
use streampack_benches::load::players::{self, PlayersArgs};

#[derive(Parser, Debug)]
#[command(
    name = "streampack-load",
    version,
    about = "Load generator for live HLS origins"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Args, Debug)]
struct Common {
    /// Executor threads of the load generator.
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    /// Seconds to run.
    #[arg(long, short = 'd', global = true, default_value_t = 10.0)]
    duration: f64,
    /// io driver of the load generator (`uring` falls back to epoll when unavailable).
    #[arg(long, global = true, value_parser = ["uring", "epoll"], default_value = "epoll")]
    io_driver: String,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// N keep-alive connections request one URL back to back: req/s, bytes/s, latency.
    Hammer {
        /// The URL.
        url: String,
        /// Connections in total.
        #[arg(long, short = 'c', default_value_t = 64)]
        connections: usize,
        /// HEAD instead of GET.
        #[arg(long)]
        head: bool,
    },
    /// N live HLS players following an endpoint: how many got every segment in time.
    Players {
        /// The endpoint's main playlist URL.
        url: String,
        /// Players.
        #[arg(long, short = 'n', default_value_t = 100)]
        players: usize,
        /// Seconds over which player starts are spread.
        #[arg(long, default_value_t = 2.0)]
        ramp: f64,
    },
    /// N LL-HLS players parked on blocking playlist reloads (`_HLS_msn`/`_HLS_part`): how long
    /// the server takes to answer all of them once a part appears (the wake-up spread).
    LlPlayers {
        /// The media playlist URL of a low-latency endpoint (e.g. `…/v0.m3u8`).
        #[arg(required_unless_present = "urls_file", conflicts_with = "urls_file")]
        url: Option<String>,
        /// A file of media playlist URLs, one a line: players spread over them round-robin.
        #[arg(long)]
        urls_file: Option<std::path::PathBuf>,
        /// Players (one keep-alive connection each).
        #[arg(long, short = 'n', default_value_t = 1000)]
        players: usize,
        /// Seconds over which player starts are spread (part of the run's duration).
        #[arg(long, default_value_t = 2.0)]
        ramp: f64,
        /// Write every blocking request to this CSV file
        /// (`msn,part,sent_us,got_us,rx_us,status,thread,playlist`).
        #[arg(long)]
        dump: Option<std::path::PathBuf>,
    },
    /// Low-latency DASH encoders, one channel each, replaying an ffmpeg `-ldash 1` capture in
    /// real time: each segment one chunked PUT sent a CMAF chunk at a time, then the live MPD.
    LlEncoders {
        /// File of targets, one line per channel: `INPUT_BASE_URL` (more words are ignored).
        #[arg(long)]
        targets: std::path::PathBuf,
        /// The capture's MPD (ffmpeg `-f dash -streaming 1 -ldash 1 -use_timeline 1` written to
        /// a directory); the files it names are read beside it.
        #[arg(long)]
        capture: std::path::PathBuf,
        /// Seconds over which channel starts are spread (their chunks not all at one instant).
        #[arg(long, default_value_t = 0.5)]
        stagger: f64,
        /// Segments each live MPD lists per Representation.
        #[arg(long, default_value_t = 6)]
        list_size: usize,
    },
    /// M encoders pushing segments and playlists by PUT, one channel each.
    Encoders {
        /// File of targets, one line per encoder: `INPUT_BASE_URL [SERVED_PLAYLIST_URL]`.
        #[arg(long)]
        targets: std::path::PathBuf,
        /// Segment files to push (in turn).
        #[arg(long, required = true, num_args = 1..)]
        segments: Vec<std::path::PathBuf>,
        /// Segment duration written in the playlists, seconds.
        #[arg(long, default_value_t = 2.0)]
        segment_duration: f64,
        /// One segment per segment duration (a live encoder) instead of back to back.
        #[arg(long)]
        realtime: bool,
        /// Stop after this many segments per encoder.
        #[arg(long)]
        count: Option<u64>,
        /// Segments listed by each playlist.
        #[arg(long, default_value_t = 6)]
        list_size: u64,
        /// DELETE segments that left the playlist, as ffmpeg's `delete_segments`.
        #[arg(long)]
        delete: bool,
    },
}

fn parse_targets(text: &str) -> Result<Vec<Target>, String> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let input = words.next().ok_or("empty target line")?;
        let mut input = Url::parse(input)?;
        if !input.path.ends_with('/') {
            input.path.push('/');
        }
        let served = words.next().map(Url::parse).transpose()?;
        out.push(Target { input, served });
    }
    if out.is_empty() {
        return Err("no targets".into());
    }
    Ok(out)
}

/// URLs, one a line (blank lines and `#` comments skipped).
fn parse_urls(text: &str) -> Result<Vec<Url>, String> {
    let urls = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(Url::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if urls.is_empty() {
        return Err("no URLs".into());
    }
    Ok(urls)
}

fn read(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn duration(secs: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs).map_err(|e| format!("bad duration {secs}: {e}"))
}

fn run(cli: Cli) -> Result<(), String> {
    // Every mode holds one descriptor per connection.
    streampack_benches::load::raise_nofile();
    let c = &cli.common;
    let uring = c.io_driver == "uring";
    let d = duration(c.duration)?;
    match cli.mode {
        Mode::Hammer {
            url,
            connections,
            head,
        } => {
            let r = hammer::run(&HammerArgs {
                url: Url::parse(&url)?,
                connections,
                duration: d,
                threads: c.threads,
                head,
                uring,
            });
            if r.ok == 0 {
                return Err("no request succeeded".into());
            }
        }
        Mode::Players { url, players, ramp } => {
            players::run(&PlayersArgs {
                url: Url::parse(&url)?,
                players,
                duration: d,
                threads: c.threads,
                uring,
                ramp: duration(ramp)?,
            });
        }
        Mode::LlPlayers {
            url,
            urls_file,
            players,
            ramp,
            dump,
        } => {
            let urls = match (url, urls_file) {
                (Some(u), _) => vec![Url::parse(&u)?],
                (None, Some(f)) => parse_urls(&read(&f)?)?,
                (None, None) => return Err("a playlist URL or --urls-file is needed".into()),
            };
            // One descriptor per player, and a few for the executors.
            let nofile = streampack_benches::load::raise_nofile().unwrap_or(0);
            let needed = u64::try_from(players)
                .unwrap_or(u64::MAX)
                .saturating_add(32);
            if nofile < needed {
                eprintln!(
                    "streampack-load: {players} players need ~{needed} open files, the limit is \
                     {nofile}: some players will fail to connect"
                );
            }
            let r = ll_players::run(&LlPlayersArgs {
                urls,
                players,
                duration: d,
                threads: c.threads,
                uring,
                ramp: duration(ramp)?,
                dump,
            });
            if !r.requests.iter().any(|q| q.status == 200) {
                return Err("no blocking request was answered".into());
            }
        }
        Mode::LlEncoders {
            targets,
            capture,
            stagger,
            list_size,
        } => {
            let inputs = parse_targets(&read(&targets)?)?
                .into_iter()
                .map(|t| t.input)
                .collect();
            let r = ll_encoders::run(&LlEncodersArgs {
                inputs,
                capture: Arc::new(Capture::load(&capture)?),
                duration: d,
                threads: c.threads,
                uring,
                stagger: duration(stagger)?,
                list_size,
            });
            if r.segments == 0 {
                return Err("no segment was accepted".into());
            }
        }
        Mode::Encoders {
            targets,
            segments,
            segment_duration,
            realtime,
            count,
            list_size,
            delete,
        } => {
            let text = std::fs::read_to_string(&targets)
                .map_err(|e| format!("{}: {e}", targets.display()))?;
            let bodies = segments
                .iter()
                .map(|p| {
                    std::fs::read(p)
                        .map(Bytes::from)
                        .map_err(|e| format!("{}: {e}", p.display()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let r = encoders::run(&EncodersArgs {
                targets: parse_targets(&text)?,
                segments: bodies,
                segment_duration,
                realtime,
                duration: d,
                count,
                list_size,
                delete,
                threads: c.threads,
                uring,
            });
            if r.segments == 0 {
                return Err("no segment was accepted".into());
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("streampack-load: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modes_and_common_flags() {
        let cli = Cli::try_parse_from([
            "streampack-load",
            "hammer",
            "http://127.0.0.1:8080/x",
            "-c",
            "8",
            "--threads",
            "2",
            "-d",
            "3",
        ])
        .unwrap();
        assert_eq!(cli.common.threads, 2);
        assert_eq!(cli.common.duration, 3.0);
        assert!(matches!(
            cli.mode,
            Mode::Hammer {
                connections: 8,
                head: false,
                ..
            }
        ));
        let cli = Cli::try_parse_from([
            "streampack-load",
            "encoders",
            "--targets",
            "t.txt",
            "--segments",
            "a.ts",
            "b.ts",
            "--count",
            "5",
        ])
        .unwrap();
        let Mode::Encoders {
            segments, count, ..
        } = cli.mode
        else {
            panic!("encoders")
        };
        assert_eq!(segments.len(), 2);
        assert_eq!(count, Some(5));
        assert!(Cli::try_parse_from(["streampack-load", "players"]).is_err());
        let cli = Cli::try_parse_from([
            "streampack-load",
            "ll-players",
            "http://127.0.0.1:8080/v1/c/e/v0.m3u8",
            "-n",
            "20000",
            "--threads",
            "2",
        ])
        .unwrap();
        assert!(matches!(cli.mode, Mode::LlPlayers { players: 20000, .. }));
        let cli =
            Cli::try_parse_from(["streampack-load", "ll-players", "--urls-file", "u.txt"]).unwrap();
        assert!(matches!(
            cli.mode,
            Mode::LlPlayers {
                url: None,
                urls_file: Some(_),
                ..
            }
        ));
        assert!(Cli::try_parse_from(["streampack-load", "ll-players"]).is_err());
        assert!(Cli::try_parse_from([
            "streampack-load",
            "ll-players",
            "http://127.0.0.1/a.m3u8",
            "--urls-file",
            "u.txt"
        ])
        .is_err());
        let cli = Cli::try_parse_from([
            "streampack-load",
            "ll-encoders",
            "--targets",
            "t.txt",
            "--capture",
            "cap/main.mpd",
        ])
        .unwrap();
        assert!(
            matches!(cli.mode, Mode::LlEncoders { stagger, list_size: 6, .. } if stagger == 0.5)
        );
        assert!(
            Cli::try_parse_from(["streampack-load", "--io-driver", "x", "hammer", "u"]).is_err()
        );
    }

    #[test]
    fn targets_file() {
        let t = parse_targets(
            "# comment\nhttp://127.0.0.1:8081/v1/a/b http://127.0.0.1:8080/v1/a/e/main.m3u8\n\nhttp://127.0.0.1:9/dav/ch1/\n",
        )
        .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].input.path, "/v1/a/b/");
        assert_eq!(t[0].served.as_ref().unwrap().path, "/v1/a/e/main.m3u8");
        assert_eq!(
            t[1].input.join("seg_00001.ts").unwrap().path,
            "/dav/ch1/seg_00001.ts"
        );
        assert!(t[1].served.is_none());
        let u = parse_urls("# players\nhttp://127.0.0.1:8080/v1/a/e/v0.m3u8\n\nhttp://127.0.0.1:8080/v1/b/e/v0.m3u8\n")
            .unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u[1].path, "/v1/b/e/v0.m3u8");
        assert!(parse_urls("\n").is_err());
        assert!(parse_targets("\n").is_err());
        assert!(duration(-1.0).is_err());
    }
}
