//! Symbolic sizes: integer expressions over size names, kept in a canonical form.
//!
//! A [`SymExpr`] is a polynomial with integer coefficients whose atoms are size names
//! (`B`, `S`) or floor divisions that could not be simplified (`(H - 1) / 2`). Every
//! constructor normalises, so two sizes are equal exactly when their canonical forms
//! are equal (DSL.md §7: "two sizes are equal when their expressions simplify to the same").
//! Distinct names are never assumed equal, or equal to 1.

use std::collections::BTreeMap;
use std::fmt;

/// A canonical symbolic size expression.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SymExpr {
    /// Monomial -> coefficient; never holds a zero coefficient. The constant term is the
    /// empty monomial.
    terms: BTreeMap<Monomial, i64>,
}

/// A product of atoms, sorted, with repetition for powers.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
struct Monomial(Vec<Atom>);

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
enum Atom {
    Name(String),
    /// `floor(num / den)` that does not simplify.
    FloorDiv(Box<SymExpr>, Box<SymExpr>),
}

/// One step of [`SymExpr::postfix`], evaluated on a stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymNode<'a> {
    Const(i64),
    Name(&'a str),
    Add,
    Mul,
    /// Floor division of the two values below.
    FloorDiv,
}

/// Errors of symbolic arithmetic and evaluation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SymError {
    #[error("division by zero in size expression")]
    DivisionByZero,
    #[error("size expression overflows")]
    Overflow,
    #[error("size `{0}` is not bound")]
    Unbound(String),
}

impl SymExpr {
    /// The constant `c`.
    pub fn lit(c: i64) -> SymExpr {
        let mut terms = BTreeMap::new();
        if c != 0 {
            terms.insert(Monomial(Vec::new()), c);
        }
        SymExpr { terms }
    }

    /// The size name `n`.
    pub fn name(n: &str) -> SymExpr {
        let mut terms = BTreeMap::new();
        terms.insert(Monomial(vec![Atom::Name(n.to_string())]), 1);
        SymExpr { terms }
    }

    fn atom(a: Atom) -> SymExpr {
        let mut terms = BTreeMap::new();
        terms.insert(Monomial(vec![a]), 1);
        SymExpr { terms }
    }

    /// The value, when the expression is a constant.
    pub fn as_const(&self) -> Option<i64> {
        match self.terms.len() {
            0 => Some(0),
            1 => {
                let (m, c) = self.terms.iter().next()?;
                m.0.is_empty().then_some(*c)
            }
            _ => None,
        }
    }

    /// The single name, when the expression is exactly one name.
    pub fn as_name(&self) -> Option<&str> {
        if self.terms.len() != 1 {
            return None;
        }
        let (m, c) = self.terms.iter().next()?;
        match (m.0.as_slice(), c) {
            ([Atom::Name(n)], 1) => Some(n),
            _ => None,
        }
    }

    /// Every name the expression mentions, sorted and without repetition.
    pub fn names(&self) -> Vec<String> {
        let mut out = std::collections::BTreeSet::new();
        self.collect_names(&mut out);
        out.into_iter().collect()
    }

    fn collect_names(&self, out: &mut std::collections::BTreeSet<String>) {
        for m in self.terms.keys() {
            for a in &m.0 {
                match a {
                    Atom::Name(n) => {
                        out.insert(n.clone());
                    }
                    Atom::FloorDiv(n, d) => {
                        n.collect_names(out);
                        d.collect_names(out);
                    }
                }
            }
        }
    }

    /// `self + other` with `add` combining coefficients (checked or wrapping).
    fn sum_with<E>(
        &self,
        other: &SymExpr,
        add: impl Fn(i64, i64) -> Result<i64, E>,
    ) -> Result<SymExpr, E> {
        let mut terms = self.terms.clone();
        for (m, c) in &other.terms {
            let e = terms.entry(m.clone()).or_insert(0);
            *e = add(*e, *c)?;
            if *e == 0 {
                terms.remove(m);
            }
        }
        Ok(SymExpr { terms })
    }

