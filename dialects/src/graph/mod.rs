//! The `graph` dialect: tensor operations with value semantics and symbolic shapes (DSL.md §3-4).
//!
//! Every operation is declared once in [`ops`]; result types are computed by [`infer`].

pub mod infer;
mod ops;

pub use ops::GraphOp;
