//! `.safetensors` files (weights), read and written with the `safetensors` crate.
//!
//! Dtypes: `F32`, `F16`, `BF16`, `F8_E4M3`, `F8_E5M2`, `I8`, `I32` and `BOOL` map to the
//! Tessera dtypes of the same meaning; any other dtype is an error naming the tensor, and so
//! is a tensor name that the header gives twice ([`crate::json_keys`]).

use crate::json_keys;
use crate::npy::write_atomic;
use crate::raw;
use crate::tensor::Tensor;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::path::Path;
use tessera_dialects::DType;

/// Errors reading or writing `.safetensors` data; the messages are meant for users.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SafetensorsError {
    #[error("corrupt .safetensors file: {0}")]
    Corrupt(String),
    #[error("the header names tensor `{0}` twice (a file holds each name once)")]
    DuplicateName(String),
    #[error("tensor `{name}` holds {dtype}; Tessera dtypes are F32, F16, BF16, F8_E4M3, F8_E5M2, I8, I32 and BOOL")]
    UnsupportedDtype { name: String, dtype: String },
    #[error("cannot write .safetensors data: {0}")]
    Write(String),
    #[error("{0}")]
    Io(String),
}

/// The safetensors dtype of a Tessera dtype.
pub fn to_st_dtype(d: DType) -> Dtype {
    match d {
        DType::F32 => Dtype::F32,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::F8E4M3 => Dtype::F8_E4M3,
        DType::F8E5M2 => Dtype::F8_E5M2,
        DType::I8 => Dtype::I8,
        DType::I32 => Dtype::I32,
        DType::Bool => Dtype::BOOL,
    }
}

/// The Tessera dtype of a safetensors dtype, if there is one.
pub fn from_st_dtype(d: Dtype) -> Option<DType> {
    Some(match d {
        Dtype::F32 => DType::F32,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::F8_E4M3 => DType::F8E4M3,
        Dtype::F8_E5M2 => DType::F8E5M2,
        Dtype::I8 => DType::I8,
        Dtype::I32 => DType::I32,
        Dtype::BOOL => DType::Bool,
        _ => return None,
    })
}

/// Reads every tensor of a `.safetensors` buffer, sorted by name. A name the header gives
/// twice is an error (the `safetensors` crate would keep the last one silently).
pub fn read_safetensors(bytes: &[u8]) -> Result<Vec<(String, Tensor)>, SafetensorsError> {
    read_safetensors_named(bytes, &|_| true).map(|(t, _)| t)
}

/// Tensors read by name, and the names skipped unread (both sorted).
pub type NamedRead = (Vec<(String, Tensor)>, Vec<String>);

/// Reads the tensors of a `.safetensors` buffer whose names `wanted` accepts, sorted by
/// name; the others are skipped unread, whatever their dtype (a checkpoint's `I64` step
/// counter or `U8` mask does not stop a program from binding its weights), and their names
/// returned. The whole header is still checked: a name given twice, or corrupt data
/// offsets, are errors.
pub fn read_safetensors_named(
    bytes: &[u8],
    wanted: &dyn Fn(&str) -> bool,
) -> Result<NamedRead, SafetensorsError> {
    if let Some(name) = duplicate_name(bytes) {
        return Err(SafetensorsError::DuplicateName(name));
    }
    let st =
        SafeTensors::deserialize(bytes).map_err(|e| SafetensorsError::Corrupt(e.to_string()))?;
    let mut out = Vec::with_capacity(st.len());
    let mut skipped = Vec::new();
    for (name, view) in st.tensors() {
        if !wanted(&name) {
            skipped.push(name);
            continue;
        }
        let dtype =
            from_st_dtype(view.dtype()).ok_or_else(|| SafetensorsError::UnsupportedDtype {
                name: name.clone(),
                dtype: view.dtype().to_string(),
            })?;
        let shape = view.shape().to_vec();
        let data = view.data();
        let need =
            crate::tensor::element_count(&shape).and_then(|n| n.checked_mul(dtype.size_bytes()));
        if need != Some(data.len()) {
            return Err(SafetensorsError::Corrupt(format!(
                "tensor `{name}` of shape {shape:?} has {} data bytes",
                data.len()
            )));
        }
        let t = Tensor::new(dtype, shape, raw::from_le_bytes(dtype, data))
            .map_err(|e| SafetensorsError::Corrupt(format!("tensor `{name}`: {e}")))?;
        out.push((name, t));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    skipped.sort();
    Ok((out, skipped))
}

/// A key the JSON header of `bytes` gives twice, if the header is readable.
fn duplicate_name(bytes: &[u8]) -> Option<String> {
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let end = usize::try_from(n).ok()?.checked_add(8)?;
    let header = std::str::from_utf8(bytes.get(8..end)?).ok()?;
    let keys = json_keys::top_level_keys(header)?;
    json_keys::first_duplicate(&keys).map(str::to_string)
}

/// Serializes tensors to `.safetensors` bytes. Names must be distinct.
pub fn write_safetensors(tensors: &[(String, Tensor)]) -> Result<Vec<u8>, SafetensorsError> {
    let mut names: Vec<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(SafetensorsError::Write(format!(
            "two tensors are named `{}`",
            w[0]
        )));
    }
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, t)| raw::to_le_bytes(t)).collect();
    let mut views = Vec::with_capacity(tensors.len());
    for ((name, t), b) in tensors.iter().zip(&bytes) {
        let v = TensorView::new(to_st_dtype(t.dtype()), t.shape().to_vec(), b)
            .map_err(|e| SafetensorsError::Write(format!("tensor `{name}`: {e}")))?;
        views.push((name.as_str(), v));
    }
    safetensors::tensor::serialize(views, None).map_err(|e| SafetensorsError::Write(e.to_string()))
}

