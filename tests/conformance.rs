//! Black-box conformance tests for the `tessera` binary against shared/DSL.md.
//!
//! * `corpus_cases`: every case of tests/programs/cases.json (written by
//!   tests/programs/make_refs.py) is run with `tessera run ... --backend B` for each of
//!   `interp`, `cpu` and `tile`, and its outputs are compared with the NumPy references
//!   (dtype, shape, values with per-dtype tolerances).  Every failing case is printed,
//!   then the test fails.
//! * `compile_errors`: every tests/programs/errors/*.tsr must fail with status 1,
//!   `error:`, the expected message and `file:line:col` on stderr, and no output file.
//! * `runtime_and_cli_errors`: bad inputs (status 1, naming the parameter) and bad
//!   command lines (status 2), never a panic, never an output file.
//! * `examples_gen_and_run`: every example under examples/ runs with `tessera gen`
//!   data, and its outputs have the expected shapes and properties.
//! * `corpus_covers_the_language`: the corpus mentions every built-in, operator and dtype.

use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_tessera");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn programs_dir() -> PathBuf {
    root().join("tests").join("programs")
}

/// A fresh, empty scratch directory for one case.
fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "tessera-conformance-{}-{}",
        std::process::id(),
        tag
    ));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("create scratch dir");
    d
}

fn run_tessera(args: &[String], cwd: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("failed to start the tessera binary")
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---------------------------------------------------------------------------
// .npy reading and value decoding
// ---------------------------------------------------------------------------

struct Npy {
    descr: String,
    shape: Vec<usize>,
    data: Vec<u8>,
}

fn read_npy(path: &Path) -> Result<Npy, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(format!("{}: not a .npy file", path.display()));
    }
    let major = bytes[6];
    let (hlen, start) = if major == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        if bytes.len() < 12 {
            return Err("truncated header".into());
        }
        (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        )
    };
    if bytes.len() < start + hlen {
        return Err(format!("{}: truncated header", path.display()));
    }
    let header = String::from_utf8_lossy(&bytes[start..start + hlen]).to_string();
    let descr = dict_value(&header, "descr")
        .map(|s| s.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
        .ok_or_else(|| format!("no descr in header {header:?}"))?;
    let fortran = dict_value(&header, "fortran_order").unwrap_or_default();
    if fortran.trim() != "False" {
        return Err(format!("fortran_order is {fortran:?}"));
    }
    let shape_s =
        dict_value(&header, "shape").ok_or_else(|| format!("no shape in header {header:?}"))?;
    let inner = shape_s.trim().trim_start_matches('(').trim_end_matches(')');
    let mut shape = Vec::new();
    for p in inner.split(',') {
        let p = p.trim();
        if !p.is_empty() {
            shape.push(
                p.parse::<usize>()
                    .map_err(|e| format!("bad shape {shape_s:?}: {e}"))?,
            );
        }
    }
    Ok(Npy {
        descr,
        shape,
        data: bytes[start + hlen..].to_vec(),
    })
}

/// The text of a key's value in a Python dict literal (`'shape': (2, 3), ...`).
fn dict_value(header: &str, key: &str) -> Option<String> {
    let k = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[k + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find(',').unwrap_or(rest.len())
    };
    Some(rest[..end].to_string())
}

fn accepted_descrs(dtype: &str) -> &'static [&'static str] {
    match dtype {
        "f32" => &["<f4"],
        "f16" => &["<f2"],
        "bf16" => &["<V2", "|V2"],
        "f8e4m3" | "f8e5m2" => &["|V1", "<V1", "|u1"],
        "i8" => &["|i1"],
        "i32" => &["<i4"],
        "bool" => &["|b1"],
        _ => &[],
    }
}

fn item_size(dtype: &str) -> usize {
    match dtype {
        "f32" | "i32" => 4,
        "f16" | "bf16" => 2,
        _ => 1,
    }
}

fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let e = ((h >> 10) & 0x1f) as i32;
    let m = (h & 0x3ff) as f64;
    match e {
        0 => sign * m * 2f64.powi(-24),
        31 => {
            if m == 0.0 {
                sign * f64::INFINITY
            } else {
                f64::NAN
            }
        }
        _ => sign * (1.0 + m / 1024.0) * 2f64.powi(e - 15),
    }
}

fn e4m3_to_f64(b: u8) -> f64 {
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    let e = ((b >> 3) & 0xf) as i32;
    let m = (b & 7) as f64;
    if e == 15 && m == 7.0 {
        return f64::NAN;
    }
    if e == 0 {
        sign * m / 8.0 * 2f64.powi(-6)
    } else {
        sign * (1.0 + m / 8.0) * 2f64.powi(e - 7)
    }
}

fn e5m2_to_f64(b: u8) -> f64 {
    f16_to_f64((b as u16) << 8)
}

/// Decoded values plus, for the narrow float formats, an ordinal per value
/// (adjacent finite values of the format have adjacent ordinals).
struct Values {
    v: Vec<f64>,
    ord: Option<Vec<i64>>,
    bits: Vec<u64>,
}

fn sign_mag_ordinal(bits: u64, sign_bit: u64) -> i64 {
    let mag = (bits & (sign_bit - 1)) as i64;
    if bits & sign_bit != 0 {
        -mag
    } else {
        mag
    }
}

fn decode(npy: &Npy, dtype: &str) -> Result<Values, String> {
    let n: usize = npy.shape.iter().product();
    let isz = item_size(dtype);
    if npy.data.len() != n * isz {
        return Err(format!(
            "data has {} bytes, expected {} ({} x {})",
            npy.data.len(),
            n * isz,
            n,
            isz
        ));
    }
    let mut v = Vec::with_capacity(n);
    let mut bits = Vec::with_capacity(n);
    let mut ord = Vec::with_capacity(n);
    for i in 0..n {
        let c = &npy.data[i * isz..(i + 1) * isz];
        let (x, b, o) = match dtype {
            "f32" => {
                let u = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                (
                    f32::from_bits(u) as f64,
                    u as u64,
                    sign_mag_ordinal(u as u64, 1 << 31),
                )
            }
            "f16" => {
                let u = u16::from_le_bytes([c[0], c[1]]);
                (f16_to_f64(u), u as u64, sign_mag_ordinal(u as u64, 1 << 15))
            }
            "bf16" => {
                let u = u16::from_le_bytes([c[0], c[1]]);
                (
                    f32::from_bits((u as u32) << 16) as f64,
                    u as u64,
                    sign_mag_ordinal(u as u64, 1 << 15),
                )
            }
            "f8e4m3" => (
                e4m3_to_f64(c[0]),
                c[0] as u64,
                sign_mag_ordinal(c[0] as u64, 0x80),
            ),
            "f8e5m2" => (
                e5m2_to_f64(c[0]),
                c[0] as u64,
                sign_mag_ordinal(c[0] as u64, 0x80),
            ),
            "i8" => (c[0] as i8 as f64, c[0] as u64, 0),
            "i32" => {
                let x = i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                (x as f64, x as u32 as u64, 0)
            }
            "bool" => {
                if c[0] > 1 {
                    return Err(format!("bool byte {} at {}", c[0], i));
                }
                (c[0] as f64, c[0] as u64, 0)
            }
            _ => return Err(format!("unknown dtype {dtype}")),
        };
        v.push(x);
        bits.push(b);
        ord.push(o);
    }
    let is_float = matches!(dtype, "f32" | "f16" | "bf16" | "f8e4m3" | "f8e5m2");
    Ok(Values {
        v,
        ord: if is_float { Some(ord) } else { None },
        bits,
    })
}

fn load_values(path: &Path, dtype: &str) -> Result<(Vec<usize>, Values), String> {
    let npy = read_npy(path)?;
    if !accepted_descrs(dtype).contains(&npy.descr.as_str()) {
        return Err(format!(
            "{}: npy descr {:?} does not match dtype {dtype} (accepted: {:?})",
            path.display(),
            npy.descr,
            accepted_descrs(dtype)
        ));
    }
    let vals = decode(&npy, dtype)?;
    Ok((npy.shape, vals))
}

