//! Binding a function's symbolic sizes from its inputs: checks the input count, each
//! input's dtype and rank, binds every size name from the first dimension that names it
//! alone, checks constants and repeated names, then evaluates (or, for one unknown name
//! in a linear expression such as `2*B + 1`, solves) expression dimensions.
//!
//! Names that only occur together (`f32[B*S, 4]` with no other `B` or `S`) cannot be told
//! apart. They get two witness assignments (`B = 1, S = 25` and `B = 25, S = 1`); a size
//! expression evaluates only when both witnesses agree (`B*S`, `B*S + 2`), so a result
//! never depends on an arbitrary split.

use crate::error::InterpError;
use std::collections::BTreeMap;
use tessera_dialects::{Func, SymExpr, TensorType};
use tessera_tensor::Tensor;

type Map = BTreeMap<String, i64>;

/// The sizes bound for one function invocation.
#[derive(Clone, Debug, Default)]
pub(crate) struct Bound {
    main: Map,
    /// A second witness when some names are only known through products.
    alt: Option<Map>,
}

impl Bound {
    /// Evaluates a size expression; it must not depend on how undetermined names split.
    pub(crate) fn eval(&self, e: &SymExpr) -> Result<i64, String> {
        let v = e
            .eval_map(&self.main)
            .map_err(|err| format!("size `{e}`: {err}"))?;
        if let Some(alt) = &self.alt {
            let w = e
                .eval_map(alt)
                .map_err(|err| format!("size `{e}`: {err}"))?;
            if v != w {
                return Err(format!(
                    "size `{e}` depends on sizes that the inputs do not determine separately"
                ));
            }
        }
        Ok(v)
    }
}

/// The name of parameter `i` (`%x` prints as `x`; an unnamed one as `#i`).
pub(crate) fn param_name(func: &Func, i: usize) -> String {
    func.params
        .get(i)
        .and_then(|v| func.values.get(v.index()))
        .and_then(|d| d.name.clone())
        .unwrap_or_else(|| format!("#{i}"))
}

/// The tensor type of parameter `i`.
fn param_type(func: &Func, i: usize) -> Option<&TensorType> {
    let v = func.params.get(i)?;
    func.values.get(v.index())?.ty.as_tensor()
}

/// Evaluates a declared shape with the bound sizes.
pub(crate) fn eval_shape(shape: &[SymExpr], bound: &Bound) -> Result<Vec<i64>, String> {
    shape.iter().map(|e| bound.eval(e)).collect()
}

fn show(shape: &[usize]) -> String {
    let v: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", v.join(", "))
}

/// An expression dimension still to check: parameter, axis, expression, actual size.
#[derive(Clone)]
struct Pending {
    param: String,
    dim: usize,
    expr: SymExpr,
    actual: i64,
}

/// Checks fully bound expressions and solves those with one unknown name, until no more
/// progress; returns the ones left (each with two or more unknown names, or unsolvable).
fn resolve(
    mut pending: Vec<Pending>,
    bound: &mut Map,
    loc: tessera_dialects::Loc,
) -> Result<Vec<Pending>, InterpError> {
    loop {
        let mut progress = false;
        let mut rest = Vec::new();
        for p in pending {
            let unbound: Vec<String> = p
                .expr
                .names()
                .into_iter()
                .filter(|n| !bound.contains_key(n))
                .collect();
            if unbound.is_empty() {
                let v = p.expr.eval_map(bound).map_err(|err| {
                    InterpError::input(format!("size `{}`: {err}", p.expr), loc, &p.param)
                })?;
                if v != p.actual {
                    let names: Vec<String> = p
                        .expr
                        .names()
                        .iter()
                        .map(|n| format!("{n} = {}", bound.get(n).copied().unwrap_or(0)))
                        .collect();
                    return Err(InterpError::input(
                        format!(
                            "parameter `{}`: dimension {} is {}, but `{}` is {v} (with {})",
                            p.param,
                            p.dim,
                            p.actual,
                            p.expr,
                            names.join(", ")
                        ),
                        loc,
                        &p.param,
                    ));
                }
            } else if unbound.len() == 1 {
                match p.expr.solve(&unbound[0], p.actual, bound) {
                    Some(v) => {
                        bound.insert(unbound[0].clone(), v);
                        progress = true;
                    }
                    None => rest.push(p),
                }
            } else {
                rest.push(p);
            }
        }
        pending = rest;
        if pending.is_empty() || !progress {
            return Ok(pending);
        }
    }
}

