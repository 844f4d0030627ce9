//! SPEKE v2 key servers: endpoints with `--key-server` get their keys from a thread of its
//! own, which POSTs CPIX requests (content id: the channel id) and keeps what comes back in
//! the key store before anyone uses it. Owner shards never wait: they ask for what they lack
//! ([`KeyServers::want`]) and hold the segments back until it is there; a key server that
//! fails is asked again after 1, 2, 4 … 30 s, each failure logged with its reason and counted
//! on `/metrics`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use streampack_core::channel::Encryption;
use streampack_core::encryption::cpix::{self, Wanted, SPEKE_VERSION};
use streampack_core::id::Id;

use crate::keys::KeyStore;

/// How long a key server may take to answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait between two tries after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Largest answer read.
const MAX_ANSWER_BYTES: u64 = 1 << 20;

/// What a key server's request ended with (the `result` label on `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Keys received and stored.
    Ok,
    /// An HTTP error status.
    HttpError,
    /// No answer within [`REQUEST_TIMEOUT`].
    Timeout,
    /// No connection.
    Unreachable,
    /// An answer that is not usable CPIX (malformed, other content, keys missing).
    BadAnswer,
    /// The keys could not be kept on disk.
    StoreError,
}

impl Outcome {
    /// Every outcome, in label order.
    pub const ALL: [Outcome; 6] = [
        Outcome::Ok,
        Outcome::HttpError,
        Outcome::Timeout,
        Outcome::Unreachable,
        Outcome::BadAnswer,
        Outcome::StoreError,
    ];

    /// The `result` label.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::HttpError => "http_error",
            Outcome::Timeout => "timeout",
            Outcome::Unreachable => "unreachable",
            Outcome::BadAnswer => "bad_answer",
            Outcome::StoreError => "store_error",
        }
    }
}

/// One endpoint's request for the keys of some periods.
#[derive(Debug, Clone)]
pub struct Fetch {
    /// Channel id (the CPIX content id).
    pub channel: Id,
    /// Endpoint id.
    pub endpoint: Id,
    /// Key server URL.
    pub url: String,
    /// Scheme and rotation period of the endpoint.
    pub setting: (Encryption, u32),
    /// Rotation periods whose keys are missing.
    pub periods: Vec<u64>,
}

#[derive(Debug, Default)]
struct EndpointState {
    /// The key server asked (a new one starts afresh).
    url: String,
    pending: bool,
    failures: u32,
    next_try: Option<Instant>,
    last_error: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    endpoints: Mutex<HashMap<(Id, Id), EndpointState>>,
    outcomes: [AtomicU64; Outcome::ALL.len()],
}

/// The key server client: a queue to its thread and what it knows of each endpoint.
#[derive(Debug)]
pub struct KeyServers {
    tx: Mutex<mpsc::Sender<Fetch>>,
    inner: Arc<Inner>,
}

impl KeyServers {
    /// Starts the client's thread, which stores keys in `store`.
    pub fn start(store: Arc<Mutex<KeyStore>>) -> std::io::Result<KeyServers> {
        let (tx, rx) = mpsc::channel::<Fetch>();
        let inner = Arc::new(Inner::default());
        let thread_inner = Arc::clone(&inner);
        std::thread::Builder::new()
            .name("key-server".into())
            .spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(REQUEST_TIMEOUT)
                    .user_agent(concat!("streampack/", env!("CARGO_PKG_VERSION")))
                    .build();
                while let Ok(f) = rx.recv() {
                    let outcome = fetch(&agent, &store, &f);
                    thread_inner.finish(&f, outcome);
                }
            })?;
        Ok(KeyServers {
            tx: Mutex::new(tx),
            inner,
        })
    }

    /// Asks for `f`'s keys unless a request for the endpoint is under way or it must wait
    /// after failures.
    pub fn want(&self, f: Fetch) {
        {
            let mut map = self
                .inner
                .endpoints
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let st = map.entry((f.channel, f.endpoint)).or_default();
            if st.url != f.url {
                *st = EndpointState {
                    url: f.url.clone(),
                    ..EndpointState::default()
                };
            }
            if st.pending || st.next_try.is_some_and(|t| Instant::now() < t) {
                return;
            }
            st.pending = true;
        }
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let _ = tx.send(f);
    }

    /// Why the endpoint has no key: the key server's last failure, or that its answer is
    /// awaited.
    pub fn why_missing(&self, channel: &Id, endpoint: &Id, url: &str) -> String {
        let map = self
            .inner
            .endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let state = map.get(&(*channel, *endpoint)).filter(|s| s.url == url);
        match state.and_then(|s| s.last_error.clone()) {
            Some(e) => format!("no content key yet: {e}"),
            None => format!("no content key yet: waiting for the key server {url}"),
        }
    }

    /// Requests per outcome since start.
    pub fn outcomes(&self) -> Vec<(Outcome, u64)> {
        Outcome::ALL
            .iter()
            .zip(&self.inner.outcomes)
            .map(|(o, n)| (*o, n.load(Ordering::Relaxed)))
            .collect()
    }
}

