//! A compiled function's launch plan: what [`crate::exec`] needs to run it, and its binary
//! form, which ahead-of-time artifacts embed and the JIT builds in memory.
//!
//! A plan names the function's symbolic sizes, lists size expressions (small postfix
//! programs over those sizes), the function's arguments (inputs, then outputs) with their
//! dtypes and dimensions, the buffers (arguments and temporaries), and the kernel launches
//! in order. The compiler writes it ([`Plan::encode`]); the runtime reads it back
//! ([`Plan::decode`]) and checks that every index in it is in range, so a corrupt plan is an
//! error, never an out-of-bounds access by the runtime itself.
//!
//! # Binary form (version 1)
//!
//! Little-endian throughout. `u32` counts and indices, `i64`/`u64` values, strings as a
//! `u32` byte length and UTF-8 bytes, lists as a `u32` length and their items:
//!
//! ```text
//! "TSRP" u32:version
//! str:name  u32:n_kernels  [str]:symbols
//! [expr]    expr = [op], op = u8 tag: 0 const(i64) | 1 sym(u32) | 2 add | 3 mul | 4 floordiv
//! [arg]     arg  = str:name u32:dtype [u32 expr]:dims u8:is_output
//! [buffer]  buffer = u8 tag: 0 arg(u32) | 1 temp(u32:dtype [u32 expr]:dims)
//! [launch]  launch = str:name u32:kernel [karg]:args [u32 expr]:size_table [u32 expr]:grid
//!                    u64:frame_bytes i64:status (-1: none)
//!           karg = u32:buffer [u32 expr]:dims | u32::MAX (private)
//! [copy]    copy = u32:from_buffer u32:to_buffer   (after the launches)
//! ```

use crate::dtype::DType;
use crate::error::{Error, ErrorCode, Result};

/// The version of the binary form this runtime reads.
pub const PLAN_VERSION: u32 = 2;

const MAGIC: &[u8; 4] = b"TSRP";

/// One step of a size expression, evaluated on a stack with checked `i64` arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeOp {
    Const(i64),
    /// The value of symbol `k` (an index into [`Plan::symbols`]).
    Sym(u32),
    Add,
    Mul,
    /// Floor division (rounds toward negative infinity).
    FloorDiv,
}

/// A size expression in postfix form.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SizeExpr(pub Vec<SizeOp>);

impl SizeExpr {
    /// Evaluates the expression with the symbol values `syms` (`None`: unbound).
    pub fn eval(&self, syms: &[Option<i64>], names: &[String]) -> Result<i64> {
        let mut stack: Vec<i64> = Vec::with_capacity(8);
        let overflow = || Error::bad_argument("a size expression overflows");
        for op in &self.0 {
            match *op {
                SizeOp::Const(c) => stack.push(c),
                SizeOp::Sym(k) => match syms.get(k as usize).copied().flatten() {
                    Some(v) => stack.push(v),
                    None => {
                        let name = names.get(k as usize).map_or("?", |s| s.as_str());
                        return Err(Error::new(
                            ErrorCode::ShapeMismatch,
                            format!("size `{name}` is not bound by any argument"),
                        ));
                    }
                },
                SizeOp::Add | SizeOp::Mul | SizeOp::FloorDiv => {
                    let (Some(b), Some(a)) = (stack.pop(), stack.pop()) else {
                        return Err(malformed("size expression stack underflow"));
                    };
                    let v = match *op {
                        SizeOp::Add => a.checked_add(b).ok_or_else(overflow)?,
                        SizeOp::Mul => a.checked_mul(b).ok_or_else(overflow)?,
                        _ => {
                            if b == 0 {
                                return Err(Error::bad_argument(
                                    "division by zero in a size expression",
                                ));
                            }
                            floor_div(a, b).ok_or_else(overflow)?
                        }
                    };
                    stack.push(v);
                }
            }
        }
        match stack.as_slice() {
            [v] => Ok(*v),
            _ => Err(malformed("a size expression leaves no single value")),
        }
    }

