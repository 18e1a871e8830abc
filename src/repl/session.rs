//! [`Session`]: the REPL's state (bound tensors, functions, compiled functions) and the
//! evaluation of one entry. No terminal here: an entry goes in, text or errors come out.

use super::cache::{Cache, Compiled, Stats};
use super::commands;
use super::complete::Names;
use super::host;
use super::input::{self, Input};
use super::synth::{blank_outside, Origin, Synth, SYNTH_FILE};
use super::worker::{self, Stopped};
use crate::{Error, Program, Tensor};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tessera_frontend::ast::{Expr, ExprKind, FnDecl, IndexItem, RetType};
use tessera_frontend::Diagnostic;

/// The name of the entry text in diagnostics.
pub const ENTRY: &str = "<repl>";

/// What an entry printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// The output (stdout); empty or ending with a line break.
    pub out: String,
    /// Notes for stderr (a function that runs in the interpreter, ...).
    pub notes: Vec<String>,
    /// `:quit` was entered.
    pub quit: bool,
}

impl Reply {
    pub(crate) fn text(out: impl Into<String>) -> Reply {
        let mut out = out.into();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        Reply {
            out,
            ..Reply::default()
        }
    }
}

/// Why an entry failed. The session is unchanged by a failed entry.
#[derive(Debug, Clone)]
pub enum EvalError {
    /// Errors, each rendered against the text it points into.
    Errors(Vec<Error>),
    /// Ctrl-C arrived while it computed; the result was discarded.
    Interrupted,
}

impl EvalError {
    /// The text for stderr.
    pub fn render(&self, color: bool) -> String {
        match self {
            EvalError::Errors(es) => es.iter().map(|e| e.render(color)).collect(),
            EvalError::Interrupted => "interrupted (the computation ends in the background; \
                                        entries that compute wait for it)\n"
                .to_string(),
        }
    }
}

impl From<Error> for EvalError {
    fn from(e: Error) -> EvalError {
        EvalError::Errors(vec![e])
    }
}

impl From<Stopped> for EvalError {
    fn from(s: Stopped) -> EvalError {
        match s {
            Stopped::Interrupted => EvalError::Interrupted,
            Stopped::Panicked(m) => Error::msg(format!("internal error: {m}")).into(),
        }
    }
}

pub type EvalResult<T> = Result<T, EvalError>;

/// Diagnostics against the entry text.
pub(crate) fn entry_error(origin: &Origin, diags: Vec<Diagnostic>) -> EvalError {
    EvalError::Errors(vec![Error::Source {
        file: origin.name.clone(),
        src: origin.src.to_string(),
        diags,
    }])
}

/// A function of the session, entered with `fn` or read with `:load`.
#[derive(Debug, Clone)]
pub(crate) struct SessionFn {
    pub name: String,
    /// Spans are offsets in `origin.src`.
    pub decl: FnDecl,
    pub origin: Origin,
}

impl SessionFn {
    fn text(&self) -> &str {
        let (s, e) = (self.decl.span.start as usize, self.decl.span.end as usize);
        self.origin.src.get(s..e).unwrap_or("")
    }
}

/// What an expression is evaluated for.
#[derive(Debug, Clone)]
pub(crate) enum Goal {
    /// Printing its value(s).
    Value,
    /// Binding them: `let NAME = ...` or `let (a, b) = ...`.
    Bind(Vec<String>),
}

/// An expression (or `let`) of an entry: where its DSL text is.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub origin: Origin,
    /// The DSL part of the entry: the statement or the expression.
    pub dsl: (usize, usize),
    /// The expression inside it.
    pub expr: (usize, usize),
    pub goal: Goal,
}

/// An expression made into a function, before its result type is known.
pub(crate) struct Draft {
    prelude: Vec<SessionFn>,
    /// The REPL built-in calls written over by parameter names: `(start, end, name)`.
    replaced: Vec<(usize, usize, String)>,
    header: String,
    body: Vec<(String, bool)>,
    origin: Origin,
    pub func: String,
    pub inputs: Vec<Tensor>,
    /// The whole entry is one REPL built-in call: its value, nothing to compile.
    pub host_only: Option<Tensor>,
}

