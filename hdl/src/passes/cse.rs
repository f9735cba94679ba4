//! `cse`: identical operations on identical operands are computed once.

use std::collections::HashMap;

use super::Pass;
use crate::diagnostic::HdlError;
use crate::ir::{Design, Module, NodeId, NodeKind, Type};

/// Merges duplicate operations (common-subexpression elimination).
pub struct Cse;

impl Pass for Cse {
    fn name(&self) -> &'static str {
        "cse"
    }
    fn description(&self) -> &'static str {
        "compute identical operations on identical operands once"
    }
    fn run(&self, design: &mut Design) -> Result<(), HdlError> {
        design.modules.iter_mut().for_each(merge_module);
        Ok(())
    }
}

fn merge_module(m: &mut Module) {
    let mut alias: Vec<NodeId> = (0..m.nodes.len() as u32).map(NodeId).collect();
    let mut seen: HashMap<(NodeKind, Type), NodeId> = HashMap::new();
    for id in m.topological_order() {
        let node = &mut m.nodes[id.0 as usize];
        node.kind.map_operands(|n| alias[n.0 as usize]);
        // Only pure operations merge: named nets, state and ports keep their identity.
        let pure = matches!(
            node.kind,
            NodeKind::Const(_)
                | NodeKind::Unary(..)
                | NodeKind::Binary(..)
                | NodeKind::Mux(..)
                | NodeKind::Slice(..)
                | NodeKind::Concat(_)
                | NodeKind::Resize(_)
                | NodeKind::Cast(_)
        );
        if !pure {
            continue;
        }
        match seen.entry((node.kind.clone(), node.ty)) {
            std::collections::hash_map::Entry::Occupied(first) => {
                alias[id.0 as usize] = *first.get()
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(id);
            }
        }
    }
    m.map_node_refs(|n| alias[n.0 as usize]);
}