/// Reads a `.safetensors` file; I/O errors name the path.
pub fn read_safetensors_file(
    path: impl AsRef<Path>,
) -> Result<Vec<(String, Tensor)>, SafetensorsError> {
    let path = path.as_ref();
    let bytes = crate::read::read_bounded(path)
        .map_err(|e| SafetensorsError::Io(format!("cannot read {}: {e}", path.display())))?;
    read_safetensors(&bytes).map_err(|e| match e {
        SafetensorsError::Corrupt(m) => {
            SafetensorsError::Corrupt(format!("{m} (in {})", path.display()))
        }
        other => other,
    })
}

/// Writes a `.safetensors` file atomically (temporary file in the same directory, then a
/// rename), so no partial output file is ever left.
pub fn write_safetensors_file(
    path: impl AsRef<Path>,
    tensors: &[(String, Tensor)],
) -> Result<(), SafetensorsError> {
    let bytes = write_safetensors(tensors)?;
    write_atomic(path.as_ref(), &bytes).map_err(SafetensorsError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(dtype: DType, shape: &[usize], k: f32) -> Tensor {
        let n = shape.iter().product::<usize>();
        let vals: Vec<f32> = (0..n).map(|i| (i as f32 - 2.0) * k).collect();
        Tensor::from_f32(dtype, shape.to_vec(), vals).unwrap()
    }

    fn all_dtypes() -> Vec<(String, Tensor)> {
        DType::ALL
            .iter()
            .enumerate()
            .map(|(i, &d)| (format!("t{i}_{d}"), sample(d, &[2, 3], 1.5)))
            .collect()
    }

    #[test]
    fn round_trip_every_dtype() {
        let mut tensors = all_dtypes();
        tensors.push(("scalar".into(), sample(DType::F32, &[], 1.0)));
        tensors.push(("empty".into(), sample(DType::I32, &[0, 4], 1.0)));
        tensors.push((
            "specials".into(),
            Tensor::from_f32(DType::F8E5M2, vec![3], vec![f32::INFINITY, -0.0, 57344.0]).unwrap(),
        ));
        let bytes = write_safetensors(&tensors).unwrap();
        let back = read_safetensors(&bytes).unwrap();
        let mut want = tensors.clone();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(back, want);
    }

    #[test]
    fn file_round_trip_and_errors() {
        let dir = std::env::temp_dir().join(format!("tessera-st-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.safetensors");
        let tensors = all_dtypes();
        write_safetensors_file(&path, &tensors).unwrap();
        assert_eq!(read_safetensors_file(&path).unwrap().len(), tensors.len());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        let e = read_safetensors_file(dir.join("absent.safetensors")).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();

        let dup = vec![
            ("a".to_string(), sample(DType::F32, &[1], 1.0)),
            ("a".to_string(), sample(DType::F32, &[1], 1.0)),
        ];
        assert!(write_safetensors(&dup).is_err());
    }

    /// A safetensors file whose header is `json` over `data`.
    fn with_header(json: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (json.len() as u64).to_le_bytes().to_vec();
        out.extend(json.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn a_name_given_twice_is_refused() {
        let one = r#"{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#;
        let two = r#"{"dtype":"F32","shape":[1],"data_offsets":[4,8]}"#;
        let data = [0u8; 8];
        // The same entry twice (the data is covered either way), two entries of one name,
        // and a name spelled with an escape.
        for (json, data) in [
            (format!(r#"{{"w":{one},"w":{one}}}"#), &data[..4]),
            (
                format!(r#"{{"w":{one}, "v":{two}, "w" : {two}}}"#),
                &data[..],
            ),
            (format!(r#"{{"w":{one},"w":{two}}}"#), &data[..]),
            (format!(r#"{{"w":{one},"\u0077":{two}}}"#), &data[..]),
        ] {
            let e = read_safetensors(&with_header(&json, data)).unwrap_err();
            assert_eq!(
                e.to_string(),
                "the header names tensor `w` twice (a file holds each name once)",
                "{json}"
            );
        }
        let json = format!(r#"{{"__metadata__":{{"a":"b"}},"w":{one},"w":{one}}}"#);
        let e = read_safetensors(&with_header(&json, &data[..4])).unwrap_err();
        assert_eq!(e, SafetensorsError::DuplicateName("w".into()));
        // Distinct names (one a prefix of another, one in a nested object) are fine.
        let json = format!(r#"{{"w":{one},"ww":{two},"__metadata__":{{"w":"x"}}}}"#);
        assert_eq!(
            read_safetensors(&with_header(&json, &data)).unwrap().len(),
            2
        );
    }

    #[test]
    fn tensors_not_wanted_are_skipped_whatever_their_dtype() {
        let w = sample(DType::F32, &[2], 1.0);
        let f64_bytes: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let wb = raw::to_le_bytes(&w);
        let bytes = safetensors::tensor::serialize(
            vec![
                (
                    "step",
                    TensorView::new(Dtype::F64, vec![2], &f64_bytes).unwrap(),
                ),
                ("w", TensorView::new(Dtype::F32, vec![2], &wb).unwrap()),
            ],
            None,
        )
        .unwrap();
        let got = read_safetensors_named(&bytes, &|n| n == "w").unwrap();
        assert_eq!(got, (vec![("w".to_string(), w)], vec!["step".to_string()]));
        match read_safetensors_named(&bytes, &|n| n == "step") {
            Err(SafetensorsError::UnsupportedDtype { name, dtype }) => {
                assert_eq!((name.as_str(), dtype.as_str()), ("step", "F64"));
            }
            other => panic!("{other:?}"),
        }
        assert!(read_safetensors(&bytes).is_err());
    }

    #[test]
    fn unsupported_dtype_is_named() {
        let data = [0u8; 16];
        let v = TensorView::new(Dtype::F64, vec![2], &data).unwrap();
        let bytes = safetensors::tensor::serialize([("w", v)], None).unwrap();
        let e = read_safetensors(&bytes).unwrap_err();
        assert_eq!(
            e.to_string(),
            "tensor `w` holds F64; Tessera dtypes are F32, F16, BF16, F8_E4M3, F8_E5M2, I8, I32 and BOOL"
        );
        assert!(matches!(
            read_safetensors(b"garbage"),
            Err(SafetensorsError::Corrupt(_))
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn corrupt_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = read_safetensors(&bytes);
        }

        #[test]
        fn truncated_and_mutated_never_panic(cut in 0usize..400, pos in 0usize..400, byte in any::<u8>()) {
            let bytes = write_safetensors(&all_dtypes()).unwrap();
            let cut = cut.min(bytes.len());
            let _ = read_safetensors(&bytes[..cut]);
            let mut bad = bytes.clone();
            let p = pos % bad.len();
            bad[p] = byte;
            let _ = read_safetensors(&bad);
        }
    }
}
