//! File-based UI tests over `tests/ui/**/*.tsr`.
//!
//! - `tests/ui/parse/**` runs [`parser::parse`]; `tests/ui/check/**` runs [`compile`] (parse,
//!   name/type/shape checking and lowering). Both use the same rules:
//! - a file without annotations must succeed;
//! - `//~ ERROR substring` on a line expects a diagnostic whose primary span starts on that
//!   line and whose message contains `substring`; `//~^ ERROR` means the line above, `//~^^`
//!   two lines above, and so on. Every expected error must be reported, and nothing else;
//! - the rendered output of a failing file is compared exactly with `NAME.stderr` next to it.
//!   `TESSERA_BLESS=1 cargo test -p tessera-frontend --test ui` rewrites those files.
//!
//! All mismatches of a directory are collected and reported together.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tessera_frontend::diag::{line_col, render};
use tessera_frontend::{compile, parser, Diagnostic};

#[test]
fn ui_parse() {
    run_dir("parse", |src| parser::parse(src).err().unwrap_or_default());
}

#[test]
fn ui_check() {
    run_dir("check", |src| compile(src).err().unwrap_or_default());
}

/// One `//~ ERROR` annotation.
#[derive(Debug)]
struct Expected {
    line: usize,
    substring: String,
}

fn ui_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("ui")
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|e| e == "tsr") {
            out.push(p);
        }
    }
}

fn annotations(src: &str) -> Result<Vec<Expected>, String> {
    let mut out = Vec::new();
    for (i, line) in src.lines().enumerate() {
        let Some(pos) = line.find("//~") else {
            continue;
        };
        let rest = &line[pos + 3..];
        let carets = rest.chars().take_while(|&c| c == '^').count();
        let rest = rest[carets..].trim_start();
        let Some(msg) = rest.strip_prefix("ERROR") else {
            return Err(format!("line {}: malformed annotation `{line}`", i + 1));
        };
        let line_no = (i + 1)
            .checked_sub(carets)
            .filter(|&l| l >= 1)
            .ok_or_else(|| format!("line {}: `//~^` points before the file", i + 1))?;
        out.push(Expected {
            line: line_no,
            substring: msg.trim().to_string(),
        });
    }
    Ok(out)
}

/// A short line-by-line diff of two texts.
fn diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let mut out = String::new();
    for i in 0..e.len().max(a.len()) {
        match (e.get(i), a.get(i)) {
            (Some(x), Some(y)) if x == y => {}
            (x, y) => {
                if let Some(x) = x {
                    let _ = writeln!(out, "  {:>4} - {x}", i + 1);
                }
                if let Some(y) = y {
                    let _ = writeln!(out, "  {:>4} + {y}", i + 1);
                }
            }
        }
    }
    out
}

fn check_file(path: &Path, rel: &str, run: fn(&str) -> Vec<Diagnostic>) -> Vec<String> {
    let mut failures = Vec::new();
    let src = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => return vec![format!("{rel}: cannot read: {e}")],
    };
    let expected = match annotations(&src) {
        Ok(e) => e,
        Err(e) => return vec![format!("{rel}: {e}")],
    };
    let diags = run(&src);
    let rendered = render(&diags, rel, &src, false);

    // Match every expected error with a distinct diagnostic.
    let mut used = vec![false; diags.len()];
    for exp in &expected {
        let hit = diags.iter().enumerate().position(|(i, d)| {
            !used[i]
                && d.span()
                    .is_some_and(|s| line_col(&src, s.start as usize).0 == exp.line)
                && d.message.contains(&exp.substring)
        });
        match hit {
            Some(i) => used[i] = true,
            None => failures.push(format!(
                "{rel}:{}: expected an error containing {:?}, not reported",
                exp.line, exp.substring
            )),
        }
    }
    for (d, used) in diags.iter().zip(&used) {
        if !used {
            let line = d.span().map_or(0, |s| line_col(&src, s.start as usize).0);
            failures.push(format!(
                "{rel}:{line}: unexpected error: {}\n{rendered}",
                d.message
            ));
        }
    }

    // Golden rendered output.
    let golden = path.with_extension("stderr");
    let bless = std::env::var_os("TESSERA_BLESS").is_some_and(|v| v == "1");
    if diags.is_empty() {
        if golden.exists() {
            if bless {
                let _ = std::fs::remove_file(&golden);
            } else {
                failures.push(format!(
                    "{rel}: succeeds, but {} exists (TESSERA_BLESS=1 removes it)",
                    golden.display()
                ));
            }
        }
    } else if bless {
        if let Err(e) = std::fs::write(&golden, &rendered) {
            failures.push(format!("{rel}: cannot write {}: {e}", golden.display()));
        }
    } else {
        match std::fs::read_to_string(&golden) {
            Ok(want) if want == rendered => {}
            Ok(want) => failures.push(format!(
                "{rel}: rendered output differs from {} (- expected, + actual; \
                 TESSERA_BLESS=1 rewrites it):\n{}",
                golden.display(),
                diff(&want, &rendered)
            )),
            Err(_) => failures.push(format!(
                "{rel}: missing {} (TESSERA_BLESS=1 writes it); output:\n{rendered}",
                golden.display()
            )),
        }
    }
    failures
}

/// Runs every `.tsr` file under `tests/ui/<sub>` through `run`.
fn run_dir(sub: &str, run: fn(&str) -> Vec<Diagnostic>) {
    let root = ui_root();
    let mut files = Vec::new();
    collect(&root.join(sub), &mut files);
    let mut failures = Vec::new();
    for path in &files {
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        failures.extend(check_file(path, &rel, run));
    }
    assert!(
        failures.is_empty(),
        "{} of {} UI files under tests/ui/{sub} failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}
