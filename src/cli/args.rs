//! The command line of DSL.md §6, declared with clap.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "tessera",
    version,
    about = "Tessera: a tensor compiler with its own IR"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a function of a program on inputs and write its results.
    Run(RunArgs),
    /// Print an IR level of a program.
    Dump(DumpArgs),
    /// Read graph IR (.tir) or a program (.tsr), run passes and print the result.
    Opt(OptArgs),
    /// Write deterministic random inputs and weights for a function's parameters.
    Gen(GenArgs),
    /// Time a function: compile once, then run it repeatedly.
    Bench(BenchArgs),
    /// Compile functions ahead of time into an object file or library with a C header.
    Compile(CompileArgs),
    /// Search schedules with measurements (DSL.md; not available yet).
    Tune(TuneArgs),
    /// The interactive REPL: evaluate expressions, bind tensors, define functions, print
    /// IR levels (`:help` inside; see docs/repl.md).
    Repl,
}

#[derive(Args, Debug)]
pub struct TuneArgs {
    /// The program.
    pub file: PathBuf,
    /// Seconds to spend.
    #[arg(long)]
    pub budget: Option<f64>,
    /// The tuning database.
    #[arg(long)]
    pub db: Option<PathBuf>,
}

/// `NAME=PATH`.
#[derive(Clone, Debug)]
pub struct Binding {
    pub name: String,
    pub path: PathBuf,
}

fn parse_binding(s: &str) -> Result<Binding, String> {
    match s.split_once('=') {
        Some((n, p)) if !n.is_empty() && !p.is_empty() => Ok(Binding {
            name: n.to_string(),
            path: PathBuf::from(p),
        }),
        _ => Err(format!("expected NAME=PATH, got `{s}`")),
    }
}

/// The largest size `--shapes` may give: the runtime's bound on sizes (2^36).
const MAX_SIZE: i64 = 1 << 36;

/// `B=32,S=128`.
fn parse_shapes(s: &str) -> Result<Vec<(String, i64)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (n, v) = part
            .split_once('=')
            .ok_or_else(|| format!("expected NAME=SIZE, got `{part}`"))?;
        let v: i64 = v
            .trim()
            .parse()
            .map_err(|_| format!("`{v}` is not a size"))?;
        if v < 1 {
            return Err(format!("size {n}={v} must be at least 1"));
        }
        if v > MAX_SIZE {
            return Err(format!("size {n}={v}: sizes are at most {MAX_SIZE}"));
        }
        let n = n.trim();
        if n.is_empty() {
            return Err(format!("`{part}` names no size"));
        }
        out.push((n.to_string(), v));
    }
    Ok(out)
}

/// Where a program runs. Without `--backend`, `cpu`; a function the CPU back end cannot
/// compile yet then runs in the interpreter, with a note on stderr. An explicit
/// `--backend cpu` makes that an error instead.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The reference interpreter on graph IR (the numerical oracle).
    Interp,
    /// The program lowered to tile-IR kernels, run in the reference interpreter: checks the
    /// lowering on real inputs.
    Tile,
    /// The tile-IR kernels compiled to native code by Cranelift (the default).
    Cpu,
    /// NVIDIA GPUs (DSL.md; not available yet: a clear error).
    Gpu,
}

impl Backend {
    /// The error for a back end that does not exist yet.
    pub fn unavailable(self) -> Option<tessera::Error> {
        match self {
            Backend::Gpu => Some(tessera::Error::msg(
                "the gpu back end is not available yet: use --backend cpu (the default) or interp",
            )),
            _ => None,
        }
    }
}

/// Numerical precision of contractions (`matmul`, two-operand `einsum`, `conv2d`): lowered
/// by the e-graph's precision table (docs/egraph.md "Precision").
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Precision {
    /// As written.
    #[default]
    F32,
    /// Operands rounded to bf16, products and accumulation in f32, f32 result.
    Bf16,
    /// Operands rounded to f16, products and accumulation in f32, f32 result.
    F16,
    /// Operands quantised to FP8 E4M3 (per-tensor activation, per-channel weight
    /// scales; per-tensor for both einsum operands), f32 compute.
    Fp8,
    /// i8 operands (per-row activation, per-channel weight scales; conv2d: per-image
    /// activation scales; einsum: per-slice scales of both operands), i32 accumulation.
    Int8,
    /// i8 operands with scales per block of 32 along the reduction axis (matmul: K;
    /// einsum: its last contracted label; conv2d: the input channels), i32 partial sums
    /// per block; contractions whose reduction is not a static multiple of 32 (at least
    /// 64) stay f32.
    #[value(name = "int8/block32")]
    Int8Block32,
    /// Per contraction, the cheapest lowering whose error on the calibration data stays
    /// within --max-error.
    Auto,
}

