//! TLS peers for the tests: self-signed certificates made by the `openssl` CLI, and `curl`
//! fetching over HTTPS, HTTP/2 or h2c with the protocol it used.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// Certificate.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// Writes a self-signed certificate for `localhost` and 127.0.0.1, valid `days`, as
/// `<dir>/<name>.crt` and `<dir>/<name>.key` (`ec`: a P-256 key, else RSA 2048).
pub fn make_cert(dir: &Path, name: &str, days: u32, ec: bool) -> CertFiles {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-x509", "-nodes", "-newkey"]);
    if ec {
        cmd.args(["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]);
    } else {
        cmd.arg("rsa:2048");
    }
    let out = cmd
        .args(["-days", &days.to_string(), "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        crate::text(&out.stderr)
    );
    CertFiles { cert, key }
}

/// The daemon flags of TLS listeners on `pull` and `ingest` with `files`.
pub fn tls_args(files: &CertFiles, pull: u16, ingest: u16) -> Vec<String> {
    vec![
        "--pull-tls-listen".into(),
        format!("127.0.0.1:{pull}"),
        "--ingest-tls-listen".into(),
        format!("127.0.0.1:{ingest}"),
        "--tls-cert".into(),
        files.cert.display().to_string(),
        "--tls-key".into(),
        files.key.display().to_string(),
    ]
}

/// What `curl` got.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// HTTP status (0: no answer).
    pub status: u16,
    /// `1.1` or `2`.
    pub version: String,
    /// Body bytes.
    pub body: Vec<u8>,
    /// curl's stderr (why it failed).
    pub error: String,
}

/// GETs `url` with curl and extra flags (`--http2`, `--http1.1`, `--http2-prior-knowledge`);
/// certificates are not verified (`-k`: the tests' own).
pub fn curl(url: &str, flags: &[&str]) -> Fetched {
    let body = tempfile::NamedTempFile::new().unwrap();
    let out = crate::run_with_timeout(
        Command::new("curl")
            .args(["-sS", "-k", "--max-time", "20", "-o"])
            .arg(body.path())
            .args(["-w", "%{http_code} %{http_version}"])
            .args(flags)
            .arg(url),
        Duration::from_secs(30),
    );
    let w = crate::text(&out.stdout);
    let mut it = w.split_whitespace();
    Fetched {
        status: it.next().and_then(|s| s.parse().ok()).unwrap_or(0),
        version: it.next().unwrap_or("").to_string(),
        body: std::fs::read(body.path()).unwrap_or_default(),
        error: crate::text(&out.stderr),
    }
}
