//! Extraction: for every e-class the cheapest e-node under the cost model, where a node's
//! cost is its own kernel's predicted time plus its inputs' costs. Kernels are priced
//! whole ([`crate::cost`]). A fused matmul whose matmul is also needed on its own would
//! compute it twice: such choices are banned and extraction repeats. So are kernels that
//! recompute an expensive elementwise operation ([`crate::cost::expensive`]: a
//! transcendental such as `gelu` or `exp`) that another kernel computes or that is
//! materialised: the tree cost of extraction prices a shared input once per consumer and
//! would rather recompute (in the int8 FFN, the `gelu` chain after the first matmul was
//! computed by both the activation scale's reduction and the quantisation).

use crate::analysis::Graph;
use crate::cost::{node_stats, CostModel, Sizes};
use crate::lang::{BodyNode, Head, KernelKind, Node, OpAttrs};
use egg::Id;
use std::collections::{BTreeMap, BTreeSet};
use tessera_dialects::GraphOp;

/// The most times extraction repeats after banning a duplicating choice.
const MAX_ROUNDS: usize = 64;

/// One extraction: the chosen node of each e-class and its cost.
pub struct Extraction {
    pub best: BTreeMap<Id, (f64, Node)>,
    /// The e-classes the roots need, in no particular order.
    pub needed: BTreeSet<Id>,
    /// Choices banned because they computed a matmul twice.
    pub banned: BTreeSet<(Id, Node)>,
}

impl Extraction {
    pub fn node(&self, id: Id) -> Option<&Node> {
        self.best.get(&id).map(|(_, n)| n)
    }

    /// The kernels the extracted program launches: the needed classes whose node costs
    /// something (not parameters, not 0-d literals).
    pub fn kernels(&self, g: &Graph, sizes: &Sizes) -> usize {
        self.needed
            .iter()
            .filter(|c| {
                self.node(**c)
                    .is_some_and(|n| node_stats(g, **c, n, sizes).is_some())
            })
            .count()
    }

    /// The total predicted cost of the needed classes, each counted once.
    pub fn total(&self, g: &Graph, model: &dyn CostModel, sizes: &Sizes) -> f64 {
        self.needed
            .iter()
            .filter_map(|c| {
                let n = self.node(*c)?;
                node_stats(g, *c, n, sizes).map(|s| model.seconds(&s))
            })
            .sum()
    }
}

/// The cost of one node alone: its kernel, or nothing.
pub fn own_cost(g: &Graph, class: Id, n: &Node, model: &dyn CostModel, sizes: &Sizes) -> f64 {
    node_stats(g, class, n, sizes)
        .map(|s| model.seconds(&s))
        .unwrap_or(0.0)
}

/// The cost of node `n` of `class` with its inputs: its own kernel plus the best cost of
/// each distinct input e-class, or `None` while an input has no cost yet.
pub fn cost_with_inputs(
    g: &Graph,
    class: Id,
    n: &Node,
    best: &BTreeMap<Id, (f64, Node)>,
    model: &dyn CostModel,
    sizes: &Sizes,
) -> Option<f64> {
    let mut seen = BTreeSet::new();
    let mut total = own_cost(g, class, n, model, sizes);
    for k in &n.children {
        let k = g.find(*k);
        if seen.insert(k) {
            total += best.get(&k)?.0;
        }
    }
    Some(total)
}

/// Each node's own cost ([`own_cost`]), by e-class and position in it: computed once per
/// extraction, since the bans of the rounds change only which nodes may be chosen.
type OwnCosts = BTreeMap<Id, Vec<f64>>;

fn own_costs(g: &Graph, model: &dyn CostModel, sizes: &Sizes) -> OwnCosts {
    g.classes()
        .map(|c| {
            let costs = c
                .nodes
                .iter()
                .map(|n| own_cost(g, c.id, n, model, sizes))
                .collect();
            (c.id, costs)
        })
        .collect()
}

