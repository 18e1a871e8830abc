//! Fuzz target: the parser, the whole front end and diagnostic rendering must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(diags) = tessera_frontend::parser::parse(src) {
        let _ = tessera_frontend::diag::render(&diags, "fuzz.tsr", src, false);
        return;
    }
    if let Err(diags) = tessera_frontend::compile(src) {
        let _ = tessera_frontend::diag::render(&diags, "fuzz.tsr", src, true);
    }
});