fn undetermined(p: &Pending, loc: tessera_dialects::Loc) -> InterpError {
    InterpError::input(
        format!(
            "parameter `{}`: dimension {} is {}, and no size solves `{}` = {} (sizes are solved from dimensions of the form a*N + b)",
            p.param, p.dim, p.actual, p.expr, p.actual
        ),
        loc,
        &p.param,
    )
}

/// Checks `inputs` against `func`'s parameters and returns the bound sizes.
pub(crate) fn bind_inputs(func: &Func, inputs: &[Tensor]) -> Result<Bound, InterpError> {
    let loc = func.loc;
    if inputs.len() != func.params.len() {
        return Err(InterpError::new(
            format!(
                "function `{}` takes {} input{}, got {}",
                func.name,
                func.params.len(),
                if func.params.len() == 1 { "" } else { "s" },
                inputs.len()
            ),
            loc,
        ));
    }
    let mut bound: Map = BTreeMap::new();
    let mut origin: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut pending: Vec<Pending> = Vec::new();
    for (i, t) in inputs.iter().enumerate() {
        let pname = param_name(func, i);
        let err = |m: String| InterpError::input(m, loc, &pname);
        let ty = param_type(func, i)
            .ok_or_else(|| err(format!("parameter `{pname}` does not have a tensor type")))?;
        if t.dtype() != ty.dtype {
            return Err(err(format!(
                "parameter `{pname}` expects {ty}, got a {} tensor of shape {}",
                t.dtype(),
                show(t.shape())
            )));
        }
        if t.rank() != ty.rank() {
            return Err(err(format!(
                "parameter `{pname}` expects {ty} (rank {}), got shape {} (rank {})",
                ty.rank(),
                show(t.shape()),
                t.rank()
            )));
        }
        for (d, (e, &actual)) in ty.shape.iter().zip(t.shape()).enumerate() {
            let actual_i = i64::try_from(actual)
                .map_err(|_| err(format!("parameter `{pname}`: size {actual} is too large")))?;
            // Sizes are positive (as in types and slices): an empty input is an error.
            if actual_i == 0 {
                return Err(err(format!(
                    "parameter `{pname}` expects {ty}: dimension {d} is 0; sizes must be at least 1"
                )));
            }
            if let Some(c) = e.as_const() {
                if c != actual_i {
                    return Err(err(format!(
                        "parameter `{pname}` expects {ty}: dimension {d} is {actual}, expected {c}"
                    )));
                }
            } else if let Some(n) = e.as_name() {
                match bound.get(n) {
                    Some(&prev) if prev != actual_i => {
                        let (p0, d0) = origin.get(n).cloned().unwrap_or_default();
                        return Err(err(format!(
                            "size `{n}` is {prev} from parameter `{p0}` (dimension {d0}) \
                             but {actual} in parameter `{pname}` (dimension {d})"
                        )));
                    }
                    Some(_) => {}
                    None => {
                        bound.insert(n.to_string(), actual_i);
                        origin.insert(n.to_string(), (pname.clone(), d));
                    }
                }
            } else {
                pending.push(Pending {
                    param: pname.clone(),
                    dim: d,
                    expr: e.clone(),
                    actual: actual_i,
                });
            }
        }
    }
    let pending = resolve(pending, &mut bound, loc)?;
    if pending.is_empty() {
        return Ok(Bound {
            main: bound,
            alt: None,
        });
    }
    // Names known only through products: two witnesses, each setting all but one of them
    // to 1 (the first name left free, then the last).
    let mut names: Vec<String> = pending
        .iter()
        .flat_map(|p| p.expr.names())
        .filter(|n| !bound.contains_key(n))
        .collect();
    names.sort();
    names.dedup();
    if names.len() < 2 {
        return Err(undetermined(&pending[0], loc));
    }
    let mut witnesses = Vec::with_capacity(2);
    for free in [0, names.len() - 1] {
        let mut w = bound.clone();
        for (j, n) in names.iter().enumerate() {
            if j != free {
                w.insert(n.clone(), 1);
            }
        }
        let left = resolve(pending.clone(), &mut w, loc)?;
        if let Some(p) = left.first() {
            return Err(undetermined(p, loc));
        }
        witnesses.push(w);
    }
    let alt = witnesses.pop();
    let main = witnesses.pop().unwrap_or_default();
    Ok(Bound { main, alt })
}
