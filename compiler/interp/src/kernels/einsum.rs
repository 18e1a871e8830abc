//! Einstein summation over any number of operands: `"bhqd,bhkd->bhqk"`. The output must be
//! explicit (`->`), labels are ASCII letters, and a label absent from the output is summed.
//! A label repeated within one operand reads its diagonal (NumPy); output labels may not
//! repeat. The kernel walks the full label space with precomputed strides: simple and
//! exact, as an oracle should be. Floats accumulate in `f64`; integers in wrapping `i32`
//! (`i8` gives `i32`).

use super::out::{elems, from_f64, from_i32, Elems};
use super::walk::{numel, strides, Walker};
use super::KResult;
use tessera_dialects::DType;
use tessera_tensor::Tensor;

/// The most products one einsum may sum (the full label space); more is refused rather
/// than left to run for hours.
pub const MAX_TERMS: usize = 1 << 34;

fn too_much(spec: &str) -> String {
    format!(
        "einsum `{spec}` would need more than 2^34 products; the reference interpreter refuses it"
    )
}

/// A parsed equation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EinsumSpec {
    pub inputs: Vec<Vec<char>>,
    pub output: Vec<char>,
}

/// Parses `"ij,jk->ik"` (whitespace is ignored).
pub fn parse_spec(spec: &str) -> KResult<EinsumSpec> {
    let s: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
    if s.contains("...") {
        return Err(format!("einsum `{spec}`: `...` is not supported"));
    }
    let (lhs, rhs) = s
        .split_once("->")
        .ok_or_else(|| format!("einsum `{spec}`: the equation needs an explicit `->`"))?;
    if rhs.contains("->") {
        return Err(format!("einsum `{spec}`: more than one `->`"));
    }
    let label = |c: char| -> KResult<char> {
        if c.is_ascii_alphabetic() {
            Ok(c)
        } else {
            Err(format!(
                "einsum `{spec}`: `{c}` is not a label (labels are letters)"
            ))
        }
    };
    let inputs = lhs
        .split(',')
        .map(|t| t.chars().map(label).collect::<KResult<Vec<char>>>())
        .collect::<KResult<Vec<_>>>()?;
    let output = rhs.chars().map(label).collect::<KResult<Vec<char>>>()?;
    for (i, c) in output.iter().enumerate() {
        if output[..i].contains(c) {
            return Err(format!("einsum `{spec}`: output label `{c}` is repeated"));
        }
        if !inputs.iter().any(|t| t.contains(c)) {
            return Err(format!(
                "einsum `{spec}`: output label `{c}` does not appear in any operand"
            ));
        }
    }
    Ok(EinsumSpec { inputs, output })
}

