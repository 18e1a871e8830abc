//! Checking a whole program: function signatures, the call graph (no recursion), then each
//! body in callee-first order, lowered to graph IR as it is checked.

use crate::ast::{Expr, ExprKind, FnDecl, Program, RetType};
use crate::diag::Diagnostic;
use crate::lower::FnLowerer;
use crate::sizes::{names_in_type, type_to_tensor};
use std::collections::{BTreeMap, BTreeSet};
use tessera_dialects::{Module, Span, TensorType};

/// A function's checked signature.
#[derive(Clone, Debug)]
pub struct Signature {
    pub params: Vec<TensorType>,
    pub param_spans: Vec<Span>,
    pub results: Vec<TensorType>,
    pub ret_span: Span,
    pub name_span: Span,
    /// The size names its parameters introduce.
    pub size_names: BTreeSet<String>,
}

/// Checks a program and lowers it to graph IR: one `graph.func` per function, in source order.
pub fn check_and_lower(program: &Program) -> Result<Module, Vec<Diagnostic>> {
    let sigs = signatures(program)?;
    let mut diags = Vec::new();
    let mut module = Module::default();
    for f in &program.funcs {
        let sig = &sigs[&f.name.name];
        match FnLowerer::new(&f.name.name, &sigs).lower_fn(f, sig) {
            Ok(func) => module.funcs.push(func),
            Err(mut d) => diags.append(&mut d),
        }
    }
    if diags.is_empty() {
        Ok(module)
    } else {
        Err(diags)
    }
}

/// The types of the values function `func` returns, as its body computes them: the return
/// type it declares is not checked (the REPL writes a function around an expression before
/// it knows the expression's type, then writes it again with that type). The signatures of
/// every function and the call graph are checked as in [`check_and_lower`]; only `func`'s
/// body is lowered. A final literal takes its default dtype (`f32`, `i32` or `bool`).
pub fn infer_results(program: &Program, func: &str) -> Result<Vec<TensorType>, Vec<Diagnostic>> {
    let sigs = signatures(program)?;
    let decl = program.funcs.iter().find(|f| f.name.name == func);
    match (decl, sigs.get(func)) {
        (Some(decl), Some(sig)) => FnLowerer::new(func, &sigs).infer_results(decl, sig),
        _ => Err(vec![Diagnostic::error(format!("no function `{func}`"))]),
    }
}

/// Every function's signature, after the checks that need no body: duplicate names,
/// parameters and sizes, result types, and recursion.
fn signatures(program: &Program) -> Result<BTreeMap<String, Signature>, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut sigs: BTreeMap<String, Signature> = BTreeMap::new();
    let mut decls: BTreeMap<String, &FnDecl> = BTreeMap::new();
    for f in &program.funcs {
        if let Some(prev) = decls.get(&f.name.name) {
            diags.push(
                Diagnostic::error(format!("function `{}` is defined twice", f.name.name))
                    .primary(f.name.span, "defined again here")
                    .secondary(prev.name.span, "first defined here"),
            );
            continue;
        }
        decls.insert(f.name.name.clone(), f);
        match signature(f) {
            Ok(s) => {
                sigs.insert(f.name.name.clone(), s);
            }
            Err(mut d) => diags.append(&mut d),
        }
    }
    if program.funcs.is_empty() {
        diags.push(
            Diagnostic::error("the program has no functions")
                .primary(Span::new(0, 0), "the file declares no `fn`")
                .hint("write `fn main(x: f32[4]) -> f32[4] { x }`"),
        );
    }
    if let Some(d) = find_recursion(program, &decls) {
        diags.push(d);
    }
    if diags.is_empty() {
        Ok(sigs)
    } else {
        Err(diags)
    }
}

