//! Lowering one `tile.kernel` to a Cranelift function with the ABI of [`crate::abi`].
//!
//! The function loads the size table and the buffer pointers once, then walks its grid
//! range; each grid point runs the kernel body. Index values (`program_id`, loop indices)
//! are `i64` SSA values, 0-d element values are scalar SSA values, and every tile value
//! has its own slot in the frame ([`crate::tile_layout`]). Submodules lower one op family
//! each: [`memory`] (load, store, zeros, splat and the copy/fill loops), [`map`] (map
//! regions and scalar graph ops, with [`lane_cast`] for their four-lane casts), [`reduce`], [`dot`] (with [`dot_int`], the `i8` micro-kernel),
//! [`shape`] (broadcast, cast).

mod dot;
mod dot_int;
mod dot_vnni;
mod dot_widen;
mod index;
mod lane_cast;
mod map;
mod memory;
mod reduce;
mod shape;
mod vmath;

pub(crate) use dot_vnni::{vnni_in, VNNI_FLAGS};
pub(crate) use index::STATUS_IOTA_OVERFLOW;

use crate::abi::{grid_exprs, param_kinds, sizes_attr, ParamKind, SizeTable};
use crate::error::{invalid, unsupported, CodegenError, Result};
use crate::tile_layout::{Frame, TileSlot};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    types, AbiParam, BlockArg, FuncRef, InstBuilder, MemFlagsData, Signature, Type as ClType,
    Value as ClValue,
};
use cranelift_frontend::FunctionBuilder;
use cranelift_module::{Linkage, Module};
use std::collections::{BTreeMap, BTreeSet};
use tessera_dialects::{DType, Func, Op, Operation, TileOp, Type, Value};

/// The run-time value of one IR value.
#[derive(Clone, Debug)]
pub(crate) enum Val {
    /// A grid or loop index (`i64`).
    Index(ClValue),
    /// A 0-d element value.
    Scalar(ClValue, DType),
    /// A tile in the frame.
    Tile(TileSlot),
    /// A buffer: base pointer, dims and strides in elements (`i64`).
    Buf(BufVal),
    /// A loaded tile not copied into the frame: its consumers read the buffer in place.
    View(View),
}

/// A `tile.load` of one contiguous run of a buffer row, left in the buffer
/// ([`Lowerer::load_view`]). Its consumers (`tile.map`, `tile.reduce`) read `ptr` when
/// `full` holds, and otherwise copy the tile into `slot` as the load would have
/// ([`Lowerer::operand_base`]).
#[derive(Clone, Debug)]
pub(crate) struct View {
    /// The slot the tile is copied into when it is not wholly inside the buffer.
    pub slot: TileSlot,
    /// The address of tile element 0 in the buffer (meaningful when `full`).
    pub ptr: ClValue,
    /// Whether the run lies wholly inside the buffer (`i8` truth value).
    pub full: ClValue,
    /// The load's buffer, indices, pad bits and addressing, to copy the tile.
    pub buf: Value,
    pub idx: Vec<Value>,
    pub pad: u32,
    pub acc: memory::Access,
}

/// A buffer as the body sees it.
#[derive(Clone, Debug)]
pub(crate) struct BufVal {
    pub base: ClValue,
    pub dtype: DType,
    pub dims: Vec<ClValue>,
    pub strides: Vec<ClValue>,
    /// Whether the buffer is in the frame (aligned, trusted) rather than caller memory.
    pub private: bool,
}

/// The state of lowering one kernel.
pub(crate) struct Lowerer<'a, 'm> {
    pub b: FunctionBuilder<'a>,
    module: &'m mut dyn Module,
    pub func: &'m Func,
    env: Vec<Option<Val>>,
    /// The static bound `B` of every index value (`|v| <= B`), see [`index`].
    bounds: Vec<u64>,
    /// The frame offset of the status word, once some check needs it.
    status: Option<u32>,
    pub frame: Frame,
    pub frame_ptr: ClValue,
    pid: Vec<ClValue>,
    sizes: Vec<ClValue>,
    table: &'m SizeTable,
    helpers: BTreeMap<&'static str, FuncRef>,
    pub ptr_ty: ClType,
    /// For a 2-D tile loaded from a buffer along its rows: the number of leading tile rows
    /// before the buffer ends (rows from there on are padding), for `tile.dot`'s `rows =
    /// "live"`.
    live_rows: BTreeMap<Value, ClValue>,
    /// `tile.load`s left for the `tile.dot` that packs their tile as its rhs, which reads
    /// the buffer directly when the tile lies wholly inside it (see `dot::defer_rhs`).
    deferred_rhs: BTreeMap<Value, Operation>,
    /// Offsets of the slots of `tile.for` iteration values, which every iteration
    /// overwrites: no other value may share them (see `reduce`'s size-1 axes).
    carried: BTreeSet<u32>,
    /// Broadcasts of a one-element `f32`/`i32` tile: the element's slot (maps read it once
    /// and keep it in a register, see [`Lowerer::splat_source`]).
    splats: BTreeMap<Value, TileSlot>,
    /// The kernel's table of 128-bit constants in the frame (bits -> frame offset),
    /// stored once at entry ([`Lowerer::vconst`]).
    consts: BTreeMap<u128, u32>,
    /// Inside a map loop: the frame pointer as the loop carries it, from which the loop
    /// reads its constants (see [`Lowerer::vconst`]).
    const_base: Option<ClValue>,
    /// The table loads of the map being lowered (instruction, type, bits), which it turns
    /// into constants kept in registers when they are few ([`Lowerer::consts_to_registers`]).
    const_loads: Vec<(cranelift_codegen::ir::Inst, ClType, u128)>,
}

