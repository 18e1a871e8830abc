//! `matmul` and `einsum` against hand-computed products and naive triple loops, with batch
//! broadcasting, vectors, integer accumulation and property tests (matmul == einsum).

mod common;

use common::*;
use proptest::prelude::*;
use tessera_dialects::DType;
use tessera_interp::kernels::einsum::einsum;
use tessera_interp::kernels::matmul::matmul;
use tessera_tensor::Tensor;

/// A naive batched matmul over already-broadcast shapes [b, m, k] x [b, k, n].
fn naive_bmm(a: &[f32], b: &[f32], bs: usize, m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0f32; bs * m * n];
    for p in 0..bs {
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f64;
                for q in 0..k {
                    s += a[p * m * k + i * k + q] as f64 * b[p * k * n + q * n + j] as f64;
                }
                out[p * m * n + i * n + j] = s as f32;
            }
        }
    }
    out
}

#[test]
fn matmul_by_hand() {
    let a = f32t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let b = f32t(&[3, 2], &[7.0, 8.0, 9.0, 10.0, 11.0, 12.0]);
    let r = matmul(&a, &b).unwrap();
    assert_eq!(r.shape(), &[2, 2]);
    assert_eq!(fl(&r), vec![58.0, 64.0, 139.0, 154.0]);
    assert!(matmul(&a, &a).unwrap_err().contains("3 vs 2"));
}

