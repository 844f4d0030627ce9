//! Channels: the operator's model ([`config`]) and the live media state each owner shard keeps
//! for its channels ([`media`]).

pub mod config;
pub mod media;

pub use config::{
    ChannelConfig, EndpointConfig, EndpointType, InputConfig, InputRole, Invalid, Protocol,
};
