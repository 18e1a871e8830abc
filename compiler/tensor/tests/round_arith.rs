//! Arithmetic rounding (`round_arith`) overflows to inf (or NaN for f8e4m3) where `as`
//! conversions (`round_to`) saturate; inside the range both round to nearest even.

use tessera_dialects::DType;
use tessera_tensor::convert::{round_arith, round_to};

#[test]
fn overflow_is_infinite_not_saturated() {
    assert_eq!(round_arith(DType::F16, 90000.0), f32::INFINITY);
    assert_eq!(round_to(DType::F16, 90000.0), 65504.0);
    assert_eq!(round_arith(DType::F16, -65520.0), f32::NEG_INFINITY); // tie rounds to even: overflow
    assert_eq!(round_arith(DType::F16, 65519.0), 65504.0);
    assert_eq!(round_arith(DType::BF16, 3.4e38 * 1.01), f32::INFINITY);
    assert_eq!(round_arith(DType::F8E5M2, 262144.0), f32::INFINITY);
    assert_eq!(round_arith(DType::F8E5M2, 61440.0), f32::INFINITY);
    assert_eq!(round_arith(DType::F8E5M2, 61439.0), 57344.0);
    assert_eq!(round_to(DType::F8E5M2, 262144.0), 57344.0);
    assert!(round_arith(DType::F8E4M3, 600.0).is_nan());
    assert!(round_arith(DType::F8E4M3, f32::INFINITY).is_nan());
    assert_eq!(round_arith(DType::F8E4M3, 464.0), 448.0);
    assert_eq!(round_to(DType::F8E4M3, 600.0), 448.0);
}

#[test]
fn in_range_values_round_like_conversions() {
    let mut x = -70000.0f32;
    while x < 70000.0 {
        for d in [DType::F16, DType::BF16, DType::F8E5M2] {
            if round_arith(d, x).is_finite() {
                assert_eq!(round_arith(d, x), round_to(d, x), "{d} {x}");
            }
        }
        if x.abs() <= 448.0 {
            assert_eq!(
                round_arith(DType::F8E4M3, x),
                round_to(DType::F8E4M3, x),
                "{x}"
            );
        }
        x += 0.37;
    }
    assert!(round_arith(DType::F16, f32::NAN).is_nan());
    assert_eq!(round_arith(DType::F32, 1e38 * 10.0), f32::INFINITY);
}
