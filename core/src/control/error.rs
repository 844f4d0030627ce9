//! Why a control-plane command was refused.

use serde::{Deserialize, Serialize};

/// Why a control-plane request was refused. The kind decides the CLI's exit status; the
/// message is shown to the operator as is, so it says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ControlError {
    /// No such channel or endpoint.
    #[error("{0}")]
    NotFound(String),
    /// A value is out of range or malformed.
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with existing state (duplicate name, channel still has endpoints).
    #[error("{0}")]
    Conflict(String),
    /// A limit was reached.
    #[error("{0}")]
    Limit(String),
    /// The daemon could not carry the change out (e.g. the state file could not be written);
    /// nothing was changed.
    #[error("{0}")]
    Unavailable(String),
}

impl From<crate::channel::Invalid> for ControlError {
    fn from(e: crate::channel::Invalid) -> Self {
        ControlError::Invalid(e.0)
    }
}
