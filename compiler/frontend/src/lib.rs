//! The Tessera front end: `.tsr` source to graph IR, with span diagnostics.

pub mod ast;
pub mod diag;
