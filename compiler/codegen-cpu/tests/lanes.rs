//! Maps on four lanes beyond `f32` arithmetic (comparisons as lane masks, `select`, `i32`
//! arithmetic) and integer division (floor, `x / 0 == 0`, `MIN / -1` wraps), against the
//! tile interpreter, bit for bit, with edge values (NaN, infinities, -0, zero divisors,
//! `i32::MIN`) and ragged lengths (scalar tails).

mod common;

use common::{assert_tensors, module, sizes, Lcg, Tol};
use tessera_codegen_cpu::JitBackend;
use tessera_dialects::DType;
use tessera_tensor::{Data, Tensor};

const TIR: &str = r#"
tile.kernel @masks(%x: buf<f32[L]>, %y: buf<f32[L]>, %j: buf<i32[L]>, %out: buf<f32[L]>, %iout: buf<i32[L]>) attributes {grid = sizes[(L + 1002) / 1003]} {
  %i = tile.program_id {axis = 0} : () -> index
  %a = tile.load %x, %i : (buf<f32[L]>, index) -> tile<1003xf32>
  %b = tile.load %y, %i : (buf<f32[L]>, index) -> tile<1003xf32>
  %c = tile.load %j, %i : (buf<i32[L]>, index) -> tile<1003xi32>
  %r = tile.map %a, %b, %c : (tile<1003xf32>, tile<1003xf32>, tile<1003xi32>) -> tile<1003xf32> (%p: f32, %q: f32, %n: i32) {
    %lt = graph.lt %p, %q : (f32, f32) -> bool
    %m = graph.mul %p, %q : (f32, f32) -> f32
    %mx = graph.max %p, %q : (f32, f32) -> f32
    %s1 = graph.select %lt, %m, %mx : (bool, f32, f32) -> f32
    %eq = graph.eq %p, %q : (f32, f32) -> bool
    %z = graph.constant {value = -0.0, dtype = f32} : () -> f32
    %s2 = graph.select %eq, %z, %s1 : (bool, f32, f32) -> f32
    %k = graph.constant {value = 3, dtype = i32} : () -> i32
    %ge = graph.ge %n, %k : (i32, i32) -> bool
    %e = graph.sqrt %p : (f32) -> f32
    %s3 = graph.select %ge, %e, %s2 : (bool, f32, f32) -> f32
    tile.yield %s3 : f32
  }
  tile.store %r, %out, %i : (tile<1003xf32>, buf<f32[L]>, index) -> ()
  %ri = tile.map %a, %c : (tile<1003xf32>, tile<1003xi32>) -> tile<1003xi32> (%u: f32, %v: i32) {
    %ne = graph.ne %u, %u : (f32, f32) -> bool
    %t = graph.mul %v, %v : (i32, i32) -> i32
    %w = graph.sub %t, %v : (i32, i32) -> i32
    %h = graph.constant {value = -5, dtype = i32} : () -> i32
    %x1 = graph.max %w, %h : (i32, i32) -> i32
    %x2 = graph.abs %x1 : (i32) -> i32
    %x3 = graph.neg %x2 : (i32) -> i32
    %x4 = graph.relu %v : (i32) -> i32
    %x5 = graph.min %x3, %x4 : (i32, i32) -> i32
    %le = graph.le %v, %h : (i32, i32) -> bool
    %x6 = graph.select %le, %w, %x5 : (bool, i32, i32) -> i32
    %x7 = graph.select %ne, %h, %x6 : (bool, i32, i32) -> i32
    tile.yield %x7 : i32
  }
  tile.store %ri, %iout, %i : (tile<1003xi32>, buf<i32[L]>, index) -> ()
}

