//! The lowering driver: buffers for every value, then each graph operation to kernels and
//! launches (one module per operation family), then parse and verify the kernels.

mod attention;
mod chosen;
mod contract;
mod conv;
mod conv_epilogue;
mod elementwise;
mod fuse;
mod layout;
mod matmul;
mod norm;
mod prologue;
mod quant;
mod reduce;
mod shape;

pub(crate) use reduce::column_reduction;

use crate::plan::{BufId, BufKind, BufferInfo, Launch, Tiled};
use crate::schedule::Schedule;
use std::collections::{BTreeMap, BTreeSet};
use tessera_dialects::dialect::Trait;
use tessera_dialects::parse::parse_module;
use tessera_dialects::verify::verify_module;
use tessera_dialects::{Func, GraphOp, Loc, Module, Operation, SymExpr, TensorType, Value};

/// Why a function could not be tiled.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct TilingError {
    pub message: String,
    /// The graph operation at fault.
    pub loc: Loc,
}

impl TilingError {
    fn at(op: &Operation, message: impl Into<String>) -> TilingError {
        TilingError {
            message: message.into(),
            loc: op.loc,
        }
    }
}

/// State while one function is lowered.
pub(crate) struct Ctx {
    pub schedule: Schedule,
    pub buffers: Vec<BufferInfo>,
    pub launches: Vec<Launch>,
    pub kernels: Vec<String>,
    values: BTreeMap<Value, BufId>,
    /// The values the function returns (their buffers are its outputs).
    returned: BTreeSet<Value>,
    /// Buffers that are another buffer seen with their own shape (a `reshape` that is not
    /// returned): no kernel writes them; [`resolve_aliases`] removes them from the plan.
    aliases: BTreeMap<BufId, BufId>,
    /// Widening casts read by matmuls through their narrow operand
    /// ([`matmul::widened_rhs`]): the cast's result and the narrow value.
    pub widened: BTreeMap<Value, Value>,
}

impl Ctx {
    /// The buffer holding a value.
    pub fn buf(&self, v: Value) -> BufId {
        self.values[&v]
    }

    /// The buffer a `matmul` reads as its right operand `v`: that of the narrow value
    /// when `v` is a widening cast left to the matmul ([`matmul::widened_rhs`]).
    pub fn rhs(&self, v: Value) -> BufId {
        self.buf(*self.widened.get(&v).unwrap_or(&v))
    }

    pub fn ty(&self, b: BufId) -> &TensorType {
        &self.buffers[b].ty
    }

    /// A new intermediate buffer, for a value computed by the operation at `loc`.
    pub fn temp(&mut self, name: &str, ty: TensorType, loc: Loc) -> BufId {
        self.buffers.push(BufferInfo {
            name: name.to_string(),
            ty,
            kind: BufKind::Temp,
            loc,
        });
        self.buffers.len() - 1
    }

    /// Whether value `v` is a result of the function.
    pub fn is_returned(&self, v: Value) -> bool {
        self.returned.contains(&v)
    }

    /// Makes buffer `view` the elements of buffer `of` seen with `view`'s own shape (same
    /// element count, C order): launches that use `view` get `of` instead, as a view.
    pub fn alias(&mut self, view: BufId, of: BufId) {
        let root = self.aliases.get(&of).copied().unwrap_or(of);
        self.aliases.insert(view, root);
    }

    /// A kernel name unique in the module: `k3_add`.
    pub fn kernel_name(&self, what: &str) -> String {
        format!("k{}_{what}", self.kernels.len())
    }

    /// Adds a kernel and its launch.
    pub fn emit(
        &mut self,
        name: String,
        text: String,
        args: Vec<(BufId, Option<Vec<SymExpr>>)>,
        from: &Operation,
    ) {
        self.kernels.push(text);
        self.launches.push(Launch {
            kernel: name,
            args,
            from: from.op.full_name(),
        });
    }
}

/// Which operations share a kernel when the function has no `graph.fused` (the e-graph
/// optimiser's choice always wins when it has).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FusionPolicy {
    /// Trivially safe elementwise chains and norm prologues ([`fuse`]).
    #[default]
    Trivial,
    /// Every operation its own kernel (the unfused program, for comparisons).
    None,
}

/// Lowers graph function `name` of `module` (calls already inlined) with `schedule`.
pub fn lower_func(module: &Module, name: &str, schedule: &Schedule) -> Result<Tiled, TilingError> {
    lower_func_with(module, name, schedule, FusionPolicy::Trivial)
}