fn best_nodes(
    g: &Graph,
    own: &OwnCosts,
    banned: &BTreeSet<(Id, Node)>,
) -> BTreeMap<Id, (f64, Node)> {
    let mut classes: Vec<Id> = g.classes().map(|c| c.id).collect();
    classes.sort();
    // The banned nodes by e-class and position.
    let ban: BTreeSet<(Id, usize)> = banned
        .iter()
        .filter_map(|(c, n)| {
            let c = g.find(*c);
            g[c].nodes.iter().position(|m| m == n).map(|i| (c, i))
        })
        .collect();
    let mut best: BTreeMap<Id, (f64, Node)> = BTreeMap::new();
    loop {
        let mut changed = false;
        for c in &classes {
            for (i, n) in g[*c].nodes.iter().enumerate() {
                if ban.contains(&(*c, i)) {
                    continue;
                }
                let mut seen = BTreeSet::new();
                let mut total = own.get(c).and_then(|v| v.get(i)).copied().unwrap_or(0.0);
                let mut ready = true;
                for k in &n.children {
                    let k = g.find(*k);
                    if seen.insert(k) {
                        match best.get(&k) {
                            Some((v, _)) => total += *v,
                            None => {
                                ready = false;
                                break;
                            }
                        }
                    }
                }
                if !ready {
                    continue;
                }
                let better = match best.get(c) {
                    None => true,
                    Some((v, _)) => total < *v * (1.0 - 1e-12),
                };
                if better {
                    best.insert(*c, (total, n.clone()));
                    changed = true;
                }
            }
        }
        if !changed {
            return best;
        }
    }
}

fn needed(g: &Graph, roots: &[Id], best: &BTreeMap<Id, (f64, Node)>) -> BTreeSet<Id> {
    let mut out = BTreeSet::new();
    let mut stack: Vec<Id> = roots.iter().map(|r| g.find(*r)).collect();
    while let Some(c) = stack.pop() {
        if !out.insert(c) {
            continue;
        }
        if let Some((_, n)) = best.get(&c) {
            stack.extend(n.children.iter().map(|k| g.find(*k)));
        }
    }
    out
}

/// The e-class of the matmul (or conv2d) inside a matmul (or conv) kernel, or of an
/// attention kernel's scores (its first contraction, `q @ k^T`), if the e-graph has it.
fn anchor_class(g: &Graph, n: &Node) -> Option<Id> {
    let Head::Kernel(k) = &n.head else {
        return None;
    };
    let anchor = match k.kind {
        KernelKind::Matmul => GraphOp::MatMul,
        KernelKind::Conv => GraphOp::Conv2d,
        KernelKind::Attention => {
            return k
                .body
                .iter()
                .zip(body_classes(g, n))
                .find_map(|(b, c)| match b {
                    BodyNode::Op(GraphOp::MatMul | GraphOp::Einsum, _, _) => c,
                    _ => None,
                })
        }
        _ => return None,
    };
    k.body.iter().find_map(|b| match b {
        BodyNode::Op(op, a, c) if *op == anchor => {
            let arg = |i: usize| match k.body.get(c[i]) {
                Some(BodyNode::Arg(x)) => n.children.get(*x).copied(),
                _ => None,
            };
            let m = Node::op(
                anchor,
                OpAttrs::new(a.attrs().clone()),
                vec![arg(0)?, arg(1)?],
            );
            g.lookup(m)
        }
        _ => None,
    })
}

/// The e-class of each node of kernel node `n`'s body, where the e-graph has it.
fn body_classes(g: &Graph, n: &Node) -> Vec<Option<Id>> {
    let Head::Kernel(k) = &n.head else {
        return Vec::new();
    };
    let mut out: Vec<Option<Id>> = Vec::with_capacity(k.body.len());
    for b in &k.body {
        let c = match b {
            BodyNode::Arg(x) => n.children.get(*x).copied(),
            BodyNode::Op(op, a, c) => c
                .iter()
                .map(|i| out.get(*i).copied().flatten())
                .collect::<Option<Vec<Id>>>()
                .and_then(|kids| g.lookup(Node::op(*op, a.clone(), kids))),
        };
        out.push(c.map(|c| g.find(c)));
    }
    out
}

