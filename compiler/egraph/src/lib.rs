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
pub mod lang;
pub mod report;
pub mod rules;

use analysis::Graph;
use cost::{Roofline, Sizes};
use std::time::Duration;
use tessera_dialects::{Func, Module};

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
    let mut built = convert::to_egraph(f)?;
    let built_ops = built.ops.clone();
    // Attention's two contractions stay f32, so that its fused kernel forms.
    built.egraph.analysis.keep_f32 = rules::fusion::attention_contractions(&built.egraph);
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
    Ok((func, counts))
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