tile.kernel @outside(%x: buf<f32[L]>, %out: buf<f32[L]>) attributes {grid = sizes[(L + 7) / 8]} {
  %i = tile.program_id {axis = 0} : () -> index
  %a = tile.load %x, %i : (buf<f32[L]>, index) -> tile<8xf32>
  %t = graph.constant {value = true, dtype = bool} : () -> bool
  %k = graph.constant {value = 2.5, dtype = f32} : () -> f32
  %r = tile.map %a : (tile<8xf32>) -> tile<8xf32> (%p: f32) {
    %m = graph.mul %p, %k : (f32, f32) -> f32
    %s = graph.select %t, %m, %p : (bool, f32, f32) -> f32
    tile.yield %s : f32
  }
  tile.store %r, %out, %i : (tile<8xf32>, buf<f32[L]>, index) -> ()
}

tile.kernel @idiv(%x: buf<DT[L]>, %y: buf<DT[L]>, %out: buf<DT[L]>) attributes {grid = sizes[(L + 6) / 7]} {
  %i = tile.program_id {axis = 0} : () -> index
  %a = tile.load %x, %i : (buf<DT[L]>, index) -> tile<7xDT>
  %b = tile.load %y, %i {pad = 1} : (buf<DT[L]>, index) -> tile<7xDT>
  %r = tile.map %a, %b : (tile<7xDT>, tile<7xDT>) -> tile<7xDT> (%p: DT, %q: DT) {
    %d = graph.div %p, %q : (DT, DT) -> DT
    tile.yield %d : DT
  }
  tile.store %r, %out, %i : (tile<7xDT>, buf<DT[L]>, index) -> ()
}
"#;

fn ints(d: DType, v: Vec<i32>) -> Tensor {
    Tensor::new(d, vec![v.len()], Data::Int(v)).unwrap()
}

fn floats(v: Vec<f32>) -> Tensor {
    Tensor::from_f32(DType::F32, vec![v.len()], v).unwrap()
}

/// Runs kernel `name` of `text` natively and in the tile interpreter on `args`; every
/// buffer must be bit-identical.
fn same(text: &str, name: &str, args: Vec<Tensor>) {
    let m = module(text);
    let l = args[0].shape()[0] as i64;
    let s = sizes(&[("L", l)]);
    let mut want = args.clone();
    tessera_interp::run_kernel(&m, name, &mut want, &s).unwrap();
    let k = JitBackend::new().unwrap().compile(&m, name).unwrap();
    let mut got = args;
    k.run_tensors(&mut got, &s).unwrap();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_tensors(g, w, Tol::Exact, &format!("{name} L={l} buffer {i}"));
    }
}

#[test]
fn comparisons_selects_and_i32_arithmetic_on_lanes() {
    let mut g = Lcg(11);
    let edges = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        0.0,
        1.0,
        1.0,
        -3.5,
        1e30,
        -1e-40,
    ];
    for l in [1usize, 5, 1003, 2011] {
        let x: Vec<f32> = (0..l)
            .map(|i| {
                if i % 7 == 0 {
                    edges[i % edges.len()]
                } else {
                    g.f() * 4.0
                }
            })
            .collect();
        let y: Vec<f32> = (0..l)
            .map(|i| {
                if i % 5 == 0 {
                    edges[(i / 5) % edges.len()]
                } else {
                    g.f() * 4.0
                }
            })
            .collect();
        let j: Vec<i32> = (0..l)
            .map(|i| match i % 11 {
                0 => i32::MIN,
                1 => i32::MAX,
                _ => (g.next_u32() % 21) as i32 - 10,
            })
            .collect();
        let args = vec![
            floats(x),
            floats(y),
            ints(DType::I32, j),
            floats(vec![0.0; l]),
            ints(DType::I32, vec![0; l]),
        ];
        same(&TIR.replace("DT", "i32"), "masks", args);
    }
    // A bool from outside the region keeps the map on the scalar path.
    same(
        &TIR.replace("DT", "i32"),
        "outside",
        vec![
            floats(vec![
                1.0,
                -2.0,
                3.5,
                f32::NAN,
                0.0,
                -0.0,
                7.0,
                8.0,
                9.0,
                1e30,
                -1e-40,
            ]),
            floats(vec![0.0; 11]),
        ],
    );
    // Both maps ran on lanes.
    let m = module(&TIR.replace("DT", "i32"));
    let k = JitBackend::new().unwrap().compile(&m, "masks").unwrap();
    let clif = tessera_codegen_cpu::clif_text(&k);
    assert!(clif.contains("load.i32x4"), "{clif}");
    assert!(clif.contains("bitselect"), "{clif}");
}

