//! `streampackctl console`: the web console. A process of its own, beside the daemon: it
//! serves the pages and a JSON API, and turns each API call into one admin request over the
//! Unix socket, exactly as the CLI does. The daemon has no web surface.
//!
//! - [`auth`]: the token, sessions, and refusing changes from other sites;
//! - [`api`]: paths and methods to admin requests, answers to JSON and statuses;
//! - [`assets`]: the embedded pages, script, style and players;
//! - [`serve`]: the HTTP side (hyper on one tokio thread; admin calls on its blocking pool).

mod api;
mod assets;
mod auth;
mod serve;

use crate::error::CtlError;
use crate::socket::SocketChoice;
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

/// `streampackctl console` flags.
#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Address to serve the console on (loopback unless --allow-remote)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// Login token: at least 16 letters, digits or '-._~' [default: a random one, printed].
    /// Prefer the environment variable: a flag is visible to other users in `ps`
    #[arg(
        long,
        env = "STREAMPACK_CONSOLE_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// The origin browsers reach the console at through a TLS proxy, e.g.
    /// https://console.example.com (changes are accepted from there, and the session cookie
    /// is then Secure)
    #[arg(long, value_name = "URL")]
    pub public_origin: Option<String>,
    /// Allow a --listen address other than loopback (the console speaks plain HTTP: put a
    /// TLS proxy in front of it)
    #[arg(long)]
    pub allow_remote: bool,
}

/// Serves the console until the process is stopped.
pub fn run(socket: SocketChoice, args: &ConsoleArgs) -> Result<(), CtlError> {
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        return Err(CtlError::Console(format!(
            "--listen {} is not a loopback address: the console speaks plain HTTP and controls \
             the daemon; pass --allow-remote to serve it there anyway (with TLS in front)",
            args.listen
        )));
    }
    let token = match &args.token {
        Some(t) if !auth::token_ok(t) => {
            return Err(CtlError::Console(format!(
                "the console token must have at least {} characters, each a letter, a digit or \
                 one of -._~ (it guards the daemon's configuration and travels in a URL)",
                auth::MIN_TOKEN_LEN
            )))
        }
        Some(t) => t.clone(),
        None => auth::random_hex(24)
            .ok_or_else(|| CtlError::Console("no randomness for a console token".into()))?,
    };
    let public_origin = match args
        .public_origin
        .as_deref()
        .map(|o| o.trim_end_matches('/'))
    {
        Some(o)
            if !(o.starts_with("https://") || o.starts_with("http://"))
                || o.matches('/').count() != 2 =>
        {
            return Err(CtlError::Console(format!(
                "--public-origin {o} must be a scheme and a host, e.g. https://console.example.com"
            )))
        }
        other => other.map(str::to_owned),
    };
    let server = std::net::TcpListener::bind(args.listen)
        .map_err(|e| CtlError::Console(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = server.local_addr().unwrap_or(args.listen);
    // What the operator needs to get in; a closed stdout (a service manager's choice) does not
    // stop the console.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "streampack console: http://{addr}/?token={token}");
    let _ = writeln!(out, "daemon admin socket: {}", socket.path.display());
    if !addr.ip().is_loopback() {
        let _ = writeln!(
            out,
            "warning: the console is served over plain HTTP on {addr}; put a TLS proxy in \
             front of it before anyone uses it over a network"
        );
    }
    let _ = out.flush();
    drop(out);
    let console = Arc::new(serve::Console {
        gate: auth::Gate::new(token, public_origin),
        socket,
    });
    serve::serve(server, console)
        .map_err(|e| CtlError::Console(format!("serving on {addr} failed: {e}")))
}
