//! The `--ir ast` dump: the syntax tree as S-expressions, one statement per line, with every
//! grouping explicit, so a user sees exactly how a program parsed (`a @ b as f32` prints
//! `(@ a (as b f32))`).

use crate::ast::{
    DimExpr, DimOp, Expr, ExprKind, FnDecl, IndexItem, LetPattern, Program, RetType, TypeExpr,
};
use std::fmt::Write as _;

/// Prints a whole program.
pub fn print_program(p: &Program) -> String {
    let mut out = String::new();
    for (i, f) in p.funcs.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&print_fn(f));
    }
    out
}

/// Prints one function.
pub fn print_fn(f: &FnDecl) -> String {
    let mut out = format!("(fn {}\n  (params", f.name.name);
    for p in &f.params {
        let _ = write!(out, " ({} {})", p.name.name, ty(&p.ty));
    }
    out.push(')');
    match &f.ret {
        RetType::Single(t) => {
            let _ = write!(out, "\n  (returns {})", ty(t));
        }
        RetType::Tuple(ts, _) => {
            let all: Vec<String> = ts.iter().map(ty).collect();
            let _ = write!(out, "\n  (returns ({}))", all.join(" "));
        }
    }
    for s in &f.body {
        let pat = match &s.pattern {
            LetPattern::Name(id) => id.name.clone(),
            LetPattern::Tuple(ids, _) => {
                let names: Vec<&str> = ids.iter().map(|i| i.name.as_str()).collect();
                format!("({})", names.join(" "))
            }
        };
        let ann =
            s.ty.as_ref()
                .map(|t| format!(" : {}", ty(t)))
                .unwrap_or_default();
        let _ = write!(out, "\n  (let {pat}{ann} {})", expr(&s.value));
    }
    let _ = write!(out, "\n  (result {}))\n", expr(&f.tail));
    out
}

fn ty(t: &TypeExpr) -> String {
    match &t.dims {
        None => t.dtype.to_string(),
        Some(dims) => {
            let d: Vec<String> = dims.iter().map(dim).collect();
            format!("{}[{}]", t.dtype, d.join(", "))
        }
    }
}

fn dim(d: &DimExpr) -> String {
    match d {
        DimExpr::Int(v, _) => v.to_string(),
        DimExpr::Name(id) => id.name.clone(),
        DimExpr::Neg(inner, _) => format!("(-{})", dim(inner)),
        DimExpr::Bin(a, op, b, _) => {
            let o = match op {
                DimOp::Add => "+",
                DimOp::Sub => "-",
                DimOp::Mul => "*",
                DimOp::Div => "/",
            };
            format!("({} {o} {})", dim(a), dim(b))
        }
    }
}

fn list(items: &[Expr]) -> String {
    items.iter().map(expr).collect::<Vec<_>>().join(" ")
}

fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(v) => v.to_string(),
        ExprKind::Float(v) => format!("{v:?}"),
        ExprKind::Bool(v) => v.to_string(),
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::DType(d) => d.to_string(),
        ExprKind::None => "none".to_string(),
        ExprKind::Var(n) => n.clone(),
        ExprKind::Neg(inner) => format!("(neg {})", expr(inner)),
        ExprKind::Binary(op, a, b) => format!("({} {} {})", op.symbol(), expr(a), expr(b)),
        ExprKind::Cast(inner, d, _) => format!("(as {} {d})", expr(inner)),
        ExprKind::Index(base, items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|it| match it {
                    IndexItem::Index(e) => expr(e),
                    IndexItem::Range { start, end, .. } => format!(
                        "{}:{}",
                        start.as_ref().map(expr).unwrap_or_default(),
                        end.as_ref().map(expr).unwrap_or_default()
                    ),
                })
                .collect();
            format!("(index {} [{}])", expr(base), parts.join(", "))
        }
        ExprKind::Call {
            callee,
            args,
            named,
        } => {
            let mut s = format!("(call {}", callee.name);
            if !args.is_empty() {
                let _ = write!(s, " {}", list(args));
            }
            for (k, v) in named {
                let _ = write!(s, " ({}: {})", k.name, expr(v));
            }
            s.push(')');
            s
        }
        ExprKind::List(items) => format!("[{}]", list(items)),
        ExprKind::Tuple(items) => format!("(tuple {})", list(items)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(src: &str) -> String {
        print_program(&crate::parser::parse(src).expect("parses"))
    }

    #[test]
    fn groupings_are_explicit() {
        let out = dump("fn f(a: f32[2, 3], b: f32[3, 2]) -> f32[2, 2] { let y = -a[0:1, :] as f32; a @ b as f32 }");
        assert_eq!(
            out,
            "(fn f\n  (params (a f32[2, 3]) (b f32[3, 2]))\n  (returns f32[2, 2])\n  (let y (as (neg (index a [0:1, :])) f32))\n  (result (@ a (as b f32))))\n"
        );
    }

    #[test]
    fn calls_tuples_and_types() {
        let out = dump("fn g(x: f32[B*S, 4]) -> (f32[B*S], f32) { let (m, n) = h(x); (sum(x, axis: [1], keepdims: false), 2.5) }");
        assert!(out.contains("(params (x f32[(B * S), 4]))"), "{out}");
        assert!(out.contains("(returns (f32[(B * S)] f32))"), "{out}");
        assert!(out.contains("(let (m n) (call h x))"), "{out}");
        assert!(
            out.contains("(result (tuple (call sum x (axis: [1]) (keepdims: false)) 2.5)))"),
            "{out}"
        );
    }
}