    /// `self * other` with `mul` and `add` combining coefficients (checked or wrapping).
    fn product_with<E>(
        &self,
        other: &SymExpr,
        mul: impl Fn(i64, i64) -> Result<i64, E>,
        add: impl Fn(i64, i64) -> Result<i64, E>,
    ) -> Result<SymExpr, E> {
        let mut terms: BTreeMap<Monomial, i64> = BTreeMap::new();
        for (ma, ca) in &self.terms {
            for (mb, cb) in &other.terms {
                let mut atoms = ma.0.clone();
                atoms.extend(mb.0.iter().cloned());
                atoms.sort();
                let m = Monomial(atoms);
                let p = mul(*ca, *cb)?;
                let e = terms.entry(m.clone()).or_insert(0);
                *e = add(*e, p)?;
                if *e == 0 {
                    terms.remove(&m);
                }
            }
        }
        Ok(SymExpr { terms })
    }

    /// `self + other`, or an error when a coefficient overflows `i64` (sizes written in the
    /// source are built with these checked forms).
    pub fn checked_add(&self, other: &SymExpr) -> Result<SymExpr, SymError> {
        self.sum_with(other, |a, b| a.checked_add(b).ok_or(SymError::Overflow))
    }

    /// `-self`, checked as [`SymExpr::checked_add`].
    pub fn checked_neg(&self) -> Result<SymExpr, SymError> {
        let terms = self
            .terms
            .iter()
            .map(|(m, c)| Ok((m.clone(), c.checked_neg().ok_or(SymError::Overflow)?)))
            .collect::<Result<_, SymError>>()?;
        Ok(SymExpr { terms })
    }

    /// `self - other`, checked as [`SymExpr::checked_add`].
    pub fn checked_sub(&self, other: &SymExpr) -> Result<SymExpr, SymError> {
        self.checked_add(&other.checked_neg()?)
    }

    /// `self * other`, checked as [`SymExpr::checked_add`].
    pub fn checked_mul(&self, other: &SymExpr) -> Result<SymExpr, SymError> {
        let checked = |r: Option<i64>| r.ok_or(SymError::Overflow);
        self.product_with(
            other,
            |a, b| checked(a.checked_mul(b)),
            |a, b| checked(a.checked_add(b)),
        )
    }

    /// `self + other`, coefficients wrapping.
    pub fn add(&self, other: &SymExpr) -> SymExpr {
        infallible(self.sum_with(other, |a, b| Ok(a.wrapping_add(b))))
    }

    pub fn neg(&self) -> SymExpr {
        SymExpr {
            terms: self
                .terms
                .iter()
                .map(|(m, c)| (m.clone(), c.wrapping_neg()))
                .collect(),
        }
    }

    pub fn sub(&self, other: &SymExpr) -> SymExpr {
        self.add(&other.neg())
    }

    /// `self * other`, coefficients wrapping.
    pub fn mul(&self, other: &SymExpr) -> SymExpr {
        infallible(self.product_with(
            other,
            |a, b| Ok(a.wrapping_mul(b)),
            |a, b| Ok(a.wrapping_add(b)),
        ))
    }

    /// Floor division. Simplifies `(c*X + Y) / c` to `X + Y / c` and divides constants.
    pub fn floor_div(&self, den: &SymExpr) -> Result<SymExpr, SymError> {
        if let Some(d) = den.as_const() {
            if d == 0 {
                return Err(SymError::DivisionByZero);
            }
            if d == 1 {
                return Ok(self.clone());
            }
            let mut exact = BTreeMap::new();
            let mut rest = BTreeMap::new();
            for (m, c) in &self.terms {
                if c % d == 0 {
                    exact.insert(m.clone(), c / d);
                } else {
                    rest.insert(m.clone(), *c);
                }
            }
            let exact = SymExpr { terms: exact };
            let rest = SymExpr { terms: rest };
            let rest_div = match rest.as_const() {
                Some(r) => SymExpr::lit(r.div_euclid(d) - i64::from(d < 0 && r.rem_euclid(d) != 0)),
                None => SymExpr::atom(Atom::FloorDiv(Box::new(rest), Box::new(den.clone()))),
            };
            return Ok(exact.add(&rest_div));
        }
        if self == den {
            // Sizes are positive, so X / X is 1.
            return Ok(SymExpr::lit(1));
        }
        Ok(SymExpr::atom(Atom::FloorDiv(
            Box::new(self.clone()),
            Box::new(den.clone()),
        )))
    }

