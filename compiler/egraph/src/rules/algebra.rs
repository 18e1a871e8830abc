//! Algebraic identities. Each holds exactly in IEEE arithmetic for the types its condition
//! admits (no reassociation, no commutation): the property tests in
//! `tests/rules.rs` evaluate both sides in the interpreter on random tensors.
//! Deliberately absent: `x + 0 = x` (false for `x = -0`), `x * 0 = 0` (false for NaN and
//! infinities), `x - x = 0` (likewise).

use super::{class_rule, pattern_rule, ClassRule, Found, Rule};
use crate::analysis::{ty, Graph};
use egg::Id;
use tessera_dialects::GraphOp;

/// The algebra table.
pub fn rules() -> Vec<Rule> {
    vec![
        // relu(relu(x)) = relu(x): relu is idempotent.
        pattern_rule("relu-relu", "(relu (relu ?x))", "(relu ?x)"),
        // abs(abs(x)) = abs(x): abs is idempotent.
        pattern_rule("abs-abs", "(abs (abs ?x))", "(abs ?x)"),
        // -(-x) = x for floats (negation flips the sign bit; NaN stays NaN).
        class_rule("neg-neg", FnRule(neg_neg)),
        // x * 1 = 1 * x = x, when x already has the product's type (no broadcast).
        class_rule("mul-one", FnRule(mul_one)),
        // x / 1 = x for floats, when x has the quotient's type.
        class_rule("div-one", FnRule(div_one)),
        // x - 0 = x for floats (-0 - 0 = -0, +0 - 0 = +0), when x has the result's type.
        // Only for +0: x - (-0) = x + 0, which is +0 for x = -0.
        class_rule("sub-zero", FnRule(sub_zero)),
    ]
}

/// A [`ClassRule`] from a function.
pub struct FnRule(pub fn(&Graph, Id) -> Vec<Found>);

impl ClassRule for FnRule {
    fn find(&self, g: &Graph, class: Id) -> Vec<Found> {
        (self.0)(g, class)
    }
}

fn is_float(g: &Graph, id: Id) -> bool {
    ty(g, id).is_some_and(|t| t.dtype.is_float())
}

fn same_type(g: &Graph, a: Id, b: Id) -> bool {
    ty(g, a).is_some() && ty(g, a) == ty(g, b)
}

fn constant(g: &Graph, id: Id) -> Option<f64> {
    g[id].data.constant
}

/// The operands of the `op` nodes of `class`.
fn operands(g: &Graph, class: Id, op: GraphOp) -> Vec<Vec<Id>> {
    g[class]
        .nodes
        .iter()
        .filter(|n| n.graph_op() == Some(op))
        .map(|n| n.children.clone())
        .collect()
}

fn neg_neg(g: &Graph, class: Id) -> Vec<Found> {
    let mut out = Vec::new();
    if !is_float(g, class) {
        return out;
    }
    for kids in operands(g, class, GraphOp::Neg) {
        for inner in operands(g, kids[0], GraphOp::Neg) {
            if same_type(g, inner[0], class) {
                out.push(Found::Class(inner[0]));
            }
        }
    }
    out
}

fn mul_one(g: &Graph, class: Id) -> Vec<Found> {
    let mut out = Vec::new();
    for kids in operands(g, class, GraphOp::Mul) {
        for (x, one) in [(kids[0], kids[1]), (kids[1], kids[0])] {
            if constant(g, one) == Some(1.0) && same_type(g, x, class) {
                out.push(Found::Class(x));
            }
        }
    }
    out
}

fn div_one(g: &Graph, class: Id) -> Vec<Found> {
    let mut out = Vec::new();
    if !is_float(g, class) {
        return out;
    }
    for kids in operands(g, class, GraphOp::Div) {
        if constant(g, kids[1]) == Some(1.0) && same_type(g, kids[0], class) {
            out.push(Found::Class(kids[0]));
        }
    }
    out
}

fn sub_zero(g: &Graph, class: Id) -> Vec<Found> {
    let mut out = Vec::new();
    if !is_float(g, class) {
        return out;
    }
    for kids in operands(g, class, GraphOp::Sub) {
        let positive_zero = constant(g, kids[1]).is_some_and(|v| v == 0.0 && v.is_sign_positive());
        if positive_zero && same_type(g, kids[0], class) {
            out.push(Found::Class(kids[0]));
        }
    }
    out
}
