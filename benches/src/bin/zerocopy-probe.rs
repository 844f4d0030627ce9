//! `zerocopy-probe`: what sending one segment to a TCP socket costs the sender, by mechanism,
//! to choose how streampack should send segments (see docs/performance.md).
//!
//! The segment lives in a memfd (what a zero-copy origin would store it in); a reader thread
//! on another CPU drains the socket on loopback. Each mechanism sends the whole segment again and again for
//! `--secs`; the sender's own thread CPU time (`CLOCK_THREAD_CPUTIME_ID`) divided by the sends
//! is printed, with the rate:
//! - `write`: `write(2)` from an `mmap` of the memfd (what `writev` from `Bytes` does today);
//! - `sendfile`: `sendfile(2)` from the memfd;
//! - `splice`: `splice(2)` memfd → pipe (non-blocking: resident pages, page references only),
//!   then pipe → socket (what monoio's `IORING_OP_SPLICE` would do on the socket side).
//!
//! ```sh
//! cargo build --release -p streampack-benches --bin zerocopy-probe
//! target/release/zerocopy-probe --size 233001 --secs 3   # sender on CPU 0, reader on CPU 1
//! ```
#![allow(clippy::print_stdout)]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Segment size, bytes.
    #[arg(long, default_value_t = 233_001)]
    size: usize,
    /// Seconds per mechanism.
    #[arg(long, default_value_t = 3)]
    secs: u64,
    /// Rounds of all mechanisms, alternated (the median is printed).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// CPU of the sending thread.
    #[arg(long, default_value_t = 0)]
    sender_cpu: usize,
    /// CPU of the reading thread (another one than the sender's, as a remote client would be).
    #[arg(long, default_value_t = 1)]
    reader_cpu: usize,
}

/// Pins the calling thread to `cpu`.
fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            fail("sched_setaffinity");
        }
    }
}

fn fail(what: &str) -> ! {
    eprintln!(
        "zerocopy-probe: {what}: {}",
        std::io::Error::last_os_error()
    );
    std::process::exit(1);
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// A memfd holding `size` bytes, and a read-only mapping of it.
fn segment(size: usize) -> (OwnedFd, *const u8) {
    // SAFETY: a NUL-terminated name; the returned fd is owned below.
    let fd = unsafe { libc::memfd_create(c"segment".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        fail("memfd_create");
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let bytes: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
    let mut off = 0;
    while off < size {
        // SAFETY: the range is inside `bytes`.
        let n = unsafe { libc::write(fd.as_raw_fd(), bytes[off..].as_ptr().cast(), size - off) };
        if n <= 0 {
            fail("write memfd");
        }
        off += n as usize;
    }
    // SAFETY: mapping `size` bytes of a file that has them, read-only, shared.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        fail("mmap");
    }
    (fd, p as *const u8)
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Write,
    Sendfile,
    Splice,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Write => "write (copy from mmap)",
            Mode::Sendfile => "sendfile memfd -> socket",
            Mode::Splice => "splice memfd -> pipe -> socket",
        }
    }
}

/// Sends the segment once with `mode`.
fn send_once(mode: Mode, sock: RawFd, memfd: RawFd, map: *const u8, size: usize, pipe: [RawFd; 2]) {
    let mut off: usize = 0;
    while off < size {
        let n = match mode {
            // SAFETY: `map` maps `size` bytes; the range is inside it.
            Mode::Write => unsafe { libc::write(sock, map.add(off).cast(), size - off) },
            Mode::Sendfile => {
                let mut o = off as libc::off_t;
                // SAFETY: valid fds and out-pointer.
                unsafe { libc::sendfile(sock, memfd, &mut o, size - off) }
            }
            Mode::Splice => {
                let mut o = off as libc::loff_t;
                // SAFETY: valid fds and offset pointer; the pipe is ours.
                let into = unsafe {
                    libc::splice(
                        memfd,
                        &mut o,
                        pipe[1],
                        std::ptr::null_mut(),
                        size - off,
                        libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
                    )
                };
                if into <= 0 {
                    fail("splice memfd -> pipe");
                }
                let mut left = into as usize;
                while left > 0 {
                    // SAFETY: as above.
                    let out = unsafe {
                        libc::splice(
                            pipe[0],
                            std::ptr::null_mut(),
                            sock,
                            std::ptr::null_mut(),
                            left,
                            libc::SPLICE_F_MOVE,
                        )
                    };
                    if out <= 0 {
                        fail("splice pipe -> socket");
                    }
                    left -= out as usize;
                }
                into
            }
        };
        if n <= 0 {
            fail(mode.name());
        }
        off += n as usize;
    }
}

/// µs of sender CPU per send, and sends per second, over `secs`.
fn measure(mode: Mode, args: &Args, memfd: RawFd, map: *const u8, pipe: [RawFd; 2]) -> (f64, f64) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|_| fail("bind"));
    let addr = listener.local_addr().unwrap_or_else(|_| fail("local_addr"));
    let reader_cpu = args.reader_cpu;
    let reader = std::thread::spawn(move || {
        pin(reader_cpu);
        let mut c = TcpStream::connect(addr).unwrap_or_else(|_| fail("connect"));
        let mut buf = vec![0u8; 1 << 20];
        while let Ok(n) = c.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    });
    let (sock, _) = listener.accept().unwrap_or_else(|_| fail("accept"));
    let deadline = Instant::now() + Duration::from_secs(args.secs);
    let (t0, c0) = (Instant::now(), thread_cpu_ns());
    let mut sends = 0u64;
    while Instant::now() < deadline {
        send_once(mode, sock.as_raw_fd(), memfd, map, args.size, pipe);
        sends += 1;
    }
    let (cpu, wall) = (thread_cpu_ns() - c0, t0.elapsed());
    drop(sock);
    let _ = reader.join();
    (
        cpu as f64 / 1_000.0 / sends as f64,
        sends as f64 / wall.as_secs_f64(),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args = Args::parse();
    pin(args.sender_cpu);
    let (memfd, map) = segment(args.size);
    let mut pipe = [0; 2];
    // SAFETY: `pipe` has room for two fds.
    if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        fail("pipe2");
    }
    // A pipe large enough for a whole segment (up to /proc/sys/fs/pipe-max-size).
    // SAFETY: a valid pipe fd.
    unsafe {
        libc::fcntl(
            pipe[1],
            libc::F_SETPIPE_SZ,
            args.size.next_power_of_two() as libc::c_int,
        )
    };
    let modes = [Mode::Write, Mode::Sendfile, Mode::Splice];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    let mut rate: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    for _ in 0..args.rounds.max(1) {
        for (i, &m) in modes.iter().enumerate() {
            let (c, r) = measure(m, &args, memfd.as_raw_fd(), map, pipe);
            cpu[i].push(c);
            rate[i].push(r);
        }
    }
    println!(
        "segment {} bytes, {} s per mechanism, median of {} alternated rounds",
        args.size,
        args.secs,
        args.rounds.max(1)
    );
    println!("| mechanism | sender CPU µs per send | sends/s |");
    println!("| --- | ---: | ---: |");
    for (i, m) in modes.iter().enumerate() {
        println!(
            "| {} | {:.1} | {:.0} |",
            m.name(),
            median(cpu[i].clone()),
            median(rate[i].clone())
        );
    }
}
