//! Property tests of graph result-type inference: broadcasting, reshape, transpose, concat,
//! convolution output sizes, and "never panics" on arbitrary operands and attributes.

use proptest::prelude::*;
use tessera_dialects::graph::infer::{broadcast_shapes, infer};
use tessera_dialects::{Attr, Attrs, DType, GraphOp, SymExpr, TensorType};

fn f32t(shape: Vec<SymExpr>) -> TensorType {
    TensorType::new(DType::F32, shape)
}

fn consts(v: &[i64]) -> Vec<SymExpr> {
    v.iter().map(|c| SymExpr::lit(*c)).collect()
}

/// A size drawn from a small pool, so that clashes and matches both happen.
fn size() -> impl Strategy<Value = SymExpr> {
    prop_oneof![
        (1i64..4).prop_map(SymExpr::lit),
        prop_oneof![Just("B"), Just("S"), Just("H")].prop_map(SymExpr::name),
        Just(SymExpr::name("B").mul(&SymExpr::name("S"))),
    ]
}

fn shape() -> impl Strategy<Value = Vec<SymExpr>> {
    prop::collection::vec(size(), 0..5)
}

fn add(a: &[SymExpr], b: &[SymExpr]) -> Result<TensorType, String> {
    infer(
        GraphOp::Add,
        &Attrs::new(),
        &[f32t(a.to_vec()), f32t(b.to_vec())],
    )
    .map_err(|e| e.message)
    .and_then(|v| v.into_iter().next().ok_or_else(|| "no result".to_string()))
}

/// A pair of constant shapes that broadcast: each aligned pair is equal or has a 1.
fn compatible_consts() -> impl Strategy<Value = (Vec<i64>, Vec<i64>)> {
    prop::collection::vec((1i64..6, 0u8..3), 0..5)
        .prop_flat_map(|dims| {
            let a: Vec<i64> = dims
                .iter()
                .map(|(d, k)| if *k == 1 { 1 } else { *d })
                .collect();
            let b: Vec<i64> = dims
                .iter()
                .map(|(d, k)| if *k == 2 { 1 } else { *d })
                .collect();
            let n = a.len();
            (Just(a), Just(b), 0..=n, 0u8..2)
        })
        .prop_map(|(a, b, drop, which)| {
            // Drop leading dims of one side (right alignment).
            if which == 0 {
                (a[drop..].to_vec(), b)
            } else {
                (a, b[drop..].to_vec())
            }
        })
}

/// Any permutation of 0..n.
fn perm(n: usize) -> impl Strategy<Value = Vec<i64>> {
    Just((0..n as i64).collect::<Vec<_>>()).prop_shuffle()
}