impl Draft {
    /// The source with return type `ret`.
    pub fn synth(&self, ret: &str) -> Synth {
        let mut s = prelude_synth(&self.prelude);
        s.glue(&self.header);
        s.glue(ret);
        s.glue(" {\n");
        for (text, mapped) in &self.body {
            if *mapped {
                s.mapped(text, &self.origin, 0);
            } else {
                s.glue(text);
            }
        }
        s.glue("\n}\n");
        for (start, end, name) in &self.replaced {
            s.widen(&self.origin, *start, name.len(), *end);
        }
        s
    }
}

fn prelude_synth(fns: &[SessionFn]) -> Synth {
    let mut s = Synth::default();
    for f in fns {
        s.mapped(f.text(), &f.origin, f.decl.span.start as usize);
        s.glue("\n");
    }
    s
}

/// A checked synthesized function, not compiled.
pub(crate) struct Checked {
    pub program: Program,
    pub synth: Synth,
    pub func: String,
}

/// The REPL's state. Every entry either succeeds or leaves the state as it was.
pub struct Session {
    pub(crate) tensors: BTreeMap<String, Tensor>,
    pub(crate) fns: Vec<SessionFn>,
    pub(crate) cache: Cache,
    next_seed: u64,
    interrupt: Arc<AtomicBool>,
    /// Timed runs of `:time` (after 3 warm-up runs).
    pub time_iters: usize,
    /// The precision contractions are lowered to (`:precision`), as `--precision` does.
    pub precision: tessera_egraph::Precision,
}

impl Default for Session {
    fn default() -> Session {
        Session::new()
    }
}

impl Session {
    pub fn new() -> Session {
        Session {
            tensors: BTreeMap::new(),
            fns: Vec::new(),
            cache: Cache::default(),
            next_seed: 0,
            interrupt: Arc::new(AtomicBool::new(false)),
            time_iters: 10,
            precision: tessera_egraph::Precision::F32,
        }
    }

