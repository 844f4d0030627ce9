//! A channel's published media ([`Published`]): its status and the outputs pulls read, per
//! endpoint type and per endpoint (encrypted, marked), at one version of its media.

use super::{MediaOutput, MediaStatus};
use crate::channel::config::EndpointType;
use std::sync::Arc;

/// Counters of an output derived by repackaging (CMAF from TS), cumulative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepackageStats {
    /// Source segments repackaged (each exactly once).
    pub repackaged: u64,
    /// Source segments that failed to repackage (skipped, with a warning).
    pub failed: u64,
    /// Bytes of the repackaged segments held (beside their sources).
    pub held_bytes: u64,
}

/// A channel's published media: its status and, per endpoint type, the output pulls read.
#[derive(Debug)]
pub struct Published {
    /// [`Media::version`] it was built at.
    pub version: u64,
    /// Live state for `channel show` and `/metrics`.
    pub status: MediaStatus,
    /// Present while the channel repackages for `cmaf` endpoints.
    pub repackaging: Option<RepackageStats>,
    /// The ad markers (SCTE-35) in its window, oldest first.
    pub markers: Arc<[crate::ad_markers::AdMarker]>,
    outputs: [Option<Arc<dyn MediaOutput>>; EndpointType::ALL.len()],
    /// Outputs of endpoints of their own (encrypted ones), by endpoint id.
    endpoint_outputs: Vec<(crate::id::Id, Arc<dyn MediaOutput>)>,
}

impl Published {
    /// A view with no output yet.
    pub fn new(version: u64, status: MediaStatus) -> Published {
        Published {
            version,
            status,
            repackaging: None,
            markers: Arc::new([]),
            outputs: Default::default(),
            endpoint_outputs: Vec::new(),
        }
    }

    /// The same view with outputs of their own for some endpoints (their encrypted forms).
    pub fn with_endpoint_outputs(
        &self,
        endpoint_outputs: Vec<(crate::id::Id, Arc<dyn MediaOutput>)>,
    ) -> Published {
        Published {
            version: self.version,
            status: self.status.clone(),
            repackaging: self.repackaging,
            markers: self.markers.clone(),
            outputs: self.outputs.clone(),
            endpoint_outputs,
        }
    }

    /// The same view with `overrides` serving their endpoints instead of what did (an
    /// endpoint's marked output over its encrypted one).
    pub fn with_endpoint_output_overrides(
        &self,
        overrides: Vec<(crate::id::Id, Arc<dyn MediaOutput>)>,
    ) -> Published {
        let mut outs: Vec<(crate::id::Id, Arc<dyn MediaOutput>)> = self
            .endpoint_outputs
            .iter()
            .filter(|(id, _)| !overrides.iter().any(|(o, _)| o == id))
            .cloned()
            .collect();
        outs.extend(overrides);
        self.with_endpoint_outputs(outs)
    }

    /// The same view with `markers` in its window.
    pub fn with_markers(mut self, markers: Arc<[crate::ad_markers::AdMarker]>) -> Published {
        self.markers = markers;
        self
    }

    /// [`Published::output_for`], shared.
    pub fn output_arc_for(
        &self,
        endpoint: &crate::channel::config::EndpointConfig,
    ) -> Option<Arc<dyn MediaOutput>> {
        if let Some((_, o)) = self
            .endpoint_outputs
            .iter()
            .find(|(id, _)| *id == endpoint.id)
        {
            return Some(Arc::clone(o));
        }
        if endpoint.encryption.is_on() {
            return None;
        }
        self.outputs[endpoint.kind.index()].clone()
    }

    /// What `endpoint` serves: its own output when it has one (encrypted, marked; an
    /// encrypted endpoint gets `None` until one was built: never the clear output), else its
    /// type's.
    pub fn output_for(
        &self,
        endpoint: &crate::channel::config::EndpointConfig,
    ) -> Option<&dyn MediaOutput> {
        if let Some((_, o)) = self
            .endpoint_outputs
            .iter()
            .find(|(id, _)| *id == endpoint.id)
        {
            return Some(&**o);
        }
        if endpoint.encryption.is_on() {
            return None;
        }
        self.output(endpoint.kind)
    }

    /// The same view with `output` serving endpoints of type `kind`.
    pub fn with_output(mut self, kind: EndpointType, output: Arc<dyn MediaOutput>) -> Published {
        self.outputs[kind.index()] = Some(output);
        self
    }

    /// What endpoints of type `kind` serve: `None` when this channel's media has no such
    /// output (yet).
    pub fn output(&self, kind: EndpointType) -> Option<&dyn MediaOutput> {
        self.outputs[kind.index()].as_deref()
    }
}
