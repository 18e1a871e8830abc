//! The `:commands` of the REPL: loading programs and weights, printing IR levels, timing,
//! saving, help.

use super::cache::{Backend, Compiled};
use super::host;
use super::input;
use super::session::{
    entry_error, signature, Checked, EvalError, EvalResult, Goal, Reply, Session, SessionFn, Target,
};
use super::synth::Origin;
use super::words::{self, Word};
use super::worker;
use crate::dump::{self, IrLevel};
use crate::{Error, Program, Tensor};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tessera_dialects::{DType, Span};
use tessera_frontend::lexer::{self, Tok};
use tessera_frontend::Diagnostic;

/// Every command, with its arguments and what it does (`:help` prints this).
pub const COMMANDS: &[(&str, &str, &str)] = &[
    (":help", "", "this help"),
    (":quit", "", "leave (Ctrl-D too)"),
    (
        ":load",
        "FILE.tsr",
        "read a program: its functions become callable",
    ),
    (
        ":weights",
        "FILE.safetensors",
        "bind every tensor of the file by its name",
    ),
    (
        ":ir",
        "LEVEL EXPR|FN",
        "print an IR level: ast graph graph-opt tile scheduled clif",
    ),
    (":explain", "EXPR|FN", "the fusion and precision decisions"),
    (
        ":precision",
        "[f32|bf16|f16|fp8|int8|int8/block32]",
        "show or set the precision of contractions (as --precision)",
    ),
    (
        ":time",
        "EXPR",
        "compile time (cold) and run time over repeated runs",
    ),
    (
        ":save",
        "NAME FILE.npy",
        "write a bound tensor to a NumPy file",
    ),
    (
        ":source",
        "EXPR|FN",
        "the .tsr program the REPL compiles for it",
    ),
    (":vars", "", "the bound tensors and the functions"),
];

/// Other spellings of commands.
const ALIASES: &[(&str, &str)] = &[
    ("q", "quit"),
    ("exit", "quit"),
    ("h", "help"),
    ("?", "help"),
];

fn help() -> String {
    let mut out = String::from(
        "Enter an expression to evaluate it, `let x = EXPR` to bind its value, `fn ...` to \
         define a function\n(an open bracket or `fn` continues on the next line; a final `;` \
         prints nothing).\n\nCommands:\n",
    );
    for (name, args, what) in COMMANDS {
        let lhs = format!("{name} {args}");
        out.push_str(&format!("  {lhs:<32} {what}\n"));
    }
    out.push_str(
        "\nREPL built-ins (literal arguments): randn([d, ...]) rand([d, ...]) zeros([d, ...]) \
         ones([d, ...])\n  arange(n) tensor([[1.0, 2.0], [3.0, 4.0]]) load(\"file.npy\"); `seed: N` \
         (randn, rand) and \
         `dtype: f32` (for load:\n  the dtype the file holds, needed for FP8).\nThe language's built-ins are those of DSL.md §4 \
         (relu, softmax(x, axis: -1), x @ w, ...).\n",
    );
    out
}

/// Runs `:name rest`; `rest_at` is where `rest` starts in the entry. The commands that
/// inspect an expression (`:ir`, `:explain`, `:source`, `:time`) leave the session's seeds
/// as they were: inspecting `randn(..)` does not change the random tensors of later
/// entries.
pub fn run(
    s: &mut Session,
    origin: &Origin,
    name: &str,
    rest: &str,
    rest_at: usize,
) -> EvalResult<Reply> {
    let inspects = matches!(name, "ir" | "explain" | "source" | "time");
    let mark = s.seed_mark();
    let reply = run_command(s, origin, name, rest, rest_at);
    if inspects {
        s.reset_seed(mark);
    }
    reply
}

