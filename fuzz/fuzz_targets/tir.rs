//! Fuzz target: the `.tir` reader (`tessera_dialects::parse_module`) on arbitrary UTF-8,
//! then, for what it accepts, the verifier, and, for what verifies, the text round trip
//! (`parse(print(ir))` prints the same) and the default pass pipeline that `tessera opt`
//! runs. None of them may panic, hang or overflow the stack; a pass may refuse a module
//! with an error, and a module the pipeline accepts must still verify.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut m) = tessera_dialects::parse::parse_module(src) else {
        return;
    };
    if tessera_dialects::verify_module(&m).is_err() {
        return;
    }
    let text = tessera_dialects::print_module(&m);
    let again = tessera_dialects::parse::parse_module(&text)
        .unwrap_or_else(|e| panic!("printed IR does not parse: {e}\n{text}"));
    assert_eq!(tessera_dialects::print_module(&again), text, "round trip");
    let Ok(pm) = tessera_passes::PassManager::new(tessera_passes::DEFAULT_PIPELINE) else {
        return;
    };
    if pm.run(&mut m).is_ok() {
        if let Err(e) = tessera_dialects::verify_module(&m) {
            panic!(
                "the pipeline's output does not verify: {e:?}\n{}",
                tessera_dialects::print_module(&m)
            );
        }
    }
});
