//! Types and shapes of `tile` operations, checked where it is cheap.

use super::ops::join;
use super::Checker;
use crate::dtype::DType;
use crate::ir::{Operation, Region, Value};
use crate::tile::TileOp;
use crate::types::{BufferType, MemSpace, TensorType, TileType, Type};

impl Checker<'_> {
    pub(super) fn check_tile_op(&self, t: TileOp, op: &Operation) -> Vec<String> {
        let mut m = Vec::new();
        if let Some(p) = op.attrs.str("place") {
            if MemSpace::from_name(p).is_none() {
                m.push(format!(
                    "`place` must be registers, scratch or global, found \"{p}\""
                ));
            }
        }
        let res = op.results.first().and_then(|r| self.ty(*r));
        match t {
            TileOp::ProgramId => {
                if res != Some(&Type::Index) {
                    m.push("the result must be an `index`".into());
                }
                // Without a grid, the kernel's own error says so.
                if let (Some(g), Some(a)) = (self.f.attrs.sizes("grid"), op.attrs.int("axis")) {
                    if a < 0 || a as usize >= g.len() {
                        m.push(format!("axis {a} is not an axis of the {}-D grid", g.len()));
                    }
                }
            }
            TileOp::For => self.check_for(op, &mut m),
            TileOp::Load => {
                let buf = self.buffer(op.operands[0], &mut m);
                self.check_indices(&op.operands[1..], buf, &mut m);
                check_access(op, buf.map(|b| b.elem.rank()), &mut m);
                if let (Some(b), Some(r)) = (buf, res) {
                    match r {
                        Type::Tile(tt)
                            if tt.dtype == b.elem.dtype && tt.shape.len() == b.elem.rank() => {}
                        _ => m.push(format!(
                            "the result must be a rank-{} tile of {}, found `{r}`",
                            b.elem.rank(),
                            b.elem.dtype
                        )),
                    }
                }
            }
            TileOp::Store => {
                let tile = self.tile(op.operands[0], &mut m);
                let buf = self.buffer(op.operands[1], &mut m);
                self.check_indices(&op.operands[2..], buf, &mut m);
                check_access(op, buf.map(|b| b.elem.rank()), &mut m);
                if let (Some(tt), Some(b)) = (tile, buf) {
                    if tt.dtype != b.elem.dtype || tt.shape.len() != b.elem.rank() {
                        m.push(format!("cannot store `{tt}` into `{b}`"));
                    }
                }
            }
            TileOp::Zeros | TileOp::Splat => {
                if !matches!(res, Some(Type::Tile(_))) {
                    m.push("the result must be a tile".into());
                }
            }
            TileOp::Dot => {
                if op.operands.len() > 4 {
                    m.push(format!(
                        "expects lhs, rhs, acc and at most one index, got {} operands",
                        op.operands.len()
                    ));
                }
                if let Some(&live) = op.operands.get(3) {
                    if self.ty(live) != Some(&Type::Index) {
                        m.push("the fourth operand (live columns) must be an index".into());
                    }
                }
                let ts: Vec<Option<&TileType>> = op.operands[..op.operands.len().min(3)]
                    .iter()
                    .map(|v| self.tile(*v, &mut m))
                    .collect();
                if let [Some(a), Some(b), Some(c)] = ts[..] {
                    // The lhs as an M x K tile, or in broadcast row panels: Q x K x R x L,
                    // element (m, k) of column `n` at (m / R, k, m % R, n % L), with Q * R
                    // = M (a convolution's weight taps).
                    let lhs = match a.shape.as_slice() {
                        [m, k] => Some((*m, *k)),
                        [q, k, r, l] if *r > 0 && *l > 0 => Some((q * r, *k)),
                        _ => None,
                    };
                    let fit = c.shape.len() == 2 && lhs.is_some_and(|(m, _)| m == c.shape[0]);
                    let ka = lhs.map_or(0, |(_, k)| k);
                    // The rhs as a K x N tile, or in column panels: P x K x W, column `n`
                    // at (n / W, k, n % W), with P * W = N (`tessera_tiling::prepack`).
                    let ok = match b.shape.as_slice() {
                        [k, n] => fit && ka == *k && c.shape[1] == *n,
                        [p, k, w] => fit && ka == *k && *w > 0 && p * w == c.shape[1],
                        _ => false,
                    };
                    if !ok {
                        m.push(format!(
                            "shapes do not fit (MxK or M/R x K x R x L panels, KxN or N/W x K x W panels, MxN): `{a}`, `{b}`, `{c}`"
                        ));
                    }
                    if a.dtype != b.dtype {
                        m.push(format!("lhs and rhs dtypes differ: `{a}`, `{b}`"));
                    }
                    if res != Some(&Type::Tile(c.clone())) {
                        m.push(format!("the result must have the accumulator's type `{c}`"));
                    }
                }
            }
            TileOp::Map => self.check_map(op, &mut m),
            TileOp::Reduce => {
                if let Some(x) = self.tile(op.operands[0], &mut m) {
                    let axis = op.attrs.int("axis").unwrap_or(-1);
                    if axis < 0 || axis as usize >= x.shape.len() {
                        m.push(format!("axis {axis} is not an axis of `{x}`"));
                    } else {
                        let mut shape = x.shape.clone();
                        shape.remove(axis as usize);
                        let dtype = if op.attrs.str("kind") == Some("argmax") {
                            DType::I32
                        } else {
                            x.dtype
                        };
                        let want = Type::Tile(TileType { dtype, shape });
                        if res != Some(&want) {
                            m.push(format!("the result must be `{want}`"));
                        }
                    }
                }
                match op.attrs.str("kind") {
                    Some("sum" | "max" | "min" | "argmax") | None => {}
                    Some(k) => m.push(format!(
                        "`kind` must be sum, max, min or argmax, found \"{k}\""
                    )),
                }
            }
            TileOp::Broadcast => {
                let x = self.tile(op.operands[0], &mut m);
                let r = self.tile(op.results[0], &mut m);
                if let (Some(x), Some(r)) = (x, r) {
                    let fits = x.dtype == r.dtype
                        && match broadcast_dims(op, x.shape.len(), r.shape.len()) {
                            Some(dims) => x
                                .shape
                                .iter()
                                .zip(dims)
                                .all(|(a, d)| *a == 1 || *a == r.shape[d]),
                            None => false,
                        };
                    if !fits {
                        m.push(format!("`{x}` does not broadcast to `{r}`"));
                    }
                }
            }
            TileOp::Cast => {
                let x = self.tile(op.operands[0], &mut m);
                let r = self.tile(op.results[0], &mut m);
                if let (Some(x), Some(r), Some(d)) = (x, r, op.attrs.dtype("dtype")) {
                    if x.shape != r.shape || r.dtype != d {
                        m.push(format!(
                            "the result must be `{}`",
                            TileType {
                                dtype: d,
                                shape: x.shape.clone()
                            }
                        ));
                    }
                }
            }
            TileOp::Index => {
                if res != Some(&Type::Index) {
                    m.push("the result must be an `index`".into());
                }
                if op.attrs.sizes("value").is_some_and(|v| v.len() != 1) {
                    m.push("`value` must hold exactly one size".into());
                }
            }
            TileOp::Affine => {
                if res != Some(&Type::Index) {
                    m.push("the result must be an `index`".into());
                }
                self.check_indices(&op.operands, None, &mut m);
                if op
                    .attrs
                    .ints("coeffs")
                    .is_some_and(|c| c.len() != op.operands.len())
                {
                    m.push(format!(
                        "`coeffs` needs one coefficient per operand ({})",
                        op.operands.len()
                    ));
                }
                if op.attrs.sizes("offset").is_some_and(|v| v.len() != 1) {
                    m.push("`offset` must hold exactly one size".into());
                }
            }
            TileOp::Iota => {
                if op.operands.len() > 1 {
                    m.push("takes at most one base index".into());
                }
                self.check_indices(&op.operands, None, &mut m);
                match res {
                    Some(Type::Tile(t)) if t.dtype == DType::I32 => {
                        let axis = op.attrs.int("axis").unwrap_or(-1);
                        if axis < 0 || axis as usize >= t.shape.len() {
                            m.push(format!("axis {axis} is not an axis of `{t}`"));
                        }
                    }
                    _ => m.push("the result must be an i32 tile".into()),
                }
            }
            TileOp::Prefetch => {
                if let Some(b) = self.buffer(op.operands[0], &mut m) {
                    if b.elem.rank() == 0 {
                        m.push(format!("`{b}` has no rows to prefetch"));
                    }
                }
                self.check_indices(&op.operands[1..], None, &mut m);
                if op.attrs.int("rows").is_some_and(|r| r < 1) {
                    m.push("`rows` must be at least 1".into());
                }
            }
            TileOp::Yield => {}
        }
        m
    }

    fn check_for(&self, op: &Operation, m: &mut Vec<String>) {
        if op.attrs.sizes("bounds").is_some_and(|b| b.len() != 2) {
            m.push("`bounds` must be `sizes[lower, upper]`".into());
        }
        if op.results.len() != op.operands.len() {
            m.push(format!(
                "{} initial value(s) but {} result(s)",
                op.operands.len(),
                op.results.len()
            ));
            return;
        }
        let Some(r) = self.single_region(op, m) else {
            return;
        };
        let inits = self.types(&op.operands);
        let results = self.types(&op.results);
        if inits != results {
            m.push(format!(
                "result types ({}) differ from the initial values' ({})",
                join(&results),
                join(&inits)
            ));
        }
        let args = self.types(&r.args);
        let mut want = vec![Type::Index];
        want.extend(inits.iter().cloned());
        if args != want {
            m.push(format!(
                "the region's arguments must be ({}), found ({})",
                join(&want),
                join(&args)
            ));
        }
        self.check_yield(r, &results, m);
    }

    fn check_map(&self, op: &Operation, m: &mut Vec<String>) {
        let tiles: Vec<Option<&TileType>> = op.operands.iter().map(|v| self.tile(*v, m)).collect();
        let Some(tiles) = tiles.into_iter().collect::<Option<Vec<_>>>() else {
            return;
        };
        let Some(first) = tiles.first() else { return };
        if tiles.iter().any(|t| t.shape != first.shape) {
            m.push("all operands must have one shape (use `tile.broadcast`)".into());
            return;
        }
        let Some(r) = self.single_region(op, m) else {
            return;
        };
        let want: Vec<Type> = tiles
            .iter()
            .map(|t| Type::Tensor(TensorType::scalar(t.dtype)))
            .collect();
        let args = self.types(&r.args);
        if args != want {
            m.push(format!(
                "the region's arguments must be the operands' element types ({}), found ({})",
                join(&want),
                join(&args)
            ));
        }
        let yielded = r
            .ops
            .last()
            .map(|y| self.types(&y.operands))
            .unwrap_or_default();
        let dtype: Option<DType> = match yielded.as_slice() {
            [Type::Tensor(t)] if t.rank() == 0 => Some(t.dtype),
            _ => {
                m.push("the region must yield one 0-d tensor".into());
                None
            }
        };
        if let Some(d) = dtype {
            let want = Type::Tile(TileType {
                dtype: d,
                shape: first.shape.clone(),
            });
            if op.results.first().and_then(|v| self.ty(*v)) != Some(&want) {
                m.push(format!("the result must be `{want}`"));
            }
        }
    }

    fn single_region<'o>(&self, op: &'o Operation, m: &mut Vec<String>) -> Option<&'o Region> {
        if op.regions.len() != 1 {
            m.push(format!(
                "takes exactly one region, found {}",
                op.regions.len()
            ));
            return None;
        }
        op.regions.first()
    }

    fn check_yield(&self, r: &Region, want: &[Type], m: &mut Vec<String>) {
        if let Some(y) = terminator(r) {
            let got = self.types(&y.operands);
            if got != want {
                m.push(format!(
                    "the region yields ({}), but the results are ({})",
                    join(&got),
                    join(want)
                ));
            }
        }
    }

    fn types(&self, vs: &[Value]) -> Vec<Type> {
        vs.iter().filter_map(|v| self.ty(*v).cloned()).collect()
    }

    fn tile(&self, v: Value, m: &mut Vec<String>) -> Option<&TileType> {
        match self.ty(v) {
            Some(Type::Tile(t)) => Some(t),
            Some(t) => {
                m.push(format!(
                    "`{}` has type `{t}`, expected a tile",
                    self.vname(v)
                ));
                None
            }
            None => None,
        }
    }

    fn buffer(&self, v: Value, m: &mut Vec<String>) -> Option<&BufferType> {
        match self.ty(v) {
            Some(Type::Buffer(b)) => Some(b),
            Some(t) => {
                m.push(format!(
                    "`{}` has type `{t}`, expected a buffer",
                    self.vname(v)
                ));
                None
            }
            None => None,
        }
    }

    /// One `index` per buffer axis.
    fn check_indices(&self, idx: &[Value], buf: Option<&BufferType>, m: &mut Vec<String>) {
        for v in idx {
            if self.ty(*v) != Some(&Type::Index) {
                m.push(format!("`{}` is not an `index`", self.vname(*v)));
            }
        }
        if let Some(b) = buf {
            if b.elem.rank() != idx.len() {
                m.push(format!(
                    "`{b}` needs {} index(es), found {}",
                    b.elem.rank(),
                    idx.len()
                ));
            }
        }
    }
}