    /// Exact division by a single monomial (`c*X*Y`), when it divides every term:
    /// `(B*S*256) / (B*S) == 256`. `None` when it does not divide exactly.
    pub fn exact_div(&self, den: &SymExpr) -> Option<SymExpr> {
        if den.terms.len() != 1 {
            return None;
        }
        let (dm, dc) = den.terms.iter().next()?;
        if *dc == 0 {
            return None;
        }
        let mut terms = BTreeMap::new();
        for (m, c) in &self.terms {
            if c % dc != 0 {
                return None;
            }
            let mut atoms = m.0.clone();
            for a in &dm.0 {
                let pos = atoms.iter().position(|x| x == a)?;
                atoms.remove(pos);
            }
            terms.insert(Monomial(atoms), c / dc);
        }
        Some(SymExpr { terms })
    }

    /// The expression as a postfix program (for evaluators outside the compiler, such as
    /// the runtime's): each term's coefficient and atoms multiplied, the terms added.
    pub fn postfix(&self) -> Vec<SymNode<'_>> {
        let mut out = Vec::new();
        self.push_postfix(&mut out);
        out
    }

    fn push_postfix<'a>(&'a self, out: &mut Vec<SymNode<'a>>) {
        if self.terms.is_empty() {
            out.push(SymNode::Const(0));
        }
        for (i, (m, c)) in self.terms.iter().enumerate() {
            // A coefficient of 1 is left out: `B` is one step.
            let skip_one = *c == 1 && !m.0.is_empty();
            if !skip_one {
                out.push(SymNode::Const(*c));
            }
            for (j, a) in m.0.iter().enumerate() {
                match a {
                    Atom::Name(n) => out.push(SymNode::Name(n)),
                    Atom::FloorDiv(n, d) => {
                        n.push_postfix(out);
                        d.push_postfix(out);
                        out.push(SymNode::FloorDiv);
                    }
                }
                if j > 0 || !skip_one {
                    out.push(SymNode::Mul);
                }
            }
            if i > 0 {
                out.push(SymNode::Add);
            }
        }
    }

    /// Evaluates the expression with the given name bindings.
    pub fn eval(&self, bind: &dyn Fn(&str) -> Option<i64>) -> Result<i64, SymError> {
        let mut total: i64 = 0;
        for (m, c) in &self.terms {
            let mut v: i64 = *c;
            for a in &m.0 {
                let x = match a {
                    Atom::Name(n) => bind(n).ok_or_else(|| SymError::Unbound(n.clone()))?,
                    Atom::FloorDiv(n, d) => {
                        let n = n.eval(bind)?;
                        let d = d.eval(bind)?;
                        if d == 0 {
                            return Err(SymError::DivisionByZero);
                        }
                        n.checked_div_euclid(d).ok_or(SymError::Overflow)?
                            - i64::from(d < 0 && n.rem_euclid(d) != 0)
                    }
                };
                v = v.checked_mul(x).ok_or(SymError::Overflow)?;
            }
            total = total.checked_add(v).ok_or(SymError::Overflow)?;
        }
        Ok(total)
    }

    /// Evaluates with bindings from a map.
    pub fn eval_map(&self, bind: &BTreeMap<String, i64>) -> Result<i64, SymError> {
        self.eval(&|n| bind.get(n).copied())
    }

    /// The non-negative value of `name` (the one name `bind` leaves unbound) for which this
    /// expression equals `target`, when the expression is linear in it (`2*N + 1`).
    pub fn solve(&self, name: &str, target: i64, bind: &BTreeMap<String, i64>) -> Option<i64> {
        let at = |v: i64| {
            let mut b = bind.clone();
            b.insert(name.to_string(), v);
            self.eval_map(&b).ok()
        };
        let (e0, e1, e2) = (at(0)?, at(1)?, at(2)?);
        let c = e1.checked_sub(e0)?;
        if c == 0 || e2.checked_sub(e1)? != c {
            return None;
        }
        let diff = target.checked_sub(e0)?;
        let v = diff.checked_div(c)?;
        if diff.checked_rem(c)? != 0 || v < 0 {
            return None;
        }
        (at(v)? == target).then_some(v)
    }

    /// Replaces names by expressions (used when a called function's sizes bind to the caller's).
    pub fn substitute(&self, f: &dyn Fn(&str) -> Option<SymExpr>) -> Result<SymExpr, SymError> {
        let mut out = SymExpr::lit(0);
        for (m, c) in &self.terms {
            let mut term = SymExpr::lit(*c);
            for a in &m.0 {
                let x = match a {
                    Atom::Name(n) => f(n).unwrap_or_else(|| SymExpr::name(n)),
                    Atom::FloorDiv(n, d) => n.substitute(f)?.floor_div(&d.substitute(f)?)?,
                };
                term = term.mul(&x);
            }
            out = out.add(&term);
        }
        Ok(out)
    }

    fn is_sum(&self) -> bool {
        self.terms.len() > 1 || self.terms.values().any(|c| *c < 0)
    }
}

