//! Dtype codes of the C ABI: a `u32` in every tensor descriptor.
//!
//! The codes are the runtime's own (it does not depend on `tessera-dialects`); the code
//! generator maps its element types onto them. Code 0 is deliberately not a dtype, so a
//! zero-initialised descriptor is rejected rather than read as `f32`.

use std::fmt;

/// An element type, as passed across the C ABI (`TSR_F32`, ... in the header).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// IEEE binary32.
    F32 = 1,
    /// IEEE binary16, stored as its 16 raw bits.
    F16 = 2,
    /// bfloat16 (8-bit exponent, 7-bit mantissa), stored as its 16 raw bits.
    BF16 = 3,
    /// OCP FP8 E4M3 (no infinities), one raw byte.
    F8E4M3 = 4,
    /// OCP FP8 E5M2, one raw byte.
    F8E5M2 = 5,
    /// 8-bit two's complement.
    I8 = 6,
    /// 32-bit two's complement.
    I32 = 7,
    /// One byte, 0 or 1.
    Bool = 8,
}

impl DType {
    /// Every dtype, in code order.
    pub const ALL: [DType; 8] = [
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::F8E4M3,
        DType::F8E5M2,
        DType::I8,
        DType::I32,
        DType::Bool,
    ];

    /// The dtype with this ABI code, if any.
    pub fn from_code(code: u32) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.code() == code)
    }

    /// The ABI code.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// Whether this is a floating-point format.
    pub fn is_float(self) -> bool {
        matches!(
            self,
            DType::F32 | DType::F16 | DType::BF16 | DType::F8E4M3 | DType::F8E5M2
        )
    }

    /// Size of one element in bytes (also its required alignment in a descriptor).
    pub fn size_bytes(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::F8E4M3 | DType::F8E5M2 | DType::I8 | DType::Bool => 1,
        }
    }

    /// The name used in the language (`f32`, `bf16`, `f8e4m3`, `bool`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F8E4M3 => "f8e4m3",
            DType::F8E5M2 => "f8e5m2",
            DType::I8 => "i8",
            DType::I32 => "i32",
            DType::Bool => "bool",
        }
    }

    /// The dtype with this language name, if any.
    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Renders a raw code for error messages: the name when it is a dtype, else `code N`.
pub(crate) fn describe_code(code: u32) -> String {
    match DType::from_code(code) {
        Some(d) => d.name().to_string(),
        None => format!("invalid dtype code {code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_zero_is_invalid() {
        for d in DType::ALL {
            assert_eq!(DType::from_code(d.code()), Some(d));
            assert_eq!(DType::from_name(d.name()), Some(d));
        }
        assert_eq!(DType::from_code(0), None);
        assert_eq!(DType::from_code(9), None);
        assert_eq!(DType::from_code(u32::MAX), None);
        assert_eq!(DType::from_name("f64"), None);
    }

    #[test]
    fn codes_are_pinned() {
        // These numbers are the C ABI (see include/tessera_runtime.h); never renumber.
        let pinned: Vec<(u32, &str, usize)> = DType::ALL
            .iter()
            .map(|d| (d.code(), d.name(), d.size_bytes()))
            .collect();
        assert_eq!(
            pinned,
            vec![
                (1, "f32", 4),
                (2, "f16", 2),
                (3, "bf16", 2),
                (4, "f8e4m3", 1),
                (5, "f8e5m2", 1),
                (6, "i8", 1),
                (7, "i32", 4),
                (8, "bool", 1),
            ]
        );
    }

    #[test]
    fn describe_code_names_bad_codes() {
        assert_eq!(describe_code(7), "i32");
        assert_eq!(describe_code(0), "invalid dtype code 0");
    }
}