/// [`lower_func`] with the fusion `policy` for functions without `graph.fused`.
pub fn lower_func_with(
    module: &Module,
    name: &str,
    schedule: &Schedule,
    policy: FusionPolicy,
) -> Result<Tiled, TilingError> {
    let original = module.func(name).ok_or_else(|| TilingError {
        message: format!("no function `{name}`"),
        loc: Loc::default(),
    })?;
    // The slices over symbolic sizes of the function lowered, checked when a call binds
    // them (a caller that knows the source replaces them with located ones).
    let slice_checks = crate::checks::slice_checks(original, &|_| None);
    // Kernels chosen by the e-graph optimiser: their regions spliced into the body.
    let (flat, chosen) = chosen::flatten(original);
    let original = &flat;
    // Operations along other axes become last-axis ones between transposes.
    // Einsums that are not one matmul-form contraction become matmuls, sums, transposes.
    let original = &crate::einsum::decompose_einsums(original).map_err(|m| TilingError {
        message: format!("internal error while decomposing einsums: {m}"),
        loc: original.loc,
    })?;
    // Grouped convolutions with symbolic channel counts become one per group.
    let original = &crate::groups::split_groups(original).map_err(|m| TilingError {
        message: format!("internal error while splitting convolution groups: {m}"),
        loc: original.loc,
    })?;
    let func = &crate::axes::move_axes_last(original).map_err(|m| TilingError {
        message: format!("internal error while moving axes last: {m}"),
        loc: original.loc,
    })?;
    let mut ctx = Ctx {
        schedule: *schedule,
        buffers: Vec::new(),
        launches: Vec::new(),
        kernels: Vec::new(),
        values: BTreeMap::new(),
        returned: func
            .body
            .ops
            .iter()
            .filter(|op| op.op.def().has_trait(Trait::Terminator))
            .flat_map(|op| op.operands.iter().copied())
            .collect(),
        aliases: BTreeMap::new(),
        widened: BTreeMap::new(),
    };
    let mut params = Vec::new();
    for (i, p) in func.params.iter().enumerate() {
        let ty = tensor_ty(func, *p)?;
        let name = func.values[p.index()]
            .name
            .clone()
            .unwrap_or_else(|| format!("arg{i}"));
        ctx.buffers.push(BufferInfo {
            name,
            ty,
            kind: BufKind::Param,
            loc: Loc::default(),
        });
        ctx.values.insert(*p, ctx.buffers.len() - 1);
        params.push(ctx.buffers.len() - 1);
    }
    let mut results = Vec::new();
    let mut fusion = match &chosen {
        Some(c) => chosen::fusion(func, c),
        None if policy == FusionPolicy::None => fuse::Fusion::default(),
        None => fuse::plan(func),
    };
    ctx.widened = matmul::widened_rhs(func, &mut fusion);
    for (i, op) in func.body.ops.iter().enumerate() {
        if op.op.def().has_trait(Trait::Terminator) {
            results = op.operands.iter().map(|v| ctx.buf(*v)).collect();
            continue;
        }
        // Computed inside a later operation's kernel: no buffer, no kernel.
        if fusion.absorbed.contains(&i) {
            continue;
        }
        for r in &op.results {
            let ty = tensor_ty(func, *r)?;
            let name = func.values[r.index()]
                .name
                .clone()
                .unwrap_or_else(|| format!("v{}", r.0));
            let b = ctx.temp(&name, ty, op.loc);
            ctx.values.insert(*r, b);
        }
        if let Some(members) = fusion.prologue.get(&i) {
            let ops = member_ops(func, members)?;
            match op.op.as_graph() {
                Some(GraphOp::Softmax | GraphOp::LogSoftmax) => {
                    reduce::softmax(&mut ctx, op, Some(&ops))?
                }
                Some(
                    GraphOp::ReduceSum
                    | GraphOp::ReduceMean
                    | GraphOp::ReduceMax
                    | GraphOp::ReduceMin,
                ) => {
                    let xt = tensor_ty(func, op.operands[0])?;
                    reduce::fused(&mut ctx, op, &ops, &xt)?
                }
                _ => norm::norm(&mut ctx, op, Some(&ops))?,
            }
            continue;
        }
        if let Some(at) = fusion.attention.get(&i) {
            attention::attention(&mut ctx, op, at)?;
            continue;
        }
        if let Some((anchor, members)) = fusion.epilogue.get(&i) {
            let ops = member_ops(func, members)?;
            let anchor = &func.body.ops[*anchor];
            if anchor.op.as_graph() == Some(GraphOp::Conv2d) {
                conv::fused(&mut ctx, anchor, &ops)?;
            } else {
                matmul::fused(&mut ctx, anchor, &ops)?;
            }
            continue;
        }
        match fusion.groups.get(&i) {
            Some(members) => {
                let ops = member_ops(func, members)?;
                elementwise::fused(&mut ctx, &ops)?;
            }
            None => lower_op(&mut ctx, op)?,
        }
    }
    let text = ctx.kernels.join("\n");
    let kernels = parse_module(&text).map_err(|e| TilingError {
        message: format!(
            "internal error: a generated kernel does not parse: {} at {:?}\n{text}",
            e.message, e.span
        ),
        loc: Loc::default(),
    })?;
    if let Err(errs) = verify_module(&kernels) {
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        return Err(TilingError {
            message: format!(
                "internal error: a generated kernel does not verify:\n{}\n{text}",
                msgs.join("\n")
            ),
            loc: Loc::default(),
        });
    }
    let mut tiled = Tiled {
        name: name.to_string(),
        kernels,
        buffers: ctx.buffers,
        launches: ctx.launches,
        params,
        results,
        slice_checks,
    };
    resolve_aliases(&mut tiled, &ctx.aliases);
    Ok(tiled)
}