// ---------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------

struct Tol {
    rtol: f64,
    atol: f64,
    ulps: i64,
    exact: bool,
}

fn default_tol(dtype: &str) -> Tol {
    match dtype {
        "f32" => Tol {
            rtol: 1e-4,
            atol: 1e-5,
            ulps: 0,
            exact: false,
        },
        "f16" => Tol {
            rtol: 1e-3,
            atol: 1e-3,
            ulps: 1,
            exact: false,
        },
        "bf16" => Tol {
            rtol: 1e-2,
            atol: 1e-2,
            ulps: 1,
            exact: false,
        },
        "f8e4m3" | "f8e5m2" => Tol {
            rtol: 0.0,
            atol: 0.0,
            ulps: 1,
            exact: false,
        },
        _ => Tol {
            rtol: 0.0,
            atol: 0.0,
            ulps: 0,
            exact: true,
        },
    }
}

/// Compares got against expected; returns a description of the mismatches.
fn compare(dtype: &str, got: &Values, exp: &Values, tol: &Tol, shape: &[usize]) -> Option<String> {
    let mut bad = Vec::new();
    let mut count = 0usize;
    let mut worst = 0f64;
    for i in 0..exp.v.len() {
        let (g, e) = (got.v[i], exp.v[i]);
        let ok = if e.is_nan() {
            g.is_nan()
        } else if g.is_nan() {
            false
        } else if tol.exact {
            if exp.ord.is_some() {
                // floats: same value and same sign of zero
                g == e && g.is_sign_negative() == e.is_sign_negative()
            } else {
                got.bits[i] == exp.bits[i]
            }
        } else if e.is_infinite() || g.is_infinite() {
            g == e
        } else {
            let close = (g - e).abs() <= tol.atol + tol.rtol * e.abs();
            let ulp_ok = match (&got.ord, &exp.ord) {
                (Some(go), Some(eo)) => (go[i] - eo[i]).abs() <= tol.ulps,
                _ => false,
            };
            close || ulp_ok
        };
        if !ok {
            count += 1;
            if e.is_finite() && g.is_finite() {
                worst = worst.max((g - e).abs());
            }
            if bad.len() < 8 {
                bad.push(format!("[{}] expected {e:?} got {g:?}", unravel(i, shape)));
            }
        }
    }
    if count == 0 {
        None
    } else {
        Some(format!(
            "{count} of {} {dtype} values differ (worst finite abs diff {worst:.3e}; rtol {} atol {} ulps {} exact {}): {}",
            exp.v.len(),
            tol.rtol,
            tol.atol,
            tol.ulps,
            tol.exact,
            bad.join(", ")
        ))
    }
}

fn unravel(mut i: usize, shape: &[usize]) -> String {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        if shape[d] > 0 {
            idx[d] = i % shape[d];
            i /= shape[d];
        }
    }
    idx.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn manifest() -> Value {
    let p = programs_dir().join("cases.json");
    let text =
        fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
    serde_json::from_str(&text).expect("cases.json is not valid JSON")
}

fn s(v: &Value) -> String {
    v.as_str().expect("string in cases.json").to_string()
}

