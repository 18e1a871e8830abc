//! The tile interpreter never panics on bad inputs or malformed kernels: wrong buffers,
//! unbound sizes, absurd grids and loops, operations given values of the wrong kind, and
//! non-elementwise map regions are errors naming the operation and its location.

mod common;

use common::*;
use std::collections::BTreeMap;
use tessera_dialects::{parse_module, DType, Module};
use tessera_interp::{run_kernel, InterpError};
use tessera_tensor::Tensor;

const COPY: &str =
    "tile.kernel @copy(%x: buf<f32[L]>, %y: buf<f32[L]>) attributes {grid = sizes[(L + 3) / 4]} {
  %i = tile.program_id {axis = 0} : () -> index
  %t = tile.load %x, %i : (buf<f32[L]>, index) -> tile<4xf32>
  tile.store %t, %y, %i : (tile<4xf32>, buf<f32[L]>, index) -> ()
}
";

fn module(src: &str) -> Module {
    parse_module(src).unwrap()
}

fn sizes(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(n, v)| (n.to_string(), *v)).collect()
}

/// Runs `@k` of `body` (a kernel with one f32[L] input and one f32[L] output).
fn run_body(body: &str, l: usize) -> Result<(), InterpError> {
    let src = format!(
        "tile.kernel @k(%alpha: f32, %x: buf<f32[L]>, %y: buf<f32[L]>) attributes {{grid = sizes[(L + 3) / 4]}} {{\n{body}}}\n"
    );
    let m = module(&src);
    let mut bufs = vec![
        scalar(2.0),
        f32t(&[l], &vec![1.0; l]),
        f32t(&[l], &vec![0.0; l]),
    ];
    run_kernel(&m, "k", &mut bufs, &sizes(&[("L", l as i64)]))
}

fn err_of(r: Result<(), InterpError>) -> InterpError {
    r.expect_err("the run must fail")
}

#[test]
fn wrong_buffer_dtype_and_shape() {
    let m = module(COPY);
    let s = sizes(&[("L", 8)]);
    let mut bufs = vec![
        Tensor::zeros(DType::F16, vec![8]).unwrap(),
        f32t(&[8], &[0.0; 8]),
    ];
    let e = err_of(run_kernel(&m, "copy", &mut bufs, &s));
    assert_eq!(e.param.as_deref(), Some("x"));
    assert!(e.message.contains("buf<f32[L]>"), "{}", e.message);
    let mut bufs = vec![f32t(&[8], &[0.0; 8]), f32t(&[7], &[0.0; 7])];
    let e = err_of(run_kernel(&m, "copy", &mut bufs, &s));
    assert_eq!(e.param.as_deref(), Some("y"));
    let mut bufs = vec![f32t(&[8], &[0.0; 8])];
    let e = err_of(run_kernel(&m, "copy", &mut bufs, &s));
    assert!(
        e.message.contains("takes 2 buffers, got 1"),
        "{}",
        e.message
    );
}

#[test]
fn unbound_and_negative_sizes() {
    let m = module(COPY);
    let mut bufs = vec![f32t(&[8], &[0.0; 8]), f32t(&[8], &[0.0; 8])];
    let e = err_of(run_kernel(&m, "copy", &mut bufs, &BTreeMap::new()));
    assert!(e.message.contains("`L` is not bound"), "{}", e.message);
    let e = err_of(run_kernel(&m, "copy", &mut bufs, &sizes(&[("L", -8)])));
    assert!(e.message.contains("negative"), "{}", e.message);
}

#[test]
fn buffers_are_unchanged_when_a_run_fails() {
    // The first grid point stores; the second fails on a bad loop bound.
    let body = "  %i = tile.program_id {axis = 0} : () -> index
  %t = tile.load %x, %i : (buf<f32[L]>, index) -> tile<4xf32>
  tile.store %t, %y, %i : (tile<4xf32>, buf<f32[L]>, index) -> ()
  tile.for {bounds = sizes[0, L / (L - 8)]} : () -> () (%k: index) {
    tile.yield
  }
";
    let src = format!(
        "tile.kernel @k(%x: buf<f32[L]>, %y: buf<f32[L]>) attributes {{grid = sizes[(L + 3) / 4]}} {{\n{body}}}\n"
    );
    let m = module(&src);
    let mut bufs = vec![f32t(&[8], &[1.0; 8]), f32t(&[8], &[0.0; 8])];
    let e = err_of(run_kernel(&m, "k", &mut bufs, &sizes(&[("L", 8)])));
    assert!(e.message.contains("division by zero"), "{}", e.message);
    assert_eq!(fl(&bufs[1]), vec![0.0; 8]);
}

