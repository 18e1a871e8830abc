//! Attribute dictionaries `{name = value, ...}` and attribute values.

use super::lexer::Tok;
use super::{PResult, Parser};
use crate::attr::{Attr, Attrs};
use crate::dialect::AttrDef;
use crate::dtype::DType;
use crate::ir::Span;

impl Parser<'_> {
    /// `{name = value, ...}`; `check(name, value, span)` validates each entry as it is read.
    pub(super) fn attr_dict(
        &mut self,
        check: &dyn Fn(&Parser, &str, &Attr, Span) -> PResult<()>,
    ) -> PResult<Attrs> {
        self.expect(Tok::LBrace)?;
        let mut attrs = Attrs::new();
        if self.eat(Tok::RBrace) {
            return Ok(attrs);
        }
        loop {
            let ns = self.expect(Tok::Ident)?;
            let name = self.text(ns).to_string();
            if attrs.get(&name).is_some() {
                return self.err(ns, format!("attribute `{name}` is given twice"));
            }
            self.expect(Tok::Eq)?;
            let vs = self.span();
            let value = self.attr_value()?;
            check(self, &name, &value, ns.join(self.prev_span()).join(vs))?;
            attrs.0.push((name, value));
            if self.eat(Tok::Comma) {
                continue;
            }
            self.expect(Tok::RBrace)?;
            return Ok(attrs);
        }
    }

    fn attr_value(&mut self) -> PResult<Attr> {
        let s = self.span();
        match self.peek() {
            Some(Tok::Int) => {
                self.bump();
                Ok(Attr::Int(self.int_value(s)?))
            }
            Some(Tok::Float) => {
                self.bump();
                Ok(Attr::Float(self.float_value(s)?))
            }
            Some(Tok::Minus) => {
                self.bump();
                let s2 = self.span();
                match self.peek() {
                    Some(Tok::Int) => {
                        self.bump();
                        let text = self.text(s2);
                        match format!("-{text}").parse::<i64>() {
                            Ok(v) => Ok(Attr::Int(v)),
                            Err(_) => self.err(s.join(s2), "integer literal out of range"),
                        }
                    }
                    Some(Tok::Float) => {
                        self.bump();
                        Ok(Attr::Float(-self.float_value(s2)?))
                    }
                    Some(Tok::Ident) if self.text(s2) == "inf" => {
                        self.bump();
                        Ok(Attr::Float(f64::NEG_INFINITY))
                    }
                    _ => self.unexpected("a number after `-`"),
                }
            }
            Some(Tok::Str) => {
                self.bump();
                self.string_value(s).map(Attr::Str)
            }
            Some(Tok::Symbol) => {
                self.bump();
                Ok(Attr::Symbol(self.text(s)[1..].to_string()))
            }
            Some(Tok::LBracket) => {
                self.enter()?;
                let v = self.int_list()?;
                self.leave();
                Ok(Attr::Ints(v))
            }
            Some(Tok::Ident) => {
                let word = self.text(s);
                match word {
                    "true" => {
                        self.bump();
                        Ok(Attr::Bool(true))
                    }
                    "false" => {
                        self.bump();
                        Ok(Attr::Bool(false))
                    }
                    "nan" => {
                        self.bump();
                        Ok(Attr::Float(f64::NAN))
                    }
                    "inf" => {
                        self.bump();
                        Ok(Attr::Float(f64::INFINITY))
                    }
                    "sizes" => {
                        self.bump();
                        self.enter()?;
                        let v = self.size_list()?;
                        self.leave();
                        Ok(Attr::Sizes(v))
                    }
                    _ => match DType::from_name(word) {
                        Some(d) => {
                            self.bump();
                            Ok(Attr::DType(d))
                        }
                        None => self.err(s, format!("unknown attribute value `{word}`")),
                    },
                }
            }
            _ => self.unexpected("an attribute value"),
        }
    }

    /// `[1, -2, 3]`.
    fn int_list(&mut self) -> PResult<Vec<i64>> {
        self.expect(Tok::LBracket)?;
        let mut out = Vec::new();
        if self.eat(Tok::RBracket) {
            return Ok(out);
        }
        loop {
            let neg = self.eat(Tok::Minus);
            let s = self.expect(Tok::Int)?;
            let text = self.text(s);
            let parsed = if neg {
                format!("-{text}").parse::<i64>()
            } else {
                text.parse::<i64>()
            };
            match parsed {
                Ok(v) => out.push(v),
                Err(_) => return self.err(s, "integer literal out of range"),
            }
            if self.eat(Tok::Comma) {
                continue;
            }
            self.expect(Tok::RBracket)?;
            return Ok(out);
        }
    }

    fn float_value(&self, s: Span) -> PResult<f64> {
        match self.text(s).parse::<f64>() {
            Ok(v) => Ok(v),
            Err(_) => self.err(s, "malformed float literal"),
        }
    }

    /// The contents of a string token, with `\"`, `\\`, `\n`, `\t`, `\r` and `\0` unescaped.
    fn string_value(&self, s: Span) -> PResult<String> {
        let text = self.text(s);
        let inner = text.get(1..text.len().saturating_sub(1)).unwrap_or("");
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('0') => out.push('\0'),
                other => {
                    let shown: String = other.into_iter().collect();
                    return self.err(s, format!("unknown escape `\\{shown}` in string"));
                }
            }
        }
        Ok(out)
    }
}

/// Checks one attribute against an operation's declared attributes.
pub(super) fn check_declared(
    p: &Parser,
    op_name: &str,
    decls: &[AttrDef],
    name: &str,
    value: &Attr,
    span: Span,
) -> PResult<()> {
    let Some(def) = decls.iter().find(|d| d.name == name) else {
        return p.err(span, format!("`{op_name}` has no attribute `{name}`"));
    };
    if !def.kind.accepts(value) {
        return p.err(
            span,
            format!(
                "attribute `{name}` of `{op_name}` must be {}, found `{value}`",
                crate::verify::kind_phrase(def.kind)
            ),
        );
    }
    Ok(())
}
