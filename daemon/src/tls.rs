//! TLS on the pull and ingest listeners: the certificate and key (PEM files), their rustls
//! configurations (pull offers ALPN `h2` and `http/1.1`, ingest `http/1.1`), reloading them on
//! SIGHUP without touching open connections (a handshake takes the configuration current when it
//! starts), and the certificate's expiry for the log and `/metrics`.

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// A certificate expiring within this many seconds is warned about (at start, on reload and
/// once a day).
pub const EXPIRY_WARNING_SECS: i64 = 14 * 86_400;

/// Why the certificate or key could not be used; each names the file to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file holds no PEM block of the kind needed.
    #[error("{path} holds no {what} (expected a PEM file with {expected})")]
    Empty {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What was looked for.
        expected: &'static str,
    },
    /// The file is not valid PEM.
    #[error("{path} is not a valid PEM {what}: {reason}")]
    Pem {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Cause.
        reason: String,
    },
    /// rustls refused the pair (a key that does not match the certificate, an unsupported key).
    #[error("certificate {cert} and key {key} cannot be used together: {reason}")]
    Pair {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// Cause.
        reason: String,
    },
}

/// The certificate and key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// One loaded certificate: the configurations made from it and its expiry.
struct Loaded {
    pull: Arc<ServerConfig>,
    ingest: Arc<ServerConfig>,
    not_after: i64,
}

/// The TLS state every shard's TLS listeners share.
pub struct Tls {
    files: TlsFiles,
    pull: ArcSwap<ServerConfig>,
    ingest: ArcSwap<ServerConfig>,
    /// `notAfter` of the leaf certificate (Unix seconds); `i64::MAX` when unreadable.
    not_after: AtomicI64,
}

impl Tls {
    /// Loads the files; an error names the file at fault.
    pub fn load(files: TlsFiles) -> Result<Tls, TlsError> {
        let l = load(&files)?;
        let tls = Tls {
            files,
            pull: ArcSwap::new(l.pull),
            ingest: ArcSwap::new(l.ingest),
            not_after: AtomicI64::new(l.not_after),
        };
        tls.check_expiry(crate::clock::unix_secs());
        Ok(tls)
    }

    /// Reads the files again (SIGHUP). On success new handshakes use them; on failure the
    /// loaded ones stay and the error is logged. Open connections are never touched.
    pub fn reload(&self) -> bool {
        match load(&self.files) {
            Ok(l) => {
                self.pull.store(l.pull);
                self.ingest.store(l.ingest);
                self.not_after.store(l.not_after, Ordering::Relaxed);
                tracing::info!(cert = %self.files.cert.display(), "TLS certificate and key reloaded");
                self.check_expiry(crate::clock::unix_secs());
                true
            }
            Err(e) => {
                tracing::error!("TLS reload failed, the certificate in use stays: {e}");
                false
            }
        }
    }

    /// The configuration a pull (`pull`) or ingest handshake starting now uses.
    pub fn config(&self, pull: bool) -> Arc<ServerConfig> {
        if pull {
            self.pull.load_full()
        } else {
            self.ingest.load_full()
        }
    }

    /// Seconds until the certificate expires (negative once expired).
    pub fn seconds_left(&self, now_unix: i64) -> i64 {
        self.not_after
            .load(Ordering::Relaxed)
            .saturating_sub(now_unix)
    }

    /// Logs a warning when the certificate expires within [`EXPIRY_WARNING_SECS`].
    pub fn check_expiry(&self, now_unix: i64) {
        let left = self.seconds_left(now_unix);
        if left <= 0 {
            tracing::error!(cert = %self.files.cert.display(), "TLS certificate has expired: clients will refuse it");
        } else if left < EXPIRY_WARNING_SECS {
            tracing::warn!(
                cert = %self.files.cert.display(),
                days_left = left / 86_400,
                "TLS certificate expires soon: replace the file and send SIGHUP"
            );
        }
    }
}

fn load(files: &TlsFiles) -> Result<Loaded, TlsError> {
    let certs = read_certs(&files.cert)?;
    let key = read_key(&files.key)?;
    let not_after = streampack_core::x509::not_after(&certs[0]).unwrap_or(i64::MAX);
    let make = |alpn: &[&[u8]]| -> Result<Arc<ServerConfig>, TlsError> {
        // ring: no C library to build. rustls deprecates its provider only because it lacks
        // the post-quantum X25519MLKEM768 exchange (aws-lc-rs has it); X25519 and the NIST
        // curves stay, which every player and CDN speaks.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let pair = |e: rustls::Error| TlsError::Pair {
            cert: files.cert.clone(),
            key: files.key.clone(),
            reason: e.to_string(),
        };
        let mut c = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(pair)?
            .with_no_client_auth()
            .with_single_cert(certs.clone(), key.clone_key())
            .map_err(pair)?;
        c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(c))
    };
    Ok(Loaded {
        pull: make(&[b"h2", b"http/1.1"])?,
        ingest: make(&[b"http/1.1"])?,
        not_after,
    })
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_file("certificate", path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what: "certificate",
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            what: "certificate",
            path: path.to_path_buf(),
            expected: "-----BEGIN CERTIFICATE-----",
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_file("key", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Empty {
            what: "private key",
            path: path.to_path_buf(),
            expected: "-----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY)",
        },
        e => TlsError::Pem {
            what: "key",
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_wrong_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let files = TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        };
        let e = Tls::load(files.clone()).err().unwrap().to_string();
        assert!(
            e.contains("cannot read certificate") && e.contains("cert.pem"),
            "{e}"
        );
        std::fs::write(&cert, "not pem at all").unwrap();
        let e = Tls::load(files.clone()).err().unwrap().to_string();
        assert!(e.contains("cert.pem holds no certificate"), "{e}");
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = Tls::load(files.clone()).err().unwrap().to_string();
        assert!(
            e.contains("cannot read key") && e.contains("key.pem"),
            "{e}"
        );
        std::fs::write(&key, "").unwrap();
        let e = Tls::load(files).err().unwrap().to_string();
        assert!(e.contains("key.pem holds no private key"), "{e}");
    }
}
