//! Weak literals (NumPy "weak" scalars, DSL.md §7): their values, the dtype they take when
//! they meet no tensor, and folding of expressions made only of literals.
//!
//! An expression made only of literals is itself a literal, and adapts *as a whole* to the
//! tensor it meets: an integer literal expression carries both its integer value (floor
//! division, what it is when it meets an integer tensor or nothing) and its value with
//! every integer read as a float (true division, what it is when it meets a float
//! tensor), so `x * (1 / 2)` is `x * 0.5` for a float `x`, as in NumPy, and `i * (7 / 2)`
//! is `i * 3` for an integer `i`.

use crate::lower::Val;
use tessera_dialects::{DType, GraphOp};

/// A literal that has not met a tensor yet (NumPy "weak" scalar).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lit {
    /// An integer literal expression: its integer value, and its value computed in
    /// floating point (module docs).
    Int(i64, f64),
    Float(f64),
    Bool(bool),
}

impl Lit {
    pub(crate) fn describe(self) -> String {
        match self {
            Lit::Int(v, _) => format!("integer literal {v}"),
            Lit::Float(v) => format!("float literal {v}"),
            Lit::Bool(v) => format!("bool literal {v}"),
        }
    }

    /// An integer literal expression of the value `v` (itself a literal: both values).
    pub(crate) fn int(v: i64) -> Lit {
        Lit::Int(v, v as f64)
    }

    /// The value as a float: an integer literal expression's value computed in floating
    /// point, a zero always `+0` (an integer has no `-0`: `x * -0` is `x * 0.0`, as in
    /// NumPy).
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Lit::Int(_, r) => r + 0.0,
            Lit::Float(v) => v,
            Lit::Bool(b) => f64::from(u8::from(b)),
        }
    }
}

/// The dtype of a literal that meets no tensor.
pub fn default_dtype(l: Lit) -> DType {
    match l {
        Lit::Int(..) => DType::I32,
        Lit::Float(_) => DType::F32,
        Lit::Bool(_) => DType::Bool,
    }
}

/// Folds an elementwise operation on literals, or `None` when it must not fold.
pub(crate) fn fold(op: GraphOp, args: &[Val]) -> Option<Result<Lit, String>> {
    let lits: Vec<Lit> = args
        .iter()
        .map(|v| match v {
            Val::Lit(l) => Some(*l),
            _ => None,
        })
        .collect::<Option<_>>()?;
    use GraphOp as G;
    if op == G::Select {
        let (Lit::Bool(c), a, b) = (lits[0], lits[1], lits[2]) else {
            return Some(Err("the condition of `where` must be bool".into()));
        };
        return Some(Ok(if c { a } else { b }));
    }
    if let [a] = lits[..] {
        return fold_unary(op, a);
    }
    let [a, b] = lits[..] else { return None };
    if let (Lit::Bool(x), Lit::Bool(y)) = (a, b) {
        return match op {
            G::Eq => Some(Ok(Lit::Bool(x == y))),
            G::Ne => Some(Ok(Lit::Bool(x != y))),
            _ => Some(Err(format!(
                "`{}` is not defined on bool literals",
                op.name()
            ))),
        };
    }
    if matches!(a, Lit::Bool(_)) || matches!(b, Lit::Bool(_)) {
        return Some(Err("cannot mix bool and number literals".into()));
    }
    // Two integer expressions compare as integers (they meet no tensor: `i32`), others as
    // floats.
    let (ca, cb) = match (a, b) {
        (Lit::Int(x, _), Lit::Int(y, _)) => (x as f64, y as f64),
        _ => (a.as_f64(), b.as_f64()),
    };
    let cmp = |f: fn(f64, f64) -> bool| Some(Ok(Lit::Bool(f(ca, cb))));
    match op {
        G::Lt => return cmp(|x, y| x < y),
        G::Le => return cmp(|x, y| x <= y),
        G::Gt => return cmp(|x, y| x > y),
        G::Ge => return cmp(|x, y| x >= y),
        G::Eq => return cmp(|x, y| x == y),
        G::Ne => return cmp(|x, y| x != y),
        _ => {}
    }
    if let (Lit::Int(x, xr), Lit::Int(y, yr)) = (a, b) {
        let (r, real) = match op {
            G::Add => (x.checked_add(y), xr + yr),
            G::Sub => (x.checked_sub(y), xr - yr),
            G::Mul => (x.checked_mul(y), xr * yr),
            G::Div => {
                if y == 0 {
                    return Some(Err("integer division by zero".into()));
                }
                let q = x.checked_div_euclid(y).map(|q| {
                    if y < 0 && x.rem_euclid(y) != 0 {
                        q - 1
                    } else {
                        q
                    }
                });
                (q, xr / yr)
            }
            G::Max => (Some(x.max(y)), xr.max(yr)),
            G::Min => (Some(x.min(y)), xr.min(yr)),
            G::Pow => return Some(Ok(Lit::Float(xr.powf(yr)))),
            _ => return None,
        };
        return Some(
            r.map(|v| Lit::Int(v, real))
                .ok_or_else(|| "integer literal arithmetic overflows".to_string()),
        );
    }
    let (x, y) = (a.as_f64(), b.as_f64());
    let r = match op {
        G::Add => x + y,
        G::Sub => x - y,
        G::Mul => x * y,
        G::Div => x / y,
        G::Max => x.max(y),
        G::Min => x.min(y),
        G::Pow => x.powf(y),
        _ => return None,
    };
    Some(Ok(Lit::Float(r)))
}