/// Memory flags for caller buffers (no alignment promise) and for the frame.
pub(crate) fn buf_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

pub(crate) fn frame_flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// Builds the ABI signature of a kernel.
pub(crate) fn kernel_signature(module: &dyn Module) -> Signature {
    let ptr = module.target_config().pointer_type();
    let mut sig = module.make_signature();
    for t in [ptr, ptr, ptr, types::I64, types::I64] {
        sig.params.push(AbiParam::new(t));
    }
    sig
}

/// What lowering found out about the frame.
pub(crate) struct FrameInfo {
    /// The frame size in bytes.
    pub bytes: u64,
    /// The offset of the `i64` status word (0: no error) when the kernel checks anything
    /// at run time.
    pub status: Option<u64>,
}

/// Lowers `func` into the builder's function.
pub(crate) fn lower_kernel(
    b: FunctionBuilder<'_>,
    module: &mut dyn Module,
    func: &Func,
    table: &SizeTable,
) -> Result<FrameInfo> {
    let ptr_ty = module.target_config().pointer_type();
    let mut l = Lowerer {
        b,
        module,
        func,
        env: vec![None; func.values.len()],
        bounds: vec![crate::run::MAX_SIZE_VALUE as u64; func.values.len()],
        status: None,
        frame: Frame::default(),
        frame_ptr: ClValue::from_u32(0),
        pid: Vec::new(),
        sizes: Vec::new(),
        table,
        helpers: BTreeMap::new(),
        ptr_ty,
        live_rows: BTreeMap::new(),
        deferred_rhs: BTreeMap::new(),
        carried: BTreeSet::new(),
        splats: BTreeMap::new(),
        consts: BTreeMap::new(),
        const_base: None,
        const_loads: Vec::new(),
    };
    // The scheduled vector width (`tessera_tiling::schedule`): this back end emits f32x4.
    if let Some(v) = func.attrs.int("vector").filter(|v| *v != 4) {
        return unsupported(format!("vector width {v} (this back end emits 4 lanes)"));
    }
    let entry = l.b.create_block();
    l.b.append_block_params_for_function_params(entry);
    l.b.switch_to_block(entry);
    let [bufs, sizes, frame, first, last] = match l.b.block_params(entry) {
        &[a, s, f, x, y] => [a, s, f, x, y],
        _ => return invalid("internal error: kernel signature"),
    };
    l.frame_ptr = frame;
    for i in 0..table.exprs.len() {
        let v =
            l.b.ins()
                .load(types::I64, frame_flags(), sizes, (8 * i) as i32);
        l.sizes.push(v);
    }
    l.bind_params(bufs)?;
    let grid = grid_exprs(func)?
        .iter()
        .map(|e| Ok(l.sizes[table.index(e)?]))
        .collect::<Result<Vec<_>>>()?;
    let body = &func.body.ops;
    l.for_loop(first, last, 1, |l, p| {
        let mut rest = p;
        let mut pid = vec![rest; grid.len()];
        for (a, &g) in grid.iter().enumerate().rev() {
            pid[a] = l.b.ins().urem(rest, g);
            rest = l.b.ins().udiv(rest, g);
        }
        l.pid = pid;
        match l.block(body)? {
            Some(v) if !v.is_empty() => invalid("the kernel body may not yield values"),
            _ => Ok(()),
        }
    })?;
    l.b.ins().return_(&[]);
    l.b.seal_all_blocks();
    l.store_consts(entry)?;
    let size = l.frame.size();
    let status = l.status.map(u64::from);
    let fc = l.module.isa().frontend_config();
    l.b.finalize(fc);
    Ok(FrameInfo {
        bytes: size,
        status,
    })
}

