//! Elementwise binary arithmetic, comparisons and `select`, with NumPy broadcasting.
//! Operands share one dtype (DSL §7). Floats compute in `f32` (`pow` in `f64`, rounded
//! once) and round to the dtype; `max`/`min` propagate NaN (`np.maximum`). Integers wrap
//! (`i8` results wrap to `i8`); `/` is floor division with `x / 0 == 0` (`np.floor_divide`
//! except for the zero divisor, where NumPy warns and also gives 0).

use super::out::{elems, from_f32, from_i32, same_dtype, tensor, Elems};
use super::walk::{broadcast_shapes, broadcast_strides, numel, Walker};
use super::KResult;
use tessera_dialects::DType;
use tessera_tensor::{Data, Tensor};

/// An elementwise binary arithmetic operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
    Pow,
}

/// An elementwise comparison (bool result).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// The operation on two `f32` values (before rounding to a narrower dtype).
pub fn apply_f32(op: BinaryOp, a: f32, b: f32) -> f32 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Max => ieee_max(a, b),
        BinaryOp::Min => ieee_min(a, b),
        BinaryOp::Pow => (a as f64).powf(b as f64) as f32,
    }
}

/// IEEE 754-2019 `maximum`: NaN when either operand is NaN, and `-0` below `+0` (as
/// Cranelift's `fmax`, which the CPU back end uses), whatever the operands' order.
pub fn ieee_max(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if a == b {
        if a.is_sign_positive() {
            a
        } else {
            b
        }
    } else {
        a.max(b)
    }
}