/// Runs one corpus case on `backend`; returns the list of problems (empty when it passes).
fn run_case(case: &Value, backend: &str) -> Vec<String> {
    let name = s(&case["name"]);
    let dir = scratch(&format!("{name}-{backend}"));
    let mut args = vec!["run".to_string(), s(&case["program"])];
    if let Some(f) = case["fn"].as_str() {
        args.push("--fn".into());
        args.push(f.into());
    }
    for (k, v) in case["inputs"].as_object().expect("inputs object") {
        args.push("--input".into());
        args.push(format!("{k}={}", s(v)));
    }
    if let Some(w) = case["weights"].as_str() {
        args.push("--weights".into());
        args.push(w.into());
    }
    let outputs = case["outputs"].as_array().expect("outputs array");
    let to_dir = case["output_mode"].as_str() == Some("dir");
    let out_paths: Vec<PathBuf> = if to_dir {
        let od = dir.join("outdir");
        args.push("--output-dir".into());
        args.push(od.display().to_string());
        (0..outputs.len())
            .map(|i| od.join(format!("out{i}.npy")))
            .collect()
    } else {
        let p = dir.join("out.npy");
        args.push("--output".into());
        args.push(p.display().to_string());
        vec![p]
    };
    args.push("--backend".into());
    args.push(backend.into());

    let mut problems = Vec::new();
    let out = run_tessera(&args, &programs_dir());
    if out.status.code() != Some(0) {
        problems.push(format!(
            "`tessera {}` failed: {}",
            args.join(" "),
            show(&out)
        ));
        let _ = fs::remove_dir_all(&dir);
        return problems;
    }
    for (i, exp) in outputs.iter().enumerate() {
        let dtype = s(&exp["dtype"]);
        let want_shape: Vec<usize> = exp["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        let (gshape, got) = match load_values(&out_paths[i], &dtype) {
            Ok(x) => x,
            Err(e) => {
                problems.push(format!("result {i}: {e}"));
                continue;
            }
        };
        if gshape != want_shape {
            problems.push(format!(
                "result {i}: shape {gshape:?}, expected {want_shape:?}"
            ));
            continue;
        }
        let (_, want) = load_values(&programs_dir().join(s(&exp["file"])), &dtype)
            .unwrap_or_else(|e| panic!("bad reference file for {name}: {e}"));
        let mut tol = default_tol(&dtype);
        if exp["exact"].as_bool() == Some(true) {
            tol.exact = true;
        }
        if let Some(r) = exp["rtol"].as_f64() {
            tol.rtol = r;
        }
        if let Some(a) = exp["atol"].as_f64() {
            tol.atol = a;
        }
        if let Some(msg) = compare(&dtype, &got, &want, &tol, &want_shape) {
            problems.push(format!("result {i} ({dtype}{want_shape:?}): {msg}"));
        }
    }
    if to_dir {
        let extra = out_paths.len();
        let more = dir.join("outdir").join(format!("out{extra}.npy"));
        if more.exists() {
            problems.push(format!("unexpected extra result file out{extra}.npy"));
        }
    }
    let _ = fs::remove_dir_all(&dir);
    problems
}

#[test]
fn corpus_cases() {
    let m = manifest();
    let cases = m["cases"].as_array().expect("cases array");
    assert!(
        cases.len() >= 45,
        "the corpus should have at least 45 cases"
    );
    let mut failures = Vec::new();
    for (case, backend) in cases
        .iter()
        .flat_map(|c| ["interp", "cpu", "tile"].map(|b| (c, b)))
    {
        let problems = run_case(case, backend);
        if !problems.is_empty() {
            failures.push(format!(
                "FAIL {} on {backend} ({}{}): {}\n    {}",
                s(&case["name"]),
                s(&case["program"]),
                case["fn"]
                    .as_str()
                    .map(|f| format!(" --fn {f}"))
                    .unwrap_or_default(),
                case["note"].as_str().unwrap_or(""),
                problems.join("\n    ")
            ));
        }
    }
    for f in &failures {
        eprintln!("{f}\n");
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed (details above)",
        failures.len(),
        cases.len()
    );
}

// ---------------------------------------------------------------------------
// Compile errors
// ---------------------------------------------------------------------------

/// Parses `// expect: a|b @ L:C|L:C`.
fn parse_expect(first_line: &str) -> Option<(Vec<String>, Vec<String>)> {
    let rest = first_line
        .trim()
        .strip_prefix("//")?
        .trim()
        .strip_prefix("expect:")?;
    let (msgs, locs) = rest.rsplit_once(" @ ")?;
    let msgs = msgs
        .split('|')
        .map(|m| m.trim().to_lowercase())
        .filter(|m| !m.is_empty())
        .collect();
    let locs = locs
        .split('|')
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    Some((msgs, locs))
}

fn no_panic(stderr: &str) -> Option<String> {
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        Some("the binary panicked".into())
    } else {
        None
    }
}

