//! Diagnostics: an error message with labelled source spans and an optional hint,
//! rendered with codespan-reporting (`error: ...`, file:line:column, the line underlined).

use tessera_dialects::Span;

/// One labelled span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
    /// The primary label is underlined with `^`; secondary ones with `-`.
    pub primary: bool,
}

/// A user-facing error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    pub labels: Vec<Label>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            labels: Vec::new(),
            hint: None,
        }
    }

    /// Adds the primary label.
    pub fn primary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: true,
        });
        self
    }

    /// Adds a secondary label.
    pub fn secondary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: false,
        });
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// The primary span, if any.
    pub fn span(&self) -> Option<Span> {
        self.labels.iter().find(|l| l.primary).map(|l| l.span)
    }
}

/// Renders diagnostics against one source file, codespan style:
///
/// ```text
/// error: expected `;` after `let` statement, found `}`
///   ┌─ mlp.tsr:3:20
///   │
/// 3 │     let h = relu(x)
///   │                    ^ expected `;`
///   │
///   = hint: ...
/// ```
///
/// Spans past the end of the source, reversed or inside a UTF-8 character are clamped, so
/// rendering never panics. `color` adds ANSI colour codes.
pub fn render(diags: &[Diagnostic], file_name: &str, src: &str, color: bool) -> String {
    use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label as CsLabel};
    use codespan_reporting::files::SimpleFile;
    use codespan_reporting::term::{self, termcolor, Config};

    let file = SimpleFile::new(file_name, src);
    let config = Config::default();
    let mut out = String::new();
    for d in diags {
        let labels = d
            .labels
            .iter()
            .map(|l| {
                let range = clamp(src, l.span);
                let label = if l.primary {
                    CsLabel::primary((), range)
                } else {
                    CsLabel::secondary((), range)
                };
                label.with_message(l.message.clone())
            })
            .collect();
        let mut cs = CsDiagnostic::error()
            .with_message(d.message.clone())
            .with_labels(labels);
        if let Some(h) = &d.hint {
            cs = cs.with_notes(vec![format!("hint: {h}")]);
        }
        let rendered = if color {
            let mut buf = termcolor::Buffer::ansi();
            term::emit_to_write_style(&mut buf, &config, &file, &cs)
                .map(|()| String::from_utf8_lossy(buf.as_slice()).into_owned())
        } else {
            term::emit_into_string(&config, &file, &cs)
        };
        match rendered {
            Ok(s) => out.push_str(&s),
            // Only reachable for spans the clamping did not fix; fall back to plain text.
            Err(_) => {
                out.push_str(&format!("error: {}\n", d.message));
                if let Some(span) = d.span() {
                    let (line, col) = line_col(src, span.start as usize);
                    out.push_str(&format!("  --> {file_name}:{line}:{col}\n"));
                }
                if let Some(h) = &d.hint {
                    out.push_str(&format!("  = hint: {h}\n"));
                }
            }
        }
    }
    out
}

/// A span as a byte range inside `src`, on character boundaries, `start <= end`.
fn clamp(src: &str, span: Span) -> std::ops::Range<usize> {
    clamp_range(src, span.start as usize, span.end as usize)
}

fn clamp_range(src: &str, start: usize, end: usize) -> std::ops::Range<usize> {
    let floor = |mut i: usize| {
        i = i.min(src.len());
        while !src.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = floor(start);
    let end = floor(end).max(start);
    start..end
}

/// The 1-based line and column (in characters) of a byte offset; offsets past the end
/// count as the end of the source.
pub fn line_col(src: &str, byte_offset: usize) -> (usize, usize) {
    let off = clamp_range(src, byte_offset, byte_offset).start;
    let before = &src[..off];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}