    /// The flag that interrupts a running evaluation (the front end's Ctrl-C handler sets
    /// it; each entry clears it when it starts).
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        self.interrupt.clone()
    }

    pub(crate) fn flag(&self) -> &AtomicBool {
        &self.interrupt
    }

    /// Compilations and cache hits so far.
    pub fn stats(&self) -> Stats {
        self.cache.stats
    }

    /// A bound tensor.
    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    /// Binds a tensor to a name.
    pub fn bind(&mut self, name: &str, t: Tensor) {
        self.tensors.insert(name.to_string(), t);
    }

    /// The names tab completion offers.
    pub fn names(&self) -> Names {
        Names {
            tensors: self.tensors.keys().cloned().collect(),
            functions: self.fns.iter().map(|f| f.name.clone()).collect(),
        }
    }

    /// The seed the next random built-in takes.
    pub(super) fn seed_mark(&self) -> u64 {
        self.next_seed
    }

    /// Makes `mark` ([`Self::seed_mark`]) the next seed again.
    pub(super) fn reset_seed(&mut self, mark: u64) {
        self.next_seed = mark;
    }

    /// Evaluates one entry (one line, or several lines for a `fn` or an unfinished
    /// bracket): a command, a definition, a binding or an expression.
    pub fn eval(&mut self, text: &str) -> EvalResult<Reply> {
        self.interrupt.store(false, Ordering::SeqCst);
        // The REPL's built-ins take their seeds before the entry is checked: a failed
        // entry gives them back, so later random tensors do not depend on it.
        let seed = self.next_seed;
        let reply = self.eval_entry(text);
        if reply.is_err() {
            self.next_seed = seed;
        }
        reply
    }

    fn eval_entry(&mut self, text: &str) -> EvalResult<Reply> {
        let origin = Origin::new(ENTRY, text);
        let entry = input::classify(text).map_err(|d| entry_error(&origin, d))?;
        match entry {
            Input::Empty => Ok(Reply::default()),
            Input::Command {
                name,
                rest,
                rest_at,
            } => commands::run(self, &origin, &name, &rest, rest_at),
            Input::Fn => self.define(&origin),
            Input::Let(head) => {
                let names: Vec<String> = head.names.iter().map(|(n, _)| n.clone()).collect();
                let target = Target {
                    origin,
                    dsl: head.stmt,
                    expr: head.value,
                    goal: Goal::Bind(names.clone()),
                };
                let values = self.evaluate(&target)?;
                let mut out = String::new();
                for (n, t) in names.iter().zip(&values.0) {
                    out.push_str(&format!("{n}: {}\n", tessera_tensor::format::describe(t)));
                }
                for (n, t) in names.into_iter().zip(values.0) {
                    self.tensors.insert(n, t);
                }
                Ok(Reply {
                    out,
                    notes: values.1,
                    quit: false,
                })
            }
            Input::Expr { dsl, quiet } => {
                let target = Target {
                    origin,
                    dsl,
                    expr: dsl,
                    goal: Goal::Value,
                };
                let (values, notes) = self.evaluate(&target)?;
                let out = if quiet {
                    String::new()
                } else {
                    format_results(&values)
                };
                Ok(Reply {
                    out,
                    notes,
                    quit: false,
                })
            }
        }
    }

    /// `fn` definitions: checked with the functions they call, then added (a function of
    /// the same name is replaced).
    fn define(&mut self, origin: &Origin) -> EvalResult<Reply> {
        let ast =
            tessera_frontend::parser::parse(&origin.src).map_err(|d| entry_error(origin, d))?;
        let new: Vec<SessionFn> = ast
            .funcs
            .iter()
            .map(|f| SessionFn {
                name: f.name.name.clone(),
                decl: f.clone(),
                origin: origin.clone(),
            })
            .collect();
        let program = self.check_fns(&new)?;
        let mut out = String::new();
        for f in &new {
            out.push_str(&format!("defined {}\n", signature(&program, &f.name)));
        }
        self.add_fns(new);
        Ok(Reply::text(out))
    }

    /// Checks new functions with the session functions they call; the REPL's built-ins
    /// cannot be redefined.
    pub(crate) fn check_fns(&self, new: &[SessionFn]) -> EvalResult<Program> {
        for f in new {
            if host::is_host(&f.name) {
                let d = Diagnostic::error(format!(
                    "`{}` is a built-in of the REPL and cannot be redefined",
                    f.name
                ))
                .primary(f.decl.name.span, "this name");
                return Err(entry_error(&f.origin, vec![d]));
            }
        }
        // Checked in the session as it would be: a new definition replaces the old one of
        // its name (so a call back into it is a recursion, not a second definition).
        let mut after = self.fns.clone();
        after.retain(|g| new.iter().all(|f| f.name != g.name));
        after.extend(new.iter().cloned());
        let names: Vec<String> = new.iter().map(|f| f.name.clone()).collect();
        let all = closure_in(&after, &names);
        let synth = prelude_synth(&all);
        Program::from_source(SYNTH_FILE, &synth.src)
            .map_err(|e| EvalError::Errors(synth.map_error(e)))
    }

    pub(crate) fn add_fns(&mut self, new: Vec<SessionFn>) {
        for f in new {
            self.fns.retain(|g| g.name != f.name);
            self.fns.push(f);
        }
    }

    /// The session functions `names` call, with the functions they call, in definition
    /// order.
    pub(crate) fn closure(&self, names: &[String]) -> Vec<SessionFn> {
        closure_in(&self.fns, names)
    }

    /// The program of session function `name` and the functions it calls.
    pub(crate) fn fn_program(&self, name: &str) -> EvalResult<Checked> {
        let fns = self.closure(&[name.to_string()]);
        let synth = prelude_synth(&fns);
        let program = Program::from_source(SYNTH_FILE, &synth.src)
            .map_err(|e| EvalError::Errors(synth.map_error(e)))?;
        Ok(Checked {
            program,
            synth,
            func: name.to_string(),
        })
    }

    pub(crate) fn has_fn(&self, name: &str) -> bool {
        self.fns.iter().any(|f| f.name == name)
    }

    /// Parses the expression of `t`, evaluates the REPL's built-ins in it, and writes the
    /// function around it.
    pub(crate) fn draft(&mut self, t: &Target) -> EvalResult<Draft> {
        let text = &t.origin.src;
        let expr_text = blank_outside(text, t.expr, &[]);
        let expr = tessera_frontend::parser::parse_expr(&expr_text)
            .map_err(|d| entry_error(&t.origin, d))?;
        // The REPL's built-ins, the names and the calls, in order of appearance.
        let mut host_calls: Vec<(usize, usize, String, Tensor)> = Vec::new();
        let mut vars: Vec<String> = Vec::new();
        let mut calls: Vec<String> = Vec::new();
        let mut host_err = None;
        let session_fns: BTreeSet<String> = self.fns.iter().map(|f| f.name.clone()).collect();
        let mut used: BTreeSet<String> = self.tensors.keys().cloned().collect();
        collect_names(&expr, &mut |e| {
            if let ExprKind::Var(n) = &e.kind {
                used.insert(n.clone());
            }
        });
        let mut n_host = 0usize;
        visit(&expr, &mut |e| match &e.kind {
            ExprKind::Call {
                callee,
                args,
                named,
            } if host::is_host(&callee.name) && !session_fns.contains(&callee.name) => {
                if host_err.is_some() {
                    return false;
                }
                let mut seed = || {
                    let s = self.next_seed;
                    self.next_seed += 1;
                    s
                };
                match host::eval(callee, args, named, e.span, &mut seed) {
                    Ok(v) => {
                        let name = loop {
                            let n = format!("_h{n_host}");
                            n_host += 1;
                            if !used.contains(&n) {
                                break n;
                            }
                        };
                        vars.push(name.clone());
                        host_calls.push((e.span.start as usize, e.span.end as usize, name, v));
                    }
                    Err(d) => host_err = Some(d),
                }
                false
            }
            ExprKind::Var(n) => {
                if !vars.contains(n) {
                    vars.push(n.clone());
                }
                true
            }
            ExprKind::Call { callee, .. } => {
                calls.push(callee.name.clone());
                true
            }
            _ => true,
        });
        if let Some(d) = host_err {
            return Err(entry_error(&t.origin, vec![d]));
        }
        let whole_host = matches!(&expr.kind, ExprKind::Call { callee, .. }
            if host_calls.len() == 1 && host::is_host(&callee.name) && !session_fns.contains(&callee.name));
        let replace: Vec<(usize, usize, String)> = host_calls
            .iter()
            .map(|(s, e, n, _)| (*s, *e, n.clone()))
            .collect();
        let host_values: BTreeMap<String, Tensor> =
            host_calls.into_iter().map(|(_, _, n, v)| (n, v)).collect();
        let mut params = Vec::new();
        let mut inputs = Vec::new();
        for v in &vars {
            let tensor = host_values.get(v).or_else(|| self.tensors.get(v));
            if let Some(tensor) = tensor {
                let ty = tessera_tensor::format::describe(tensor);
                params.push(format!("{v}: {ty}"));
                inputs.push(tensor.clone());
            }
        }
        // `let x = randn([4])` binds the value at once; with an annotation (`let x: f32[4] =
        // ...`) or a tuple pattern the function is compiled, so the checker has its say.
        let annotated = text
            .get(t.dsl.0..t.expr.0)
            .is_some_and(|head| head.contains(':') || head.contains('('));
        let host_only = if whole_host && !annotated {
            inputs.first().cloned()
        } else {
            None
        };
        let mut func = "expr".to_string();
        let mut k = 0;
        while session_fns.contains(&func) || calls.contains(&func) {
            k += 1;
            func = format!("expr{k}");
        }
        let prelude = self.closure(&calls);
        let body_text = blank_outside(text, t.dsl, &replace);
        let body = match &t.goal {
            Goal::Bind(names) => {
                let tail = if names.len() == 1 {
                    names[0].clone()
                } else {
                    format!("({})", names.join(", "))
                };
                vec![(body_text, true), (format!("\n;\n{tail}"), false)]
            }
            Goal::Value => match self.results_of_call(&expr) {
                Some(n) if n > 1 => {
                    let names: Vec<String> = (0..n).map(|i| format!("_r{i}")).collect();
                    let tuple = format!("({})", names.join(", "));
                    vec![
                        (format!("let {tuple} =\n"), false),
                        (body_text, true),
                        (format!("\n;\n{tuple}"), false),
                    ]
                }
                _ => vec![(body_text, true)],
            },
        };
        Ok(Draft {
            prelude,
            replaced: replace,
            header: format!("fn {func}({}) -> ", params.join(", ")),
            body,
            origin: t.origin.clone(),
            func,
            inputs,
            host_only,
        })
    }

    /// How many results a call of a session function returns, when `e` is one.
    fn results_of_call(&self, e: &Expr) -> Option<usize> {
        let ExprKind::Call { callee, .. } = &e.kind else {
            return None;
        };
        let f = self.fns.iter().find(|f| f.name == callee.name)?;
        match &f.decl.ret {
            RetType::Tuple(ts, _) => Some(ts.len()),
            RetType::Single(_) => Some(1),
        }
    }

    /// Infers the result type and checks the final source (no compilation).
    pub(crate) fn check_draft(draft: &Draft) -> EvalResult<Checked> {
        let probe = draft.synth("f32");
        let ast = tessera_frontend::parser::parse(&probe.src)
            .map_err(|d| EvalError::Errors(probe.map_diags(d)))?;
        let types = tessera_frontend::check::infer_results(&ast, &draft.func)
            .map_err(|d| EvalError::Errors(probe.map_diags(d)))?;
        let ret = match types.as_slice() {
            [one] => one.to_string(),
            many => format!(
                "({})",
                many.iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let synth = draft.synth(&ret);
        let program = Program::from_source(SYNTH_FILE, &synth.src)
            .map_err(|e| EvalError::Errors(synth.map_error(e)))?;
        Ok(Checked {
            program,
            synth,
            func: draft.func.clone(),
        })
    }

    /// Checks and compiles a draft (on the worker thread, so Ctrl-C can interrupt it),
    /// counting the compilation.
    pub(crate) fn compile(&mut self, draft: &Draft) -> EvalResult<Arc<Compiled>> {
        let mut checked = Session::check_draft(draft)?;
        checked.program.precision = self.precision;
        let map = checked.synth.clone();
        let job = move || Compiled::new(checked.program, checked.synth, checked.func);
        let compiled =
            worker::run(self.flag(), job)?.map_err(|e| EvalError::Errors(map.map_error(e)))?;
        self.cache.stats.compilations += 1;
        Ok(Arc::new(compiled))
    }

    /// What the cache knows a compiled draft by: its source and the precision.
    pub(crate) fn cache_key(&self, draft: &Draft) -> String {
        format!(
            "// precision {}\n{}",
            self.precision.name(),
            draft.synth("_").src
        )
    }

    /// The compiled function of a draft: from the cache, else compiled and cached.
    pub(crate) fn compiled(&mut self, draft: &Draft) -> EvalResult<Arc<Compiled>> {
        let key = self.cache_key(draft);
        if let Some(c) = self.cache.get(&key) {
            return Ok(c);
        }
        let c = self.compile(draft)?;
        self.cache.insert(key, c.clone());
        Ok(c)
    }

    /// Evaluates the expression of `t`: its values, and notes for stderr.
    pub(crate) fn evaluate(&mut self, t: &Target) -> EvalResult<(Vec<Tensor>, Vec<String>)> {
        let draft = self.draft(t)?;
        if let Some(v) = draft.host_only {
            return Ok((vec![v], Vec::new()));
        }
        let compiled = self.compiled(&draft)?;
        let notes = compiled
            .note
            .iter()
            .map(|n| format!("note: this expression {n}"))
            .collect();
        let c = compiled.clone();
        let inputs = draft.inputs;
        let values = worker::run(self.flag(), move || c.run(inputs))?
            .map_err(|e| EvalError::Errors(compiled.synth.map_error(e)))?;
        Ok((values, notes))
    }
}

/// `name(param: type, ...) -> type` of a checked function.
pub(crate) fn signature(program: &Program, name: &str) -> String {
    let Some(f) = program.module.func(name) else {
        return name.to_string();
    };
    let params: Vec<String> = crate::inputs::params(f)
        .iter()
        .map(|(n, t)| format!("{n}: {t}"))
        .collect();
    let results: Vec<String> = f.result_types.iter().map(|t| t.to_string()).collect();
    let ret = match results.as_slice() {
        [one] => one.clone(),
        many => format!("({})", many.join(", ")),
    };
    format!("{name}({}) -> {ret}", params.join(", "))
}

/// Results as the REPL prints them: the type, then the values NumPy-style.
pub fn format_results(values: &[Tensor]) -> String {
    let mut out = String::new();
    for (i, t) in values.iter().enumerate() {
        if values.len() > 1 {
            out.push_str(&format!("result {i}: "));
        }
        out.push_str(&tessera_tensor::format::describe(t));
        out.push('\n');
        out.push_str(&tessera_tensor::format::format_tensor(t, usize::MAX));
        out.push('\n');
    }
    out
}

/// Visits `e` and its sub-expressions, depth first, in source order; `f` returns whether to
/// go into a node's children.
fn visit(e: &Expr, f: &mut dyn FnMut(&Expr) -> bool) {
    if !f(e) {
        return;
    }
    match &e.kind {
        ExprKind::Neg(a) | ExprKind::Cast(a, _, _) => visit(a, f),
        ExprKind::Binary(_, a, b) => {
            visit(a, f);
            visit(b, f);
        }
        ExprKind::Index(a, items) => {
            visit(a, f);
            for it in items {
                match it {
                    IndexItem::Index(x) => visit(x, f),
                    IndexItem::Range { start, end, .. } => {
                        for x in [start, end].into_iter().flatten() {
                            visit(x, f);
                        }
                    }
                }
            }
        }
        ExprKind::Call { args, named, .. } => {
            for a in args {
                visit(a, f);
            }
            for (_, a) in named {
                visit(a, f);
            }
        }
        ExprKind::List(items) | ExprKind::Tuple(items) => {
            for i in items {
                visit(i, f);
            }
        }
        _ => {}
    }
}

fn collect_names(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    visit(e, &mut |x| {
        f(x);
        true
    });
}

/// The functions of `fns` that `names` name, with the functions they call, in the order
/// of `fns` (a name defined twice there gives both definitions).
fn closure_in(fns: &[SessionFn], names: &[String]) -> Vec<SessionFn> {
    let mut want: BTreeSet<String> = BTreeSet::new();
    let mut stack: Vec<String> = names.to_vec();
    while let Some(n) = stack.pop() {
        if want.contains(&n) {
            continue;
        }
        let defs: Vec<&SessionFn> = fns.iter().filter(|f| f.name == n).collect();
        if !defs.is_empty() {
            want.insert(n);
            for f in defs {
                fn_calls(&f.decl, &mut stack);
            }
        }
    }
    fns.iter()
        .filter(|f| want.contains(&f.name))
        .cloned()
        .collect()
}

/// The names a function's body calls.
fn fn_calls(decl: &FnDecl, out: &mut Vec<String>) {
    let mut push = |e: &Expr| {
        if let ExprKind::Call { callee, .. } = &e.kind {
            out.push(callee.name.clone());
        }
    };
    for s in &decl.body {
        collect_names(&s.value, &mut push);
    }
    collect_names(&decl.tail, &mut push);
}
