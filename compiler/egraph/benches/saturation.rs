//! `cargo bench -p tessera-egraph --bench saturation`: the time of saturation plus
//! extraction (`tessera_egraph::optimize`) for every function of every example, the median
//! of 7 runs after one warm-up, with the e-graph's size. Prints one JSON object per line.

use std::time::Instant;

fn main() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("examples")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "tsr"))
        .collect();
    paths.sort();
    let opts = tessera_egraph::Options::default();
    for p in paths {
        let src = std::fs::read_to_string(&p).expect("readable");
        let mut m = tessera_frontend::compile(&src).expect("the example compiles");
        tessera_passes::PassManager::default_pipeline()
            .run(&mut m)
            .expect("passes");
        for f in &m.funcs {
            let mut times = Vec::new();
            let mut last = None;
            for _ in 0..8 {
                let t = Instant::now();
                let o = tessera_egraph::optimize(f, &opts).expect("optimises");
                times.push(t.elapsed().as_secs_f64() * 1e3);
                last = Some(o);
            }
            times.remove(0);
            times.sort_by(f64::total_cmp);
            let o = last.expect("ran");
            println!(
                "{{\"example\": \"{}\", \"fn\": \"{}\", \"median_ms\": {:.3}, \"max_ms\": {:.3}, \"e_nodes\": {}, \"stop\": \"{}\"}}",
                p.file_name().unwrap_or_default().to_string_lossy(),
                f.name,
                times[times.len() / 2],
                times[times.len() - 1],
                o.report.nodes,
                o.report.stop
            );
        }
    }
}