fn run_command(
    s: &mut Session,
    origin: &Origin,
    name: &str,
    rest: &str,
    rest_at: usize,
) -> EvalResult<Reply> {
    let name = ALIASES
        .iter()
        .find(|(a, _)| *a == name)
        .map_or(name, |(_, n)| n);
    let rest_span = Span::new(rest_at, rest_at + rest.len());
    let need = |what: &str| -> EvalResult<Reply> {
        let d = Diagnostic::error(format!("`:{name}` needs {what}"))
            .primary(rest_span, format!("expected {what}"));
        Err(entry_error(origin, vec![d]))
    };
    // The commands that take words: split, and refused beyond what they take.
    let words = match name {
        "help" | "quit" | "vars" => Some((0, 0)),
        "load" | "weights" => Some((1, 1)),
        "precision" => Some((0, 1)),
        "save" => Some((2, 2)),
        _ => None,
    };
    let words = match words {
        Some(range) => {
            let usage = COMMANDS
                .iter()
                .find(|(n, _, _)| n[1..] == *name)
                .map_or(format!(":{name}"), |(n, a, _)| format!("{n} {a}"));
            words::split(rest, rest_at)
                .and_then(|w| words::at_most(name, w, range, usage.trim_end()))
                .map_err(|d| entry_error(origin, vec![d]))?
        }
        None => Vec::new(),
    };
    match name {
        "help" => Ok(Reply::text(help())),
        "quit" => Ok(Reply {
            quit: true,
            ..Reply::default()
        }),
        "vars" => Ok(Reply::text(vars(s))),
        "load" | "weights" => match words.first() {
            None => need("a file name"),
            Some(w) if name == "load" => load(s, &w.text),
            Some(w) => weights(s, &w.text),
        },
        "save" => save(s, origin, &words, rest_span),
        "ir" => {
            let (level, arg_at) = match split_word(rest) {
                Some((w, after)) => (w, rest_at + after),
                None => return need("an IR level and an expression or a function"),
            };
            let Some(level) = IrLevel::from_name(level) else {
                let names: Vec<&str> = IrLevel::ALL.iter().map(|(_, n)| *n).collect();
                let d = Diagnostic::error(format!("unknown IR level `{level}`"))
                    .primary(Span::new(rest_at, rest_at + level.len()), "not a level")
                    .hint(format!("the levels are: {}", names.join(", ")));
                return Err(entry_error(origin, vec![d]));
            };
            if arg_at >= origin.src.len() || origin.src[arg_at..].trim().is_empty() {
                return need("an expression or a function after the level");
            }
            let c = checked(s, origin, arg_at)?;
            // Lowering and compiling run on the worker, like an evaluation.
            let (program, func) = (c.program, c.func);
            let text = worker::run(s.flag(), move || {
                dump::render(&program, Some(&func), level, false)
            })?
            .map_err(|e| EvalError::Errors(c.synth.map_error(e)))?;
            Ok(Reply::text(text))
        }
        "explain" if rest.is_empty() => need("an expression or a function"),
        "explain" => {
            let c = checked(s, origin, rest_at)?;
            let (program, func) = (c.program, c.func);
            let text = worker::run(s.flag(), move || dump::explain(&program, &func))?
                .map_err(|e| EvalError::Errors(c.synth.map_error(e)))?;
            Ok(Reply::text(text))
        }
        "source" if rest.is_empty() => need("an expression or a function"),
        "source" => {
            let c = checked(s, origin, rest_at)?;
            Ok(Reply::text(c.program.src))
        }
        "precision" => precision(s, origin, words.first()),
        "time" if rest.is_empty() => need("an expression"),
        "time" => time(s, origin, rest_at),
        _ => {
            let known: Vec<&str> = COMMANDS.iter().map(|(n, _, _)| *n).collect();
            let at = origin.src.find(':').unwrap_or(0);
            let d = Diagnostic::error(format!("unknown command `:{name}`"))
                .primary(Span::new(at, at + 1 + name.len()), "not a command")
                .hint(format!("the commands are: {}", known.join(" ")));
            Err(entry_error(origin, vec![d]))
        }
    }
}

/// `:precision [f32|bf16|f16|fp8|int8|int8/block32]`: shows or sets the precision of contractions.
fn precision(s: &mut Session, origin: &Origin, word: Option<&Word>) -> EvalResult<Reply> {
    use tessera_egraph::Precision;
    let all = [
        Precision::F32,
        Precision::Bf16,
        Precision::F16,
        Precision::Fp8,
        Precision::Int8,
        Precision::Int8Block32,
    ];
    let Some(Word { text: rest, span }) = word else {
        return Ok(Reply::text(format!("precision: {}\n", s.precision.name())));
    };
    let Some(p) = all.iter().find(|p| p.name() == rest) else {
        let names: Vec<&str> = all.iter().map(|p| p.name()).collect();
        let hint = if rest == "auto" {
            "`auto` needs calibration data: use `tessera run --precision auto --calibrate ...`"
                .to_string()
        } else {
            format!("the precisions are: {}", names.join(", "))
        };
        let d = Diagnostic::error(format!("unknown precision `{rest}`"))
            .primary(*span, "not a precision")
            .hint(hint);
        return Err(entry_error(origin, vec![d]));
    };
    s.precision = *p;
    Ok(Reply::text(format!(
        "precision: {} (matmul, einsum and conv2d operands; `:explain` shows the lowering)\n",
        p.name()
    )))
}

/// The first word of `text` and the offset of what follows it (blanks skipped).
fn split_word(text: &str) -> Option<(&str, usize)> {
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    if end == 0 {
        return None;
    }
    let after = text[end..].len() - text[end..].trim_start().len();
    Some((&text[..end], end + after))
}