#[test]
fn compile_errors() {
    let dir = programs_dir().join("errors");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("tests/programs/errors")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().map(|e| e == "tsr").unwrap_or(false))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "expected at least 20 error programs");
    let mut failures = Vec::new();
    for f in &files {
        let fname = f.file_name().unwrap().to_string_lossy().to_string();
        let text = fs::read_to_string(f).unwrap();
        let (msgs, locs) = parse_expect(text.lines().next().unwrap_or(""))
            .unwrap_or_else(|| panic!("{fname}: first line must be `// expect: MSG @ L:C`"));
        let scratch_dir = scratch(&format!("err-{fname}"));
        let out_file = scratch_dir.join("out.npy");
        let args: Vec<String> = vec![
            "run".into(),
            format!("errors/{fname}"),
            "--backend".into(),
            "interp".into(),
            "--output".into(),
            out_file.display().to_string(),
        ];
        let out = run_tessera(&args, &programs_dir());
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let lower = stderr.to_lowercase();
        let mut problems = Vec::new();
        if out.status.code() != Some(1) {
            problems.push(format!("exit status {:?}, expected 1", out.status.code()));
        }
        if !stderr.contains("error:") && !stderr.contains("error[") {
            problems.push("no `error:` on stderr".into());
        }
        if !msgs.iter().any(|m| lower.contains(m.as_str())) {
            problems.push(format!("message contains none of {msgs:?}"));
        }
        let loc_ok = locs
            .iter()
            .any(|l| stderr.contains(&format!("{fname}:{l}")));
        if !loc_ok {
            problems.push(format!(
                "no location {fname}:{{{}}} on stderr",
                locs.join(" or ")
            ));
        }
        if let Some(p) = no_panic(&stderr) {
            problems.push(p);
        }
        if out_file.exists() {
            problems.push("an output file was written".into());
        }
        let _ = fs::remove_dir_all(&scratch_dir);
        if !problems.is_empty() {
            failures.push(format!(
                "FAIL errors/{fname}: {}\n{}",
                problems.join("; "),
                stderr.trim_end()
            ));
        }
    }
    for f in &failures {
        eprintln!("{f}\n");
    }
    assert!(
        failures.is_empty(),
        "{} of {} error programs failed (details above)",
        failures.len(),
        files.len()
    );
}

// ---------------------------------------------------------------------------
// Runtime input errors and command-line errors
// ---------------------------------------------------------------------------

#[test]
fn runtime_and_cli_errors() {
    let m = manifest();
    let cases = m["runtime_errors"]
        .as_array()
        .expect("runtime_errors array");
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for c in cases {
        let name = s(&c["name"]);
        let dir = scratch(&format!("rt-{name}"));
        let out_file = dir.join("out.npy");
        let mut args: Vec<String> = c["args"].as_array().unwrap().iter().map(s).collect();
        args.push("--output".into());
        args.push(out_file.display().to_string());
        let statuses: Vec<i32> = c["status"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap() as i32)
            .collect();
        let wanted: Vec<String> = c["stderr_any"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| s(x).to_lowercase())
            .collect();
        let out = run_tessera(&args, &programs_dir());
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let lower = stderr.to_lowercase();
        let mut problems = Vec::new();
        match out.status.code() {
            Some(code) if statuses.contains(&code) => {}
            other => problems.push(format!(
                "exit status {other:?}, expected one of {statuses:?}"
            )),
        }
        if !lower.contains("error") {
            problems.push("no `error` on stderr".into());
        }
        if !wanted.iter().any(|w| lower.contains(w.as_str())) {
            problems.push(format!("stderr mentions none of {wanted:?}"));
        }
        if let Some(p) = no_panic(&stderr) {
            problems.push(p);
        }
        if out_file.exists() {
            problems.push("an output file was written".into());
        }
        let _ = fs::remove_dir_all(&dir);
        if !problems.is_empty() {
            failures.push(format!(
                "FAIL {name}: `tessera {}`: {}\n{}",
                args.join(" "),
                problems.join("; "),
                stderr.trim_end()
            ));
        }
    }
    for f in &failures {
        eprintln!("{f}\n");
    }
    assert!(
        failures.is_empty(),
        "{} of {} runtime/CLI error cases failed (details above)",
        failures.len(),
        cases.len()
    );
}

