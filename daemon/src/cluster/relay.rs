//! Pushes relayed to the other nodes receiving a channel's inputs: each push an encoder made
//! here (segment, playlist, manifest, deletion) is sent on, in the order it arrived, to the
//! ingest of each such node with the cluster secret, so that every node making the channel's
//! media has both of its inputs. One thread and one bounded queue per target node: a slow or
//! dead node delays only its own relays, and when its queue is full the newest pushes for it
//! are dropped (counted and logged), never the ingest that made them.

use bytes::Bytes;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use streampack_core::cluster::PEER_HEADER;

/// Pushes waiting per target node.
const QUEUE: usize = 256;
/// A relayed push's time limit (the target is on the cluster's own network).
const TIMEOUT: Duration = Duration::from_secs(5);

/// One push to send on.
struct Job {
    /// `PUT` or `DELETE`.
    method: &'static str,
    /// The request target as the encoder sent it (`/v1/<channel>/<input>/<path>`).
    target: String,
    body: Option<Bytes>,
    secret: Arc<str>,
}

/// The relay queues, by target.
#[derive(Default)]
pub struct Relay {
    queues: Mutex<HashMap<SocketAddr, flume::Sender<Job>>>,
    /// Pushes queued for a target.
    pub queued: AtomicU64,
    /// Pushes dropped because a target's queue was full.
    pub dropped: AtomicU64,
    /// Pushes a target refused or did not answer.
    pub failed: Arc<AtomicU64>,
}

impl Relay {
    /// Queues `target` (with `body`, `None` for a deletion) for each of `to`.
    pub fn send(&self, to: &[SocketAddr], target: &str, body: Option<&Bytes>, secret: &Arc<str>) {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        for addr in to {
            let job = Job {
                method: if body.is_some() { "PUT" } else { "DELETE" },
                target: target.to_string(),
                body: body.cloned(),
                secret: Arc::clone(secret),
            };
            let queue = match queues.get(addr) {
                Some(q) if !q.is_disconnected() => q,
                _ => match self.start(*addr) {
                    Some(q) => queues.entry(*addr).or_insert(q),
                    None => continue,
                },
            };
            if queue.try_send(job).is_ok() {
                self.queued.fetch_add(1, Ordering::Relaxed);
            } else {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(node = %addr, "cluster relay queue full: a push was not relayed");
            }
        }
    }

    fn start(&self, addr: SocketAddr) -> Option<flume::Sender<Job>> {
        let (tx, rx) = flume::bounded::<Job>(QUEUE);
        let failed = Arc::clone(&self.failed);
        let spawned = std::thread::Builder::new()
            .name(format!("relay-{addr}"))
            .spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout_connect(Duration::from_secs(1))
                    .timeout(TIMEOUT)
                    .build();
                for job in rx {
                    let url = format!("http://{addr}{}", job.target);
                    let req = agent
                        .request(job.method, &url)
                        .set(PEER_HEADER, &job.secret);
                    let sent = match &job.body {
                        Some(b) => req.send_bytes(b),
                        None => req.call(),
                    };
                    if let Err(e) = sent {
                        failed.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(node = %addr, target = %job.target, "relay failed: {e}");
                    }
                }
            });
        match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::warn!("cannot start a cluster relay thread: {e}");
                None
            }
        }
    }
}
