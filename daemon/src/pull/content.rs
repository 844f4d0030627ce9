//! What pull answers carry whatever the endpoint type: the 503 of a channel with no media yet.

use streampack_core::http::{HttpError, Status};

/// The 503 of an endpoint whose channel has no input that delivered media yet (answered with
/// `Retry-After`).
pub fn no_media_yet() -> HttpError {
    HttpError::new(
        Status::SERVICE_UNAVAILABLE,
        "no input has delivered media to this channel yet",
    )
}
