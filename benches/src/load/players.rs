//! Mode (b): simulated live HLS players. Each player follows the endpoint as a real one does:
//! load the playlist (following a master to its first variant), start at the live edge, reload
//! every target duration, fetch every new segment once. A segment is on time when it was fully
//! received within its own duration of first being listed (before the next one is due); a
//! player is served well when every segment it saw was on time and none was skipped.

use super::client::{Client, Url};
use super::playlist::{self, MediaPlaylist, Playlist};
use super::stats::{fmt_us, Samples};
use std::time::{Duration, Instant};

/// What to play.
#[derive(Debug, Clone)]
pub struct PlayersArgs {
    /// The endpoint's main playlist.
    pub url: Url,
    /// Players in total.
    pub players: usize,
    /// How long each plays.
    pub duration: Duration,
    /// Executor threads.
    pub threads: usize,
    /// Try io_uring.
    pub uring: bool,
    /// Spread player starts over this long (real audiences do not start in the same ms).
    pub ramp: Duration,
}

/// One player's account.
#[derive(Debug, Default, Clone, Copy)]
pub struct PlayerStats {
    /// Segments fully received.
    pub segments: u64,
    /// Of those, received after the next segment was due.
    pub late: u64,
    /// Segments that left the playlist before the player fetched them.
    pub skipped: u64,
    /// Failed requests (status or I/O).
    pub errors: u64,
    /// Segment bytes received.
    pub bytes: u64,
}

impl PlayerStats {
    /// Got at least one segment, all on time, none skipped, no error.
    pub fn served_well(&self) -> bool {
        self.segments > 0 && self.late == 0 && self.skipped == 0 && self.errors == 0
    }
}

/// A thread's (or the merged) result.
#[derive(Debug, Default)]
pub struct PlayersResult {
    /// Every player's account.
    pub players: Vec<PlayerStats>,
    /// Segment download times.
    pub segment_latency: Samples,
    /// Playlist reload times.
    pub playlist_latency: Samples,
}

struct Player {
    client: Option<Client>,
    stats: PlayerStats,
}

impl Player {
    async fn fetch(&mut self, url: &Url, keep: bool) -> Option<super::client::Response> {
        let c = match self.client.take() {
            Some(c) => c,
            None => Client::connect(url.addr).await.ok()?,
        };
        let mut c = c;
        match c.get(url.request("GET", None), keep, false).await {
            Ok((r, _)) if r.status == 200 => {
                if !r.close {
                    self.client = Some(c);
                }
                Some(r)
            }
            Ok((r, _)) => {
                if !r.close {
                    self.client = Some(c);
                }
                None
            }
            Err(_) => None,
        }
    }

    async fn load(&mut self, url: &Url) -> Option<(Url, MediaPlaylist)> {
        let mut url = url.clone();
        for _ in 0..3 {
            let r = self.fetch(&url, true).await?;
            match playlist::parse(&r.body)? {
                Playlist::Media(m) => return Some((url, m)),
                Playlist::Master(v) => url = url.join(&v).ok()?,
            }
        }
        None
    }
}

