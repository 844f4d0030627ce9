//! A minimal HTTP/1.1 keep-alive client: one request at a time on one connection. Response
//! bodies are decoded with the core's own [`BodyDecoder`] when chunked, and counted without
//! being kept unless asked. On request ([`Client::stamp_receives`]) it reads with `recvmsg` and
//! keeps the kernel's receive timestamp of each answer: when its bytes reached the socket, not
//! when this busy client got round to reading them.

use bytes::{Buf, Bytes, BytesMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::Duration;
use streampack_core::http::{BodyDecoder, BodyKind, BodyStatus};

/// Bytes asked of the kernel per read.
const READ: usize = 256 * 1024;

/// An `http://host:port/path` URL, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Where to connect.
    pub addr: SocketAddr,
    /// `host:port` as written, for the `Host` header.
    pub authority: String,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// Parses and resolves a URL; only `http://` is supported.
    pub fn parse(s: &str) -> Result<Url, String> {
        let rest = s
            .strip_prefix("http://")
            .ok_or_else(|| format!("{s}: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("{s}: no host"));
        }
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("{s}: {e}"))?
            .next()
            .ok_or_else(|| format!("{s}: host does not resolve"))?;
        Ok(Url {
            addr,
            authority: authority.to_string(),
            path: path.to_string(),
        })
    }

    /// Resolves a URI found in a playlist served at this URL (absolute, host-relative or
    /// relative).
    pub fn join(&self, uri: &str) -> Result<Url, String> {
        if uri.starts_with("http://") {
            return Url::parse(uri);
        }
        let path = if uri.starts_with('/') {
            uri.to_string()
        } else {
            let dir = self
                .path
                .split('?')
                .next()
                .and_then(|p| p.rsplit_once('/'))
                .map_or("", |(d, _)| d);
            format!("{dir}/{uri}")
        };
        Ok(Url {
            addr: self.addr,
            authority: self.authority.clone(),
            path,
        })
    }

    /// The bytes of a request for this URL with an optional `Content-Length` body.
    pub fn request(&self, method: &str, body_len: Option<usize>) -> Vec<u8> {
        let mut r = format!(
            "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: streampack-load\r\n",
            self.path, self.authority
        );
        if let Some(n) = body_len {
            r.push_str(&format!("Content-Length: {n}\r\n"));
        }
        r.push_str("\r\n");
        r.into_bytes()
    }
}

/// A response as far as the load tool cares.
#[derive(Debug, Default)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Body, when asked to keep it.
    pub body: Bytes,
    /// Body bytes received.
    pub body_len: u64,
    /// The server will close the connection.
    pub close: bool,
    /// Kernel receive time (`CLOCK_REALTIME`, since the Unix epoch) of the last bytes of the
    /// answer, when [`Client::stamp_receives`] is on.
    pub received: Option<Duration>,
}