proptest! {
    #[test]
    fn broadcasting_is_commutative(a in shape(), b in shape()) {
        let ab = add(&a, &b);
        let ba = add(&b, &a);
        prop_assert_eq!(ab.is_ok(), ba.is_ok());
        if let (Ok(x), Ok(y)) = (ab, ba) {
            prop_assert_eq!(x, y);
        }
        prop_assert_eq!(broadcast_shapes(&a, &b).ok(), broadcast_shapes(&b, &a).ok());
    }

    #[test]
    fn broadcasting_with_itself_is_identity(a in shape()) {
        prop_assert_eq!(add(&a, &a), Ok(f32t(a.clone())));
    }

    #[test]
    fn broadcasting_with_ones_and_scalars_is_identity(a in shape(), k in 0usize..4) {
        let ones = vec![SymExpr::lit(1); k.min(a.len())];
        prop_assert_eq!(add(&a, &ones), Ok(f32t(a.clone())));
        prop_assert_eq!(add(&[], &a), Ok(f32t(a.clone())));
    }

    #[test]
    fn broadcast_dims_are_max_of_constants((a, b) in compatible_consts()) {
        let r = add(&consts(&a), &consts(&b));
        let rank = a.len().max(b.len());
        let mut want = Vec::new();
        for i in 0..rank {
            let da = (i + a.len()).checked_sub(rank).map_or(1, |j| a[j]);
            let db = (i + b.len()).checked_sub(rank).map_or(1, |j| b[j]);
            want.push(da.max(db));
        }
        prop_assert_eq!(r, Ok(f32t(consts(&want))));
    }

    #[test]
    fn broadcast_rejects_distinct_constants(x in 2i64..9, delta in 1i64..8, pre in shape()) {
        let y = 2 + (x - 2 + delta) % 8;
        let mut a = pre.clone();
        a.push(SymExpr::lit(x));
        let r = add(&a, &[SymExpr::lit(y)]);
        prop_assert!(r.is_err());
        let msg = r.err().unwrap_or_default();
        prop_assert!(msg.contains(&format!("sizes {x} and {y} differ")), "{}", msg);
    }

    #[test]
    fn broadcast_to_accepts_the_broadcast_result(a in shape(), b in shape()) {
        if let Ok(r) = broadcast_shapes(&a, &b) {
            let attrs = Attrs::new().with("shape", Attr::Sizes(r.clone()));
            for s in [&a, &b] {
                let got = infer(GraphOp::BroadcastTo, &attrs, &[f32t(s.clone())]);
                prop_assert_eq!(got, Ok(vec![f32t(r.clone())]));
            }
        }
    }

    #[test]
    fn reshape_accepts_any_factorisation(
        factors in prop::collection::vec(
            prop_oneof![
                (2i64..6).prop_map(SymExpr::lit),
                prop_oneof![Just("B"), Just("S")].prop_map(SymExpr::name),
            ],
            0..6,
        ),
        cuts_a in prop::collection::vec(any::<bool>(), 6),
        cuts_b in prop::collection::vec(any::<bool>(), 6),
        order in Just((0..6usize).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        // Group the factors into dims at the cut points; the second grouping uses a
        // shuffled order of the same factors.
        let group = |fs: &[SymExpr], cuts: &[bool]| {
            let mut dims = Vec::new();
            let mut cur = SymExpr::lit(1);
            for (i, f) in fs.iter().enumerate() {
                cur = cur.mul(f);
                if cuts.get(i).copied().unwrap_or(false) {
                    dims.push(std::mem::replace(&mut cur, SymExpr::lit(1)));
                }
            }
            if cur != SymExpr::lit(1) || dims.is_empty() {
                dims.push(cur);
            }
            dims
        };
        let shuffled: Vec<SymExpr> =
            order.iter().filter_map(|&i| factors.get(i).cloned()).collect();
        let from = group(&factors, &cuts_a);
        let to = group(&shuffled, &cuts_b);
        let attrs = Attrs::new().with("shape", Attr::Sizes(to.clone()));
        prop_assert_eq!(infer(GraphOp::Reshape, &attrs, &[f32t(from)]), Ok(vec![f32t(to)]));
    }

    #[test]
    fn reshape_rejects_a_different_count(dims in prop::collection::vec(1i64..6, 1..4), extra in 2i64..5) {
        let mut to = dims.clone();
        to.push(extra);
        let attrs = Attrs::new().with("shape", Attr::Sizes(consts(&to)));
        prop_assert!(infer(GraphOp::Reshape, &attrs, &[f32t(consts(&dims))]).is_err());
    }

    #[test]
    fn transpose_then_inverse_is_identity((s, p) in shape().prop_flat_map(|s| { let n = s.len(); (Just(s), perm(n)) })) {
        let mut inv = vec![0i64; p.len()];
        for (i, &x) in p.iter().enumerate() {
            inv[x as usize] = i as i64;
        }
        let t = infer(GraphOp::Transpose, &Attrs::new().with("perm", Attr::Ints(p.clone())), &[f32t(s.clone())]);
        prop_assert!(t.is_ok());
        let t = t.unwrap_or_default();
        let back = infer(GraphOp::Transpose, &Attrs::new().with("perm", Attr::Ints(inv)), &t);
        prop_assert_eq!(back, Ok(vec![f32t(s.clone())]));
        // Result axis i is input axis p[i].
        if let Some(r) = t.first() {
            for (i, &x) in p.iter().enumerate() {
                prop_assert_eq!(&r.shape[i], &s[x as usize]);
            }
        }
    }

    #[test]
    fn concat_sums_sizes(
        rest in prop::collection::vec(size(), 1..4),
        axis_sizes in prop::collection::vec(size(), 1..5),
        axis_pick in 0usize..4,
    ) {
        let axis = axis_pick % rest.len();
        let inputs: Vec<TensorType> = axis_sizes
            .iter()
            .map(|a| {
                let mut s = rest.clone();
                s[axis] = a.clone();
                f32t(s)
            })
            .collect();
        let total = axis_sizes.iter().fold(SymExpr::lit(0), |acc, d| acc.add(d));
        let mut want = rest.clone();
        want[axis] = total;
        let attrs = Attrs::new().with("axis", Attr::Int(axis as i64));
        prop_assert_eq!(infer(GraphOp::Concat, &attrs, &inputs), Ok(vec![f32t(want)]));
    }

    #[test]
    fn conv_output_matches_window_count(
        h in 1i64..40, k in 1i64..6, s in 1i64..5, p in 0i64..4, dil in 1i64..4,
    ) {
        // Count window positions directly: start i*s, last tap i*s + dil*(k-1) inside
        // the padded input of size h + 2p.
        let padded = h + 2 * p;
        let mut count = 0i64;
        let mut start = 0i64;
        while start + dil * (k - 1) < padded {
            count += 1;
            start += s;
        }
        let attrs = Attrs::new()
            .with("stride", Attr::Ints(vec![s, 1]))
            .with("padding", Attr::Ints(vec![p, 0]))
            .with("dilation", Attr::Ints(vec![dil, 1]))
            .with("groups", Attr::Int(1));
        let x = f32t(consts(&[1, 2, h, 3]));
        let w = f32t(consts(&[4, 2, k, 1]));
        let r = infer(GraphOp::Conv2d, &attrs, &[x, w]);
        if count >= 1 {
            prop_assert_eq!(r, Ok(vec![f32t(consts(&[1, 4, count, 3]))]));
        } else {
            prop_assert!(r.is_err());
        }
    }

    #[test]
    fn symbolic_conv_evaluates_like_constant_conv(
        h in 1i64..40, k in 1i64..6, s in 1i64..5, p in 0i64..4, dil in 1i64..4,
    ) {
        let attrs = Attrs::new()
            .with("stride", Attr::Ints(vec![s, s]))
            .with("padding", Attr::Ints(vec![p, p]))
            .with("dilation", Attr::Ints(vec![dil, dil]))
            .with("groups", Attr::Int(1));
        let w = f32t(consts(&[4, 2, k, k]));
        let sym = infer(GraphOp::Conv2d, &attrs, &[f32t(vec![SymExpr::lit(1), SymExpr::lit(2), SymExpr::name("H"), SymExpr::name("H")]), w.clone()]);
        let con = infer(GraphOp::Conv2d, &attrs, &[f32t(consts(&[1, 2, h, h])), w]);
        prop_assert!(sym.is_ok());
        if let (Ok(sym), Ok(con)) = (sym, con) {
            let got = sym[0].shape[2].eval(&|_| Some(h));
            prop_assert_eq!(got.ok(), con[0].shape[2].as_const());
        }
    }

    #[test]
    fn matmul_agrees_with_einsum(m in size(), k in size(), n in size(), batch in shape()) {
        let mut a = batch.clone();
        a.extend([m.clone(), k.clone()]);
        let b = vec![k.clone(), n.clone()];
        let mm = infer(GraphOp::MatMul, &Attrs::new(), &[f32t(a.clone()), f32t(b.clone())]);
        let mut want = batch.clone();
        want.extend([m, n]);
        prop_assert_eq!(mm, Ok(vec![f32t(want)]));
    }
}

/// Arbitrary attribute values, including wrong kinds and hostile numbers.
fn attr() -> impl Strategy<Value = Attr> {
    prop_oneof![
        prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(-1i64), 0i64..5].prop_map(Attr::Int),
        any::<f64>().prop_map(Attr::Float),
        any::<bool>().prop_map(Attr::Bool),
        prop_oneof![
            Just("ij,jk->ik"),
            Just("->"),
            Just("a,,->"),
            Just("ij->"),
            Just("...->")
        ]
        .prop_map(|s| Attr::Str(s.to_string())),
        (0usize..8).prop_map(|i| Attr::DType(DType::ALL[i])),
        prop::collection::vec(
            prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(-1i64), 0i64..5],
            0..5
        )
        .prop_map(Attr::Ints),
        prop::collection::vec(
            prop_oneof![
                size(),
                Just(SymExpr::lit(i64::MAX)),
                Just(SymExpr::lit(-3)),
                Just(SymExpr::lit(0))
            ],
            0..5
        )
        .prop_map(Attr::Sizes),
    ]
}

fn any_tensor() -> impl Strategy<Value = TensorType> {
    (
        0usize..8,
        prop::collection::vec(
            prop_oneof![size(), Just(SymExpr::lit(0)), Just(SymExpr::lit(i64::MAX))],
            0..5,
        ),
    )
        .prop_map(|(d, s)| TensorType::new(DType::ALL[d], s))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Inference returns a result or an error for anything; it never panics.
    #[test]
    fn never_panics(
        op_pick in 0usize..1000,
        names in prop::collection::vec(0usize..20, 0..5),
        values in prop::collection::vec(attr(), 5),
        operands in prop::collection::vec(any_tensor(), 0..4),
    ) {
        let op = GraphOp::ALL[op_pick % GraphOp::ALL.len()];
        let def = op.def();
        let mut attrs = Attrs::new();
        for (n, v) in names.iter().zip(values) {
            // Mostly declared names, sometimes unknown ones.
            let name = def.attrs.get(*n % (def.attrs.len() + 1)).map_or("bogus", |a| a.name);
            attrs.set(name, v);
        }
        let _ = infer(op, &attrs, &operands);
    }
}