async fn play(args: PlayersArgs, delay: Duration, out: &mut PlayersResult) -> PlayerStats {
    monoio::time::sleep(delay).await;
    let deadline = Instant::now() + args.duration;
    let mut p = Player {
        client: None,
        stats: PlayerStats::default(),
    };
    // The media playlist's URL, once a master (if any) was followed.
    let mut media_url: Option<Url> = None;
    let mut next_seq: Option<u64> = None;
    // When each segment still to fetch was first listed.
    while Instant::now() < deadline {
        let t_reload = Instant::now();
        let loaded = match &media_url {
            None => p.load(&args.url).await,
            Some(u) => {
                let r = p.fetch(u, true).await;
                match r.as_ref().and_then(|r| playlist::parse(&r.body)) {
                    Some(Playlist::Media(m)) => Some((u.clone(), m)),
                    _ => None,
                }
            }
        };
        let Some((url, pl)) = loaded else {
            p.stats.errors += 1;
            monoio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        out.playlist_latency.record(t_reload.elapsed());
        let seen_at = Instant::now();
        let start = match next_seq {
            // Start at the live edge: the newest segment.
            None => pl.last_seq().unwrap_or(pl.media_sequence),
            Some(n) => {
                if n < pl.media_sequence {
                    p.stats.skipped += pl.media_sequence - n;
                }
                n.max(pl.media_sequence)
            }
        };
        for (seq, dur, uri) in pl.segments.iter().filter(|s| s.0 >= start) {
            let Ok(seg_url) = url.join(uri) else {
                p.stats.errors += 1;
                continue;
            };
            let t0 = Instant::now();
            match p.fetch(&seg_url, false).await {
                Some(r) => {
                    p.stats.segments += 1;
                    p.stats.bytes += r.body_len;
                    out.segment_latency.record(t0.elapsed());
                    if seen_at.elapsed() > Duration::from_secs_f64(dur.max(0.0)) {
                        p.stats.late += 1;
                    }
                }
                None => p.stats.errors += 1,
            }
            next_seq = Some(seq + 1);
        }
        if next_seq.is_none() {
            next_seq = Some(start);
        }
        media_url = Some(url);
        if pl.ended {
            break;
        }
        let reload = Duration::from_secs_f64(pl.target_duration_s.clamp(0.1, 60.0));
        let wake = t_reload + reload;
        let now = Instant::now();
        if wake > now {
            monoio::time::sleep((wake - now).min(deadline.saturating_duration_since(now))).await;
        }
    }
    p.stats
}

async fn thread(args: PlayersArgs, index: usize, threads: usize) -> PlayersResult {
    let n = super::share(args.players, threads, index);
    let tasks: Vec<_> = (0..n)
        .map(|k| {
            let args = args.clone();
            // Spread starts evenly over the ramp, across all threads.
            let global = k * threads + index;
            let delay = args
                .ramp
                .mul_f64(global as f64 / args.players.max(1) as f64);
            monoio::spawn(async move {
                let mut out = PlayersResult::default();
                let s = play(args, delay, &mut out).await;
                out.players.push(s);
                out
            })
        })
        .collect();
    let mut total = PlayersResult::default();
    for t in tasks {
        let r = t.await;
        total.players.extend(r.players);
        total.segment_latency.merge(r.segment_latency);
        total.playlist_latency.merge(r.playlist_latency);
    }
    total
}

/// Runs mode (b) and prints the report.
pub fn run(args: &PlayersArgs) -> PlayersResult {
    let threads = args.threads.max(1);
    let make = {
        let args = args.clone();
        move |i: usize| thread(args.clone(), i, threads)
    };
    let mut total = PlayersResult::default();
    for r in super::run_threads(threads, args.uring, make) {
        total.players.extend(r.players);
        total.segment_latency.merge(r.segment_latency);
        total.playlist_latency.merge(r.playlist_latency);
    }
    let well = total.players.iter().filter(|p| p.served_well()).count();
    let sum = |f: fn(&PlayerStats) -> u64| total.players.iter().map(f).sum::<u64>();
    let (segments, late, skipped, errors, bytes) = (
        sum(|p| p.segments),
        sum(|p| p.late),
        sum(|p| p.skipped),
        sum(|p| p.errors),
        sum(|p| p.bytes),
    );
    let s = total.segment_latency.percentiles(&[0.5, 0.99]);
    let pl = total.playlist_latency.percentiles(&[0.5, 0.99]);
    println!(
        "players {}: {} players, {:.0}s each",
        args.url.path,
        args.players,
        args.duration.as_secs_f64()
    );
    println!(
        "  served well {well}/{}; segments {segments} ({:.1} MiB), late {late}, skipped {skipped}, errors {errors}",
        total.players.len(),
        bytes as f64 / 1048576.0
    );
    println!(
        "  segment fetch p50 {} p99 {}; playlist p50 {} p99 {}",
        fmt_us(s[0]),
        fmt_us(s[1]),
        fmt_us(pl[0]),
        fmt_us(pl[1])
    );
    println!(
        "RESULT mode=players players={} served_well={well} segments={segments} late={late} skipped={skipped} errors={errors} seg_p50_us={} seg_p99_us={}",
        total.players.len(),
        s[0],
        s[1]
    );
    total
}

#[cfg(test)]
mod tests {
    use super::PlayerStats;

    #[test]
    fn served_well_needs_a_segment_and_no_trouble() {
        let ok = PlayerStats {
            segments: 3,
            ..PlayerStats::default()
        };
        assert!(ok.served_well());
        assert!(!PlayerStats::default().served_well());
        assert!(!PlayerStats { late: 1, ..ok }.served_well());
        assert!(!PlayerStats { skipped: 1, ..ok }.served_well());
        assert!(!PlayerStats { errors: 1, ..ok }.served_well());
    }
}