    /// The expression as text over the symbol names `names` (`2*N + 1`), for messages.
    pub fn render(&self, names: &[String]) -> String {
        // Each entry: the text, and whether it is a sum (to parenthesise under `*`, `/`).
        let mut stack: Vec<(String, bool)> = Vec::new();
        for op in &self.0 {
            match *op {
                SizeOp::Const(c) => stack.push((c.to_string(), false)),
                SizeOp::Sym(k) => stack.push((
                    names.get(k as usize).cloned().unwrap_or_else(|| "?".into()),
                    false,
                )),
                SizeOp::Add | SizeOp::Mul | SizeOp::FloorDiv => {
                    let (Some((b, bsum)), Some((a, asum))) = (stack.pop(), stack.pop()) else {
                        return "?".into();
                    };
                    let wrap = |t: String, sum: bool| if sum { format!("({t})") } else { t };
                    stack.push(match *op {
                        // `a + -c` reads `a - c`; a compound right side keeps its sign.
                        SizeOp::Add => {
                            match b.strip_prefix('-').filter(|n| n.parse::<i64>().is_ok()) {
                                Some(neg) => (format!("{a} - {neg}"), true),
                                None => (format!("{a} + {}", wrap(b, bsum)), true),
                            }
                        }
                        SizeOp::Mul => (format!("{}*{}", wrap(a, asum), wrap(b, bsum)), false),
                        _ => (format!("{} / {}", wrap(a, asum), wrap(b, bsum)), false),
                    });
                }
            }
        }
        match stack.as_slice() {
            [(t, _)] => t.clone(),
            _ => "?".into(),
        }
    }

    /// The symbol this expression is, if it is exactly one symbol.
    pub fn as_sym(&self) -> Option<u32> {
        match self.0.as_slice() {
            [SizeOp::Sym(k)] => Some(*k),
            _ => None,
        }
    }

    /// The constant this expression is, if it is exactly one constant.
    pub fn as_const(&self) -> Option<i64> {
        match self.0.as_slice() {
            [SizeOp::Const(c)] => Some(*c),
            _ => None,
        }
    }
}

/// `floor(a / b)` for `b != 0`, `None` on overflow.
fn floor_div(a: i64, b: i64) -> Option<i64> {
    let q = a.checked_div(b)?;
    if (a % b != 0) && ((a < 0) != (b < 0)) {
        q.checked_sub(1)
    } else {
        Some(q)
    }
}

/// An argument of the function: an input, or an output the caller allocates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgSpec {
    pub name: String,
    pub dtype: DType,
    /// Expression indices of the dimensions.
    pub dims: Vec<u32>,
    pub output: bool,
}

/// A buffer of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BufSpec {
    /// The data of argument `i`.
    Arg(u32),
    /// An intermediate in the arena.
    Temp { dtype: DType, dims: Vec<u32> },
}

/// A kernel argument: a buffer of the plan, or a private (scratch) buffer that lives in the
/// kernel's frame (passed as null).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelArg {
    /// Buffer `buf`, which the kernel sees with dimensions `dims` (expression indices: a
    /// view of the same number of elements). The runner checks the element counts agree.
    Buffer {
        buf: u32,
        dims: Vec<u32>,
    },
    Private,
}

/// One kernel launch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchSpec {
    /// The kernel's name, for messages.
    pub name: String,
    /// The index of the kernel's entry in the kernel table.
    pub kernel: u32,
    pub args: Vec<KernelArg>,
    /// Expression indices of the kernel's size table.
    pub sizes: Vec<u32>,
    /// Expression indices of the grid's axes.
    pub grid: Vec<u32>,
    /// Bytes of frame one call needs.
    pub frame_bytes: u64,
    /// The frame offset of the status word, if the kernel checks anything at run time.
    pub status_offset: Option<u64>,
}

/// A slice whose bounds depend on symbolic sizes, checked on entry: axis `axis` of an
/// operand of size `dim` must hold `start..end` ([`slice_bounds_error`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceSpec {
    /// Expression indices of the operand's size and of the bounds, as written.
    pub dim: u32,
    pub start: u32,
    pub end: u32,
    pub axis: u32,
    /// The operation, where it is and its bounds as written (`graph.slice at f.tsr:2:5,
    /// bounds B - 3:B`), for the message.
    pub what: String,
}

