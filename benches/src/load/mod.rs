//! The load generator behind `streampack-load`, on monoio like the daemon: one executor per
//! thread, connections spread over the threads, HTTP/1.1 keep-alive.
//!
//! - [`hammer`]: N connections request one URL back to back for T seconds (like wrk).
//! - [`players`]: N live HLS players (reload every target duration, fetch each new segment once).
//! - [`encoders`]: M encoders PUT segments and playlists to M channels and watch the served
//!   playlist for each new segment.
//! - [`ll_players`]: N LL-HLS players parked on blocking playlist reloads, on one playlist or
//!   spread over many; how long the server takes to answer all of them once the part they wait
//!   for appears.
//! - [`ll_encoders`]: many low-latency DASH channels fed in real time from one real ffmpeg
//!   capture ([`dash_capture`]), each segment one chunked PUT sent a CMAF chunk at a time.
//!
//! [`client`] is the minimal HTTP/1.1 client they share, [`stats`] the latency percentiles.

pub mod client;
pub mod dash_capture;
pub mod encoders;
pub mod hammer;
pub mod ll_encoders;
pub mod ll_players;
pub mod players;
pub mod playlist;
pub mod stats;

use std::future::Future;

/// Runs `f` on a fresh monoio executor: io_uring when `uring` and a ring can be made, else
/// epoll. `None` if no executor could be built.
pub fn block_on<F: Future>(uring: bool, f: F) -> Option<F::Output> {
    if uring {
        if let Ok(mut rt) = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .enable_timer()
            .build()
        {
            return Some(rt.block_on(f));
        }
    }
    match monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
    {
        Ok(mut rt) => Some(rt.block_on(f)),
        Err(_) => None,
    }
}

/// Runs `threads` executors, thread `i` running `make(i)`, and collects their results.
pub fn run_threads<T, F, Fut>(threads: usize, uring: bool, make: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = T>,
{
    let handles: Vec<_> = (0..threads.max(1))
        .map(|i| {
            let make = make.clone();
            std::thread::spawn(move || block_on(uring, make(i)))
        })
        .collect();
    handles
        .into_iter()
        .filter_map(|h| h.join().ok().flatten())
        .collect()
}

/// Raises the soft open-file limit as far as the hard limit allows: a load generator holds one
/// descriptor per connection. Returns the soft limit now in force, `None` if unreadable.
pub fn raise_nofile() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct passed, nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    // An unlimited hard limit still stops at the kernel's `fs.nr_open` (2^20 by default).
    for want in [lim.rlim_max, lim.rlim_max.min(1 << 20)] {
        if lim.rlim_cur >= want {
            break;
        }
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct passed.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = want;
        }
    }
    Some(lim.rlim_cur)
}

/// CPU time (user + system) this process has used so far.
pub fn cpu_time() -> std::time::Duration {
    // SAFETY: an all-zero rusage is a valid value; getrusage only writes into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct passed, nothing else.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return std::time::Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        std::time::Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + std::time::Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Splits `n` items over `parts` threads: how many thread `i` gets.
pub fn share(n: usize, parts: usize, i: usize) -> usize {
    let parts = parts.max(1);
    n / parts + usize::from(i < n % parts)
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn shares_add_up() {
        for n in 0..50 {
            for parts in 1..7 {
                let total: usize = (0..parts).map(|i| share(n, parts, i)).sum();
                assert_eq!(total, n, "n={n} parts={parts}");
            }
        }
    }
}
