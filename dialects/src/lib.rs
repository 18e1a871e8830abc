//! Tessera IR: the core (values, operations, regions, functions), types and attributes,
//! the `graph` and `tile` dialects declared once, their text form and the verifier.

pub mod attr;
pub mod dialect;
pub mod dtype;
pub mod graph;
pub mod ir;
pub mod opdoc;
pub mod parse;
pub mod print;
pub mod renumber;
pub mod sym;
pub mod tile;
pub mod types;
pub mod verify;

pub use attr::{Attr, AttrKind, Attrs};
pub use dtype::DType;
pub use graph::GraphOp;
pub use ir::{Func, FuncKind, Loc, Module, Op, Operation, Region, Span, Value, ValueData};
pub use parse::{parse_module, ParseError};
pub use print::{print_func, print_module};
pub use renumber::{renumber, renumber_func};
pub use sym::{SymExpr, SymNode};
pub use tile::TileOp;
pub use types::{BufferType, MemSpace, TensorType, TileType, Type};
pub use verify::{verify_func, verify_module, VerifyError};
