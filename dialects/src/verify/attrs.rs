//! Attribute checks against a declaration: required present, none undeclared, right kinds.

use crate::attr::{AttrKind, Attrs};
use crate::dialect::{AttrDef, Presence};

/// "an integer", "a size list", ...
pub(crate) fn kind_phrase(k: AttrKind) -> String {
    let n = k.name();
    let article = if n.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {n}")
}

/// Every problem of `attrs` against `decls`, as messages.
pub(super) fn check_attrs(decls: &[AttrDef], attrs: &Attrs) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (name, value)) in attrs.0.iter().enumerate() {
        if attrs.0[..i].iter().any(|(n, _)| n == name) {
            out.push(format!("attribute `{name}` is given twice"));
            continue;
        }
        match decls.iter().find(|d| d.name == name) {
            None => out.push(format!("undeclared attribute `{name}`")),
            Some(d) if !d.kind.accepts(value) => out.push(format!(
                "attribute `{name}` must be {}, found `{value}`",
                kind_phrase(d.kind)
            )),
            Some(_) => {}
        }
    }
    for d in decls {
        if d.presence == Presence::Req && attrs.get(d.name).is_none() {
            out.push(format!("missing required attribute `{}`", d.name));
        }
    }
    out
}