#[test]
fn integer_division_floors_and_never_traps() {
    for d in [DType::I32, DType::I8] {
        let text = TIR.replace("DT", &d.to_string());
        let (min, max) = if d == DType::I8 {
            (-128, 127)
        } else {
            (i32::MIN, i32::MAX)
        };
        let a = vec![min, min, -7, 7, -7, 7, 0, 5, max, -1, min, 3, -128, 6];
        let b = vec![-1, 1, 2, -2, -2, 2, 0, 0, -1, -1, 0, -3, 3, 4];
        same(
            &text,
            "idiv",
            vec![
                ints(d, a.clone()),
                ints(d, b.clone()),
                ints(d, vec![0; a.len()]),
            ],
        );
        let mut g = Lcg(5);
        let r: Vec<i32> = (0..1000).map(|_| (g.next_u32() % 41) as i32 - 20).collect();
        let q: Vec<i32> = (0..1000).map(|_| (g.next_u32() % 9) as i32 - 4).collect();
        same(
            &text,
            "idiv",
            vec![ints(d, r), ints(d, q), ints(d, vec![0; 1000])],
        );
    }
}

const REDUCE: &str = r#"
tile.kernel @rows(%x: buf<f32[R, 80]>, %s: buf<f32[R]>, %mx: buf<f32[R]>, %mn: buf<f32[R]>) attributes {grid = sizes[(R + 2) / 3]} {
  %i = tile.program_id {axis = 0} : () -> index
  %zero = tile.index {value = sizes[0]} : () -> index
  %t = tile.load %x, %i, %zero : (buf<f32[R, 80]>, index, index) -> tile<3x80xf32>
  %a = tile.reduce %t {axis = 1, kind = "sum"} : (tile<3x80xf32>) -> tile<3xf32>
  %b = tile.reduce %t {axis = 1, kind = "max"} : (tile<3x80xf32>) -> tile<3xf32>
  %c = tile.reduce %t {axis = 1, kind = "min"} : (tile<3x80xf32>) -> tile<3xf32>
  tile.store %a, %s, %i : (tile<3xf32>, buf<f32[R]>, index) -> ()
  tile.store %b, %mx, %i : (tile<3xf32>, buf<f32[R]>, index) -> ()
  tile.store %c, %mn, %i : (tile<3xf32>, buf<f32[R]>, index) -> ()
}
"#;

/// Rows of 80 (a multiple of 16): four independent accumulators; NaN and infinities
/// propagate as in the interpreter, sums agree within f32 reassociation.
#[test]
fn last_axis_reductions_with_four_accumulators() {
    let m = module(REDUCE);
    let mut g = Lcg(3);
    let rows = 7;
    let mut x: Vec<f32> = (0..rows * 80).map(|_| g.f() * 10.0).collect();
    x[80 + 17] = f32::NAN;
    x[160 + 79] = f32::INFINITY;
    x[240 + 3] = f32::NEG_INFINITY;
    x[320 + 40] = f32::INFINITY;
    x[320 + 41] = f32::NEG_INFINITY;
    let args = vec![
        Tensor::from_f32(DType::F32, vec![rows, 80], x).unwrap(),
        floats(vec![0.0; rows]),
        floats(vec![0.0; rows]),
        floats(vec![0.0; rows]),
    ];
    let s = sizes(&[("R", rows as i64)]);
    let mut want = args.clone();
    tessera_interp::run_kernel(&m, "rows", &mut want, &s).unwrap();
    let k = JitBackend::new().unwrap().compile(&m, "rows").unwrap();
    let mut got = args;
    k.run_tensors(&mut got, &s).unwrap();
    let tol = Tol::Close {
        rtol: 1e-5,
        atol: 1e-4,
    };
    assert_tensors(&got[1], &want[1], tol, "sum");
    assert_tensors(&got[2], &want[2], Tol::Exact, "max");
    assert_tensors(&got[3], &want[3], Tol::Exact, "min");
}

