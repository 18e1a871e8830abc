//! `tessera bench`: compile once, then time the compiled function alone.

use crate::cli::args::{Backend, BenchArgs};
use crate::cli::data::{check_shape_names, concrete_shape, load_named, random_param, shapes_map};
use std::time::Instant;
use tessera::Error;

pub fn bench(a: BenchArgs) -> Result<(), Error> {
    if let Some(e) = a.backend.and_then(Backend::unavailable) {
        return Err(e);
    }
    let t0 = Instant::now();
    let mut prog = crate::cli::load(&a.source)?;
    prog.sizes = shapes_map(&a.shapes)?;
    let func = prog.entry(a.source.func.as_deref())?;
    {
        let (inputs, weights) = load_named(&prog, &func, &a.io)?;
        let mut bound = weights;
        bound.extend(inputs);
        let sizes = prog.sizes.clone();
        crate::cli::precision::apply(
            &mut prog,
            std::slice::from_ref(&func),
            &a.precision,
            &bound,
            &sizes,
        )?;
    }
    // Compile once; the closure runs the compiled function alone.
    let exe = prog.executable(&func)?;
    let mut backend = a.backend.unwrap_or(Backend::Cpu);
    let tiled = match backend {
        Backend::Tile => Some(prog.tiled(&func)?),
        Backend::Interp | Backend::Cpu | Backend::Gpu => None,
    };
    let cpu = match backend {
        Backend::Cpu | Backend::Gpu => match prog.cpu_executable(&func) {
            Ok(c) => Some(c),
            Err(e) if a.backend.is_none() && e.is_unsupported() => {
                crate::cli::fallback_note(&func, &e);
                backend = Backend::Interp;
                None
            }
            Err(e) => return Err(e),
        },
        Backend::Interp | Backend::Tile => None,
    };
    let compile_ms = t0.elapsed().as_secs_f64() * 1e3;
    let (mut inputs, weights) = load_named(&prog, &func, &a.io)?;
    let f = prog
        .module
        .func(&func)
        .ok_or_else(|| Error::msg(format!("no function `{func}`")))?;
    let sizes = shapes_map(&a.shapes)?;
    let params = tessera::inputs::params(f);
    check_shape_names(&func, &params, &sizes)?;
    for (i, (name, ty)) in params.iter().enumerate() {
        if !inputs.contains_key(name) && !weights.contains_key(name) {
            let shape = concrete_shape(name, ty, &sizes)?;
            inputs.insert(name.clone(), random_param(ty, shape, 0, i)?);
        }
    }
    let ordered = prog.bind(&func, inputs, weights)?;
    // The sizes --shapes gives must agree with the inputs: every dimension whose names
    // --shapes all gives is what they make it.
    for ((name, ty), t) in params.iter().zip(&ordered) {
        for (d, (dim, &actual)) in ty.shape.iter().zip(t.shape()).enumerate() {
            let names = dim.names();
            if names.is_empty() || !names.iter().all(|n| sizes.contains_key(n)) {
                continue;
            }
            match dim.eval_map(&sizes) {
                Ok(v) if v != actual as i64 => {
                    let given: Vec<String> =
                        names.iter().map(|n| format!("{n}={}", sizes[n])).collect();
                    return Err(Error::msg(format!(
                        "parameter `{name}`: dimension {d} is {actual}, but --shapes {} makes `{dim}` {v}",
                        given.join(",")
                    )));
                }
                _ => {}
            }
        }
    }
    // The native back end runs on buffers prepared once (inputs converted, outputs
    // allocated), so only the compiled code is timed.
    let mut prepared = match &cpu {
        Some(c) => Some(c.prepare(ordered.clone())?),
        None => None,
    };
    // The bytes held for weights: as prepared by the native back end (hoisted, possibly
    // narrowed), else as given.
    let weight_bytes = match &prepared {
        Some(p) => p.weight_bytes(),
        None => prog
            .weight_params(&func)?
            .iter()
            .filter_map(|&i| ordered.get(i))
            .map(|t| t.shape().iter().product::<usize>() * t.dtype().size_bytes())
            .sum(),
    };
    // The interpreters consume their inputs: each run gets a copy made before the clock
    // starts.
    // With --profile, every launch's seconds add up here over the timed runs.
    let n_launches = cpu.as_ref().map_or(0, |c| c.tiled().launches.len());
    let mut timings = vec![0f64; n_launches];
    let mut profiling = false;
    let mut run = |args: Vec<tessera::Tensor>, profiling: bool| -> Result<(), Error> {
        match (&tiled, &cpu, &mut prepared) {
            (Some(t), _, _) => t
                .execute(args, &mut |m, k, bufs, sizes| {
                    tessera_interp::run_kernel(m, k, bufs, sizes).map_err(|e| e.message)
                })
                .map(|_| ())
                .map_err(Error::Message),
            (None, Some(c), Some(p)) => {
                c.run_prepared_timed(p, profiling.then_some(timings.as_mut_slice()))
            }
            _ => exe.run(args).map(|_| ()),
        }
    };
    let args = || {
        if cpu.is_some() {
            Vec::new()
        } else {
            ordered.clone()
        }
    };
    for _ in 0..a.warmup {
        run(args(), false)?;
    }
    let mut times = Vec::new();
    for _ in 0..a.iters {
        let inputs = args();
        let t = Instant::now();
        run(inputs, false)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    if a.profile && cpu.is_none() {
        eprintln!("note: --profile times the native back end's kernels; this run has none");
    }
    // The profile comes from separate runs, so its clock reads do not touch the timings.
    if a.profile && cpu.is_some() {
        profiling = true;
        for _ in 0..a.iters {
            run(args(), profiling)?;
        }
    }
    times.sort_by(f64::total_cmp);
    let (min, max) = (times[0], times[times.len() - 1]);
    let median = if times.len() % 2 == 1 {
        times[times.len() / 2]
    } else {
        (times[times.len() / 2 - 1] + times[times.len() / 2]) / 2.0
    };
    let rows = match (&cpu, profiling) {
        (Some(c), true) => profile_rows(c.tiled(), &timings, a.iters),
        _ => Vec::new(),
    };
    let round3 = |x: f64| (x * 1e3).round() / 1e3;
    if a.json {
        let mut doc = serde_json::json!({
            "compile_ms": round3(compile_ms),
            "run_ms": {"min": round3(min), "median": round3(median), "max": round3(max)},
            "iters": a.iters,
            "backend": backend_name(backend),
            "weight_bytes": weight_bytes,
        });
        if profiling {
            doc["kernels"] = rows
                .iter()
                .map(|(k, from, ms)| serde_json::json!({"kernel": k, "from": from, "ms": round3(*ms)}))
                .collect();
        }
        crate::cli::out(doc.to_string() + "\n")?;
    } else {
        crate::cli::out(format!("{}: {func} on {}", prog.file, backend_name(backend)) + "\n")?;
        crate::cli::out(format!("compile: {compile_ms:.3} ms") + "\n")?;
        crate::cli::out(format!("weights held: {weight_bytes} bytes") + "\n")?;
        crate::cli::out(
            format!(
                "run ({} iters): min {min:.3} ms, median {median:.3} ms, max {max:.3} ms",
                a.iters
            ) + "\n",
        )?;
        if profiling {
            let total: f64 = rows.iter().map(|r| r.2).sum();
            crate::cli::out(format!(
                "kernels (ms per run over {} profiled runs):\n",
                a.iters
            ))?;
            for (k, from, ms) in &rows {
                let pct = if total > 0.0 { ms / total * 100.0 } else { 0.0 };
                crate::cli::out(format!("  {ms:9.3} ms {pct:5.1}%  @{k}  ({from})\n"))?;
            }
        }
    }
    Ok(())
}

/// Per-kernel rows `(kernel, graph op, ms per run)`, most expensive first.
fn profile_rows(
    tiled: &tessera_tiling::Tiled,
    timings: &[f64],
    runs: u64,
) -> Vec<(String, String, f64)> {
    let mut rows: Vec<(String, String, f64)> = tiled
        .launches
        .iter()
        .zip(timings)
        .map(|(l, s)| (l.kernel.clone(), l.from.clone(), s * 1e3 / runs as f64))
        .collect();
    rows.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    rows
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Interp => "interp",
        Backend::Tile => "tile",
        Backend::Cpu => "cpu",
        Backend::Gpu => "gpu",
    }
}
