//! The op reference (`docs/ops.md`), generated from the dialect declarations.