impl Inner {
    fn finish(&self, f: &Fetch, outcome: Result<(), (Outcome, String)>) {
        let kind = match &outcome {
            Ok(()) => Outcome::Ok,
            Err((o, _)) => *o,
        };
        if let Some(i) = Outcome::ALL.iter().position(|o| *o == kind) {
            self.outcomes[i].fetch_add(1, Ordering::Relaxed);
        }
        let mut map = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        let st = map.entry((f.channel, f.endpoint)).or_default();
        if st.url != f.url {
            return; // the endpoint moved to another key server meanwhile
        }
        st.pending = false;
        match outcome {
            Ok(()) => {
                if st.failures > 0 {
                    tracing::info!(channel = %f.channel, endpoint = %f.endpoint, url = %f.url, "key server answered again: keys stored");
                }
                *st = EndpointState {
                    url: f.url.clone(),
                    ..EndpointState::default()
                };
            }
            Err((_, why)) => {
                st.failures = st.failures.saturating_add(1);
                // 1, 2, 4, 8, 16, then 30 s.
                let wait = Duration::from_secs(1u64 << st.failures.min(6).saturating_sub(1))
                    .min(MAX_BACKOFF);
                st.next_try = Some(Instant::now() + wait);
                tracing::warn!(
                    channel = %f.channel,
                    endpoint = %f.endpoint,
                    failures = st.failures,
                    "{why}; new segments are held back on this endpoint, trying again in {} s",
                    wait.as_secs()
                );
                st.last_error = Some(why);
            }
        }
    }
}

/// The CPIX name of an endpoint's scheme (SPEKE v2 asks AES-128 HLS keys as `cbcs`).
fn cpix_scheme(e: Encryption) -> &'static str {
    match e {
        Encryption::Cenc => "cenc",
        _ => "cbcs",
    }
}

/// One request: new key ids for the periods, the server's keys for them, stored.
fn fetch(agent: &ureq::Agent, store: &Mutex<KeyStore>, f: &Fetch) -> Result<(), (Outcome, String)> {
    let (scheme, rotation) = f.setting;
    let mut wanted = Vec::with_capacity(f.periods.len());
    for p in &f.periods {
        let mut kid = [0u8; 16];
        getrandom::fill(&mut kid).map_err(|e| (Outcome::StoreError, e.to_string()))?;
        wanted.push(Wanted {
            kid,
            period: (rotation > 0).then_some(*p),
        });
    }
    let content_id = f.channel.to_string();
    let body = cpix::request(&content_id, cpix_scheme(scheme), &wanted);
    let url = &f.url;
    let answer = agent
        .post(url)
        .set("Content-Type", "application/xml")
        .set("X-Speke-Version", SPEKE_VERSION)
        .send_string(&body);
    let answer = match answer {
        Ok(a) => a,
        Err(ureq::Error::Status(code, _)) => {
            return Err((
                Outcome::HttpError,
                format!("key server {url} answered HTTP {code}"),
            ))
        }
        Err(ureq::Error::Transport(t)) => {
            let timed_out = t.to_string().contains("timed out")
                || matches!(t.kind(), ureq::ErrorKind::Io)
                    && t.to_string().to_ascii_lowercase().contains("timeout");
            return Err(if timed_out {
                (
                    Outcome::Timeout,
                    format!(
                        "key server {url} did not answer within {} s",
                        REQUEST_TIMEOUT.as_secs()
                    ),
                )
            } else {
                (
                    Outcome::Unreachable,
                    format!("key server {url} cannot be reached: {t}"),
                )
            });
        }
    };
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(answer.into_reader(), MAX_ANSWER_BYTES),
        &mut text,
    )
    .map_err(|e| {
        (
            Outcome::Timeout,
            format!("key server {url}: its answer broke off: {e}"),
        )
    })?;
    let mut answer = cpix::parse_response(&text, &content_id, &wanted)
        .map_err(|e| (Outcome::BadAnswer, format!("key server {url}: {e}")))?;
    // Without rotation a key is period 0's, whatever was asked.
    for (k, p) in answer.keys.iter_mut().zip(&f.periods) {
        k.period = *p;
    }
    let now_ms = crate::clock::now().unix_ms;
    let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
    store
        .insert_fetched(&f.channel, &f.endpoint, f.setting, &answer, url, now_ms)
        .map_err(|e| {
            (
                Outcome::StoreError,
                format!("keys from {url} cannot be stored: {e}"),
            )
        })
}
