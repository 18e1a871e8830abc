//! The subcommands of `tessera`, one module each.

pub mod args;
mod bench;
mod compile;
mod data;
mod dump;
mod gen;
mod opt;
mod precision;
mod repl;
mod run;

use std::io::Write as _;
use tessera::Error;

/// Writes command output to stdout. A reader that went away (`tessera dump ... | head`)
/// ends the output quietly, as it would any Unix tool, instead of a panic.
pub fn out(text: impl AsRef<str>) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_ref().as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::msg(format!("cannot write the output: {e}"))),
    }
}

/// Tells the user that `func` runs in the interpreter because the CPU back end refused it.
pub fn fallback_note(func: &str, e: &Error) {
    let reason = e.render(false);
    let first = reason
        .lines()
        .next()
        .unwrap_or("")
        .trim_start_matches("error: ");
    eprintln!("note: `{func}` runs in the reference interpreter: {first}");
}

/// Runs one parsed command line.
pub fn dispatch(cli: args::Cli) -> Result<(), Error> {
    warn_about_thread_count();
    match cli.command {
        args::Command::Run(a) => run::run(a),
        args::Command::Dump(a) => dump::dump(a),
        args::Command::Opt(a) => opt::opt(a),
        args::Command::Gen(a) => gen::gen(a),
        args::Command::Bench(a) => bench::bench(a),
        args::Command::Compile(a) => compile::compile(a),
        args::Command::Tune(_) => Err(Error::msg(
            "`tessera tune` comes with the learned cost model and the tuning database, which are \
             not available yet: schedules come from the analytic rule (`dump --ir scheduled`)",
        )),
        args::Command::Repl => repl::repl(),
    }
}

/// Loads the program `--fn`/`--fusion` apply to.
pub fn load(source: &args::SourceArgs) -> Result<tessera::Program, tessera::Error> {
    let mut prog = tessera::Program::load(&source.file)?;
    prog.fusion = source.fusion.fusion();
    Ok(prog)
}

/// A `TESSERA_NUM_THREADS` the runtime does not take as given (it falls back to its
/// default, or clamps) is said once on stderr: the runtime, a library, prints nothing.
fn warn_about_thread_count() {
    use tessera_runtime::pool::{threads_from_env_value, MAX_THREADS, NUM_THREADS_ENV};
    let Ok(value) = std::env::var(NUM_THREADS_ENV) else {
        return;
    };
    if value.trim().is_empty() {
        return;
    }
    let default = tessera_runtime::pool::default_num_threads();
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => {}
        _ if threads_from_env_value(Some(&value), 0) == MAX_THREADS => eprintln!(
            "warning: {NUM_THREADS_ENV}={value}: at most {MAX_THREADS} threads; using {MAX_THREADS}"
        ),
        _ => eprintln!(
            "warning: {NUM_THREADS_ENV}={value:?} is not a positive integer; using {} threads",
            threads_from_env_value(None, default)
        ),
    }
}
