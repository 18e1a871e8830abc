//! The IR core: SSA values, operations with typed results, ordered attributes and regions,
//! functions and modules. Dialects only add operation declarations on top of this.

use crate::attr::Attrs;
use crate::dialect::OpDef;
use crate::graph::GraphOp;
use crate::tile::TileOp;
use crate::types::{TensorType, Type};

/// A byte range in a source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The smallest span covering both.
    pub fn join(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// Where an operation came from. Locations never take part in IR equality, so that
/// `parse(print(ir)) == ir` holds although the text form does not carry them.
#[derive(Clone, Copy, Debug, Default, Eq)]
pub struct Loc(pub Option<Span>);

impl PartialEq for Loc {
    fn eq(&self, _: &Loc) -> bool {
        true
    }
}

/// An SSA value: an index into its function's value table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Value(pub u32);

impl Value {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What a function knows about one of its values.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueData {
    pub ty: Type,
    /// A name for printing (`%x` for a parameter named `x`); `None` prints as a number.
    pub name: Option<String>,
}

/// An operation of any dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    Graph(GraphOp),
    Tile(TileOp),
}

impl Op {
    pub fn def(self) -> &'static OpDef {
        match self {
            Op::Graph(o) => o.def(),
            Op::Tile(o) => o.def(),
        }
    }

    /// `dialect.name`, as printed.
    pub fn full_name(self) -> String {
        let d = self.def();
        format!("{}.{}", d.dialect, d.name)
    }

    /// Looks up `dialect.name`.
    pub fn from_full_name(s: &str) -> Option<Op> {
        let (dialect, name) = s.split_once('.')?;
        match dialect {
            "graph" => GraphOp::from_name(name).map(Op::Graph),
            "tile" => TileOp::from_name(name).map(Op::Tile),
            _ => None,
        }
    }

    pub fn as_graph(self) -> Option<GraphOp> {
        match self {
            Op::Graph(o) => Some(o),
            Op::Tile(_) => None,
        }
    }
}

/// One operation: `%r = dialect.op %a, %b {attr = v} : (types) -> types`.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    pub op: Op,
    pub operands: Vec<Value>,
    pub results: Vec<Value>,
    pub attrs: Attrs,
    pub regions: Vec<Region>,
    pub loc: Loc,
}

impl Operation {
    pub fn new(op: Op, operands: Vec<Value>, results: Vec<Value>, attrs: Attrs) -> Operation {
        Operation {
            op,
            operands,
            results,
            attrs,
            regions: Vec::new(),
            loc: Loc::default(),
        }
    }

    pub fn at(mut self, span: Option<Span>) -> Operation {
        self.loc = Loc(span);
        self
    }
}

/// A single-block region: arguments and a list of operations.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Region {
    pub args: Vec<Value>,
    pub ops: Vec<Operation>,
}

/// What a function-like item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FuncKind {
    /// `graph.func`: a dataflow graph of tensor operations ending in `graph.return`.
    Graph,
    /// `tile.kernel`: a kernel over tiles.
    Kernel,
}

impl FuncKind {
    pub fn keyword(self) -> &'static str {
        match self {
            FuncKind::Graph => "graph.func",
            FuncKind::Kernel => "tile.kernel",
        }
    }
}

/// A function: parameters, result types, a body, and the table of its values.
#[derive(Clone, Debug, PartialEq)]
pub struct Func {
    pub kind: FuncKind,
    pub name: String,
    pub params: Vec<Value>,
    pub result_types: Vec<Type>,
    pub attrs: Attrs,
    pub body: Region,
    pub values: Vec<ValueData>,
    pub loc: Loc,
}

impl Func {
    pub fn new(kind: FuncKind, name: &str) -> Func {
        Func {
            kind,
            name: name.to_string(),
            params: Vec::new(),
            result_types: Vec::new(),
            attrs: Attrs::new(),
            body: Region::default(),
            values: Vec::new(),
            loc: Loc::default(),
        }
    }

    /// Makes a new value of type `ty`.
    pub fn new_value(&mut self, ty: Type, name: Option<String>) -> Value {
        self.values.push(ValueData { ty, name });
        Value((self.values.len() - 1) as u32)
    }

    /// Adds a parameter.
    pub fn add_param(&mut self, ty: Type, name: Option<String>) -> Value {
        let v = self.new_value(ty, name);
        self.params.push(v);
        self.body.args.push(v);
        v
    }

    pub fn ty(&self, v: Value) -> &Type {
        &self.values[v.index()].ty
    }

    /// The tensor type of `v`; graph functions only hold tensors.
    pub fn tensor_ty(&self, v: Value) -> Option<&TensorType> {
        self.ty(v).as_tensor()
    }

    pub fn param_types(&self) -> Vec<Type> {
        self.params.iter().map(|v| self.ty(*v).clone()).collect()
    }

    /// The terminator's operands: the values returned.
    pub fn returned(&self) -> &[Value] {
        match self.body.ops.last() {
            Some(op) if op.op.def().has_trait(crate::dialect::Trait::Terminator) => &op.operands,
            _ => &[],
        }
    }
}

/// A module: functions and kernels, in order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Module {
    pub funcs: Vec<Func>,
}

impl Module {
    pub fn func(&self, name: &str) -> Option<&Func> {
        self.funcs.iter().find(|f| f.name == name)
    }

    pub fn func_mut(&mut self, name: &str) -> Option<&mut Func> {
        self.funcs.iter_mut().find(|f| f.name == name)
    }
}