fn signature(f: &FnDecl) -> Result<Signature, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut params = Vec::new();
    let mut param_spans = Vec::new();
    let mut size_names = BTreeSet::new();
    let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
    for p in &f.params {
        if let Some(prev) = seen.get(p.name.name.as_str()) {
            diags.push(
                Diagnostic::error(format!("parameter `{}` is declared twice", p.name.name))
                    .primary(p.name.span, "again here")
                    .secondary(*prev, "first here"),
            );
        }
        seen.insert(&p.name.name, p.name.span);
        let mut names = Vec::new();
        names_in_type(&p.ty, &mut names);
        size_names.extend(names.into_iter().map(|(n, _)| n));
        match type_to_tensor(&p.ty, None) {
            Ok(t) => params.push(t),
            Err(d) => diags.push(d),
        }
        param_spans.push(p.name.span.join(p.ty.span));
    }
    for p in &f.params {
        if size_names.contains(&p.name.name) {
            diags.push(
                Diagnostic::error(format!(
                    "`{}` is both a parameter and a size name",
                    p.name.name
                ))
                .primary(p.name.span, "parameter"),
            );
        }
    }
    let (ret_types, ret_span): (Vec<&crate::ast::TypeExpr>, Span) = match &f.ret {
        RetType::Single(t) => (vec![t], t.span),
        RetType::Tuple(ts, s) => (ts.iter().collect(), *s),
    };
    let mut results = Vec::new();
    for t in ret_types {
        match type_to_tensor(t, Some(&size_names)) {
            Ok(t) => results.push(t),
            Err(d) => diags.push(d),
        }
    }
    if diags.is_empty() {
        Ok(Signature {
            params,
            param_spans,
            results,
            ret_span,
            name_span: f.name.span,
            size_names,
        })
    } else {
        Err(diags)
    }
}

/// Finds a cycle in the call graph, direct or indirect.
fn find_recursion(program: &Program, decls: &BTreeMap<String, &FnDecl>) -> Option<Diagnostic> {
    let mut edges: BTreeMap<&str, Vec<(String, Span)>> = BTreeMap::new();
    for f in &program.funcs {
        let mut calls = Vec::new();
        for s in &f.body {
            collect_calls(&s.value, &mut calls);
        }
        collect_calls(&f.tail, &mut calls);
        calls.retain(|(n, _)| decls.contains_key(n));
        edges.insert(&f.name.name, calls);
    }
    // Depth-first search with colours; report the first back edge.
    #[derive(Clone, Copy, PartialEq)]
    enum C {
        White,
        Grey,
        Black,
    }
    let mut colour: BTreeMap<&str, C> = edges.keys().map(|k| (*k, C::White)).collect();
    for start in edges.keys().copied().collect::<Vec<_>>() {
        if colour[start] != C::White {
            continue;
        }
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        colour.insert(start, C::Grey);
        while let Some((node, i)) = stack.pop() {
            let succ = &edges[node];
            if i < succ.len() {
                stack.push((node, i + 1));
                let (callee, span) = &succ[i];
                match colour.get(callee.as_str()).copied() {
                    Some(C::Grey) => {
                        let path: Vec<&str> = stack.iter().map(|(n, _)| *n).collect();
                        let from = path.iter().position(|n| *n == callee).unwrap_or(0);
                        let mut cycle: Vec<&str> = path[from..].to_vec();
                        cycle.push(callee);
                        return Some(
                            Diagnostic::error(format!(
                                "recursion is not allowed: {}",
                                cycle.join(" -> ")
                            ))
                            .primary(*span, format!("`{node}` calls `{callee}` here"))
                            .hint("a program is a static dataflow graph; calls are inlined"),
                        );
                    }
                    Some(C::White) => {
                        let key = edges.get_key_value(callee.as_str()).map(|(k, _)| *k);
                        if let Some(k) = key {
                            colour.insert(k, C::Grey);
                            stack.push((k, 0));
                        }
                    }
                    _ => {}
                }
            } else {
                colour.insert(node, C::Black);
            }
        }
    }
    None
}

fn collect_calls(e: &Expr, out: &mut Vec<(String, Span)>) {
    match &e.kind {
        ExprKind::Call {
            callee,
            args,
            named,
        } => {
            out.push((callee.name.clone(), callee.span));
            for a in args {
                collect_calls(a, out);
            }
            for (_, a) in named {
                collect_calls(a, out);
            }
        }
        ExprKind::Neg(a) | ExprKind::Cast(a, _, _) => collect_calls(a, out),
        ExprKind::Binary(_, a, b) => {
            collect_calls(a, out);
            collect_calls(b, out);
        }
        ExprKind::Index(a, items) => {
            collect_calls(a, out);
            for it in items {
                match it {
                    crate::ast::IndexItem::Index(e) => collect_calls(e, out),
                    crate::ast::IndexItem::Range { start, end, .. } => {
                        for x in [start, end].into_iter().flatten() {
                            collect_calls(x, out);
                        }
                    }
                }
            }
        }
        ExprKind::List(items) | ExprKind::Tuple(items) => {
            for i in items {
                collect_calls(i, out);
            }
        }
        _ => {}
    }
}
