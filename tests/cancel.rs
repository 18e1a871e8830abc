//! Cancellation: a native run under a `tessera_runtime::cancel::CancelToken` stops before
//! its next kernel launch once the token is cancelled, with a "cancelled" error, instead of
//! running to the end (the REPL's Ctrl-C relies on it).

use std::sync::mpsc;
use std::time::Duration;
use tessera::{Program, Tensor};
use tessera_runtime::cancel::{with_token, CancelToken};

#[test]
fn a_cancelled_run_stops_at_the_next_launch() {
    // 120 chained 1024x1024 matmuls: 0.26 TFLOP, several seconds on one core even at the
    // f32x4 peak; cancelled after 100 ms, it must end within a few kernels.
    let src = format!(
        "fn main(a: f32[1024, 1024]) -> f32 {{ sum({}a) }}",
        "a @ ".repeat(120)
    );
    let prog = Program::from_source("chain.tsr", &src).expect("compiles");
    let exe = prog.cpu_executable("main").expect("native code");
    let a = Tensor::from_f32(
        tessera_dialects::DType::F32,
        vec![1024, 1024],
        vec![0.001; 1024 * 1024],
    )
    .expect("tensor");
    let token = CancelToken::new();
    let job_token = token.clone();
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let r = with_token(&job_token, || exe.run(vec![a]));
        let _ = tx.send(r.map(|_| ()).map_err(|e| e.to_string()));
    });
    std::thread::sleep(Duration::from_millis(100));
    token.cancel();
    let r = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the run ends soon after cancellation");
    // Not the chain's result: the run stopped between two launches.
    let err = r.expect_err("a cancelled run reports an error");
    assert!(err.contains("cancelled"), "{err}");
    worker.join().unwrap();
}

#[test]
fn a_run_without_a_token_is_not_cancelled() {
    let prog = Program::from_source("t.tsr", "fn main(a: f32[4]) -> f32[4] { a * 2.0 }")
        .expect("compiles");
    let exe = prog.cpu_executable("main").expect("native code");
    let a = Tensor::from_f32(tessera_dialects::DType::F32, vec![4], vec![1.0; 4]).unwrap();
    // A token cancelled on another thread does not reach this one.
    let t = CancelToken::new();
    t.cancel();
    let out = exe.run(vec![a.clone()]).expect("runs");
    assert_eq!(out[0].to_f64_vec(), vec![2.0; 4]);
    // Under a token that was never cancelled it runs normally.
    let fresh = CancelToken::new();
    let out = with_token(&fresh, || exe.run(vec![a])).expect("runs");
    assert_eq!(out[0].to_f64_vec(), vec![2.0; 4]);
}
