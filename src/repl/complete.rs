//! Tab completion: commands after `:`, IR levels after `:ir`, file names after `:load`,
//! `:weights`, `:save NAME` and inside `load("`, else names (the language's built-ins, the
//! REPL's, keywords and dtypes, bound tensors, session functions).

use super::commands::COMMANDS;
use super::host;
use crate::dump::IrLevel;
use std::path::Path;

/// The names of a session that completion offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    pub tensors: Vec<String>,
    pub functions: Vec<String>,
}

const KEYWORDS: &[&str] = &[
    "let", "fn", "as", "true", "false", "none", "f32", "f16", "bf16", "f8e4m3", "f8e5m2", "i8",
    "i32", "bool",
];

/// The completions of the word before byte `pos` of `line`: where the word starts, and the
/// candidates (sorted, without duplicates) that replace it.
pub fn complete(line: &str, pos: usize, names: &Names) -> (usize, Vec<String>) {
    let pos = floor_char(line, pos);
    let before = &line[..pos];
    let trimmed = before.trim_start();
    if let Some(cmd) = trimmed.strip_prefix(':') {
        let Some(space) = cmd.find(char::is_whitespace) else {
            // The command name itself.
            let start = pos - cmd.len() - 1;
            let found = COMMANDS
                .iter()
                .map(|(n, _, _)| n.to_string())
                .filter(|n| n.starts_with(&format!(":{cmd}")))
                .collect();
            return (start, found);
        };
        let (name, args) = (&cmd[..space], &cmd[space..]);
        let words: Vec<&str> = args.split_whitespace().collect();
        let new_word = args.ends_with(char::is_whitespace);
        let arg_index = if new_word {
            words.len()
        } else {
            words.len().saturating_sub(1)
        };
        match (name, arg_index) {
            ("load" | "weights", _) => return paths(before, pos),
            ("save", 0) => return word(before, pos, names.tensors.iter().map(String::as_str)),
            ("save", _) => return paths(before, pos),
            ("ir", 0) => return word(before, pos, IrLevel::ALL.iter().map(|(_, n)| *n)),
            _ => {}
        }
    }
    // Inside `load("...`: a file name.
    if let Some(q) = before.rfind("load(\"") {
        let inside = &before[q + 6..];
        if !inside.contains('"') {
            return paths_from(inside, pos);
        }
    }
    let builtins = tessera_frontend::builtin_names();
    let all = builtins
        .iter()
        .copied()
        .chain(host::NAMES)
        .chain(KEYWORDS.iter().copied())
        .chain(names.tensors.iter().map(String::as_str))
        .chain(names.functions.iter().map(String::as_str));
    word(before, pos, all)
}

fn floor_char(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Candidates for the identifier that ends at `pos`.
fn word<'a>(
    before: &str,
    pos: usize,
    candidates: impl Iterator<Item = &'a str>,
) -> (usize, Vec<String>) {
    // IR levels have dashes (`graph-opt`); names of the language do not.
    let dash = before.trim_start().starts_with(":ir");
    let len = before
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || (dash && *c == '-'))
        .map(char::len_utf8)
        .sum::<usize>();
    let prefix = &before[before.len() - len..];
    let mut found: Vec<String> = candidates
        .filter(|c| c.starts_with(prefix))
        .map(str::to_string)
        .collect();
    found.sort();
    found.dedup();
    (pos - len, found)
}

/// File names for the blank-separated word that ends at `pos`.
fn paths(before: &str, pos: usize) -> (usize, Vec<String>) {
    let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
    paths_from(&before[start..], pos)
}

/// File names that complete `partial` (a path typed so far), which ends at `pos`.
fn paths_from(partial: &str, pos: usize) -> (usize, Vec<String>) {
    let (dir, file) = match partial.rfind('/') {
        Some(i) => (&partial[..=i], &partial[i + 1..]),
        None => ("", partial),
    };
    let read = if dir.is_empty() { "." } else { dir };
    let mut found: Vec<String> = match std::fs::read_dir(Path::new(read)) {
        Ok(entries) => entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                if !name.starts_with(file) || (name.starts_with('.') && !file.starts_with('.')) {
                    return None;
                }
                let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                Some(if is_dir { format!("{name}/") } else { name })
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    found.sort();
    (pos - file.len(), found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            tensors: vec!["xs".into(), "w1".into()],
            functions: vec!["mlp".into()],
        }
    }

    #[test]
    fn completes_names_and_builtins() {
        assert_eq!(complete("rel", 3, &names()), (0, vec!["relu".into()]));
        assert_eq!(
            complete("re", 2, &names()).1,
            vec!["recip", "relu", "reshape"]
        );
        assert_eq!(
            complete("x + m", 5, &names()).1,
            vec!["matmul", "max", "maxpool2d", "mean", "min", "mlp"]
        );
        assert_eq!(complete("1 + x", 5, &names()).1, vec!["xs"]);
        assert_eq!(complete("ran", 3, &names()).1, vec!["rand", "randn"]);
        assert_eq!(complete("relu(x", 6, &names()), (5, vec!["xs".into()]));
    }

    #[test]
    fn completes_commands_and_levels() {
        assert_eq!(complete(":l", 2, &names()), (0, vec![":load".into()]));
        assert_eq!(
            complete(":ir gr", 6, &names()),
            (4, vec!["graph".into(), "graph-opt".into()])
        );
        assert_eq!(complete(":ir graph rel", 13, &names()).1, vec!["relu"]);
        assert_eq!(complete(":save w", 7, &names()), (6, vec!["w1".into()]));
    }

    #[test]
    fn completes_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mlp.tsr"), "").unwrap();
        std::fs::create_dir(dir.path().join("models")).unwrap();
        let d = dir.path().display().to_string();
        let line = format!(":load {d}/m");
        let (start, found) = complete(&line, line.len(), &names());
        assert_eq!(start, line.len() - 1);
        assert_eq!(found, vec!["mlp.tsr", "models/"]);
        let line = format!("let w = load(\"{d}/ml");
        assert_eq!(complete(&line, line.len(), &names()).1, vec!["mlp.tsr"]);
    }
}