/// The e-classes of the expensive elementwise operations kernel node `n` computes inside
/// its body (not its result).
fn expensive_inside(g: &Graph, class: Id, n: &Node) -> Vec<Id> {
    let Head::Kernel(k) = &n.head else {
        return Vec::new();
    };
    let classes = body_classes(g, n);
    let mut out: Vec<Id> = k
        .body
        .iter()
        .zip(&classes)
        .filter_map(|(b, c)| match (b, c) {
            (BodyNode::Op(op, _, _), Some(c)) if crate::cost::expensive(*op) && *c != class => {
                Some(*c)
            }
            _ => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The choices that make some matmul (or expensive elementwise operation) run twice: where
/// it is also needed on its own, every kernel that contains it; where several kernels
/// contain it, all but the one with the largest body (ties: the lowest e-class).
fn duplicates(g: &Graph, best: &BTreeMap<Id, (f64, Node)>, need: &BTreeSet<Id>) -> Vec<(Id, Node)> {
    let mut users: BTreeMap<Id, Vec<(Id, Node)>> = BTreeMap::new();
    for c in need {
        let Some((_, n)) = best.get(c) else { continue };
        if let Some(m) = anchor_class(g, n) {
            users.entry(g.find(m)).or_default().push((*c, n.clone()));
        }
        for e in expensive_inside(g, g.find(*c), n) {
            users.entry(e).or_default().push((*c, n.clone()));
        }
    }
    let mut out = Vec::new();
    for (m, mut ks) in users {
        if need.contains(&m) {
            out.extend(ks);
            continue;
        }
        if ks.len() < 2 {
            continue;
        }
        let size = |n: &Node| n.kernel().map(|k| k.body.len()).unwrap_or(0);
        ks.sort_by(|a, b| size(&b.1).cmp(&size(&a.1)).then(a.0.cmp(&b.0)));
        out.extend(ks.into_iter().skip(1));
    }
    out
}

/// The most bans [`extract`] tries to lift once the extraction computes every matmul once.
const MAX_LIFTS: usize = 64;

/// Extracts the roots' cheapest program that computes every matmul once.
///
/// Bans are added round by round and a ban made in an early round can outlive its reason
/// (in the int8 FFN, the matmul with the `gelu` epilogue was banned while the quantisation
/// kernel also computed the matmul; once that kernel was banned too, the epilogue would
/// have been the best choice). So once no choice duplicates anything, each ban of an
/// e-class the program computes is lifted in turn (in order, at most [`MAX_LIFTS`]) and
/// the lift kept when the extraction still duplicates nothing and its total cost, each
/// needed kernel counted once, is lower.
pub fn extract(g: &Graph, roots: &[Id], model: &dyn CostModel, sizes: &Sizes) -> Extraction {
    let own = own_costs(g, model, sizes);
    let mut banned = BTreeSet::new();
    for _ in 0..MAX_ROUNDS {
        let best = best_nodes(g, &own, &banned);
        let need = needed(g, roots, &best);
        let dup = duplicates(g, &best, &need);
        if dup.is_empty() {
            let mut ex = Extraction {
                best,
                needed: need,
                banned,
            };
            lift_bans(g, roots, &own, model, sizes, &mut ex);
            return ex;
        }
        banned.extend(dup);
    }
    // Give up on fusion around duplicated matmuls: take only the original operations.
    let best = best_nodes(g, &own, &banned);
    let need = needed(g, roots, &best);
    Extraction {
        best,
        needed: need,
        banned,
    }
}

/// Lifts the bans of `ex` that are no longer needed ([`extract`]).
fn lift_bans(
    g: &Graph,
    roots: &[Id],
    own: &OwnCosts,
    model: &dyn CostModel,
    sizes: &Sizes,
    ex: &mut Extraction,
) {
    // Only the bans of e-classes the program computes: lifting one of those can make its
    // kernel cheaper for every consumer.
    let tries: Vec<(Id, Node)> = ex
        .banned
        .iter()
        .filter(|(c, _)| ex.needed.contains(&g.find(*c)))
        .take(MAX_LIFTS)
        .cloned()
        .collect();
    let mut total = ex.total(g, model, sizes);
    for b in tries {
        let mut banned = ex.banned.clone();
        banned.remove(&b);
        let best = best_nodes(g, own, &banned);
        let need = needed(g, roots, &best);
        if !duplicates(g, &best, &need).is_empty() {
            continue;
        }
        let cand = Extraction {
            best,
            needed: need,
            banned,
        };
        let t = cand.total(g, model, sizes);
        if t < total * (1.0 - 1e-9) {
            total = t;
            *ex = cand;
        }
    }
}