// ---------------------------------------------------------------------------
// Examples
// ---------------------------------------------------------------------------

fn f32_file(path: &Path) -> Result<(Vec<usize>, Vec<f64>), String> {
    let (shape, v) = load_values(path, "f32")?;
    Ok((shape, v.v))
}

fn rows(v: &[f64], width: usize) -> Vec<&[f64]> {
    v.chunks(width).collect()
}

/// Runs `gen` then `run` for one example; returns the result files.
fn gen_and_run(
    file: &str,
    shapes: &str,
    inputs: &[&str],
    n_results: usize,
    dir: &Path,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>), String> {
    let weights = dir.join("weights.safetensors");
    let mut gen = vec![
        "gen".to_string(),
        format!("examples/{file}"),
        "--shapes".into(),
        shapes.into(),
        "--seed".into(),
        "7".into(),
        "--weights".into(),
        weights.display().to_string(),
    ];
    let mut run = vec![
        "run".to_string(),
        format!("examples/{file}"),
        "--weights".into(),
        weights.display().to_string(),
    ];
    let mut input_paths = Vec::new();
    for i in inputs {
        let p = dir.join(format!("{i}.npy"));
        gen.push("--inputs".into());
        gen.push(format!("{i}={}", p.display()));
        run.push("--input".into());
        run.push(format!("{i}={}", p.display()));
        input_paths.push(p);
    }
    let out = run_tessera(&gen, &root());
    if out.status.code() != Some(0) {
        return Err(format!(
            "`tessera {}` failed: {}",
            gen.join(" "),
            show(&out)
        ));
    }
    let od = dir.join("out");
    run.extend([
        "--output-dir".into(),
        od.display().to_string(),
        "--backend".into(),
        "interp".into(),
    ]);
    let out = run_tessera(&run, &root());
    if out.status.code() != Some(0) {
        return Err(format!(
            "`tessera {}` failed: {}",
            run.join(" "),
            show(&out)
        ));
    }
    Ok((
        input_paths,
        (0..n_results)
            .map(|i| od.join(format!("out{i}.npy")))
            .collect(),
    ))
}

fn check_example(file: &str) -> Result<(), String> {
    let dir = scratch(&format!("ex-{file}"));
    let res = check_example_in(file, &dir);
    let _ = fs::remove_dir_all(&dir);
    res
}

fn expect_shape(got: &[usize], want: &[usize], what: &str) -> Result<(), String> {
    if got != want {
        return Err(format!("{what}: shape {got:?}, expected {want:?}"));
    }
    Ok(())
}

fn all_finite(v: &[f64], what: &str) -> Result<(), String> {
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(format!("{what}: non-finite value {} at {i}", v[i]));
    }
    Ok(())
}

fn softmax_rows(v: &[f64], width: usize, what: &str) -> Result<(), String> {
    all_finite(v, what)?;
    for (r, row) in rows(v, width).iter().enumerate() {
        let sum: f64 = row.iter().sum();
        if (sum - 1.0).abs() > 1e-5 || row.iter().any(|&p| !(0.0..=1.0).contains(&p)) {
            return Err(format!("{what}: row {r} is not a distribution (sum {sum})"));
        }
    }
    Ok(())
}

