//! What a fixed `--precision` (`bf16`, `f16`, `fp8`, `int8`) did to each contraction, for
//! `--explain`: per `f32` `matmul`, `einsum` and `conv2d` of the function, in body order,
//! the form it was lowered to with the dtypes its lowered contraction reads, or why it
//! stays `f32`. `--precision auto` has its own report ([`crate::auto::Auto`]).

use crate::rules::precision::Contraction;
use crate::{lower_form_noted, OptError, Options};
use std::collections::BTreeMap;
use tessera_dialects::{DType, Func, Loc, Operation};

/// One contraction under a fixed precision.
#[derive(Clone, Debug)]
pub struct FixedNote {
    /// `matmul #i (f32[B, 784] @ f32[784, 1024])`, numbered per kind in body order.
    pub label: String,
    /// Where the contraction is in the source.
    pub loc: Loc,
    /// The form and the lowered operands' dtypes, or why it stays `f32`.
    pub outcome: String,
}

/// What lowering `f` to `opts.precision` did: a note per `f32` contraction, and how often
/// each rule applied.
pub fn explain_fixed(
    f: &Func,
    opts: &Options,
) -> Result<(Vec<FixedNote>, BTreeMap<String, usize>), OptError> {
    let Some(form) = opts.precision.form() else {
        return Ok((Vec::new(), BTreeMap::new()));
    };
    let lowered = lower_form_noted(f, form, opts)?;
    let mut numbers: BTreeMap<Contraction, usize> = BTreeMap::new();
    let mut notes = Vec::new();
    for (index, op) in f.body.ops.iter().enumerate() {
        let Some(kind) = op.op.as_graph().and_then(Contraction::of) else {
            continue;
        };
        let types = operand_types(f, op);
        if types.iter().any(|(d, _)| *d != DType::F32) {
            continue;
        }
        let n = numbers.entry(kind).or_default();
        *n += 1;
        let texts: Vec<&str> = types.iter().map(|(_, t)| t.as_str()).collect();
        let label = kind.label(*n, op.attrs.str("spec"), &texts);
        let outcome = match lowered.narrowed.get(&index) {
            _ if lowered.attention.contains(&index) => {
                "stays f32: a contraction of an attention, which its fused kernel computes in f32"
                    .to_string()
            }
            Some((operands, result)) => {
                let dtypes: Vec<&str> = operands.iter().map(|d| d.name()).collect();
                format!(
                    "{} ({}): reads {} into {}",
                    form.name(),
                    kind.describe(form),
                    dtypes.join(" and "),
                    result.name()
                )
            }
            None if kind.rule(form).is_none() => {
                format!(
                    "stays as written: {} has no {} form",
                    kind.name(),
                    form.name()
                )
            }
            None => format!(
                "stays as written: its operands do not fit `{}` (docs/egraph.md \"Precision\")",
                kind.rule(form).unwrap_or("the rule")
            ),
        };
        notes.push(FixedNote {
            label,
            loc: op.loc,
            outcome,
        });
    }
    Ok((notes, lowered.counts))
}

/// The dtype and type text of each operand of `op`.
fn operand_types(f: &Func, op: &Operation) -> Vec<(DType, String)> {
    op.operands
        .iter()
        .filter_map(|v| f.tensor_ty(*v))
        .map(|t| (t.dtype, t.to_string()))
        .collect()
}

/// `--explain`'s lines for `notes` and `counts` under `precision`.
pub fn explain_text(
    precision: &str,
    notes: &[FixedNote],
    counts: &BTreeMap<String, usize>,
    line_col: &dyn Fn(Loc) -> Option<String>,
) -> String {
    let applied: Vec<String> = counts.iter().map(|(r, n)| format!("{r} {n}")).collect();
    let mut out = format!(
        "// precision {precision}: rules applied: {}\n",
        if applied.is_empty() {
            "none".to_string()
        } else {
            applied.join(", ")
        }
    );
    for n in notes {
        let at = line_col(n.loc)
            .map(|l| format!(" at {l}"))
            .unwrap_or_default();
        out.push_str(&format!("// {}{at}: {}\n", n.label, n.outcome));
    }
    out
}
