//! Shared test helpers: random buffers for a kernel's signature, the tile interpreter as
//! the oracle, and tolerance checks.
#![allow(dead_code)]

use std::collections::BTreeMap;
use tessera_codegen_cpu::{CompiledKernel, JitBackend};
use tessera_dialects::{parse_module, verify_module, DType, FuncKind, MemSpace, Module, Type};
use tessera_runtime::ThreadPool;
use tessera_tensor::{Data, Tensor};

pub fn module(text: &str) -> Module {
    let m = parse_module(text).unwrap();
    verify_module(&m).unwrap();
    m
}

pub fn kernels_tir() -> Module {
    module(include_str!("../../../../dialects/tests/ir/kernels.tir"))
}

pub fn interp_ops_tir() -> Module {
    module(include_str!("../../../interp/tests/tile/ops.tir"))
}

pub fn cpu_tir() -> Module {
    module(include_str!("../kernels/cpu.tir"))
}

pub fn sizes(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(n, v)| (n.to_string(), *v)).collect()
}

/// A small deterministic generator (64-bit LCG).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }

    /// Uniform in [-1, 1).
    pub fn f(&mut self) -> f32 {
        (self.next_u32() as f64 / (1u64 << 31) as f64 - 1.0) as f32
    }

    /// A random tensor: floats in [-1, 1) (rounded to the dtype), i8 in [-8, 8), i32 in
    /// [-100, 100), bool 0/1.
    pub fn tensor(&mut self, dtype: DType, shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        if dtype.is_float() {
            let v: Vec<f32> = (0..n).map(|_| self.f()).collect();
            Tensor::from_f32(dtype, shape.to_vec(), v).unwrap()
        } else {
            let v: Vec<i32> = (0..n)
                .map(|_| match dtype {
                    DType::Bool => (self.next_u32() % 2) as i32,
                    DType::I8 => (self.next_u32() % 16) as i32 - 8,
                    _ => (self.next_u32() % 200) as i32 - 100,
                })
                .collect();
            Tensor::new(dtype, shape.to_vec(), Data::Int(v)).unwrap()
        }
    }
}

/// Random arguments for kernel `name`: a tensor per global buffer and 0-d parameter, an
/// empty placeholder per scratch buffer.
pub fn random_args(m: &Module, name: &str, s: &BTreeMap<String, i64>, g: &mut Lcg) -> Vec<Tensor> {
    let f = m.func(name).unwrap();
    assert_eq!(f.kind, FuncKind::Kernel);
    f.params
        .iter()
        .map(|p| match f.ty(*p) {
            Type::Buffer(bt) if bt.space == MemSpace::Global => {
                let shape: Vec<usize> = bt
                    .elem
                    .shape
                    .iter()
                    .map(|e| e.eval_map(s).unwrap() as usize)
                    .collect();
                g.tensor(bt.elem.dtype, &shape)
            }
            Type::Buffer(bt) => Tensor::zeros(bt.elem.dtype, vec![0]).unwrap(),
            Type::Tensor(t) => g.tensor(t.dtype, &[]),
            other => panic!("unexpected parameter type {other}"),
        })
        .collect()
}

/// How results are compared.
#[derive(Clone, Copy, Debug)]
pub enum Tol {
    /// Bit-identical values (integers, copies, casts).
    Exact,
    /// `|got - want| <= rtol * |want| + atol`.
    Close { rtol: f32, atol: f32 },
}

pub fn assert_tensors(got: &Tensor, want: &Tensor, tol: Tol, what: &str) {
    assert_eq!(got.dtype(), want.dtype(), "{what}");
    assert_eq!(got.shape(), want.shape(), "{what}");
    match (got.data(), want.data()) {
        (Data::Int(a), Data::Int(b)) => assert_eq!(a, b, "{what}"),
        (Data::Float(a), Data::Float(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                let ok = match tol {
                    Tol::Exact => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                    Tol::Close { rtol, atol } => {
                        (x.is_nan() && y.is_nan())
                            || x == y
                            || (x - y).abs() <= rtol * y.abs() + atol
                    }
                };
                assert!(ok, "{what}: element {i}: got {x}, want {y} ({tol:?})");
            }
        }
        _ => panic!("{what}: storage differs"),
    }
}

