//! The op reference (`docs/ops.md`), generated from the dialect declarations.

use crate::dialect::{AttrDef, OpDef, Operands, Presence, Results};
use crate::graph::GraphOp;
use crate::tile::{TileOp, KERNEL_ATTRS};
use std::fmt::Write;

/// The whole reference, in declaration order: the `graph` dialect, then `tile`.
pub fn op_reference_markdown() -> String {
    let mut out = String::new();
    out.push_str("# Operation reference\n\n");
    out.push_str(
        "Generated from the dialect declarations (`dialects/src/graph/ops.rs`, `dialects/src/tile.rs`) \
         by `tessera_dialects::opdoc::op_reference_markdown`; do not edit by hand. \
         Regenerate with `TESSERA_BLESS=1 cargo test -p tessera-dialects --test opdoc`. \
         The text form is described in `docs/ir.md`.\n\n",
    );
    out.push_str("## Dialect `graph`\n\n");
    out.push_str(
        "Tensor operations with value semantics and symbolic shapes, in `graph.func` bodies. \
         Result types follow from operand types and attributes (`graph::infer`).\n\n",
    );
    for op in GraphOp::ALL {
        op_section(&mut out, op.def());
    }
    out.push_str("## Dialect `tile`\n\n");
    out.push_str(
        "Kernels over tiles, in `tile.kernel` bodies. A kernel's parameters are buffers; it has no \
         results and writes with `tile.store`. Each grid point runs the body once. Loads and stores \
         address buffers in tile coordinates and are masked at the buffer's edges.\n\n",
    );
    out.push_str("### `tile.kernel` attributes\n\n");
    attr_table(&mut out, KERNEL_ATTRS);
    for op in TileOp::ALL {
        op_section(&mut out, op.def());
    }
    out
}

fn op_section(out: &mut String, d: &OpDef) {
    let _ = writeln!(out, "### `{}.{}`\n", d.dialect, d.name);
    let _ = writeln!(out, "{}\n", d.summary);
    let operands = match d.operands {
        Operands::Fixed([]) => "none".to_string(),
        Operands::Fixed(names) => names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", "),
        Operands::Variadic { name, min } => format!("`{name}`, variadic, at least {min}"),
    };
    let results = match d.results {
        Results::Fixed(n) => n.to_string(),
        Results::Variadic => "variadic".to_string(),
    };
    let traits = if d.traits.is_empty() {
        "none".to_string()
    } else {
        d.traits
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "- Operands: {operands}");
    let _ = writeln!(out, "- Results: {results}");
    let _ = writeln!(out, "- Traits: {traits}\n");
    if !d.attrs.is_empty() {
        attr_table(out, d.attrs);
    }
    let _ = writeln!(out, "```\n{}\n```\n", d.example);
}

fn attr_table(out: &mut String, attrs: &[AttrDef]) {
    out.push_str("| attribute | kind | presence | meaning |\n| --- | --- | --- | --- |\n");
    for a in attrs {
        let presence = match a.presence {
            Presence::Req => "required",
            Presence::Opt => "optional",
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            a.name,
            a.kind.name(),
            presence,
            a.doc.replace('|', "\\|")
        );
    }
    out.push('\n');
}
