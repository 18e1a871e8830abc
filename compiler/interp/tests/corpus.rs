//! Runs every graph function of the IR round-trip corpus (`dialects/tests/ir/*.tir`) on
//! seeded random inputs, with every size name bound to 5: the declared result types
//! (from the type rules) must agree with what the kernels compute.

mod common;

use common::*;
use std::collections::BTreeMap;
use tessera_dialects::parse::parse_module;
use tessera_dialects::{DType, FuncKind};
use tessera_interp::run_func;
use tessera_tensor::Tensor;

fn random_input(g: &mut Lcg, dtype: DType, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    match dtype {
        DType::I8 => it(
            dtype,
            shape,
            &(0..n).map(|_| g.int(-128, 127)).collect::<Vec<_>>(),
        ),
        DType::I32 => it(
            dtype,
            shape,
            &(0..n).map(|_| g.int(-1000, 1000)).collect::<Vec<_>>(),
        ),
        DType::Bool => it(
            dtype,
            shape,
            &(0..n).map(|_| g.int(0, 1)).collect::<Vec<_>>(),
        ),
        d => {
            let v = g.vec(n);
            let t = f32t(shape, &v);
            tessera_tensor::convert::cast(&t, d)
        }
    }
}

#[test]
fn corpus_functions_run_with_matching_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialects/tests/ir");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("the IR corpus directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tir"))
        .collect();
    entries.sort();
    let mut ran = 0;
    let mut g = Lcg(5);
    for path in entries {
        let src = std::fs::read_to_string(&path).unwrap();
        let m = parse_module(&src).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for f in m.funcs.iter().filter(|f| f.kind == FuncKind::Graph) {
            let bind: BTreeMap<String, i64> = f
                .params
                .iter()
                .filter_map(|p| f.tensor_ty(*p))
                .flat_map(|t| t.shape.iter().flat_map(|e| e.names()))
                .map(|n| (n, 5))
                .collect();
            let inputs = f
                .params
                .iter()
                .map(|p| {
                    let t = f.tensor_ty(*p).unwrap();
                    let shape: Vec<usize> = t
                        .shape
                        .iter()
                        .map(|e| e.eval_map(&bind).unwrap() as usize)
                        .collect();
                    random_input(&mut g, t.dtype, &shape)
                })
                .collect();
            let out = run_func(&m, &f.name, inputs)
                .unwrap_or_else(|e| panic!("{} @{}: {e}", path.display(), f.name));
            assert_eq!(out.len(), f.result_types.len());
            ran += 1;
        }
    }
    assert!(ran >= 5, "only {ran} functions ran");
}
