//! Channels: the operator's model ([`config`]): channels, inputs, endpoints, their validation.
//! The live media of a channel is [`crate::media`]'s.

pub mod config;
pub mod encryption;

pub use config::{
    ChannelConfig, EndpointConfig, EndpointType, InputConfig, InputRole, Invalid, Protocol,
};
pub use encryption::{Encryption, MAX_KEY_ROTATION_SECS};
