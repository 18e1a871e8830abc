//! The arguments of the commands that take words (`:load FILE`, `:save NAME FILE`,
//! `:precision P`; none for `:help`, `:quit`, `:vars`): split at blanks, a word in double
//! quotes holding blanks (`"my file.npy"`), and the usage error for words a command does not
//! take.

use tessera_dialects::Span;
use tessera_frontend::Diagnostic;

/// One argument and where it is in the entry (its quotes included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub span: Span,
}

const QUOTE_HINT: &str = "a file name with blanks is written in double quotes: `\"my file.npy\"`";

/// The words of `rest`, which starts at byte `at` of the entry.
pub fn split(rest: &str, at: usize) -> Result<Vec<Word>, Diagnostic> {
    let mut words = Vec::new();
    let mut i = 0;
    while let Some(c) = rest[i..].chars().next() {
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let (text, end) = if c == '"' {
            let Some(close) = rest[i + 1..].find('"') else {
                return Err(Diagnostic::error("unterminated `\"` in the arguments")
                    .primary(
                        Span::new(at + i, at + rest.len()),
                        "this quote is not closed",
                    )
                    .hint(QUOTE_HINT));
            };
            let end = i + 1 + close + 1;
            (rest[i + 1..end - 1].to_string(), end)
        } else {
            let end = rest[i..]
                .find(char::is_whitespace)
                .map_or(rest.len(), |n| i + n);
            (rest[i..end].to_string(), end)
        };
        words.push(Word {
            text,
            span: Span::new(at + i, at + end),
        });
        i = end;
    }
    Ok(words)
}

/// `words` if there are at most `max` of them, else the error for the extra ones: `:name`
/// takes `min..=max` arguments, and `usage` is its line (`:save NAME FILE.npy`).
pub fn at_most(
    name: &str,
    words: Vec<Word>,
    (min, max): (usize, usize),
    usage: &str,
) -> Result<Vec<Word>, Diagnostic> {
    let Some(first_extra) = words.get(max) else {
        return Ok(words);
    };
    let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
    let takes = match (min, max) {
        (_, 0) => "no arguments".to_string(),
        (a, b) if a == b => format!("{b} {}", plural(b)),
        (_, b) => format!("at most {b} {}", plural(b)),
    };
    let last = words.last().map_or(first_extra.span, |w| w.span);
    let mut hint = format!("usage: `{usage}`");
    if usage.contains("FILE") {
        hint.push_str(&format!("; {QUOTE_HINT}"));
    }
    Err(
        Diagnostic::error(format!("`:{name}` takes {takes}, given {}", words.len()))
            .primary(
                Span::new(first_extra.span.start as usize, last.end as usize),
                format!("not an argument of `:{name}`"),
            )
            .hint(hint),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(rest: &str) -> Vec<(String, (u32, u32))> {
        split(rest, 10)
            .unwrap()
            .into_iter()
            .map(|w| (w.text, (w.span.start, w.span.end)))
            .collect()
    }

    #[test]
    fn words_and_quotes() {
        assert_eq!(texts(""), vec![]);
        assert_eq!(
            texts("w  a.npy"),
            vec![("w".into(), (10, 11)), ("a.npy".into(), (13, 18))]
        );
        assert_eq!(
            texts("\"my file.npy\" x"),
            vec![("my file.npy".into(), (10, 23)), ("x".into(), (24, 25))]
        );
        assert_eq!(
            texts("é\t\"\""),
            vec![("é".into(), (10, 12)), ("".into(), (13, 15))]
        );
        let e = split("a \"b c", 0).unwrap_err();
        assert_eq!(e.labels[0].span, Span::new(2, 6));
    }

    #[test]
    fn extra_words_are_refused() {
        let w = split("a b c", 0).unwrap();
        assert_eq!(at_most("x", w.clone(), (0, 3), ":x A B C").unwrap(), w);
        let e = at_most("save", w.clone(), (2, 2), ":save NAME FILE.npy").unwrap_err();
        assert_eq!(e.message, "`:save` takes 2 arguments, given 3");
        assert_eq!(e.labels[0].span, Span::new(4, 5));
        let e = at_most("vars", w.clone(), (0, 0), ":vars").unwrap_err();
        assert_eq!(e.message, "`:vars` takes no arguments, given 3");
        assert_eq!(e.labels[0].span, Span::new(0, 5));
        let e = at_most("precision", w, (0, 1), ":precision [P]").unwrap_err();
        assert_eq!(e.message, "`:precision` takes at most 1 argument, given 3");
    }
}
