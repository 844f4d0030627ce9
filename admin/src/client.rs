//! One request, one answer, one connection: blocking I/O on the admin Unix socket.

use crate::error::CtlError;
use crate::socket::SocketChoice;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;
use streampack_core::admin::frame;
use streampack_core::admin::proto::{Request, Response};

/// How long to wait for the daemon's answer.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `req` and returns the daemon's answer. A refusal comes back as `Ok(Response::Error)`:
/// the caller decides what a refusal means.
pub fn call(socket: &SocketChoice, req: &Request, timeout: Duration) -> Result<Response, CtlError> {
    let path = socket.path.as_path();
    let mut stream = UnixStream::connect(path).map_err(|source| CtlError::Unreachable {
        path: path.to_path_buf(),
        tried: socket.tried.clone(),
        source,
    })?;
    let conn = |e| CtlError::connection(path, e);
    stream.set_read_timeout(Some(timeout)).map_err(conn)?;
    stream.set_write_timeout(Some(timeout)).map_err(conn)?;

    let out = frame::encode(req)?;
    // A daemon that refuses the connection (admin socket busy) answers and hangs up before
    // reading: the write then fails with a broken pipe, but its answer is there to read.
    let written = stream.write_all(&out);
    if let Err(e) = written {
        if e.kind() != ErrorKind::BrokenPipe && e.kind() != ErrorKind::ConnectionReset {
            return Err(timeout_or(path, timeout, e));
        }
        let mut early = Vec::new();
        let _ = stream.read_to_end(&mut early);
        return match frame::decode::<Response>(&early) {
            Ok(Some((resp, _))) => Ok(resp),
            _ => Err(timeout_or(path, timeout, e)),
        };
    }

    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    loop {
        if let Some((resp, _used)) = frame::decode::<Response>(&buf)? {
            return Ok(resp);
        }
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(timeout_or(path, timeout, e)),
        };
        if n == 0 {
            return Err(CtlError::Truncated {
                path: path.to_path_buf(),
                got: buf.len(),
            });
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// A socket timeout shows up as `WouldBlock` (or `TimedOut`); anything else is a broken link.
fn timeout_or(path: &std::path::Path, after: Duration, e: std::io::Error) -> CtlError {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => CtlError::Timeout {
            path: path.to_path_buf(),
            after,
        },
        _ => CtlError::connection(path, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;
    use streampack_core::admin::proto::StatusView;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn choice(path: PathBuf) -> SocketChoice {
        SocketChoice {
            path,
            tried: Vec::new(),
        }
    }

    fn status() -> StatusView {
        StatusView {
            version: "0.1.0".into(),
            uptime_secs: 5,
            io_driver: "io_uring".into(),
            shards: 4,
            channels: 0,
            endpoints: 0,
            connections: 0,
            held_bytes: 0,
            ingest_url: "http://127.0.0.1:8080".into(),
            pull_url: "http://127.0.0.1:8081".into(),
            state_dir: "/var/lib/streampack".into(),
            metrics_url: Some("http://127.0.0.1:9464/metrics".into()),
            access_log: None,
            connections_accepted: 7,
            connections_refused: 0,
            rss_bytes: 12 << 20,
            auth_key_header: "X-TENCENT-PACKAGE".into(),
        }
    }

    #[test]
    fn answer_split_into_single_bytes_is_reassembled() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("d.sock");
        let listener = UnixListener::bind(&path)?;
        let answer = Response::Status(status());
        let bytes = frame::encode(&answer)?;
        let daemon = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
            let (mut s, _) = listener.accept()?;
            let mut got = [0u8; 64];
            let n = s.read(&mut got)?;
            for b in &bytes {
                s.write_all(std::slice::from_ref(b))?;
                s.flush()?;
            }
            Ok(got.get(..n).unwrap_or_default().to_vec())
        });
        let resp = call(&choice(path), &Request::Status, READ_TIMEOUT)?;
        assert_eq!(resp, answer);
        let sent = daemon.join().map_err(|_| "daemon thread failed")??;
        assert_eq!(sent, frame::encode(&Request::Status)?);
        Ok(())
    }

    #[test]
    fn silent_daemon_times_out() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("d.sock");
        let _listener = UnixListener::bind(&path)?;
        let err = call(&choice(path), &Request::Status, Duration::from_millis(100));
        assert!(matches!(err, Err(CtlError::Timeout { .. })), "{err:?}");
        Ok(())
    }

    #[test]
    fn hang_up_mid_frame_is_truncated() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("d.sock");
        let listener = UnixListener::bind(&path)?;
        let daemon = std::thread::spawn(move || -> std::io::Result<()> {
            let (mut s, _) = listener.accept()?;
            // Read the request first: closing with unread data makes the peer see a reset.
            let n = s.read(&mut [0u8; 64])?;
            assert!(n > 0, "no request");
            s.write_all(&[0, 0, 0, 9, 0, 1])
        });
        let err = call(&choice(path), &Request::Status, READ_TIMEOUT);
        daemon.join().map_err(|_| "daemon thread failed")??;
        assert!(
            matches!(err, Err(CtlError::Truncated { got: 6, .. })),
            "{err:?}"
        );
        Ok(())
    }
}