/// Why `start..end` is not a slice of an axis of size `dim`, or `None`. Bounds are as the
/// frontend wrote them into the IR: a negative index of the source is already `dim + c`
/// there, so a negative bound here is out of range, not counted from the end. The slice
/// must lie inside the axis and not be empty (DSL.md).
pub fn slice_bounds_error(dim: i64, start: i64, end: i64, axis: usize) -> Option<String> {
    if start < 0 || end > dim || start > end {
        Some(format!(
            "slice {start}:{end} is out of range for axis {axis} of size {dim}"
        ))
    } else if start == end {
        Some(format!(
            "slice {start}:{end} of axis {axis} (size {dim}) is empty; slices must not be empty"
        ))
    } else {
        None
    }
}

/// A compiled function's plan.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Plan {
    pub name: String,
    pub n_kernels: u32,
    pub symbols: Vec<String>,
    pub exprs: Vec<SizeExpr>,
    pub args: Vec<ArgSpec>,
    pub buffers: Vec<BufSpec>,
    pub launches: Vec<LaunchSpec>,
    /// Buffer-to-buffer copies after the launches (an output that is an input, or a value
    /// returned twice).
    pub copies: Vec<(u32, u32)>,
    /// Slices over symbolic sizes, checked when the sizes are bound.
    pub slice_checks: Vec<SliceSpec>,
}

fn malformed(what: &str) -> Error {
    Error::new(ErrorCode::Internal, format!("malformed plan: {what}"))
}

impl Plan {
    /// Fixes symbol `name` to `value`: every expression uses the constant instead, so the
    /// plan accepts only arguments of that size. Returns whether the plan had the symbol.
    pub fn specialize(&mut self, name: &str, value: i64) -> bool {
        let Some(k) = self.symbols.iter().position(|s| s == name) else {
            return false;
        };
        for e in &mut self.exprs {
            for op in &mut e.0 {
                if *op == SizeOp::Sym(k as u32) {
                    *op = SizeOp::Const(value);
                }
            }
        }
        true
    }

