//! Symbolic size expressions: `B*S`, `(H - 1) / 2 + 1`, built with [`SymExpr`] operations
//! so that they canonicalise exactly as the rest of the compiler builds them.

use super::lexer::Tok;
use super::{PResult, Parser};
use crate::ir::Span;
use crate::sym::SymExpr;

/// The longest printed form a size expression may reach while it is being built.
const MAX_SIZE_TEXT: usize = 4096;

/// An upper bound on the number of terms of `e`, read from its printed form.
fn term_bound(text: &str) -> usize {
    1 + text.matches(" + ").count() + text.matches(" - ").count()
}

impl Parser<'_> {
    /// `size := '-'? term (('+' | '-') term)*`; a leading `-` negates the whole first term,
    /// so `-(H - 1) / 2 + 8` is `8 - (H - 1) / 2`, as [`SymExpr`]'s `Display` means it.
    pub(super) fn size(&mut self) -> PResult<SymExpr> {
        self.enter()?;
        let start = self.span();
        let negate = self.eat(Tok::Minus);
        let mut acc = self.size_term()?;
        if negate {
            acc = match acc.checked_neg() {
                Ok(e) => e,
                Err(e) => return self.err(start.join(self.prev_span()), e.to_string()),
            };
        }
        loop {
            let neg = match self.peek() {
                Some(Tok::Plus) => false,
                Some(Tok::Minus) => true,
                _ => break,
            };
            self.bump();
            let rhs = self.size_term()?;
            let sum = if neg {
                acc.checked_sub(&rhs)
            } else {
                acc.checked_add(&rhs)
            };
            acc = match sum {
                Ok(e) => e,
                Err(e) => return self.err(start.join(self.prev_span()), e.to_string()),
            };
            self.check_size(&acc, start)?;
        }
        self.leave();
        Ok(acc)
    }

    /// `term := unary (('*' | '/') unary)*`.
    fn size_term(&mut self) -> PResult<SymExpr> {
        let start = self.span();
        let mut acc = self.size_unary()?;
        loop {
            let div = match self.peek() {
                Some(Tok::Star) => false,
                Some(Tok::Slash) => true,
                _ => break,
            };
            let op_span = self.bump().1;
            let rhs = self.size_unary()?;
            if div {
                match rhs.as_const() {
                    Some(d) if d <= 0 => return self.err(
                        op_span.join(self.prev_span()),
                        "a size can only be divided by a positive constant or a size expression",
                    ),
                    _ => {}
                }
                acc = match acc.floor_div(&rhs) {
                    Ok(e) => e,
                    Err(e) => return self.err(op_span, e.to_string()),
                };
            } else {
                let (a, b) = (acc.to_string(), rhs.to_string());
                if term_bound(&a).saturating_mul(term_bound(&b)) > 256 {
                    return self.err(start.join(self.prev_span()), "size expression too large");
                }
                acc = match acc.checked_mul(&rhs) {
                    Ok(e) => e,
                    Err(e) => return self.err(start.join(self.prev_span()), e.to_string()),
                };
            }
            self.check_size(&acc, start)?;
        }
        Ok(acc)
    }

    /// `unary := INT | NAME | '(' size ')'`.
    fn size_unary(&mut self) -> PResult<SymExpr> {
        match self.peek() {
            Some(Tok::Int) => {
                let (_, s) = self.bump();
                Ok(SymExpr::lit(self.int_value(s)?))
            }
            Some(Tok::Ident) => {
                let (_, s) = self.bump();
                let name = self.text(s);
                if name.contains('.') {
                    return self.err(s, format!("`{name}` is not a size name"));
                }
                Ok(SymExpr::name(name))
            }
            Some(Tok::LParen) => {
                self.bump();
                let e = self.size()?;
                self.expect(Tok::RParen)?;
                Ok(e)
            }
            _ => self.unexpected("a size (an integer, a name or `(`)"),
        }
    }

    fn check_size(&self, e: &SymExpr, start: Span) -> PResult<()> {
        if e.to_string().len() > MAX_SIZE_TEXT {
            return self.err(start.join(self.prev_span()), "size expression too large");
        }
        Ok(())
    }

    /// The value of an integer token that fits in `i64`.
    pub(super) fn int_value(&self, s: Span) -> PResult<i64> {
        match self.text(s).parse::<i64>() {
            Ok(v) => Ok(v),
            Err(_) => self.err(s, "integer literal out of range"),
        }
    }

    /// `[size, ...]`, the inside of a tensor shape or a `sizes[...]` attribute.
    pub(super) fn size_list(&mut self) -> PResult<Vec<SymExpr>> {
        self.expect(Tok::LBracket)?;
        let mut out = Vec::new();
        if self.eat(Tok::RBracket) {
            return Ok(out);
        }
        loop {
            out.push(self.size()?);
            if self.eat(Tok::Comma) {
                continue;
            }
            self.expect(Tok::RBracket)?;
            return Ok(out);
        }
    }
}