#[test]
fn matmul_vectors_like_numpy() {
    let v = f32t(&[3], &[1.0, 2.0, 3.0]);
    let m = f32t(&[3, 2], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
    let r = matmul(&v, &m).unwrap();
    assert_eq!(r.shape(), &[2]);
    assert_eq!(fl(&r), vec![4.0, 5.0]);
    let mt = f32t(&[2, 3], &[1.0, 0.0, 1.0, 0.0, 1.0, 1.0]);
    let r = matmul(&mt, &v).unwrap();
    assert_eq!(r.shape(), &[2]);
    assert_eq!(fl(&r), vec![4.0, 5.0]);
    let r = matmul(&v, &v).unwrap();
    assert_eq!(r.shape(), &[] as &[usize]);
    assert_eq!(fl(&r), vec![14.0]);
}

#[test]
fn batched_matmul_broadcasts_leading_dims() {
    let mut g = Lcg(1);
    // [2, 1, 3, 4] @ [5, 4, 2] -> [2, 5, 3, 2]
    let a = g.tensor(&[2, 1, 3, 4]);
    let b = g.tensor(&[5, 4, 2]);
    let r = matmul(&a, &b).unwrap();
    assert_eq!(r.shape(), &[2, 5, 3, 2]);
    // Broadcast by hand to [10, 3, 4] and [10, 4, 2].
    let (av, bv) = (fl(&a), fl(&b));
    let mut ab = Vec::new();
    let mut bb = Vec::new();
    for i in 0..2 {
        for j in 0..5 {
            ab.extend_from_slice(&av[i * 12..(i + 1) * 12]);
            bb.extend_from_slice(&bv[j * 8..(j + 1) * 8]);
        }
    }
    assert_close(&fl(&r), &naive_bmm(&ab, &bb, 10, 3, 4, 2), 1e-6);
    // Batch mismatch.
    assert!(matmul(&g.tensor(&[2, 3, 4]), &g.tensor(&[3, 4, 2])).is_err());
}

#[test]
fn int8_matmul_accumulates_in_i32() {
    let a = it(DType::I8, &[1, 3], &[127, 127, -128]);
    let b = it(DType::I8, &[3, 1], &[127, 127, -128]);
    let r = matmul(&a, &b).unwrap();
    assert_eq!(r.dtype(), DType::I32);
    assert_eq!(ints(&r), vec![127 * 127 * 2 + 128 * 128]);
    let c = it(DType::I32, &[1, 1], &[i32::MAX]);
    let d = it(DType::I32, &[1, 1], &[2]);
    assert_eq!(ints(&matmul(&c, &d).unwrap()), vec![-2]);
    assert!(matmul(&a, &f32t(&[3, 1], &[0.0; 3])).is_err());
}

#[test]
fn matmul_f64_accumulation_is_exact_for_cancelling_sums() {
    // In f32, (1e8 + 1) - 1e8 loses the 1; f64 accumulation keeps it.
    let a = f32t(&[1, 3], &[1e8, 1.0, -1e8]);
    let b = f32t(&[3, 1], &[1.0, 1.0, 1.0]);
    assert_eq!(fl(&matmul(&a, &b).unwrap()), vec![1.0]);
}

#[test]
fn einsum_forms() {
    let a = f32t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let b = f32t(&[3, 2], &[7.0, 8.0, 9.0, 10.0, 11.0, 12.0]);
    // matmul
    assert_eq!(
        fl(&einsum("ij,jk->ik", &[&a, &b]).unwrap()),
        vec![58.0, 64.0, 139.0, 154.0]
    );
    // transpose
    let t = einsum("ij->ji", &[&a]).unwrap();
    assert_eq!(t.shape(), &[3, 2]);
    assert_eq!(fl(&t), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    // full sum and row sums
    assert_eq!(fl(&einsum("ij->", &[&a]).unwrap()), vec![21.0]);
    assert_eq!(fl(&einsum("ij->i", &[&a]).unwrap()), vec![6.0, 15.0]);
    // outer product
    let u = f32t(&[2], &[1.0, 2.0]);
    let v = f32t(&[3], &[1.0, 10.0, 100.0]);
    let o = einsum("i,j->ij", &[&u, &v]).unwrap();
    assert_eq!(o.shape(), &[2, 3]);
    assert_eq!(fl(&o), vec![1.0, 10.0, 100.0, 2.0, 20.0, 200.0]);
    // elementwise product summed per row (contraction without matmul form)
    let p = einsum("ij,ij->i", &[&a, &a]).unwrap();
    assert_eq!(fl(&p), vec![14.0, 77.0]);
    // three operands: u^T A w with A = a (2x3), w = v
    let r = einsum("i,ij,j->", &[&u, &a, &v]).unwrap();
    // A v = [1 + 20 + 300, 4 + 50 + 600] = [321, 654]; u . Av = 321 + 1308
    assert_eq!(fl(&r), vec![1629.0]);
    // trace via a repeated label (NumPy diagonal semantics)
    let sq = f32t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(fl(&einsum("ii->", &[&sq]).unwrap()), vec![5.0]);
    // errors
    assert!(einsum("ij,jk->ik", &[&a, &a]).is_err());
    assert!(einsum("ij,jk", &[&a, &b]).is_err());
    assert!(einsum("ijk->i", &[&a]).is_err());
    assert!(einsum("ij->i", &[&a, &b]).is_err());
}

#[test]
fn einsum_batched_attention_scores() {
    let mut g = Lcg(3);
    let q = g.tensor(&[2, 3, 4]);
    let k = g.tensor(&[2, 5, 4]);
    let r = einsum("bqd,bkd->bqk", &[&q, &k]).unwrap();
    assert_eq!(r.shape(), &[2, 3, 5]);
    // k transposed by hand to [2, 4, 5]
    let kv = fl(&k);
    let mut kt = vec![0f32; 40];
    for b in 0..2 {
        for j in 0..5 {
            for d in 0..4 {
                kt[b * 20 + d * 5 + j] = kv[b * 20 + j * 4 + d];
            }
        }
    }
    assert_close(&fl(&r), &naive_bmm(&fl(&q), &kt, 2, 3, 4, 5), 1e-6);
}

#[test]
fn einsum_int8_gives_i32() {
    let a = it(DType::I8, &[2], &[100, 100]);
    let r = einsum("i,i->", &[&a, &a]).unwrap();
    assert_eq!(r.dtype(), DType::I32);
    assert_eq!(ints(&r), vec![20000]);
}

fn arb_matrix(r: usize, c: usize) -> impl Strategy<Value = Tensor> {
    prop::collection::vec(-4.0f32..4.0, r * c).prop_map(move |v| f32t(&[r, c], &v))
}

proptest! {
    #[test]
    fn matmul_agrees_with_einsum((a, b) in (1usize..6, 1usize..6, 1usize..6)
        .prop_flat_map(|(m, k, n)| (arb_matrix(m, k), arb_matrix(k, n)))) {
        let x = matmul(&a, &b).unwrap();
        let y = einsum("ij,jk->ik", &[&a, &b]).unwrap();
        prop_assert_eq!(x.shape(), y.shape());
        prop_assert_eq!(fl(&x), fl(&y));
    }

    #[test]
    fn einsum_transpose_matches_matmul_of_transposes((a, b) in (1usize..5, 1usize..5, 1usize..5)
        .prop_flat_map(|(m, k, n)| (arb_matrix(m, k), arb_matrix(k, n)))) {
        // (AB)^T = B^T A^T
        let ab_t = einsum("ij,jk->ki", &[&a, &b]).unwrap();
        let bt = einsum("jk->kj", &[&b]).unwrap();
        let at = einsum("ij->ji", &[&a]).unwrap();
        let r = matmul(&bt, &at).unwrap();
        prop_assert_eq!(fl(&ab_t), fl(&r));
    }
}

#[test]
fn einsum_refuses_astronomical_label_spaces() {
    let v = f32t(&[4096], &[0.0; 4096]);
    let e = einsum("a,b,c,d->", &[&v, &v, &v, &v]).unwrap_err();
    assert!(e.contains("2^34"), "{e}");
}
