//! The `tessera` command line: argument parsing (clap) and dispatch to `cli::*`.
//! Exit status: 0 on success, 1 on a user error, 2 on a bad command line (clap's own, or
//! [`tessera::Error::Usage`] for what clap cannot see).

mod cli;

use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::args::Cli::parse();
    match cli::dispatch(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprint!("{}", e.render(std::io::stderr().is_terminal()));
            ExitCode::from(e.exit_status())
        }
    }
}