impl Lowerer<'_, '_> {
    /// Binds every parameter: buffer pointers and dims, scratch slots, scalar values.
    fn bind_params(&mut self, bufs: ClValue) -> Result<()> {
        let kinds = param_kinds(self.func, self.table)?;
        for (i, (p, kind)) in self.func.params.iter().zip(kinds).enumerate() {
            let val = match kind {
                ParamKind::Global { dtype, dims } => {
                    let base = self
                        .b
                        .ins()
                        .load(self.ptr_ty, frame_flags(), bufs, (8 * i) as i32);
                    let dims: Vec<ClValue> = dims.iter().map(|&d| self.sizes[d]).collect();
                    let strides = self.strides(&dims);
                    Val::Buf(BufVal {
                        base,
                        dtype,
                        dims,
                        strides,
                        private: false,
                    })
                }
                ParamKind::Private { dtype, shape } => {
                    let slot = self.frame.alloc(dtype, &shape)?;
                    let base = self.slot_addr(&slot);
                    let dims: Vec<ClValue> = shape.iter().map(|&d| self.iconst(d as i64)).collect();
                    let strides = self.strides(&dims);
                    Val::Buf(BufVal {
                        base,
                        dtype,
                        dims,
                        strides,
                        private: true,
                    })
                }
                ParamKind::Scalar { dtype } => {
                    let ptr = self
                        .b
                        .ins()
                        .load(self.ptr_ty, frame_flags(), bufs, (8 * i) as i32);
                    // Narrow floats are widened exactly to f32 (see `map`).
                    Val::Scalar(self.load_elem(ptr, dtype, buf_flags())?, dtype)
                }
            };
            self.set(*p, val)?;
        }
        Ok(())
    }

    /// Row-major strides of `dims`.
    fn strides(&mut self, dims: &[ClValue]) -> Vec<ClValue> {
        let mut s = vec![self.iconst(1); dims.len()];
        for a in (0..dims.len().saturating_sub(1)).rev() {
            s[a] = self.b.ins().imul(s[a + 1], dims[a + 1]);
        }
        s
    }

    pub fn iconst(&mut self, c: i64) -> ClValue {
        self.b.ins().iconst(types::I64, c)
    }

    /// `v + c` on `i64`.
    pub fn add_c(&mut self, v: ClValue, c: i64) -> ClValue {
        let k = self.iconst(c);
        self.b.ins().iadd(v, k)
    }

    /// `v * c` on `i64`.
    pub fn mul_c(&mut self, v: ClValue, c: i64) -> ClValue {
        let k = self.iconst(c);
        self.b.ins().imul(v, k)
    }

    /// The address of a slot's first element.
    pub fn slot_addr(&mut self, slot: &TileSlot) -> ClValue {
        let fp = self.frame_ptr;
        self.add_c(fp, i64::from(slot.offset))
    }

    /// The address of element `i` (an `i64` value) of a slot.
    pub fn elem_addr(&mut self, slot: &TileSlot, i: ClValue) -> ClValue {
        let base = self.slot_addr(slot);
        let off = self.mul_c(i, i64::from(slot.esz()));
        self.b.ins().iadd(base, off)
    }

    /// Emits `for (i = start; i + step <= end; i += step) { carried = body(i, carried) }`
    /// and returns the index and the carried values at exit.
    ///
    /// The loop is rotated: a guard before it, then the body with the test at its end
    /// against `last = end - step` (loop-invariant, hoisted), so each iteration pays one
    /// add, one compare and one branch.
    pub fn for_carry(
        &mut self,
        start: ClValue,
        end: ClValue,
        step: i64,
        init: Vec<ClValue>,
        body: impl FnOnce(&mut Self, ClValue, Vec<ClValue>) -> Result<Vec<ClValue>>,
    ) -> Result<(ClValue, Vec<ClValue>)> {
        let inner = self.b.create_block();
        let exit = self.b.create_block();
        self.b.append_block_param(inner, types::I64);
        self.b.append_block_param(exit, types::I64);
        for &v in &init {
            let ty = self.b.func.dfg.value_type(v);
            self.b.append_block_param(inner, ty);
            self.b.append_block_param(exit, ty);
        }
        let last = self.add_c(end, -step);
        let go = self.b.ins().icmp(IntCC::SignedLessThanOrEqual, start, last);
        let args: Vec<BlockArg> = std::iter::once(start)
            .chain(init.iter().copied())
            .map(BlockArg::Value)
            .collect();
        self.b.ins().brif(go, inner, &args, exit, &args);
        self.b.switch_to_block(inner);
        let hp = self.b.block_params(inner).to_vec();
        let i = hp[0];
        let out = body(self, i, hp[1..].to_vec())?;
        if out.len() != init.len() {
            return invalid("internal error: loop carries changed");
        }
        let next = self.add_c(i, step);
        let again = self.b.ins().icmp(IntCC::SignedLessThanOrEqual, next, last);
        let back: Vec<BlockArg> = std::iter::once(next)
            .chain(out)
            .map(BlockArg::Value)
            .collect();
        self.b.ins().brif(again, inner, &back, exit, &back);
        self.b.switch_to_block(exit);
        let ep = self.b.block_params(exit).to_vec();
        Ok((ep[0], ep[1..].to_vec()))
    }