/// Replaces every use of an alias buffer by its root buffer seen with the alias's shape
/// (or the view the launch asked for), then drops the alias buffers and renumbers the
/// rest in order. Parameters and results are never aliases.
fn resolve_aliases(t: &mut Tiled, aliases: &BTreeMap<BufId, BufId>) {
    if aliases.is_empty() {
        return;
    }
    let mut new_id = vec![usize::MAX; t.buffers.len()];
    let mut next = 0;
    for (b, id) in new_id.iter_mut().enumerate() {
        if !aliases.contains_key(&b) {
            *id = next;
            next += 1;
        }
    }
    for l in &mut t.launches {
        for (b, view) in &mut l.args {
            if let Some(&root) = aliases.get(b) {
                if view.is_none() {
                    *view = Some(t.buffers[*b].ty.shape.clone());
                }
                *b = root;
            }
            *b = new_id[*b];
        }
    }
    for b in t.params.iter_mut().chain(t.results.iter_mut()) {
        *b = new_id[*b];
    }
    let mut i = 0;
    t.buffers.retain(|_| {
        i += 1;
        !aliases.contains_key(&(i - 1))
    });
}

/// The operations of a fusion group (by index), with their result dtypes.
fn member_ops<'f>(
    func: &'f Func,
    members: &[usize],
) -> Result<Vec<(&'f Operation, tessera_dialects::DType)>, TilingError> {
    members
        .iter()
        .map(|j| {
            let m = &func.body.ops[*j];
            Ok((m, tensor_ty(func, m.results[0])?.dtype))
        })
        .collect()
}

fn tensor_ty(func: &Func, v: Value) -> Result<TensorType, TilingError> {
    func.tensor_ty(v).cloned().ok_or_else(|| TilingError {
        message: format!("value %{} is not a tensor", v.0),
        loc: func.loc,
    })
}

fn lower_op(ctx: &mut Ctx, op: &Operation) -> Result<(), TilingError> {
    let Some(g) = op.op.as_graph() else {
        return Err(TilingError::at(
            op,
            format!("`{}` is not a graph operation", op.op.full_name()),
        ));
    };
    use GraphOp as G;
    match g {
        G::Constant => elementwise::constant(ctx, op),
        g if fuse::is_elementwise(g) => elementwise::single(ctx, op),
        G::BroadcastTo => elementwise::broadcast_to(ctx, op),
        G::Reshape => shape::reshape(ctx, op),
        G::MatMul => contract::matmul(ctx, op),
        G::Einsum => contract::einsum(ctx, op),
        G::Conv2d => conv::conv2d(ctx, op),
        G::MaxPool2d => conv::pool2d(ctx, op, false),
        G::AvgPool2d => conv::pool2d(ctx, op, true),
        G::ReduceSum | G::ReduceMean | G::ReduceMax | G::ReduceMin => reduce::reduce(ctx, op),
        G::Softmax | G::LogSoftmax => reduce::softmax(ctx, op, None),
        G::Transpose => layout::transpose(ctx, op),
        G::Slice => layout::slice(ctx, op),
        G::Concat => layout::concat(ctx, op),
        G::Argmax => norm::argmax(ctx, op),
        G::LayerNorm | G::RmsNorm => norm::norm(ctx, op, None),
        G::Quantize | G::Dequantize => quant::quant(ctx, op),
        G::Call => Err(TilingError::at(
            op,
            "calls must be inlined before tiling (run the `inline` pass)",
        )),
        other => Err(TilingError::at(
            op,
            format!("`graph.{}` is not lowered to tile IR yet", other.name()),
        )),
    }
}
