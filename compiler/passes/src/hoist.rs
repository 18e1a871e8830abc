//! Weight hoisting: the operations of a graph function that depend only on its weights
//! (and literals) move into a separate function run once, when the weights are bound; the
//! function proper takes their results as extra parameters.
//!
//! This is how narrowed weights are computed "at compile time" (the quantisation of a
//! weight, its scales, a cast to bf16): once per set of weights, as ONNX Runtime prepacks
//! initializers when a session starts, never on every call.
//!
//! A widening cast of `bf16` or `f16` (`w as bf16 as f32`: the `as f32` of a `bf16`
//! value) is never hoisted: the narrow value is what is held (half the bytes), and
//! the function proper widens it where it is read (the matmul widens its rhs tiles while
//! packing them, `tessera_tiling`'s `widened_rhs`). A weight the function proper no
//! longer reads is dropped from its parameters ([`Hoisted::kept`]), so it need not be
//! held either.

use std::collections::{BTreeMap, BTreeSet};
use tessera_dialects::{Attrs, DType, Func, GraphOp, Op, Operation, Value};

/// A function split in two.
#[derive(Clone, Debug)]
pub struct Hoisted {
    /// The original signature; returns the hoisted values.
    pub prep: Func,
    /// The original parameters it still reads ([`Hoisted::kept`]), then one parameter
    /// per hoisted value (`prep`'s results, in order); computes the original results.
    pub main: Func,
    /// The indices of the original parameters that `main` takes, in order: all but the
    /// weights it no longer reads (whose symbolic sizes other parameters bind).
    pub kept: Vec<usize>,
}

/// Whether `op` widens `bf16` or `f16` exactly to `f32` (`graph.cast` of such a value to
/// `f32`): left to the reader, so the narrow value is what is held (the CPU back end
/// widens both inline while packing).
pub fn is_widening_cast(f: &Func, op: &Operation) -> bool {
    let narrow = |v: &Value| {
        f.tensor_ty(*v)
            .is_some_and(|t| matches!(t.dtype, DType::BF16 | DType::F16))
    };
    op.op.as_graph() == Some(GraphOp::Cast)
        && op.operands.len() == 1
        && narrow(&op.operands[0])
        && op
            .results
            .first()
            .and_then(|r| f.tensor_ty(*r))
            .is_some_and(|t| t.dtype == DType::F32)
}

