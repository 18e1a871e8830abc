//! `cargo bench -p tessera --bench repl_latency`: the REPL's time from Enter to printed
//! result, measured on `tessera::repl::Session::eval` (what the line editor calls when
//! Enter completes an entry; its reply is the printed text). `x` is bound to an
//! `f32[4, 784]` tensor, then:
//!
//! - `first`: the very first evaluation of `x + 1` in this process (JIT set-up included);
//! - `uncached`: `x + K` for a new literal K each time, so each one compiles (front end,
//!   passes, tiling, Cranelift) and runs;
//! - `cached`: `x + 1` again: the compiled function comes from the cache;
//! - `mlp_first`, `mlp_cached`: a larger entry for scale, `examples/mlp.tsr`'s `mlp` on
//!   `x` and random weights (784-1024-1024-10: the run itself takes a while).
//!
//! Prints one JSON object per measurement (milliseconds), and the session's compilation
//! and cache-hit counts. `REPL_BENCH_ITERS` sets the repetitions (default 50).

use std::time::Instant;
use tessera::repl::Session;

fn eval_ms(s: &mut Session, entry: &str) -> f64 {
    let t = Instant::now();
    let r = s.eval(entry);
    let ms = t.elapsed().as_secs_f64() * 1e3;
    match r {
        Ok(reply) => {
            std::hint::black_box(reply.out);
        }
        Err(e) => {
            eprintln!("repl_latency: `{entry}` failed:\n{}", e.render(false));
            std::process::exit(1);
        }
    }
    ms
}

fn report(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    let n = ms.len();
    let median = if n % 2 == 1 {
        ms[n / 2]
    } else {
        (ms[n / 2 - 1] + ms[n / 2]) / 2.0
    };
    println!(
        "{{\"case\": \"{name}\", \"runs\": {n}, \"min_ms\": {:.3}, \"median_ms\": {median:.3}, \"max_ms\": {:.3}}}",
        ms[0],
        ms[n - 1]
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read.
    let iters: usize = std::env::var("REPL_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(50);
    let mut s = Session::new();
    eval_ms(&mut s, "let x = randn([4, 784])");
    report("first", vec![eval_ms(&mut s, "x + 1")]);
    let uncached: Vec<f64> = (0..iters)
        .map(|k| eval_ms(&mut s, &format!("x + {}", k + 2)))
        .collect();
    report("uncached", uncached);
    let cached: Vec<f64> = (0..iters).map(|_| eval_ms(&mut s, "x + 1")).collect();
    report("cached", cached);
    let mlp = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/mlp.tsr");
    eval_ms(&mut s, &format!(":load {mlp}"));
    for (w, shape) in [
        ("w1", "[784, 1024]"),
        ("b1", "[1024]"),
        ("w2", "[1024, 1024]"),
        ("b2", "[1024]"),
        ("w3", "[1024, 10]"),
        ("b3", "[10]"),
    ] {
        eval_ms(&mut s, &format!("let {w} = randn({shape}) * 0.03"));
    }
    let call = "mlp(x, w1, b1, w2, b2, w3, b3)";
    report("mlp_first", vec![eval_ms(&mut s, call)]);
    let cached: Vec<f64> = (0..iters.min(20)).map(|_| eval_ms(&mut s, call)).collect();
    report("mlp_cached", cached);
    let st = s.stats();
    println!(
        "{{\"compilations\": {}, \"cache_hits\": {}}}",
        st.compilations, st.hits
    );
}
