//! The subcommands of `tessera`, one module each.

pub mod args;
mod bench;
mod data;
mod dump;
mod gen;
mod opt;
mod run;

use tessera::Error;

/// Runs one parsed command line.
pub fn dispatch(cli: args::Cli) -> Result<(), Error> {
    match cli.command {
        args::Command::Run(a) => run::run(a),
        args::Command::Dump(a) => dump::dump(a),
        args::Command::Opt(a) => opt::opt(a),
        args::Command::Gen(a) => gen::gen(a),
        args::Command::Bench(a) => bench::bench(a),
    }
}
