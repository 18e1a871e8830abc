//! `tensor([[1.0, 2.0], [3.0, 4.0]])`: a tensor written out as nested lists of literals.
//!
//! The nesting gives the shape (every list at one depth has the same length, none is
//! empty); the entries are number literals (`2`, `-0.5`, `1e-3`) or `true`/`false`. Without
//! `dtype:` the dtype is what NumPy would infer, narrowed to the language's dtypes: `f32`
//! when any entry is a float, `i32` when all are integers, `bool` when all are booleans.
//! With `dtype:` every entry is converted with `as` semantics (DSL.md §7), once, from its
//! literal value (a float literal is first an `f32`, as in programs). A bare literal
//! (`tensor(3.5)`) is a 0-d tensor.

use super::checked_shape;
use crate::Tensor;
use tessera_dialects::{DType, Span};
use tessera_frontend::ast::{Expr, ExprKind};
use tessera_frontend::Diagnostic;
use tessera_tensor::convert;

/// One entry of the literal.
#[derive(Clone, Copy)]
enum Entry {
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// The entries in row-major order and the shape the nesting gives.
struct Flat {
    shape: Vec<usize>,
    /// The span of the first list seen at each depth, for ragged-length errors.
    first: Vec<Span>,
    entries: Vec<Entry>,
    /// The depth of the entries, once the first one is seen.
    leaf_depth: Option<usize>,
}

/// Evaluates `tensor(arg, dtype: given)`.
pub fn tensor(arg: &Expr, given: Option<DType>) -> Result<Tensor, Diagnostic> {
    let mut flat = Flat {
        shape: Vec::new(),
        first: Vec::new(),
        entries: Vec::new(),
        leaf_depth: None,
    };
    flat.walk(arg, 0)?;
    let dims: Vec<i64> = flat.shape.iter().map(|&d| d as i64).collect();
    let shape = checked_shape(&dims, arg.span)?;
    let has_float = flat.entries.iter().any(|e| matches!(e, Entry::Float(_)));
    let bools = flat
        .entries
        .iter()
        .filter(|e| matches!(e, Entry::Bool(_)))
        .count();
    if bools != 0 && bools != flat.entries.len() {
        return Err(
            Diagnostic::error("`tensor` entries mix booleans and numbers")
                .primary(arg.span, "this literal")
                .hint("write `1`/`0` for true/false, or give every entry as a boolean"),
        );
    }
    let dtype = given.unwrap_or(if bools != 0 {
        DType::Bool
    } else if has_float {
        DType::F32
    } else {
        DType::I32
    });
    if given.is_none() && !has_float {
        if let Some(i) = flat.entries.iter().find_map(|e| match *e {
            Entry::Int(i) if i32::try_from(i).is_err() => Some(i),
            _ => None,
        }) {
            return Err(
                Diagnostic::error(format!("the integer {i} does not fit in i32"))
                    .primary(arg.span, "in this literal")
                    .hint("write it as a float (`3000000000.0`), or give `dtype: f32`"),
            );
        }
    }
    // Each entry converted once, from its exact literal value, with `as` semantics.
    let made = if dtype.is_float() {
        let vals: Vec<f32> = flat
            .entries
            .iter()
            .map(|e| match *e {
                Entry::Int(i) => convert::int_to_float(dtype, i),
                Entry::Float(f) => convert::round_to(dtype, f as f32),
                Entry::Bool(b) => f32::from(u8::from(b)),
            })
            .collect();
        Tensor::from_f32(dtype, shape, vals)
    } else {
        let vals: Vec<i32> = flat
            .entries
            .iter()
            .map(|e| match *e {
                Entry::Int(i) => convert::int_to_int(dtype, i),
                Entry::Float(f) => float_to_int(dtype, f),
                Entry::Bool(b) => i32::from(b),
            })
            .collect();
        Tensor::from_i32(dtype, shape, vals)
    };
    made.map_err(|e| Diagnostic::error(format!("tensor: {e}")).primary(arg.span, "this literal"))
}

impl Flat {
    fn walk(&mut self, e: &Expr, depth: usize) -> Result<(), Diagnostic> {
        if let ExprKind::List(items) = &e.kind {
            if let Some(leaf) = self.leaf_depth.filter(|&d| d <= depth) {
                return Err(depth_error(e.span, leaf, "a list"));
            }
            if items.is_empty() {
                return Err(Diagnostic::error("an empty list has no entries")
                    .primary(e.span, "empty")
                    .hint("tensors are not empty: every size is at least 1"));
            }
            if depth == self.shape.len() {
                self.shape.push(items.len());
                self.first.push(e.span);
            } else if self.shape[depth] != items.len() {
                return Err(Diagnostic::error(format!(
                    "ragged nesting: this list has {}, the first list at its depth {}",
                    entries(items.len()),
                    entries(self.shape[depth])
                ))
                .primary(e.span, entries(items.len()))
                .secondary(self.first[depth], entries(self.shape[depth]))
                .hint("every list at one depth must have the same length"));
            }
            return items.iter().try_for_each(|item| self.walk(item, depth + 1));
        }
        let entry = entry(e)?;
        match self.leaf_depth {
            None if depth < self.shape.len() => {
                return Err(depth_error(e.span, self.shape.len(), "a number"))
            }
            None => self.leaf_depth = Some(depth),
            Some(d) if d != depth => return Err(depth_error(e.span, d, "a number")),
            Some(_) => {}
        }
        self.entries.push(entry);
        Ok(())
    }
}

/// `f as dtype` for an integer (or `bool`) dtype: NaN is 0, ties round to even, values
/// beyond the range saturate; `as bool` is "not zero".
fn float_to_int(dtype: DType, f: f64) -> i32 {
    if dtype == DType::Bool {
        return i32::from(f != 0.0);
    }
    if f.is_nan() {
        return 0;
    }
    // `as i64` saturates; the dtype's own range is applied by `int_to_int`.
    convert::int_to_int(dtype, f.round_ties_even() as i64)
}

fn entries(n: usize) -> String {
    if n == 1 {
        "1 entry".to_string()
    } else {
        format!("{n} entries")
    }
}

fn depth_error(span: Span, expected: usize, found: &str) -> Diagnostic {
    Diagnostic::error(format!(
        "ragged nesting: {found} where the other entries are at depth {expected}"
    ))
    .primary(span, "at another depth")
    .hint("write every entry at the same depth: `[[1, 2], [3, 4]]`")
}

/// A number literal, possibly negated, or a boolean.
fn entry(e: &Expr) -> Result<Entry, Diagnostic> {
    match &e.kind {
        ExprKind::Int(v) => Ok(Entry::Int(*v)),
        ExprKind::Float(v) => Ok(Entry::Float(*v)),
        ExprKind::Bool(b) => Ok(Entry::Bool(*b)),
        ExprKind::Neg(inner) => match entry(inner)? {
            Entry::Int(v) => Ok(Entry::Int(-v)),
            Entry::Float(v) => Ok(Entry::Float(-v)),
            Entry::Bool(_) => Err(not_literal(e.span)),
        },
        _ => Err(not_literal(e.span)),
    }
}

fn not_literal(span: Span) -> Diagnostic {
    Diagnostic::error("`tensor` takes nested lists of number or boolean literals")
        .primary(span, "not a literal")
        .hint("compute with the tensor after making it: `tensor([1.0, 2.0]) * x`")
}