/// Compiles kernel `name`, runs it and the tile interpreter on the same random arguments
/// with each binding of `bindings`, and compares every buffer. Returns the CPU results of
/// the last binding.
pub fn check_kernel(
    m: &Module,
    name: &str,
    bindings: &[BTreeMap<String, i64>],
    tol: Tol,
) -> Vec<Tensor> {
    let backend = JitBackend::new().unwrap();
    let k = backend
        .compile(m, name)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut g = Lcg(0x5eed ^ name.len() as u64);
    let mut last = Vec::new();
    for s in bindings {
        let args = random_args(m, name, s, &mut g);
        let mut want = args.clone();
        tessera_interp::run_kernel(m, name, &mut want, s)
            .unwrap_or_else(|e| panic!("{name}: interpreter: {e}"));
        let mut got = args;
        k.run_tensors(&mut got, s)
            .unwrap_or_else(|e| panic!("{name} {s:?}: {e}"));
        for (i, (x, y)) in got.iter().zip(&want).enumerate() {
            assert_tensors(x, y, tol, &format!("{name} {s:?} buffer {i}"));
        }
        last = got;
    }
    last
}

/// Runs `k` on `pool` with copies of `args`.
pub fn run_on(
    k: &CompiledKernel,
    pool: &ThreadPool,
    args: &[Tensor],
    s: &BTreeMap<String, i64>,
) -> Vec<Tensor> {
    let mut out = args.to_vec();
    k.run_tensors_on(pool, &mut out, s).unwrap();
    out
}

/// A matmul kernel `@mm` over `a: f32[M, K]` and `b: RHS[K, N]` with `tm x tk` and
/// `tk x tn` tiles and the given dot attributes. With a `bf16` rhs the tile is loaded
/// narrow and widened by `tile.cast` before the dot (a weight held in `bf16`).
pub fn matmul_kernel(tm: u64, tk: u64, tn: u64, attrs: &str, rhs: DType) -> String {
    let rhs_lines = if rhs == DType::F32 {
        format!("    %tb = tile.load %b, %k, %j : (buf<f32[K, N]>, index, index) -> tile<{tk}x{tn}xf32>")
    } else {
        format!(
            "    %tn = tile.load %b, %k, %j : (buf<{rhs}[K, N]>, index, index) -> tile<{tk}x{tn}x{rhs}>\n    %tb = tile.cast %tn {{dtype = f32}} : (tile<{tk}x{tn}x{rhs}>) -> tile<{tk}x{tn}xf32>"
        )
    };
    format!(
        "tile.kernel @mm(%a: buf<f32[M, K]>, %b: buf<{rhs}[K, N]>, %out: buf<f32[M, N]>) attributes {{grid = sizes[(M + {m1}) / {tm}, (N + {n1}) / {tn}], parallel = [0, 1], vector = 4}} {{
  %i = tile.program_id {{axis = 0}} : () -> index
  %j = tile.program_id {{axis = 1}} : () -> index
  %zero = tile.zeros : () -> tile<{tm}x{tn}xf32>
  %acc = tile.for %zero {{bounds = sizes[0, (K + {k1}) / {tk}]}} : (tile<{tm}x{tn}xf32>) -> tile<{tm}x{tn}xf32> (%k: index, %c: tile<{tm}x{tn}xf32>) {{
    %ta = tile.load %a, %i, %k : (buf<f32[M, K]>, index, index) -> tile<{tm}x{tk}xf32>
{rhs_lines}
    %d = tile.dot %ta, %tb, %c {attrs} : (tile<{tm}x{tk}xf32>, tile<{tk}x{tn}xf32>, tile<{tm}x{tn}xf32>) -> tile<{tm}x{tn}xf32>
    tile.yield %d : tile<{tm}x{tn}xf32>
  }}
  tile.store %acc, %out, %i, %j : (tile<{tm}x{tn}xf32>, buf<f32[M, N]>, index, index) -> ()
}}
",
        m1 = tm - 1,
        n1 = tn - 1,
        k1 = tk - 1,
    )
}

/// Runs [`matmul_kernel`] at every `(M, K, N)` of `bindings` against the tile
/// interpreter, within f32 reassociation of `K` products.
pub fn check_matmul(tiles: (u64, u64, u64), attrs: &str, rhs: DType, bindings: &[(i64, i64, i64)]) {
    let (tm, tk, tn) = tiles;
    let m = module(&matmul_kernel(tm, tk, tn, attrs, rhs));
    let b: Vec<_> = bindings
        .iter()
        .map(|&(mm, k, n)| sizes(&[("M", mm), ("K", k), ("N", n)]))
        .collect();
    check_dot(&m, &b, bindings.iter().map(|b| b.1).max().unwrap_or(1));
}

/// Runs kernel `mm` of `m` at every binding against the tile interpreter, within f32
/// reassociation of up to `kmax` products.
pub fn check_dot(m: &Module, bindings: &[BTreeMap<String, i64>], kmax: i64) {
    check_kernel(
        m,
        "mm",
        bindings,
        Tol::Close {
            rtol: 1e-5,
            atol: 1e-4 * kmax as f32,
        },
    );
}
