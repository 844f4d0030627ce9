//! Encryption families: SPEKE v2 key server requests by result.

use super::expo::{Kind, Value, Writer};
use crate::context::Shared;

/// Writes the encryption families.
pub fn render(shared: &Shared, w: &mut Writer) {
    let name = "streampack_key_server_requests_total";
    w.family(
        name,
        Kind::Counter,
        "SPEKE v2 key server requests by result (ok, http_error, timeout, unreachable, bad_answer, store_error); \
         while they fail, encrypted endpoints hold new segments back.",
    );
    for (outcome, n) in shared.key_servers.outcomes() {
        w.sample(name, &[("result", outcome.label())], Value::Int(n));
    }
}
