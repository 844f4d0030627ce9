//! Input authentication: enable, disable, rotate (with an optional grace window).

use super::commands::InputAuthAction;
use super::{ControlError, ControlState};
use crate::access::credentials::RANDOM_BYTES;
use crate::access::InputAuth;
use crate::channel::config::ChannelConfig;
use crate::id::Id;

/// Longest grace window of a rotation, seconds (one week).
pub const MAX_ROTATION_GRACE_SECS: u32 = 7 * 24 * 3600;

impl ControlState {
    fn input_slot(&self, ci: usize, key: &str) -> Result<usize, ControlError> {
        let c = &self.channels[ci];
        let slot = match key {
            "1" | "primary" => Some(0),
            "2" | "backup" => Some(1),
            _ => Id::parse(key).and_then(|id| c.inputs.iter().position(|i| i.id == id)),
        };
        slot.ok_or_else(|| {
            ControlError::NotFound(format!(
                "channel {:?} has no input {key:?} (use 1, 2, primary, backup or the input id)",
                c.name
            ))
        })
    }

    /// Enables, disables or rotates an input's ingest credentials. `random` draws the bytes new
    /// credentials are made from; `now_unix_ms` starts a rotation's grace window.
    pub fn input_auth(
        &mut self,
        channel: &str,
        input: &str,
        action: InputAuthAction,
        now_unix_ms: u64,
        random: &mut dyn FnMut() -> [u8; RANDOM_BYTES],
    ) -> Result<&ChannelConfig, ControlError> {
        let ci = self.channel_index(channel)?;
        let slot = self.input_slot(ci, input)?;
        let c = &mut self.channels[ci];
        let inp = &mut c.inputs[slot];
        match action {
            InputAuthAction::Enable => {
                if inp.auth.is_none() {
                    inp.auth = Some(InputAuth::generate(random()));
                }
            }
            InputAuthAction::Disable => inp.auth = None,
            InputAuthAction::Rotate { grace_secs } => {
                if grace_secs > MAX_ROTATION_GRACE_SECS {
                    return Err(ControlError::Invalid(format!(
                        "--grace must be at most {MAX_ROTATION_GRACE_SECS} seconds, got {grace_secs}"
                    )));
                }
                let Some(cur) = &inp.auth else {
                    return Err(ControlError::Invalid(format!(
                        "authentication is not enabled on the {} input of channel {:?}: run `input auth enable` first",
                        inp.role, c.name
                    )));
                };
                inp.auth = Some(cur.rotate(random(), now_unix_ms, grace_secs));
            }
        }
        Ok(&self.channels[ci])
    }
}
