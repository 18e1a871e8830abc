//! Checking a tensor argument against its signature and binding symbolic sizes.
//!
//! A compiled entry point checks each tensor parameter on entry, in signature order, with
//! [`check_tensor`] (from C: `tsr_check_tensor`). The expected sizes encode fixed sizes as
//! themselves and a symbolic size as `-1 - slot` (`TSR_SYM(slot)` in the header, so `-1` is
//! slot 0): the first parameter that meets a symbol binds it in the caller's symbol table,
//! later ones must agree. Sizes that are expressions of symbols (`B * S`) are computed by the
//! entry point once their symbols are bound and passed as fixed sizes.

use crate::buffer::TensorRef;
use crate::dtype::DType;
use crate::error::{Error, ErrorCode, Result};

/// The value of an unbound slot in a symbol table (any negative value means unbound).
pub const UNBOUND: i64 = -1;

/// The expected-size code of symbol slot `slot` (`-1 - slot`).
pub const fn sym(slot: u32) -> i64 {
    -1 - slot as i64
}

/// Renders the expected type, `f32[B, 784]`, with `name(slot)` naming symbols.
fn render_type(dtype: DType, expected: &[i64], name: &dyn Fn(usize) -> String) -> String {
    let dims: Vec<String> = expected
        .iter()
        .map(|&e| {
            if e >= 0 {
                e.to_string()
            } else {
                name(!e as usize)
            }
        })
        .collect();
    if dims.is_empty() {
        dtype.name().to_string()
    } else {
        format!("{}[{}]", dtype.name(), dims.join(", "))
    }
}