impl Precision {
    /// The lowering the e-graph applies to every contraction (`f32` for `auto`, which
    /// chooses per contraction instead).
    pub fn lowering(self) -> tessera_egraph::Precision {
        match self {
            Precision::F32 | Precision::Auto => tessera_egraph::Precision::F32,
            Precision::Bf16 => tessera_egraph::Precision::Bf16,
            Precision::F16 => tessera_egraph::Precision::F16,
            Precision::Fp8 => tessera_egraph::Precision::Fp8,
            Precision::Int8 => tessera_egraph::Precision::Int8,
            Precision::Int8Block32 => tessera_egraph::Precision::Int8Block32,
        }
    }
}

#[derive(Args, Debug)]
pub struct SourceArgs {
    /// The program.
    pub file: PathBuf,
    /// The function to use (default: the only one, else `main`).
    #[arg(long = "fn", value_name = "NAME")]
    pub func: Option<String>,
    /// Who chooses the kernels: the e-graph optimiser, or only trivially safe elementwise
    /// chains (for comparisons).
    #[arg(long, value_enum, default_value_t = FusionArg::Egraph)]
    pub fusion: FusionArg,
}

/// `--fusion`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FusionArg {
    /// Equality saturation and extraction by the cost model (`dump --ir graph-opt`).
    Egraph,
    /// Trivially safe elementwise fusion and norm prologues only.
    Basic,
    /// No fusion: every operation its own kernel.
    None,
}

impl FusionArg {
    pub fn fusion(self) -> tessera::Fusion {
        match self {
            FusionArg::Egraph => tessera::Fusion::EGraph,
            FusionArg::Basic => tessera::Fusion::Basic,
            FusionArg::None => tessera::Fusion::None,
        }
    }
}

#[derive(Args, Debug)]
pub struct InputArgs {
    /// Bind a parameter to a .npy file.
    #[arg(long = "input", value_name = "NAME=PATH.npy", value_parser = parse_binding)]
    pub inputs: Vec<Binding>,
    /// Bind parameters by tensor name from a .safetensors file.
    #[arg(long, value_name = "PATH.safetensors")]
    pub weights: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub io: InputArgs,
    /// Write the single result to this .npy file.
    #[arg(long, value_name = "PATH.npy", conflicts_with = "output_dir")]
    pub output: Option<PathBuf>,
    /// Write results as out0.npy, out1.npy, ... in this directory.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Where to run: cpu (the default), interp or tile.
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
    #[command(flatten)]
    pub precision: PrecisionArgs,
}

/// `--precision` and the accuracy budget of `--precision auto`.
#[derive(Args, Debug, Clone)]
pub struct PrecisionArgs {
    /// The precision of contractions (docs/egraph.md "Precision").
    #[arg(long, value_enum, default_value_t)]
    pub precision: Precision,
    /// With --precision auto: the largest end-to-end error allowed on the calibration
    /// data, max |lowered - f32| / max |f32| over the results (default 1e-2).
    #[arg(long, value_name = "E", allow_negative_numbers = true)]
    pub max_error: Option<f64>,
    /// With --precision auto: calibration data, NAME=PATH.npy for one parameter or
    /// PATH.safetensors for parameters by tensor name (repeatable). Parameters not given
    /// take the run's own inputs (`run`, `bench`), else deterministic random data.
    #[arg(long = "calibrate", value_name = "NAME=PATH.npy|PATH.safetensors", value_parser = parse_calibration)]
    pub calibrate: Vec<Calibration>,
}

/// One `--calibrate`.
#[derive(Clone, Debug)]
pub enum Calibration {
    /// `NAME=PATH.npy`.
    Param(Binding),
    /// `PATH.safetensors`.
    Weights(PathBuf),
}

fn parse_calibration(s: &str) -> Result<Calibration, String> {
    if s.contains('=') {
        return parse_binding(s).map(Calibration::Param);
    }
    if s.ends_with(".safetensors") {
        return Ok(Calibration::Weights(PathBuf::from(s)));
    }
    Err(format!(
        "expected NAME=PATH.npy or PATH.safetensors, got `{s}`"
    ))
}

