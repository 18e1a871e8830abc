//! Fuzz target: the runtime's plan decoder (`tessera_runtime::plan::Plan::decode`) on
//! arbitrary bytes, and a valid plan's size expressions evaluated on arbitrary sizes, and
//! its argument checks (`size_values`: binding, solving `a*N + b` dimensions, slice
//! checks) on arbitrary input shapes. Decoding must return a plan or an error, never
//! panic, and a decoded plan must encode back to the same bytes.
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
            let _ = e.render(&plan.symbols);
        }
        // Input shapes from the tail of the data, the input ranks as the plan declares.
        let mut next = data.iter().rev().map(|&b| i64::from(b) - 2);
        let shapes: Vec<Vec<i64>> = plan
            .args
            .iter()
            .filter(|a| !a.output)
            .map(|a| a.dims.iter().map(|_| next.next().unwrap_or(1)).collect())
            .collect();
        let refs: Vec<&[i64]> = shapes.iter().map(|s| s.as_slice()).collect();
        let _ = tessera_runtime::exec::size_values(&plan, &refs);
    }
});