fn check_example_in(file: &str, dir: &Path) -> Result<(), String> {
    match file {
        "mlp.tsr" => {
            let (_, outs) = gen_and_run(file, "B=3", &["x"], 1, dir)?;
            let (shape, v) = f32_file(&outs[0])?;
            expect_shape(&shape, &[3, 10], file)?;
            softmax_rows(&v, 10, file)
        }
        "cnn.tsr" => {
            let (_, outs) = gen_and_run(file, "N=2", &["x"], 1, dir)?;
            let (shape, v) = f32_file(&outs[0])?;
            expect_shape(&shape, &[2, 10], file)?;
            softmax_rows(&v, 10, file)
        }
        "transformer_block.tsr" => {
            let (_, outs) = gen_and_run(file, "B=2,S=5", &["x"], 1, dir)?;
            let (shape, v) = f32_file(&outs[0])?;
            expect_shape(&shape, &[2, 5, 256], file)?;
            all_finite(&v, file)
        }
        "causal_attention.tsr" => {
            // gen's mask is random (finite): any additive mask is valid; causality is
            // checked with a real causal mask in tests/masked_attention.rs.
            let (_, outs) = gen_and_run(file, "B=2,S=5", &["x", "mask"], 1, dir)?;
            let (shape, v) = f32_file(&outs[0])?;
            expect_shape(&shape, &[2, 5, 256], file)?;
            all_finite(&v, file)
        }
        "layernorm_gelu.tsr" => {
            // gamma and beta come back as .npy so that the normalisation can be checked.
            let (ins, outs) = gen_and_run(file, "N=4,D=32", &["x", "g", "beta"], 1, dir)?;
            let (shape, y) = f32_file(&outs[0])?;
            expect_shape(&shape, &[4, 32], file)?;
            let (_, g) = f32_file(&ins[1])?;
            let (_, beta) = f32_file(&ins[2])?;
            all_finite(&y, file)?;
            for (r, row) in rows(&y, 32).iter().enumerate() {
                let z: Vec<f64> = row
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| g[*j].abs() > 1e-3)
                    .map(|(j, v)| (v - beta[j]) / g[j])
                    .collect();
                let n = z.len() as f64;
                let mean = z.iter().sum::<f64>() / n;
                let var = z.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
                if z.len() == 32 && (mean.abs() > 1e-3 || (var - 1.0).abs() > 1e-2) {
                    return Err(format!(
                        "{file}: row {r} is not normalised (mean {mean}, var {var})"
                    ));
                }
            }
            Ok(())
        }
        "quantized_linear.tsr" => {
            let (_, outs) = gen_and_run(file, "B=3", &["x"], 2, dir)?;
            let (s0, y) = f32_file(&outs[0])?;
            let (s1, r) = f32_file(&outs[1])?;
            expect_shape(&s0, &[3, 32], file)?;
            expect_shape(&s1, &[3, 32], file)?;
            all_finite(&y, file)?;
            all_finite(&r, file)?;
            let scale = r.iter().fold(0f64, |m, x| m.max(x.abs())).max(1e-6);
            for i in 0..y.len() {
                if (y[i] - r[i]).abs() > 1e-3 * scale + 1e-5 {
                    return Err(format!(
                        "{file}: integer path {} differs from dequantize path {} at {i}",
                        y[i], r[i]
                    ));
                }
            }
            Ok(())
        }
        "multi_output.tsr" => {
            let (_, outs) = gen_and_run(file, "N=3,D=8", &["x"], 2, dir)?;
            let (s0, z) = f32_file(&outs[0])?;
            let (s1, var) = f32_file(&outs[1])?;
            expect_shape(&s0, &[3, 8], file)?;
            expect_shape(&s1, &[3], file)?;
            all_finite(&z, file)?;
            for (r, row) in rows(&z, 8).iter().enumerate() {
                let mean = row.iter().sum::<f64>() / 8.0;
                let v = row.iter().map(|x| x * x).sum::<f64>() / 8.0;
                let want = var[r] / (var[r] + 1e-5);
                if mean.abs() > 1e-4 || (v - want).abs() > 1e-3 || var[r] < 0.0 {
                    return Err(format!(
                        "{file}: row {r}: mean {mean}, second moment {v}, expected {want}"
                    ));
                }
            }
            Ok(())
        }
        "mixed_precision.tsr" => {
            let (_, outs) = gen_and_run(file, "B=2", &["x"], 1, dir)?;
            let (shape, v) = f32_file(&outs[0])?;
            expect_shape(&shape, &[2, 64], file)?;
            all_finite(&v, file)
        }
        other => Err(format!(
            "no check written for examples/{other}: add one to tests/conformance.rs"
        )),
    }
}

