//! Fuzz target: the runtime's plan decoder (`tessera_runtime::plan::Plan::decode`) on
//! arbitrary bytes, and a valid plan's size expressions evaluated on arbitrary sizes.
//! Decoding must return a plan or an error, never panic, and a decoded plan must encode
//! back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_runtime::plan::Plan;

fuzz_target!(|data: &[u8]| {
    if let Ok(plan) = Plan::decode(data) {
        assert_eq!(plan.encode(), data, "decode/encode round trip");
        let syms: Vec<Option<i64>> = (0..plan.symbols.len())
            .map(|i| data.get(i).map(|&b| i64::from(b) - 3))
            .collect();
        for e in &plan.exprs {
            let _ = e.eval(&syms, &plan.symbols);
        }
    }
});
