//! Random programs: a generator writes well-typed `.tsr` programs over the DSL's ops
//! (elementwise, broadcasting, literals, matmul, reductions, normalisation, shape ops,
//! slicing, calls) with a symbolic batch size. Each must compile, lower to IR that
//! verifies and round-trips, and compute the same values after the default pass
//! pipeline. The same generator will drive native back ends against the interpreter.

use proptest::prelude::*;
use std::collections::BTreeMap;
use tessera::Program;
use tessera_dialects::parse::parse_module;
use tessera_dialects::print::print_module;
use tessera_dialects::verify::verify_module;
use tessera_tensor::Tensor;

/// A small deterministic generator (xorshift) driven by proptest's seed.
struct Gen {
    state: u64,
}

impl Gen {
    fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// A value in scope: its name and shape (sizes as written: `B` or a number).
#[derive(Clone)]
struct V {
    name: String,
    shape: Vec<String>,
}

fn ty(shape: &[String]) -> String {
    if shape.is_empty() {
        "f32".to_string()
    } else {
        format!("f32[{}]", shape.join(", "))
    }
}

struct Builder {
    g: Gen,
    params: Vec<V>,
    lets: Vec<String>,
    vals: Vec<V>,
}

impl Builder {
    fn fresh(&mut self, prefix: &str) -> String {
        format!("{prefix}{}", self.params.len() + self.lets.len())
    }

    /// A new parameter of the given shape.
    fn param(&mut self, shape: Vec<String>) -> V {
        let v = V {
            name: self.fresh("p"),
            shape,
        };
        self.params.push(v.clone());
        self.vals.push(v.clone());
        v
    }

    fn bind(&mut self, expr: String, shape: Vec<String>) {
        let name = self.fresh("v");
        self.lets.push(format!("    let {name} = {expr};"));
        self.vals.push(V { name, shape });
    }

    fn any_val(&mut self) -> V {
        let i = self.g.below(self.vals.len());
        self.vals[i].clone()
    }

