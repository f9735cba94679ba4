//! `check-comb-loops`: no value depends on itself without a register or memory in between,
//! including loops that pass through instances.

use super::Pass;
use crate::builder::describe_node;
use crate::diagnostic::{Code, Diagnostic, HdlError};
use crate::ir::{Design, Direction, Module, NodeId, NodeKind};

/// Finds combinational loops and reports the signals on each.
pub struct CheckCombLoops;

impl Pass for CheckCombLoops {
    fn name(&self) -> &'static str {
        "check-comb-loops"
    }
    fn description(&self) -> &'static str {
        "no combinational loops, within a module or through its instances"
    }
    fn run(&self, design: &mut Design) -> Result<(), HdlError> {
        let mut diagnostics = Vec::new();
        let paths = comb_inputs_of_outputs(design);
        for m in &design.modules {
            if let Some(mut cycle) = find_cycle(m, &paths) {
                let start = first_named(m, &cycle);
                let at = cycle
                    .iter()
                    .position(|n| *n == start)
                    .expect("start is on the loop");
                cycle.rotate_left(at);
                let names: Vec<String> = cycle.iter().map(|id| describe_node(m, *id)).collect();
                let mut shown: Vec<&str> = names
                    .iter()
                    .filter(|n| !n.contains(" created at "))
                    .map(|s| s.as_str())
                    .collect();
                if shown.is_empty() {
                    shown = names.iter().map(|s| s.as_str()).collect();
                }
                shown.push(shown[0]);
                let list = shown;
                diagnostics.push(Diagnostic {
                    code: Code::CombLoop,
                    message: format!(
                        "combinational loop through {}; break it with a register",
                        list.join(" -> ")
                    ),
                    module: m.name.clone(),
                    loc: m.node(start).loc,
                });
            }
        }
        HdlError::check(diagnostics)
    }
}

/// The earliest-created named wire on the loop (where the user declared it), or else the
/// earliest node.
fn first_named(m: &Module, cycle: &[NodeId]) -> NodeId {
    let named = cycle
        .iter()
        .filter(|id| matches!(m.node(**id).kind, NodeKind::Wire { .. }))
        .min();
    *named.or(cycle.iter().min()).expect("a loop has nodes")
}

/// For each module, for each of its ports: the indices of the input ports that the port
/// depends on combinationally (empty for inputs). Used to see through instances.
pub fn comb_inputs_of_outputs(design: &Design) -> Vec<Vec<Vec<u32>>> {
    let mut result: Vec<Vec<Vec<u32>>> = Vec::with_capacity(design.modules.len());
    for m in &design.modules {
        let mut per_port = Vec::with_capacity(m.ports.len());
        for p in &m.ports {
            let mut inputs = Vec::new();
            if p.dir == Direction::Output {
                let mut seen = vec![false; m.nodes.len()];
                let mut stack = vec![p.node];
                while let Some(id) = stack.pop() {
                    if std::mem::replace(&mut seen[id.0 as usize], true) {
                        continue;
                    }
                    if let NodeKind::Input(i) = m.node(id).kind {
                        inputs.push(i);
                    }
                    stack.extend(comb_operands(m, &result, id));
                }
                inputs.sort_unstable();
            }
            per_port.push(inputs);
        }
        result.push(per_port);
    }
    result
}

/// The nodes `id` reads combinationally, looking through instances with `paths`.
pub(crate) fn comb_operands(m: &Module, paths: &[Vec<Vec<u32>>], id: NodeId) -> Vec<NodeId> {
    match &m.node(id).kind {
        NodeKind::InstOut(inst, port) => {
            let inst = &m.instances[inst.0 as usize];
            paths[inst.module.0 as usize][*port as usize]
                .iter()
                .filter_map(|i| inst.connections[*i as usize])
                .collect()
        }
        kind => kind.operands(),
    }
}

/// A cycle in the combinational graph of `m`, as the nodes along it, if there is one.
fn find_cycle(m: &Module, paths: &[Vec<Vec<u32>>]) -> Option<Vec<NodeId>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; m.nodes.len()];
    for start in 0..m.nodes.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // Iterative depth-first search; `path` holds the open nodes in order.
        let mut path: Vec<(NodeId, Vec<NodeId>)> = Vec::new();
        let root = NodeId(start as u32);
        mark[start] = Mark::Open;
        path.push((root, comb_operands(m, paths, root)));
        while let Some((node, pending)) = path.last_mut() {
            let node = *node;
            match pending.pop() {
                Some(next) => match mark[next.0 as usize] {
                    Mark::New => {
                        mark[next.0 as usize] = Mark::Open;
                        let ops = comb_operands(m, paths, next);
                        path.push((next, ops));
                    }
                    Mark::Open => {
                        let from = path
                            .iter()
                            .position(|(n, _)| *n == next)
                            .expect("open nodes are on the path");
                        let mut cycle: Vec<NodeId> = path[from..].iter().map(|(n, _)| *n).collect();
                        cycle.reverse();
                        return Some(cycle);
                    }
                    Mark::Done => {}
                },
                None => {
                    mark[node.0 as usize] = Mark::Done;
                    path.pop();
                }
            }
        }
    }
    None
}
