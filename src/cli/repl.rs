//! `tessera repl`: the line editor in front of `tessera::repl::Session` (rustyline: editing,
//! history kept across sessions, tab completion; `...` continuation lines; Ctrl-C and
//! Ctrl-D). When stdin is not a terminal, lines are read plainly, without prompts.

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use std::cell::RefCell;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use tessera::repl::complete::{complete, Names};
use tessera::repl::input::is_complete;
use tessera::repl::Session;
use tessera::Error;

const PROMPT: &str = ">>> ";
const MORE: &str = "... ";

/// The history file: `$TESSERA_HISTORY` (empty: no history), else
/// `$XDG_STATE_HOME/tessera/history`, else `~/.local/state/tessera/history`.
pub fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TESSERA_HISTORY") {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })?;
    Some(state.join("tessera").join("history"))
}

/// Completion from the session's names (refreshed after every entry).
struct ReplHelper {
    names: Rc<RefCell<Names>>,
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, found) = complete(line, pos, &self.names.borrow());
        let pairs = found
            .into_iter()
            .map(|c| Pair {
                display: c.clone(),
                replacement: c,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}
impl Highlighter for ReplHelper {}
impl Validator for ReplHelper {}
impl Helper for ReplHelper {}

fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Prints a reply or an error; returns whether to quit and whether it failed.
fn show(session: &mut Session, entry: &str) -> (bool, bool) {
    let command = entry.trim_start().starts_with(':') && !entry.trim_start().starts_with(":time");
    if tessera::repl::worker::abandoned() > 0 && !command {
        eprintln!(
            "note: an interrupted computation is still running; computations wait for it \
             (Ctrl-C stops waiting)"
        );
    }
    match session.eval(entry) {
        Ok(reply) => {
            for n in &reply.notes {
                eprintln!("{n}");
            }
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(reply.out.as_bytes());
            let _ = out.flush();
            (reply.quit, false)
        }
        Err(e) => {
            eprint!("{}", e.render(color()));
            (false, true)
        }
    }
}

pub fn repl() -> Result<(), Error> {
    let mut session = Session::new();
    // Ctrl-C while an entry computes sets the session's flag; at the prompt the line editor
    // reads it as a key instead.
    let flag = session.interrupt_flag();
    let handler = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    if std::io::stdin().is_terminal() {
        if let Err(e) = handler {
            eprintln!("note: Ctrl-C cannot interrupt computations: {e}");
        }
        interactive(&mut session)
    } else {
        plain(&mut session)
    }
}

/// Lines from a pipe or a file: no prompts; the exit status is 1 if an entry failed.
fn plain(session: &mut Session) -> Result<(), Error> {
    let mut pending = String::new();
    let mut failed = 0usize;
    // Bytes, not `str` lines: a line that is not UTF-8 is an entry with replacement
    // characters, which fails where the bad bytes were, and the session goes on.
    for line in std::io::stdin().lock().split(b'\n') {
        let line = line.map_err(|e| Error::msg(format!("cannot read stdin: {e}")))?;
        let line = String::from_utf8_lossy(&line);
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if !pending.is_empty() {
            pending.push('\n');
        }
        pending.push_str(line);
        if !is_complete(&pending) {
            continue;
        }
        let entry = std::mem::take(&mut pending);
        let (quit, err) = show(session, &entry);
        failed += usize::from(err);
        if quit {
            break;
        }
    }
    if !pending.trim().is_empty() {
        let (_, err) = show(session, &pending);
        failed += usize::from(err);
    }
    if failed > 0 {
        Err(Error::msg(format!("{failed} of the entries failed")))
    } else {
        Ok(())
    }
}

fn interactive(session: &mut Session) -> Result<(), Error> {
    let config = rustyline::Config::builder()
        .max_history_size(10_000)
        .map_err(|e| Error::msg(e.to_string()))?
        .auto_add_history(false)
        .build();
    let mut rl: Editor<ReplHelper, DefaultHistory> = Editor::with_config(config)
        .map_err(|e| Error::msg(format!("cannot start the line editor: {e}")))?;
    let names = Rc::new(RefCell::new(session.names()));
    rl.set_helper(Some(ReplHelper {
        names: names.clone(),
    }));
    let mut history = history_path();
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // A missing file is a first session; anything but a regular file (a device, a
        // FIFO) is not read, as it may never end.
        match std::fs::metadata(h) {
            Ok(m) if !m.is_file() => {
                eprintln!(
                    "note: the history {} is not a regular file; it is not used",
                    h.display()
                );
                history = None;
            }
            _ => {
                let _ = rl.load_history(h);
            }
        }
    }
    println!(
        "Tessera {} REPL: :help for help, Ctrl-D to leave.",
        env!("CARGO_PKG_VERSION")
    );
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() { PROMPT } else { MORE };
        match rl.readline(prompt) {
            Ok(line) => {
                if !pending.is_empty() {
                    pending.push('\n');
                }
                pending.push_str(&line);
                if !is_complete(&pending) {
                    continue;
                }
                let entry = std::mem::take(&mut pending);
                if entry.trim().is_empty() {
                    continue;
                }
                let _ = rl.add_history_entry(entry.as_str());
                if let Some(h) = &history {
                    if let Err(e) = rl.append_history(h) {
                        // Said once; the session goes on without a history file.
                        eprintln!("note: cannot write the history to {}: {e}", h.display());
                        history = None;
                    }
                }
                let (quit, _) = show(session, &entry);
                *names.borrow_mut() = session.names();
                if quit {
                    break;
                }
            }
            // Ctrl-C at the prompt: the line (and any unfinished entry) is dropped.
            Err(ReadlineError::Interrupted) => pending.clear(),
            // Ctrl-D.
            Err(ReadlineError::Eof) => break,
            // A line that is not UTF-8 is dropped; the session goes on.
            Err(ReadlineError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                eprintln!("error: the line is not UTF-8; it was dropped");
            }
            Err(e) => return Err(Error::msg(format!("cannot read a line: {e}"))),
        }
    }
    Ok(())
}