/// One keep-alive connection.
pub struct Client {
    stream: TcpStream,
    buf: BytesMut,
    /// Read with `recvmsg` and keep receive timestamps (`SO_TIMESTAMPNS`).
    stamped: bool,
    /// Receive timestamp of the last read.
    received: Option<Duration>,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl Client {
    /// Connects (with `TCP_NODELAY`, as players and encoders use).
    pub async fn connect(addr: SocketAddr) -> io::Result<Client> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            buf: BytesMut::with_capacity(READ),
            stamped: false,
            received: None,
        })
    }

    /// From now on, each response carries the kernel's receive timestamp of its last bytes
    /// ([`Response::received`]).
    pub fn stamp_receives(&mut self) -> io::Result<()> {
        let on: libc::c_int = 1;
        // SAFETY: setsockopt only reads `size_of(c_int)` bytes from `&on`.
        let r = unsafe {
            libc::setsockopt(
                self.stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        self.stamped = true;
        Ok(())
    }

    /// Sends raw request bytes.
    pub async fn send(&mut self, req: Vec<u8>) -> io::Result<Vec<u8>> {
        self.received = None;
        let (res, req) = self.stream.write_all(req).await;
        res.map(|_| req)
    }

    /// Sends a request body.
    pub async fn send_body(&mut self, body: Bytes) -> io::Result<()> {
        let (res, _) = self.stream.write_all(body).await;
        res.map(|_| ())
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.stamped {
            return self.fill_stamped().await;
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.reserve(READ);
        let (res, buf) = self.stream.read(buf).await;
        self.buf = buf;
        match res? {
            0 => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            )),
            _ => Ok(()),
        }
    }

    /// Reads what is there with `recvmsg`, keeping the receive timestamp. (`readable(false)`
    /// checks readiness with the kernel, so monoio's own readiness state stays right.)
    async fn fill_stamped(&mut self) -> io::Result<()> {
        self.buf.reserve(READ);
        loop {
            self.stream.readable(false).await?;
            let spare = self.buf.spare_capacity_mut();
            let mut iov = libc::iovec {
                iov_base: spare.as_mut_ptr().cast(),
                iov_len: spare.len(),
            };
            // Room for a few control messages, aligned for cmsghdr.
            let mut control = [0u64; 16];
            // SAFETY: an all-zero msghdr is valid (no name, no buffers) until filled in below.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&control);
            // SAFETY: iov points into the buffer's spare capacity and control into a local
            // array, both live and large enough for the lengths given.
            let n = unsafe { libc::recvmsg(self.stream.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
            let n = match usize::try_from(n) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "server closed the connection",
                    ))
                }
                Ok(n) => n,
                Err(_) => {
                    let e = io::Error::last_os_error();
                    match e.kind() {
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => continue,
                        _ => return Err(e),
                    }
                }
            };
            // SAFETY: recvmsg initialised the first n bytes of the spare capacity.
            unsafe { self.buf.set_len(self.buf.len() + n) };
            // SAFETY: the cmsg macros walk the control buffer recvmsg filled, within
            // msg_controllen; the timestamp is read unaligned from inside it.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&msg);
                while !c.is_null() {
                    if (*c).cmsg_level == libc::SOL_SOCKET
                        && (*c).cmsg_type == libc::SCM_TIMESTAMPNS
                    {
                        let ts: libc::timespec =
                            std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                        self.received = Some(Duration::new(
                            u64::try_from(ts.tv_sec).unwrap_or(0),
                            u32::try_from(ts.tv_nsec).unwrap_or(0),
                        ));
                    }
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
            }
            return Ok(());
        }
    }

    /// Reads one response; `head_request`: the request was a HEAD (no body follows).
    pub async fn read_response(
        &mut self,
        keep_body: bool,
        head_request: bool,
    ) -> io::Result<Response> {
        let (status, kind, close) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 48];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let status = resp.code.unwrap_or(0);
                    let mut kind = BodyKind::Empty;
                    let mut close = false;
                    for h in resp.headers.iter() {
                        if h.name.eq_ignore_ascii_case("content-length") {
                            let n = std::str::from_utf8(h.value)
                                .ok()
                                .and_then(|v| v.trim().parse::<u64>().ok())
                                .ok_or_else(|| bad("bad Content-Length"))?;
                            kind = BodyKind::Length(n);
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding")
                            && h.value.eq_ignore_ascii_case(b"chunked")
                        {
                            kind = BodyKind::Chunked;
                        } else if h.name.eq_ignore_ascii_case("connection")
                            && h.value.eq_ignore_ascii_case(b"close")
                        {
                            close = true;
                        }
                    }
                    if head_request
                        || status == 204
                        || status == 304
                        || (100..200).contains(&status)
                    {
                        kind = BodyKind::Empty;
                    }
                    self.buf.advance(n);
                    if status == 100 {
                        continue;
                    }
                    break (status, kind, close);
                }
                Ok(httparse::Status::Partial) => self.fill().await?,
                Err(e) => return Err(bad(&format!("bad response head: {e}"))),
            }
        };
        let mut out = Response {
            status,
            close,
            ..Response::default()
        };
        match kind {
            BodyKind::Empty => {}
            BodyKind::Length(n) if !keep_body => {
                let mut left = n;
                loop {
                    let take = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(self.buf.len());
                    self.buf.advance(take);
                    left -= take as u64;
                    if left == 0 {
                        break;
                    }
                    self.fill().await?;
                }
                out.body_len = n;
            }
            kind => {
                let mut dec = BodyDecoder::new(kind, u64::MAX).map_err(|e| bad(&e.to_string()))?;
                let mut body = BytesMut::new();
                while dec
                    .decode(&mut self.buf, &mut body)
                    .map_err(|e| bad(&e.to_string()))?
                    == BodyStatus::NeedMore
                {
                    self.fill().await?;
                }
                out.body_len = body.len() as u64;
                if keep_body {
                    out.body = body.freeze();
                }
            }
        }
        out.received = self.received;
        Ok(out)
    }

    /// A GET or HEAD (or any body-less request) and its response.
    pub async fn get(
        &mut self,
        req: Vec<u8>,
        keep_body: bool,
        head: bool,
    ) -> io::Result<(Response, Vec<u8>)> {
        let req = self.send(req).await?;
        let r = self.read_response(keep_body, head).await?;
        Ok((r, req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://127.0.0.1:8080/v1/a/b/main.m3u8").unwrap();
        assert_eq!(u.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(u.authority, "127.0.0.1:8080");
        assert_eq!(u.path, "/v1/a/b/main.m3u8");
        assert_eq!(
            u.join("hi/index.m3u8").unwrap().path,
            "/v1/a/b/hi/index.m3u8"
        );
        assert_eq!(u.join("/x.ts").unwrap().path, "/x.ts");
        let v = Url::parse("http://127.0.0.1:9").unwrap();
        assert_eq!(v.path, "/");
        assert!(Url::parse("https://x/").is_err());
        let r = String::from_utf8(u.request("PUT", Some(3))).unwrap();
        assert!(r.starts_with("PUT /v1/a/b/main.m3u8 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
        assert!(r.ends_with("Content-Length: 3\r\n\r\n"));
    }
}
