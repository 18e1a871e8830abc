//! NumPy `.npy` files (format versions 1.0, 2.0 and 3.0), read and written.
//!
//! Dtype conventions (the `descr` of the header):
//!
//! | Tessera | written | also read |
//! | --- | --- | --- |
//! | `f32` | `<f4` | `>f4` |
//! | `f16` | `<f2` | `>f2` |
//! | `bf16` | `<V2` (as NumPy saves `ml_dtypes.bfloat16`) | `\|V2`, `<u2`, `>u2` when `bf16` is expected |
//! | `f8e4m3`, `f8e5m2` | `\|V1` | `<V1`, `\|u1`, `<u1` when the dtype is expected; `<f1` (as NumPy saves `ml_dtypes.float8_e5m2`) is `f8e5m2` |
//! | `i8` | `\|i1` | `<i1` |
//! | `i32` | `<i4` | `>i4` |
//! | `bool` | `\|b1` | |
//!
//! A `V2` file read without an expected dtype is `bf16`; a `V1`/`u1` file needs the expected
//! dtype to say which FP8 format it holds. Any other dtype is an error, never a silent
//! conversion. Fortran-order arrays are rejected.

use crate::raw;
use crate::tensor::{element_count, Tensor};
use std::fmt::Write as _;
use std::path::Path;
use tessera_dialects::DType;

/// Errors reading or writing `.npy` data; the messages are meant for users.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum NpyError {
    #[error("not a .npy file (it does not start with the \\x93NUMPY magic string)")]
    BadMagic,
    #[error("truncated .npy file: {0}")]
    Truncated(String),
    #[error("unsupported .npy format version {0}.{1} (1.0, 2.0 and 3.0 are supported)")]
    Version(u8, u8),
    #[error("malformed .npy header: {0}")]
    Header(String),
    #[error("Fortran-order arrays are not supported; save with np.ascontiguousarray")]
    FortranOrder,
    #[error("unsupported dtype: file holds {0}; Tessera reads f32 (<f4), f16 (<f2), bf16 (<V2), f8e4m3/f8e5m2 (|V1), i8 (|i1), i32 (<i4) and bool (|b1)")]
    UnsupportedDtype(String),
    #[error("dtype mismatch: file holds {found}, expected {expected}")]
    DtypeMismatch { found: String, expected: DType },
    #[error("file holds raw 1-byte values ({0}); the expected dtype must say whether they are f8e4m3 or f8e5m2")]
    AmbiguousFp8(String),
    #[error("data length mismatch: shape {shape:?} of {dtype} needs {expected} bytes but the file holds {actual}")]
    DataLength {
        shape: Vec<usize>,
        dtype: String,
        expected: usize,
        actual: usize,
    },
    #[error("shape {0:?} is too large")]
    TooLarge(Vec<usize>),
    #[error("{0}")]
    Io(String),
}

/// A parsed `descr`: byte order, kind letter and item size.
#[derive(Clone, Debug, PartialEq)]
struct Descr {
    text: String,
    big_endian: bool,
    kind: char,
    size: usize,
}

impl Descr {
    fn parse(text: &str) -> Option<Descr> {
        let mut chars = text.chars();
        let order = chars.next()?;
        let (big_endian, rest) = match order {
            '<' | '|' | '=' => (false, &text[1..]),
            '>' | '!' => (true, &text[1..]),
            _ => (false, text),
        };
        let mut rc = rest.chars();
        let kind = rc.next()?;
        let size: usize = rc.as_str().parse().ok()?;
        Some(Descr {
            text: text.to_string(),
            big_endian,
            kind,
            size,
        })
    }

    /// A user-facing name: "f64 (<f8)".
    fn describe(&self) -> String {
        let name = match (self.kind, self.size) {
            ('f', n) => format!("f{}", n * 8),
            ('i', n) => format!("i{}", n * 8),
            ('u', n) => format!("u{}", n * 8),
            ('b', 1) => "bool".to_string(),
            ('c', n) => format!("complex{}", n * 8),
            ('V', n) => format!("raw {n}-byte values"),
            ('U', _) | ('S', _) => "strings".to_string(),
            ('O', _) => "Python objects".to_string(),
            ('M', _) | ('m', _) => "dates/times".to_string(),
            _ => "an unknown dtype".to_string(),
        };
        format!("{name} ({})", self.text)
    }

