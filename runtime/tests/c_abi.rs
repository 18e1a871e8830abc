//! The C header against the library: declarations, constants, and a C program that links
//! the static library and calls every entry point.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use tessera_runtime::{DType, ErrorCode, ABI_VERSION, MAX_RANK};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn header() -> String {
    std::fs::read_to_string(crate_dir().join("include/tessera_runtime.h")).unwrap()
}

/// `#define TSR_NAME VALUE` lines of the header, value without comments or `u` suffix.
fn defines() -> BTreeMap<String, String> {
    header()
        .lines()
        .filter_map(|l| l.strip_prefix("#define TSR_"))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let name = it.next()?.to_string();
            let value = it.next()?.trim_end_matches('u').to_string();
            Some((name, value))
        })
        .collect()
}

/// Names of the `tsr_` functions declared (outside comments) in the header.
fn header_functions() -> Vec<String> {
    let mut names = Vec::new();
    for line in header().lines() {
        let t = line.trim_start();
        if t.starts_with("/*") || t.starts_with('*') || t.starts_with('#') {
            continue;
        }
        for (i, _) in line.match_indices("tsr_") {
            let rest = &line[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if rest[end..].starts_with('(') {
                names.push(rest[..end].to_string());
            }
        }
    }
    names.sort();
    names
}

#[test]
fn header_declares_exactly_the_entry_points() {
    let mut src = String::new();
    for file in ["src/capi.rs", "src/kernel_helpers.rs"] {
        let text = std::fs::read_to_string(crate_dir().join(file)).unwrap();
        src.push_str(text.split("#[cfg(test)]").next().unwrap());
    }
    let mut exported: Vec<String> = src
        .lines()
        .filter(|l| l.starts_with("pub "))
        .filter_map(|l| l.split("extern \"C\" fn ").nth(1))
        .map(|rest| rest.split('(').next().unwrap().to_string())
        .collect();
    exported.sort();
    assert_eq!(exported.len(), 31, "{exported:?}");
    assert_eq!(header_functions(), exported);
}

#[test]
fn header_constants_match_the_library() {
    let d = defines();
    for dt in DType::ALL {
        assert_eq!(d[&dt.name().to_uppercase()], dt.code().to_string(), "{dt}");
    }
    for c in ErrorCode::ALL {
        assert_eq!(d[c.name()], c.code().to_string(), "{}", c.name());
    }
    assert_eq!(d["ABI_VERSION"], ABI_VERSION.to_string());
    assert_eq!(d["MAX_RANK"], MAX_RANK.to_string());
    assert_eq!(
        d["UNBOUND"],
        format!("({})", tessera_runtime::check::UNBOUND)
    );
}

fn cc() -> Command {
    Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".to_string()))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn header_compiles_as_strict_c_and_cpp() {
    let inc = crate_dir().join("include");
    for (lang, std) in [("c", "-std=c99"), ("c++", "-std=c++11")] {
        run(cc()
            .args([
                "-fsyntax-only",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
                std,
                "-x",
                lang,
            ])
            .arg("-I")
            .arg(&inc)
            .arg(crate_dir().join("tests/c/abi_smoke.c")));
    }
}

/// The static library cargo built for this test run: it sits next to the test executable
/// (`target/<profile>/deps/`), the uplifted copy one level up is only refreshed by
/// `cargo build`.
fn staticlib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let candidates = [
        deps.join("libtessera_runtime.a"),
        deps.parent().unwrap().join("libtessera_runtime.a"),
    ];
    candidates
        .iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no libtessera_runtime.a among {candidates:?}"))
        .clone()
}

fn scratch_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe
        .parent()
        .unwrap()
        .join(format!("c_abi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(target_os = "linux")]
#[test]
fn c_program_links_the_staticlib_and_runs() {
    let dir = scratch_dir();
    let exe: &Path = &dir.join("abi_smoke");
    run(cc()
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-O1"])
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(crate_dir().join("tests/c/abi_smoke.c"))
        .arg(staticlib())
        // `cargo rustc -- --print native-static-libs` on Linux.
        .args([
            "-lgcc_s",
            "-lutil",
            "-lrt",
            "-lpthread",
            "-lm",
            "-ldl",
            "-lc",
        ])
        .arg("-o")
        .arg(exe));
    let out = run(&mut Command::new(exe));
    let _ = std::fs::remove_dir_all(&dir);
    let expected = format!(
        "version {v} abi 1 header 1
layout 24 0 8 12 16
names OK DTYPE_MISMATCH UNKNOWN
arena 1000 aligned 1
reserve 0 size 4096
null arena 1: arena is null
threads 0 2
parallel_for 0 sum 500500 once 1
failing grid SHAPE_MISMATCH: tile 3 out of range
null task BAD_ARGUMENT
check x OK B=2
check y SHAPE_MISMATCH: parameter `y` has size 4 in dimension 0, but B is already 2 (f32[B])
check dtype DTYPE_MISMATCH: parameter `x` has dtype f32, expected bf16[B, 3]
check null BAD_ARGUMENT: parameter `x`: tensor descriptor is null
check garbage BAD_ARGUMENT: parameter `x`: descriptor has invalid dtype code 99
",
        v = env!("CARGO_PKG_VERSION")
    );
    assert_eq!(out, expected);
}
