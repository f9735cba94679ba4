//! `check-widths`: every node's type follows the width and sign rules of its operation.

use super::Pass;
use crate::builder::result_type_of;
use crate::diagnostic::{Code, Diagnostic, HdlError};
use crate::ir::{BinaryOp, Design, Module, NodeKind, Type, UnaryOp};

/// Checks widths and signedness of every node, register, memory port and connection. The
/// builder reports misuse as it happens; this pass guards IR that was built or rewritten by
/// other means (passes, hand-written IR).
pub struct CheckWidths;

impl Pass for CheckWidths {
    fn name(&self) -> &'static str {
        "check-widths"
    }
    fn description(&self) -> &'static str {
        "every node's width and signedness follow the rules of its operation"
    }
    fn run(&self, design: &mut Design) -> Result<(), HdlError> {
        let mut diagnostics = Vec::new();
        for m in &design.modules {
            check_module(design, m, &mut diagnostics);
        }
        HdlError::check(diagnostics)
    }
}

fn check_module(design: &Design, m: &Module, out: &mut Vec<Diagnostic>) {
    let ty = |id: crate::ir::NodeId| m.node(id).ty;
    let mut bad = |loc, code, message: String| {
        out.push(Diagnostic {
            code,
            message,
            module: m.name.clone(),
            loc,
        });
    };
    for (i, n) in m.nodes.iter().enumerate() {
        let name = crate::builder::describe_node(m, crate::ir::NodeId(i as u32));
        let expected: Option<Type> = match &n.kind {
            NodeKind::Input(p) => Some(m.ports[*p as usize].ty),
            NodeKind::Clock(_) => Some(Type::BOOL),
            NodeKind::Const(b) => Some(n.ty.with_width(b.width())),
            NodeKind::Wire { driver, .. } => driver.map(ty),
            NodeKind::RegQ(r) => Some(m.regs[r.0 as usize].ty),
            NodeKind::MemRead(mem, _) => Some(m.mems[mem.0 as usize].ty),
            NodeKind::InstOut(inst, p) => {
                let child = design.module(m.instances[inst.0 as usize].module);
                Some(child.ports[*p as usize].ty)
            }
            NodeKind::Unary(op, a) => Some(match op {
                UnaryOp::Not => ty(*a),
                UnaryOp::Neg => ty(*a).with_width(ty(*a).width + 1),
                _ => Type::BOOL,
            }),
            NodeKind::Binary(op, a, b) => {
                let (ta, tb) = (ty(*a), ty(*b));
                let shift = matches!(op, BinaryOp::Shl | BinaryOp::Shr);
                if ta.signed != tb.signed && !shift {
                    bad(
                        n.loc,
                        Code::SignMismatch,
                        format!("{name} mixes {ta} and {tb}"),
                    );
                }
                if matches!(op, BinaryOp::And | BinaryOp::Or | BinaryOp::Xor)
                    && ta.width != tb.width
                {
                    bad(
                        n.loc,
                        Code::WidthMismatch,
                        format!("{name} has operands of {ta} and {tb}"),
                    );
                }
                Some(result_type_of(*op, ta, tb))
            }
            NodeKind::Mux(s, a, b) => {
                if ty(*s).width != 1 || ty(*a) != ty(*b) {
                    bad(
                        n.loc,
                        Code::WidthMismatch,
                        format!(
                            "{name} selects by {} between {} and {}",
                            ty(*s),
                            ty(*a),
                            ty(*b)
                        ),
                    );
                }
                Some(ty(*a))
            }
            NodeKind::Slice(a, lo) => {
                if lo + n.ty.width > ty(*a).width {
                    bad(
                        n.loc,
                        Code::BadParameter,
                        format!("{name} reads past the top of a {}", ty(*a)),
                    );
                }
                Some(Type::unsigned(n.ty.width))
            }
            NodeKind::Concat(parts) => {
                Some(Type::unsigned(parts.iter().map(|p| ty(*p).width).sum()))
            }
            NodeKind::Resize(a) => Some(ty(*a).with_width(n.ty.width)),
            NodeKind::Cast(a) => Some(Type {
                width: ty(*a).width,
                signed: n.ty.signed,
            }),
        };
        if n.ty.width == 0 {
            bad(n.loc, Code::BadParameter, format!("{name} has width 0"));
        }
        if let Some(e) = expected {
            if e != n.ty {
                bad(
                    n.loc,
                    Code::WidthMismatch,
                    format!("{name} is {} but its operation gives {e}", n.ty),
                );
            }
        }
    }
    for r in &m.regs {
        for (what, id, want) in [
            ("next value", r.next, r.ty),
            ("enable", r.enable, Type::BOOL),
        ] {
            if let Some(id) = id {
                if ty(id) != want {
                    bad(
                        r.loc,
                        Code::WidthMismatch,
                        format!(
                            "the {what} of register `{}` is {} but must be {want}",
                            r.name,
                            ty(id)
                        ),
                    );
                }
            }
        }
    }
    for mem in &m.mems {
        for w in &mem.write_ports {
            if ty(w.data) != mem.ty || ty(w.enable) != Type::BOOL {
                bad(
                    mem.loc,
                    Code::WidthMismatch,
                    format!(
                        "a write port of memory `{}` has data {} and enable {}",
                        mem.name,
                        ty(w.data),
                        ty(w.enable)
                    ),
                );
            }
        }
    }
    for inst in &m.instances {
        let child = design.module(inst.module);
        for (port, conn) in child.ports.iter().zip(&inst.connections) {
            if let Some(c) = conn {
                if ty(*c) != port.ty {
                    bad(
                        inst.loc,
                        Code::WidthMismatch,
                        format!(
                            "port `{}` of `{}` is {} but is driven by {}",
                            port.name,
                            inst.name,
                            port.ty,
                            ty(*c)
                        ),
                    );
                }
            }
        }
    }
}
