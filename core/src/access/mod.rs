//! Access rules, decided from bytes, addresses and a clock reading passed in:
//! - [`credentials`]: per-input ingest credentials (HTTP Basic), rotation with an optional grace
//!   window, constant-time comparison;
//! - [`digest`]: HTTP Digest (RFC 7616, MD5 and SHA-256) with stateless HMAC nonces;
//! - [`failed_logins`]: failed ingest logins per client address, and the block they earn;
//! - [`nonce_counts`]: Digest nonce counts seen, to refuse replayed requests;
//! - [`ip`]: endpoint allow/block lists of CIDRs and the client address behind trusted proxies;
//! - [`authkey`]: the endpoint AuthKey header check;
//! - [`cdn`]: CDN playback domains and which `Host` may reach a channel.

pub mod authkey;
pub mod cdn;
pub mod credentials;
pub mod digest;
pub mod failed_logins;
pub mod ip;
pub mod nonce_counts;

pub use authkey::auth_key_ok;
pub use credentials::{
    check_basic, check_request, parse_basic, AuthOutcome, InputAuth, PreviousPassword,
};
pub use failed_logins::{FailedLogins, LoginLimit};
pub use ip::{client_ip, ip_allowed, parse_cidr, IpDenied};
pub use nonce_counts::NonceCounts;

/// Constant-time equality of two byte strings (the length is not hidden; the contents are).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::ct_eq;

    #[test]
    fn ct_eq_table() {
        let table: &[(&[u8], &[u8], bool)] = &[
            (b"", b"", true),
            (b"abc", b"abc", true),
            (b"abc", b"abd", false),
            (b"abc", b"ab", false),
            (b"", b"a", false),
        ];
        for (a, b, eq) in table {
            assert_eq!(ct_eq(a, b), *eq, "{a:?} {b:?}");
        }
    }
}