    /// The Tessera dtype the descr stands for by itself, if any.
    fn natural(&self) -> Option<DType> {
        match (self.kind, self.size) {
            ('f', 4) => Some(DType::F32),
            ('f', 2) => Some(DType::F16),
            ('i', 1) => Some(DType::I8),
            ('i', 4) => Some(DType::I32),
            ('b', 1) => Some(DType::Bool),
            ('V', 2) => Some(DType::BF16),
            // ml_dtypes saves `float8_e5m2` with the float kind (`<f1`); `float8_e4m3fn`
            // is `<V1`, which needs the expected dtype.
            ('f', 1) => Some(DType::F8E5M2),
            _ => None,
        }
    }

    /// Whether the descr is a raw-bit encoding of `dt` (ml_dtypes conventions).
    fn raw_bits_of(&self, dt: DType) -> bool {
        match dt {
            DType::F8E4M3 => matches!((self.kind, self.size), ('u', 1) | ('V', 1)),
            DType::F8E5M2 => matches!((self.kind, self.size), ('u', 1) | ('V', 1) | ('f', 1)),
            DType::BF16 => matches!((self.kind, self.size), ('u', 2) | ('V', 2)),
            _ => false,
        }
    }
}

/// A value of the header dictionary (the Python literals NumPy writes).
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
    Other,
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> NpyError {
        NpyError::Header(format!("{what} at offset {} of the header", self.pos))
    }

    fn ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn string(&mut self) -> Result<String, NpyError> {
        let q = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(self.err("expected a quoted string")),
        };
        self.pos += 1;
        let start = self.pos;
        while self.pos < self.s.len() && self.s[self.pos] != q {
            if self.s[self.pos] == b'\\' {
                return Err(self.err("escape sequences in strings are not supported"));
            }
            self.pos += 1;
        }
        if self.pos >= self.s.len() {
            return Err(self.err("unterminated string"));
        }
        let text = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        self.pos += 1;
        Ok(text)
    }

    fn int(&mut self) -> Result<u64, NpyError> {
        self.ws();
        let start = self.pos;
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.err("expected a non-negative integer in the shape"));
        }
        let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
        let v = text
            .parse::<u64>()
            .map_err(|_| self.err("shape dimension too large"))?;
        // Python 2 long suffix.
        if self.s.get(self.pos) == Some(&b'L') {
            self.pos += 1;
        }
        Ok(v)
    }

    fn tuple(&mut self, close: u8) -> Result<Vec<u64>, NpyError> {
        let mut out = Vec::new();
        loop {
            if self.eat(close) {
                return Ok(out);
            }
            out.push(self.int()?);
            if self.eat(b',') {
                continue;
            }
            if self.eat(close) {
                return Ok(out);
            }
            return Err(self.err("expected `,` or the end of the shape"));
        }
    }

    /// Skips a value we do not interpret (for example a structured descr list).
    fn skip_value(&mut self) -> Result<(), NpyError> {
        let mut depth = 0usize;
        loop {
            match self.peek() {
                None => return Err(self.err("unexpected end of the header")),
                Some(b'\'' | b'"') => {
                    self.string()?;
                }
                Some(b'(' | b'[' | b'{') => {
                    depth += 1;
                    self.pos += 1;
                }
                Some(b')' | b']' | b'}') if depth > 0 => {
                    depth -= 1;
                    self.pos += 1;
                }
                Some(b',' | b'}') if depth == 0 => return Ok(()),
                Some(_) => self.pos += 1,
            }
            if depth == 0 && matches!(self.peek(), Some(b',' | b'}')) {
                return Ok(());
            }
        }
    }

    fn value(&mut self) -> Result<Value, NpyError> {
        match self.peek() {
            Some(b'\'' | b'"') => Ok(Value::Str(self.string()?)),
            Some(b'(') => {
                self.pos += 1;
                Ok(Value::Tuple(self.tuple(b')')?))
            }
            Some(b'[') => {
                // A list: a shape written as a list, or a structured descr.
                let save = self.pos;
                self.pos += 1;
                match self.tuple(b']') {
                    Ok(t) => Ok(Value::Tuple(t)),
                    Err(_) => {
                        self.pos = save;
                        self.skip_value()?;
                        Ok(Value::Other)
                    }
                }
            }
            Some(b'T') if self.s[self.pos..].starts_with(b"True") => {
                self.pos += 4;
                Ok(Value::Bool(true))
            }
            Some(b'F') if self.s[self.pos..].starts_with(b"False") => {
                self.pos += 5;
                Ok(Value::Bool(false))
            }
            Some(_) => {
                self.skip_value()?;
                Ok(Value::Other)
            }
            None => Err(self.err("unexpected end of the header")),
        }
    }

    fn dict(&mut self) -> Result<Vec<(String, Value)>, NpyError> {
        if !self.eat(b'{') {
            return Err(self.err("expected `{`"));
        }
        let mut out = Vec::new();
        loop {
            if self.eat(b'}') {
                break;
            }
            let key = self.string()?;
            if !self.eat(b':') {
                return Err(self.err("expected `:`"));
            }
            let v = self.value()?;
            out.push((key, v));
            if self.eat(b',') {
                continue;
            }
            if self.eat(b'}') {
                break;
            }
            return Err(self.err("expected `,` or `}`"));
        }
        self.ws();
        if self.pos != self.s.len() {
            return Err(self.err("unexpected text after the dictionary"));
        }
        Ok(out)
    }
}

