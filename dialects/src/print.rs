//! The text printer: one deterministic MLIR-style form for every dialect (see `docs/ir.md`).
//!
//! Named values print as `%name`; unnamed values are numbered `%0, %1, ...` in definition
//! order (parameters, then each operation's results, then its regions' arguments and
//! bodies). [`crate::parse::parse_module`] reads this form back.

use crate::attr::Attrs;
use crate::dialect::Trait;
use crate::ir::{Func, Module, Operation, Region, Value};
use crate::types::Type;
use std::fmt::Write;

/// Prints a module: its functions separated by a blank line.
pub fn print_module(m: &Module) -> String {
    let mut out = String::new();
    for (i, f) in m.funcs.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&print_func(f));
    }
    out
}

/// Prints one function or kernel, ending with a newline.
pub fn print_func(f: &Func) -> String {
    let mut p = Printer {
        f,
        names: number_values(f),
        out: String::new(),
    };
    p.func();
    p.out
}

/// The printed name of every value of `f` (without `%`), indexed by value.
pub(crate) fn number_values(f: &Func) -> Vec<String> {
    let mut names: Vec<Option<String>> = vec![None; f.values.len()];
    let mut next = 0usize;
    let mut assign = |v: Value, names: &mut Vec<Option<String>>| {
        if let Some(slot) = names.get_mut(v.index()) {
            if slot.is_none() {
                *slot = Some(match f.values.get(v.index()).and_then(|d| d.name.clone()) {
                    Some(n) => n,
                    None => {
                        next += 1;
                        (next - 1).to_string()
                    }
                });
            }
        }
    };
    crate::renumber::walk_definitions(f, &mut |v| assign(v, &mut names));
    // Values that are used but never defined still get a stable name.
    names
        .into_iter()
        .enumerate()
        .map(|(i, n)| match n {
            Some(n) => n,
            None => match f.values.get(i).and_then(|d| d.name.clone()) {
                Some(n) => n,
                None => format!("undef{i}"),
            },
        })
        .collect()
}

struct Printer<'f> {
    f: &'f Func,
    names: Vec<String>,
    out: String,
}

impl Printer<'_> {
    fn name(&self, v: Value) -> String {
        match self.names.get(v.index()) {
            Some(n) => format!("%{n}"),
            None => format!("%invalid{}", v.0),
        }
    }

    fn ty(&self, v: Value) -> String {
        match self.f.values.get(v.index()) {
            Some(d) => d.ty.to_string(),
            None => "<invalid>".to_string(),
        }
    }

    fn func(&mut self) {
        let f = self.f;
        let params: Vec<String> = f
            .params
            .iter()
            .map(|p| format!("{}: {}", self.name(*p), self.ty(*p)))
            .collect();
        let _ = write!(
            self.out,
            "{} @{}({})",
            f.kind.keyword(),
            f.name,
            params.join(", ")
        );
        if !f.result_types.is_empty() {
            let _ = write!(self.out, " -> ({})", join_types(&f.result_types));
        }
        if !f.attrs.is_empty() {
            let _ = write!(self.out, " attributes {}", attr_dict(&f.attrs));
        }
        self.out.push_str(" {\n");
        for op in &f.body.ops {
            self.op(op, 1);
        }
        self.out.push_str("}\n");
    }

    fn op(&mut self, op: &Operation, depth: usize) {
        let indent = "  ".repeat(depth);
        self.out.push_str(&indent);
        if !op.results.is_empty() {
            let rs: Vec<String> = op.results.iter().map(|r| self.name(*r)).collect();
            let _ = write!(self.out, "{} = ", rs.join(", "));
        }
        self.out.push_str(&op.op.full_name());
        if !op.operands.is_empty() {
            let os: Vec<String> = op.operands.iter().map(|o| self.name(*o)).collect();
            let _ = write!(self.out, " {}", os.join(", "));
        }
        if !op.attrs.is_empty() {
            let _ = write!(self.out, " {}", attr_dict(&op.attrs));
        }
        let operand_types: Vec<String> = op.operands.iter().map(|o| self.ty(*o)).collect();
        let short = op.op.def().has_trait(Trait::Terminator) && op.results.is_empty();
        if short {
            if !operand_types.is_empty() {
                let _ = write!(self.out, " : {}", operand_types.join(", "));
            }
        } else {
            let result_types: Vec<String> = op.results.iter().map(|r| self.ty(*r)).collect();
            let results = if result_types.len() == 1 {
                result_types.join("")
            } else {
                format!("({})", result_types.join(", "))
            };
            let _ = write!(self.out, " : ({}) -> {}", operand_types.join(", "), results);
        }
        for r in &op.regions {
            self.region(r, depth);
        }
        self.out.push('\n');
    }

    fn region(&mut self, r: &Region, depth: usize) {
        let args: Vec<String> = r
            .args
            .iter()
            .map(|a| format!("{}: {}", self.name(*a), self.ty(*a)))
            .collect();
        let _ = writeln!(self.out, " ({}) {{", args.join(", "));
        for op in &r.ops {
            self.op(op, depth + 1);
        }
        self.out.push_str(&"  ".repeat(depth));
        self.out.push('}');
    }
}

fn join_types(ts: &[Type]) -> String {
    ts.iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `{a = v, b = w}` in stored order.
pub fn attr_dict(attrs: &Attrs) -> String {
    let items: Vec<String> = attrs.0.iter().map(|(n, a)| format!("{n} = {a}")).collect();
    format!("{{{}}}", items.join(", "))
}
