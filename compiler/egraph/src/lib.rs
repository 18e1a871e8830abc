//! Equality saturation on the graph IR (egg): one e-graph holds a function's algebraic,
//! layout and fusion alternatives; extraction picks the cheapest program under a cost
//! model that prices whole kernels. Fused kernels come out as `graph.fused` operations.
//!
//! The pipeline of [`optimize`]: with a precision other than `f32`
//! ([`Options::precision`]), the body first goes through an e-graph of the precision
//! table alone, from which [`rules::precision::choose`] takes the lowered forms; then the
//! body becomes an e-graph ([`convert::to_egraph`]); the rule tables ([`rules::tables`]) run to saturation or to
//! the limits of [`Options`]; [`extract::extract`] chooses one node per needed e-class;
//! [`convert::from_choice`] prints the choice back as a function. The [`Report`] says why
//! saturation stopped, how often each rule applied, and, per kernel, why it was chosen.

pub mod analysis;
pub mod auto;
pub mod convert;
pub mod cost;
pub mod extract;
pub mod fixed;
pub mod lang;
pub mod report;
pub mod rules;

use analysis::Graph;
use cost::{Roofline, Sizes};
use std::time::Duration;
use tessera_dialects::{DType, Func, Module};

pub use report::{KernelNote, Report};
pub use rules::precision::{Contraction, Form, Precision, Scales};

/// An optimiser error (a function it cannot take, such as one with calls left).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct OptError {
    pub message: String,
}

impl OptError {
    pub fn new(message: String) -> OptError {
        OptError { message }
    }
}

/// Limits and inputs of one optimisation.
#[derive(Clone, Debug)]
pub struct Options {
    /// The most rule-application rounds.
    pub iter_limit: usize,
    /// The most e-nodes; saturation stops before exceeding it.
    pub node_limit: usize,
    /// A safety net only: a run that hits it depends on the machine's speed, and the
    /// report says so.
    pub time_limit: Duration,
    /// The rule tables to run, by name (`algebra`, `layout`, `fusion`; `precision` runs
    /// in its own phase first, and only when `precision` is not `f32`).
    pub tables: Vec<&'static str>,
    /// The precision contractions are lowered to (`--precision`).
    pub precision: Precision,
    /// Sizes for symbolic dimensions, for the cost model.
    pub sizes: Sizes,
    /// The cost model's machine.
    pub machine: Roofline,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            iter_limit: 32,
            node_limit: 50_000,
            time_limit: Duration::from_secs(10),
            tables: vec!["algebra", "layout", "fusion", "precision"],
            precision: Precision::F32,
            sizes: Sizes::default(),
            machine: Roofline::default(),
        }
    }
}

/// An optimised function and how it came about.
#[derive(Clone, Debug)]
pub struct Optimized {
    pub func: Func,
    pub report: Report,
}

/// Optimises one graph function (calls inlined).
pub fn optimize(f: &Func, opts: &Options) -> Result<Optimized, OptError> {
    let mut lowered_rules = std::collections::BTreeMap::new();
    let lowered;
    let f = if opts.precision != Precision::F32 && opts.tables.contains(&"precision") {
        let (l, counts) = lower_precision(f, opts)?;
        lowered = l;
        lowered_rules = counts;
        &lowered
    } else {
        f
    };
    let built = convert::to_egraph(f)?;
    let built_ops = built.ops.clone();
    let before = {
        let ex = extract::extract(&built.egraph, &built.roots, &opts.machine, &opts.sizes);
        (
            ex.total(&built.egraph, &opts.machine, &opts.sizes),
            ex.kernels(&built.egraph, &opts.sizes),
        )
    };
    let mut rules = Vec::new();
    for (name, table) in rules::tables() {
        if name != "precision" && opts.tables.contains(&name) {
            rules.extend(table);
        }
    }
    let runner = saturate(built.egraph, opts, &rules);
    let g: &Graph = &runner.egraph;
    let roots: Vec<_> = built.roots.iter().map(|r| g.find(*r)).collect();
    let ex = extract::extract(g, &roots, &opts.machine, &opts.sizes);
    let choose = |id: egg::Id| {
        ex.node(g.find(id))
            .cloned()
            .ok_or_else(|| OptError::new("an e-class has no extractable node".into()))
    };
    let locs = convert::locations(f, &built_ops, g);
    let (func, order) = convert::from_choice(f, g, &roots, &locs, &choose)?;
    let mut report = report::build(
        &runner,
        &ex,
        &order,
        before,
        (
            ex.total(g, &opts.machine, &opts.sizes),
            ex.kernels(g, &opts.sizes),
        ),
        opts,
    );
    for (name, n) in lowered_rules {
        *report.rules.entry(name).or_default() += n;
    }
    Ok(Optimized { func, report })
}

