//! Malformed kernels never panic the tile interpreter: every operation of the test kernels
//! is mutated in turn (attributes dropped, an operand dropped or replaced, regions or
//! results dropped, its result retyped) and the kernel is run; the result must be `Ok` or
//! an error, never a panic.

mod common;

use common::*;
use std::collections::BTreeMap;
use tessera_dialects::{parse_module, Attrs, DType, Module, Operation, Region, TileType, Type};
use tessera_interp::run_kernel;
use tessera_tensor::Tensor;

fn count(r: &Region) -> usize {
    r.ops
        .iter()
        .map(|o| 1 + o.regions.iter().map(count).sum::<usize>())
        .sum()
}

/// Applies `f` to the `n`-th operation in program order (pre-order through regions).
fn with_op(r: &mut Region, n: &mut usize, f: &mut dyn FnMut(&mut Operation)) -> bool {
    for o in r.ops.iter_mut() {
        if *n == 0 {
            f(o);
            return true;
        }
        *n -= 1;
        for sub in o.regions.iter_mut() {
            if with_op(sub, n, f) {
                return true;
            }
        }
    }
    false
}

/// Buffers for `@matmul_bias_relu` with M = 5, N = 6, K = 7.
fn mm_buffers() -> (Vec<Tensor>, BTreeMap<String, i64>) {
    let mut g = Lcg(31);
    let bufs = vec![
        g.tensor(&[5, 7]),
        g.tensor(&[7, 6]),
        g.tensor(&[6]),
        g.tensor(&[5, 6]),
    ];
    let s = [("M", 5), ("N", 6), ("K", 7)]
        .iter()
        .map(|(n, v)| (n.to_string(), *v))
        .collect();
    (bufs, s)
}

type Mutation = fn(&mut Operation, &mut tessera_dialects::Func);

#[test]
fn mutated_kernels_error_instead_of_panicking() {
    let base = parse_module(include_str!("../../../dialects/tests/ir/kernels.tir")).unwrap();
    let mutations: Vec<(&str, Mutation)> = vec![
        ("drop attributes", |o, _| o.attrs = Attrs::new()),
        ("drop an operand", |o, _| {
            o.operands.pop();
        }),
        ("drop regions", |o, _| o.regions.clear()),
        ("drop results", |o, _| o.results.clear()),
        ("operand := first parameter", |o, f| {
            if let Some(x) = o.operands.first_mut() {
                *x = f.params[0];
            }
        }),
        ("retype the result", |o, f| {
            if let Some(r) = o.results.first() {
                f.values[r.index()].ty = Type::Tile(TileType {
                    dtype: DType::I8,
                    shape: vec![3, 0, 2],
                });
            }
        }),
        ("duplicate the operands", |o, _| {
            let extra = o.operands.clone();
            o.operands.extend(extra);
        }),
    ];
    let mut runs = 0;
    for name in ["matmul_bias_relu", "scale_shift", "row_sum"] {
        let f = base.func(name).unwrap();
        for i in 0..count(&f.body) {
            for (what, m) in &mutations {
                let mut module: Module = base.clone();
                let func = module.func_mut(name).unwrap();
                let mut body = std::mem::take(&mut func.body);
                let mut n = i;
                with_op(&mut body, &mut n, &mut |o| m(o, func));
                func.body = body;
                let (mut bufs, sizes) = match name {
                    "matmul_bias_relu" => mm_buffers(),
                    "scale_shift" => (
                        vec![
                            f32t(&[9], &[0.5; 9]),
                            Tensor::zeros(DType::BF16, vec![9]).unwrap(),
                        ],
                        [("L".to_string(), 9)].into_iter().collect(),
                    ),
                    _ => (
                        vec![
                            f32t(&[3, 4], &[1.0; 12]),
                            f32t(&[3], &[0.0; 3]),
                            f32t(&[0], &[]),
                        ],
                        [("R".to_string(), 3), ("C".to_string(), 4)]
                            .into_iter()
                            .collect(),
                    ),
                };
                // Either outcome is fine; a panic fails the test.
                let r = run_kernel(&module, name, &mut bufs, &sizes);
                if let Err(e) = r {
                    assert!(!e.message.is_empty(), "{name} op {i} {what}");
                }
                runs += 1;
            }
        }
    }
    assert!(runs > 100);
}
