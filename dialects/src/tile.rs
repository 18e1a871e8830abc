//! The `tile` dialect: kernels over tiles (grid, loops, loads and stores, dot/map/reduce).
//!
//! A `tile.kernel` is a [`crate::Func`] of kind [`crate::FuncKind::Kernel`] whose
//! parameters are buffers (and 0-d scalars); it has no results and writes its outputs with
//! `tile.store`. Each point of its grid (`grid`, one symbolic size per axis) runs the body
//! once; `tile.program_id` reads the point's coordinates. Loads and stores address buffers
//! in tile coordinates: index `i` along an axis of tile size `t` covers elements
//! `i*t .. (i+1)*t`, and elements past the buffer's edge are masked (read as `pad`, never
//! written). First form: printable, parsable and verifiable; nothing lowers into it yet.

use crate::attr::AttrKind;
use crate::declare_dialect;
use crate::dialect::{AttrDef, Operands, Presence, Results};

/// The attributes a `tile.kernel` may carry: its grid, and the schedule the tuner chooses.
pub const KERNEL_ATTRS: &[AttrDef] = &[
    AttrDef {
        name: "grid",
        kind: AttrKind::Sizes,
        presence: Presence::Req,
        doc: "the number of grid points along each axis, e.g. `sizes[(M + 63) / 64, (N + 127) / 128]`",
    },
    AttrDef {
        name: "parallel",
        kind: AttrKind::Ints,
        presence: Presence::Opt,
        doc: "the grid axes that run in parallel",
    },
    AttrDef {
        name: "order",
        kind: AttrKind::Ints,
        presence: Presence::Opt,
        doc: "the order in which grid axes are walked, outermost first",
    },
    AttrDef {
        name: "vector",
        kind: AttrKind::Int,
        presence: Presence::Opt,
        doc: "vector width of the innermost tile loops",
    },
    AttrDef {
        name: "unroll",
        kind: AttrKind::Int,
        presence: Presence::Opt,
        doc: "unroll factor of `tile.for` loops",
    },
];