#[test]
fn unknown_kernels_and_graph_functions() {
    let m = module(COPY);
    let mut bufs = vec![];
    let e = err_of(run_kernel(&m, "nope", &mut bufs, &BTreeMap::new()));
    assert!(e.message.contains("copy"), "{}", e.message);
    let g = module("graph.func @f(%x: f32) -> (f32) {\n  graph.return %x : f32\n}\n");
    let e = err_of(run_kernel(&g, "f", &mut bufs, &BTreeMap::new()));
    assert!(e.message.contains("graph.func"), "{}", e.message);
}

#[test]
fn absurd_grids_and_loops() {
    let src = "tile.kernel @g(%x: buf<f32[L]>) attributes {grid = sizes[65536, 65536]} {\n}\n";
    let mut bufs = vec![f32t(&[1], &[0.0])];
    let e = err_of(run_kernel(
        &module(src),
        "g",
        &mut bufs,
        &sizes(&[("L", 1)]),
    ));
    assert!(e.message.contains("more than"), "{}", e.message);
    let body = "  tile.for {bounds = sizes[0, L * L * L]} : () -> () (%k: index) {
    tile.yield
  }
";
    let e = err_of(run_body(body, 2_000_000));
    assert!(e.message.starts_with("tile.for:"), "{}", e.message);
    assert!(e.message.contains("iterations"), "{}", e.message);
    assert!(
        e.loc.0.is_some(),
        "the error carries the operation's location"
    );
    let body = "  %z = tile.zeros : () -> tile<100000x100000xf32>\n";
    let e = err_of(run_body(body, 4));
    assert!(e.message.contains("elements"), "{}", e.message);
}

#[test]
fn a_tile_op_given_a_tensor_or_an_index() {
    let body = "  %c = tile.cast %alpha {dtype = bf16} : (f32) -> tile<4xbf16>\n";
    let e = err_of(run_body(body, 4));
    assert!(e.message.starts_with("tile.cast:"), "{}", e.message);
    assert!(e.message.contains("must be a tile"), "{}", e.message);
    let body = "  %i = tile.program_id {axis = 0} : () -> index
  %t = tile.load %x, %alpha : (buf<f32[L]>, f32) -> tile<4xf32>
";
    let e = err_of(run_body(body, 4));
    assert!(e.message.contains("must be an index"), "{}", e.message);
    let body = "  %i = tile.program_id {axis = 0} : () -> index
  %t = tile.load %i, %i : (index, index) -> tile<4xf32>
";
    let e = err_of(run_body(body, 4));
    assert!(e.message.contains("must be a buffer"), "{}", e.message);
}

#[test]
fn map_regions_must_be_elementwise_on_elements() {
    let load = "  %i = tile.program_id {axis = 0} : () -> index
  %t = tile.load %x, %i : (buf<f32[L]>, index) -> tile<4xf32>
";
    let body = format!(
        "{load}  %r = tile.map %t : (tile<4xf32>) -> tile<4xf32> (%a: f32) {{
    %s = graph.softmax %a {{axis = 0}} : (f32) -> f32
    tile.yield %s : f32
  }}
"
    );
    let e = err_of(run_body(&body, 4));
    assert!(e.message.contains("not an elementwise"), "{}", e.message);
    let body = format!(
        "{load}  %r = tile.map %t : (tile<4xf32>) -> tile<4xf32> (%a: f32) {{
    %z = tile.zeros : () -> tile<4xf32>
    tile.yield %a : f32
  }}
"
    );
    let e = err_of(run_body(&body, 4));
    assert!(e.message.contains("computes one element"), "{}", e.message);
    // A tile captured from outside the region is not an element.
    let body = format!(
        "{load}  %r = tile.map %t : (tile<4xf32>) -> tile<4xf32> (%a: f32) {{
    %s = graph.add %a, %t : (f32, tile<4xf32>) -> f32
    tile.yield %s : f32
  }}
"
    );
    let e = err_of(run_body(&body, 4));
    assert!(e.message.contains("element values"), "{}", e.message);
}

