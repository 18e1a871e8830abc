//! Grouped `conv2d` with symbolic channel counts (`tessera_tiling::groups`): one
//! ungrouped convolution per group on channel slices, joined by a concat, lowered to tile
//! IR and run in the tile interpreter against the graph interpreter (inputs in [-2, 2],
//! f32 within 1e-4 of `1 + |want|`), small and host-sized tiles, ragged sizes.

mod common;

use common::{close, graph, inputs, run_tiled};
use std::collections::BTreeMap;
use tessera_tiling::{lower_func, Schedule};

const SRC: &str = "fn main(x: f32[N, 4, H, W], w: f32[O, 2, 3, 3], v: f32[O, 1, 2, 2]) -> (f32[N, O, H, W], f32[N, O, H - 1, W - 1]) {
    (conv2d(x, w, padding: [1, 1], groups: 2), conv2d(x, v, groups: 4))
}";

#[test]
fn grouped_conv2d_with_a_symbolic_channel_count() {
    let m = graph(SRC);
    let small = Schedule {
        elementwise: 8,
        mm: 4,
        mk: 4,
        rows: 2,
    };
    for s in [small, Schedule::host()] {
        let tiled = lower_func(&m, "main", &s).unwrap_or_else(|e| panic!("{e}"));
        for (i, (n, o, h, w)) in [(1, 4, 2, 2), (2, 8, 5, 9), (1, 12, 3, 40)]
            .into_iter()
            .enumerate()
        {
            let sizes: BTreeMap<String, i64> = [("N", n), ("O", o), ("H", h), ("W", w)]
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect();
            let xs = inputs(&m, &sizes, 110 + i as u64);
            let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("graph interpreter");
            let got = run_tiled(&tiled, xs);
            close(&got, &want, 1e-4).unwrap_or_else(|e| panic!("{s} {sizes:?}: {e}\n{tiled}"));
        }
    }
}

#[test]
fn the_rewrite_slices_convolves_and_concatenates() {
    let m = graph(SRC);
    let f = m.func("main").expect("main");
    let d = tessera_tiling::groups::split_groups(f).expect("rewrites");
    let text = tessera_dialects::print_func(&d);
    assert_eq!(text.matches("graph.conv2d").count(), 6, "{text}");
    assert_eq!(text.matches("graph.concat").count(), 2, "{text}");
    assert!(text.contains("groups = 1"), "{text}");
    assert!(!text.contains("groups = 2"), "{text}");
    // Constant channel counts keep the direct grouped lowering.
    let m = graph("fn main(x: f32[N, 4, H, W], w: f32[6, 2, 3, 3]) -> f32[N, 6, H - 2, W - 2] { conv2d(x, w, groups: 2) }");
    let d = tessera_tiling::groups::split_groups(m.func("main").expect("main")).expect("rewrites");
    assert!(tessera_dialects::print_func(&d).contains("groups = 2"));
}