    /// A loop without carried values; returns the first index not run.
    pub fn for_loop(
        &mut self,
        start: ClValue,
        end: ClValue,
        step: i64,
        body: impl FnOnce(&mut Self, ClValue) -> Result<()>,
    ) -> Result<ClValue> {
        let (i, _) = self.for_carry(start, end, step, Vec::new(), |l, i, c| {
            body(l, i)?;
            Ok(c)
        })?;
        Ok(i)
    }

    /// A loop over constant bounds.
    pub fn for_const(
        &mut self,
        start: i64,
        end: i64,
        step: i64,
        body: impl FnOnce(&mut Self, ClValue) -> Result<()>,
    ) -> Result<()> {
        let (s, e) = (self.iconst(start), self.iconst(end));
        self.for_loop(s, e, step, body).map(|_| ())
    }

    /// A helper function's reference in this function, declared on first use.
    pub fn helper(
        &mut self,
        name: &'static str,
        params: &[ClType],
        ret: ClType,
    ) -> Result<FuncRef> {
        if let Some(f) = self.helpers.get(name) {
            return Ok(*f);
        }
        let mut sig = self.module.make_signature();
        sig.params.extend(params.iter().map(|&t| AbiParam::new(t)));
        sig.returns.push(AbiParam::new(ret));
        let id = self
            .module
            .declare_function(name, Linkage::Import, &sig)
            .map_err(|e| CodegenError::Cranelift(e.to_string()))?;
        let f = self.module.declare_func_in_func(id, self.b.func);
        self.helpers.insert(name, f);
        Ok(f)
    }

    pub fn get(&self, v: Value) -> Result<&Val> {
        match self.env.get(v.index()) {
            Some(Some(x)) => Ok(x),
            _ => invalid(format!("value %{} is used before it is defined", v.0)),
        }
    }

    pub fn set(&mut self, v: Value, x: Val) -> Result<()> {
        match self.env.get_mut(v.index()) {
            Some(slot) => {
                *slot = Some(x);
                Ok(())
            }
            None => invalid(format!("value %{} is not in the value table", v.0)),
        }
    }

    pub fn ty(&self, v: Value) -> Result<&Type> {
        match self.func.values.get(v.index()) {
            Some(d) => Ok(&d.ty),
            None => invalid(format!("value %{} is not in the value table", v.0)),
        }
    }

    /// The static bound of index value `v` (grid and loop indices: the size limit).
    pub fn index_bound(&self, v: Value) -> u64 {
        self.bounds
            .get(v.index())
            .copied()
            .unwrap_or(crate::run::MAX_SIZE_VALUE as u64)
    }

    /// Defines index value `v` with its static bound.
    pub fn set_index(&mut self, v: Value, x: ClValue, bound: u64) -> Result<()> {
        self.set(v, Val::Index(x))?;
        if let Some(b) = self.bounds.get_mut(v.index()) {
            *b = bound;
        }
        Ok(())
    }

    /// Stores `code` into the status word unless `ok` (an `i8` truth value) holds. The
    /// runner zeroes the word before the call and reports a non-zero word as an error.
    pub fn raise_unless(&mut self, ok: ClValue, code: i64) -> Result<()> {
        let off = match self.status {
            Some(o) => o,
            None => {
                let slot = self.frame.alloc(DType::I32, &[2])?;
                self.status = Some(slot.offset);
                slot.offset
            }
        };
        let fail = self.b.create_block();
        let join = self.b.create_block();
        self.b.ins().brif(ok, join, &[], fail, &[]);
        self.b.switch_to_block(fail);
        let c = self.iconst(code);
        let fp = self.frame_ptr;
        self.b.ins().store(frame_flags(), c, fp, off as i32);
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(join);
        Ok(())
    }

    pub fn index(&self, v: Value) -> Result<ClValue> {
        match self.get(v)? {
            Val::Index(i) => Ok(*i),
            _ => invalid(format!("%{} must be an index", v.0)),
        }
    }