struct Header {
    descr: Descr,
    shape: Vec<usize>,
}

fn parse_header(text: &[u8]) -> Result<Header, NpyError> {
    // Padding may include NULs in some writers; treat them as whitespace at the end.
    let end = text
        .iter()
        .rposition(|&b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0))
        .map_or(0, |p| p + 1);
    let mut p = Parser {
        s: &text[..end],
        pos: 0,
    };
    let dict = p.dict()?;
    let get = |k: &str| dict.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let descr = match get("descr") {
        Some(Value::Str(s)) => {
            Descr::parse(s).ok_or_else(|| NpyError::UnsupportedDtype(format!("`{s}`")))?
        }
        Some(_) => return Err(NpyError::UnsupportedDtype("a structured dtype".to_string())),
        None => return Err(NpyError::Header("the header has no 'descr' key".into())),
    };
    match get("fortran_order") {
        Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => return Err(NpyError::FortranOrder),
        Some(_) => {
            return Err(NpyError::Header(
                "'fortran_order' must be True or False".into(),
            ))
        }
        None => {
            return Err(NpyError::Header(
                "the header has no 'fortran_order' key".into(),
            ))
        }
    }
    let shape = match get("shape") {
        Some(Value::Tuple(t)) => t
            .iter()
            .map(|&d| {
                usize::try_from(d).map_err(|_| NpyError::Header("dimension too large".into()))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => {
            return Err(NpyError::Header(
                "'shape' must be a tuple of integers".into(),
            ))
        }
        None => return Err(NpyError::Header("the header has no 'shape' key".into())),
    };
    Ok(Header { descr, shape })
}

/// Reads `.npy` bytes. With `expected`, the file must hold that dtype (or its raw-bit
/// encoding, see the module documentation); without it, the file's own dtype is used.
pub fn read_npy(bytes: &[u8], expected: Option<DType>) -> Result<Tensor, NpyError> {
    if bytes.len() < 6 || &bytes[..6] != b"\x93NUMPY" {
        return Err(NpyError::BadMagic);
    }
    if bytes.len() < 8 {
        return Err(NpyError::Truncated("the version is missing".into()));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (len_size, header_len) = match major {
        1 => {
            let b = bytes
                .get(8..10)
                .ok_or_else(|| NpyError::Truncated("the header length is missing".into()))?;
            (2, usize::from(u16::from_le_bytes([b[0], b[1]])))
        }
        2 | 3 => {
            let b = bytes
                .get(8..12)
                .ok_or_else(|| NpyError::Truncated("the header length is missing".into()))?;
            let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            (
                4,
                usize::try_from(n).map_err(|_| NpyError::Header("header too long".into()))?,
            )
        }
        _ => return Err(NpyError::Version(major, minor)),
    };
    if minor != 0 {
        return Err(NpyError::Version(major, minor));
    }
    let start: usize = 8 + len_size;
    let data_start = start
        .checked_add(header_len)
        .ok_or_else(|| NpyError::Header("header too long".into()))?;
    let header = bytes.get(start..data_start).ok_or_else(|| {
        NpyError::Truncated(format!(
            "the header should be {header_len} bytes but the file ends first"
        ))
    })?;
    let header = parse_header(header)?;
    let descr = header.descr;

    let dtype = match expected {
        Some(want) => {
            if descr.natural() == Some(want) || descr.raw_bits_of(want) {
                want
            } else {
                return Err(NpyError::DtypeMismatch {
                    found: descr.describe(),
                    expected: want,
                });
            }
        }
        None => match descr.natural() {
            Some(d) => d,
            None if matches!((descr.kind, descr.size), ('u', 1) | ('V', 1)) => {
                return Err(NpyError::AmbiguousFp8(descr.text.clone()))
            }
            None => return Err(NpyError::UnsupportedDtype(descr.describe())),
        },
    };
    debug_assert_eq!(descr.size, dtype.size_bytes());

    let shape = header.shape;
    let n = element_count(&shape).ok_or_else(|| NpyError::TooLarge(shape.clone()))?;
    let need = n
        .checked_mul(descr.size)
        .ok_or_else(|| NpyError::TooLarge(shape.clone()))?;
    let data = &bytes[data_start..];
    if data.len() != need {
        return Err(NpyError::DataLength {
            shape,
            dtype: descr.describe(),
            expected: need,
            actual: data.len(),
        });
    }
    let values = if descr.big_endian && descr.size > 1 {
        let mut swapped = data.to_vec();
        for c in swapped.chunks_exact_mut(descr.size) {
            c.reverse();
        }
        raw::from_le_bytes(dtype, &swapped)
    } else {
        raw::from_le_bytes(dtype, data)
    };
    Tensor::new(dtype, shape, values).map_err(|e| NpyError::Header(e.to_string()))
}

/// The `descr` written for each dtype.
pub fn npy_descr(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "<f4",
        DType::F16 => "<f2",
        DType::BF16 => "<V2",
        DType::F8E4M3 | DType::F8E5M2 => "|V1",
        DType::I8 => "|i1",
        DType::I32 => "<i4",
        DType::Bool => "|b1",
    }
}

/// Writes a tensor as `.npy` bytes (format 1.0, or 2.0 when the header needs it), with the
/// header padded so the data starts at a multiple of 64 bytes.
pub fn write_npy(t: &Tensor) -> Vec<u8> {
    let mut shape = String::from("(");
    for (i, d) in t.shape().iter().enumerate() {
        if i > 0 {
            shape.push_str(", ");
        }
        let _ = write!(shape, "{d}");
    }
    if t.rank() == 1 {
        shape.push(',');
    }
    shape.push(')');
    let dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
        npy_descr(t.dtype()),
        shape
    );
    let (version, len_size) = if dict.len() + 1 + 10 <= 65535 {
        (1u8, 2usize)
    } else {
        (2u8, 4usize)
    };
    let prefix = 8 + len_size;
    let unpadded = prefix + dict.len() + 1;
    let total = unpadded.div_ceil(64) * 64;
    let header_len = total - prefix;
    let mut out = Vec::with_capacity(total + t.len() * t.dtype().size_bytes());
    out.extend_from_slice(b"\x93NUMPY");
    out.push(version);
    out.push(0);
    if len_size == 2 {
        out.extend((header_len as u16).to_le_bytes());
    } else {
        out.extend((header_len as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out.extend(raw::to_le_bytes(t));
    out
}

/// Reads a `.npy` file; I/O errors name the path.
pub fn read_npy_file(path: impl AsRef<Path>, expected: Option<DType>) -> Result<Tensor, NpyError> {
    let path = path.as_ref();
    let bytes = crate::read::read_bounded(path)
        .map_err(|e| NpyError::Io(format!("cannot read {}: {e}", path.display())))?;
    read_npy(&bytes, expected)
}

/// Writes a `.npy` file atomically: the bytes go to a temporary file in the same directory,
/// which is then renamed over `path`, so no partial output file is ever left.
pub fn write_npy_file(path: impl AsRef<Path>, t: &Tensor) -> Result<(), NpyError> {
    let path = path.as_ref();
    write_atomic(path, &write_npy(t)).map_err(NpyError::Io)
}

pub use crate::staged::write_atomic;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(dtype: DType, shape: &[usize]) -> Tensor {
        let n = shape.iter().product::<usize>();
        let vals: Vec<f32> = (0..n).map(|i| i as f32 * 0.75 - 3.0).collect();
        Tensor::from_f32(dtype, shape.to_vec(), vals).unwrap()
    }

    /// Builds an npy file from a raw header dict and data.
    fn npy_with(version: u8, dict: &str, data: &[u8]) -> Vec<u8> {
        let mut out = b"\x93NUMPY".to_vec();
        out.push(version);
        out.push(0);
        let header = format!("{dict}\n");
        if version == 1 {
            out.extend((header.len() as u16).to_le_bytes());
        } else {
            out.extend((header.len() as u32).to_le_bytes());
        }
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn round_trip_every_dtype_and_rank() {
        for dt in DType::ALL {
            for shape in [vec![], vec![0], vec![5], vec![2, 3], vec![2, 1, 4]] {
                let t = sample(dt, &shape);
                let bytes = write_npy(&t);
                assert_eq!(bytes.len() % 64, (t.len() * dt.size_bytes()) % 64);
                let back = read_npy(&bytes, Some(dt)).unwrap();
                assert_eq!(back, t, "{dt} {shape:?}");
                match dt {
                    DType::F8E4M3 | DType::F8E5M2 => {
                        assert!(matches!(
                            read_npy(&bytes, None),
                            Err(NpyError::AmbiguousFp8(_))
                        ))
                    }
                    _ => assert_eq!(read_npy(&bytes, None).unwrap(), t),
                }
            }
        }
    }

    #[test]
    fn header_text_matches_numpy() {
        let t = sample(DType::F32, &[2, 3]);
        let b = write_npy(&t);
        let hl = usize::from(u16::from_le_bytes([b[8], b[9]]));
        assert_eq!((10 + hl) % 64, 0);
        let text = String::from_utf8_lossy(&b[10..10 + hl]);
        assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
        assert!(text.ends_with('\n'));
        let one = write_npy(&sample(DType::I8, &[7]));
        assert!(String::from_utf8_lossy(&one).contains("'shape': (7,)"));
        let zero = write_npy(&sample(DType::Bool, &[]));
        assert!(String::from_utf8_lossy(&zero).contains("'shape': ()"));
    }

    #[test]
    fn parses_varied_headers() {
        let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        for dict in [
            "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}",
            "{\"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(2,3)}   ",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }                 ",
            "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}",
        ] {
            for v in [1u8, 2, 3] {
                let t = read_npy(&npy_with(v, dict, &data), None).unwrap();
                assert_eq!(t.shape(), &[2, 3], "{dict}");
                assert_eq!(t.to_f32_vec(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
            }
        }
        let t = read_npy(
            &npy_with(
                1,
                "{'descr': '<i4', 'fortran_order': False, 'shape': ()}",
                &7i32.to_le_bytes(),
            ),
            Some(DType::I32),
        )
        .unwrap();
        assert_eq!(t.shape(), &[] as &[usize]);
        assert_eq!(t.ints().unwrap(), &[7]);
    }

    #[test]
    fn big_endian_is_converted() {
        let data: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|x| x.to_be_bytes())
            .collect();
        let t = read_npy(
            &npy_with(
                1,
                "{'descr': '>f4', 'fortran_order': False, 'shape': (2,)}",
                &data,
            ),
            Some(DType::F32),
        )
        .unwrap();
        assert_eq!(t.to_f32_vec(), vec![1.5, -2.0]);
        let data: Vec<u8> = [7i32, -9].iter().flat_map(|x| x.to_be_bytes()).collect();
        let t = read_npy(
            &npy_with(
                1,
                "{'descr': '>i4', 'fortran_order': False, 'shape': (2,)}",
                &data,
            ),
            None,
        )
        .unwrap();
        assert_eq!(t.ints().unwrap(), &[7, -9]);
    }

    #[test]
    fn raw_bit_encodings() {
        // bf16 as ml_dtypes saves it, and as uint16.
        let bits: Vec<u8> = [0x3F80u16, 0xC000]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        for descr in ["<V2", "|V2", "<u2"] {
            let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2,)}}");
            let t = read_npy(&npy_with(1, &dict, &bits), Some(DType::BF16)).unwrap();
            assert_eq!(t.to_f32_vec(), vec![1.0, -2.0]);
        }
        // FP8 as raw bytes.
        for descr in ["|V1", "<V1", "|u1", "<u1"] {
            let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2,)}}");
            let f = npy_with(1, &dict, &[0x38, 0xFC]);
            let t = read_npy(&f, Some(DType::F8E4M3)).unwrap();
            assert_eq!(t.to_f32_vec(), vec![1.0, -384.0]);
            let t = read_npy(&f, Some(DType::F8E5M2)).unwrap();
            assert_eq!(t.to_f32_vec(), vec![0.5, f32::NEG_INFINITY]);
            assert!(read_npy(&f, Some(DType::I8)).is_err());
        }
        // `<f1`, as NumPy saves `ml_dtypes.float8_e5m2`: f8e5m2 with or without the
        // expected dtype, never f8e4m3.
        let dict = "{'descr': '<f1', 'fortran_order': False, 'shape': (2,)}";
        let f = npy_with(1, dict, &[0x38, 0xFC]);
        for want in [Some(DType::F8E5M2), None] {
            let t = read_npy(&f, want).unwrap();
            assert_eq!(t.dtype(), DType::F8E5M2);
            assert_eq!(t.to_f32_vec(), vec![0.5, f32::NEG_INFINITY]);
        }
        assert!(read_npy(&f, Some(DType::F8E4M3)).is_err());
    }

    #[test]
    fn errors_are_clear() {
        let f8 = npy_with(
            1,
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,)}",
            &[0; 8],
        );
        let e = read_npy(&f8, Some(DType::F32)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "dtype mismatch: file holds f64 (<f8), expected f32"
        );
        let e = read_npy(&f8, None).unwrap_err();
        assert!(e.to_string().contains("f64 (<f8)"), "{e}");
        let f4 = sample(DType::F32, &[2]);
        let e = read_npy(&write_npy(&f4), Some(DType::F16)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "dtype mismatch: file holds f32 (<f4), expected f16"
        );
        let fo = npy_with(
            1,
            "{'descr': '<f4', 'fortran_order': True, 'shape': (1,)}",
            &[0; 4],
        );
        assert_eq!(
            read_npy(&fo, None).unwrap_err().to_string(),
            "Fortran-order arrays are not supported; save with np.ascontiguousarray"
        );
        let short = npy_with(
            1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
            &[0; 4],
        );
        assert!(matches!(
            read_npy(&short, None),
            Err(NpyError::DataLength {
                expected: 8,
                actual: 4,
                ..
            })
        ));
        let long = npy_with(
            1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
            &[0; 8],
        );
        assert!(matches!(
            read_npy(&long, None),
            Err(NpyError::DataLength { .. })
        ));
        assert!(matches!(
            read_npy(b"PK\x03\x04", None),
            Err(NpyError::BadMagic)
        ));
        let huge = npy_with(
            1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296)}",
            &[],
        );
        assert!(matches!(read_npy(&huge, None), Err(NpyError::TooLarge(_))));
        let structured = npy_with(
            1,
            "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,)}",
            &[0; 8],
        );
        assert!(matches!(
            read_npy(&structured, None),
            Err(NpyError::UnsupportedDtype(_))
        ));
        let v = npy_with(4, "{}", &[]);
        assert!(matches!(read_npy(&v, None), Err(NpyError::Version(4, 0))));
    }

    #[test]
    fn file_write_is_atomic_and_reports_errors() {
        let dir = std::env::temp_dir().join(format!("tessera-npy-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.npy");
        let t = sample(DType::BF16, &[3, 2]);
        write_npy_file(&path, &t).unwrap();
        assert_eq!(read_npy_file(&path, Some(DType::BF16)).unwrap(), t);
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        let missing = dir.join("no-such-dir").join("x.npy");
        let e = write_npy_file(&missing, &t).unwrap_err();
        assert!(e.to_string().contains("cannot write"), "{e}");
        assert!(!missing.exists());
        let e = read_npy_file(dir.join("absent.npy"), None).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), dt in 0usize..9) {
            let expected = DType::ALL.get(dt).copied();
            let _ = read_npy(&bytes, expected);
            let mut with_magic = b"\x93NUMPY\x01\x00".to_vec();
            with_magic.extend(&bytes);
            let _ = read_npy(&with_magic, expected);
        }

        #[test]
        fn truncations_and_corruptions_never_panic(dt in 0usize..8, cut in 0usize..200, pos in 0usize..200, byte in any::<u8>()) {
            let t = sample(DType::ALL[dt], &[3, 4]);
            let bytes = write_npy(&t);
            let cut = cut.min(bytes.len());
            if cut < bytes.len() {
                prop_assert!(read_npy(&bytes[..cut], Some(DType::ALL[dt])).is_err());
            }
            let mut bad = bytes.clone();
            let pos = pos % bad.len();
            bad[pos] = byte;
            let _ = read_npy(&bad, Some(DType::ALL[dt]));
            let _ = read_npy(&bad, None);
        }
    }
}