/// The checked program for the argument of `:ir`, `:explain`, `:source` at `at`: a session
/// function by name, else an expression.
fn checked(s: &mut Session, origin: &Origin, at: usize) -> EvalResult<Checked> {
    let arg = origin.src[at..].trim();
    let mut c = if s.has_fn(arg) && s.tensor(arg).is_none() {
        s.fn_program(arg)?
    } else {
        let target = expr_target(origin, at)?;
        let draft = s.draft(&target)?;
        Session::check_draft(&draft)?
    };
    c.program.precision = s.precision;
    Ok(c)
}

/// The expression that runs from `at` to the end of the entry (a final `;` dropped).
fn expr_target(origin: &Origin, at: usize) -> EvalResult<Target> {
    let text = &origin.src;
    let (tokens, errors) = lexer::lex(&text[at..]);
    if !errors.is_empty() {
        let diags = errors
            .into_iter()
            .map(|mut d| {
                for l in &mut d.labels {
                    l.span = Span::new(l.span.start as usize + at, l.span.end as usize + at);
                }
                d
            })
            .collect();
        return Err(entry_error(origin, diags));
    }
    let end = match tokens.last() {
        Some((l, Tok::Semi, _)) => at + l,
        Some((_, _, r)) => at + r,
        None => text.len(),
    };
    if let Some(d) = input::second_statement(&tokens, end - at, at) {
        return Err(entry_error(origin, vec![d]));
    }
    Ok(Target {
        origin: origin.clone(),
        dsl: (at, end),
        expr: (at, end),
        goal: Goal::Value,
    })
}

fn vars(s: &Session) -> String {
    let mut out = String::new();
    for (n, t) in &s.tensors {
        out.push_str(&format!("{n}: {}\n", tessera_tensor::format::describe(t)));
    }
    for f in &s.fns {
        let sig = match s.fn_program(&f.name) {
            Ok(c) => signature(&c.program, &f.name),
            Err(_) => format!("{} (does not check any more)", f.name),
        };
        out.push_str(&format!("fn {sig}\n"));
    }
    if out.is_empty() {
        out.push_str("nothing bound yet\n");
    }
    out
}

/// `:load FILE.tsr`: the file is checked on its own, then its functions join the session
/// (replacing functions of the same names).
fn load(s: &mut Session, path: &str) -> EvalResult<Reply> {
    let program = Program::load(Path::new(path))?;
    let origin = Origin::new(program.file.clone(), &program.src);
    let new: Vec<SessionFn> = program
        .ast
        .funcs
        .iter()
        .map(|f| SessionFn {
            name: f.name.name.clone(),
            decl: f.clone(),
            origin: origin.clone(),
        })
        .collect();
    for f in &new {
        if host::is_host(&f.name) {
            let d = Diagnostic::error(format!(
                "`{}` is a built-in of the REPL and cannot be redefined",
                f.name
            ))
            .primary(f.decl.name.span, "this name");
            return Err(entry_error(&origin, vec![d]));
        }
    }
    let mut out = format!("loaded {path}:\n");
    for f in &new {
        out.push_str(&format!("  fn {}\n", signature(&program, &f.name)));
    }
    s.add_fns(new);
    Ok(Reply::text(out))
}

/// Whether `name` can be written as a tensor name in the language.
fn is_ident(name: &str) -> bool {
    let (tokens, errors) = lexer::lex(name);
    errors.is_empty() && matches!(tokens.as_slice(), [(0, Tok::Ident(n), _)] if *n == name)
}

/// A tensor name from a file made into a name of the language (`layer.0.w` → `layer_0_w`).
fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) || !is_ident(&out) {
        out.insert_str(0, "t_");
    }
    out
}

/// `:weights FILE.safetensors`: every tensor bound by its name.
fn weights(s: &mut Session, path: &str) -> EvalResult<Reply> {
    let tensors = tessera_tensor::safetensors_io::read_safetensors_file(path)
        .map_err(|e| Error::msg(format!("{path}: {e}")))?;
    let mut out = format!("bound {} tensors from {path}:\n", tensors.len());
    // Bound name, name in the file, tensor.
    let mut bound: Vec<(String, String, Tensor)> = Vec::new();
    for (name, t) in tensors {
        let n = if is_ident(&name) {
            name.clone()
        } else {
            sanitize(&name)
        };
        if let Some((_, other, _)) = bound.iter().find(|(b, _, _)| *b == n) {
            return Err(Error::msg(format!(
                "{path}: tensors `{other}` and `{name}` would both be bound as `{n}`; rename \
                 one in the file"
            ))
            .into());
        }
        if t.shape().contains(&0) || t.shape().len() > tessera_runtime::buffer::MAX_RANK as usize {
            return Err(Error::msg(format!(
                "{path}: tensor `{name}` has shape {:?}: tensors are not empty and have at most \
                 {} axes",
                t.shape(),
                tessera_runtime::buffer::MAX_RANK
            ))
            .into());
        }
        let desc = tessera_tensor::format::describe(&t);
        if n == name {
            out.push_str(&format!("  {n}: {desc}\n"));
        } else {
            out.push_str(&format!("  {n}: {desc} (`{name}` in the file)\n"));
        }
        bound.push((n, name, t));
    }
    for (n, _, t) in bound {
        s.bind(&n, t);
    }
    Ok(Reply::text(out))
}

