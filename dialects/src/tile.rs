//! The `tile` dialect: kernels over tiles (grid, loops, loads and stores, dot/map/reduce).
//!
//! First form: the operations are printable, parsable and verifiable; nothing lowers into
//! them yet.

use crate::declare_dialect;
use crate::dialect::{Operands, Results};

declare_dialect! {
    dialect "tile", enum TileOp;

    Yield = "yield" {
        operands: Operands::Variadic { name: "values", min: 0 }, results: Results::Fixed(0),
        attrs: [], traits: [Terminator],
        summary: "ends a tile region, passing values to its parent",
        example: "tile.yield %3 : tile<64x128xf32>",
    },
}
