//! What an optimisation did and why: why saturation stopped, the e-graph's size, how often
//! each rule applied, the predicted cost before and after, and for each fused kernel the
//! rules that formed it, its predicted time and the best alternative it beat. Printed as
//! `//` comment lines, which the IR parser skips, so a dump stays a valid `.tir` file.

use crate::analysis::{Graph, Types};
use crate::cost::CostModel;
use crate::extract::{cost_with_inputs, own_cost, Extraction};
use crate::lang::{Head, Node};
use crate::Options;
use egg::Id;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Why one kernel was chosen.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelNote {
    /// `elementwise`, `matmul` or `row`.
    pub kind: String,
    /// Its operations, in body order.
    pub ops: Vec<String>,
    /// The rules that formed it.
    pub rules: Vec<String>,
    /// Its predicted time alone, in seconds.
    pub predicted_s: f64,
    /// The e-class's best alternative (its description and predicted time with its
    /// inputs), and the chosen node's predicted time with its inputs.
    pub rejected: Option<(String, f64)>,
    pub chosen_total_s: f64,
}

/// A summary of one optimisation.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub func: String,
    pub stop: String,
    /// Whether the time limit stopped saturation (then the result may vary by machine).
    pub time_limited: bool,
    pub iterations: usize,
    pub nodes: usize,
    pub classes: usize,
    /// Applications of each rule that applied, by name.
    pub rules: BTreeMap<String, usize>,
    /// Predicted seconds and kernel launches of the input program.
    pub before: (f64, usize),
    /// Predicted seconds and kernel launches of the extracted program.
    pub after: (f64, usize),
    pub kernels: Vec<KernelNote>,
}

/// A node in words.
pub fn describe(n: &Node) -> String {
    match &n.head {
        Head::Param(i) => format!("parameter #{i}"),
        Head::Op(g, _) => format!("graph.{} as its own kernel", g.def().name),
        Head::Kernel(k) => {
            let ops: Vec<&str> = k.ops().map(|o| o.def().name).collect();
            format!("{} kernel of {}", k.kind.name(), ops.join(", "))
        }
    }
}

pub(crate) fn build(
    runner: &egg::Runner<Node, Types, ()>,
    ex: &Extraction,
    fused: &[Id],
    before: (f64, usize),
    after: (f64, usize),
    opts: &Options,
) -> Report {
    let g: &Graph = &runner.egraph;
    let model: &dyn CostModel = &opts.machine;
    let mut rules: BTreeMap<String, usize> = BTreeMap::new();
    for it in &runner.iterations {
        for (name, n) in &it.applied {
            if *n > 0 {
                *rules.entry(name.to_string()).or_default() += n;
            }
        }
    }
    let stop = match &runner.stop_reason {
        Some(egg::StopReason::Saturated) => "saturated".to_string(),
        Some(egg::StopReason::IterationLimit(n)) => format!("iteration limit ({n})"),
        Some(egg::StopReason::NodeLimit(n)) => format!("node limit ({n})"),
        Some(egg::StopReason::TimeLimit(t)) => format!("time limit ({t:.1} s)"),
        Some(egg::StopReason::Other(s)) => s.clone(),
        None => "not run".to_string(),
    };
    let total_of = |c: Id, n: &Node| cost_with_inputs(g, c, n, &ex.best, model, &opts.sizes);
    let kernels = fused
        .iter()
        .filter_map(|c| {
            let chosen = ex.node(*c)?;
            let Head::Kernel(k) = &chosen.head else {
                return None;
            };
            let rejected = g[*c]
                .nodes
                .iter()
                .filter(|n| *n != chosen)
                .filter_map(|n| total_of(*c, n).map(|t| (describe(n), t)))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            Some(KernelNote {
                kind: k.kind.name().to_string(),
                ops: k.ops().map(|o| o.def().name.to_string()).collect(),
                rules: g
                    .analysis
                    .provenance
                    .get(k)
                    .map(|r| r.iter().map(|s| s.to_string()).collect())
                    .unwrap_or_default(),
                predicted_s: own_cost(g, *c, chosen, model, &opts.sizes),
                rejected,
                chosen_total_s: total_of(*c, chosen).unwrap_or(0.0),
            })
        })
        .collect();
    Report {
        func: String::new(),
        time_limited: matches!(runner.stop_reason, Some(egg::StopReason::TimeLimit(_))),
        stop,
        iterations: runner.iterations.len(),
        nodes: g.total_number_of_nodes(),
        classes: g.number_of_classes(),
        rules,
        before,
        after,
        kernels,
    }
}

/// Seconds as microseconds, for the reports.
pub(crate) fn us(s: f64) -> String {
    format!("{:.1} us", s * 1e6)
}

impl Report {
    /// The summary: stop reason, sizes, rule statistics, predicted cost.
    pub fn summary(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "// e-graph: {} after {} iteration(s); {} e-nodes in {} e-classes{}",
            self.stop,
            self.iterations,
            self.nodes,
            self.classes,
            if self.time_limited {
                " (time-limited: the result may differ on another machine)"
            } else {
                ""
            }
        );
        let rules: Vec<String> = self.rules.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let _ = writeln!(
            o,
            "// rules applied: {}",
            if rules.is_empty() {
                "none".to_string()
            } else {
                rules.join(", ")
            }
        );
        let _ = writeln!(
            o,
            "// predicted (roofline): {} in {} kernel(s) before, {} in {} kernel(s) after",
            us(self.before.0),
            self.before.1,
            us(self.after.0),
            self.after.1
        );
        o
    }

    /// One paragraph per fused kernel, in body order.
    pub fn explain(&self) -> String {
        let mut o = String::new();
        for (i, k) in self.kernels.iter().enumerate() {
            let _ = writeln!(
                o,
                "// kernel #{i} ({}): {}; formed by {}",
                k.kind,
                k.ops.join(", "),
                if k.rules.is_empty() {
                    "the input program".to_string()
                } else {
                    k.rules.join(" <- ")
                }
            );
            let _ = writeln!(
                o,
                "//   predicted {} alone, {} with its inputs",
                us(k.predicted_s),
                us(k.chosen_total_s)
            );
            match &k.rejected {
                Some((what, t)) => {
                    let _ = writeln!(o, "//   best rejected: {what}, {} with its inputs", us(*t));
                }
                None => {
                    let _ = writeln!(o, "//   no alternative in its e-class");
                }
            }
        }
        o
    }
}
