//! The control-plane protocol between `streampackctl` and `streampackd`: requests and views
//! ([`proto`]) carried in length-prefixed, versioned postcard frames ([`frame`]), over the
//! socket [`socket`] locates.

pub mod cluster_view;
pub mod frame;
pub mod proto;
pub mod socket;
