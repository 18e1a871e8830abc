//! The SIMD `i8 x i8 -> i32` `tile.dot` (`lower/dot_int.rs`) compiled with Cranelift and
//! compared bit for bit with the tile interpreter: random tile and buffer sizes (odd K,
//! N not a multiple of 4, M not a multiple of the block, sizes not multiples of the
//! tiles), random blocks and unroll factors, operands with many -128 and 127 and an
//! accumulator started near the ends of `i32` (so that a saturating or narrowed sum, or
//! a wrong wrap, shows), and the CLIF forms the x64 back end turns into `pmaddwd` or,
//! on hosts with AVX-VNNI or AVX512-VNNI, `vpdpbusd` (`lower/dot_vnni.rs`). Every check
//! runs both kernels: the host's and the `pmaddwd` one ([`JitBackend::without_vnni`]).

mod common;

use common::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use tessera_codegen_cpu::JitBackend;
use tessera_dialects::DType;
use tessera_tensor::{Data, Tensor};

/// A matmul kernel `out = c + a @ b` with `i8` operands, an `i32` accumulator started
/// from the buffer `c`, tiles `tm x tk` and `tk x tn`, and the given dot attributes.
fn kernel(tm: u64, tk: u64, tn: u64, attrs: &str) -> String {
    format!(
        "tile.kernel @mm(%a: buf<i8[M, K]>, %b: buf<i8[K, N]>, %c: buf<i32[M, N]>, %out: buf<i32[M, N]>) attributes {{grid = sizes[(M + {m1}) / {tm}, (N + {n1}) / {tn}], parallel = [0, 1], vector = 4}} {{
  %i = tile.program_id {{axis = 0}} : () -> index
  %j = tile.program_id {{axis = 1}} : () -> index
  %init = tile.load %c, %i, %j : (buf<i32[M, N]>, index, index) -> tile<{tm}x{tn}xi32>
  %acc = tile.for %init {{bounds = sizes[0, (K + {k1}) / {tk}]}} : (tile<{tm}x{tn}xi32>) -> tile<{tm}x{tn}xi32> (%k: index, %s: tile<{tm}x{tn}xi32>) {{
    %ta = tile.load %a, %i, %k : (buf<i8[M, K]>, index, index) -> tile<{tm}x{tk}xi8>
    %tb = tile.load %b, %k, %j : (buf<i8[K, N]>, index, index) -> tile<{tk}x{tn}xi8>
    %d = tile.dot %ta, %tb, %s {attrs} : (tile<{tm}x{tk}xi8>, tile<{tk}x{tn}xi8>, tile<{tm}x{tn}xi32>) -> tile<{tm}x{tn}xi32>
    tile.yield %d : tile<{tm}x{tn}xi32>
  }}
  tile.store %acc, %out, %i, %j : (tile<{tm}x{tn}xi32>, buf<i32[M, N]>, index, index) -> ()
}}
",
        m1 = tm - 1,
        n1 = tn - 1,
        k1 = tk - 1,
    )
}