declare_dialect! {
    dialect "tile", enum TileOp;

    ProgramId = "program_id" {
        operands: Operands::Fixed(&[]), results: Results::Fixed(1),
        attrs: [("axis", Int, Req, "the grid axis")],
        traits: [Pure],
        summary: "the coordinate of the current grid point along a grid axis",
        example: "%i = tile.program_id {axis = 0} : () -> index",
    },
    For = "for" {
        operands: Operands::Variadic { name: "inits", min: 0 }, results: Results::Variadic,
        attrs: [
            ("bounds", Sizes, Req, "`[lower, upper]`: the loop runs from lower to upper - 1, step 1"),
            ("place", Str, Opt, "where the loop-carried values live: registers, scratch or global"),
        ],
        traits: [HasRegions],
        summary: "a sequential loop; its region takes the index and the iteration values and yields the next ones",
        example: "%r = tile.for %z {bounds = sizes[0, (K + 255) / 256]} : (tile<64x128xf32>) -> tile<64x128xf32> (%k: index, %c: tile<64x128xf32>) {\n  tile.yield %c : tile<64x128xf32>\n}",
    },
    Load = "load" {
        operands: Operands::Variadic { name: "buffer, indices", min: 1 }, results: Results::Fixed(1),
        attrs: [
            ("pad", Scalar, Opt, "the value read past the buffer's edge (default 0)"),
            ("place", Str, Opt, "where the tile lives: registers, scratch or global"),
            ("unit", Str, Opt, "`tiles` (default: index `i` starts at `i` times the tile's extent) or `elements` (index `i` is an element offset, possibly negative)"),
            ("strides", Ints, Opt, "the element step along the buffer for each tile axis (default 1)"),
            ("perm", Ints, Opt, "tile axis `a` walks buffer axis `perm[a]` (default identity): a transposed read"),
        ],
        traits: [],
        summary: "reads a tile from a buffer (one index per buffer axis); elements outside the buffer read as `pad`",
        example: "%t = tile.load %a, %i, %k : (buf<f32[M, K]>, index, index) -> tile<64x256xf32>",
    },
    Store = "store" {
        operands: Operands::Variadic { name: "value, buffer, indices", min: 2 }, results: Results::Fixed(0),
        attrs: [
            ("unit", Str, Opt, "`tiles` (default) or `elements`, as for `tile.load`"),
            ("strides", Ints, Opt, "the element step along the buffer for each tile axis (default 1)"),
            ("perm", Ints, Opt, "tile axis `a` walks buffer axis `perm[a]` (default identity)"),
        ],
        traits: [],
        summary: "writes a tile into a buffer, addressed as `tile.load` reads; elements outside the buffer are not written",
        example: "tile.store %t, %out, %i, %j : (tile<64x128xf32>, buf<f32[M, N]>, index, index) -> ()",
    },
    Prefetch = "prefetch" {
        operands: Operands::Fixed(&["buffer", "index"]), results: Results::Fixed(0),
        attrs: [
            ("rows", Int, Req, "the rows per index: index `i` covers rows `i*rows .. (i+1)*rows` along the buffer's first axis"),
        ],
        traits: [],
        summary: "a hint: brings rows of a buffer into the cache ahead of their use (one read per 64-byte line, results unused; a back end may skip some lines); rows outside the buffer are skipped; no observable effect",
        example: "tile.prefetch %x, %next {rows = 2} : (buf<f32[N, D]>, index) -> ()",
    },
    Zeros = "zeros" {
        operands: Operands::Fixed(&[]), results: Results::Fixed(1),
        attrs: [("place", Str, Opt, "where the tile lives: registers, scratch or global")],
        traits: [Pure],
        summary: "a tile of zeros",
        example: "%z = tile.zeros : () -> tile<64x128xf32>",
    },
    Splat = "splat" {
        operands: Operands::Fixed(&[]), results: Results::Fixed(1),
        attrs: [
            ("value", Scalar, Req, "the value of every element"),
            ("place", Str, Opt, "where the tile lives: registers, scratch or global"),
        ],
        traits: [Pure],
        summary: "a tile with every element equal to a constant",
        example: "%s = tile.splat {value = 0.5} : () -> tile<64xf32>",
    },
    Dot = "dot" {
        operands: Operands::Variadic { name: "lhs, rhs, acc, live columns (optional index)", min: 3 }, results: Results::Fixed(1),
        attrs: [
            ("place", Str, Opt, "where the result lives: registers, scratch or global"),
            ("block", Ints, Opt, "schedule: the register block `[rows, vectors]` of accumulators (vectors of the target's width) held across the k loop"),
            ("unroll", Int, Opt, "schedule: unroll factor of the k loop"),
            ("pack", Str, Opt, "schedule: `rhs` (copy rhs into column panels of the block's width first) or `none`"),
            ("madd", Str, Opt, "schedule: `fma` (fused multiply-adds) or `mul_add` (separate multiplies and adds, for f32 dots)"),
            ("rows", Str, Opt, "`live`: result rows whose lhs row is the padding of a load past the end of its buffer are never read (only stored, which skips them), so the back end may leave them undefined; `all` (the default): every row is computed"),
        ],
        traits: [Pure],
        summary: "acc + lhs @ rhs on 2-D tiles: (MxK, KxN, MxN) -> MxN, accumulating in acc's dtype; the rhs may also be given in column panels, a P x K x W tile with P * W = N whose element (p, k, w) is rhs column p * W + w (a weight packed when bound), and the lhs in broadcast row panels, a Q x K x R x L tile with Q * R = M whose element (q, k, r, l) is lhs element (q * R + r, k) for the result columns n with n % L = l (L equal lanes: a convolution's weight taps, which the micro-kernel reads in place as broadcast vectors); with a fourth operand (an index), only the result columns below it are ever read: the back end may leave the others undefined",
        example: "%d = tile.dot %a, %b, %c : (tile<64x256xf32>, tile<256x128xf32>, tile<64x128xf32>) -> tile<64x128xf32>",
    },
    Map = "map" {
        operands: Operands::Variadic { name: "tiles", min: 1 }, results: Results::Fixed(1),
        attrs: [("place", Str, Opt, "where the result lives: registers, scratch or global")],
        traits: [Pure, Elementwise, HasRegions],
        summary: "applies its region, a scalar function of one element of each operand (0-d tensors, graph ops), to tiles of one shape",
        example: "%r = tile.map %a, %b : (tile<64xf32>, tile<64xf32>) -> tile<64xf32> (%x: f32, %y: f32) {\n  %s = graph.add %x, %y : (f32, f32) -> f32\n  tile.yield %s : f32\n}",
    },
    Reduce = "reduce" {
        operands: Operands::Fixed(&["x"]), results: Results::Fixed(1),
        attrs: [
            ("axis", Int, Req, "the axis removed"),
            ("kind", Str, Req, "sum, max, min, or argmax (the index of the first maximum along the axis, as i32)"),
            ("place", Str, Opt, "where the result lives: registers, scratch or global"),
        ],
        traits: [Pure, Reduction],
        summary: "reduces a tile along one axis, which disappears from the shape",
        example: "%s = tile.reduce %t {axis = 1, kind = \"sum\"} : (tile<64x128xf32>) -> tile<64xf32>",
    },
    Broadcast = "broadcast" {
        operands: Operands::Fixed(&["x"]), results: Results::Fixed(1),
        attrs: [
            ("place", Str, Opt, "where the result lives: registers, scratch or global"),
            ("dims", Ints, Opt, "operand axis `i` becomes result axis `dims[i]` (increasing; default: the trailing axes, NumPy style)"),
        ],
        traits: [Pure],
        summary: "broadcasts a tile to a larger shape; each operand size is 1 or the result's",
        example: "%b = tile.broadcast %t : (tile<128xf32>) -> tile<64x128xf32>",
    },
    Cast = "cast" {
        operands: Operands::Fixed(&["x"]), results: Results::Fixed(1),
        attrs: [
            ("dtype", DType, Req, "the target element type"),
            ("round", Str, Opt, "`\"arith\"`: an `f32` tile rounded to a narrow float as arithmetic rounds (overflow gives inf, NaN in f8e4m3: an accumulator's result) instead of saturating as `as` does"),
        ],
        traits: [Pure, Elementwise],
        summary: "converts the elements of a tile, as `graph.cast`",
        example: "%h = tile.cast %t {dtype = bf16} : (tile<64x128xf32>) -> tile<64x128xbf16>",
    },
    Index = "index" {
        operands: Operands::Fixed(&[]), results: Results::Fixed(1),
        attrs: [("value", Sizes, Req, "one size expression (constant or symbolic): `sizes[N - 1]`")],
        traits: [Pure],
        summary: "an index constant, possibly symbolic",
        example: "%c = tile.index {value = sizes[N - 1]} : () -> index",
    },
    Affine = "affine" {
        operands: Operands::Variadic { name: "indices", min: 1 }, results: Results::Fixed(1),
        attrs: [
            ("coeffs", Ints, Req, "one coefficient per operand"),
            ("offset", Sizes, Opt, "one size expression added to the sum (default 0)"),
        ],
        traits: [Pure],
        summary: "the index `sum(coeffs[i] * operands[i]) + offset`",
        example: "%h = tile.affine %oh, %kh {coeffs = [2, 1], offset = sizes[-1]} : (index, index) -> index",
    },
    Iota = "iota" {
        operands: Operands::Variadic { name: "base", min: 0 }, results: Results::Fixed(1),
        attrs: [("axis", Int, Req, "the tile axis whose coordinate each element holds")],
        traits: [Pure],
        summary: "an i32 tile whose elements are their coordinate along `axis`, plus the optional index `base`; with a load's start it gives element positions, for masks",
        example: "%pos = tile.iota %start {axis = 1} : (index) -> tile<64x128xi32>",
    },
    Yield = "yield" {
        operands: Operands::Variadic { name: "values", min: 0 }, results: Results::Fixed(0),
        attrs: [], traits: [Terminator],
        summary: "ends a tile region, passing values to its parent",
        example: "tile.yield %3 : tile<64x128xf32>",
    },
}
