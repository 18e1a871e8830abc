//! Inference for contractions: `matmul` (NumPy rules) and `einsum`.

use super::{broadcast_shapes, maybe_hint, size_hint, Cx, InferError};
use crate::dtype::DType;
use crate::sym::SymExpr;
use crate::types::TensorType;
use std::collections::BTreeMap;

/// The result dtype of a contraction: `i8` accumulates in `i32`.
fn contraction_dtype(d: DType) -> DType {
    if d == DType::I8 {
        DType::I32
    } else {
        d
    }
}

pub(crate) fn matmul(cx: &Cx) -> Result<TensorType, InferError> {
    let a = cx.operand(0)?;
    let b = cx.operand(1)?;
    let rank_hint = "`@` needs matrices (rank >= 2); add a dimension with `reshape`";
    let [a_batch @ .., m, ka] = a.shape.as_slice() else {
        return Err(cx
            .err_at(0, format!("operands must have rank >= 2, got {a}"))
            .with_hint(rank_hint));
    };
    let [b_batch @ .., kb, n] = b.shape.as_slice() else {
        return Err(cx
            .err_at(1, format!("operands must have rank >= 2, got {b}"))
            .with_hint(rank_hint));
    };
    cx.same_dtype(0, 1)?;
    cx.need_numeric(0, "the operands")?;
    if ka != kb {
        let e = cx.err_at(1, format!("contracted sizes differ: {ka} vs {kb}"));
        let hint = size_hint(ka, kb).unwrap_or_else(|| {
            format!("the last size of the left operand ({a}) must equal the second-to-last size of the right operand ({b})")
        });
        return Err(e.with_hint(hint));
    }
    let mut shape = broadcast_shapes(a_batch, b_batch).map_err(|(x, y)| {
        maybe_hint(
            cx.err_at(
                1,
                format!("batch sizes do not broadcast: {x} vs {y} ({a} @ {b})"),
            ),
            size_hint(&x, &y),
        )
    })?;
    shape.push(m.clone());
    shape.push(n.clone());
    Ok(TensorType::new(contraction_dtype(a.dtype), shape))
}

pub(crate) fn einsum(cx: &Cx) -> Result<TensorType, InferError> {
    let spec = cx.str("spec")?;
    let clean: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
    if clean.contains("...") || clean.contains('.') {
        return Err(cx
            .err(format!("`...` is not supported in \"{spec}\""))
            .with_hint("name every axis with its own label"));
    }
    let Some((lhs, out)) = clean.split_once("->") else {
        return Err(cx
            .err(format!("the spec \"{spec}\" needs an explicit `->`"))
            .with_hint("write the output labels, e.g. \"ij,jk->ik\""));
    };
    if out.contains("->") {
        return Err(cx.err(format!("the spec \"{spec}\" has more than one `->`")));
    }
    if let Some(c) = clean
        .chars()
        .find(|c| !(c.is_ascii_alphabetic() || matches!(c, ',' | '-' | '>')))
    {
        return Err(cx
            .err(format!("invalid label `{c}` in \"{spec}\""))
            .with_hint("labels are single ASCII letters"));
    }
    if out.contains(',') {
        return Err(cx.err(format!("the output of \"{spec}\" must be a single term")));
    }
    if lhs.contains(['-', '>']) || out.contains(['-', '>']) {
        return Err(cx.err(format!("misplaced `-` or `>` in \"{spec}\"")));
    }
    let terms: Vec<&str> = lhs.split(',').collect();
    if terms.len() != cx.operands.len() {
        return Err(cx.err(format!(
            "the spec \"{spec}\" has {} input term{} but there {} {} operand{}",
            terms.len(),
            super::plural(terms.len()),
            if cx.operands.len() == 1 { "is" } else { "are" },
            cx.operands.len(),
            super::plural(cx.operands.len()),
        )));
    }
    // label -> (size, term it was first seen in)
    let mut sizes: BTreeMap<char, (SymExpr, &str)> = BTreeMap::new();
    for (i, term) in terms.iter().enumerate() {
        let t = cx.operand(i)?;
        let labels: Vec<char> = term.chars().collect();
        if labels.len() != t.rank() {
            return Err(cx.err_at(
                i,
                format!(
                    "the term \"{term}\" has {} label{} but operand {i} is {t} (rank {})",
                    labels.len(),
                    super::plural(labels.len()),
                    t.rank()
                ),
            ));
        }
        for (j, (c, d)) in labels.iter().zip(&t.shape).enumerate() {
            if labels.iter().take(j).any(|p| p == c) {
                return Err(cx
                    .err_at(i, format!("label `{c}` is repeated in the term \"{term}\""))
                    .with_hint(
                        "diagonals are not supported: use distinct labels within one operand",
                    ));
            }
            match sizes.get(c) {
                Some((prev, prev_term)) if prev != d => {
                    let e = cx.err_at(
                        i,
                        format!(
                            "label `{c}` has size {prev} in \"{prev_term}\" but {d} in \"{term}\""
                        ),
                    );
                    return Err(maybe_hint(e, size_hint(prev, d)));
                }
                Some(_) => {}
                None => {
                    sizes.insert(*c, (d.clone(), term));
                }
            }
        }
    }
    let mut shape = Vec::new();
    for (j, c) in out.chars().enumerate() {
        if out.chars().take(j).any(|p| p == c) {
            return Err(cx.err(format!("output label `{c}` is repeated in \"{spec}\"")));
        }
        match sizes.get(&c) {
            Some((d, _)) => shape.push(d.clone()),
            None => {
                return Err(cx.err(format!(
                    "output label `{c}` does not appear in any input of \"{spec}\""
                )))
            }
        }
    }
    for i in 1..cx.operands.len() {
        cx.same_dtype(0, i)?;
    }
    let first = cx.need_numeric(0, "the operands")?;
    Ok(TensorType::new(contraction_dtype(first.dtype), shape))
}
