//! The `.tsr` lexer (logos).