impl From<i64> for SymExpr {
    fn from(c: i64) -> Self {
        SymExpr::lit(c)
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Name(n) => f.write_str(n),
            Atom::FloorDiv(n, d) => {
                if n.is_sum()
                    || n.terms.len() == 1 && n.as_const().is_none() && n.as_name().is_none()
                {
                    write!(f, "({n})")?;
                } else {
                    write!(f, "{n}")?;
                }
                f.write_str(" / ")?;
                if d.as_const().is_some() || d.as_name().is_some() {
                    write!(f, "{d}")
                } else {
                    write!(f, "({d})")
                }
            }
        }
    }
}

impl fmt::Display for SymExpr {
    /// Prints non-constant terms in canonical order, then the constant: `B*S + 1`, `H - 1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.terms.is_empty() {
            return f.write_str("0");
        }
        let mut ordered: Vec<(&Monomial, &i64)> =
            self.terms.iter().filter(|(m, _)| !m.0.is_empty()).collect();
        if let Some(c) = self.terms.get(&Monomial(Vec::new())) {
            ordered.push((self.terms.keys().next().expect("non-empty"), c));
        }
        for (i, (m, c)) in ordered.iter().enumerate() {
            let c = **c;
            let (neg, mag) = if c < 0 {
                (true, c.unsigned_abs())
            } else {
                (false, c as u64)
            };
            if i == 0 {
                if neg {
                    f.write_str("-")?;
                }
            } else {
                f.write_str(if neg { " - " } else { " + " })?;
            }
            if m.0.is_empty() {
                write!(f, "{mag}")?;
                continue;
            }
            if mag != 1 {
                write!(f, "{mag}*")?;
            }
            for (j, a) in m.0.iter().enumerate() {
                if j > 0 {
                    f.write_str("*")?;
                }
                // A floor division inside a product needs parentheses to parse back.
                if matches!(a, Atom::FloorDiv(..)) && (m.0.len() > 1 || mag != 1) {
                    write!(f, "({a})")?;
                } else {
                    write!(f, "{a}")?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for SymExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SymExpr({self})")
    }
}

/// The value of a computation that cannot fail.
fn infallible(r: Result<SymExpr, std::convert::Infallible>) -> SymExpr {
    match r {
        Ok(e) => e,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> SymExpr {
        SymExpr::name(s)
    }
    fn c(v: i64) -> SymExpr {
        SymExpr::lit(v)
    }

    /// Evaluates a postfix program on a stack, as the runtime does.
    fn run_postfix(code: &[SymNode<'_>], bind: &BTreeMap<String, i64>) -> i64 {
        let mut st: Vec<i64> = Vec::new();
        for op in code {
            match *op {
                SymNode::Const(c) => st.push(c),
                SymNode::Name(n) => st.push(bind[n]),
                _ => {
                    let (b, a) = (st.pop().unwrap(), st.pop().unwrap());
                    st.push(match op {
                        SymNode::Add => a + b,
                        SymNode::Mul => a * b,
                        _ => a.div_euclid(b) - i64::from(b < 0 && a.rem_euclid(b) != 0),
                    });
                }
            }
        }
        assert_eq!(st.len(), 1);
        st[0]
    }

    #[test]
    fn postfix_evaluates_like_eval() {
        let e = n("B")
            .mul(&n("S"))
            .add(&n("H").sub(&c(3)).floor_div(&c(2)).unwrap().mul(&c(5)))
            .sub(&c(7));
        for (b, s, h) in [(1, 1, 1), (2, 3, 10), (7, 5, 0)] {
            let bind: BTreeMap<String, i64> = [("B", b), ("S", s), ("H", h)]
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect();
            assert_eq!(run_postfix(&e.postfix(), &bind), e.eval_map(&bind).unwrap());
        }
        assert_eq!(c(0).postfix(), vec![SymNode::Const(0)]);
        assert_eq!(n("B").postfix(), vec![SymNode::Name("B")]);
        assert_eq!(c(7).postfix(), vec![SymNode::Const(7)]);
    }

    #[test]
    fn canonical_equality() {
        // B*S + 1 == 1 + S*B
        assert_eq!(
            n("B").mul(&n("S")).add(&c(1)),
            c(1).add(&n("S").mul(&n("B")))
        );
        // (H + 2 - 3) / 1 + 1 == H
        let h = n("H");
        let conv = h.add(&c(2)).sub(&c(3)).floor_div(&c(1)).unwrap().add(&c(1));
        assert_eq!(conv, h);
        assert_ne!(n("B"), n("S"));
        assert_ne!(n("B"), c(1));
    }

    #[test]
    fn floor_div_simplifies_divisible_terms() {
        // (4*B + 2) / 2 == 2*B + 1
        let e = c(4).mul(&n("B")).add(&c(2)).floor_div(&c(2)).unwrap();
        assert_eq!(e, c(2).mul(&n("B")).add(&c(1)));
        // (H - 1) / 2 stays symbolic and prints with parentheses.
        let e = n("H").sub(&c(1)).floor_div(&c(2)).unwrap().add(&c(1));
        assert_eq!(e.to_string(), "(H - 1) / 2 + 1");
        assert_eq!(e.eval(&|_| Some(7)).unwrap(), 4);
        assert_eq!(c(-7).floor_div(&c(2)).unwrap(), c(-4));
        assert!(n("H").floor_div(&c(0)).is_err());
    }

    #[test]
    fn exact_division_by_monomials() {
        let bs = n("B").mul(&n("S"));
        assert_eq!(bs.mul(&c(256)).exact_div(&bs), Some(c(256)));
        assert_eq!(bs.exact_div(&c(2)), None);
        assert_eq!(c(12).exact_div(&c(4)), Some(c(3)));
        assert_eq!(n("B").exact_div(&n("S")), None);
    }

    #[test]
    fn printing() {
        assert_eq!(n("B").mul(&n("S")).to_string(), "B*S");
        assert_eq!(n("B").sub(&c(1)).to_string(), "B - 1");
        assert_eq!(c(2).mul(&n("B")).neg().to_string(), "-2*B");
        assert_eq!(c(0).to_string(), "0");
        assert_eq!(c(-3).to_string(), "-3");
    }

    #[test]
    fn eval_reports_unbound_and_overflow() {
        assert_eq!(n("B").eval(&|_| None), Err(SymError::Unbound("B".into())));
        let big = n("B").mul(&n("B"));
        assert_eq!(big.eval(&|_| Some(i64::MAX)), Err(SymError::Overflow));
    }
}
