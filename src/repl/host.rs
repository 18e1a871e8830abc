//! The REPL's own built-ins, evaluated on the host before anything is compiled: they make
//! tensors (`randn`, `rand`, `zeros`, `ones`, `arange`, `tensor` from nested lists of
//! literals) or read them (`load`). Their
//! arguments are literals; a call may stand anywhere in an expression, where it becomes an
//! input of the compiled function.

use crate::Tensor;
use std::path::Path;
use tessera_dialects::{DType, Span};
use tessera_frontend::ast::{Expr, ExprKind, Ident};
use tessera_frontend::Diagnostic;

mod literal;

/// The names of the REPL's built-ins.
pub const NAMES: [&str; 7] = ["randn", "rand", "zeros", "ones", "arange", "tensor", "load"];

/// The most elements a tensor made by a built-in may have (2^28: 1 GiB of `f32`).
pub const MAX_ELEMENTS: usize = 1 << 28;

/// Whether `name` is one of the REPL's built-ins.
pub fn is_host(name: &str) -> bool {
    NAMES.contains(&name)
}

/// Evaluates a call of a REPL built-in. `next_seed` gives the seed of a random tensor when
/// the call names none.
pub fn eval(
    callee: &Ident,
    args: &[Expr],
    named: &[(Ident, Expr)],
    span: Span,
    next_seed: &mut dyn FnMut() -> u64,
) -> Result<Tensor, Diagnostic> {
    let name = callee.name.as_str();
    let mut given_dtype = None;
    let mut seed = None;
    for (n, v) in named {
        match (name, n.name.as_str(), &v.kind) {
            (_, "dtype", ExprKind::DType(d)) => given_dtype = Some(*d),
            (_, "dtype", _) => {
                return Err(
                    Diagnostic::error("`dtype:` takes a dtype such as `f32` or `i8`")
                        .primary(v.span, "not a dtype"),
                )
            }
            ("randn" | "rand", "seed", ExprKind::Int(s)) => seed = Some(*s as u64),
            ("randn" | "rand", "seed", _) => {
                return Err(
                    Diagnostic::error("`seed:` takes a non-negative integer literal")
                        .primary(v.span, "not an integer literal"),
                )
            }
            _ => {
                return Err(
                    Diagnostic::error(format!("`{name}` has no argument `{}`", n.name))
                        .primary(n.span, "unknown argument")
                        .hint(usage(name)),
                )
            }
        }
    }
    let [arg] = args else {
        return Err(Diagnostic::error(format!(
            "`{name}` takes one positional argument, given {}",
            args.len()
        ))
        .primary(span, "this call")
        .hint(usage(name)));
    };
    if name == "tensor" {
        return literal::tensor(arg, given_dtype);
    }
    let dtype = given_dtype.unwrap_or(DType::F32);
    let made = match name {
        "load" => return load(arg, given_dtype),
        "arange" => {
            let n = int_literal(arg)?;
            let shape = checked_shape(&[n], arg.span)?;
            let vals: Vec<f32> = (0..shape[0]).map(|i| i as f32).collect();
            let t = Tensor::from_f32(DType::F32, shape, vals).map(|t| t.cast(dtype));
            t.map_err(|e| e.to_string())
        }
        _ => {
            let shape = shape_arg(arg)?;
            match name {
                "zeros" | "ones" => {
                    let v = if name == "ones" { 1.0 } else { 0.0 };
                    let n: usize = shape.iter().product();
                    Tensor::from_f32(DType::F32, shape, vec![v; n])
                        .map(|t| t.cast(dtype))
                        .map_err(|e| e.to_string())
                }
                "randn" => {
                    let s = seed.unwrap_or_else(&mut *next_seed);
                    tessera_tensor::random::normal(dtype, &shape, 0.0, 1.0, s)
                        .map_err(|e| e.to_string())
                }
                _ => {
                    let s = seed.unwrap_or_else(&mut *next_seed);
                    tessera_tensor::random::uniform(dtype, &shape, 0.0, 1.0, s)
                        .map_err(|e| e.to_string())
                }
            }
        }
    };
    made.map_err(|m| Diagnostic::error(format!("{name}: {m}")).primary(span, "this call"))
}

