//! [`Config::validate`]: ranges and combinations checked before anything starts.

use super::{Config, ConfigError};

impl Config {
    /// Checks ranges and combinations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.ingest.listen == self.pull.listen {
            return bad(format!(
                "ingest and pull listen on the same address {}",
                self.ingest.listen
            ));
        }
        for (what, l) in [("ingest", &self.ingest), ("pull", &self.pull)] {
            if let Some(u) = &l.public_url {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return bad(format!(
                        "{what} public URL {u:?} must start with http:// or https://"
                    ));
                }
            }
        }
        self.validate_tls()?;
        self.cluster.validate().map_err(ConfigError::Invalid)?;
        if self.cluster.enabled() {
            for listen in [self.pull.listen, self.ingest.listen] {
                self.cluster
                    .peer_addr(listen)
                    .map_err(ConfigError::Invalid)?;
            }
        }
        let l = &self.limits;
        if !(1024..=1024 * 1024).contains(&l.max_head_bytes) {
            return bad("limits.max_head_bytes must be 1024-1048576".into());
        }
        if !(8..=100).contains(&l.max_headers) {
            return bad("limits.max_headers must be 8-100".into());
        }
        if l.max_object_bytes < 1024 || l.max_manifest_bytes < 1024 {
            return bad(
                "limits.max_object_bytes and max_manifest_bytes must be at least 1024".into(),
            );
        }
        if l.head_timeout_secs == 0 || l.idle_timeout_secs == 0 || l.body_timeout_min_secs == 0 {
            return bad("limits timeouts must be at least 1 second".into());
        }
        if l.max_connections == 0 || l.max_connections_per_ip == 0 {
            return bad(
                "limits.max_connections and max_connections_per_ip must be at least 1".into(),
            );
        }
        if l.send_timeout_secs == 0 || l.log_interval_secs == 0 {
            return bad("limits.send_timeout_secs and log_interval_secs must be at least 1".into());
        }
        if !(1..=1_000_000).contains(&l.max_channels) {
            return bad("limits.max_channels must be 1-1000000".into());
        }
        if !(1..=4096).contains(&l.max_endpoints_per_channel) {
            return bad("limits.max_endpoints_per_channel must be 1-4096".into());
        }
        if l.ingest_auth_failures > 0
            && (!(1..=86_400).contains(&l.ingest_auth_window_secs)
                || !(1..=86_400).contains(&l.ingest_auth_block_secs))
        {
            return bad(
                "limits.ingest_auth_window_secs and ingest_auth_block_secs must be 1-86400 \
                 (ingest_auth_failures = 0 turns the limit off)"
                    .into(),
            );
        }
        if !(1..=60).contains(&self.cache.manifest_max_age_secs) {
            return bad("cache.manifest_max_age_secs must be 1-60".into());
        }
        if !(10..=1800).contains(&self.cache.segment_max_age_secs) {
            return bad("cache.segment_max_age_secs must be 10-1800".into());
        }
        let f = &self.failover;
        if !(100..=1000).contains(&f.timeout_pct) {
            return bad("failover.timeout_pct must be 100-1000".into());
        }
        if !(1..=20).contains(&f.healthy_segments) {
            return bad("failover.healthy_segments must be 1-20".into());
        }
        if !(1..=100).contains(&f.revert_after_segments) {
            return bad("failover.revert_after_segments must be 1-100".into());
        }
        if let Err(m) = self
            .observability
            .validate(self.ingest.listen, self.pull.listen)
        {
            return bad(m);
        }
        let h = &self.access.auth_key_header;
        if h.is_empty()
            || !h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return bad(format!(
                "access.auth_key_header {h:?} is not a valid HTTP header name"
            ));
        }
        if let Err(m) = self.access.trusted_nets() {
            return bad(m);
        }
        if self.cores > 1024 {
            return bad("cores must be 0 (one per core) to 1024".into());
        }
        Ok(())
    }
}

impl Config {
    /// TLS listeners need a certificate and key, and addresses of their own; a certificate
    /// without a TLS listener is a mistake worth saying.
    fn validate_tls(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let tls_listens = [
            ("ingest", self.ingest.tls_listen),
            ("pull", self.pull.tls_listen),
        ];
        let any = tls_listens.iter().any(|(_, a)| a.is_some());
        match (&self.tls, any) {
            (None, true) => {
                return bad(
                    "a TLS listener needs a certificate and key: --tls-cert PEM --tls-key PEM \
                     (or [tls] cert/key in the config file)"
                        .into(),
                )
            }
            (Some(_), false) => {
                return bad(
                    "a TLS certificate is set but no TLS listener: add --pull-tls-listen and/or \
                     --ingest-tls-listen (or pull.tls_listen / ingest.tls_listen)"
                        .into(),
                )
            }
            _ => {}
        }
        let plain = [self.ingest.listen, self.pull.listen];
        for (what, addr) in tls_listens {
            let Some(addr) = addr else { continue };
            if plain.contains(&addr) || (what == "ingest" && self.pull.tls_listen == Some(addr)) {
                return bad(format!(
                    "{what} TLS listener {addr} is already used by another listener"
                ));
            }
        }
        Ok(())
    }
}