/// Folds an elementwise function of one literal, in `f64` (the literal is still weak: it
/// is rounded into a dtype only when it meets a tensor).
fn fold_unary(op: GraphOp, a: Lit) -> Option<Result<Lit, String>> {
    use GraphOp as G;
    if let Lit::Bool(_) = a {
        return Some(Err(format!(
            "`{}` is not defined on bool literals",
            op.name()
        )));
    }
    if let Lit::Int(v, r) = a {
        match op {
            G::Neg => {
                return Some(
                    v.checked_neg()
                        .map(|n| Lit::Int(n, -r))
                        .ok_or_else(|| "integer literal overflows".to_string()),
                )
            }
            G::Abs => {
                return Some(
                    v.checked_abs()
                        .map(|n| Lit::Int(n, r.abs()))
                        .ok_or_else(|| "integer literal overflows".to_string()),
                )
            }
            G::Relu => return Some(Ok(Lit::Int(v.max(0), r.max(0.0)))),
            _ => {}
        }
    }
    let x = a.as_f64();
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    let r = match op {
        G::Neg => -x,
        G::Abs => x.abs(),
        G::Exp => x.exp(),
        G::Log => x.ln(),
        G::Sqrt => x.sqrt(),
        G::Rsqrt => 1.0 / x.sqrt(),
        G::Recip => 1.0 / x,
        G::Tanh => x.tanh(),
        G::Sigmoid => sigmoid(x),
        G::Relu => x.max(0.0),
        G::Gelu => 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)),
        G::GeluTanh => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
        }
        G::Silu => x * sigmoid(x),
        G::Erf => libm::erf(x),
        _ => return None,
    };
    Some(Ok(Lit::Float(r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(op: GraphOp, a: Lit, b: Lit) -> Lit {
        fold(op, &[Val::Lit(a), Val::Lit(b)])
            .expect("folds")
            .expect("no error")
    }

    #[test]
    fn integer_expressions_carry_both_readings() {
        // 1 / 2: 0 in integers, 0.5 as floats; 7 / 2 and -7 / 2 floor.
        let half = folded(GraphOp::Div, Lit::int(1), Lit::int(2));
        assert_eq!(half, Lit::Int(0, 0.5));
        assert_eq!(half.as_f64(), 0.5);
        assert_eq!(
            folded(GraphOp::Div, Lit::int(-7), Lit::int(2)),
            Lit::Int(-4, -3.5)
        );
        // An integer has no -0: -0 and 0 * -5 read as +0.
        let neg_zero = fold_unary(GraphOp::Neg, Lit::int(0)).unwrap().unwrap();
        assert!(neg_zero.as_f64() == 0.0 && neg_zero.as_f64().is_sign_positive());
        let prod = folded(GraphOp::Mul, Lit::int(0), Lit::int(-5));
        assert!(prod.as_f64().is_sign_positive());
        // Comparisons of two integer expressions use the integer values.
        assert_eq!(folded(GraphOp::Eq, half, Lit::int(0)), Lit::Bool(true));
        assert_eq!(folded(GraphOp::Eq, half, Lit::Float(0.5)), Lit::Bool(true));
        // Division by zero is an error whatever the expression meets.
        assert!(fold(
            GraphOp::Div,
            &[Val::Lit(Lit::int(1)), Val::Lit(Lit::int(0))]
        )
        .unwrap()
        .is_err());
    }
}
