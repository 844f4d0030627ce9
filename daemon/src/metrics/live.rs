//! A once-a-second sampler on its own thread. It reads what a scrape reads (snapshot status,
//! summed counters) and keeps:
//! - short histories for rates shown by `streampackctl channel show` (input bitrate, endpoint
//!   requests per second, over the last [`WINDOW`]);
//! - each input's delivering state, logging one line when an input starts or stops delivering
//!   and when a channel's active input changes.
//!
//! It never touches a shard: the data plane pays nothing for it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use streampack_core::channel::InputRole;
use streampack_core::id::Id;

use crate::clock;
use crate::context::Shared;

/// How often the sampler runs.
pub const PERIOD: Duration = Duration::from_secs(1);
/// Span rates are computed over.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Cumulative readings over time.
#[derive(Debug, Default)]
struct History(VecDeque<(Instant, u64)>);

impl History {
    fn push(&mut self, at: Instant, v: u64) {
        self.0.push_back((at, v));
        while self
            .0
            .front()
            .is_some_and(|(t, _)| at.duration_since(*t) > WINDOW)
        {
            self.0.pop_front();
        }
    }

    /// Increase per second over the history; `None` with fewer than two readings.
    fn rate(&self) -> Option<f64> {
        let (t0, v0) = self.0.front()?;
        let (t1, v1) = self.0.back()?;
        let dt = t1.duration_since(*t0).as_secs_f64();
        (dt > 0.0).then(|| v1.saturating_sub(*v0) as f64 / dt)
    }
}

#[derive(Debug, Default)]
struct InputLive {
    bytes: History,
    delivering: bool,
}

#[derive(Debug, Default)]
struct ChannelLive {
    inputs: [InputLive; 2],
    endpoints: HashMap<Id, History>,
}

/// What the sampler knows, by channel.
#[derive(Debug, Default)]
pub struct Live {
    channels: HashMap<Id, ChannelLive>,
}

impl Live {
    /// Bits per second an input received over the last [`WINDOW`].
    pub fn input_bitrate(&self, channel: &Id, input: InputRole) -> Option<u64> {
        let r = self.channels.get(channel)?.inputs[input.index()]
            .bytes
            .rate()?;
        Some((r * 8.0).round() as u64)
    }

    /// Requests per second an endpoint answered over the last [`WINDOW`].
    pub fn endpoint_rate(&self, channel: &Id, endpoint: &Id) -> Option<f64> {
        self.channels.get(channel)?.endpoints.get(endpoint)?.rate()
    }
}

/// Starts the sampler thread.
pub fn spawn(shared: Arc<Shared>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("metrics-sampler".into())
        .spawn(move || loop {
            std::thread::sleep(PERIOD);
            if shared.is_shutting_down() {
                return;
            }
            sample(&shared);
        })
        .map(|_| ())
}

/// One sampling pass.
pub fn sample(shared: &Shared) {
    let now = Instant::now();
    let reg = shared.registry.load_full();
    let Ok(mut live) = shared.metrics.live.lock() else {
        return;
    };
    live.channels.retain(|id, _| reg.channels.contains_key(id));
    for (id, entry) in &reg.channels {
        let ch = live.channels.entry(*id).or_default();
        let status = entry.media.status();
        let timeout = shared.failover_timeout_ms(entry.config.max_segment_ms());
        for role in InputRole::ALL {
            let st = status.as_ref().map(|s| s.inputs[role.index()]);
            let input = &mut ch.inputs[role.index()];
            input.bytes.push(now, st.map_or(0, |s| s.bytes));
            let age = st.and_then(|s| s.last_segment_mono_ms).map(clock::age_ms);
            let delivering = age.is_some_and(|a| a <= timeout);
            let input_id = entry.config.inputs.get(role.index()).map(|i| i.id);
            match (input.delivering, delivering) {
                (false, true) => tracing::info!(
                    channel = %id, channel_name = %entry.config.name, input = %role,
                    input_id = %input_id.map(|i| i.to_string()).unwrap_or_default(),
                    "input started delivering"
                ),
                (true, false) => tracing::warn!(
                    channel = %id, channel_name = %entry.config.name, input = %role,
                    input_id = %input_id.map(|i| i.to_string()).unwrap_or_default(),
                    last_segment_age_ms = age.unwrap_or(0), timeout_ms = timeout,
                    "input stopped delivering"
                ),
                _ => {}
            }
            input.delivering = delivering;
        }
        ch.endpoints
            .retain(|e, _| entry.config.endpoints.iter().any(|c| &c.id == e));
        for m in &entry.metrics.endpoints {
            ch.endpoints
                .entry(m.id)
                .or_default()
                .push(now, m.requests_total());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_over_the_window() {
        let t0 = Instant::now();
        let mut h = History::default();
        assert_eq!(h.rate(), None);
        h.push(t0, 100);
        assert_eq!(h.rate(), None);
        h.push(t0 + Duration::from_secs(2), 300);
        assert_eq!(h.rate(), Some(100.0));
        h.push(t0 + Duration::from_secs(11), 1200);
        assert_eq!(h.0.len(), 2, "readings older than the window are dropped");
        assert_eq!(h.rate(), Some(100.0));
    }
}