const UNIT_AXIS: &str = r#"
tile.kernel @unit(%x: buf<f32[L, 8]>, %y: buf<f32[L, 8]>, %s: buf<f32[L]>, %c: buf<f32[L, 8]>) attributes {grid = sizes[L]} {
  %i = tile.program_id {axis = 0} : () -> index
  %zero = tile.index {value = sizes[0]} : () -> index
  %t = tile.load %x, %i, %zero : (buf<f32[L, 8]>, index, index) -> tile<1x8xf32>
  %r = tile.reduce %t {axis = 0, kind = "max"} : (tile<1x8xf32>) -> tile<8xf32>
  %m = tile.reduce %t {axis = 0, kind = "min"} : (tile<1x8xf32>) -> tile<8xf32>
  %q = tile.reduce %t {axis = 0, kind = "sum"} : (tile<1x8xf32>) -> tile<8xf32>
  %d = tile.map %r, %m, %q : (tile<8xf32>, tile<8xf32>, tile<8xf32>) -> tile<8xf32> (%a: f32, %b: f32, %e: f32) {
    %u = graph.sub %a, %b : (f32, f32) -> f32
    %v = graph.add %u, %e : (f32, f32) -> f32
    tile.yield %v : f32
  }
  %w = tile.broadcast %d : (tile<8xf32>) -> tile<1x8xf32>
  tile.store %w, %y, %i, %zero : (tile<1x8xf32>, buf<f32[L, 8]>, index, index) -> ()
  %z = tile.reduce %t {axis = 1, kind = "sum"} : (tile<1x8xf32>) -> tile<1xf32>
  tile.store %z, %s, %i : (tile<1xf32>, buf<f32[L]>, index) -> ()
  %init = tile.zeros : () -> tile<1x8xf32>
  %acc = tile.for %init {bounds = sizes[0, 3]} : (tile<1x8xf32>) -> tile<1x8xf32> (%k: index, %p: tile<1x8xf32>) {
    %pr = tile.reduce %p {axis = 0, kind = "max"} : (tile<1x8xf32>) -> tile<8xf32>
    %tr = tile.reduce %t {axis = 0, kind = "max"} : (tile<1x8xf32>) -> tile<8xf32>
    %n = tile.map %pr, %tr : (tile<8xf32>, tile<8xf32>) -> tile<8xf32> (%f: f32, %g: f32) {
      %h = graph.add %f, %g : (f32, f32) -> f32
      tile.yield %h : f32
    }
    %nb = tile.broadcast %n : (tile<8xf32>) -> tile<1x8xf32>
    tile.yield %nb : tile<1x8xf32>
  }
  tile.store %acc, %c, %i, %zero : (tile<1x8xf32>, buf<f32[L, 8]>, index, index) -> ()
}
"#;

/// Reductions over a size-1 axis are the tile itself seen without that axis (no code):
/// bit-identical to the interpreter (NaN and -0 kept), the reduced tile still readable
/// whole afterwards, and an iteration value (rewritten every step) never shared.
#[test]
fn reductions_over_a_size_one_axis() {
    let mut g = Lcg(11);
    let l = 5;
    let mut x: Vec<f32> = (0..l * 8).map(|_| g.f() * 4.0 - 2.0).collect();
    x[3] = f32::NAN;
    x[9] = -0.0;
    x[17] = f32::NEG_INFINITY;
    same(
        UNIT_AXIS,
        "unit",
        vec![
            Tensor::from_f32(DType::F32, vec![l, 8], x).unwrap(),
            Tensor::from_f32(DType::F32, vec![l, 8], vec![0.0; l * 8]).unwrap(),
            floats(vec![0.0; l]),
            Tensor::from_f32(DType::F32, vec![l, 8], vec![0.0; l * 8]).unwrap(),
        ],
    );
}
