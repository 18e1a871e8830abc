//! Rewrite rules, in named tables by topic: [`algebra`], [`layout`], [`fusion`] and
//! [`precision`] (run only when a precision is asked for, before the others). Simple
//! identities on attribute-free operations are egg patterns; rules that read attributes,
//! types or constants are [`ClassRule`]s written in Rust, turned into egg rewrites by one
//! adapter. No table holds blanket commutativity or associativity.

pub mod algebra;
pub mod fusion;
pub mod layout;
pub mod precision;

use crate::analysis::{Graph, Types};
use crate::lang::{Head, KernelRef, Node};
use egg::{Id, PatternAst, Rewrite, SearchMatches, Subst, Symbol, Var};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// An egg rewrite of the graph language.
pub type Rule = Rewrite<Node, Types>;

/// What a [`ClassRule`] finds equal to an e-class.
pub enum Found {
    /// A new e-node, and the kernels it was formed from (for `--explain`).
    Node(Node, Vec<KernelRef>),
    /// An existing e-class.
    Class(Id),
}

/// A rule that looks at one e-class and proposes terms equal to it.
pub trait ClassRule: Send + Sync + 'static {
    fn find(&self, g: &Graph, class: Id) -> Vec<Found>;

    /// Called after the application of what [`ClassRule::find`] proposed for an e-class,
    /// with the class's nodes as `find` saw them (children canonical): a rule may remember
    /// what it has fully explored, so later searches skip it.
    fn applied(&self, _seen: &[Node]) {}
}

/// Turns a [`ClassRule`] into an egg searcher and applier: the search reports the
/// e-classes where the rule proposes something new and keeps what it found, the
/// application adds it (so the rule runs once per e-class and iteration, not twice).
/// What the search kept stays true when other rules apply first: an e-graph only grows.
struct Adapter {
    rule: Arc<dyn ClassRule>,
    name: &'static str,
    found: Arc<Mutex<BTreeMap<Id, Searched>>>,
}

/// What a search found for an e-class, with the class's nodes as the rule saw them.
struct Searched {
    seen: Vec<Node>,
    found: Vec<Found>,
}

impl Adapter {
    fn search(&self, g: &Graph, class: Id) -> Searched {
        let seen = g[class]
            .nodes
            .iter()
            .map(|n| {
                let mut n = n.clone();
                n.children.iter_mut().for_each(|c| *c = g.find(*c));
                n
            })
            .collect();
        Searched {
            seen,
            found: self.rule.find(g, class),
        }
    }
}

fn is_new(g: &Graph, class: Id, f: &Found) -> bool {
    match f {
        Found::Node(n, _) => g.lookup(n.clone()).map(|c| g.find(c)) != Some(g.find(class)),
        Found::Class(c) => g.find(*c) != g.find(class),
    }
}

impl egg::Searcher<Node, Types> for Adapter {
    fn search_eclass_with_limit(
        &self,
        g: &Graph,
        class: Id,
        limit: usize,
    ) -> Option<SearchMatches<'_, Node>> {
        if limit == 0 {
            return None;
        }
        let s = self.search(g, class);
        if !s.found.iter().any(|f| is_new(g, class, f)) {
            return None;
        }
        self.found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(class, s);
        Some(SearchMatches {
            eclass: class,
            substs: vec![Subst::default()],
            ast: None,
        })
    }

    fn vars(&self) -> Vec<Var> {
        Vec::new()
    }
}

impl egg::Applier<Node, Types> for Adapter {
    fn apply_one(
        &self,
        g: &mut Graph,
        class: Id,
        _subst: &Subst,
        _ast: Option<&PatternAst<Node>>,
        _rule: Symbol,
    ) -> Vec<Id> {
        let mut changed = Vec::new();
        let kept = self
            .found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&class);
        let Searched { seen, found } = kept.unwrap_or_else(|| self.search(g, class));
        for f in found {
            let id = match f {
                Found::Node(n, from) => {
                    if let Head::Kernel(k) = &n.head {
                        let from: Vec<&KernelRef> = from.iter().collect();
                        g.analysis.record(k, self.name, &from);
                    }
                    g.add(n)
                }
                Found::Class(c) => c,
            };
            if g.union(id, class) {
                changed.push(class);
            }
        }
        self.rule.applied(&seen);
        changed
    }
}

/// A rewrite from a [`ClassRule`].
pub fn class_rule(name: &'static str, rule: impl ClassRule) -> Rule {
    let rule: Arc<dyn ClassRule> = Arc::new(rule);
    let found = Arc::new(Mutex::new(BTreeMap::new()));
    let searcher = Adapter {
        rule: rule.clone(),
        name,
        found: found.clone(),
    };
    Rewrite::new(name, searcher, Adapter { rule, name, found })
        .unwrap_or_else(|e| unreachable!("a class rule binds no variables: {e}"))
}

/// A rewrite between two patterns of attribute-free operations.
pub fn pattern_rule(name: &'static str, lhs: &str, rhs: &str) -> Rule {
    let l: egg::Pattern<Node> = lhs
        .parse()
        .unwrap_or_else(|e| unreachable!("rule `{name}`: bad pattern `{lhs}`: {e}"));
    let r: egg::Pattern<Node> = rhs
        .parse()
        .unwrap_or_else(|e| unreachable!("rule `{name}`: bad pattern `{rhs}`: {e}"));
    Rewrite::new(name, l, r).unwrap_or_else(|e| unreachable!("rule `{name}`: {e}"))
}

/// The rule tables by name, in the order they run.
pub fn tables() -> Vec<(&'static str, Vec<Rule>)> {
    vec![
        ("algebra", algebra::rules()),
        ("layout", layout::rules()),
        ("fusion", fusion::rules()),
        ("precision", precision::rules()),
    ]
}
