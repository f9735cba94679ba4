//! `const-fold`: operations whose operands are all constant become constants, a mux with a
//! constant select becomes the side it selects, and adding zero becomes an extension.

use super::Pass;
use crate::bits::Bits;
use crate::diagnostic::HdlError;
use crate::eval;
use crate::ir::{BinaryOp, Design, Module, NodeId, NodeKind};

/// Folds constant expressions.
pub struct ConstFold;

impl Pass for ConstFold {
    fn name(&self) -> &'static str {
        "const-fold"
    }
    fn description(&self) -> &'static str {
        "replace operations on constants by their value and constant-select muxes by a side"
    }
    fn run(&self, design: &mut Design) -> Result<(), HdlError> {
        design.modules.iter_mut().for_each(fold_module);
        Ok(())
    }
}

fn fold_module(m: &mut Module) {
    let order = m.topological_order();
    // Nodes replaced by another node: uses are redirected at the end.
    let mut alias: Vec<NodeId> = (0..m.nodes.len() as u32).map(NodeId).collect();
    for id in order {
        let resolve = |n: NodeId| alias[n.0 as usize];
        let mut kind = m.node(id).kind.clone();
        kind.map_operands(resolve);
        let ty = m.node(id).ty;
        let konst = |n: NodeId| match &m.node(n).kind {
            NodeKind::Const(b) => Some(b.clone()),
            _ => None,
        };
        let tyof = |n: NodeId| m.node(n).ty;
        let folded: Option<Bits> = match &kind {
            NodeKind::Unary(op, a) => konst(*a).map(|a_| eval::unary(*op, tyof(*a), &a_, ty)),
            NodeKind::Binary(op, a, b) => match (konst(*a), konst(*b)) {
                (Some(x), Some(y)) => Some(eval::binary(*op, tyof(*a), &x, tyof(*b), &y, ty)),
                (Some(z), _) | (_, Some(z))
                    if z.is_zero() && matches!(op, BinaryOp::Mul | BinaryOp::And) =>
                {
                    Some(Bits::zero(ty.width))
                }
                (Some(z), None) if z.is_zero() && *op == BinaryOp::Add => {
                    m.nodes[id.0 as usize].kind = NodeKind::Resize(*b);
                    continue;
                }
                (None, Some(z)) if z.is_zero() && matches!(op, BinaryOp::Add | BinaryOp::Sub) => {
                    m.nodes[id.0 as usize].kind = NodeKind::Resize(*a);
                    continue;
                }
                _ => None,
            },
            NodeKind::Slice(a, lo) => konst(*a).map(|a| eval::slice(&a, *lo, ty.width)),
            NodeKind::Resize(a) => konst(*a).map(|v| v.resize(ty.width, tyof(*a).signed)),
            NodeKind::Cast(a) => konst(*a),
            NodeKind::Concat(parts) => {
                let values: Option<Vec<Bits>> = parts.iter().map(|p| konst(*p)).collect();
                values.map(|v| eval::concat(&v.iter().collect::<Vec<_>>()))
            }
            NodeKind::Mux(s, a, b) => {
                if let Some(sel) = konst(*s) {
                    alias[id.0 as usize] = if sel.is_zero() { *b } else { *a };
                    continue;
                }
                None
            }
            _ => None,
        };
        let node = &mut m.nodes[id.0 as usize];
        node.kind = match folded {
            Some(v) => NodeKind::Const(v),
            None => kind,
        };
    }
    m.map_node_refs(|n| alias[n.0 as usize]);
}