fn usage(name: &str) -> String {
    match name {
        "load" => {
            "`load(\"path.npy\")` reads a NumPy file, `load(\"path.npy\", dtype: f8e4m3)` one \
             that must hold that dtype"
                .to_string()
        }
        "arange" => "`arange(n)` is 0, 1, ..., n-1 (`dtype: f32` by default)".to_string(),
        "tensor" => "`tensor([[1.0, 2.0], [3.0, 4.0]])`, with `dtype: bf16` if wanted".to_string(),
        "randn" | "rand" => {
            format!("`{name}([d0, d1, ...])`, with `seed: N` and `dtype: f32` if wanted")
        }
        _ => format!("`{name}([d0, d1, ...])`, with `dtype: f32` if wanted"),
    }
}

fn int_literal(e: &Expr) -> Result<i64, Diagnostic> {
    match e.kind {
        ExprKind::Int(v) => Ok(v),
        _ => Err(Diagnostic::error("expected an integer literal")
            .primary(e.span, "not an integer literal")
            .hint("the REPL's built-ins take literal sizes, e.g. `randn([4, 8])`")),
    }
}

/// `[d0, d1, ...]` (or a single `d`) of positive integer literals.
fn shape_arg(e: &Expr) -> Result<Vec<usize>, Diagnostic> {
    let dims = match &e.kind {
        ExprKind::List(items) => items.iter().map(int_literal).collect::<Result<_, _>>()?,
        ExprKind::Int(v) => vec![*v],
        _ => {
            return Err(Diagnostic::error("expected a shape `[d0, d1, ...]`")
                .primary(e.span, "not a shape")
                .hint("the REPL's built-ins take literal sizes, e.g. `randn([4, 8])`"))
        }
    };
    checked_shape(&dims, e.span)
}

fn checked_shape(dims: &[i64], span: Span) -> Result<Vec<usize>, Diagnostic> {
    let mut shape = Vec::new();
    let mut count: usize = 1;
    for &d in dims {
        if d < 1 {
            return Err(Diagnostic::error(format!("size {d} is not positive"))
                .primary(span, "in this shape")
                .hint("tensors are not empty: every size is at least 1"));
        }
        let d = usize::try_from(d).unwrap_or(usize::MAX);
        count = count.saturating_mul(d);
        if count > MAX_ELEMENTS {
            return Err(Diagnostic::error(format!(
                "this shape has more than 2^28 elements ({MAX_ELEMENTS})"
            ))
            .primary(span, "too large"));
        }
        shape.push(d);
    }
    Ok(shape)
}

/// `load("file.npy")`, or with `dtype:` the dtype the file must hold (never a conversion;
/// FP8 files need it, as `f8e4m3` and `f8e5m2` share one raw encoding).
fn load(arg: &Expr, dtype: Option<DType>) -> Result<Tensor, Diagnostic> {
    let ExprKind::Str(path) = &arg.kind else {
        return Err(
            Diagnostic::error("`load` takes a file name in double quotes")
                .primary(arg.span, "not a string")
                .hint("`load(\"w.npy\")`"),
        );
    };
    let path = Path::new(path);
    let error = |m: String| Diagnostic::error(m).primary(arg.span, "this file");
    if !path.exists() {
        return Err(error(format!(
            "cannot read `{}`: no such file",
            path.display()
        )));
    }
    tessera_tensor::npy::read_npy_file(path, dtype).map_err(|e| {
        let d = error(format!("cannot read `{}`: {e}", path.display()));
        match e {
            tessera_tensor::NpyError::AmbiguousFp8(_) => d.hint(
                "the FP8 formats share one encoding in .npy files: give `dtype: f8e4m3` or \
                 `dtype: f8e5m2`",
            ),
            _ => d,
        }
    })
}
