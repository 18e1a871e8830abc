//! The `.tsr` source the REPL writes for an entry, and the map from its byte offsets back to
//! where each piece came from (the line the user typed, a `fn` entered earlier, a file
//! `:load`ed), so that diagnostics point into the user's own text.
//!
//! An evaluated expression becomes a function whose parameters are the bound tensors it
//! mentions, with their concrete shapes and dtypes:
//!
//! ```text
//! fn f(a: f32[4]) -> f32[4] { relu(a) }      <- session functions the expression calls
//! fn expr(x: f32[2, 4]) -> f32[2, 4] {
//! relu(x) + 1                                 <- the user's text, byte for byte
//! }
//! ```
//!
//! Pieces of user text are copied at the same byte offsets (text outside the DSL part of
//! the entry becomes blanks, a REPL built-in call becomes a parameter name padded to the
//! call's length), so a span maps back by a subtraction.

use crate::Error;
use std::sync::Arc;
use tessera_dialects::Span;
use tessera_frontend::Diagnostic;

/// The file name of synthesized sources in diagnostics before they are mapped.
pub const SYNTH_FILE: &str = "<repl-synthesized>";

/// Where a piece of text comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The name shown in diagnostics: `<repl>` or a file path.
    pub name: String,
    pub src: Arc<str>,
}

impl Origin {
    pub fn new(name: impl Into<String>, src: &str) -> Origin {
        Origin {
            name: name.into(),
            src: Arc::from(src),
        }
    }
}

/// A piece of the synthesized source copied from an origin.
#[derive(Debug, Clone)]
struct Segment {
    at: usize,
    len: usize,
    origin: Origin,
    origin_at: usize,
}

/// A synthesized source and where its pieces come from.
#[derive(Debug, Clone, Default)]
pub struct Synth {
    pub src: String,
    segments: Vec<Segment>,
    /// Names written over longer text of an origin: `(origin, start, name length, end)`. A
    /// label on exactly the name is widened to the whole text it replaced.
    widen: Vec<(Origin, usize, usize, usize)>,
}

impl Synth {
    /// Appends text the REPL wrote itself.
    pub fn glue(&mut self, text: &str) {
        self.src.push_str(text);
    }

    /// Appends `text`, which stands for `origin.src[origin_at..origin_at + text.len()]`
    /// byte for byte.
    pub fn mapped(&mut self, text: &str, origin: &Origin, origin_at: usize) {
        self.segments.push(Segment {
            at: self.src.len(),
            len: text.len(),
            origin: origin.clone(),
            origin_at,
        });
        self.src.push_str(text);
    }

    /// Records that `origin.src[start..end]` was replaced by a name of `len` bytes.
    pub fn widen(&mut self, origin: &Origin, start: usize, len: usize, end: usize) {
        self.widen.push((origin.clone(), start, len, end));
    }

    fn segment(&self, span: Span) -> Option<&Segment> {
        let (s, e) = (span.start as usize, span.end as usize);
        self.segments
            .iter()
            .find(|g| s >= g.at && e <= g.at + g.len && (s < g.at + g.len || g.len == 0))
            .or_else(|| {
                // A span at the very end of a segment (an error after the last token).
                self.segments.iter().find(|g| s == g.at + g.len && e == s)
            })
    }

    /// Diagnostics against this source, mapped to their origins: each becomes one error
    /// rendered against the text it points into. Labels in other pieces are dropped; a
    /// diagnostic whose primary span is in text the REPL wrote keeps its message only.
    pub fn map_diags(&self, diags: Vec<Diagnostic>) -> Vec<Error> {
        diags.into_iter().map(|d| self.map_diag(d)).collect()
    }

    fn map_diag(&self, d: Diagnostic) -> Error {
        let Some(seg) = d.span().and_then(|s| self.segment(s)) else {
            return Error::Source {
                file: "<repl>".to_string(),
                src: String::new(),
                diags: vec![Diagnostic {
                    labels: Vec::new(),
                    ..d
                }],
            };
        };
        let mut out = Diagnostic {
            labels: Vec::new(),
            ..d.clone()
        };
        for mut l in d.labels {
            let Some(g) = self.segment(l.span).filter(|g| g.origin == seg.origin) else {
                continue;
            };
            let shift = |x: u32| x as usize - g.at + g.origin_at;
            let (start, mut end) = (shift(l.span.start), shift(l.span.end));
            if let Some(w) = self
                .widen
                .iter()
                .find(|(o, s, len, _)| *o == g.origin && *s == start && s + len == end)
            {
                end = w.3;
            }
            l.span = Span::new(start, end);
            out.labels.push(l);
        }
        Error::Source {
            file: seg.origin.name.clone(),
            src: seg.origin.src.to_string(),
            diags: vec![out],
        }
    }

    /// An error of the library pipeline, mapped when it concerns this source.
    pub fn map_error(&self, e: Error) -> Vec<Error> {
        match e {
            Error::Source { file, src, diags } if file == SYNTH_FILE && src == self.src => {
                self.map_diags(diags)
            }
            other => vec![other],
        }
    }
}

/// `text` with every byte outside `keep` replaced by a blank (line breaks stay), and the
/// replacements `(start, end, name)` applied inside it: `name` padded with blanks to the
/// length it replaces. The result has the same length in bytes, so offsets carry over.
pub fn blank_outside(
    text: &str,
    keep: (usize, usize),
    replace: &[(usize, usize, String)],
) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let Some((s, e, name)) = replace.iter().find(|(s, _, _)| *s == i) {
            out.extend_from_slice(name.as_bytes());
            for &b in &bytes[s + name.len().min(e - s)..*e] {
                out.push(if b == b'\n' { b'\n' } else { b' ' });
            }
            i = *e;
            continue;
        }
        let b = bytes[i];
        let inside = i >= keep.0 && i < keep.1;
        out.push(if inside || b == b'\n' { b } else { b' ' });
        i += 1;
    }
    // Multi-byte characters outside `keep` became blanks byte by byte; inside it they are
    // copied whole, and replacements are ASCII, so the bytes are UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_and_replaces() {
        let t = ":ir graph relu(randn([4])) + x";
        let s = blank_outside(t, (10, t.len()), &[(15, 25, "_h0".to_string())]);
        assert_eq!(s.len(), t.len());
        assert_eq!(s, "          relu(_h0       ) + x");
    }

    #[test]
    fn maps_spans_back() {
        let line = Origin::new("<repl>", "x +* 1");
        let mut s = Synth::default();
        s.glue("fn expr(x: f32) -> f32 {\n");
        s.mapped("x +* 1", &line, 0);
        s.glue("\n}\n");
        let at = s.src.find('*').unwrap();
        let d = Diagnostic::error("bad").primary(Span::new(at, at + 1), "here");
        let errs = s.map_diags(vec![d]);
        let Error::Source { file, diags, .. } = &errs[0] else {
            panic!()
        };
        assert_eq!(file, "<repl>");
        assert_eq!(diags[0].span(), Some(Span::new(3, 4)));
        // Text the REPL wrote: the message only.
        let d = Diagnostic::error("glue").primary(Span::new(0, 2), "here");
        let errs = s.map_diags(vec![d]);
        assert!(errs[0].render(false).starts_with("error: glue"));
    }
}