/// Checks `tensor` (parameter `param`) against `expected_dtype` and `expected` sizes, binding
/// symbols in `symbols` (`symbols[k]` is the value of slot `k`, negative while unbound).
/// `name(k)` names slot `k` in messages. On failure `symbols` is left unchanged.
pub fn check_tensor(
    tensor: &TensorRef<'_>,
    param: &str,
    expected_dtype: DType,
    expected: &[i64],
    symbols: &mut [i64],
    name: &dyn Fn(usize) -> String,
) -> Result<()> {
    let ty = || render_type(expected_dtype, expected, name);
    // The entry point's own arguments first: a bad slot is a code generator bug.
    for (d, &e) in expected.iter().enumerate() {
        if e < 0 && (!e) as u64 >= symbols.len() as u64 {
            return Err(Error::bad_argument(format!(
                "parameter `{param}`: dimension {d} refers to symbol slot {} but the table has {} slots",
                !e,
                symbols.len()
            )));
        }
    }
    if tensor.dtype() != expected_dtype {
        return Err(Error::new(
            ErrorCode::DtypeMismatch,
            format!(
                "parameter `{param}` has dtype {}, expected {}",
                tensor.dtype(),
                ty()
            ),
        ));
    }
    let sizes = tensor.sizes();
    if sizes.len() != expected.len() {
        return Err(Error::new(
            ErrorCode::ShapeMismatch,
            format!(
                "parameter `{param}` has rank {} (sizes {sizes:?}), expected {}",
                sizes.len(),
                ty()
            ),
        ));
    }
    // Bindings made by this tensor, committed only if every dimension agrees.
    let mut pending: Vec<(usize, i64)> = Vec::new();
    for (d, (&actual, &e)) in sizes.iter().zip(expected).enumerate() {
        if e >= 0 {
            if actual != e {
                return Err(Error::new(
                    ErrorCode::ShapeMismatch,
                    format!(
                        "parameter `{param}` has size {actual} in dimension {d}, expected {e} ({})",
                        ty()
                    ),
                ));
            }
            continue;
        }
        let slot = !e as usize;
        let bound = if symbols[slot] >= 0 {
            Some(symbols[slot])
        } else {
            pending.iter().find(|(s, _)| *s == slot).map(|&(_, v)| v)
        };
        match bound {
            Some(v) if v != actual => {
                return Err(Error::new(
                    ErrorCode::ShapeMismatch,
                    format!(
                        "parameter `{param}` has size {actual} in dimension {d}, but {} is already {v} ({})",
                        name(slot),
                        ty()
                    ),
                ))
            }
            Some(_) => {}
            None => pending.push((slot, actual)),
        }
    }
    for (slot, v) in pending {
        symbols[slot] = v;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::HostTensor;

    fn names(k: usize) -> String {
        ["B", "S"]
            .get(k)
            .map_or(format!("sym{k}"), |s| s.to_string())
    }

    /// Checks a zero tensor of `dtype[sizes]` and returns the updated table or the error.
    fn check(
        dtype: DType,
        sizes: &[i64],
        want: DType,
        expected: &[i64],
        symbols: &mut [i64],
    ) -> std::result::Result<(), String> {
        let mut t = HostTensor::zeros(dtype, sizes).unwrap();
        let d = t.descriptor();
        // SAFETY: `d` describes `t`, alive and untouched for the view.
        let view = unsafe { TensorRef::from_raw(&d) }.unwrap();
        check_tensor(&view, "x", want, expected, symbols, &names)
            .map_err(|e| format!("{}: {}", e.code.name(), e.message))
    }

    #[test]
    fn encoding() {
        assert_eq!(sym(0), -1);
        assert_eq!(sym(1), -2);
        assert_eq!(sym(u32::MAX), -1 - u32::MAX as i64);
    }

    #[test]
    fn fixed_and_symbolic_sizes_bind_then_agree() {
        let mut syms = [UNBOUND; 2];
        check(DType::F32, &[4, 784], DType::F32, &[sym(0), 784], &mut syms).unwrap();
        assert_eq!(syms, [4, UNBOUND]);
        check(DType::F32, &[4, 10], DType::F32, &[sym(0), 10], &mut syms).unwrap();
        let e = check(DType::F32, &[5, 10], DType::F32, &[sym(0), 10], &mut syms).unwrap_err();
        assert_eq!(e, "SHAPE_MISMATCH: parameter `x` has size 5 in dimension 0, but B is already 4 (f32[B, 10])");
        // The same symbol twice in one tensor.
        let e = check(DType::I8, &[3, 2], DType::I8, &[sym(1), sym(1)], &mut syms).unwrap_err();
        assert_eq!(e, "SHAPE_MISMATCH: parameter `x` has size 2 in dimension 1, but S is already 3 (i8[S, S])");
        assert_eq!(syms, [4, UNBOUND], "a failed check binds nothing");
        check(DType::I8, &[3, 3], DType::I8, &[sym(1), sym(1)], &mut syms).unwrap();
        assert_eq!(syms, [4, 3]);
        // Zero is a valid binding.
        let mut syms = [UNBOUND];
        check(DType::F32, &[0], DType::F32, &[sym(0)], &mut syms).unwrap();
        assert_eq!(syms, [0]);
    }

    #[test]
    fn mismatches_name_the_parameter() {
        let mut syms = [UNBOUND; 2];
        let e = check(DType::I32, &[2, 784], DType::F32, &[sym(0), 784], &mut syms).unwrap_err();
        assert_eq!(
            e,
            "DTYPE_MISMATCH: parameter `x` has dtype i32, expected f32[B, 784]"
        );
        let e = check(
            DType::F32,
            &[2, 3, 4],
            DType::F32,
            &[sym(0), 784],
            &mut syms,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "SHAPE_MISMATCH: parameter `x` has rank 3 (sizes [2, 3, 4]), expected f32[B, 784]"
        );
        let e = check(DType::F32, &[2, 783], DType::F32, &[sym(0), 784], &mut syms).unwrap_err();
        assert_eq!(
            e,
            "SHAPE_MISMATCH: parameter `x` has size 783 in dimension 1, expected 784 (f32[B, 784])"
        );
        let e = check(DType::F32, &[2], DType::F32, &[], &mut syms).unwrap_err();
        assert_eq!(
            e,
            "SHAPE_MISMATCH: parameter `x` has rank 1 (sizes [2]), expected f32"
        );
        assert_eq!(syms, [UNBOUND; 2]);
    }

    #[test]
    fn bad_slots_are_bad_arguments() {
        let mut syms = [UNBOUND; 1];
        let e = check(DType::F32, &[2], DType::F32, &[sym(1)], &mut syms).unwrap_err();
        assert_eq!(e, "BAD_ARGUMENT: parameter `x`: dimension 0 refers to symbol slot 1 but the table has 1 slots");
        let e = check(DType::F32, &[2], DType::F32, &[i64::MIN], &mut []).unwrap_err();
        assert!(e.starts_with("BAD_ARGUMENT"), "{e}");
    }

    #[test]
    fn scalars() {
        check(DType::Bool, &[], DType::Bool, &[], &mut []).unwrap();
    }
}
