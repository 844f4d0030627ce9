//! The sans-io HTTP/1.1 engine: bytes in, decisions and bytes out; the daemon owns the sockets.
//!
//! - [`status`]: [`Status`] codes and [`HttpError`], the one error type for a refused request.
//! - [`head`]: [`parse_head`] turns the front of a read buffer into a [`RequestHead`].
//! - [`body`]: [`BodyDecoder`] reads `Content-Length` and chunked bodies, stopping exactly at
//!   the end so pipelined requests stay in the buffer.
//! - [`response`]: [`write_head`], [`error_response`], [`CONTINUE_100`].
//! - [`range`]: `Range` and `If-None-Match` interpretation.
//! - [`route`]: request-target → `/v1/<channel>/<input or endpoint>/<file>`.
//! - [`answer`]: what a pull is answered with: 200/206/304/416 heads, error and preflight headers.
//! - [`prepared`]: a manifest version's 200 and 304 heads rendered once, sent around the date.
//! - [`h2_bridge`]: an HTTP/2 stream served through this engine (request → head, written
//!   response → status, fields and body slices).

pub mod answer;
pub mod body;
pub mod h2_bridge;
pub mod head;
pub mod prepared;
pub mod range;
pub mod response;
pub mod route;
pub mod status;

pub use body::{BodyDecoder, BodyStatus};
pub use head::{parse_head, BodyKind, Limits, Method, RequestHead, Version};
pub use range::{if_none_match_matches, parse_range, RangeOutcome};
pub use response::{error_response, write_head, CONTINUE_100};
pub use route::{parse_v1_path, strip_scheme_and_authority, V1Path};
pub use status::{HttpError, Status};