    /// One random statement.
    fn step(&mut self) {
        let x = self.any_val();
        match self.g.below(12) {
            0 | 1 => {
                let f = *self.g.pick(&[
                    "exp",
                    "tanh",
                    "relu",
                    "sigmoid",
                    "abs",
                    "neg",
                    "silu",
                    "gelu_tanh",
                    "erf",
                ]);
                // Keep exp bounded.
                let arg = if f == "exp" {
                    format!("tanh({})", x.name)
                } else {
                    x.name.clone()
                };
                self.bind(format!("{f}({arg})"), x.shape);
            }
            2 | 3 => {
                // A binary op with a broadcastable partner: same shape, a suffix, or a literal.
                let op = *self.g.pick(&["+", "-", "*"]);
                let k = self.g.below(x.shape.len() + 2);
                let rhs = if k > x.shape.len() {
                    format!("{}", self.g.below(5) as f32 * 0.5 - 1.0)
                } else {
                    let suffix: Vec<String> = x.shape[k..].to_vec();
                    match self
                        .vals
                        .iter()
                        .find(|v| v.shape == suffix && v.name != x.name)
                    {
                        Some(v) if self.g.below(2) == 0 => v.name.clone(),
                        _ => self.param(suffix).name,
                    }
                };
                self.bind(format!("{} {op} {rhs}", x.name), x.shape);
            }
            4 => {
                let f = *self.g.pick(&["max", "min"]);
                self.bind(format!("{f}({}, 0.25)", x.name), x.shape);
            }
            5 if !x.shape.is_empty() => {
                // x @ w with a fresh weight.
                let k = x.shape.last().cloned().unwrap_or_default();
                let n = self.g.pick(&["3", "5"]).to_string();
                if x.shape.len() >= 2 {
                    let w = self.param(vec![k, n.clone()]);
                    let mut shape = x.shape.clone();
                    *shape.last_mut().expect("rank >= 2") = n;
                    self.bind(format!("{} @ {}", x.name, w.name), shape);
                }
            }
            6 if !x.shape.is_empty() => {
                let f = *self.g.pick(&["sum", "mean", "max", "min"]);
                let axis = self.g.below(x.shape.len());
                let keep = self.g.below(2) == 0;
                let mut shape = x.shape.clone();
                if keep {
                    shape[axis] = "1".to_string();
                } else {
                    shape.remove(axis);
                }
                self.bind(
                    format!("{f}({}, axis: {axis}, keepdims: {keep})", x.name),
                    shape,
                );
            }
            7 if !x.shape.is_empty() => {
                let f = *self.g.pick(&["softmax", "log_softmax"]);
                self.bind(format!("{f}({}, axis: -1)", x.name), x.shape);
            }
            8 if x.shape.len() == 2 => {
                let shape = vec![x.shape[1].clone(), x.shape[0].clone()];
                self.bind(format!("transpose({}, [1, 0])", x.name), shape);
            }
            9 if x.shape.len() == 2 && x.shape[1].parse::<i64>().is_ok() => {
                let d = x.shape[1].clone();
                let g = self.param(vec![d.clone()]);
                let b = self.param(vec![d]);
                self.bind(
                    format!("layernorm({}, {}, {})", x.name, g.name, b.name),
                    x.shape,
                );
            }
            10 if x.shape.len() == 2 => {
                self.bind(
                    format!("reshape({}, [-1])", x.name),
                    vec![format!("{}*{}", x.shape[0], x.shape[1])],
                );
            }
            11 if x.shape.first().is_some_and(|d| d == "B") && self.g.below(2) == 0 => {
                // The last row along the symbolic batch axis: bounds `B - 1:B` in the IR,
                // checked when a call binds `B`.
                let mut shape = x.shape.clone();
                shape[0] = "1".to_string();
                let idx: Vec<&str> = std::iter::once("-1:")
                    .chain(std::iter::repeat_n(":", shape.len() - 1))
                    .collect();
                self.bind(format!("{}[{}]", x.name, idx.join(", ")), shape);
            }
            11 if x
                .shape
                .last()
                .is_some_and(|d| d.parse::<i64>().is_ok_and(|n| n >= 2)) =>
            {
                let mut shape = x.shape.clone();
                let last = shape.len() - 1;
                shape[last] = "1".to_string();
                let idx = vec![":"; last].join(", ");
                let sep = if last > 0 { ", " } else { "" };
                self.bind(format!("{}[{idx}{sep}-1:]", x.name), shape);
            }
            _ => {
                self.bind(format!("({} * 0.5) as f32", x.name), x.shape);
            }
        }
    }

    fn program(mut self, steps: usize) -> String {
        for _ in 0..steps {
            self.step();
        }
        let out = self.vals.last().cloned().expect("a value");
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| format!("{}: {}", p.name, ty(&p.shape)))
            .collect();
        format!(
            "fn main({}) -> {} {{\n{}\n    {}\n}}\n",
            params.join(", "),
            ty(&out.shape),
            self.lets.join("\n"),
            out.name
        )
    }
}

fn generate(seed: u64, steps: usize) -> String {
    let mut b = Builder {
        g: Gen { state: seed | 1 },
        params: Vec::new(),
        lets: Vec::new(),
        vals: Vec::new(),
    };
    let first = if b.g.below(2) == 0 {
        vec!["B".to_string(), "4".to_string()]
    } else {
        vec!["B".to_string(), "2".to_string(), "3".to_string()]
    };
    b.param(first);
    b.program(steps)
}

fn inputs(prog: &Program, batch: i64) -> Vec<Tensor> {
    let f = prog.module.func("main").expect("main");
    let sizes: BTreeMap<String, i64> = [("B".to_string(), batch)].into();
    f.params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let t = f.tensor_ty(*p).expect("tensor");
            let shape: Vec<usize> = t
                .shape
                .iter()
                .map(|d| d.eval_map(&sizes).expect("B only") as usize)
                .collect();
            tessera_tensor::random::uniform(t.dtype, &shape, -1.5, 1.5, 1000 + i as u64)
                .expect("random")
        })
        .collect()
}