/// `:save NAME FILE.npy` (`words`: the name and the file, already at most two).
fn save(s: &mut Session, origin: &Origin, words: &[Word], rest: Span) -> EvalResult<Reply> {
    let [name, path] = words else {
        let d = Diagnostic::error("`:save` needs a tensor name and a file name")
            .primary(rest, "expected NAME FILE.npy");
        return Err(entry_error(origin, vec![d]));
    };
    let (name, name_span, path) = (name.text.as_str(), name.span, path.text.as_str());
    let Some(t) = s.tensor(name) else {
        let names: Vec<&str> = s.tensors.keys().map(String::as_str).collect();
        let mut d = Diagnostic::error(format!("no tensor `{name}` is bound"))
            .primary(name_span, "unknown name");
        if !names.is_empty() {
            d = d.hint(format!("the bound tensors are: {}", names.join(", ")));
        }
        return Err(entry_error(origin, vec![d]));
    };
    tessera_tensor::npy::write_npy_file(path, t)
        .map_err(|e| Error::msg(format!("cannot write `{path}`: {e}")))?;
    let mut out = format!(
        "saved {name} ({}) to {path}",
        tessera_tensor::format::describe(t)
    );
    let dtype = t.dtype();
    if matches!(dtype, DType::F8E4M3 | DType::F8E5M2) {
        // `|V1`, as NumPy saves `ml_dtypes`: the file does not say which FP8 format.
        out.push_str(&format!(
            "\n(FP8 files do not say which format they hold: read it back with \
             `load(\"{path}\", dtype: {dtype})`)"
        ));
    }
    Ok(Reply::text(out))
}

/// `:time EXPR`: a cold compilation (the cache is bypassed, then updated), then runs of
/// the compiled function alone on inputs prepared once, as `tessera bench` does.
fn time(s: &mut Session, origin: &Origin, at: usize) -> EvalResult<Reply> {
    let target = expr_target(origin, at)?;
    let draft = s.draft(&target)?;
    let t0 = Instant::now();
    let compiled = s.compile(&draft)?;
    let compile_ms = t0.elapsed().as_secs_f64() * 1e3;
    s.cache.insert(s.cache_key(&draft), compiled.clone());
    let iters = s.time_iters.max(1);
    let inputs = draft.inputs.clone();
    let c = compiled.clone();
    let times = worker::run(s.flag(), move || time_runs(&c, inputs, iters))?
        .map_err(|e| EvalError::Errors(compiled.synth.map_error(e)))?;
    let mut sorted = times;
    sorted.sort_by(f64::total_cmp);
    let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    let backend = match compiled.backend {
        Backend::Cpu(_) => "cpu",
        Backend::Interp => "interp",
    };
    let mut out = format!("compile: {compile_ms:.3} ms (cold)\n");
    out.push_str(&format!(
        "run on {backend} ({iters} iters): min {min:.3} ms, median {median:.3} ms, max {max:.3} ms\n"
    ));
    Ok(Reply {
        out,
        notes: compiled
            .note
            .iter()
            .map(|n| format!("note: this expression {n}"))
            .collect(),
        quit: false,
    })
}

/// Warm-up runs of `:time`.
const WARMUP: usize = 3;

/// Milliseconds of each timed run.
fn time_runs(c: &Arc<Compiled>, inputs: Vec<Tensor>, iters: usize) -> Result<Vec<f64>, Error> {
    let mut times = Vec::with_capacity(iters);
    match &c.backend {
        Backend::Cpu(exe) => {
            let exe = exe.lock().map_err(|_| super::cache::poisoned())?;
            let mut prepared = exe.prepare(inputs)?;
            for _ in 0..WARMUP {
                exe.run_prepared(&mut prepared)?;
            }
            for _ in 0..iters {
                let t = Instant::now();
                exe.run_prepared(&mut prepared)?;
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        Backend::Interp => {
            for i in 0..WARMUP + iters {
                let args = inputs.clone();
                let t = Instant::now();
                c.run(args)?;
                if i >= WARMUP {
                    times.push(t.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
    }
    Ok(times)
}
