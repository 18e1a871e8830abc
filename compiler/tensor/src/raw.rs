//! Little-endian element bytes of every dtype, shared by the file formats.

use crate::convert;
use crate::tensor::{Data, Tensor};
use tessera_dialects::DType;

/// The little-endian bytes of the elements: `f32`/`i32` 4 bytes, `f16`/`bf16` their bit
/// patterns, FP8 their codes, `i8` two's complement, `bool` 0 or 1.
pub(crate) fn to_le_bytes(t: &Tensor) -> Vec<u8> {
    let mut out = Vec::with_capacity(t.len() * t.dtype().size_bytes());
    match t.data() {
        Data::Float(v) => match t.dtype() {
            DType::F16 => v
                .iter()
                .for_each(|&x| out.extend(convert::f32_to_f16_bits(x).to_le_bytes())),
            DType::BF16 => v
                .iter()
                .for_each(|&x| out.extend(convert::f32_to_bf16_bits(x).to_le_bytes())),
            DType::F8E4M3 => out.extend(v.iter().map(|&x| convert::f32_to_f8e4m3(x))),
            DType::F8E5M2 => out.extend(v.iter().map(|&x| convert::f32_to_f8e5m2(x))),
            _ => v.iter().for_each(|&x| out.extend(x.to_le_bytes())),
        },
        Data::Int(v) => match t.dtype() {
            DType::I8 | DType::Bool => out.extend(v.iter().map(|&x| x as i8 as u8)),
            _ => v.iter().for_each(|&x| out.extend(x.to_le_bytes())),
        },
    }
    out
}

/// Decodes `n` elements of `dtype` from little-endian `bytes` (which hold exactly
/// `n * dtype.size_bytes()` bytes). `bool` bytes that are not 0 read as true.
pub(crate) fn from_le_bytes(dtype: DType, bytes: &[u8]) -> Data {
    match dtype {
        DType::F32 => Data::Float(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        DType::F16 => Data::Float(
            bytes
                .chunks_exact(2)
                .map(|c| convert::f16_bits_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        ),
        DType::BF16 => Data::Float(
            bytes
                .chunks_exact(2)
                .map(|c| convert::bf16_bits_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        ),
        DType::F8E4M3 => Data::Float(bytes.iter().map(|&b| convert::f8e4m3_to_f32(b)).collect()),
        DType::F8E5M2 => Data::Float(bytes.iter().map(|&b| convert::f8e5m2_to_f32(b)).collect()),
        DType::I8 => Data::Int(bytes.iter().map(|&b| i32::from(b as i8)).collect()),
        DType::Bool => Data::Int(bytes.iter().map(|&b| i32::from(b != 0)).collect()),
        DType::I32 => Data::Int(
            bytes
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
    }
}
