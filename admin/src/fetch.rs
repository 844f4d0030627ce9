//! A small blocking HTTP/1.1 client for the daemon's own pull listener (what `harvest` reads):
//! `GET` with `Content-Length` answers on one keep-alive connection, reconnecting when the
//! daemon closes it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Largest answer accepted (a segment is a few MB at most).
const MAX_BODY: u64 = 512 << 20;

/// GETs from one `host:port`.
pub struct Fetcher {
    host: String,
    auth: Option<(String, String)>,
    conn: Option<BufReader<TcpStream>>,
}

impl Fetcher {
    /// A client for the host of `url` (`http://host:port/...`), sending `auth` (header,
    /// value) with every request.
    pub fn new(url: &str, auth: Option<(String, String)>) -> Result<Fetcher, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: harvest reads over http:// only"))?;
        let host = rest.split('/').next().unwrap_or_default().to_string();
        Ok(Fetcher {
            host,
            auth,
            conn: None,
        })
    }

    /// The body of `path` as text.
    pub fn text(&mut self, path: &str) -> Result<String, crate::error::CtlError> {
        let body = self.bytes(path)?;
        String::from_utf8(body)
            .map_err(|_| crate::error::CtlError::Harvest(format!("{path}: not text")))
    }

    /// The body of `path`; an answer other than 200 is an error with the daemon's reason.
    pub fn bytes(&mut self, path: &str) -> Result<Vec<u8>, crate::error::CtlError> {
        let first = self.get(path);
        let (status, body) = match first {
            Ok(r) => r,
            // A kept-alive connection the daemon closed meanwhile: once more on a new one.
            Err(_) => {
                self.conn = None;
                self.get(path)
                    .map_err(|e| crate::error::CtlError::Harvest(format!("GET {path}: {e}")))?
            }
        };
        if status != 200 {
            let why = String::from_utf8_lossy(&body).trim().to_string();
            return Err(crate::error::CtlError::Harvest(format!(
                "GET {path}: {status} {why}"
            )));
        }
        Ok(body)
    }

    fn get(&mut self, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
        if self.conn.is_none() {
            let s = TcpStream::connect(&self.host)?;
            s.set_read_timeout(Some(TIMEOUT))?;
            s.set_write_timeout(Some(TIMEOUT))?;
            self.conn = Some(BufReader::new(s));
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(std::io::Error::other("no connection"));
        };
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        if let Some((name, value)) = &self.auth {
            req.push_str(&format!("{name}: {value}\r\n"));
        }
        req.push_str("User-Agent: streampackctl-harvest\r\n\r\n");
        conn.get_mut().write_all(req.as_bytes())?;
        let mut line = String::new();
        conn.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let (mut len, mut close) = (None, false);
        loop {
            let mut h = String::new();
            if conn.read_line(&mut h)? == 0 {
                return Err(std::io::Error::other("connection closed in the head"));
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((name, value)) = h.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    len = value.parse::<u64>().ok();
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.eq_ignore_ascii_case("close");
                }
            }
        }
        let len = len.ok_or_else(|| std::io::Error::other("answer without Content-Length"))?;
        if len > MAX_BODY {
            return Err(std::io::Error::other(format!("answer of {len} bytes")));
        }
        let mut body = vec![0; usize::try_from(len).unwrap_or(0)];
        conn.read_exact(&mut body)?;
        if close {
            self.conn = None;
        }
        Ok((status, body))
    }
}