/// The IR levels `dump` can print.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrLevel {
    /// The syntax tree.
    Ast,
    /// Graph IR as lowered from the source.
    Graph,
    /// Tile-IR kernels and the launch plan (after the default pass pipeline).
    Tile,
    /// The tile IR after the scheduling pass: the schedule attributes code generation reads.
    Scheduled,
    /// The Cranelift IR of every kernel.
    Clif,
    /// The graph after the e-graph optimiser, with its summary (`--explain`: the reasons).
    GraphOpt,
    /// GPU levels (DSL.md; not available yet: a clear error).
    Mlir,
    Llvm,
    Ptx,
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[arg(long, value_enum)]
    pub ir: IrLevel,
    /// With `--ir graph-opt`: for each kernel, the rules that formed it, its predicted
    /// cost and the best alternative it beat.
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    pub precision: PrecisionArgs,
    /// Sizes of symbolic names for the cost model and for random calibration data,
    /// e.g. `B=32`.
    #[arg(long, value_parser = parse_shapes)]
    pub shapes: Vec<Vec<(String, i64)>>,
}

#[derive(Args, Debug)]
pub struct OptArgs {
    /// Graph IR text (.tir), or a program (.tsr) lowered first.
    pub file: PathBuf,
    /// Comma-separated pass names (default: inline,canonicalize,cse,dce).
    #[arg(long, value_delimiter = ',')]
    pub passes: Option<Vec<String>>,
    /// Print the IR after every pass.
    #[arg(long)]
    pub print_ir_after_all: bool,
    /// Verify the IR after every pass.
    #[arg(long)]
    pub verify_each: bool,
}

#[derive(Args, Debug)]
pub struct GenArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Sizes of the symbolic names, e.g. `B=4,S=16`.
    #[arg(long, value_parser = parse_shapes)]
    pub shapes: Vec<Vec<(String, i64)>>,
    /// Seed of the pseudo-random values.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write these parameters to .npy files; all others go to --weights.
    #[arg(long = "inputs", value_name = "NAME=PATH.npy", value_parser = parse_binding)]
    pub inputs: Vec<Binding>,
    /// The .safetensors file for the remaining parameters.
    #[arg(long, value_name = "PATH.safetensors")]
    pub weights: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub io: InputArgs,
    /// Sizes of symbolic names for parameters given random data, e.g. `B=32`.
    #[arg(long, value_parser = parse_shapes)]
    pub shapes: Vec<Vec<(String, i64)>>,
    /// Where to run: cpu (the default), interp or tile.
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
    #[command(flatten)]
    pub precision: PrecisionArgs,
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub iters: u64,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also time every kernel launch (native back end) over the timed runs and print where
    /// the time goes, kernel by kernel, with the graph operation each comes from.
    #[arg(long)]
    pub profile: bool,
}

/// The target of `tessera compile`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// This machine's CPU, through Cranelift.
    Cpu,
    /// NVIDIA GPUs through MLIR/LLVM (not available yet).
    Cuda,
}

#[derive(Args, Debug)]
pub struct CompileArgs {
    /// The program.
    pub file: PathBuf,
    /// The functions to export (repeatable); by default the only function, else `main`.
    #[arg(long = "fn", value_name = "NAME")]
    pub funcs: Vec<String>,
    /// What to compile for.
    #[arg(long, value_enum)]
    pub target: Target,
    /// The output: an object file (.o), a static library (.a) or a shared library (.so).
    #[arg(short = 'o', value_name = "OUT.o|OUT.a|OUT.so")]
    pub output: PathBuf,
    /// Also write a C header declaring the entry points.
    #[arg(long, value_name = "OUT.h")]
    pub header: Option<PathBuf>,
    /// Fix symbolic sizes (`B=32,S=128`): the artifact then accepts only those sizes.
    #[arg(long, value_parser = parse_shapes)]
    pub shapes: Vec<Vec<(String, i64)>>,
    /// Who chooses the kernels (see `run --fusion`).
    #[arg(long, value_enum, default_value_t = FusionArg::Egraph)]
    pub fusion: FusionArg,
    #[command(flatten)]
    pub precision: PrecisionArgs,
    /// Hold these weights in the artifact: every parameter named by a tensor of the file
    /// is compiled in (prepared once: quantised with a lowered precision, packed), and the
    /// entry points no longer take it.
    #[arg(long, value_name = "PATH.safetensors")]
    pub weights: Option<PathBuf>,
}
