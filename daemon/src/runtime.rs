//! System glue of start-up: which io driver the shards run (io_uring when a ring can be built,
//! else epoll), and the `SO_REUSEPORT` listening sockets, one per shard.

use std::net::SocketAddr;

use crate::config::IoDriver;

/// Which driver the shards run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// io_uring (monoio's `IoUringDriver`).
    Uring,
    /// epoll (monoio's `LegacyDriver`).
    Epoll,
}

impl Driver {
    /// `io_uring` or `epoll`, as logged and shown by `streampackctl status`.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Uring => "io_uring",
            Driver::Epoll => "epoll",
        }
    }
}

/// monoio's automatic driver does not fall back when the ring cannot be created for lack of
/// locked memory, so try a ring ourselves and decide.
pub fn choose_driver(want: IoDriver) -> std::io::Result<Driver> {
    match want {
        IoDriver::Epoll => Ok(Driver::Epoll),
        IoDriver::Uring | IoDriver::Auto => match uring_runtime() {
            Ok(rt) => {
                drop(rt);
                Ok(Driver::Uring)
            }
            Err(e) if want == IoDriver::Auto => {
                tracing::warn!("io_uring unavailable ({e}); falling back to epoll");
                Ok(Driver::Epoll)
            }
            Err(e) => Err(e),
        },
    }
}

pub type UringRuntime = monoio::Runtime<monoio::time::TimeDriver<monoio::IoUringDriver>>;

/// A shard's io_uring executor. The ring is set up with `IORING_SETUP_COOP_TASKRUN` (Linux
/// 5.19+): the kernel runs completion work when the shard next enters it rather than
/// interrupting the shard with an IPI for every completion that needs it (a receive that
/// waited for data). That is ~10 % less CPU per small request under wrk, alternated A/B on
/// this machine. Kernels without the flag refuse it; the ring is then built without it.
pub fn uring_runtime() -> std::io::Result<UringRuntime> {
    let mut coop = io_uring::IoUring::builder();
    coop.setup_coop_taskrun();
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .uring_builder(coop)
        .build()
        .or_else(|_| {
            monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                .enable_timer()
                .build()
        })
}

/// Binds `n` listening sockets on one address with `SO_REUSEPORT`, one per shard: the kernel
/// spreads connections across them. A port of 0 is resolved once and reused for the rest.
/// An error names the address it was about.
pub fn bind_reuseport(
    addr: SocketAddr,
    n: usize,
) -> Result<Vec<std::net::TcpListener>, (SocketAddr, std::io::Error)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let mut out = Vec::with_capacity(n);
    let mut addr = addr;
    for _ in 0..n {
        let err = |source| (addr, source);
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .map_err(err)?;
        sock.set_reuse_address(true).map_err(err)?;
        sock.set_reuse_port(true).map_err(err)?;
        sock.set_nonblocking(true).map_err(err)?;
        sock.bind(&addr.into()).map_err(err)?;
        sock.listen(4096).map_err(err)?;
        let l: std::net::TcpListener = sock.into();
        if addr.port() == 0 {
            addr = l.local_addr().map_err(err)?;
        }
        out.push(l);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_port_for_every_shard() {
        let socks = bind_reuseport("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        assert_eq!(socks.len(), 3);
        let port = socks[0].local_addr().unwrap().port();
        assert_ne!(port, 0);
        for s in &socks {
            assert_eq!(s.local_addr().unwrap().port(), port);
        }
    }

    #[test]
    fn a_taken_address_names_itself() {
        let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = plain.local_addr().unwrap();
        let (at, _) = bind_reuseport(addr, 1).unwrap_err();
        assert_eq!(at, addr);
    }

    #[test]
    fn epoll_is_chosen_when_asked_for() {
        assert_eq!(choose_driver(IoDriver::Epoll).unwrap(), Driver::Epoll);
        assert_eq!(Driver::Epoll.name(), "epoll");
        assert_eq!(Driver::Uring.name(), "io_uring");
    }
}