    pub fn tile(&self, v: Value) -> Result<TileSlot> {
        match self.get(v)? {
            Val::Tile(t) => Ok(t.clone()),
            _ => invalid(format!("%{} must be a tile", v.0)),
        }
    }

    pub fn buffer(&self, v: Value) -> Result<BufVal> {
        match self.get(v)? {
            Val::Buf(b) => Ok(b.clone()),
            _ => invalid(format!("%{} must be a buffer", v.0)),
        }
    }

    /// A 128-bit constant of vector type `ty`. Inside a map loop it is read from the
    /// kernel's constant table in the frame through the pointer the loop carries, with a
    /// `readonly can_move` load: Cranelift then places each load next to its use and folds
    /// it into the instruction as a memory operand where x86 allows one, instead of
    /// hoisting every constant out of the loop into registers (a `gelu_tanh` map has more
    /// constants than there are registers, and the spilled ones were reloaded and stored
    /// back every iteration). The pointer is a loop-carried value, so the loads are not
    /// loop-invariant to the e-graph. Elsewhere it is a `vconst`. A map whose constants are
    /// few turns its loads back into `vconst`s once its loops are built, which Cranelift
    /// hoists into registers ([`Lowerer::consts_to_registers`]).
    pub fn vconst(&mut self, ty: ClType, bytes: [u8; 16]) -> Result<ClValue> {
        let Some(base) = self.const_base else {
            let h = self
                .b
                .func
                .dfg
                .constants
                .insert(cranelift_codegen::ir::ConstantData::from(bytes.to_vec()));
            return Ok(self.b.ins().vconst(ty, h));
        };
        let key = u128::from_le_bytes(bytes);
        let off = match self.consts.get(&key) {
            Some(&o) => o,
            None => {
                let slot = self.frame.alloc(DType::I32, &[4])?;
                self.consts.insert(key, slot.offset);
                slot.offset
            }
        };
        let flags = frame_flags().with_readonly().with_can_move();
        let v = self.b.ins().load(ty, flags, base, off as i32);
        if let cranelift_codegen::ir::ValueDef::Result(inst, _) = self.b.func.dfg.value_def(v) {
            self.const_loads.push((inst, ty, key));
        }
        Ok(v)
    }

    /// Turns the table loads recorded since `from` (one map's loops) into `vconst`s when
    /// the map has at most `budget` distinct constants: Cranelift then hoists them out of
    /// the loops and they stay in registers (a `gelu_tanh` map's eleven constants and its
    /// running sum fit in the sixteen `xmm` registers with the values it computes). Maps
    /// with more keep their loads, placed next to each use.
    pub fn consts_to_registers(&mut self, from: usize, budget: usize) {
        let loads: Vec<_> = self.const_loads.drain(from..).collect();
        let distinct: BTreeSet<u128> = loads.iter().map(|(_, _, k)| *k).collect();
        if distinct.len() > budget {
            return;
        }
        for (inst, ty, key) in loads {
            let data = cranelift_codegen::ir::ConstantData::from(key.to_le_bytes().to_vec());
            let h = self.b.func.dfg.constants.insert(data);
            self.b.func.replace(inst).vconst(ty, h);
        }
    }

    /// Stores the constant table at the end of the entry block (before its branch into
    /// the grid loop), once per call.
    fn store_consts(&mut self, entry: cranelift_codegen::ir::Block) -> Result<()> {
        use cranelift_codegen::cursor::{Cursor, FuncCursor};
        if self.consts.is_empty() {
            return Ok(());
        }
        let Some(term) = self.b.func.layout.last_inst(entry) else {
            return invalid("internal error: the entry block is empty");
        };
        let fp = self.frame_ptr;
        let consts: Vec<(u128, u32)> = self.consts.iter().map(|(k, v)| (*k, *v)).collect();
        let mut pos = FuncCursor::new(self.b.func).at_inst(term);
        for (bits, off) in consts {
            let data = cranelift_codegen::ir::ConstantData::from(bits.to_le_bytes().to_vec());
            let h = pos.func.dfg.constants.insert(data);
            let v = pos.ins().vconst(types::I32X4, h);
            pos.ins().store(frame_flags(), v, fp, off as i32);
        }
        Ok(())
    }

    /// For a broadcast of one `f32` or `i32` element: that element's slot.
    pub fn splat_source(&self, v: Value) -> Option<TileSlot> {
        self.splats.get(&v).cloned()
    }

