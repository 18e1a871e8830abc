//! Canonical value numbering: the form [`crate::parse::parse_module`] produces.
//!
//! Values are renumbered in definition order (parameters, then each operation's results,
//! then its regions' arguments and bodies, in program order) and dead entries of the value
//! table are dropped, so `parse_module(&print_module(m)) == renumber(m)` for valid IR.

use crate::ir::{Func, Module, Operation, Region, Value, ValueData};

/// Calls `f` on every value definition of `func`, in definition order.
pub fn walk_definitions(func: &Func, f: &mut dyn FnMut(Value)) {
    for p in &func.params {
        f(*p);
    }
    for a in &func.body.args {
        if !func.params.contains(a) {
            f(*a);
        }
    }
    walk_ops(&func.body.ops, f);
}

fn walk_ops(ops: &[Operation], f: &mut dyn FnMut(Value)) {
    for op in ops {
        for r in &op.results {
            f(*r);
        }
        for region in &op.regions {
            for a in &region.args {
                f(*a);
            }
            walk_ops(&region.ops, f);
        }
    }
}

/// Renumbers every function of a module; see [`renumber_func`].
pub fn renumber(m: &Module) -> Module {
    Module {
        funcs: m.funcs.iter().map(renumber_func).collect(),
    }
}

/// A copy of `func` with values renumbered in definition order and dead table entries dropped.
/// Values used but never defined (invalid IR) are kept, numbered after all definitions.
pub fn renumber_func(func: &Func) -> Func {
    let mut map: Vec<Option<Value>> = vec![None; func.values.len()];
    let mut values: Vec<ValueData> = Vec::new();
    let mut add = |v: Value, map: &mut Vec<Option<Value>>| {
        if let (Some(slot), Some(data)) = (map.get_mut(v.index()), func.values.get(v.index())) {
            if slot.is_none() {
                *slot = Some(Value(values.len() as u32));
                values.push(data.clone());
            }
        }
    };
    walk_definitions(func, &mut |v| add(v, &mut map));
    walk_uses(&func.body.ops, &mut |v| add(v, &mut map));
    let remap = |v: &Value| map.get(v.index()).copied().flatten().unwrap_or(*v);
    let mut out = func.clone();
    out.params = func.params.iter().map(remap).collect();
    out.body = remap_region(&func.body, &remap);
    out.values = values;
    out
}

fn walk_uses(ops: &[Operation], f: &mut dyn FnMut(Value)) {
    for op in ops {
        for o in &op.operands {
            f(*o);
        }
        for region in &op.regions {
            walk_uses(&region.ops, f);
        }
    }
}

fn remap_region(r: &Region, remap: &dyn Fn(&Value) -> Value) -> Region {
    Region {
        args: r.args.iter().map(remap).collect(),
        ops: r
            .ops
            .iter()
            .map(|op| Operation {
                op: op.op,
                operands: op.operands.iter().map(remap).collect(),
                results: op.results.iter().map(remap).collect(),
                attrs: op.attrs.clone(),
                regions: op.regions.iter().map(|g| remap_region(g, remap)).collect(),
                loc: op.loc,
            })
            .collect(),
    }
}