/// Evaluates `spec` on `operands` (all of one dtype).
pub fn einsum(spec: &str, operands: &[&Tensor]) -> KResult<Tensor> {
    let p = parse_spec(spec)?;
    let first = operands
        .first()
        .ok_or_else(|| "einsum needs at least one operand".to_string())?;
    let dtype = first.dtype();
    if dtype == DType::Bool {
        return Err("the operands must be numeric, got bool".into());
    }
    if let Some(t) = operands.iter().find(|t| t.dtype() != dtype) {
        return Err(format!("operand dtypes differ: {} vs {}", dtype, t.dtype()));
    }
    if p.inputs.len() != operands.len() {
        return Err(format!(
            "einsum `{spec}` names {} operands but {} were given",
            p.inputs.len(),
            operands.len()
        ));
    }
    // Labels: output first, then summed labels in order of first appearance.
    let mut labels = p.output.clone();
    for t in &p.inputs {
        for &c in t {
            if !labels.contains(&c) {
                labels.push(c);
            }
        }
    }
    let mut sizes: Vec<Option<usize>> = vec![None; labels.len()];
    let mut lstrides: Vec<Vec<usize>> = Vec::with_capacity(operands.len());
    for (k, (term, t)) in p.inputs.iter().zip(operands).enumerate() {
        if term.len() != t.rank() {
            return Err(format!(
                "einsum `{spec}`: operand {k} has rank {} but its term `{}` has {} labels",
                t.rank(),
                term.iter().collect::<String>(),
                term.len()
            ));
        }
        let own = strides(t.shape());
        let mut ls = vec![0usize; labels.len()];
        for (pos, c) in term.iter().enumerate() {
            let li = labels.iter().position(|l| l == c).unwrap_or(0);
            let d = t.shape()[pos];
            match sizes[li] {
                Some(s) if s != d => {
                    return Err(format!(
                        "einsum `{spec}`: label `{c}` has size {s} and {d} (operand {k})"
                    ))
                }
                _ => sizes[li] = Some(d),
            }
            ls[li] += own[pos];
        }
        lstrides.push(ls);
    }
    let sizes: Vec<usize> = sizes.into_iter().map(|s| s.unwrap_or(1)).collect();
    let no = p.output.len();
    let out_shape = sizes[..no].to_vec();
    let n_out = numel(&out_shape)?;
    let sum_dims = &sizes[no..];
    let n_sum = numel(sum_dims).map_err(|_| too_much(spec))?;
    if n_out.saturating_mul(n_sum) > MAX_TERMS {
        return Err(too_much(spec));
    }
    let mut outer = Walker::new(
        &out_shape,
        lstrides.iter().map(|s| s[..no].to_vec()).collect(),
    );
    let mut inner = Walker::new(
        sum_dims,
        lstrides.iter().map(|s| s[no..].to_vec()).collect(),
    );
    let bad = || "internal error: einsum read out of bounds".to_string();
    match elems(first) {
        Elems::Float(_) => {
            let data: Vec<&[f32]> = operands
                .iter()
                .map(|t| match elems(t) {
                    Elems::Float(v) => Ok(v),
                    Elems::Int(_) => Err(bad()),
                })
                .collect::<KResult<_>>()?;
            let mut out = Vec::with_capacity(n_out);
            for _ in 0..n_out {
                inner.reset(&outer.off);
                let mut acc = 0f64;
                for _ in 0..n_sum {
                    let mut prod = 1f64;
                    for (v, &o) in data.iter().zip(&inner.off) {
                        prod *= *v.get(o).ok_or_else(bad)? as f64;
                    }
                    acc += prod;
                    inner.step();
                }
                out.push(acc);
                outer.step();
            }
            from_f64(dtype, out_shape, out)
        }
        Elems::Int(_) => {
            let data: Vec<&[i32]> = operands
                .iter()
                .map(|t| match elems(t) {
                    Elems::Int(v) => Ok(v),
                    Elems::Float(_) => Err(bad()),
                })
                .collect::<KResult<_>>()?;
            let mut out = Vec::with_capacity(n_out);
            for _ in 0..n_out {
                inner.reset(&outer.off);
                let mut acc = 0i32;
                for _ in 0..n_sum {
                    let mut prod = 1i32;
                    for (v, &o) in data.iter().zip(&inner.off) {
                        prod = prod.wrapping_mul(*v.get(o).ok_or_else(bad)?);
                    }
                    acc = acc.wrapping_add(prod);
                    inner.step();
                }
                out.push(acc);
                outer.step();
            }
            from_i32(DType::I32, out_shape, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let p = parse_spec("ij, jk -> ik").unwrap();
        assert_eq!(p.inputs, vec![vec!['i', 'j'], vec!['j', 'k']]);
        assert_eq!(p.output, vec!['i', 'k']);
        assert!(parse_spec("ij,jk").is_err());
        assert!(parse_spec("i...,j->ij").is_err());
        assert!(parse_spec("ij->ii").is_err());
        assert!(parse_spec("ij->k").is_err());
        assert!(parse_spec("i1->i").is_err());
    }
}
