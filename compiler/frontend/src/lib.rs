//! The Tessera front end: `.tsr` source to graph IR, with span diagnostics.
//!
//! `lexer` (logos) and `parser` (lalrpop) give the [`ast`]; `check` resolves names and
//! checks types and symbolic shapes; `lower` builds graph IR. [`compile`] runs them all.

pub mod ast;
pub mod ast_print;
mod builtins;
mod calls;
pub mod check;
pub mod diag;
pub mod lexer;
mod literals;
pub mod lower;
pub mod parser;
mod sizes;
mod slicing;
mod suggest;

pub use builtins::builtin_names;
pub use diag::Diagnostic;

/// Parses, checks and lowers a whole program to a graph-IR module.
pub fn compile(src: &str) -> Result<tessera_dialects::Module, Vec<Diagnostic>> {
    let program = parser::parse(src)?;
    check::check_and_lower(&program)
}
