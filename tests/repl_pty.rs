//! The real `tessera repl` binary in a pseudo-terminal (expectrl): a session that binds a
//! tensor, evaluates expressions, dumps IR, defines a function over several lines, completes
//! a name with Tab, makes an error and recovers; history kept across sessions; Ctrl-C
//! interrupting a long computation; Ctrl-D leaving.

use expectrl::{ControlCode, Eof, Expect, Session};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

type Pty = expectrl::session::OsSession;

fn spawn(dir: &Path) -> Pty {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.arg("repl")
        .current_dir(dir)
        .env("TESSERA_HISTORY", dir.join("history"))
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        // One thread: the long computation of the Ctrl-C test stays long on any machine.
        .env("TESSERA_NUM_THREADS", "1");
    let mut p = Session::spawn(cmd).expect("spawn tessera repl");
    // Debug builds compile slowly on a busy machine; nothing here should come near this.
    p.set_expect_timeout(Some(Duration::from_secs(120)));
    p.expect("Tessera").expect("banner");
    p.expect(">>> ").expect("prompt");
    p
}

/// Sends an entry and waits for `want` in the output, then for the next prompt.
fn entry(p: &mut Pty, line: &str, want: &str) {
    p.send_line(line).expect("send");
    if let Err(e) = p.expect(want) {
        panic!("after `{line}`: expected {want:?}: {e}");
    }
    p.expect(">>> ").expect("prompt after the entry");
}

#[test]
fn session_in_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path());
    entry(&mut p, "let x = randn([2, 3])", "x: f32[2, 3]");
    entry(
        &mut p,
        "relu(x) * 0 + 1",
        "f32[2, 3]\r\n[[1., 1., 1.],\r\n [1., 1., 1.]]",
    );
    entry(
        &mut p,
        ":ir graph x + 1",
        "graph.func @expr(%x: f32[2, 3]) -> (f32[2, 3]) {",
    );
    entry(&mut p, ":ir tile x + 1", "// plan @expr");
    // An error, located in the line; the session goes on.
    p.send_line("let y = x @ x").unwrap();
    p.expect("error: matmul: contracted sizes differ: 3 vs 2")
        .unwrap();
    p.expect("<repl>:1:13").unwrap();
    p.expect(">>> ").unwrap();
    entry(&mut p, "sum(x * 0)", "f32\r\n0.");
    // A function over several lines: `...` until the braces balance.
    p.send_line("fn twice(a: f32[N]) -> f32[N] {").unwrap();
    p.expect("... ").unwrap();
    p.send_line("  a * 2").unwrap();
    p.expect("... ").unwrap();
    entry(&mut p, "}", "defined twice(a: f32[N]) -> f32[N]");
    // Tab completes the function's name.
    p.send("twi").unwrap();
    p.send("\t").unwrap();
    entry(&mut p, "(ones([2]))", "f32[2]\r\n[2., 2.]");
    entry(&mut p, ":help", ":weights FILE.safetensors");
    p.send_line(":quit").unwrap();
    p.expect(Eof).unwrap();
    let history = std::fs::read_to_string(dir.path().join("history")).unwrap();
    assert!(history.contains("let x = randn([2, 3])"), "{history}");
    assert!(history.contains("twice(ones([2]))"), "{history}");

    // The next session recalls the history: Up, Enter runs `:quit` again.
    let mut p = spawn(dir.path());
    p.send("\x1b[A").unwrap();
    p.send("\r").unwrap();
    p.expect(Eof).unwrap();
}

#[test]
fn ctrl_c_interrupts_and_ctrl_d_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path());
    entry(&mut p, "let a = randn([2048, 2048])", "a: f32[2048, 2048]");
    // 240 matmuls of 2048, about 4 TFLOP: at least a minute on one core of any CPU that
    // Cranelift's 128-bit vectors can drive (below 70 GFLOP/s). Ctrl-C brings the prompt
    // back at once and cancels the computation before its next kernel launch
    // (docs/repl.md).
    let long = format!("sum({}a)", "a @ ".repeat(240));
    p.send_line(&long).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    p.send(ControlCode::EndOfText).unwrap();
    p.expect("interrupted").unwrap();
    p.expect(">>> ").unwrap();
    entry(&mut p, ":vars", "a: f32[2048, 2048]");
    // Ctrl-C at the prompt drops the line.
    p.send("this is not run").unwrap();
    p.send(ControlCode::EndOfText).unwrap();
    // (The line editor drops what was typed before its prompt, as terminals do.)
    p.expect(">>> ").unwrap();
    // The computation was cancelled: an entry that computes runs within seconds, where
    // waiting for the rest of the long one would take minutes.
    p.set_expect_timeout(Some(Duration::from_secs(40)));
    entry(&mut p, "let c = a[0:1, 0:2] * 0.0 + 1.0", "c: f32[1, 2]");
    p.send(ControlCode::EndOfTransmission).unwrap();
    p.expect(Eof).unwrap();
}
