//! Weak literals (NumPy "weak" scalars, DSL.md §7): their values, the dtype they take when
//! they meet no tensor, and folding of expressions made only of literals.

use crate::lower::Val;
use tessera_dialects::{DType, GraphOp};

/// A literal that has not met a tensor yet (NumPy "weak" scalar).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lit {
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Lit {
    pub(crate) fn describe(self) -> String {
        match self {
            Lit::Int(v) => format!("integer literal {v}"),
            Lit::Float(v) => format!("float literal {v}"),
            Lit::Bool(v) => format!("bool literal {v}"),
        }
    }

    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Lit::Int(v) => v as f64,
            Lit::Float(v) => v,
            Lit::Bool(b) => f64::from(u8::from(b)),
        }
    }
}

/// The dtype of a literal that meets no tensor.
pub fn default_dtype(l: Lit) -> DType {
    match l {
        Lit::Int(_) => DType::I32,
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
    let cmp = |f: fn(f64, f64) -> bool| Some(Ok(Lit::Bool(f(a.as_f64(), b.as_f64()))));
    match op {
        G::Lt => return cmp(|x, y| x < y),
        G::Le => return cmp(|x, y| x <= y),
        G::Gt => return cmp(|x, y| x > y),
        G::Ge => return cmp(|x, y| x >= y),
        G::Eq => return cmp(|x, y| x == y),
        G::Ne => return cmp(|x, y| x != y),
        _ => {}
    }
    if let (Lit::Int(x), Lit::Int(y)) = (a, b) {
        let r = match op {
            G::Add => x.checked_add(y),
            G::Sub => x.checked_sub(y),
            G::Mul => x.checked_mul(y),
            G::Div => {
                if y == 0 {
                    return Some(Err("integer division by zero".into()));
                }
                x.checked_div_euclid(y).map(|q| {
                    if y < 0 && x.rem_euclid(y) != 0 {
                        q - 1
                    } else {
                        q
                    }
                })
            }
            G::Max => Some(x.max(y)),
            G::Min => Some(x.min(y)),
            G::Pow => return Some(Ok(Lit::Float((x as f64).powf(y as f64)))),
            _ => return None,
        };
        return Some(
            r.map(Lit::Int)
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
    if let Lit::Int(v) = a {
        match op {
            G::Neg => {
                return Some(
                    v.checked_neg()
                        .map(Lit::Int)
                        .ok_or_else(|| "integer literal overflows".to_string()),
                )
            }
            G::Abs => {
                return Some(
                    v.checked_abs()
                        .map(Lit::Int)
                        .ok_or_else(|| "integer literal overflows".to_string()),
                )
            }
            G::Relu => return Some(Ok(Lit::Int(v.max(0)))),
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