    /// A fresh slot for the single tile result of `op`.
    pub fn result_slot(&mut self, op: &Operation) -> Result<TileSlot> {
        let r = single_result(op)?;
        match self.ty(r)?.clone() {
            Type::Tile(t) => self.frame.alloc_tile(&t),
            other => invalid(format!(
                "the result of {} must be a tile, found `{other}`",
                op.op.full_name()
            )),
        }
    }

    /// Lowers a block; returns the operands of its `tile.yield`, if it ends with one.
    ///
    /// Loads and stores of contiguous runs ([`memory::Access::contiguous`]) skip the
    /// frame where that is safe (decided by [`in_place`] on the block alone): a load whose
    /// every use is a `tile.map` or `tile.reduce` of this block with no `tile.store` or
    /// `tile.for` before its last use becomes a [`View`], and a `tile.map` whose result is
    /// used only by the `tile.store` right after it writes the buffer itself.
    pub fn block(&mut self, ops: &[Operation]) -> Result<Option<Vec<Value>>> {
        let plan = in_place(ops, |v| self.ty(v).ok().cloned())?;
        let mut skip = false;
        // Reductions already computed by the map of their operand.
        let mut done = BTreeSet::new();
        for (i, op) in ops.iter().enumerate() {
            if std::mem::take(&mut skip) || done.contains(&i) {
                continue;
            }
            if op.op == Op::Tile(TileOp::Yield) {
                if i + 1 != ops.len() {
                    return invalid("tile.yield must be the last operation of its region");
                }
                return Ok(Some(op.operands.clone()));
            }
            if plan.views.contains(&i) {
                self.load_view(op)?;
            } else if self.defer_rhs(ops, i)? {
                self.load_deferred(op)?;
            } else if self.defer_widened_rhs(ops, i)? {
                self.load_deferred_widened(op, &ops[i + 1])?;
                skip = true;
            } else if let Some((rs, write)) = plan.folds.get(&i) {
                let reduces: Vec<&Operation> = rs.iter().map(|&j| &ops[j]).collect();
                let store = plan.stores.contains(&i).then(|| &ops[i + 1]);
                self.map_into(op, store, &reduces, *write)?;
                skip = store.is_some();
                done.extend(rs.iter().copied());
            } else if plan.stores.contains(&i) {
                self.map_into(op, Some(&ops[i + 1]), &[], true)?;
                skip = true;
            } else {
                self.op(op)?;
            }
        }
        Ok(None)
    }

    fn op(&mut self, op: &Operation) -> Result<()> {
        match op.op {
            Op::Graph(_) => self.scalar_graph_op(op),
            Op::Tile(t) => match t {
                TileOp::ProgramId => {
                    let axis = op.attrs.int("axis").unwrap_or(-1);
                    let p = usize::try_from(axis)
                        .ok()
                        .and_then(|a| self.pid.get(a).copied());
                    match p {
                        Some(p) => self.set(single_result(op)?, Val::Index(p)),
                        None => invalid(format!(
                            "tile.program_id: axis {axis} is not an axis of the {}-D grid",
                            self.pid.len()
                        )),
                    }
                }
                TileOp::For => self.for_op(op),
                TileOp::Load => self.load(op),
                TileOp::Store => self.store(op),
                TileOp::Prefetch => self.prefetch(op),
                TileOp::Zeros | TileOp::Splat => self.splat(op),
                TileOp::Map => self.map(op),
                TileOp::Reduce if op.attrs.str("kind") == Some("argmax") => self.argmax(op),
                TileOp::Reduce => self.reduce(op),
                TileOp::Dot => self.dot(op),
                TileOp::Broadcast => self.broadcast(op),
                TileOp::Index => self.index_op(op),
                TileOp::Affine => self.affine(op),
                TileOp::Iota => self.iota(op),
                TileOp::Cast => self.cast(op),
                TileOp::Yield => invalid("tile.yield must end a tile.for or tile.map region"),
            },
        }
    }

