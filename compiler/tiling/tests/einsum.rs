//! `einsum` forms other than one matmul-form contraction (`tessera_tiling::einsum`): one
//! operand, three operands, several contracted labels, labels summed inside one operand,
//! outer products and matrix-vector products, lowered to tile IR and run in the tile
//! interpreter against the graph interpreter (uniform inputs in [-2, 2], ragged symbolic
//! sizes, small and host-sized tiles; f32 within 1e-4 of `1 + |want|`: each contraction
//! step rounds to f32), and the graph the rewrite builds.

mod common;

use common::{close, graph, inputs, run_tiled};
use std::collections::BTreeMap;
use tessera_tiling::{lower_func, Schedule};

fn small() -> Schedule {
    Schedule {
        elementwise: 8,
        mm: 4,
        mk: 4,
        rows: 2,
    }
}

fn check(src: &str, bindings: &[&[(&str, i64)]]) {
    check_within(src, bindings, 1e-4)
}

fn check_within(src: &str, bindings: &[&[(&str, i64)]], rtol: f64) {
    let m = graph(src);
    for schedule in [small(), Schedule::host()] {
        let tiled = lower_func(&m, "main", &schedule).unwrap_or_else(|e| panic!("{src}: {e}"));
        for (n, b) in bindings.iter().enumerate() {
            let sizes: BTreeMap<String, i64> = b.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            let xs = inputs(&m, &sizes, 70 + n as u64);
            let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("graph interpreter");
            let got = run_tiled(&tiled, xs);
            close(&got, &want, rtol).unwrap_or_else(|e| panic!("{schedule} {b:?}: {e}\n{tiled}"));
        }
    }
}

