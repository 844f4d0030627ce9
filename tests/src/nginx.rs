//! nginx started by a test: one process (`master_process off`) as the invoking user, in its own
//! prefix under a temp dir, on a free loopback port; killed when the handle drops.

use crate::{free_port, Killed};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A running nginx; stops when dropped.
pub struct Nginx {
    _child: Killed,
    /// The loopback port it listens on.
    pub port: u16,
    /// Its prefix (`logs/`, `cache/`, the config).
    pub prefix: std::path::PathBuf,
}

impl Nginx {
    /// Starts nginx under `dir/nginx` with `http_body` (the inside of the `http {}` block, after
    /// the temp paths) where `{port}` and `{prefix}` are replaced; waits until it listens.
    pub fn start(dir: &Path, http_body: &str) -> Nginx {
        let port = free_port();
        let prefix = dir.join("nginx");
        std::fs::create_dir_all(prefix.join("logs")).unwrap();
        let p = prefix.display().to_string();
        let body = http_body
            .replace("{port}", &port.to_string())
            .replace("{prefix}", &p);
        let conf = format!(
            r#"master_process off;
daemon off;
error_log {p}/logs/error.log warn;
pid {p}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {p}/client_body;
    proxy_temp_path {p}/proxy_temp;
    fastcgi_temp_path {p}/fastcgi_temp;
    uwsgi_temp_path {p}/uwsgi_temp;
    scgi_temp_path {p}/scgi_temp;
{body}
}}
"#
        );
        let conf_path = prefix.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let log = std::fs::File::create(prefix.join("logs/stderr.log")).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn nginx");
        let child = Killed(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen: {}",
                std::fs::read_to_string(prefix.join("logs/stderr.log")).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(100));
        }
        Nginx {
            _child: child,
            port,
            prefix,
        }
    }

    /// nginx serving `root` as static files (CORS open: the player page comes from elsewhere).
    pub fn static_files(dir: &Path, root: &Path) -> Nginx {
        let body = format!(
            r#"    access_log off;
    types {{ application/vnd.apple.mpegurl m3u8; application/dash+xml mpd; video/mp2t ts; video/mp4 mp4 m4s; }}
    server {{
        listen 127.0.0.1:{{port}};
        root {};
        add_header Access-Control-Allow-Origin * always;
    }}"#,
            root.display()
        );
        Nginx::start(dir, &body)
    }
}
