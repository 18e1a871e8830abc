//! Lowering of checked AST to graph IR.
