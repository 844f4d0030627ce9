//! The optional access log (off by default): one line per request in the combined log format
//! plus the request time, e.g.
//! `127.0.0.1 - - [23/Nov/2026:22:40:00 +0000] "GET /v1/…/main.m3u8 HTTP/1.1" 200 512 "-" "Lavf/59.27.100" 0.000081`.
//!
//! A shard never waits on disk: lines are formatted into a per-shard (thread-local) buffer,
//! which is handed to a writer thread when it passes [`HANDOFF_BYTES`] or every
//! [`FLUSH_EVERY`] (a per-shard flush task), through a bounded channel with `try_send`. When
//! the writer falls behind, the buffer is dropped and its lines counted in
//! `streampack_access_log_dropped_lines_total`.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use streampack_core::http::{RequestHead, Version};

use crate::metrics::settings::AccessLogTarget;
use crate::metrics::Metrics;

/// Buffer size at which a shard hands its lines over at once.
pub const HANDOFF_BYTES: usize = 64 * 1024;
/// Longest a line waits in a shard's buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// Buffers in flight to the writer before shards start dropping.
const QUEUE: usize = 256;

enum Msg {
    Lines(Vec<u8>),
    /// Close and open the file again (SIGHUP, after logrotate moved it).
    Reopen,
    Stop,
}

/// The writer thread's end of the log, in [`Shared`].
pub struct Sink {
    tx: flume::Sender<Msg>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// What the log writes to (`-` or a path), for `status`.
    pub target: String,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("target", &self.target)
            .finish()
    }
}

/// Opens the log and starts its writer thread; `Ok(None)` when the log is off.
pub fn open(target: &AccessLogTarget) -> std::io::Result<Option<Sink>> {
    let open_target =
        |target: &AccessLogTarget| -> std::io::Result<Box<dyn std::io::Write + Send>> {
            Ok(match target {
                AccessLogTarget::Off | AccessLogTarget::Stdout => Box::new(std::io::stdout()),
                AccessLogTarget::File(p) => Box::new(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(p)?,
                ),
            })
        };
    if *target == AccessLogTarget::Off {
        return Ok(None);
    }
    let mut out = open_target(target)?;
    let (tx, rx) = flume::bounded::<Msg>(QUEUE);
    let reopen_target = target.clone();
    let thread = std::thread::Builder::new()
        .name("access-log".into())
        .spawn(move || {
            for msg in rx.iter() {
                match msg {
                    Msg::Lines(b) => {
                        if let Err(e) = out.write_all(&b).and_then(|_| out.flush()) {
                            tracing::error!("access log write failed: {e}");
                        }
                    }
                    // A file that cannot be opened again keeps the old handle: lines go on
                    // to the moved file rather than nowhere.
                    Msg::Reopen => match open_target(&reopen_target) {
                        Ok(o) => {
                            out = o;
                            tracing::info!(target = %reopen_target, "access log reopened");
                        }
                        Err(e) => tracing::error!(
                            target = %reopen_target,
                            "access log not reopened, still writing to the old file: {e}"
                        ),
                    },
                    Msg::Stop => return,
                }
            }
        })?;
    Ok(Some(Sink {
        tx,
        thread: Mutex::new(Some(thread)),
        target: target.to_string(),
    }))
}

impl Sink {
    /// Reopens the file (on SIGHUP): lines buffered before go to the old file, later ones to
    /// the new. Blocks only if the writer's queue is full.
    pub fn reopen(&self) {
        let _ = self.tx.send(Msg::Reopen);
    }

    /// Writes what the writer holds and stops it (at shutdown, after the shards stopped).
    pub fn finish(&self) {
        let _ = self.tx.send(Msg::Stop);
        if let Ok(mut t) = self.thread.lock() {
            if let Some(t) = t.take() {
                let _ = t.join();
            }
        }
    }
}

thread_local! {
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static DATE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// What a request line needs from the head, copied only while the log is on.
pub struct Pending {
    line: String,
    user_agent: String,
    referer: String,
}

/// Notes a request about to be handled; `None` (no work) when the log is off.
#[inline]
pub fn begin(sink: Option<&Sink>, head: &RequestHead) -> Option<Pending> {
    sink?;
    let mut line = String::with_capacity(96);
    line.push_str(head.method.as_str());
    line.push(' ');
    quote_into(&head.target, &mut line);
    line.push_str(match head.version {
        Version::Http10 => " HTTP/1.0",
        Version::Http11 => " HTTP/1.1",
    });
    let h = |n| {
        let mut s = String::new();
        match head.header(n) {
            Some(v) if !v.is_empty() => quote_into(v, &mut s),
            _ => s.push('-'),
        }
        s
    };
    Some(Pending {
        line,
        user_agent: h("user-agent"),
        referer: h("referer"),
    })
}

/// Appends the request's line to this shard's buffer.
pub fn end(
    sink: Option<&Sink>,
    metrics: &Metrics,
    p: Option<Pending>,
    peer: SocketAddr,
    status: u16,
    bytes: u64,
    started: Instant,
) {
    let Some(p) = p else { return };
    let secs = started.elapsed().as_secs_f64();
    let full = BUF.with(|b| {
        let mut b = b.borrow_mut();
        let mut s = String::with_capacity(192);
        let _ = writeln!(
            s,
            "{} - - [{}] \"{}\" {} {} \"{}\" \"{}\" {:.6}",
            peer.ip(),
            date(),
            p.line,
            status,
            bytes,
            p.referer,
            p.user_agent,
            secs
        );
        b.extend_from_slice(s.as_bytes());
        b.len() >= HANDOFF_BYTES
    });
    if full {
        hand_off(sink, metrics);
    }
}

/// Hands this shard's buffered lines to the writer without waiting; drops them when it lags.
pub fn hand_off(sink: Option<&Sink>, metrics: &Metrics) {
    let Some(sink) = sink else {
        return;
    };
    let buf = BUF.with(|b| std::mem::take(&mut *b.borrow_mut()));
    if buf.is_empty() {
        return;
    }
    if let Err(e) = sink.tx.try_send(Msg::Lines(buf)) {
        let lines = match e.into_inner() {
            Msg::Lines(b) => b.iter().filter(|&&c| c == b'\n').count() as u64,
            Msg::Reopen | Msg::Stop => 0,
        };
        metrics.access_log_dropped(lines);
    }
}

/// Bytes as a quoted-string body: printable ASCII kept, `"` and `\` and the rest as `\xHH`.
fn quote_into(v: &[u8], out: &mut String) {
    for &c in v {
        if (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\' {
            out.push(c as char);
        } else {
            let _ = write!(out, "\\x{c:02X}");
        }
    }
}

/// `23/Nov/2026:22:40:00 +0000`, formatted once per second per thread.
fn date() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs {
            *d = (secs, clf_date(secs));
        }
        d.1.clone()
    })
}

fn clf_date(unix: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let rem = unix % 86_400;
    let (year, month, day) = streampack_core::time::civil_from_days(unix / 86_400);
    let name = MONTHS
        .get(usize::try_from(month - 1).unwrap_or(0))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{day:02}/{name}/{year}:{:02}:{:02}:{:02} +0000",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_quoting() {
        assert_eq!(clf_date(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf_date(1_795_473_600), "23/Nov/2026:22:40:00 +0000");
        assert_eq!(clf_date(951_782_400), "29/Feb/2000:00:00:00 +0000");
        let mut s = String::new();
        quote_into(b"a\"b\\c\n\xff ok", &mut s);
        assert_eq!(s, "a\\x22b\\x5Cc\\x0A\\xFF ok");
    }
}
