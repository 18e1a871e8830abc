//! Unsupported IR and mismatched arguments are errors (before any native code runs);
//! 1 and 2 threads give identical bytes; the Cranelift IR text is deterministic and shows
//! the vector code.

mod common;

use common::*;
use tessera_codegen_cpu::{clif_text, CodegenError, JitBackend};
use tessera_runtime::ThreadPool;
use tessera_tensor::Tensor;

const BF16_MAP: &str = r#"
tile.kernel @bmap(%x: buf<bf16[L]>, %y: buf<bf16[L]>) attributes {grid = sizes[(L + 7) / 8]} {
  %i = tile.program_id {axis = 0} : () -> index
  %t = tile.load %x, %i : (buf<bf16[L]>, index) -> tile<8xbf16>
  %r = tile.map %t : (tile<8xbf16>) -> tile<8xbf16> (%a: bf16) {
    %n = graph.neg %a : (bf16) -> bf16
    tile.yield %n : bf16
  }
  tile.store %r, %y, %i : (tile<8xbf16>, buf<bf16[L]>, index) -> ()
}

tile.kernel @idiv(%x: buf<i32[L]>, %y: buf<i32[L]>) attributes {grid = sizes[(L + 7) / 8]} {
  %i = tile.program_id {axis = 0} : () -> index
  %t = tile.load %x, %i : (buf<i32[L]>, index) -> tile<8xi32>
  %r = tile.map %t, %t : (tile<8xi32>, tile<8xi32>) -> tile<8xi32> (%a: i32, %b: i32) {
    %q = graph.div %a, %b : (i32, i32) -> i32
    tile.yield %q : i32
  }
  tile.store %r, %y, %i : (tile<8xi32>, buf<i32[L]>, index) -> ()
}

tile.kernel @breduce(%x: buf<bool[2, 8]>, %y: buf<bool[2]>) attributes {grid = sizes[1]} {
  %i = tile.program_id {axis = 0} : () -> index
  %t = tile.load %x, %i, %i : (buf<bool[2, 8]>, index, index) -> tile<2x8xbool>
  %r = tile.reduce %t {axis = 1, kind = "sum"} : (tile<2x8xbool>) -> tile<2xbool>
  tile.store %r, %y, %i : (tile<2xbool>, buf<bool[2]>, index) -> ()
}
"#;

fn unsupported_message(name: &str) -> String {
    let m = module(BF16_MAP);
    match JitBackend::new().unwrap().compile(&m, name) {
        Err(e @ CodegenError::Unsupported(_)) => e.to_string(),
        other => panic!("{name}: expected an unsupported error, got {other:?}"),
    }
}

#[test]
fn unsupported_ops_are_clear_errors() {
    // Maps on bf16 tiles compile (widened to f32, rounded back after each operation).
    assert!(JitBackend::new()
        .unwrap()
        .compile(&module(BF16_MAP), "bmap")
        .is_ok());
    // Integer division compiles (floor division, tests/lanes.rs).
    assert!(JitBackend::new()
        .unwrap()
        .compile(&module(BF16_MAP), "idiv")
        .is_ok());
    // The interpreter refuses bool reductions too.
    assert_eq!(
        unsupported_message("breduce"),
        "unsupported in the CPU back end: tile.reduce on bool tiles"
    );
}

#[test]
fn missing_kernel_and_graph_function_are_errors() {
    let m = kernels_tir();
    let b = JitBackend::new().unwrap();
    assert!(matches!(
        b.compile(&m, "nope"),
        Err(CodegenError::Invalid(_))
    ));
    let g = interp_ops_tir();
    assert!(b.compile(&g, "tanh_minus_row").is_ok());
}

#[test]
fn mismatched_buffers_are_rejected_before_running() {
    let m = interp_ops_tir();
    let k = JitBackend::new().unwrap().compile(&m, "axpy").unwrap();
    let s = sizes(&[("L", 100)]);
    let mut g = Lcg(1);
    let args = random_args(&m, "axpy", &s, &mut g);
    // Too few buffers.
    let mut few = args[..3].to_vec();
    let e = k.run_tensors(&mut few, &s).unwrap_err();
    assert!(e.to_string().contains("takes 4 buffers, got 3"), "{e}");
    // A size that is not bound.
    let mut a = args.clone();
    let e = k.run_tensors(&mut a, &sizes(&[])).unwrap_err();
    assert!(e.to_string().contains("size `L`"), "{e}");
    // A buffer of the wrong length: the output is shorter than L.
    let mut a = args.clone();
    a[3] = g.tensor(tessera_dialects::DType::F32, &[99]);
    let e = k.run_tensors(&mut a, &s).unwrap_err();
    assert!(e.to_string().contains("parameter %out"), "{e}");
    // The wrong dtype.
    let mut a = args.clone();
    a[1] = g.tensor(tessera_dialects::DType::I32, &[100]);
    let e = k.run_tensors(&mut a, &s).unwrap_err();
    assert!(e.to_string().contains("parameter %x"), "{e}");
    // Raw bytes: one byte short.
    let mut bufs: Vec<Vec<u8>> = vec![vec![0; 4], vec![0; 400], vec![0; 400], vec![0; 399]];
    let mut views: Vec<&mut [u8]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
    let e = k.run_bytes(&mut views, &s).unwrap_err();
    assert!(e.to_string().contains("expects 400 bytes, got 399"), "{e}");
    // A negative size and a huge one.
    let e = k.run_bytes(&mut views, &sizes(&[("L", -4)])).unwrap_err();
    assert!(matches!(e, CodegenError::Argument(_)), "{e}");
    let e = k
        .run_bytes(&mut views, &sizes(&[("L", 1 << 40)]))
        .unwrap_err();
    assert!(matches!(e, CodegenError::Argument(_)), "{e}");
    // Nothing ran: the output is unchanged by the failed calls.
    assert!(bufs[3].iter().all(|&b| b == 0));
}

