//! The verifier: checks a module against the operation declarations, SSA rules, function
//! structure and types, and reports every error it finds with its function and location.

mod attrs;
pub(crate) use attrs::kind_phrase;
mod ops;
mod ssa;
mod tile;

use crate::ir::{Func, FuncKind, Loc, Module, Op, Value};
use crate::types::Type;
use std::fmt;

/// One problem found by the verifier.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyError {
    /// The function it was found in.
    pub func: String,
    /// The operation's location, or the function's for errors about the function itself.
    pub loc: Loc,
    /// The operation at fault (`graph.add`), when there is one.
    pub op: Option<String>,
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "in @{}", self.func)?;
        if let Some(op) = &self.op {
            write!(f, ", `{op}`")?;
        }
        if let Some(s) = self.loc.0 {
            write!(f, " (bytes {}..{})", s.start, s.end)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for VerifyError {}

/// Verifies every function of `m`; `Err` holds all the errors found, in program order.
pub fn verify_module(m: &Module) -> Result<(), Vec<VerifyError>> {
    let mut errs = Vec::new();
    for (i, f) in m.funcs.iter().enumerate() {
        if m.funcs[..i].iter().any(|g| g.name == f.name) {
            errs.push(VerifyError {
                func: f.name.clone(),
                loc: f.loc,
                op: None,
                message: format!("function `@{}` is defined twice", f.name),
            });
        }
        if let Err(mut e) = verify_func(m, f) {
            errs.append(&mut e);
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

/// Verifies one function of `m` (the module resolves `graph.call`).
pub fn verify_func(m: &Module, f: &Func) -> Result<(), Vec<VerifyError>> {
    let mut ck = Checker {
        m,
        f,
        names: crate::print::number_values(f),
        errs: Vec::new(),
    };
    ck.func();
    if ck.errs.is_empty() {
        Ok(())
    } else {
        Err(ck.errs)
    }
}

/// The state of verifying one function.
pub(crate) struct Checker<'a> {
    m: &'a Module,
    f: &'a Func,
    /// Printed names of values, for messages that match the text form.
    names: Vec<String>,
    errs: Vec<VerifyError>,
}

impl Checker<'_> {
    fn error(&mut self, loc: Loc, op: Option<Op>, message: String) {
        self.errs.push(VerifyError {
            func: self.f.name.clone(),
            loc,
            op: op.map(|o| o.full_name()),
            message,
        });
    }

    fn func_error(&mut self, message: String) {
        self.error(self.f.loc, None, message);
    }

    /// The type of `v`, if `v` is in the value table.
    fn ty(&self, v: Value) -> Option<&Type> {
        self.f.values.get(v.index()).map(|d| &d.ty)
    }

    /// `%name` as printed.
    fn vname(&self, v: Value) -> String {
        match self.names.get(v.index()) {
            Some(n) => format!("%{n}"),
            None => format!("<value {} outside the value table>", v.0),
        }
    }

    fn func(&mut self) {
        self.check_names();
        let f = self.f;
        match f.kind {
            // A graph function's attributes are free-form metadata.
            FuncKind::Graph => {}
            FuncKind::Kernel => {
                for m in attrs::check_attrs(crate::tile::KERNEL_ATTRS, &f.attrs) {
                    self.func_error(format!("kernel attributes: {m}"));
                }
                if !f.result_types.is_empty() {
                    self.func_error(
                        "a kernel has no results: it writes its outputs with `tile.store`".into(),
                    );
                }
            }
        }
        if f.body.args != f.params {
            self.func_error("the body's arguments are not the function's parameters".into());
        }
        self.check_sizes();
        self.check_ssa();
        self.check_body_end();
    }

    /// Every constant size of every value's type is at least 1 (the language has no empty
    /// tensors; a symbolic size is checked when a call binds it).
    fn check_sizes(&mut self) {
        let f = self.f;
        for (i, d) in f.values.iter().enumerate() {
            let shape: Vec<i64> = match &d.ty {
                Type::Tensor(t) => t.shape.iter().filter_map(|e| e.as_const()).collect(),
                Type::Buffer(b) => b.elem.shape.iter().filter_map(|e| e.as_const()).collect(),
                Type::Tile(t) => t.shape.iter().map(|&n| n as i64).collect(),
                Type::Index => continue,
            };
            if let Some(n) = shape.into_iter().find(|&n| n < 1) {
                let v = self.vname(Value(i as u32));
                self.func_error(format!(
                    "{v} has type {} with a size of {n}: sizes are at least 1",
                    d.ty
                ));
            }
        }
    }

    /// Value names are unique in a function and not all digits.
    fn check_names(&mut self) {
        let mut seen = std::collections::BTreeMap::new();
        let mut msgs = Vec::new();
        for (i, d) in self.f.values.iter().enumerate() {
            let Some(n) = &d.name else { continue };
            if n.is_empty() || n.bytes().all(|b| b.is_ascii_digit()) {
                msgs.push(format!("value name `%{n}` is empty or all digits (those are reserved for unnamed values)"));
            } else if !n
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
            {
                msgs.push(format!(
                    "value name `%{n}` may only hold letters, digits, `_` and `.`"
                ));
            }
            if let Some(j) = seen.insert(n.clone(), i) {
                let _ = j;
                msgs.push(format!("value name `%{n}` is used by two values"));
            }
        }
        for m in msgs {
            self.func_error(m);
        }
    }

    /// A graph function ends with exactly one `graph.return` of its result types; a kernel
    /// body has no terminator.
    fn check_body_end(&mut self) {
        let f = self.f;
        let last = f.body.ops.last();
        match f.kind {
            FuncKind::Graph => {
                let Some(ret) = last.filter(|o| o.op == Op::Graph(crate::GraphOp::Return)) else {
                    self.func_error("a graph function must end with `graph.return`".into());
                    return;
                };
                let got: Vec<Option<&Type>> = ret.operands.iter().map(|v| self.ty(*v)).collect();
                let want: Vec<Option<&Type>> = f.result_types.iter().map(Some).collect();
                if got != want {
                    let show = |ts: &[Option<&Type>]| {
                        ts.iter()
                            .map(|t| t.map_or("?".to_string(), |t| t.to_string()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    let msg = format!(
                        "returns ({}) but the function's result types are ({})",
                        show(&got),
                        show(&want)
                    );
                    self.error(ret.loc, Some(ret.op), msg);
                }
            }
            FuncKind::Kernel => {}
        }
    }
}
