//! `streampackctl`: the admin CLI of streampackd. Parses flags, sends one request over the
//! admin socket, prints the answer.
//!
//! Exit status: 0 done, 1 refused by the daemon, 2 usage error, 3 daemon not reachable,
//! 4 admin protocol error.

mod args;
mod channel_args;
mod cli;
mod client;
mod console;
mod error;
mod fetch;
mod harvest;
mod output;
mod render;
mod socket;
mod units;

use clap::Parser;
use std::io::{self, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`streampackctl channel list | head -1`) is the reader's choice.
        Err(error::CtlError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(io::stderr(), "streampackctl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: cli::Cli) -> Result<(), error::CtlError> {
    let socket = socket::resolve_from_env(cli.socket);
    let fmt = if cli.json {
        output::Format::Json
    } else {
        output::Format::Human
    };
    if let cli::Command::Console(a) = &cli.command {
        return console::run(socket, a);
    }
    if let cli::Command::Harvest(a) = &cli.command {
        let summary = harvest::run(&socket, a)?;
        let text = match fmt {
            output::Format::Json => serde_json::to_string_pretty(&summary)
                .map(|mut s| {
                    s.push('\n');
                    s
                })
                .map_err(|e| error::CtlError::Harvest(e.to_string()))?,
            output::Format::Human => harvest::human(&summary),
        };
        let mut out = io::stdout().lock();
        return out
            .write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(error::CtlError::Output);
    }
    let req = cli.command.into_request();
    let resp = client::call(&socket, &req, client::READ_TIMEOUT)?;
    let text = output::format(&req, resp, fmt)?;
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(error::CtlError::Output)
}
