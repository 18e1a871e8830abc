//! The `tile` dialect: kernels verify, and their structural and shape errors are found.

use tessera_dialects::{parse_module, print_module, verify_module, FuncKind, Module};

const KERNEL: &str = "tile.kernel @copy(%x: buf<f32[M, N]>, %y: buf<f32[M, N]>) attributes {grid = sizes[(M + 31) / 32, (N + 31) / 32], parallel = [0, 1]} {
  %i = tile.program_id {axis = 0} : () -> index
  %j = tile.program_id {axis = 1} : () -> index
  %z = tile.zeros : () -> tile<32x32xf32>
  %r = tile.for %z {bounds = sizes[0, 4]} : (tile<32x32xf32>) -> tile<32x32xf32> (%k: index, %c: tile<32x32xf32>) {
    %t = tile.load %x, %i, %j : (buf<f32[M, N]>, index, index) -> tile<32x32xf32>
    %d = tile.dot %t, %t, %c : (tile<32x32xf32>, tile<32x32xf32>, tile<32x32xf32>) -> tile<32x32xf32>
    tile.yield %d : tile<32x32xf32>
  }
  %s = tile.reduce %r {axis = 0, kind = \"max\"} : (tile<32x32xf32>) -> tile<32xf32>
  %b = tile.broadcast %s : (tile<32xf32>) -> tile<32x32xf32>
  tile.store %b, %y, %i, %j : (tile<32x32xf32>, buf<f32[M, N]>, index, index) -> ()
}
";

fn parse(src: &str) -> Module {
    parse_module(src).unwrap_or_else(|e| panic!("{e}\n{src}"))
}

/// The verifier's messages for `src`.
fn errors(src: &str) -> Vec<String> {
    match verify_module(&parse(src)) {
        Ok(()) => Vec::new(),
        Err(es) => es.iter().map(|e| e.to_string()).collect(),
    }
}

/// Replaces `from` by `to` in the kernel and expects exactly the errors `needles`.
fn check_edit(from: &str, to: &str, needles: &[&str]) {
    assert!(KERNEL.contains(from), "`{from}` not in the kernel");
    let es = errors(&KERNEL.replace(from, to));
    assert_eq!(es.len(), needles.len(), "{es:#?}");
    for (e, n) in es.iter().zip(needles) {
        assert!(e.contains(n), "`{e}` does not mention `{n}`");
    }
}

#[test]
fn kernel_verifies_and_round_trips() {
    let m = parse(KERNEL);
    assert_eq!(m.funcs[0].kind, FuncKind::Kernel);
    assert_eq!(errors(KERNEL), Vec::<String>::new());
    assert_eq!(print_module(&m), KERNEL);
}

#[test]
fn kernel_attributes_are_checked() {
    check_edit(
        "attributes {grid = sizes[(M + 31) / 32, (N + 31) / 32], parallel = [0, 1]}",
        "attributes {parallel = [0, 1]}",
        &["in @copy (bytes 0..57): kernel attributes: missing required attribute `grid`"],
    );
    check_edit(
        "%j = tile.program_id {axis = 1}",
        "%j = tile.program_id {axis = 2}",
        &["axis 2 is not an axis of the 2-D grid"],
    );
    let e = parse_module(&KERNEL.replace("parallel = [0, 1]", "parallel = 1")).expect_err("kind");
    assert!(
        e.message
            .contains("`parallel` of `tile.kernel` must be an integer list"),
        "{e}"
    );
}

#[test]
fn loops_are_checked() {
    check_edit(
        "(%k: index, %c: tile<32x32xf32>)",
        "(%c: tile<32x32xf32>, %k: index)",
        &["the region's arguments must be (index, tile<32x32xf32>), found (tile<32x32xf32>, index)"],
    );
    check_edit(
        "{bounds = sizes[0, 4]}",
        "{bounds = sizes[4]}",
        &["`bounds` must be `sizes[lower, upper]`"],
    );
    check_edit(
        "    tile.yield %d : tile<32x32xf32>\n",
        "    tile.yield %t, %d : tile<32x32xf32>, tile<32x32xf32>\n",
        &["the region yields (tile<32x32xf32>, tile<32x32xf32>), but the results are (tile<32x32xf32>)"],
    );
    check_edit(
        "    tile.yield %d : tile<32x32xf32>\n",
        "",
        &["region #0 must end with a terminator"],
    );
}

