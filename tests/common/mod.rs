//! Helpers shared by the back-end differential tests: every program we have, random
//! inputs for a function, and a tolerant comparison with a clear report.

#![allow(dead_code)] // each test crate uses a part

use std::collections::BTreeMap;
use std::path::Path;
use tessera::Program;
use tessera_tensor::Tensor;

/// examples/mlp.tsr's inputs at batch `b`: uniform random, the weights scaled by 0.05 so
/// that the activations stay of order one; parameter `i` draws from stream `seed + i`.
pub fn mlp_inputs(b: usize, seed: u64) -> Vec<Tensor> {
    let shapes: [&[usize]; 7] = [
        &[b, 784],
        &[784, 1024],
        &[1024],
        &[1024, 1024],
        &[1024],
        &[1024, 10],
        &[10],
    ];
    shapes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let t = random_f32(s, seed + i as u64);
            let scale = if s.len() == 2 && i > 0 { 0.05 } else { 1.0 };
            let v: Vec<f32> = t.to_f32_vec().iter().map(|x| x * scale).collect();
            Tensor::from_f32(tessera_dialects::DType::F32, s.to_vec(), v).expect("tensor")
        })
        .collect()
}

/// examples/mlp.tsr with its contractions lowered to `precision`.
pub fn mlp_with(precision: tessera_egraph::Precision) -> Program {
    let mut p = Program::load(Path::new("examples/mlp.tsr")).expect("loads");
    p.precision = precision;
    p
}

/// Runs `args` through the tile IR of `cpu` in the tile interpreter, and checks its
/// results and `got` (the native run) against `want` within `tol`; then checks that the
/// kernels print, parse back to the same text and verify.
pub fn check_tiled(
    cpu: &tessera::CpuExecutable,
    args: Vec<Tensor>,
    got: &[Tensor],
    want: &[Tensor],
    tol: f64,
) {
    let tiled = cpu
        .tiled()
        .execute(args, &mut |m, k, bufs, sizes| {
            tessera_interp::run_kernel(m, k, bufs, sizes).map_err(|e| e.message)
        })
        .expect("tile");
    assert_eq!(got.len(), want.len());
    for ((g, t), w) in got.iter().zip(&tiled).zip(want) {
        let d = max_diff(g, w);
        assert!(d <= tol, "cpu vs interp: {d} > {tol}");
        let d = max_diff(t, w);
        assert!(d <= tol, "tile vs interp: {d} > {tol}");
    }
    let text = tessera_dialects::print_module(&cpu.tiled().kernels);
    let parsed = tessera_dialects::parse_module(&text).expect("parses");
    assert_eq!(tessera_dialects::print_module(&parsed), text);
    tessera_dialects::verify_module(&parsed).expect("verifies");
}

/// A uniform random f32 tensor in `[-1, 1]`.
pub fn random_f32(shape: &[usize], seed: u64) -> Tensor {
    tessera_tensor::random::uniform(tessera_dialects::DType::F32, shape, -1.0, 1.0, seed)
        .expect("random")
}

/// The largest absolute difference of two tensors of one shape.
pub fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.to_f64_vec()
        .iter()
        .zip(b.to_f64_vec())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

pub fn sources() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [
        "examples",
        "tests/programs",
        "compiler/frontend/tests/ui/check/ok",
    ] {
        for e in std::fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
        {
            if e.path().extension().is_some_and(|x| x == "tsr") {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

pub fn random_inputs(prog: &Program, func: &str, size: i64) -> Vec<Tensor> {
    let f = prog.module.func(func).expect("function");
    let names: BTreeMap<String, i64> = f
        .params
        .iter()
        .flat_map(|p| {
            f.tensor_ty(*p)
                .expect("tensor")
                .shape
                .iter()
                .flat_map(|d| d.names())
        })
        .map(|n| (n, size))
        .collect();
    inputs_in(prog, func, &names, 7, |_| -2.0)
}

/// Deterministic inputs for `func` with its symbolic sizes bound by `sizes`: parameter `i`
/// uniform in `[low(shape), 2]` with seed `seed + i`.
pub fn inputs_in(
    prog: &Program,
    func: &str,
    sizes: &BTreeMap<String, i64>,
    seed: u64,
    low: impl Fn(&[usize]) -> f32,
) -> Vec<Tensor> {
    let f = prog.module.func(func).expect("function");
    f.params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let t = f.tensor_ty(*p).expect("tensor");
            let shape: Vec<usize> = t
                .shape
                .iter()
                .map(|d| d.eval_map(sizes).expect("bound") as usize)
                .collect();
            tessera_tensor::random::uniform(t.dtype, &shape, low(&shape), 2.0, seed + i as u64)
                .expect("random")
        })
        .collect()
}

/// The first difference beyond tolerance, described; `None` when the results agree.
pub fn mismatch(got: &[Tensor], want: &[Tensor]) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!("{} results instead of {}", got.len(), want.len()));
    }
    for (r, (x, y)) in got.iter().zip(want).enumerate() {
        if x.dtype() != y.dtype() || x.shape() != y.shape() {
            return Some(format!(
                "result {r}: {}{:?} instead of {}{:?}",
                x.dtype(),
                x.shape(),
                y.dtype(),
                y.shape()
            ));
        }
        // Contractions accumulate per tile in f32 while the interpreter accumulates in f64
        // once, so an element that cancels from large terms (the encoder block's activations
        // reach 1e3) may differ by f32 rounding of those terms: the tolerance has a part
        // relative to the element and a part relative to the largest element of the result.
        // The CPU back end's inline f32 transcendentals (exp log tanh erf sigmoid silu gelu
        // gelu_tanh rsqrt) err by at most 11 ulp (1.3e-6 relative) on their documented
        // domains and tiny absolute amounts elsewhere (docs/numerics-cpu.md): inside this.
        let want = y.to_f64_vec();
        let scale = want.iter().fold(
            0.0f64,
            |m, v| if v.is_finite() { m.max(v.abs()) } else { m },
        );
        for (i, (p, q)) in x.to_f64_vec().iter().zip(want).enumerate() {
            let tol = 1e-4 * (1.0 + q.abs()) + 1e-6 * scale;
            let ok = p == &q || (p.is_nan() && q.is_nan()) || (p - q).abs() <= tol;
            if !ok {
                return Some(format!("result {r}, element {i}: {p} instead of {q}"));
            }
        }
    }
    None
}

