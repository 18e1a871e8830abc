//! `cargo bench -p tessera-codegen-cpu --bench fma_peak`: the `f32x4` FMA peak of this
//! machine, measured with a loop that Cranelift generates, on 1 and 2 threads (or
//! `TESSERA_PEAK_THREADS`). Prints one JSON object per thread count, for bench/run.sh.

fn main() {
    let backend = match tessera_codegen_cpu::JitBackend::new() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("fma_peak: {e}");
            std::process::exit(1);
        }
    };
    let counts: Vec<usize> = std::env::var("TESSERA_PEAK_THREADS")
        .ok()
        .map(|s| s.split(',').filter_map(|t| t.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2]);
    for threads in counts {
        match tessera_codegen_cpu::peak::fma_f32x4_gflops(&backend, threads, 0.3, 5) {
            Ok(g) => println!("{{\"probe\": \"cranelift_fma_f32x4\", \"threads\": {threads}, \"gflops\": {g:.2}}}"),
            Err(e) => {
                eprintln!("fma_peak: {e}");
                std::process::exit(1);
            }
        }
    }
}