#[test]
fn memory_ops_are_checked() {
    check_edit(
        "%t = tile.load %x, %i, %j : (buf<f32[M, N]>, index, index) -> tile<32x32xf32>",
        "%t = tile.load %x, %i : (buf<f32[M, N]>, index) -> tile<32x32xf32>",
        &["`buf<f32[M, N]>` needs 2 index(es), found 1"],
    );
    check_edit(
        "tile.store %b, %y, %i, %j : (tile<32x32xf32>, buf<f32[M, N]>, index, index) -> ()",
        "tile.store %s, %y, %i, %j : (tile<32xf32>, buf<f32[M, N]>, index, index) -> ()",
        &["cannot store `tile<32xf32>` into `buf<f32[M, N]>`"],
    );
    check_edit(
        "tile.zeros : ()",
        "tile.zeros {place = \"l3\"} : ()",
        &["`place` must be registers, scratch or global"],
    );
}

#[test]
fn prefetch_is_checked() {
    let line = "  tile.store %b, %y, %i, %j";
    let with = |pf: &str| KERNEL.replace(line, &format!("  {pf}\n{line}"));
    let ok = with("tile.prefetch %x, %i {rows = 32} : (buf<f32[M, N]>, index) -> ()");
    assert_eq!(errors(&ok), Vec::<String>::new());
    assert_eq!(print_module(&parse(&ok)), ok);
    let cases = [
        (
            "tile.prefetch %x, %i {rows = 0} : (buf<f32[M, N]>, index) -> ()",
            "`rows` must be at least 1",
        ),
        (
            "tile.prefetch %x, %i : (buf<f32[M, N]>, index) -> ()",
            "missing required attribute `rows`",
        ),
        (
            "tile.prefetch %b, %i {rows = 1} : (tile<32x32xf32>, index) -> ()",
            "expected a buffer",
        ),
        (
            "tile.prefetch %x, %b {rows = 1} : (buf<f32[M, N]>, tile<32x32xf32>) -> ()",
            "is not an `index`",
        ),
    ];
    for (pf, needle) in cases {
        let es = errors(&with(pf));
        assert!(es.iter().any(|e| e.contains(needle)), "{pf}: {es:#?}");
    }
}

#[test]
fn compute_ops_are_checked() {
    check_edit(
        "%d = tile.dot %t, %t, %c : (tile<32x32xf32>, tile<32x32xf32>, tile<32x32xf32>) -> tile<32x32xf32>",
        "%d = tile.dot %t, %c, %k : (tile<32x32xf32>, tile<32x32xf32>, index) -> tile<32x32xf32>",
        &["`%k` has type `index`, expected a tile"],
    );
    check_edit(
        "{axis = 0, kind = \"max\"} : (tile<32x32xf32>) -> tile<32xf32>",
        "{axis = 2, kind = \"prod\"} : (tile<32x32xf32>) -> tile<32xf32>",
        &[
            "axis 2 is not an axis of `tile<32x32xf32>`",
            "`kind` must be sum, max, min or argmax",
        ],
    );
    check_edit(
        "-> tile<32x32xf32>\n  tile.store %b, %y, %i, %j : (tile<32x32xf32>,",
        "-> tile<32x16xf32>\n  tile.store %b, %y, %i, %j : (tile<32x16xf32>,",
        &["`tile<32xf32>` does not broadcast to `tile<32x16xf32>`"],
    );
}

#[test]
fn map_regions_are_checked() {
    let src = "tile.kernel @m(%x: buf<f32[L]>) attributes {grid = sizes[1]} {
  %t = tile.load %x, %x : (buf<f32[L]>, buf<f32[L]>) -> tile<8xf32>
  %m = tile.map %t : (tile<8xf32>) -> tile<8xf32> (%a: i32) {
    %b = graph.relu %a : (i32) -> i32
    tile.yield %b : i32
  }
  tile.yield
}
";
    let es = errors(src);
    assert_eq!(es.len(), 4, "{es:#?}");
    assert!(es[0].contains("`%x` is not an `index`"), "{es:?}");
    assert!(
        es[1].contains(
            "the region's arguments must be the operands' element types (f32), found (i32)"
        ),
        "{es:?}"
    );
    assert!(es[2].contains("the result must be `tile<8xi32>`"), "{es:?}");
    assert!(
        es[3].contains("`tile.yield` may only end the region of a tile operation"),
        "{es:?}"
    );
}

#[test]
fn kernels_have_no_results() {
    let src = KERNEL.replace(
        "%y: buf<f32[M, N]>) attributes",
        "%y: buf<f32[M, N]>) -> (f32) attributes",
    );
    let es = errors(&src);
    assert_eq!(es.len(), 1, "{es:#?}");
    assert!(es[0].contains("a kernel has no results"), "{es:?}");
}
