//! The user-facing error of the library facade: diagnostics against a source file, or a
//! plain message. The CLI renders it and exits with status 1.

use tessera_frontend::diag::render;
use tessera_frontend::Diagnostic;

/// An error a user can act on.
#[derive(Debug, Clone)]
pub enum Error {
    /// Diagnostics with spans in a source file (`.tsr` or `.tir`).
    Source {
        file: String,
        src: String,
        diags: Vec<Diagnostic>,
    },
    /// An error with no source location (a file that cannot be read, ...).
    Message(String),
    /// A bad command line that clap cannot see, exit status 2 as clap's own errors: flags
    /// that contradict each other (`--max-error` without `--precision auto`, a header
    /// written over the output, a name given twice), a value outside a flag's range, or a
    /// flag the function's signature rules out (one `--output` for several results). A
    /// flag naming what the program lacks (a parameter, a size, a function) is a user
    /// error (status 1), as the program's own errors are.
    Usage(String),
}

impl Error {
    pub fn msg(m: impl Into<String>) -> Error {
        Error::Message(m.into())
    }

    /// A bad command line ([`Error::Usage`]).
    pub fn usage(m: impl Into<String>) -> Error {
        Error::Usage(m.into())
    }

    /// The process exit status for this error: 2 for a bad command line, else 1.
    pub fn exit_status(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }

    /// Whether this is the back end's "not compiled yet" refusal of a valid program (an
    /// operation not lowered to tile IR, or tile IR outside the CPU back end's subset), as
    /// opposed to an error in the program or its inputs.
    pub fn is_unsupported(&self) -> bool {
        let text = self.render(false);
        text.contains("not lowered to tile IR yet")
            || text.contains("unsupported in the CPU back end")
    }

    /// The text printed on stderr: `error: ...`, the location, the line underlined.
    pub fn render(&self, color: bool) -> String {
        match self {
            Error::Source { file, src, diags } => render(diags, file, src, color),
            Error::Message(m) | Error::Usage(m) => format!("error: {m}\n"),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for Error {}