    /// `tile.for`: iteration values live in their own slots, copied in before the loop and
    /// from the yielded values at the end of each iteration.
    fn for_op(&mut self, op: &Operation) -> Result<()> {
        let bounds = sizes_attr(op.attrs.get("bounds"), "bounds")?;
        let [lo, hi] = match bounds.as_slice() {
            [lo, hi] => [self.table.index(lo)?, self.table.index(hi)?],
            _ => return invalid("tile.for: `bounds` must be `sizes[lower, upper]`"),
        };
        let (lo, hi) = (self.sizes[lo], self.sizes[hi]);
        let region = match op.regions.as_slice() {
            [r] => r,
            _ => return invalid("tile.for takes exactly one region"),
        };
        let Some((&k, iter_args)) = region.args.split_first() else {
            return invalid("tile.for: the region must take the loop index");
        };
        if iter_args.len() != op.operands.len() || op.results.len() != op.operands.len() {
            return invalid("tile.for: initial values, iteration arguments and results must agree");
        }
        let mut slots = Vec::new();
        for (&a, &init) in iter_args.iter().zip(&op.operands) {
            let src = match self.get(init)? {
                Val::Tile(t) => t.clone(),
                _ => {
                    return unsupported(format!(
                        "tile.for carrying `{}` values (only tiles)",
                        self.ty(a)?
                    ))
                }
            };
            let slot = self.frame.alloc(src.dtype, &src.shape)?;
            self.copy_slot(&slot, &src)?;
            self.carried.insert(slot.offset);
            self.set(a, Val::Tile(slot.clone()))?;
            slots.push(slot);
        }
        self.for_loop(lo, hi, 1, |l, i| {
            l.set(k, Val::Index(i))?;
            let Some(yielded) = l.block(&region.ops)? else {
                return invalid("tile.for: the region must end with tile.yield");
            };
            if yielded.len() != slots.len() {
                return invalid("tile.for: the region yields the wrong number of values");
            }
            let srcs = yielded
                .iter()
                .map(|v| l.tile(*v))
                .collect::<Result<Vec<_>>>()?;
            // A yielded value that is another iteration argument's slot would be clobbered
            // by a direct copy: go through temporaries then.
            let crossed = srcs
                .iter()
                .enumerate()
                .any(|(i, s)| slots.iter().enumerate().any(|(j, d)| i != j && d == s));
            if crossed {
                let mut tmps = Vec::new();
                for s in &srcs {
                    let t = l.frame.alloc(s.dtype, &s.shape)?;
                    l.copy_slot(&t, s)?;
                    tmps.push(t);
                }
                for (d, t) in slots.iter().zip(&tmps) {
                    l.copy_slot(d, t)?;
                }
            } else {
                for (d, s) in slots.iter().zip(&srcs) {
                    if d != s {
                        if d.dtype != s.dtype || d.shape != s.shape {
                            return invalid("tile.for: a yielded tile's type differs from its iteration argument");
                        }
                        l.copy_slot(d, s)?;
                    }
                }
            }
            Ok(())
        })?;
        for (r, s) in op.results.iter().zip(slots) {
            self.set(*r, Val::Tile(s))?;
        }
        Ok(())
    }
}

/// Which ops of a block read or write buffers in place (see [`Lowerer::block`]).
struct InPlace {
    /// Indices of the `tile.load`s lowered as views.
    views: Vec<usize>,
    /// Indices of the `tile.map`s that write the buffer of the `tile.store` after them.
    stores: Vec<usize>,
    /// `tile.map`s (by index) whose result is reduced by `tile.reduce`s of the block that
    /// the map computes in its own loop (their indices), and whether the result is
    /// also read otherwise (by the `tile.store` right after the map, the only other use
    /// allowed); when not, the map's tile is never written.
    folds: BTreeMap<usize, (Vec<usize>, bool)>,
}

/// Whether `red` is a `tile.reduce` that the map producing its operand (a one-row `f32`
/// tile of rank `rank`) can compute: `f32` sum, max or min over the last axis.
fn foldable_reduce(red: &Operation, rank: usize) -> bool {
    red.op == Op::Tile(TileOp::Reduce)
        && red.results.len() == 1
        && matches!(red.attrs.str("kind"), Some("sum" | "max" | "min"))
        && red.attrs.int("axis") == Some(rank as i64 - 1)
}

/// Whether `ty` is a one-row `f32` tile (every axis but the last of extent 1).
fn one_f32_row(ty: Option<Type>) -> Option<usize> {
    match ty {
        Some(Type::Tile(t))
            if t.dtype == DType::F32
                && !t.shape.is_empty()
                && t.shape[..t.shape.len() - 1].iter().all(|&d| d == 1)
                && t.shape[t.shape.len() - 1] >= 1 =>
        {
            Some(t.shape.len())
        }
        _ => None,
    }
}

/// Whether the operands of `load` (a `tile.load` of `ty`) make a contiguous run of a
/// 4-byte element type.
fn contiguous_access(op: &Operation, ty: Option<Type>) -> bool {
    let Some(Type::Tile(t)) = ty else {
        return false;
    };
    if !matches!(t.dtype, DType::F32 | DType::I32) {
        return false;
    }
    let shape: Vec<usize> = t
        .shape
        .iter()
        .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
        .collect();
    let r = shape.len();
    match memory::Access::of(&op.attrs, r, "tile") {
        Ok(acc) => acc.contiguous(&shape),
        Err(_) => false,
    }
}

