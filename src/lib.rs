//! Tessera: the library facade over the compiler pipeline.
