//! Functions, operations and regions, with `%name` resolution in nested scopes.

use super::attrs::check_declared;
use super::lexer::Tok;
use super::{PResult, Parser};
use crate::attr::Attrs;
use crate::dialect::Trait;
use crate::ir::{Func, FuncKind, Loc, Op, Operation, Region, Span, Value};
use crate::types::Type;
use std::collections::BTreeMap;

/// The function being read: its values and the names visible at each region level.
struct Ctx {
    func: Func,
    scopes: Vec<BTreeMap<String, Value>>,
    /// Every name defined so far in the function, visible or not.
    defined: BTreeMap<String, Span>,
}

impl Ctx {
    fn lookup(&self, name: &str) -> Option<Value> {
        self.scopes.iter().rev().find_map(|s| s.get(name).copied())
    }

    fn make_visible(&mut self, name: &str, v: Value) {
        if let Some(s) = self.scopes.last_mut() {
            s.insert(name.to_string(), v);
        }
    }
}

impl Parser<'_> {
    /// `graph.func @name(%x: T, ...) -> (T, ...) attributes {...} { ops }`, or `tile.kernel ...`.
    pub(super) fn func(&mut self) -> PResult<Func> {
        let start = self.span();
        let kind = if self.eat_keyword("graph.func") {
            FuncKind::Graph
        } else if self.eat_keyword("tile.kernel") {
            FuncKind::Kernel
        } else {
            return self.unexpected("`graph.func` or `tile.kernel`");
        };
        let ns = self.expect(Tok::Symbol)?;
        let mut ctx = Ctx {
            func: Func::new(kind, &self.text(ns)[1..]),
            scopes: vec![BTreeMap::new()],
            defined: BTreeMap::new(),
        };
        self.expect(Tok::LParen)?;
        if !self.eat(Tok::RParen) {
            loop {
                let (name, s) = self.value_name()?;
                self.expect(Tok::Colon)?;
                let ty = self.ty()?;
                let v = self.define(&mut ctx, &name, s, ty, true)?;
                ctx.make_visible(&name, v);
                if self.eat(Tok::Comma) {
                    continue;
                }
                self.expect(Tok::RParen)?;
                break;
            }
        }
        if self.eat(Tok::Arrow) {
            ctx.func.result_types = self.result_types()?;
        }
        ctx.func.loc = Loc(Some(start.join(self.prev_span())));
        if self.eat_keyword("attributes") {
            // Kernel attributes are declared; a graph function's are free-form metadata.
            let kw = kind.keyword();
            ctx.func.attrs = match kind {
                FuncKind::Kernel => self.attr_dict(&|p, n, a, s| {
                    check_declared(p, kw, crate::tile::KERNEL_ATTRS, n, a, s)
                })?,
                FuncKind::Graph => self.attr_dict(&|_, _, _, _| Ok(()))?,
            };
        }
        self.expect(Tok::LBrace)?;
        ctx.func.body.ops = self.ops(&mut ctx)?;
        self.expect(Tok::RBrace)?;
        Ok(ctx.func)
    }

    /// Operations up to (not including) the closing `}`.
    fn ops(&mut self, ctx: &mut Ctx) -> PResult<Vec<Operation>> {
        let mut ops = Vec::new();
        while !matches!(self.peek(), Some(Tok::RBrace) | None) {
            ops.push(self.op(ctx)?);
        }
        Ok(ops)
    }

    /// `%r, %s = dialect.op %a, %b {attrs} : (T, U) -> (R, S) (%arg: T) { ops }`, or a
    /// terminator's short form `dialect.op %a, %b : T, U`.
    fn op(&mut self, ctx: &mut Ctx) -> PResult<Operation> {
        let start = self.span();
        let mut result_names = Vec::new();
        if self.peek() == Some(Tok::Value) {
            loop {
                result_names.push(self.value_name()?);
                if !self.eat(Tok::Comma) {
                    break;
                }
            }
            self.expect(Tok::Eq)?;
        }
        let name_span = self.span();
        if self.peek() != Some(Tok::Ident) {
            return self.unexpected("an operation name");
        }
        self.bump();
        let full = self.text(name_span);
        let Some(op) = Op::from_full_name(full) else {
            return self.err(name_span, format!("unknown operation `{full}`"));
        };
        let def = op.def();
        let short = def.has_trait(Trait::Terminator) && result_names.is_empty();

        let mut operands = Vec::new();
        if self.peek() == Some(Tok::Value) {
            loop {
                operands.push(self.use_value(ctx)?);
                if !self.eat(Tok::Comma) {
                    break;
                }
            }
        }
        let attrs = if self.peek() == Some(Tok::LBrace) {
            let decls = def.attrs;
            let name = full.to_string();
            self.attr_dict(&|p, n, a, s| check_declared(p, &name, decls, n, a, s))?
        } else {
            Attrs::new()
        };
        let mut operand_types = Vec::new();
        let mut result_types = Vec::new();
        if short {
            if !operands.is_empty() {
                self.expect(Tok::Colon)?;
                loop {
                    let ts = self.span();
                    let t = self.ty()?;
                    operand_types.push((ts.join(self.prev_span()), t));
                    if !self.eat(Tok::Comma) {
                        break;
                    }
                }
            }
        } else {
            self.expect(Tok::Colon)?;
            self.expect(Tok::LParen)?;
            if !self.eat(Tok::RParen) {
                loop {
                    let ts = self.span();
                    let t = self.ty()?;
                    operand_types.push((ts.join(self.prev_span()), t));
                    if self.eat(Tok::Comma) {
                        continue;
                    }
                    self.expect(Tok::RParen)?;
                    break;
                }
            }
            self.expect(Tok::Arrow)?;
            result_types = self.result_types()?;
        }
        let sig_span = start.join(self.prev_span());
        self.check_operand_types(ctx, &operands, &operand_types, sig_span)?;
        if result_types.len() != result_names.len() {
            return self.err(
                sig_span,
                format!(
                    "{} result name(s) but {} result type(s)",
                    result_names.len(),
                    result_types.len()
                ),
            );
        }
        let mut results = Vec::with_capacity(result_names.len());
        for ((name, s), ty) in result_names.iter().zip(result_types) {
            results.push(self.define(ctx, name, *s, ty, false)?);
        }
        let mut regions = Vec::new();
        while self.peek() == Some(Tok::LParen) {
            regions.push(self.region(ctx)?);
        }
        for ((name, _), v) in result_names.iter().zip(&results) {
            ctx.make_visible(name, *v);
        }
        let mut operation = Operation::new(op, operands, results, attrs).at(Some(sig_span));
        operation.regions = regions;
        Ok(operation)
    }

    /// `(%a: T, ...) { ops }`: arguments visible only inside.
    fn region(&mut self, ctx: &mut Ctx) -> PResult<Region> {
        self.enter()?;
        self.expect(Tok::LParen)?;
        ctx.scopes.push(BTreeMap::new());
        let mut region = Region::default();
        if !self.eat(Tok::RParen) {
            loop {
                let (name, s) = self.value_name()?;
                self.expect(Tok::Colon)?;
                let ty = self.ty()?;
                let v = self.define(ctx, &name, s, ty, false)?;
                ctx.make_visible(&name, v);
                region.args.push(v);
                if self.eat(Tok::Comma) {
                    continue;
                }
                self.expect(Tok::RParen)?;
                break;
            }
        }
        self.expect(Tok::LBrace)?;
        region.ops = self.ops(ctx)?;
        self.expect(Tok::RBrace)?;
        ctx.scopes.pop();
        self.leave();
        Ok(region)
    }

    /// `(T, U)` or a single type `T`.
    fn result_types(&mut self) -> PResult<Vec<Type>> {
        let mut out = Vec::new();
        if self.eat(Tok::LParen) {
            if self.eat(Tok::RParen) {
                return Ok(out);
            }
            loop {
                out.push(self.ty()?);
                if self.eat(Tok::Comma) {
                    continue;
                }
                self.expect(Tok::RParen)?;
                return Ok(out);
            }
        }
        out.push(self.ty()?);
        Ok(out)
    }

    fn check_operand_types(
        &self,
        ctx: &Ctx,
        operands: &[Value],
        types: &[(Span, Type)],
        sig: Span,
    ) -> PResult<()> {
        if operands.len() != types.len() {
            return self.err(
                sig,
                format!(
                    "{} operand(s) but {} operand type(s)",
                    operands.len(),
                    types.len()
                ),
            );
        }
        for (v, (s, ty)) in operands.iter().zip(types) {
            let actual = &ctx.func.values[v.index()].ty;
            if actual != ty {
                return self.err(
                    *s,
                    format!("operand has type `{actual}`, but the signature says `{ty}`"),
                );
            }
        }
        Ok(())
    }

    /// A `%name` token, without the `%`.
    fn value_name(&mut self) -> PResult<(String, Span)> {
        let s = self.expect(Tok::Value)?;
        Ok((self.text(s)[1..].to_string(), s))
    }

    /// Creates the value `%name` of type `ty`; a name may be defined once per function.
    fn define(&self, ctx: &mut Ctx, name: &str, s: Span, ty: Type, param: bool) -> PResult<Value> {
        if ctx.defined.contains_key(name) {
            return self.err(s, format!("redefinition of `%{name}`"));
        }
        ctx.defined.insert(name.to_string(), s);
        let stored = (!name.bytes().all(|b| b.is_ascii_digit())).then(|| name.to_string());
        Ok(if param {
            ctx.func.add_param(ty, stored)
        } else {
            ctx.func.new_value(ty, stored)
        })
    }

    /// Resolves a use of `%name`.
    fn use_value(&mut self, ctx: &Ctx) -> PResult<Value> {
        let (name, s) = self.value_name()?;
        if let Some(v) = ctx.lookup(&name) {
            return Ok(v);
        }
        let message = if ctx.defined.contains_key(&name) {
            format!("`%{name}` is not visible here: it is defined inside a region that does not enclose this use, or by the operation that uses it")
        } else if self.toks[self.pos..]
            .iter()
            .any(|(t, sp)| *t == Tok::Value && self.text(*sp) == self.text(s))
        {
            format!("`%{name}` is used before its definition")
        } else {
            format!("`%{name}` is not defined")
        };
        self.err(s, message)
    }
}