#[test]
fn one_and_two_threads_give_identical_results() {
    let b = JitBackend::new().unwrap();
    let (p1, p2) = (ThreadPool::new(1).unwrap(), ThreadPool::new(2).unwrap());
    let cases: Vec<(
        tessera_dialects::Module,
        &str,
        std::collections::BTreeMap<String, i64>,
    )> = vec![
        (
            kernels_tir(),
            "matmul_bias_relu",
            sizes(&[("M", 130), ("N", 200), ("K", 300)]),
        ),
        (kernels_tir(), "row_sum", sizes(&[("R", 200), ("C", 70)])),
        (cpu_tir(), "vmap", sizes(&[("L", 5003)])),
        (cpu_tir(), "fib", sizes(&[("L", 100), ("S", 5)])),
    ];
    for (m, name, s) in cases {
        let k = b.compile(&m, name).unwrap();
        let args = random_args(&m, name, &s, &mut Lcg(9));
        let one: Vec<Tensor> = run_on(&k, &p1, &args, &s);
        let two: Vec<Tensor> = run_on(&k, &p2, &args, &s);
        for (x, y) in one.iter().zip(&two) {
            assert_tensors(x, y, Tol::Exact, name);
        }
    }
}

#[test]
fn clif_is_deterministic_and_vectorised() {
    let b = JitBackend::new().unwrap();
    assert!(b.has_fma(), "cranelift-native detects FMA on this host");
    let m = cpu_tir();
    let t1 = clif_text(&b.compile(&m, "mm32").unwrap());
    let t2 = clif_text(&b.compile(&m, "mm32").unwrap());
    assert_eq!(t1, t2);
    assert!(t1.contains("fma") && t1.contains("f32x4"), "{t1}");
    let v = clif_text(&b.compile(&m, "vmap").unwrap());
    assert!(v.contains("f32x4") && v.contains("fma"), "{v}");
    let s = clif_text(&b.compile(&m, "mm6").unwrap());
    // N = 6: four columns in f32x4 accumulators (unaligned rows), the last two scalar.
    assert!(
        s.contains("f32x4") && s.contains(" = fma "),
        "mm6 (N = 6): {s}"
    );
}

/// The chunks of `inplace` are read and written in place: its maps and its sum read
/// `f32x4` vectors with the buffers' flags (`notrap`, no alignment promise), where a copy
/// into the frame would be read `notrap aligned`, and the maps store vectors the same way.
/// `shifted` keeps its store through the frame (its read and written runs overlap).
#[test]
fn contiguous_chunks_skip_the_frame() {
    let b = JitBackend::new().unwrap();
    let m = cpu_tir();
    let t = clif_text(&b.compile(&m, "inplace").unwrap());
    let in_place = |t: &str, what: &str| {
        t.lines()
            .filter(|l| l.contains(what) && !l.contains("aligned"))
            .count()
    };
    // x and g in the first map, out in the sum and in the second map.
    assert!(in_place(&t, "load.f32x4 notrap") >= 4, "{t}");
    assert!(
        t.lines()
            .any(|l| l.trim_start().starts_with("store notrap v") && !l.contains("aligned")),
        "{t}"
    );
    // Parallel runs agree on both kernels (one and two threads).
    let (p1, p2) = (ThreadPool::new(1).unwrap(), ThreadPool::new(2).unwrap());
    for (name, s) in [
        ("inplace", sizes(&[("R", 9), ("C", 29)])),
        ("shifted", sizes(&[("L", 50)])),
    ] {
        let k = b.compile(&m, name).unwrap();
        let args = random_args(&m, name, &s, &mut Lcg(3));
        let one: Vec<Tensor> = run_on(&k, &p1, &args, &s);
        let two: Vec<Tensor> = run_on(&k, &p2, &args, &s);
        for (x, y) in one.iter().zip(&two) {
            assert_tensors(x, y, Tol::Exact, name);
        }
    }
}
