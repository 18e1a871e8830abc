//! examples/rust/main.rs: compile examples/mlp.tsr with the Tessera library and run it
//! natively on plain `f32` slices, from Rust.
//!
//! ```sh
//! cargo run --release --example embed_mlp -- 3
//! ```
//!
//! The inputs and weights use the same deterministic pattern as examples/c/main.c, so the
//! two programs print the same numbers (tests/aot.rs checks both against the interpreter).

use std::process::ExitCode;

/// `p[i] = (((i * 7 + salt) % 17) / 17 - 0.5) * scale`, as examples/c/main.c fills tensors.
fn pattern(n: usize, salt: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 7 + salt) % 17) as f32 / 17.0 - 0.5) * scale)
        .collect()
}

fn run(batch: usize) -> Result<(), tessera::Error> {
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/mlp.tsr");
    // Parse, check, lower to tile IR and compile every kernel with Cranelift, once.
    let mlp = tessera::compile(source, None)?;
    let x = pattern(batch * 784, 1, 1.0);
    let (w1, b1) = (pattern(784 * 1024, 2, 0.1), pattern(1024, 3, 0.1));
    let (w2, b2) = (pattern(1024 * 1024, 4, 0.1), pattern(1024, 5, 0.1));
    let (w3, b3) = (pattern(1024 * 10, 6, 0.1), pattern(10, 7, 0.1));
    let inputs: [(&[f32], &[usize]); 7] = [
        (&x, &[batch, 784]),
        (&w1, &[784, 1024]),
        (&b1, &[1024]),
        (&w2, &[1024, 1024]),
        (&b2, &[1024]),
        (&w3, &[1024, 10]),
        (&b3, &[10]),
    ];
    // Run natively (as many times as needed: nothing is recompiled).
    let out = mlp.run_f32(&inputs)?;
    let (probs, shape) = &out[0];
    for (r, row) in probs.chunks(shape[1]).enumerate() {
        let values: Vec<String> = row.iter().map(|v| format!("{v:.9e}")).collect();
        println!("row {r}: {}", values.join(" "));
    }
    // Arguments are checked against the signature: a wrong shape is an error, not a crash.
    let mut bad = inputs;
    bad[1] = (&w1[..783 * 1024], &[783, 1024]);
    match mlp.run_f32(&bad) {
        Ok(_) => println!("wrong shape: accepted?"),
        Err(e) => println!(
            "wrong shape: {}",
            e.render(false).lines().next().unwrap_or("")
        ),
    }
    Ok(())
}

fn main() -> ExitCode {
    let batch = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    match run(batch) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprint!("{}", e.render(false));
            ExitCode::FAILURE
        }
    }
}
