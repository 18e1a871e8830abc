//! SSA and structure: each value defined once, every use after its definition and inside
//! its scope, terminators last, regions ended by a terminator.

use super::Checker;
use crate::dialect::Trait;
use crate::graph::GraphOp;
use crate::ir::{FuncKind, Loc, Op, Operation, Value};

/// Which values are defined and which are visible at the current point.
struct Ssa {
    defined: Vec<bool>,
    visible: Vec<bool>,
}

impl Checker<'_> {
    pub(super) fn check_ssa(&mut self) {
        let n = self.f.values.len();
        let mut st = Ssa {
            defined: vec![false; n],
            visible: vec![false; n],
        };
        let f = self.f;
        for p in &f.params {
            self.define(&mut st, *p, f.loc, None);
        }
        self.walk_ops(&f.body.ops, &mut st, None);
    }

    /// Defines `v`; reports a second definition or a value outside the table.
    fn define(&mut self, st: &mut Ssa, v: Value, loc: Loc, op: Option<Op>) -> bool {
        let i = v.index();
        if i >= st.defined.len() {
            self.error(
                loc,
                op,
                format!("defines value {} outside the value table", v.0),
            );
            return false;
        }
        if st.defined[i] {
            let msg = format!("`{}` is defined twice", self.vname(v));
            self.error(loc, op, msg);
            return false;
        }
        st.defined[i] = true;
        st.visible[i] = true;
        if self.f.kind == FuncKind::Graph {
            if let Some(t) = self.ty(v).filter(|t| t.as_tensor().is_none()) {
                let msg = format!(
                    "`{}` has type `{t}`, but graph functions hold only tensors",
                    self.vname(v)
                );
                self.error(loc, op, msg);
            }
        }
        true
    }

    /// Checks a block; returns the values it made visible, for the caller to hide on exit.
    fn walk_ops(
        &mut self,
        ops: &[Operation],
        st: &mut Ssa,
        parent: Option<&Operation>,
    ) -> Vec<Value> {
        let mut local = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            for (k, v) in op.operands.iter().enumerate() {
                let j = v.index();
                if j >= st.defined.len() {
                    let msg = format!("operand #{k} is value {} outside the value table", v.0);
                    self.error(op.loc, Some(op.op), msg);
                } else if !st.visible[j] {
                    let msg = format!(
                        "operand #{k} `{}` is used before its definition or outside its scope",
                        self.vname(*v)
                    );
                    self.error(op.loc, Some(op.op), msg);
                }
            }
            for r in &op.regions {
                let mut hide = Vec::new();
                for a in &r.args {
                    if self.define(st, *a, op.loc, Some(op.op)) {
                        hide.push(*a);
                    }
                }
                hide.extend(self.walk_ops(&r.ops, st, Some(op)));
                for v in hide {
                    st.visible[v.index()] = false;
                }
            }
            for r in &op.results {
                if self.define(st, *r, op.loc, Some(op.op)) {
                    local.push(*r);
                }
            }
            self.check_placement(op, i + 1 == ops.len(), parent);
            self.check_op(op);
        }
        local
    }

    /// Terminators come last, in the right place; regions exist only where declared and
    /// end with a terminator.
    fn check_placement(&mut self, op: &Operation, is_last: bool, parent: Option<&Operation>) {
        let def = op.op.def();
        if def.has_trait(Trait::Terminator) {
            if !is_last {
                self.error(
                    op.loc,
                    Some(op.op),
                    "a terminator must be the last operation of its block".into(),
                );
            }
            match (op.op, parent) {
                (Op::Graph(GraphOp::Yield), Some(p)) if p.op == Op::Graph(GraphOp::Fused) => {}
                (Op::Graph(GraphOp::Yield), _) => self.error(
                    op.loc,
                    Some(op.op),
                    "`graph.yield` may only end the region of a `graph.fused`".into(),
                ),
                (Op::Graph(_), Some(_)) => self.error(
                    op.loc,
                    Some(op.op),
                    "`graph.return` may only end a graph function's body".into(),
                ),
                (Op::Graph(_), None) if self.f.kind != FuncKind::Graph => self.error(
                    op.loc,
                    Some(op.op),
                    "`graph.return` may only end a graph function's body".into(),
                ),
                (Op::Tile(_), None) => self.error(
                    op.loc,
                    Some(op.op),
                    "`tile.yield` may only end the region of a tile operation".into(),
                ),
                _ => {}
            }
        }
        if !op.regions.is_empty() && !def.has_trait(Trait::HasRegions) {
            self.error(
                op.loc,
                Some(op.op),
                "this operation takes no regions".into(),
            );
        }
        for (k, r) in op.regions.iter().enumerate() {
            let ends = r
                .ops
                .last()
                .is_some_and(|o| o.op.def().has_trait(Trait::Terminator));
            if !ends {
                self.error(
                    op.loc,
                    Some(op.op),
                    format!("region #{k} must end with a terminator (`tile.yield`)"),
                );
            }
        }
    }
}