/// IEEE 754-2019 `minimum`: NaN when either operand is NaN, and `-0` below `+0`.
pub fn ieee_min(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if a == b {
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else {
        a.min(b)
    }
}

/// Floor division with `x / 0 == 0`; `i32::MIN / -1` wraps to `i32::MIN`.
pub fn floor_div(a: i32, b: i32) -> i32 {
    if b == 0 {
        return 0;
    }
    let q = a.wrapping_div(b);
    if a.wrapping_rem(b) != 0 && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

/// The operation on two integers, wrapping (`pow` is not defined on integers).
pub fn apply_i32(op: BinaryOp, a: i32, b: i32) -> Option<i32> {
    Some(match op {
        BinaryOp::Add => a.wrapping_add(b),
        BinaryOp::Sub => a.wrapping_sub(b),
        BinaryOp::Mul => a.wrapping_mul(b),
        BinaryOp::Div => floor_div(a, b),
        BinaryOp::Max => a.max(b),
        BinaryOp::Min => a.min(b),
        BinaryOp::Pow => return None,
    })
}

/// Applies `f` to every pair of broadcast elements; returns the result shape and values.
pub fn broadcast_map<T: Copy, U>(
    a: &[T],
    ash: &[usize],
    b: &[T],
    bsh: &[usize],
    mut f: impl FnMut(T, T) -> U,
) -> KResult<(Vec<usize>, Vec<U>)> {
    let shape = broadcast_shapes(ash, bsh)?;
    let n = numel(&shape)?;
    if ash == bsh {
        return Ok((shape, a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()));
    }
    let mut w = Walker::new(
        &shape,
        vec![
            broadcast_strides(ash, &shape),
            broadcast_strides(bsh, &shape),
        ],
    );
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        match (a.get(w.off[0]), b.get(w.off[1])) {
            (Some(&x), Some(&y)) => out.push(f(x, y)),
            _ => return Err("internal error: broadcast read out of bounds".into()),
        }
        w.step();
    }
    Ok((shape, out))
}

/// `a op b` with broadcasting; the result has the operands' dtype.
pub fn binary(op: BinaryOp, a: &Tensor, b: &Tensor) -> KResult<Tensor> {
    same_dtype(a, b)?;
    let dtype = a.dtype();
    match (elems(a), elems(b)) {
        (Elems::Float(x), Elems::Float(y)) => {
            let (shape, v) = broadcast_map(x, a.shape(), y, b.shape(), |p, q| apply_f32(op, p, q))?;
            from_f32(dtype, shape, v)
        }
        (Elems::Int(x), Elems::Int(y)) => {
            if dtype == DType::Bool {
                return Err(format!("the operands must be numeric, got {dtype}"));
            }
            if op == BinaryOp::Pow {
                return Err(format!("the operands must have a float dtype, got {dtype}"));
            }
            let (shape, v) = broadcast_map(x, a.shape(), y, b.shape(), |p, q| {
                apply_i32(op, p, q).unwrap_or(0)
            })?;
            from_i32(dtype, shape, v)
        }
        _ => Err("internal error: storage does not match the dtype".into()),
    }
}

fn cmp<T: PartialOrd>(op: CompareOp, a: T, b: T) -> bool {
    match op {
        CompareOp::Lt => a < b,
        CompareOp::Le => a <= b,
        CompareOp::Gt => a > b,
        CompareOp::Ge => a >= b,
        CompareOp::Eq => a == b,
        CompareOp::Ne => a != b,
    }
}

/// `a op b` with broadcasting; a `bool` result (NaN compares unequal to everything).
pub fn compare(op: CompareOp, a: &Tensor, b: &Tensor) -> KResult<Tensor> {
    same_dtype(a, b)?;
    let (shape, v) = match (elems(a), elems(b)) {
        (Elems::Float(x), Elems::Float(y)) => {
            broadcast_map(x, a.shape(), y, b.shape(), |p, q| i32::from(cmp(op, p, q)))?
        }
        (Elems::Int(x), Elems::Int(y)) => {
            broadcast_map(x, a.shape(), y, b.shape(), |p, q| i32::from(cmp(op, p, q)))?
        }
        _ => return Err("internal error: storage does not match the dtype".into()),
    };
    from_i32(DType::Bool, shape, v)
}

/// `where(cond, on_true, on_false)` with three-way broadcasting; `cond` is `bool`.
pub fn select(cond: &Tensor, t: &Tensor, f: &Tensor) -> KResult<Tensor> {
    if cond.dtype() != DType::Bool {
        return Err(format!("the condition must be bool, got {}", cond.dtype()));
    }
    same_dtype(t, f)?;
    let c = match elems(cond) {
        Elems::Int(c) => c,
        Elems::Float(_) => return Err("internal error: bool stored as floats".into()),
    };
    let shape = broadcast_shapes(&broadcast_shapes(cond.shape(), t.shape())?, f.shape())?;
    let n = numel(&shape)?;
    let mut w = Walker::new(
        &shape,
        vec![
            broadcast_strides(cond.shape(), &shape),
            broadcast_strides(t.shape(), &shape),
            broadcast_strides(f.shape(), &shape),
        ],
    );
    fn pick<T: Copy>(c: &[i32], t: &[T], f: &[T], w: &mut Walker, n: usize) -> KResult<Vec<T>> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let v = match c.get(w.off[0]) {
                Some(&c) if c != 0 => t.get(w.off[1]),
                Some(_) => f.get(w.off[2]),
                None => None,
            };
            out.push(*v.ok_or("internal error: select read out of bounds")?);
            w.step();
        }
        Ok(out)
    }
    let data = match (elems(t), elems(f)) {
        (Elems::Float(x), Elems::Float(y)) => Data::Float(pick(c, x, y, &mut w, n)?),
        (Elems::Int(x), Elems::Int(y)) => Data::Int(pick(c, x, y, &mut w, n)?),
        _ => return Err("internal error: storage does not match the dtype".into()),
    };
    tensor(t.dtype(), shape, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_division() {
        assert_eq!(floor_div(7, 2), 3);
        assert_eq!(floor_div(-7, 2), -4);
        assert_eq!(floor_div(7, -2), -4);
        assert_eq!(floor_div(-7, -2), 3);
        assert_eq!(floor_div(-6, 2), -3);
        assert_eq!(floor_div(5, 0), 0);
        assert_eq!(floor_div(i32::MIN, -1), i32::MIN);
    }

    #[test]
    fn nan_wins_in_max_min() {
        assert!(apply_f32(BinaryOp::Max, f32::NAN, 1.0).is_nan());
        assert!(apply_f32(BinaryOp::Min, 1.0, f32::NAN).is_nan());
        assert_eq!(apply_f32(BinaryOp::Max, -1.0, 2.0), 2.0);
        // Signed zeros: -0 < +0 in either order.
        for (a, b) in [(-0.0f32, 0.0f32), (0.0, -0.0)] {
            assert!(apply_f32(BinaryOp::Max, a, b).is_sign_positive());
            assert!(apply_f32(BinaryOp::Min, a, b).is_sign_negative());
        }
    }
}
