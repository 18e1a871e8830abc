//! Operation declarations: the one place an operation is described.
//!
//! Each dialect lists its operations once with [`declare_dialect!`]. From that list come
//! the operation enum, name lookup, the generic verifier's arity and attribute checks,
//! the text syntax and the generated op reference (`docs/ops.md`).

use crate::attr::AttrKind;

/// How many operands an operation takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operands {
    /// Exactly these, by name.
    Fixed(&'static [&'static str]),
    /// Any number, at least `min`.
    Variadic { name: &'static str, min: usize },
}

/// How many results an operation has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Results {
    Fixed(usize),
    Variadic,
}

/// Whether an attribute must be present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    Req,
    Opt,
}

/// A declared attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttrDef {
    pub name: &'static str,
    pub kind: AttrKind,
    pub presence: Presence,
    pub doc: &'static str,
}

/// Properties that passes and back ends rely on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trait {
    /// No side effects: an unused result can be removed.
    Pure,
    /// Applies a scalar function element by element.
    Elementwise,
    /// Operands broadcast against each other (NumPy rules).
    Broadcast,
    /// Reduces over `axes`.
    Reduction,
    /// Only moves or reinterprets data.
    Shape,
    /// Ends a region.
    Terminator,
    /// Has regions of its own.
    HasRegions,
}

impl Trait {
    pub fn name(self) -> &'static str {
        match self {
            Trait::Pure => "Pure",
            Trait::Elementwise => "Elementwise",
            Trait::Broadcast => "Broadcast",
            Trait::Reduction => "Reduction",
            Trait::Shape => "Shape",
            Trait::Terminator => "Terminator",
            Trait::HasRegions => "HasRegions",
        }
    }
}

/// The declaration of one operation.
#[derive(Debug)]
pub struct OpDef {
    pub dialect: &'static str,
    pub name: &'static str,
    pub operands: Operands,
    pub results: Results,
    pub attrs: &'static [AttrDef],
    pub traits: &'static [Trait],
    pub summary: &'static str,
    pub example: &'static str,
}

impl OpDef {
    pub fn has_trait(&self, t: Trait) -> bool {
        self.traits.contains(&t)
    }

    pub fn attr(&self, name: &str) -> Option<&'static AttrDef> {
        self.attrs.iter().find(|a| a.name == name)
    }
}

/// Declares a dialect's operations: an enum with `def()`, `name()`, `from_name()` and `ALL`.
///
/// ```text
/// declare_dialect! {
///     dialect "graph", enum GraphOp;
///     Add = "add" {
///         operands: Operands::Fixed(&["lhs", "rhs"]), results: Results::Fixed(1),
///         attrs: [], traits: [Pure, Elementwise, Broadcast],
///         summary: "elementwise sum", example: "%2 = graph.add %0, %1 : (f32[4], f32[4]) -> f32[4]",
///     },
/// }
/// ```
#[macro_export]
macro_rules! declare_dialect {
    (
        dialect $dname:literal, enum $Enum:ident;
        $(
            $Var:ident = $opname:literal {
                operands: $operands:expr,
                results: $results:expr,
                attrs: [ $( ($aname:literal, $akind:ident, $apres:ident, $adoc:literal) ),* $(,)? ],
                traits: [ $( $tr:ident ),* $(,)? ],
                summary: $summary:literal,
                example: $example:literal $(,)?
            }
        ),* $(,)?
    ) => {
        #[doc = concat!("The operations of the `", $dname, "` dialect.")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $Enum {
            $( #[doc = $summary] $Var ),*
        }

        impl $Enum {
            /// Every operation, in declaration order.
            pub const ALL: &'static [$Enum] = &[ $( $Enum::$Var ),* ];
            /// The dialect's name.
            pub const DIALECT: &'static str = $dname;

            /// The declaration.
            pub fn def(self) -> &'static $crate::dialect::OpDef {
                match self {
                    $( $Enum::$Var => {
                        static DEF: $crate::dialect::OpDef = $crate::dialect::OpDef {
                            dialect: $dname,
                            name: $opname,
                            operands: $operands,
                            results: $results,
                            attrs: &[ $( $crate::dialect::AttrDef {
                                name: $aname,
                                kind: $crate::attr::AttrKind::$akind,
                                presence: $crate::dialect::Presence::$apres,
                                doc: $adoc,
                            } ),* ],
                            traits: &[ $( $crate::dialect::Trait::$tr ),* ],
                            summary: $summary,
                            example: $example,
                        };
                        &DEF
                    } ),*
                }
            }

            /// The name without the dialect prefix (`add`).
            pub fn name(self) -> &'static str {
                self.def().name
            }

            /// Looks an operation up by its name without the dialect prefix.
            pub fn from_name(s: &str) -> Option<$Enum> {
                Self::ALL.iter().copied().find(|o| o.name() == s)
            }
        }
    };
}
