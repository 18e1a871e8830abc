//! The reference interpreter: runs graph IR on host tensors with NumPy semantics.
