//! `streampackd`: parse flags, load config, set up logging, run.

use clap::Parser;
use std::process::ExitCode;
use streampackd::config::{Args, Config, LogFormat};

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match Config::load(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("streampackd: {e}");
            return ExitCode::from(2);
        }
    };
    if args.print_config {
        print!("{}", cfg.to_toml());
        return ExitCode::SUCCESS;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("STREAMPACK_LOG")
        // h2 and rustls log what hostile clients do, once per connection: the daemon says it
        // itself, rate-limited per client (`limits::log_limit`).
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,h2=error,rustls=error"));
    // Colours only on a terminal: files and pipes get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // Under systemd the journal adds its own timestamps.
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    match (cfg.log_format, journald) {
        (LogFormat::Json, _) => builder.json().init(),
        (LogFormat::Text, true) => builder.without_time().with_ansi(false).init(),
        (LogFormat::Text, false) => builder.init(),
    }
    match streampackd::server::run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("streampackd: {e}");
            ExitCode::FAILURE
        }
    }
}
