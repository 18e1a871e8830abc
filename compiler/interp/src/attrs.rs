//! Checked attribute access for the evaluator: a missing or mistyped attribute is an
//! error message, never a panic; size lists are evaluated with the bound sizes.

use crate::bind::Bound;
use tessera_dialects::{Attr, Attrs, DType};

fn missing(name: &str) -> String {
    format!("missing attribute `{name}`")
}

fn wrong(name: &str, want: &str, got: &Attr) -> String {
    format!("attribute `{name}` must be {want}, got `{got}`")
}

pub(crate) fn int(a: &Attrs, name: &str) -> Result<i64, String> {
    match a.get(name) {
        Some(Attr::Int(v)) => Ok(*v),
        Some(x) => Err(wrong(name, "an integer", x)),
        None => Err(missing(name)),
    }
}

pub(crate) fn opt_int(a: &Attrs, name: &str) -> Result<Option<i64>, String> {
    match a.get(name) {
        None => Ok(None),
        Some(Attr::Int(v)) => Ok(Some(*v)),
        Some(x) => Err(wrong(name, "an integer", x)),
    }
}

pub(crate) fn boolean(a: &Attrs, name: &str) -> Result<bool, String> {
    match a.get(name) {
        Some(Attr::Bool(v)) => Ok(*v),
        Some(x) => Err(wrong(name, "`true` or `false`", x)),
        None => Err(missing(name)),
    }
}

/// A float; an integer is accepted.
pub(crate) fn float(a: &Attrs, name: &str) -> Result<f64, String> {
    match a.get(name) {
        Some(Attr::Float(v)) => Ok(*v),
        Some(Attr::Int(v)) => Ok(*v as f64),
        Some(x) => Err(wrong(name, "a number", x)),
        None => Err(missing(name)),
    }
}

pub(crate) fn string<'a>(a: &'a Attrs, name: &str) -> Result<&'a str, String> {
    match a.get(name) {
        Some(Attr::Str(v)) => Ok(v),
        Some(x) => Err(wrong(name, "a string", x)),
        None => Err(missing(name)),
    }
}

pub(crate) fn dtype(a: &Attrs, name: &str) -> Result<DType, String> {
    match a.get(name) {
        Some(Attr::DType(v)) => Ok(*v),
        Some(x) => Err(wrong(name, "a dtype", x)),
        None => Err(missing(name)),
    }
}

pub(crate) fn symbol<'a>(a: &'a Attrs, name: &str) -> Result<&'a str, String> {
    match a.get(name) {
        Some(Attr::Symbol(v)) => Ok(v),
        Some(x) => Err(wrong(name, "a function symbol", x)),
        None => Err(missing(name)),
    }
}

pub(crate) fn ints<'a>(a: &'a Attrs, name: &str) -> Result<&'a [i64], String> {
    match a.get(name) {
        Some(Attr::Ints(v)) => Ok(v),
        Some(x) => Err(wrong(name, "an integer list", x)),
        None => Err(missing(name)),
    }
}

/// An integer list of two values (`[h, w]`).
pub(crate) fn pair(a: &Attrs, name: &str) -> Result<[i64; 2], String> {
    match ints(a, name)? {
        [x, y] => Ok([*x, *y]),
        v => Err(format!(
            "attribute `{name}` must have 2 values (height, width), got {}",
            v.len()
        )),
    }
}

/// A size list evaluated with the bound sizes; an integer list is accepted as constants.
pub(crate) fn sizes(a: &Attrs, name: &str, bound: &Bound) -> Result<Vec<i64>, String> {
    match a.get(name) {
        Some(Attr::Sizes(v)) => v
            .iter()
            .map(|e| {
                bound
                    .eval(e)
                    .map_err(|err| format!("attribute `{name}`: {err}"))
            })
            .collect(),
        Some(Attr::Ints(v)) => Ok(v.clone()),
        Some(x) => Err(wrong(name, "a size list", x)),
        None => Err(missing(name)),
    }
}
