//! The credentials check of an ingest request, decided from its head before `100 Continue`
//! and before any body byte: the client address's failed-login block, the input's credentials
//! (Basic or Digest, current or within a rotation's grace), a replayed Digest nonce count, and
//! the challenge that goes with a `401`.

use std::net::IpAddr;
use streampack_core::access::{check_request, digest, AuthOutcome, InputAuth};
use streampack_core::http::{HttpError, Status};

use crate::context::Shared;

/// A refusal: the error, and the headers that go with it.
pub struct Refused {
    /// The `401` or `429`.
    pub error: HttpError,
    /// `WWW-Authenticate` values (a `401`).
    pub challenges: Vec<String>,
    /// `Retry-After` seconds (a `429`).
    pub retry_after_secs: Option<u64>,
}

/// What a request to an input with `auth` asks: its `Authorization` header, method and target.
pub struct Asked<'a> {
    /// `Authorization`.
    pub authorization: Option<&'a [u8]>,
    /// The method the Digest response was computed with.
    pub method: &'a str,
    /// The request-target.
    pub target: &'a [u8],
    /// The client's address.
    pub client: IpAddr,
}

/// Checks the credentials of a request to an input with `auth` at `now` (Unix ms).
pub fn check(shared: &Shared, auth: &InputAuth, a: &Asked<'_>, now: u64) -> Result<(), Refused> {
    let blocked = shared
        .failed_logins
        .lock()
        .ok()
        .and_then(|f| f.blocked(a.client, now));
    if let Some(secs) = blocked {
        return Err(Refused {
            error: HttpError::new(
                Status::TOO_MANY_REQUESTS,
                "too many wrong credentials from this address; retry after the time given",
            ),
            challenges: Vec::new(),
            retry_after_secs: Some(secs),
        });
    }
    let mut outcome = check_request(auth, a.authorization, a.method, a.target, now);
    let mut replayed = false;
    if outcome == AuthOutcome::Ok {
        // Right credentials: a Digest count already used with its nonce is a capture replayed.
        if let Some((nonce, nc)) = a.authorization.and_then(digest::nonce_count) {
            let fresh = shared
                .nonce_counts
                .lock()
                .map_or(true, |mut t| t.fresh(&nonce, nc, now));
            if !fresh {
                outcome = AuthOutcome::Stale;
                replayed = true;
            }
        }
    }
    if let Ok(mut f) = shared.failed_logins.lock() {
        match outcome {
            AuthOutcome::Ok => f.succeeded(a.client),
            AuthOutcome::Wrong => {
                if f.failed(a.client, now).is_some() {
                    crate::limits::log_limit(a.client, "too many wrong ingest credentials");
                }
            }
            AuthOutcome::Missing | AuthOutcome::Stale => {}
        }
    }
    let why = match outcome {
        AuthOutcome::Ok => return Ok(()),
        AuthOutcome::Missing => "this input requires credentials (HTTP Basic or Digest)",
        AuthOutcome::Wrong => "wrong credentials for this input",
        AuthOutcome::Stale if replayed => {
            "this Digest nonce count was used already; retry with the new nonce"
        }
        AuthOutcome::Stale => "the Digest nonce expired; retry with the new one",
    };
    Err(Refused {
        error: HttpError::new(Status::UNAUTHORIZED, why),
        challenges: digest::challenges(
            auth.password.as_bytes(),
            shared.nonce_issue_ms(now),
            outcome == AuthOutcome::Stale,
        ),
        retry_after_secs: None,
    })
}