/// What a back end made of one function.
pub enum Outcome {
    /// It refused the function with its documented "not yet" error.
    Refused,
    /// It ran it: the results, or the run-time error.
    Ran(Result<Vec<Tensor>, tessera::Error>),
}

/// A back end under test: compiles and runs one function of a program.
pub type BackendRun<'a> = dyn Fn(&Program, &str, Vec<Tensor>) -> Result<Outcome, String> + 'a;

/// Runs every function of every program on a back end and compares it with the graph
/// interpreter on random inputs. Returns the functions that matched and those refused;
/// panics with every mismatch and every unexpected failure.
pub fn differential(run: &BackendRun<'_>) -> (Vec<String>, Vec<String>) {
    let (mut matched, mut refused, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    for path in sources() {
        let name = path.display().to_string();
        let src = std::fs::read_to_string(&path).expect("readable");
        let Ok(prog) = Program::from_source(&name, &src) else {
            continue;
        };
        for f in &prog.module.funcs {
            let id = format!("{name} @{}", f.name);
            let xs = random_inputs(&prog, &f.name, 3);
            let got = match run(&prog, &f.name, xs.clone()) {
                Ok(Outcome::Refused) => {
                    refused.push(id);
                    continue;
                }
                Ok(Outcome::Ran(r)) => r,
                Err(e) => {
                    failures.push(format!("{id}: {e}"));
                    continue;
                }
            };
            match (prog.run_interp(&f.name, xs), got) {
                (Ok(want), Ok(got)) => match mismatch(&got, &want) {
                    None => matched.push(id),
                    Some(m) => failures.push(format!("{id}: {m}")),
                },
                (Err(_), Err(_)) => matched.push(id),
                (Ok(_), Err(e)) => failures.push(format!("{id}: only the back end failed: {e}")),
                (Err(e), Ok(_)) => failures.push(format!("{id}: only the interpreter failed: {e}")),
            }
        }
    }
    println!(
        "{} functions matched; {} refused",
        matched.len(),
        refused.len()
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    (matched, refused)
}

/// Deterministic inputs for `func` with its symbolic sizes bound by `sizes`; `[.., 1]`
/// inputs (per-row scales) are positive, as int8 scales are, other values in [-2, 2].
pub fn column_inputs(
    prog: &Program,
    func: &str,
    sizes: &BTreeMap<String, i64>,
    seed: u64,
) -> Vec<Tensor> {
    inputs_in(prog, func, sizes, seed, |shape| {
        if shape.last() == Some(&1) {
            0.25
        } else {
            -2.0
        }
    })
}

/// The top-level lines of an optimised function's text (the kernels' bodies left out).
pub fn top_level(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("  %") && !l.starts_with("    "))
        .collect()
}

/// Runs `prog`'s function `f` on the tile interpreter and the CPU back end against the
/// graph interpreter for every size binding (inputs from [`column_inputs`], seeds
/// `seed`, `seed + 10`, ...); `context` is printed with a mismatch.
pub fn check_backends(prog: &Program, bindings: &[&[(&str, i64)]], seed: u64, context: &str) {
    let exe = prog.cpu_executable("f").expect("compiles natively");
    for (n, b) in bindings.iter().enumerate() {
        let sizes: BTreeMap<String, i64> = b.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        let xs = column_inputs(prog, "f", &sizes, seed + 10 * n as u64);
        let want = prog.run_interp("f", xs.clone()).expect("interpreter");
        let tile = prog.run_tiled("f", xs.clone()).expect("tile backend");
        if let Some(e) = mismatch(&tile, &want) {
            panic!("tile backend, {b:?}: {e}\n{context}");
        }
        let cpu = exe.run(xs).expect("cpu backend");
        if let Some(e) = mismatch(&cpu, &want) {
            panic!("cpu backend, {b:?}: {e}\n{context}");
        }
    }
}

/// A `.safetensors` file built by hand: `(name, dtype tag, shape, data)` entries.
pub fn raw_safetensors(path: &Path, entries: &[(&str, &str, &[usize], Vec<u8>)]) {
    let (mut header, mut data) = (Vec::new(), Vec::<u8>::new());
    for (name, dtype, shape, bytes) in entries {
        let start = data.len();
        data.extend(bytes);
        header.push(format!(
            r#""{name}":{{"dtype":"{dtype}","shape":{shape:?},"data_offsets":[{start},{}]}}"#,
            data.len()
        ));
    }
    let header = format!("{{{}}}", header.join(","));
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    std::fs::write(path, bytes).expect("write");
}