thread_local! {
    /// Whether [`check`] passes the dot its live columns (`N - tn * j`).
    static LIVE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// An `i8` value: -128 or 127 one time in four each, else uniform.
fn extreme_i8(g: &mut Lcg) -> i32 {
    match g.next_u32() % 8 {
        0 | 1 => -128,
        2 | 3 => 127,
        _ => (g.next_u32() % 256) as i32 - 128,
    }
}

/// An `i32` accumulator start: near `i32::MAX` or `i32::MIN`, or small.
fn extreme_i32(g: &mut Lcg) -> i32 {
    let d = (g.next_u32() % 1000) as i32;
    match g.next_u32() % 3 {
        0 => i32::MAX - d,
        1 => i32::MIN + d,
        _ => d - 500,
    }
}

fn tensor(dtype: DType, shape: &[usize], mut f: impl FnMut() -> i32) -> Tensor {
    let v = (0..shape.iter().product()).map(|_| f()).collect();
    Tensor::new(dtype, shape.to_vec(), Data::Int(v)).unwrap()
}

/// Runs the kernel for tiles `(tm, tk, tn)` and buffer sizes `(m, k, n)` on the CPU and in
/// the tile interpreter with operands from `elem` and accumulators from `acc`; the four
/// buffers must be identical.
fn check(
    tiles: (u64, u64, u64),
    attrs: &str,
    (m, k, n): (usize, usize, usize),
    seed: u64,
    elem: fn(&mut Lcg) -> i32,
    acc: fn(&mut Lcg) -> i32,
) {
    let (tm, tk, tn) = tiles;
    let mut text = kernel(tm, tk, tn, attrs);
    if LIVE.with(|l| l.get()) {
        // Live columns: the dot may leave the columns past `N` undefined (never stored).
        text = text
            .replace(
                "  %init = ",
                &format!("  %nl = tile.affine %j {{coeffs = [-{tn}], offset = sizes[N]}} : (index) -> index\n  %init = "),
            )
            .replace("%d = tile.dot %ta, %tb, %s {", "%d = tile.dot %ta, %tb, %s, %nl {")
            .replace(&format!("xi32>) -> tile<{tm}x{tn}xi32>\n    tile.yield"), &format!("xi32>, index) -> tile<{tm}x{tn}xi32>\n    tile.yield"));
        assert!(
            text.contains("%s, %nl {") && text.contains("xi32>, index) ->"),
            "{text}"
        );
    }
    let module = module(&text);
    let s: BTreeMap<String, i64> = sizes(&[("M", m as i64), ("K", k as i64), ("N", n as i64)]);
    let mut g = Lcg(seed);
    let args = vec![
        tensor(DType::I8, &[m, k], || elem(&mut g)),
        tensor(DType::I8, &[k, n], || elem(&mut g)),
        tensor(DType::I32, &[m, n], || acc(&mut g)),
        tensor(DType::I32, &[m, n], || 7),
    ];
    let mut want = args.clone();
    tessera_interp::run_kernel(&module, "mm", &mut want, &s).unwrap();
    // The host's kernel and the `pmaddwd` one, on the same operands.
    for backend in [
        JitBackend::new().unwrap(),
        JitBackend::without_vnni().unwrap(),
    ] {
        let vnni = backend.has_vnni();
        let compiled = backend
            .compile(&module, "mm")
            .unwrap_or_else(|e| panic!("{tiles:?} {attrs} (vnni {vnni}): {e}"));
        let mut got = args.clone();
        compiled.run_tensors(&mut got, &s).unwrap();
        for (i, (x, y)) in got.iter().zip(&want).enumerate() {
            assert_tensors(
                x,
                y,
                Tol::Exact,
                &format!("tiles {tiles:?} {attrs} sizes {s:?} buffer {i} (vnni {vnni})"),
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Random tiles, blocks, unroll factors and buffer sizes, extreme operands.
    #[test]
    fn random_tiles_are_bit_identical(
        tm in 1u64..=20, tk in 1u64..=40, tn in 1u64..=40,
        rows in 1i64..=6, vecs in 1i64..=4, unroll in 1i64..=3,
        m in 1usize..=45, k in 1usize..=90, n in 1usize..=45,
        seed in any::<u64>(),
    ) {
        let attrs = format!("{{block = [{rows}, {vecs}], unroll = {unroll}, pack = \"both\"}}");
        check((tm, tk, tn), &attrs, (m, k, n), seed, extreme_i8, extreme_i32);
    }
}

#[test]
fn live_columns_skip_the_panels_past_them() {
    // The convolution's form: a 64-column tile whose last columns lie past `N`.
    LIVE.with(|l| l.set(true));
    for (tm, tk, tn) in [(16, 16, 64), (7, 5, 13), (8, 33, 24)] {
        for (r, v) in [(4, 2), (1, 1), (3, 3)] {
            let attrs = format!("{{block = [{r}, {v}], unroll = 2, pack = \"both\"}}");
            for size in [(16, 16, 56), (13, 7, 29), (9, 40, 1), (20, 33, 50)] {
                check((tm, tk, tn), &attrs, size, 5, extreme_i8, extreme_i32);
            }
        }
    }
    LIVE.with(|l| l.set(false));
}

#[test]
fn ragged_edges_of_every_kind() {
    // Odd and even K (1 included), N % 4 = 0..3 with full and partial panels, M below,
    // at and above the block, buffers not multiples of the tiles.
    for (tm, tk, tn) in [
        (8, 16, 32),
        (7, 5, 13),
        (13, 1, 6),
        (5, 3, 1),
        (16, 9, 27),
        (12, 33, 24),
        (32, 256, 10),
        (4, 2, 4),
    ] {
        for (r, v) in [(4, 2), (1, 1), (3, 3), (6, 2), (2, 4)] {
            let attrs = format!("{{block = [{r}, {v}], pack = \"both\"}}");
            for size in [(1, 1, 1), (13, 7, 29), (40, 33, 50), (9, 1, 1), (2, 70, 3)] {
                check((tm, tk, tn), &attrs, size, 11, extreme_i8, extreme_i32);
            }
        }
    }
}

#[test]
fn the_largest_magnitudes_wrap_as_the_interpreter_does() {
    // Every product 2^14 (-128 x -128) or -127 x 128 ... and the sums run past i32::MAX
    // from an accumulator started next to it: any saturation would show.
    let all = |v: i32| -> fn(&mut Lcg) -> i32 {
        match v {
            -128 => |_| -128,
            _ => |_| 127,
        }
    };
    for v in [-128, 127] {
        for size in [(5, 301, 9), (8, 64, 16), (3, 3, 3)] {
            check((8, 64, 16), "", size, 3, all(v), |_| i32::MAX - 5);
            check((4, 7, 5), "{unroll = 2}", size, 3, all(v), |_| i32::MIN);
        }
    }
    check(
        (8, 64, 16),
        "",
        (9, 200, 17),
        5,
        |g| {
            if g.next_u32() % 2 == 0 {
                -128
            } else {
                127
            }
        },
        extreme_i32,
    );
}

#[test]
fn the_clif_is_the_pmaddwd_or_vpdpbusd_tree_and_bad_schedules_are_refused() {
    let m = module(&kernel(8, 16, 24, "{block = [4, 2], pack = \"both\"}"));
    let b = JitBackend::without_vnni().unwrap();
    assert!(!b.has_vnni());
    let clif = tessera_codegen_cpu::clif_text(&b.compile(&m, "mm").unwrap());
    // One pair step of a 4 x 2 block: 8 products, each a pairwise add of two widened
    // multiplies (x64: `pmaddwd`), and 4 broadcast pair words.
    assert!(clif.matches(" = iadd_pairwise ").count() >= 8, "{clif}");
    assert!(clif.matches(" = swiden_high ").count() >= 8, "{clif}");
    assert!(clif.matches(" = splat.i32x4 ").count() >= 4, "{clif}");
    assert!(clif.contains("sload8x8"), "{clif}");
    assert!(!clif.contains("uwiden_low"), "{clif}");
    let host = (std::is_x86_feature_detected!("avx") && std::is_x86_feature_detected!("avxvnni"))
        || (std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512vnni"));
    let b = JitBackend::new().unwrap();
    assert_eq!(b.has_vnni(), host);
    if host {
        // One quad step: 8 trees of three pairwise adds over an unsigned-by-signed
        // widened product (x64: `vpdpbusd`), the lhs biased by flipping its sign bits
        // and the rhs's column sums (the compensation) subtracted first.
        let clif = tessera_codegen_cpu::clif_text(&b.compile(&m, "mm").unwrap());
        assert!(clif.matches(" = uwiden_low ").count() >= 8, "{clif}");
        assert!(clif.matches(" = iadd_pairwise ").count() >= 24, "{clif}");
        assert!(clif.contains(" = bxor "), "{clif}");
        assert!(clif.matches(" = isub ").count() >= 8, "{clif}");
        assert!(!clif.contains("sload8x8"), "{clif}");
    }
    for (attrs, what) in [
        ("{block = [4, 2], pack = \"rhs\"}", "pack"),
        ("{madd = \"fma\"}", "madd"),
        ("{block = [0, 2]}", "block"),
        ("{unroll = 17}", "unroll"),
    ] {
        let bad = module(&kernel(8, 16, 24, attrs));
        let e = b.compile(&bad, "mm").expect_err(attrs);
        assert!(e.to_string().contains(what), "{attrs}: {e}");
    }
}