/// The precision phase: `f`'s e-graph under the precision table's rules for
/// `opts.precision` alone, the lowered forms taken by [`rules::precision::choose`]
/// (`f` unchanged for `f32`). Returns the lowered function and how often each
/// rule applied.
pub fn lower_precision(
    f: &Func,
    opts: &Options,
) -> Result<(Func, std::collections::BTreeMap<String, usize>), OptError> {
    match opts.precision.form() {
        None => Ok((f.clone(), std::collections::BTreeMap::new())),
        Some(form) => lower_form(f, form, opts),
    }
}

/// [`lower_precision`] for one form of the precision table (also the forms no
/// `--precision` names alone, such as `int8/block32`).
pub fn lower_form(
    f: &Func,
    form: Form,
    opts: &Options,
) -> Result<(Func, std::collections::BTreeMap<String, usize>), OptError> {
    lower_form_noted(f, form, opts).map(|l| (l.func, l.counts))
}

/// A function lowered to one form, with what happened to each contraction.
pub struct Lowered {
    pub func: Func,
    /// How often each rule applied.
    pub counts: std::collections::BTreeMap<String, usize>,
    /// Per contraction of the input (its index in the body) that the form's rule
    /// replaced: the dtypes of the lowered contraction's operands and of its result.
    pub narrowed: std::collections::BTreeMap<usize, (Vec<DType>, DType)>,
    /// The contractions of the input kept `f32` because an attention's fused kernel
    /// computes them (their indices in the body).
    pub attention: std::collections::BTreeSet<usize>,
}

/// [`lower_form`], noting per contraction what it became ([`Lowered`]).
pub fn lower_form_noted(f: &Func, form: Form, opts: &Options) -> Result<Lowered, OptError> {
    let mut built = convert::to_egraph(f)?;
    let built_ops = built.ops.clone();
    // Attention's two contractions stay f32, so that its fused kernel forms.
    built.egraph.analysis.keep_f32 = rules::fusion::attention_contractions(&built.egraph);
    let keep = built.egraph.analysis.keep_f32.clone();
    // Each contraction's own node, to tell after saturation whether the rule replaced it.
    let originals: std::collections::BTreeMap<usize, lang::Node> = built_ops
        .iter()
        .filter_map(|(i, c)| {
            let op = f.body.ops[*i].op.as_graph()?;
            rules::precision::Contraction::of(op)?;
            let n = built.egraph[*c]
                .nodes
                .iter()
                .find(|n| matches!(&n.head, lang::Head::Op(o, _) if *o == op))?;
            Some((*i, n.clone()))
        })
        .collect();
    let runner = saturate(built.egraph, opts, &rules::precision::rules_for(form));
    let mut counts = std::collections::BTreeMap::new();
    for it in &runner.iterations {
        for (name, n) in &it.applied {
            *counts.entry(name.to_string()).or_default() += *n;
        }
    }
    let g: &Graph = &runner.egraph;
    let roots: Vec<_> = built.roots.iter().map(|r| g.find(*r)).collect();
    let best = rules::precision::choose(g);
    let choose = |id: egg::Id| {
        best.get(&g.find(id))
            .cloned()
            .ok_or_else(|| OptError::new("an e-class has no extractable node".into()))
    };
    let locs = convert::locations(f, &built_ops, g);
    let (func, _) = convert::from_choice(f, g, &roots, &locs, &choose)?;
    let mut narrowed = std::collections::BTreeMap::new();
    let mut attention = std::collections::BTreeSet::new();
    for (index, class) in &built_ops {
        let Some(op) = f.body.ops[*index].op.as_graph() else {
            continue;
        };
        if rules::precision::Contraction::of(op).is_none() {
            continue;
        }
        if keep.iter().any(|k| g.find(*k) == g.find(*class)) {
            attention.insert(*index);
            continue;
        }
        // Unchanged (the rule did not apply, or its form was not taken): not lowered,
        // even if the operands were narrow as written.
        let kept_as_written = originals.get(index).is_some_and(|o| {
            best.get(&g.find(*class)).is_some_and(|b| {
                b.head == o.head
                    && b.children
                        .iter()
                        .map(|c| g.find(*c))
                        .eq(o.children.iter().map(|c| g.find(*c)))
            })
        });
        if kept_as_written {
            continue;
        }
        if let Some(found) = narrowed_contraction(g, &best, g.find(*class), op, 8) {
            narrowed.insert(*index, found);
        }
    }
    Ok(Lowered {
        func,
        counts,
        narrowed,
        attention,
    })
}