    /// The binary form.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.0.extend_from_slice(MAGIC);
        w.u32(PLAN_VERSION);
        w.str(&self.name);
        w.u32(self.n_kernels);
        w.len(self.symbols.len());
        for s in &self.symbols {
            w.str(s);
        }
        w.len(self.exprs.len());
        for e in &self.exprs {
            w.len(e.0.len());
            for op in &e.0 {
                match *op {
                    SizeOp::Const(c) => {
                        w.u8(0);
                        w.i64(c);
                    }
                    SizeOp::Sym(k) => {
                        w.u8(1);
                        w.u32(k);
                    }
                    SizeOp::Add => w.u8(2),
                    SizeOp::Mul => w.u8(3),
                    SizeOp::FloorDiv => w.u8(4),
                }
            }
        }
        w.len(self.args.len());
        for a in &self.args {
            w.str(&a.name);
            w.u32(a.dtype.code());
            w.u32s(&a.dims);
            w.u8(u8::from(a.output));
        }
        w.len(self.buffers.len());
        for b in &self.buffers {
            match b {
                BufSpec::Arg(i) => {
                    w.u8(0);
                    w.u32(*i);
                }
                BufSpec::Temp { dtype, dims } => {
                    w.u8(1);
                    w.u32(dtype.code());
                    w.u32s(dims);
                }
            }
        }
        w.len(self.launches.len());
        for l in &self.launches {
            w.str(&l.name);
            w.u32(l.kernel);
            w.len(l.args.len());
            for a in &l.args {
                match a {
                    KernelArg::Buffer { buf, dims } => {
                        w.u32(*buf);
                        w.u32s(dims);
                    }
                    KernelArg::Private => w.u32(u32::MAX),
                }
            }
            w.u32s(&l.sizes);
            w.u32s(&l.grid);
            w.u64(l.frame_bytes);
            w.i64(l.status_offset.map_or(-1, |o| o as i64));
        }
        w.len(self.copies.len());
        for (a, b) in &self.copies {
            w.u32(*a);
            w.u32(*b);
        }
        w.len(self.slice_checks.len());
        for c in &self.slice_checks {
            w.u32s(&[c.dim, c.start, c.end, c.axis]);
            w.str(&c.what);
        }
        w.0
    }

    /// Reads and validates a plan.
    pub fn decode(bytes: &[u8]) -> Result<Plan> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err(malformed("bad magic"));
        }
        let version = r.u32()?;
        if version != PLAN_VERSION {
            return Err(Error::new(
                ErrorCode::BadArgument,
                format!(
                    "the plan has version {version}, this runtime reads version {PLAN_VERSION}"
                ),
            ));
        }
        let name = r.str()?;
        let n_kernels = r.u32()?;
        let symbols = r.list(|r| r.str())?;
        let exprs = r.list(|r| {
            r.list(|r| {
                Ok(match r.u8()? {
                    0 => SizeOp::Const(r.i64()?),
                    1 => SizeOp::Sym(r.u32()?),
                    2 => SizeOp::Add,
                    3 => SizeOp::Mul,
                    4 => SizeOp::FloorDiv,
                    t => return Err(malformed(&format!("size op tag {t}"))),
                })
            })
            .map(SizeExpr)
        })?;
        let args = r.list(|r| {
            Ok(ArgSpec {
                name: r.str()?,
                dtype: r.dtype()?,
                dims: r.list(|r| r.u32())?,
                output: match r.u8()? {
                    0 => false,
                    1 => true,
                    b => return Err(malformed(&format!("output flag {b}"))),
                },
            })
        })?;
        let buffers = r.list(|r| {
            Ok(match r.u8()? {
                0 => BufSpec::Arg(r.u32()?),
                1 => BufSpec::Temp {
                    dtype: r.dtype()?,
                    dims: r.list(|r| r.u32())?,
                },
                t => return Err(malformed(&format!("buffer tag {t}"))),
            })
        })?;
        let launches = r.list(|r| {
            Ok(LaunchSpec {
                name: r.str()?,
                kernel: r.u32()?,
                args: r.list(|r| {
                    let buf = r.u32()?;
                    Ok(if buf == u32::MAX {
                        KernelArg::Private
                    } else {
                        KernelArg::Buffer {
                            buf,
                            dims: r.list(|r| r.u32())?,
                        }
                    })
                })?,
                sizes: r.list(|r| r.u32())?,
                grid: r.list(|r| r.u32())?,
                frame_bytes: r.u64()?,
                status_offset: match r.i64()? {
                    -1 => None,
                    v => Some(
                        u64::try_from(v).map_err(|_| malformed(&format!("status offset {v}")))?,
                    ),
                },
            })
        })?;
        let copies = r.list(|r| Ok((r.u32()?, r.u32()?)))?;
        let slice_checks = r.list(|r| {
            let [dim, start, end, axis]: [u32; 4] = r
                .list(|r| r.u32())?
                .try_into()
                .map_err(|_| malformed("slice check"))?;
            Ok(SliceSpec {
                dim,
                start,
                end,
                axis,
                what: r.str()?,
            })
        })?;
        if r.at != bytes.len() {
            return Err(malformed("trailing bytes"));
        }
        let plan = Plan {
            name,
            n_kernels,
            symbols,
            exprs,
            args,
            buffers,
            launches,
            copies,
            slice_checks,
        };
        plan.validate()?;
        Ok(plan)
    }

    /// Checks that every index of the plan is in range.
    pub fn validate(&self) -> Result<()> {
        let n_exprs = self.exprs.len();
        let expr_ok = |e: &u32| (*e as usize) < n_exprs;
        for e in &self.exprs {
            for op in &e.0 {
                if let SizeOp::Sym(k) = op {
                    if *k as usize >= self.symbols.len() {
                        return Err(malformed("symbol index out of range"));
                    }
                }
            }
        }
        for a in &self.args {
            if !a.dims.iter().all(expr_ok) {
                return Err(malformed("argument dimension out of range"));
            }
        }
        for b in &self.buffers {
            match b {
                BufSpec::Arg(i) if *i as usize >= self.args.len() => {
                    return Err(malformed("buffer argument out of range"))
                }
                BufSpec::Temp { dims, .. } if !dims.iter().all(expr_ok) => {
                    return Err(malformed("buffer dimension out of range"))
                }
                _ => {}
            }
        }
        let n_buf = self.buffers.len();
        for l in &self.launches {
            let bufs_ok = l.args.iter().all(|a| match a {
                KernelArg::Buffer { buf, dims } => {
                    (*buf as usize) < n_buf && dims.iter().all(expr_ok)
                }
                KernelArg::Private => true,
            });
            if l.kernel >= self.n_kernels
                || !bufs_ok
                || !l.sizes.iter().all(expr_ok)
                || !l.grid.iter().all(expr_ok)
            {
                return Err(malformed(&format!("launch `{}` out of range", l.name)));
            }
        }
        for (a, b) in &self.copies {
            if *a as usize >= n_buf || *b as usize >= n_buf {
                return Err(malformed("copy out of range"));
            }
        }
        for c in &self.slice_checks {
            if ![c.dim, c.start, c.end].iter().all(expr_ok) {
                return Err(malformed("slice check out of range"));
            }
        }
        Ok(())
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn u32s(&mut self, v: &[u32]) {
        self.len(v.len());
        for x in v {
            self.u32(*x);
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| malformed("truncated"))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn i64(&mut self) -> Result<i64> {
        Ok(self.u64()? as i64)
    }
    fn str(&mut self) -> Result<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| malformed("a string is not UTF-8"))
    }
    fn dtype(&mut self) -> Result<DType> {
        let c = self.u32()?;
        DType::from_code(c).ok_or_else(|| malformed(&format!("dtype code {c}")))
    }
    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Result<T>) -> Result<Vec<T>> {
        let n = self.u32()? as usize;
        // Every item takes at least one byte: a count beyond the bytes left is corrupt.
        if n > self.bytes.len() - self.at {
            return Err(malformed("a count exceeds the plan's size"));
        }
        (0..n).map(|_| item(self)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Plan {
        Plan {
            name: "f".into(),
            n_kernels: 1,
            symbols: vec!["B".into()],
            exprs: vec![
                SizeExpr(vec![SizeOp::Sym(0)]),
                SizeExpr(vec![SizeOp::Const(4)]),
                SizeExpr(vec![
                    SizeOp::Sym(0),
                    SizeOp::Const(3),
                    SizeOp::Add,
                    SizeOp::Const(4),
                    SizeOp::FloorDiv,
                ]),
            ],
            args: vec![
                ArgSpec {
                    name: "x".into(),
                    dtype: DType::F32,
                    dims: vec![0, 1],
                    output: false,
                },
                ArgSpec {
                    name: "out0".into(),
                    dtype: DType::F32,
                    dims: vec![0, 1],
                    output: true,
                },
            ],
            buffers: vec![BufSpec::Arg(0), BufSpec::Arg(1)],
            launches: vec![LaunchSpec {
                name: "k".into(),
                kernel: 0,
                args: vec![
                    KernelArg::Buffer {
                        buf: 0,
                        dims: vec![0, 1],
                    },
                    KernelArg::Buffer {
                        buf: 1,
                        dims: vec![0, 1],
                    },
                    KernelArg::Private,
                ],
                sizes: vec![0, 2],
                grid: vec![2],
                frame_bytes: 64,
                status_offset: None,
            }],
            copies: vec![],
            slice_checks: vec![],
        }
    }

    #[test]
    fn round_trips_and_rejects_corruption() {
        let p = sample();
        let bytes = p.encode();
        assert_eq!(Plan::decode(&bytes).unwrap(), p);
        // Every truncation is an error, never a panic.
        for n in 0..bytes.len() {
            assert!(Plan::decode(&bytes[..n]).is_err(), "prefix {n}");
        }
        let mut bad = bytes.clone();
        bad[4] = 9;
        assert!(Plan::decode(&bad)
            .unwrap_err()
            .message
            .contains("version 9"));
        let mut q = p.clone();
        q.launches[0].kernel = 3;
        assert!(Plan::decode(&q.encode()).is_err());
        // Only one encoding of each plan is accepted (found by fuzzing): a status offset
        // below -1 or an output flag other than 0 and 1 is malformed.
        let mut q = p.clone();
        q.launches[0].status_offset = Some(8);
        let mut bad = q.encode();
        let n = bad.len();
        // The status offset is the last field before the (empty) copy and check lists.
        bad[n - 16..n - 8].copy_from_slice(&(-9i64).to_le_bytes());
        assert!(Plan::decode(&bad).is_err());
        // Slice checks round-trip, and one naming an expression out of range is malformed.
        let mut q = p.clone();
        q.slice_checks.push(SliceSpec {
            dim: 0,
            start: 1,
            end: 2,
            axis: 0,
            what: "graph.slice at f.tsr:1:2".into(),
        });
        let bytes = q.encode();
        assert_eq!(Plan::decode(&bytes).unwrap(), q);
        for n in 0..bytes.len() {
            assert!(Plan::decode(&bytes[..n]).is_err(), "prefix {n}");
        }
        q.slice_checks[0].end = 3;
        assert!(Plan::decode(&q.encode()).is_err());
    }

    #[test]
    fn slice_bounds_rule() {
        assert_eq!(slice_bounds_error(4, 0, 3, 0), None);
        assert_eq!(slice_bounds_error(4, 2, 4, 0), None);
        // Bounds are never wrapped: the frontend wrote `x[-3:]` of a size `B` as `B - 3`,
        // negative when `B < 3`.
        assert!(slice_bounds_error(2, -1, 2, 0)
            .unwrap()
            .contains("out of range"));
        assert!(slice_bounds_error(4, 1, -1, 0)
            .unwrap()
            .contains("out of range"));
        let out = slice_bounds_error(2, 0, 3, 1).unwrap();
        assert_eq!(out, "slice 0:3 is out of range for axis 1 of size 2");
        assert!(slice_bounds_error(2, -3, 1, 0)
            .unwrap()
            .contains("out of range"));
        assert!(slice_bounds_error(4, 3, 1, 0)
            .unwrap()
            .contains("out of range"));
        assert!(slice_bounds_error(4, 2, 2, 0).unwrap().contains("is empty"));
        // Bounds near the limits of i64 are refused, not overflowed.
        assert!(slice_bounds_error(4, i64::MIN, 1, 0).is_some());
    }

    #[test]
    fn expressions_floor_and_check() {
        let names = vec!["B".to_string()];
        let e = &sample().exprs[2];
        assert_eq!(e.eval(&[Some(5)], &names).unwrap(), 2);
        assert_eq!(e.eval(&[Some(-10)], &names).unwrap(), -2);
        assert!(e.eval(&[None], &names).unwrap_err().message.contains("`B`"));
        assert_eq!(e.render(&names), "(B + 3) / 4");
        let lin = SizeExpr(vec![
            SizeOp::Const(2),
            SizeOp::Sym(0),
            SizeOp::Mul,
            SizeOp::Const(-1),
            SizeOp::Add,
        ]);
        assert_eq!(lin.render(&names), "2*B - 1");
        // `B + (-7 / 2)` is not `B - 7 / 2` under floor division.
        let div = SizeExpr(vec![
            SizeOp::Sym(0),
            SizeOp::Const(-7),
            SizeOp::Const(2),
            SizeOp::FloorDiv,
            SizeOp::Add,
        ]);
        assert_eq!(div.render(&names), "B + -7 / 2");
        assert_eq!(SizeExpr(vec![SizeOp::Add]).render(&names), "?");
        let big = SizeExpr(vec![SizeOp::Const(i64::MAX), SizeOp::Const(2), SizeOp::Mul]);
        assert!(big.eval(&[], &[]).is_err());
        let div0 = SizeExpr(vec![SizeOp::Const(1), SizeOp::Const(0), SizeOp::FloorDiv]);
        assert!(div0.eval(&[], &[]).is_err());
        assert!(SizeExpr(vec![SizeOp::Add]).eval(&[], &[]).is_err());
    }
}
