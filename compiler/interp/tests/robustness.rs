//! Malformed IR never panics: every graph operation is run with missing or nonsensical
//! attributes and with wrong operand counts and dtypes; each run returns a result or an
//! error.

use tessera_dialects::{
    Attr, Attrs, DType, Func, FuncKind, GraphOp, Module, Op, Operation, SymExpr, TensorType,
};
use tessera_interp::run_func;
use tessera_tensor::{Data, Tensor};

fn ty(dtype: DType, shape: &[i64]) -> tessera_dialects::Type {
    TensorType::new(dtype, shape.iter().map(|&d| SymExpr::lit(d)).collect()).into()
}

fn attr_sets() -> Vec<Attrs> {
    let garbage = Attrs::new()
        .with("axis", Attr::Int(7))
        .with("axes", Attr::Ints(vec![5, -9]))
        .with("keepdims", Attr::Int(1))
        .with("perm", Attr::Ints(vec![0, 0]))
        .with(
            "shape",
            Attr::Sizes(vec![SymExpr::lit(-1), SymExpr::lit(-1)]),
        )
        .with("start", Attr::Sizes(vec![SymExpr::name("Q")]))
        .with("end", Attr::Ints(vec![i64::MAX, i64::MIN]))
        .with("spec", Attr::Str("ij,,->ii".into()))
        .with("stride", Attr::Ints(vec![0, -1]))
        .with("padding", Attr::Ints(vec![i64::MAX, 0]))
        .with("dilation", Attr::Ints(vec![0]))
        .with("kernel", Attr::Ints(vec![i64::MIN, 3]))
        .with("groups", Attr::Int(0))
        .with("dtype", Attr::DType(DType::Bool))
        .with("value", Attr::Str("x".into()))
        .with("eps", Attr::Str("tiny".into()))
        .with("callee", Attr::Symbol("missing".into()));
    let plausible = Attrs::new()
        .with("axis", Attr::Int(1))
        .with("axes", Attr::Ints(vec![0, 1]))
        .with("keepdims", Attr::Bool(true))
        .with("perm", Attr::Ints(vec![1, 0]))
        .with("shape", Attr::Sizes(vec![SymExpr::lit(3), SymExpr::lit(2)]))
        .with("start", Attr::Sizes(vec![SymExpr::lit(0), SymExpr::lit(1)]))
        .with("end", Attr::Sizes(vec![SymExpr::lit(2), SymExpr::lit(3)]))
        .with("spec", Attr::Str("ij,jk->ik".into()))
        .with("stride", Attr::Ints(vec![1, 1]))
        .with("padding", Attr::Ints(vec![1, 1]))
        .with("dilation", Attr::Ints(vec![1, 1]))
        .with("kernel", Attr::Ints(vec![2, 2]))
        .with("groups", Attr::Int(1))
        .with("dtype", Attr::DType(DType::I8))
        .with("value", Attr::Float(1e30))
        .with("eps", Attr::Float(1e-5))
        .with("callee", Attr::Symbol("f".into()));
    vec![Attrs::new(), garbage, plausible]
}

#[test]
fn every_op_with_bad_attributes_and_operands_returns() {
    let params = [
        (DType::F32, vec![2, 3]),
        (DType::I8, vec![2, 3]),
        (DType::Bool, vec![2, 3]),
        (DType::F32, vec![]),
        (DType::BF16, vec![3, 2]),
        (DType::F32, vec![1, 2, 3, 3]),
    ];
    let inputs: Vec<Tensor> = params
        .iter()
        .map(|(d, s)| {
            let n: usize = s.iter().map(|&v| v as usize).product();
            let data = if d.is_float() {
                Data::Float((0..n).map(|i| i as f32 - 2.5).collect())
            } else {
                Data::Int((0..n).map(|i| (i % 2) as i32).collect())
            };
            Tensor::new(*d, s.iter().map(|&v| v as usize).collect(), data).unwrap()
        })
        .collect();
    let operand_sets: Vec<Vec<usize>> = vec![
        vec![],
        vec![0],
        vec![1],
        vec![2],
        vec![3],
        vec![5],
        vec![0, 0],
        vec![0, 4],
        vec![0, 1],
        vec![1, 1],
        vec![5, 5],
        vec![2, 0, 0],
        vec![0, 3, 3],
        vec![0, 0, 0, 0],
    ];
    let mut runs = 0;
    for &op in GraphOp::ALL {
        if op == GraphOp::Return {
            continue;
        }
        for attrs in attr_sets() {
            for ops in &operand_sets {
                for result in [ty(DType::F32, &[2, 3]), ty(DType::I32, &[])] {
                    let mut f = Func::new(FuncKind::Graph, "f");
                    let ps: Vec<_> = params
                        .iter()
                        .map(|(d, s)| f.add_param(ty(*d, s), None))
                        .collect();
                    f.result_types.push(result.clone());
                    let r = f.new_value(result.clone(), None);
                    let operands = ops.iter().map(|&i| ps[i]).collect();
                    f.body.ops.push(Operation::new(
                        Op::Graph(op),
                        operands,
                        vec![r],
                        attrs.clone(),
                    ));
                    f.body.ops.push(Operation::new(
                        Op::Graph(GraphOp::Return),
                        vec![r],
                        vec![],
                        Attrs::new(),
                    ));
                    let m = Module { funcs: vec![f] };
                    let _ = run_func(&m, "f", inputs.clone());
                    runs += 1;
                }
            }
        }
    }
    assert!(runs > 1000);
}