#[test]
fn one_operand_sums_and_permutes() {
    check(
        "fn main(a: f32[M, N], x: f32[B, M, N]) -> (f32[M], f32[N, M], f32, f32[B, N, M], f32[N], f32[M, N]) {
            (einsum(\"ij->i\", a), einsum(\"ij->ji\", a), einsum(\"ij->\", a),
             einsum(\"bij->bji\", x), einsum(\"bij->j\", x), einsum(\"ij->ij\", a))
        }",
        &[&[("M", 1), ("N", 1), ("B", 1)], &[("M", 5), ("N", 7), ("B", 3)]],
    );
}

#[test]
fn outer_products_dots_and_matrix_vector_products() {
    check(
        "fn main(u: f32[M], v: f32[N], a: f32[M, N], x: f32[B, M, N]) -> (f32[M, N], f32, f32[M], f32[N], f32[B, M], f32[B, M, N, M]) {
            (einsum(\"i,j->ij\", u, v), einsum(\"i,i->\", u, u), einsum(\"ij,j->i\", a, v),
             einsum(\"i,ij->j\", u, a), einsum(\"bij,j->bi\", x, v), einsum(\"bij,k->bijk\", x, u))
        }",
        &[&[("M", 1), ("N", 1), ("B", 1)], &[("M", 6), ("N", 9), ("B", 2)]],
    );
}

#[test]
fn several_contracted_labels_and_sums_inside_one_operand() {
    check(
        "fn main(x: f32[B, M, K], y: f32[M, K], a: f32[M, K], b: f32[K, N]) -> (f32[B], f32[N], f32[M], f32[B, N]) {
            (einsum(\"bij,ij->b\", x, y), einsum(\"ij,jk->k\", a, b), einsum(\"ij,jk->i\", a, b),
             einsum(\"bij,jk->bk\", x, b))
        }",
        &[&[("M", 1), ("K", 1), ("N", 1), ("B", 1)], &[("M", 5), ("K", 6), ("N", 7), ("B", 3)]],
    );
}

#[test]
fn three_and_four_operands_as_a_chain() {
    check(
        "fn main(a: f32[M, K], b: f32[K, N], c: f32[N, P], x: f32[B, M, K], y: f32[B, K, N], u: f32[M]) -> (f32[M, P], f32[B, M, P], f32[M], f32) {
            (einsum(\"ij,jk,kl->il\", a, b, c), einsum(\"bij,bjk,kl->bil\", x, y, c),
             einsum(\"ij,jk,ik->i\", a, b, einsum(\"ij,jk->ik\", a, b)), einsum(\"i,ij,jk,kl->\", u, a, b, c))
        }",
        &[&[("M", 1), ("K", 1), ("N", 1), ("P", 1), ("B", 1)], &[("M", 5), ("K", 6), ("N", 7), ("P", 3), ("B", 2)]],
    );
}

#[test]
fn the_rewrite_builds_matmuls_sums_and_transposes() {
    let m = graph("fn main(a: f32[M, K], b: f32[K, N], c: f32[N, P], x: f32[M, K]) -> (f32[M, P], f32[M]) { (einsum(\"ij,jk,kl->il\", a, b, c), einsum(\"ij,ij->i\", a, x)) }");
    let f = m.func("main").expect("main");
    let d = tessera_tiling::einsum::decompose_einsums(f).expect("rewrites");
    let text = tessera_dialects::print_func(&d);
    assert_eq!(text.matches("graph.matmul").count(), 3, "{text}");
    assert!(!text.contains("graph.einsum"), "{text}");
    // `ij,ij->i`: i is a batch label, j is contracted: a batched [1, J] @ [J, 1].
    assert!(text.contains("graph.reshape"), "{text}");
    // A matmul-form einsum is left to the direct lowering.
    let m =
        graph("fn main(a: f32[M, K], b: f32[K, N]) -> f32[M, N] { einsum(\"ij,jk->ik\", a, b) }");
    let f = m.func("main").expect("main");
    let d = tessera_dialects::print_func(
        &tessera_tiling::einsum::decompose_einsums(f).expect("rewrites"),
    );
    assert!(d.contains("graph.einsum"), "{d}");
}

/// Two `i8` operands with no label summed within one: one `i8 x i8 -> i32` matmul (exact),
/// the int8 einsum of `--precision int8`; with a label summed within one operand, the
/// einsum is left as it is (and refused by the lowering: `lower_conv_contract.rs`).
#[test]
fn int8_einsums_become_one_i8_matmul() {
    let src = "fn main(x: i8[M, 4, 6], w: i8[4, 6, N], a: i8[B, M, 3], b: i8[M, 3, B]) -> (i32[M, N], i32[B, M]) {
        (einsum(\"ijk,jkl->il\", x, w), einsum(\"bmk,mkb->bm\", a, b))
    }";
    let m = graph(src);
    let d =
        tessera_tiling::einsum::decompose_einsums(m.func("main").expect("main")).expect("rewrites");
    let text = tessera_dialects::print_func(&d);
    assert!(!text.contains("graph.einsum"), "{text}");
    assert_eq!(text.matches("graph.matmul").count(), 2, "{text}");
    assert!(text.contains("-> i32["), "{text}");
    check(
        src,
        &[
            &[("M", 1), ("N", 1), ("B", 1)],
            &[("M", 5), ("N", 9), ("B", 3)],
        ],
    );
}

/// Einsums of narrow floats or integers in other forms are widened first: narrow floats to
/// `f32` (the result rounded once; at most an ulp of the narrow format from the
/// interpreter's one rounding of the exact sum), `i8` and `i32` to `i32`, whose wrapping
/// sums and products give the interpreter's result exactly in any order.
#[test]
fn narrow_float_and_integer_einsums_are_widened() {
    let m = graph("fn main(x: i8[2, 3], y: i8[3, 4]) -> i32[4] { einsum(\"ij,jk->k\", x, y) }");
    let d =
        tessera_tiling::einsum::decompose_einsums(m.func("main").expect("main")).expect("rewrites");
    let text = tessera_dialects::print_func(&d);
    assert!(!text.contains("graph.einsum"), "{text}");
    assert_eq!(text.matches("{dtype = i32}").count(), 2, "{text}");
    let sizes: &[&[(&str, i64)]] = &[&[("M", 1), ("N", 1)], &[("M", 5), ("N", 7)]];
    for (d, rtol) in [
        ("bf16", 8e-3),
        ("f16", 1e-3),
        ("f8e4m3", 0.07),
        ("i32", 0.0),
        ("i8", 0.0),
    ] {
        let r = if d == "i8" { "i32" } else { d };
        check_within(
            &format!(
                "fn main(a: {d}[M, N], v: {d}[N], x: {d}[2, M, N], y: {d}[N, 3]) -> ({r}[M], {r}, {r}[N], {r}[2, 3]) {{
                    (einsum(\"ij,j->i\", a, v), einsum(\"ij->\", a), einsum(\"bij->j\", x), einsum(\"bij,jk->bk\", x, y))
                }}"
            ),
            sizes,
            rtol,
        );
    }
}