/// In the term `best` takes for `class`, down to `depth` levels through the epilogue a
/// lowering wraps a contraction in (`mul` by scales, `cast`, the block sums), a
/// contraction (`op`, or another kind: the `i8` einsum of `matmul`'s block form) whose operands are not all `f32`: their dtypes and its result's. An `f32` operand that is a
/// narrow value widened (`x as bf16 as f32`, the float forms) counts as the narrow dtype.
fn narrowed_contraction(
    g: &Graph,
    best: &std::collections::BTreeMap<egg::Id, lang::Node>,
    class: egg::Id,
    op: tessera_dialects::GraphOp,
    depth: usize,
) -> Option<(Vec<DType>, DType)> {
    use tessera_dialects::GraphOp;
    let node = best.get(&class)?;
    let lang::Head::Op(o, _) = &node.head else {
        return None;
    };
    if *o == op || rules::precision::Contraction::of(*o).is_some() {
        let dtypes: Vec<DType> = node
            .children
            .iter()
            .filter_map(|c| operand_dtype(g, best, g.find(*c)))
            .collect();
        return dtypes
            .iter()
            .any(|d| *d != DType::F32)
            .then(|| Some((dtypes, analysis::ty(g, class)?.dtype)))
            .flatten();
    }
    if depth == 0
        || !matches!(
            o,
            GraphOp::Mul | GraphOp::Cast | GraphOp::ReduceSum | GraphOp::Add
        )
    {
        return None;
    }
    node.children
        .iter()
        .find_map(|c| narrowed_contraction(g, best, g.find(*c), op, depth - 1))
}

/// The dtype an operand of a contraction holds: a widening `cast` to `f32` (as `best`
/// takes `class`) counts as its input's dtype, a `dequantize` as its quantised input's,
/// and a product of a widened value and a scale (the elementwise form of `dequantize`)
/// as the widened value's.
fn operand_dtype(
    g: &Graph,
    best: &std::collections::BTreeMap<egg::Id, lang::Node>,
    class: egg::Id,
) -> Option<DType> {
    use tessera_dialects::GraphOp;
    let d = analysis::ty(g, class)?.dtype;
    if d != DType::F32 {
        return Some(d);
    }
    let narrow = |c: &egg::Id| analysis::ty(g, g.find(*c)).map(|t| t.dtype);
    let found = match best.get(&class).map(|n| (&n.head, n.children.as_slice())) {
        Some((lang::Head::Op(GraphOp::Cast | GraphOp::Dequantize, _), [input, ..])) => {
            narrow(input)
        }
        Some((lang::Head::Op(GraphOp::Mul, _), [a, b])) => [a, b].into_iter().find_map(|c| {
            match best
                .get(&g.find(*c))
                .map(|n| (&n.head, n.children.as_slice()))
            {
                Some((lang::Head::Op(GraphOp::Cast, _), [input])) => {
                    narrow(input).filter(|t| *t != DType::F32)
                }
                _ => None,
            }
        }),
        _ => None,
    };
    Some(found.unwrap_or(d))
}

/// Runs `rules` on `g` within `opts`' limits (iterations, nodes, time), in a fixed order.
fn saturate(
    g: Graph,
    opts: &Options,
    rules: &[rules::Rule],
) -> egg::Runner<lang::Node, analysis::Types, ()> {
    egg::Runner::<lang::Node, analysis::Types, ()>::new(analysis::Types::default())
        .with_egraph(g)
        .with_iter_limit(opts.iter_limit)
        .with_node_limit(opts.node_limit)
        .with_time_limit(opts.time_limit)
        .with_scheduler(egg::SimpleScheduler)
        .run(rules)
}

/// Optimises every graph function of a module; the reports are in function order.
pub fn optimize_module(m: &Module, opts: &Options) -> Result<(Module, Vec<Report>), OptError> {
    let mut out = m.clone();
    let mut reports = Vec::new();
    for f in out.funcs.iter_mut() {
        if f.kind != tessera_dialects::FuncKind::Graph {
            continue;
        }
        let o = optimize(f, opts)?;
        *f = o.func;
        reports.push(o.report);
    }
    Ok((out, reports))
}
