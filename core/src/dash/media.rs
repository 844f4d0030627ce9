//! PLACEHOLDER until dash-core's `DashMedia` lands (apis.md section 2): the same signatures,
//! refusing every PUT, so the daemon's DASH wiring builds and its tests run. Replaced by the
//! real file on merge.

use crate::channel::config::InputRole;
use crate::channel::media::{
    IngestError, Lookup, MediaEvent, MediaParams, MediaStatus, PutOutcome, Rendered,
};
use crate::time::Now;
use bytes::Bytes;
use std::sync::Arc;

/// A DASH channel's media state.
#[derive(Debug)]
pub struct DashMedia {
    params: MediaParams,
}

impl DashMedia {
    /// New, empty.
    pub fn new(params: MediaParams, _now: Now) -> DashMedia {
        DashMedia { params }
    }

    /// New channel settings.
    pub fn set_params(&mut self, params: MediaParams, _now: Now) {
        self.params = params;
    }

    /// Stores an MPD or a segment.
    pub fn put(
        &mut self,
        _input: InputRole,
        _path: &str,
        _body: Bytes,
        _now: Now,
    ) -> Result<PutOutcome, IngestError> {
        Err(IngestError::UnsupportedMedia(
            "DASH ingest is not in this build yet".into(),
        ))
    }

    /// Deletes a segment.
    pub fn delete(&mut self, _input: InputRole, _path: &str, _now: Now) -> bool {
        false
    }

    /// Time-based work.
    pub fn tick(&mut self, _now: Now) {}

    /// Changes whenever the output does.
    pub fn version(&self) -> u64 {
        0
    }

    /// The output now.
    pub fn snapshot(&mut self) -> Arc<DashSnapshot> {
        Arc::new(DashSnapshot {
            version: 0,
            mpd: None,
            status: MediaStatus::default(),
        })
    }

    /// Events since the last call.
    pub fn drain_events(&mut self) -> Vec<MediaEvent> {
        Vec::new()
    }
}

/// A DASH channel's published output.
#[derive(Debug)]
pub struct DashSnapshot {
    /// Version it was built at.
    pub version: u64,
    /// The endpoint MPD, `None` until playable.
    pub mpd: Option<Rendered>,
    /// Live state.
    pub status: MediaStatus,
}

impl DashSnapshot {
    /// What `rest` names under an endpoint whose MPD is `manifest_file`.
    pub fn lookup(&self, manifest_file: &str, rest: &str) -> Lookup<'_> {
        match &self.mpd {
            Some(m) if rest == manifest_file => Lookup::Playlist(m),
            _ => Lookup::NotFound,
        }
    }
}