fn close(a: &[Tensor], b: &[Tensor]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.shape() == y.shape()
                && x.to_f64_vec().iter().zip(y.to_f64_vec()).all(|(p, q)| {
                    (p - q).abs() <= 1e-5 * (1.0 + q.abs()) || (p.is_nan() && q.is_nan())
                })
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_programs_compile_verify_and_keep_their_values(seed in any::<u64>(), steps in 1usize..12, batch in 1i64..5) {
        let src = generate(seed, steps);
        let prog = match Program::from_source("random.tsr", &src) {
            Ok(p) => p,
            Err(e) => return Err(TestCaseError::fail(format!("{src}\n{}", e.render(false)))),
        };
        prop_assert!(verify_module(&prog.module).is_ok(), "{src}");
        let text = print_module(&prog.module);
        let back = parse_module(&text).map_err(|e| TestCaseError::fail(format!("{text}\n{}", e.message)))?;
        prop_assert_eq!(print_module(&back), text.clone());
        let opt = prog.optimized().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(verify_module(&opt).is_ok(), "{}", print_module(&opt));
        let xs = inputs(&prog, batch);
        let want = tessera_interp::run_func(&prog.module, "main", xs.clone()).map_err(|e| TestCaseError::fail(format!("{src}\n{e}")))?;
        let got = tessera_interp::run_func(&opt, "main", xs).map_err(|e| TestCaseError::fail(format!("{src}\n{e}")))?;
        prop_assert!(close(&got, &want), "{src}\n{}", print_module(&opt));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 60, ..ProptestConfig::default() })]

    /// The same random programs, compiled by the CPU back end (tile IR, Cranelift, the
    /// runtime's executor), give the interpreter's values. Every generated op is lowered
    /// and compiled, so a refusal is a failure too.
    #[test]
    fn random_programs_run_natively_like_the_interpreter(seed in any::<u64>(), steps in 1usize..12, batch in 1i64..5) {
        let src = generate(seed, steps);
        let prog = Program::from_source("random.tsr", &src)
            .map_err(|e| TestCaseError::fail(format!("{src}\n{}", e.render(false))))?;
        let xs = inputs(&prog, batch);
        let want = tessera_interp::run_func(&prog.module, "main", xs.clone())
            .map_err(|e| TestCaseError::fail(format!("{src}\n{e}")))?;
        let exe = prog.cpu_executable("main")
            .map_err(|e| TestCaseError::fail(format!("{src}\n{}", e.render(false))))?;
        let got = exe.run(xs).map_err(|e| TestCaseError::fail(format!("{src}\n{}", e.render(false))))?;
        prop_assert!(close(&got, &want), "{src}\n{:?}\n{:?}", got, want);
    }
}

/// The generator must exercise the language, not produce trivial programs.
#[test]
fn generator_covers_the_ops() {
    let sources: Vec<String> = (1..300u64)
        .map(|s| generate(s.wrapping_mul(0x9E37_79B9), 10))
        .collect();
    let all = sources.join("\n");
    for needle in [
        "exp(",
        "@",
        "sum(",
        "mean(",
        "softmax(",
        "layernorm(",
        "transpose(",
        "reshape(",
        "-1:]",
        "[-1:, ",
        "keepdims: true",
        " + p",
        "max(",
        "as f32",
    ] {
        assert!(all.contains(needle), "no generated program uses `{needle}`");
    }
    let lets = sources
        .iter()
        .map(|s| s.matches("let ").count())
        .sum::<usize>();
    assert!(lets >= 299 * 8, "programs are too short: {lets} statements");
    println!("{}", sources[0]);
}
