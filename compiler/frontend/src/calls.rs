//! Calls of the program's own functions: the callee's size names bind to the caller's
//! sizes, arguments are checked against the parameters, results get substituted types.

use crate::check::Signature;
use crate::diag::Diagnostic;
use crate::lower::{FnLowerer, Val, R};
use std::collections::BTreeMap;
use tessera_dialects::{
    Attr, Attrs, GraphOp, Op, Operation, Span, SymExpr, TensorType, Type, Value,
};

impl FnLowerer<'_> {
    /// Emits a `graph.call` of a user function; its sizes bind to the caller's.
    pub(crate) fn emit_call(
        &mut self,
        callee: &str,
        sig: &Signature,
        args: Vec<(Value, Span)>,
        span: Span,
    ) -> R<Val> {
        let mut bind: BTreeMap<String, SymExpr> = BTreeMap::new();
        // First pass: parameters whose dimension is a plain name bind it.
        for ((v, _), pty) in args.iter().zip(&sig.params) {
            let aty = self.ty(*v);
            if aty.rank() == pty.rank() {
                for (pd, ad) in pty.shape.iter().zip(&aty.shape) {
                    if let Some(n) = pd.as_name() {
                        bind.entry(n.to_string()).or_insert_with(|| ad.clone());
                    }
                }
            }
        }
        for (i, ((v, s), pty)) in args.iter().zip(&sig.params).enumerate() {
            let aty = self.ty(*v);
            let want = match substitute(pty, &bind) {
                Ok(t) => t,
                Err(m) => return self.err(Diagnostic::error(m).primary(*s, "argument")),
            };
            let unbound: Vec<String> = want
                .shape
                .iter()
                .flat_map(|d| d.names())
                .filter(|n| !bind.contains_key(n) && !self.sizes.contains(n))
                .collect();
            if aty != want || !unbound.is_empty() {
                return self.err(
                    Diagnostic::error(format!(
                        "argument {} of `{callee}` has type {aty}, expected {}",
                        i + 1,
                        pty
                    ))
                    .primary(*s, format!("this is {aty}"))
                    .secondary(sig.param_spans[i], format!("parameter declared as {pty}"))
                    .hint(if aty.dtype != want.dtype {
                        "convert with `as`".to_string()
                    } else {
                        format!(
                            "with the sizes bound by the other arguments the parameter is {want}"
                        )
                    }),
                );
            }
        }
        let mut results = Vec::new();
        for r in &sig.results {
            let t = match substitute(r, &bind) {
                Ok(t) => t,
                Err(m) => return self.err(Diagnostic::error(m).primary(span, "call")),
            };
            results.push(self.func.new_value(Type::Tensor(t), None));
        }
        let operands = args.iter().map(|(v, _)| *v).collect();
        let attrs = Attrs::new().with("callee", Attr::Symbol(callee.to_string()));
        self.func.body.ops.push(
            Operation::new(Op::Graph(GraphOp::Call), operands, results.clone(), attrs)
                .at(Some(span)),
        );
        if results.len() == 1 {
            Ok(Val::Tensor(results[0]))
        } else {
            Ok(Val::Multi(results))
        }
    }
}

fn substitute(t: &TensorType, bind: &BTreeMap<String, SymExpr>) -> Result<TensorType, String> {
    let mut shape = Vec::new();
    for d in &t.shape {
        shape.push(
            d.substitute(&|n| bind.get(n).cloned())
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(TensorType::new(t.dtype, shape))
}