/// Every use of `v` in `ops` (nested regions included), as the index of the top-level
/// op holding it and whether that op uses it directly as an operand.
fn uses_of(v: Value, ops: &[Operation]) -> Vec<(usize, bool)> {
    fn nested(v: Value, op: &Operation) -> bool {
        op.regions.iter().any(|r| {
            r.ops
                .iter()
                .any(|o| o.operands.contains(&v) || nested(v, o))
        })
    }
    let mut out = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        for &o in &op.operands {
            if o == v {
                out.push((i, true));
            }
        }
        if nested(v, op) {
            out.push((i, false));
        }
    }
    out
}

/// Decides which loads become views and which maps write their store's buffer.
fn in_place(ops: &[Operation], ty: impl Fn(Value) -> Option<Type>) -> Result<InPlace> {
    let is = |op: &Operation, t: TileOp| op.op == Op::Tile(t);
    let mut views = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if !is(op, TileOp::Load) || op.results.len() != 1 || op.operands.is_empty() {
            continue;
        }
        if !contiguous_access(op, ty(op.results[0])) {
            continue;
        }
        let uses = uses_of(op.results[0], ops);
        let readers = uses.iter().all(|&(j, direct)| {
            direct
                && j > i
                && (is(&ops[j], TileOp::Map)
                    || (is(&ops[j], TileOp::Reduce) && ops[j].attrs.str("kind") != Some("argmax")))
        });
        let last = uses.iter().map(|u| u.0).max().unwrap_or(i);
        let quiet = ops[i + 1..last.max(i + 1)]
            .iter()
            .all(|o| !is(o, TileOp::Store) && !is(o, TileOp::For));
        if readers && !uses.is_empty() && quiet {
            views.push(i);
        }
    }
    // Maps whose result is reduced (and at most stored right after).
    let mut folds = BTreeMap::new();
    for (i, map) in ops.iter().enumerate() {
        if !is(map, TileOp::Map) || map.results.len() != 1 {
            continue;
        }
        let r = map.results[0];
        let Some(rank) = one_f32_row(ty(r)) else {
            continue;
        };
        let uses = uses_of(r, ops);
        let (reds, others): (Vec<_>, Vec<_>) = uses
            .iter()
            .partition(|&&(j, direct)| direct && j > i && foldable_reduce(&ops[j], rank));
        let stored = |&&(j, direct): &&(usize, bool)| {
            direct
                && j == i + 1
                && is(&ops[j], TileOp::Store)
                && ops[j].operands.first() == Some(&r)
                && ops[j].operands[1..].iter().all(|&o| o != r)
        };
        if !reds.is_empty() && others.len() <= 1 && others.iter().all(stored) {
            let js: Vec<usize> = reds.iter().map(|u| u.0).collect();
            folds.insert(i, (js, !others.is_empty()));
        }
    }
    let mut stores = Vec::new();
    for (i, pair) in ops.windows(2).enumerate() {
        let (map, store) = (&pair[0], &pair[1]);
        if !is(map, TileOp::Map) || !is(store, TileOp::Store) || map.results.len() != 1 {
            continue;
        }
        let r = map.results[0];
        if store.operands.len() < 2 || store.operands[0] != r {
            continue;
        }
        // Reductions the map computes itself do not read its tile.
        let folded = folds.get(&i).map(|f| f.0.clone()).unwrap_or_default();
        let rest: Vec<(usize, bool)> = uses_of(r, &ops[i + 1..])
            .into_iter()
            .filter(|u| !folded.contains(&(u.0 + i + 1)))
            .collect();
        if rest != [(0, true)] || !contiguous_access(store, ty(r)) {
            continue;
        }
        // A view of the same buffer must be the very run the map writes, so that each
        // element is read before it is written and never after.
        let buf = store.operands[1];
        let aliased = map.operands.iter().any(|&o| {
            let Some(j) = ops[..i]
                .iter()
                .position(|l| l.results.first() == Some(&o) && is(l, TileOp::Load))
            else {
                return false;
            };
            let load = &ops[j];
            views.contains(&j)
                && load.operands[0] == buf
                && (load.operands[1..] != store.operands[2..]
                    || ["unit", "strides", "perm"]
                        .iter()
                        .any(|k| load.attrs.get(k) != store.attrs.get(k)))
        });
        if !aliased {
            stores.push(i);
        }
    }
    Ok(InPlace {
        views,
        stores,
        folds,
    })
}

pub(crate) fn single_result(op: &Operation) -> Result<Value> {
    match op.results.as_slice() {
        [r] => Ok(*r),
        rs => invalid(format!(
            "{} must have one result, found {}",
            op.op.full_name(),
            rs.len()
        )),
    }
}