/// Splits `f`: `weights` are the indices of the parameters that are weights. An operation
/// is hoisted when it has operands, all of them weights, literals or hoisted results, and
/// at least one depends on a weight. `None` when no hoisted result is used by the rest.
pub fn hoist_weights(f: &Func, weights: &BTreeSet<usize>) -> Option<Hoisted> {
    let mut derived: BTreeSet<Value> = BTreeSet::new();
    for (i, p) in f.params.iter().enumerate() {
        if weights.contains(&i) {
            derived.insert(*p);
        }
    }
    let mut literal: BTreeSet<Value> = BTreeSet::new();
    let mut hoisted = vec![false; f.body.ops.len()];
    for (i, op) in f.body.ops.iter().enumerate() {
        let g = op.op.as_graph()?;
        if g == GraphOp::Return {
            continue;
        }
        if op.operands.is_empty() {
            literal.extend(op.results.iter().copied());
            continue;
        }
        let all_known = op
            .operands
            .iter()
            .all(|v| derived.contains(v) || literal.contains(v));
        if all_known && op.operands.iter().any(|v| derived.contains(v)) && !is_widening_cast(f, op)
        {
            hoisted[i] = true;
            derived.extend(op.results.iter().copied());
        }
    }
    // The hoisted results the rest of the function uses, in order of definition.
    let params: BTreeSet<Value> = f.params.iter().copied().collect();
    let mut used_outside: BTreeSet<Value> = BTreeSet::new();
    for (i, op) in f.body.ops.iter().enumerate() {
        if !hoisted[i] {
            used_outside.extend(
                op.operands
                    .iter()
                    .filter(|v| derived.contains(v) && !params.contains(v)),
            );
        }
    }
    let frontier: Vec<Value> = f
        .body
        .ops
        .iter()
        .zip(&hoisted)
        .filter(|(_, h)| **h)
        .flat_map(|(op, _)| op.results.iter().copied())
        .filter(|v| used_outside.contains(v))
        .collect();
    if frontier.is_empty() {
        return None;
    }
    let ret = |values: Vec<Value>| {
        Operation::new(Op::Graph(GraphOp::Return), values, Vec::new(), Attrs::new())
    };

    // prep: the literals and hoisted operations, returning the frontier.
    let mut prep = f.clone();
    prep.name = format!("{}__weights", f.name);
    prep.body.ops = f
        .body
        .ops
        .iter()
        .zip(&hoisted)
        .filter(|(op, h)| {
            **h || op.operands.is_empty() && op.op.as_graph() != Some(GraphOp::Return)
        })
        .map(|(op, _)| op.clone())
        .collect();
    prep.body.ops.push(ret(frontier.clone()));
    prep.result_types = frontier.iter().map(|v| f.ty(*v).clone()).collect();

    // main: the rest, reading the frontier from new parameters.
    let mut main = f.clone();
    let mut renamed: BTreeMap<Value, Value> = BTreeMap::new();
    for (i, v) in frontier.iter().enumerate() {
        let p = main.add_param(f.ty(*v).clone(), Some(format!("prepared{i}")));
        renamed.insert(*v, p);
    }
    main.body.ops = f
        .body
        .ops
        .iter()
        .zip(&hoisted)
        .filter(|(_, h)| !**h)
        .map(|(op, _)| {
            let mut op = op.clone();
            for v in op.operands.iter_mut() {
                if let Some(r) = renamed.get(v) {
                    *v = *r;
                }
            }
            op
        })
        .collect();
    // Weights main no longer reads are dropped, unless one binds a symbolic size that no
    // other parameter of main binds.
    let read: BTreeSet<Value> = main
        .body
        .ops
        .iter()
        .flat_map(|op| op.operands.iter().copied())
        .collect();
    // The names in `v`'s shape, and those its shape binds (plain names).
    let syms = |v: Value| -> BTreeSet<String> {
        main.tensor_ty(v)
            .map(|t| t.shape.iter().flat_map(|d| d.names()).collect())
            .unwrap_or_default()
    };
    let binds = |v: Value| -> BTreeSet<String> {
        main.tensor_ty(v)
            .map(|t| {
                t.shape
                    .iter()
                    .filter_map(|d| d.as_name().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut drop: BTreeSet<usize> = (0..f.params.len())
        .filter(|i| weights.contains(i) && !read.contains(&f.params[*i]))
        .collect();
    loop {
        let bound: BTreeSet<String> = main
            .params
            .iter()
            .enumerate()
            .filter(|(i, _)| !drop.contains(i))
            .flat_map(|(_, p)| binds(*p))
            .collect();
        let needed = drop
            .iter()
            .copied()
            .find(|i| !syms(f.params[*i]).is_subset(&bound));
        match needed {
            Some(i) => {
                drop.remove(&i);
            }
            None => break,
        }
    }
    let kept: Vec<usize> = (0..f.params.len()).filter(|i| !drop.contains(i)).collect();
    let gone: BTreeSet<Value> = drop.iter().map(|i| f.params[*i]).collect();
    main.params.retain(|p| !gone.contains(p));
    main.body.args.retain(|p| !gone.contains(p));
    Some(Hoisted { prep, main, kept })
}

/// The weights of `f` as the precision lowering sees them: the parameters that are the
/// right operand of a `matmul` or the weight of a `conv2d` (before lowering).
pub fn contraction_weights(f: &Func) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    for op in &f.body.ops {
        if matches!(op.op.as_graph(), Some(GraphOp::MatMul | GraphOp::Conv2d)) {
            if let Some(i) = op
                .operands
                .get(1)
                .and_then(|w| f.params.iter().position(|p| p == w))
            {
                out.insert(i);
            }
        }
    }
    out
}
