//! Types: `f32[B, 784]`, `f32`, `tile<64x128xf32>`, `buf<f32[M, K]>`, `buf<f32[64], scratch>`, `index`.

use super::lexer::Tok;
use super::{PResult, Parser};
use crate::dtype::DType;
use crate::ir::Span;
use crate::types::{BufferType, MemSpace, TensorType, TileType, Type};

impl Parser<'_> {
    pub(super) fn ty(&mut self) -> PResult<Type> {
        match self.peek() {
            Some(Tok::TileType) => {
                let (_, s) = self.bump();
                self.tile_type(s).map(Type::Tile)
            }
            Some(Tok::Ident) => {
                let s = self.span();
                match self.text(s) {
                    "index" => {
                        self.bump();
                        Ok(Type::Index)
                    }
                    "buf" => {
                        self.bump();
                        self.expect(Tok::Lt)?;
                        let elem = self.tensor_type()?;
                        let space = if self.eat(Tok::Comma) {
                            let s = self.expect(Tok::Ident)?;
                            match MemSpace::from_name(self.text(s)) {
                                Some(m) => m,
                                None => return self.err(
                                    s,
                                    "unknown memory space (expected global, scratch or registers)",
                                ),
                            }
                        } else {
                            MemSpace::Global
                        };
                        self.expect(Tok::Gt)?;
                        Ok(Type::Buffer(BufferType { elem, space }))
                    }
                    _ => self.tensor_type().map(Type::Tensor),
                }
            }
            _ => self.unexpected("a type"),
        }
    }

    /// `DTYPE` or `DTYPE[size, ...]`.
    pub(super) fn tensor_type(&mut self) -> PResult<TensorType> {
        let s = self.expect(Tok::Ident)?;
        let dtype = self.dtype_at(s)?;
        let shape = if self.peek() == Some(Tok::LBracket) {
            self.enter()?;
            let v = self.size_list()?;
            self.leave();
            v
        } else {
            Vec::new()
        };
        Ok(TensorType::new(dtype, shape))
    }

    pub(super) fn dtype_at(&self, s: Span) -> PResult<DType> {
        let name = self.text(s);
        match DType::from_name(name) {
            Some(d) => Ok(d),
            None => self.err(s, format!("unknown type `{name}`")),
        }
    }

    /// Splits `tile<64x128xf32>`: sizes separated by `x`, then the dtype.
    fn tile_type(&self, s: Span) -> PResult<TileType> {
        let text = self.text(s);
        let inner = text
            .strip_prefix("tile<")
            .and_then(|t| t.strip_suffix('>'))
            .unwrap_or("");
        let mut parts: Vec<&str> = inner.split('x').collect();
        let dtype_name = parts.pop().unwrap_or("");
        let Some(dtype) = DType::from_name(dtype_name) else {
            return self.err(s, format!("unknown tile element type `{dtype_name}`"));
        };
        let mut shape = Vec::with_capacity(parts.len());
        for p in parts {
            match p.parse::<u64>() {
                Ok(v) if v > 0 => shape.push(v),
                _ => {
                    return self.err(
                        s,
                        format!("bad tile size `{p}` (expected a positive integer)"),
                    )
                }
            }
        }
        Ok(TileType { dtype, shape })
    }
}
