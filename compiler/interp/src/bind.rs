//! Binding a function's symbolic sizes from its inputs: checks the input count, each
//! input's dtype and rank, binds every size name from the first dimension that names it
//! alone, checks constants and repeated names, then evaluates (or, for one unknown name
//! in a linear expression such as `2*B + 1`, solves) expression dimensions.

use crate::attrs::Sizes;
use crate::error::InterpError;
use std::collections::BTreeMap;
use tessera_dialects::{Func, SymExpr, TensorType};
use tessera_tensor::Tensor;

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
pub(crate) fn eval_shape(shape: &[SymExpr], bound: &Sizes) -> Result<Vec<i64>, String> {
    shape
        .iter()
        .map(|e| {
            e.eval_map(bound)
                .map_err(|err| format!("size `{e}`: {err}"))
        })
        .collect()
}

fn show(shape: &[usize]) -> String {
    let v: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", v.join(", "))
}

/// Solves `e(name) == target` for the one unbound `name` when `e` is linear in it.
fn solve(e: &SymExpr, name: &str, target: i64, bound: &Sizes) -> Option<i64> {
    let at = |v: i64| {
        let mut b = bound.clone();
        b.insert(name.to_string(), v);
        e.eval_map(&b).ok()
    };
    let (e0, e1, e2) = (at(0)?, at(1)?, at(2)?);
    let c = e1.checked_sub(e0)?;
    if c == 0 || e2.checked_sub(e1)? != c {
        return None;
    }
    let diff = target.checked_sub(e0)?;
    if diff % c != 0 || diff / c < 0 {
        return None;
    }
    let v = diff / c;
    (at(v)? == target).then_some(v)
}

/// Checks `inputs` against `func`'s parameters and returns the bound sizes.
pub(crate) fn bind_inputs(func: &Func, inputs: &[Tensor]) -> Result<Sizes, InterpError> {
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
    let mut bound: Sizes = BTreeMap::new();
    let mut origin: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut pending: Vec<(String, usize, SymExpr, usize)> = Vec::new();
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
                pending.push((pname.clone(), d, e.clone(), actual));
            }
        }
    }
    // Expression dimensions: evaluate, or solve for a single unknown name; repeat while
    // solving binds new names.
    loop {
        let mut progress = false;
        let mut rest = Vec::new();
        for (pname, d, e, actual) in pending {
            let unbound: Vec<String> = e
                .names()
                .into_iter()
                .filter(|n| !bound.contains_key(n))
                .collect();
            if unbound.is_empty() {
                let v = e
                    .eval_map(&bound)
                    .map_err(|err| InterpError::input(format!("size `{e}`: {err}"), loc, &pname))?;
                if v != actual as i64 {
                    let names: Vec<String> = e
                        .names()
                        .iter()
                        .map(|n| format!("{n} = {}", bound.get(n).copied().unwrap_or(0)))
                        .collect();
                    return Err(InterpError::input(
                        format!(
                            "parameter `{pname}`: dimension {d} is {actual}, but `{e}` is {v} \
                             (with {})",
                            names.join(", ")
                        ),
                        loc,
                        &pname,
                    ));
                }
            } else if unbound.len() == 1 {
                match solve(&e, &unbound[0], actual as i64, &bound) {
                    Some(v) => {
                        bound.insert(unbound[0].clone(), v);
                        origin.insert(unbound[0].clone(), (pname.clone(), d));
                        progress = true;
                    }
                    None => rest.push((pname, d, e, actual)),
                }
            } else {
                rest.push((pname, d, e, actual));
            }
        }
        pending = rest;
        if pending.is_empty() {
            break;
        }
        if !progress {
            let (pname, d, e, actual) = &pending[0];
            return Err(InterpError::input(
                format!(
                    "parameter `{pname}`: cannot determine the sizes of `{e}` from dimension \
                     {d} = {actual}"
                ),
                loc,
                pname,
            ));
        }
    }
    Ok(bound)
}