#[test]
fn misdeclared_types_and_attributes() {
    let pid = "  %i = tile.program_id {axis = 0} : () -> index\n";
    // A load declared with the wrong dtype.
    let body = format!("{pid}  %t = tile.load %x, %i : (buf<f32[L]>, index) -> tile<4xi32>\n");
    let e = err_of(run_body(&body, 4));
    assert!(e.message.contains("loads a i32 tile"), "{}", e.message);
    // A float pad for an integer buffer cannot be represented.
    let src = "tile.kernel @p(%x: buf<i32[4]>) attributes {grid = sizes[1]} {
  %i = tile.program_id {axis = 0} : () -> index
  %t = tile.load %x, %i {pad = 0.5} : (buf<i32[4]>, index) -> tile<4xi32>
}
";
    let mut bufs = vec![it(DType::I32, &[4], &[0; 4])];
    let e = err_of(run_kernel(&module(src), "p", &mut bufs, &BTreeMap::new()));
    assert!(e.message.contains("`pad`"), "{}", e.message);
    // A program id past the grid's rank.
    let body = "  %i = tile.program_id {axis = 1} : () -> index\n";
    let e = err_of(run_body(body, 4));
    assert!(e.message.contains("not an axis"), "{}", e.message);
    // A dot whose declared result differs from what it computes.
    let body = format!(
        "{pid}  %a = tile.zeros : () -> tile<2x3xf32>
  %b = tile.zeros : () -> tile<3x2xf32>
  %c = tile.zeros : () -> tile<2x2xf32>
  %d = tile.dot %a, %b, %c : (tile<2x3xf32>, tile<3x2xf32>, tile<2x2xf32>) -> tile<2x3xf32>
"
    );
    let e = err_of(run_body(&body, 4));
    assert!(e.message.starts_with("tile.dot: result"), "{}", e.message);
    // A dot with mismatched shapes.
    let body = format!(
        "{pid}  %a = tile.zeros : () -> tile<2x3xf32>
  %c = tile.zeros : () -> tile<2x2xf32>
  %d = tile.dot %a, %a, %c : (tile<2x3xf32>, tile<2x3xf32>, tile<2x2xf32>) -> tile<2x2xf32>
"
    );
    let e = err_of(run_body(&body, 4));
    assert!(e.message.contains("shapes do not fit"), "{}", e.message);
    // A loop whose region yields the wrong number of values.
    let body = format!(
        "{pid}  %z = tile.zeros : () -> tile<4xf32>
  %r = tile.for %z {{bounds = sizes[0, 2]}} : (tile<4xf32>) -> tile<4xf32> (%k: index, %c: tile<4xf32>) {{
    tile.yield
  }}
"
    );
    let e = err_of(run_body(&body, 4));
    assert!(e.message.contains("yields 0 value"), "{}", e.message);
    // A broadcast that NumPy rules reject.
    let body = format!(
        "{pid}  %z = tile.zeros : () -> tile<3xf32>
  %b = tile.broadcast %z : (tile<3xf32>) -> tile<2x4xf32>
"
    );
    let e = err_of(run_body(&body, 4));
    assert!(e.message.starts_with("tile.broadcast:"), "{}", e.message);
    // A reduce over an axis the tile does not have.
    let body = format!(
        "{pid}  %z = tile.zeros : () -> tile<3xf32>
  %r = tile.reduce %z {{axis = 1, kind = \"sum\"}} : (tile<3xf32>) -> tile<3xf32>
"
    );
    let e = err_of(run_body(&body, 4));
    assert!(e.message.contains("not an axis"), "{}", e.message);
}

#[test]
fn bad_kernel_parameters() {
    let src = "tile.kernel @t(%x: tile<4xf32>) attributes {grid = sizes[1]} {\n}\n";
    let mut bufs = vec![f32t(&[4], &[0.0; 4])];
    let e = err_of(run_kernel(&module(src), "t", &mut bufs, &BTreeMap::new()));
    assert!(
        e.message.contains("must be a buffer or a 0-d tensor"),
        "{}",
        e.message
    );
    let src = "tile.kernel @s(%x: buf<f32[4], scratch>) attributes {grid = sizes[1]} {\n}\n";
    let mut bufs = vec![f32t(&[3], &[0.0; 3])];
    let e = err_of(run_kernel(&module(src), "s", &mut bufs, &BTreeMap::new()));
    assert!(e.message.contains("placeholder"), "{}", e.message);
    let src = "tile.kernel @h(%x: buf<f32[N], scratch>) attributes {grid = sizes[1]} {\n}\n";
    let mut bufs = vec![f32t(&[0], &[])];
    let e = err_of(run_kernel(
        &module(src),
        "h",
        &mut bufs,
        &sizes(&[("N", 1 << 40)]),
    ));
    assert!(e.message.contains("elements"), "{}", e.message);
}