/// Checks the addressing attributes of a load or store on a buffer of rank `rank`.
fn check_access(op: &Operation, rank: Option<usize>, m: &mut Vec<String>) {
    match op.attrs.str("unit") {
        None | Some("tiles" | "elements") => {}
        Some(u) => m.push(format!("`unit` must be tiles or elements, found \"{u}\"")),
    }
    let Some(rank) = rank else { return };
    if let Some(st) = op.attrs.ints("strides") {
        if st.len() != rank || st.iter().any(|s| *s < 1) {
            m.push(format!(
                "`strides` needs {rank} positive steps, found {st:?}"
            ));
        }
    }
    if let Some(p) = op.attrs.ints("perm") {
        let mut sorted = p.to_vec();
        sorted.sort_unstable();
        if sorted != (0..rank as i64).collect::<Vec<_>>() {
            m.push(format!(
                "`perm` must be a permutation of 0..{rank}, found {p:?}"
            ));
        }
    }
}

/// The result axis of each operand axis of a `tile.broadcast`: `dims`, or the trailing
/// axes. `None` when `dims` is malformed.
pub(crate) fn broadcast_dims(op: &Operation, from: usize, to: usize) -> Option<Vec<usize>> {
    match op.attrs.ints("dims") {
        None => (from <= to).then(|| (to - from..to).collect()),
        Some(d) => {
            let dims: Vec<usize> = d
                .iter()
                .map(|x| usize::try_from(*x).ok())
                .collect::<Option<_>>()?;
            let increasing = dims.windows(2).all(|w| w[0] < w[1]);
            (dims.len() == from && increasing && dims.iter().all(|x| *x < to)).then_some(dims)
        }
    }
}

/// The region's terminator; a missing one is reported by the structural checks.
fn terminator(r: &Region) -> Option<&Operation> {
    r.ops
        .last()
        .filter(|o| o.op.def().has_trait(crate::dialect::Trait::Terminator))
}