#[test]
fn examples_gen_and_run() {
    let mut files: Vec<String> = fs::read_dir(root().join("examples"))
        .expect("examples/")
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".tsr"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 6,
        "expected at least 6 examples, found {files:?}"
    );
    let mut failures = Vec::new();
    for f in &files {
        let text = fs::read_to_string(root().join("examples").join(f)).unwrap();
        if !text.starts_with("//") || !text.contains("tessera run") {
            failures.push(format!(
                "examples/{f}: must start with a comment saying what it is and how to run it"
            ));
        }
        if let Err(e) = check_example(f) {
            failures.push(format!("FAIL examples/{f}: {e}"));
        }
    }
    for f in &failures {
        eprintln!("{f}\n");
    }
    assert!(
        failures.is_empty(),
        "{} example problems (details above)",
        failures.len()
    );
}

// ---------------------------------------------------------------------------
// Coverage of the corpus (static)
// ---------------------------------------------------------------------------

#[test]
fn corpus_covers_the_language() {
    let m = manifest();
    let mut text = String::new();
    let mut used = BTreeSet::new();
    for c in m["cases"].as_array().unwrap() {
        let p = s(&c["program"]);
        let path = programs_dir().join(&p);
        assert!(
            path.exists(),
            "case {} names a missing program {p}",
            s(&c["name"])
        );
        for (_, f) in c["inputs"].as_object().unwrap() {
            assert!(
                programs_dir().join(s(f)).exists(),
                "case {}: missing input {}",
                s(&c["name"]),
                s(f)
            );
        }
        if used.insert(p) {
            text.push_str(&fs::read_to_string(path).unwrap());
        }
    }
    // Every top-level program is used by some case.
    for e in fs::read_dir(programs_dir()).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().to_string();
        if n.ends_with(".tsr") {
            assert!(
                used.contains(&n),
                "tests/programs/{n} is not used by any case of cases.json"
            );
        }
    }
    // Strip comments before looking for constructs.
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let builtins = [
        "neg",
        "abs",
        "exp",
        "log",
        "sqrt",
        "rsqrt",
        "recip",
        "tanh",
        "sigmoid",
        "relu",
        "gelu",
        "gelu_tanh",
        "silu",
        "erf",
        "max",
        "min",
        "pow",
        "where",
        "einsum",
        "matmul",
        "sum",
        "mean",
        "argmax",
        "softmax",
        "log_softmax",
        "layernorm",
        "rmsnorm",
        "reshape",
        "transpose",
        "broadcast_to",
        "concat",
        "conv2d",
        "maxpool2d",
        "avgpool2d",
        "quantize",
        "dequantize",
    ];
    let mut missing = Vec::new();
    for b in builtins {
        let found = code.match_indices(&format!("{b}(")).any(|(i, _)| {
            i == 0
                || !code[..i]
                    .chars()
                    .last()
                    .map(|c| c.is_alphanumeric() || c == '_')
                    .unwrap_or(false)
        });
        if !found {
            missing.push(b.to_string());
        }
    }
    for op in [
        " + ", " - ", " * ", " / ", " @ ", " < ", " <= ", " > ", " >= ", " == ", " != ", " as ",
        "-x", ":",
    ] {
        if !code.contains(op) {
            missing.push(format!("operator {op:?}"));
        }
    }
    for d in [
        "f32", "f16", "bf16", "f8e4m3", "f8e5m2", "i8", "i32", "bool",
    ] {
        if !code.contains(&format!("{d}[")) || !code.contains(&format!("as {d}")) {
            missing.push(format!(
                "dtype {d} (as a parameter type and an `as` target)"
            ));
        }
    }
    for named in [
        "axis:",
        "keepdims:",
        "eps:",
        "stride:",
        "padding:",
        "dilation:",
        "groups:",
        "kernel:",
        "dtype:",
        "scale:",
    ] {
        if !code.contains(named) {
            missing.push(format!("named argument {named}"));
        }
    }
    assert!(missing.is_empty(), "the corpus does not cover: {missing:?}");
}
