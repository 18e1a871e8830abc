//! Slice checks (`tessera_tiling::checks`): which slices of a function need a check when a
//! call binds its sizes, IR in and checks out, and `Tiled::execute` refusing a call whose
//! sizes put a slice out of range, as the graph interpreter does.

mod common;

use common::{graph, inputs};
use std::collections::BTreeMap;
use tessera_tiling::checks::slice_checks;
use tessera_tiling::{lower_func, Schedule};

/// `(start:end of size dim, what)` of each check, as text.
fn shown(src: &str) -> Vec<String> {
    let m = graph(src);
    let f = m.func("main").expect("main");
    slice_checks(f, &|_| Some("f.tsr".to_string()))
        .iter()
        .map(|c| {
            format!(
                "{}:{} of {} (axis {}) // {}",
                c.start, c.end, c.dim, c.axis, c.what
            )
        })
        .collect()
}

#[test]
fn only_slices_whose_bounds_depend_on_symbolic_sizes_are_checked() {
    // Axis 0: a fixed bound of a symbolic size; axis 1: the whole axis (always fits);
    // axis 2: constants (checked by the frontend).
    let src = "fn main(x: f32[B, N, 4]) -> f32[3, N, 2] { x[0:3, :, 1:3] }";
    assert_eq!(shown(src), ["0:3 of B (axis 0) // graph.slice at f.tsr"]);
    // A negative index is `B - 3` in the IR; its bounds are named in the message.
    let src = "fn main(x: f32[B]) -> f32[3] { x[-3:] }";
    assert_eq!(
        shown(src),
        ["B - 3:B of B (axis 0) // graph.slice at f.tsr, bounds B - 3:B"]
    );
    // The same bounds twice are checked once; constant shapes need no check.
    let src = "fn main(x: f32[B]) -> f32[2] { x[0:2] + x[0:2] * 2.0 }";
    assert_eq!(shown(src).len(), 1);
    assert!(shown("fn main(x: f32[8]) -> f32[3] { x[2:5] }").is_empty());
}

#[test]
fn execute_refuses_sizes_that_put_a_slice_out_of_range() {
    let m = graph("fn main(x: f32[B]) -> f32[3] { x[-3:] * 2.0 }");
    // Lowering keeps the checks of the function it lowers.
    let tiled = lower_func(&m, "main", &Schedule::host()).expect("lowers");
    assert_eq!(tiled.slice_checks.len(), 1);
    let run = |b: i64| {
        let sizes = BTreeMap::from([("B".to_string(), b)]);
        tiled.execute(inputs(&m, &sizes, 3), &mut |m, k, bufs, sizes| {
            tessera_interp::run_kernel(m, k, bufs, sizes).map_err(|e| e.to_string())
        })
    };
    let err = run(2).unwrap_err();
    assert_eq!(
        err,
        "graph.slice, bounds B - 3:B: slice -1:2 is out of range for axis 0 of size 2"
    );
    let interp = tessera_interp::run_func(
        &m,
        "main",
        inputs(&m, &BTreeMap::from([("B".to_string(), 2)]), 3),
    );
    assert!(interp.unwrap_err().message.contains("out of range"));
    assert_eq!(run(5).expect("runs")[0].shape(), [3]);
}
