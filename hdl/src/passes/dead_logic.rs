//! `dead-logic`: removes nodes, registers and memories that no output, instance, check or
//! live state element depends on.

use super::Pass;
use crate::diagnostic::HdlError;
use crate::ir::{Design, MemId, Module, NodeId, NodeKind, RegId};

/// Removes logic that cannot affect any output.
pub struct DeadLogic;

impl Pass for DeadLogic {
    fn name(&self) -> &'static str {
        "dead-logic"
    }
    fn description(&self) -> &'static str {
        "remove nodes, registers and memories that cannot affect an output"
    }
    fn run(&self, design: &mut Design) -> Result<(), HdlError> {
        design.modules.iter_mut().for_each(sweep_module);
        Ok(())
    }
}

pub(super) fn sweep_module(m: &mut Module) {
    let mut live = vec![false; m.nodes.len()];
    let mut live_reg = vec![false; m.regs.len()];
    let mut live_mem = vec![false; m.mems.len()];
    let mut work: Vec<NodeId> = m.ports.iter().map(|p| p.node).collect();
    work.extend(
        m.instances
            .iter()
            .flat_map(|i| i.connections.iter().flatten().copied()),
    );
    work.extend(m.checks.iter().map(|c| c.cond));
    work.extend(m.domain_drivers());
    while let Some(id) = work.pop() {
        if std::mem::replace(&mut live[id.0 as usize], true) {
            continue;
        }
        let kind = &m.node(id).kind;
        work.extend(kind.operands());
        match *kind {
            NodeKind::RegQ(r) if !std::mem::replace(&mut live_reg[r.0 as usize], true) => {
                let reg = &m.regs[r.0 as usize];
                work.extend(reg.next.iter().chain(&reg.enable));
            }
            NodeKind::MemRead(mem, _)
                if !std::mem::replace(&mut live_mem[mem.0 as usize], true) =>
            {
                let mem = &m.mems[mem.0 as usize];
                for p in &mem.read_ports {
                    work.push(p.addr);
                    work.extend(p.enable);
                }
                for p in &mem.write_ports {
                    work.extend([p.addr, p.data, p.enable]);
                }
            }
            _ => {}
        }
    }
    // Memory read nodes of a live memory stay, so its read ports keep their numbering.
    for (i, n) in m.nodes.iter().enumerate() {
        if let NodeKind::MemRead(mem, _) = n.kind {
            live[i] |= live_mem[mem.0 as usize];
        }
    }
    compact(m, &live, &live_reg, &live_mem);
}

/// Keeps the nodes, registers and memories marked live and renumbers every reference.
fn compact(m: &mut Module, live: &[bool], live_reg: &[bool], live_mem: &[bool]) {
    let renumber = |keep: &[bool]| -> Vec<u32> {
        let mut next = 0;
        keep.iter()
            .map(|&k| {
                let n = next;
                next += u32::from(k);
                n
            })
            .collect()
    };
    let (node_ix, reg_ix, mem_ix) = (renumber(live), renumber(live_reg), renumber(live_mem));
    let mut i = 0;
    m.nodes.retain(|_| {
        i += 1;
        live[i - 1]
    });
    let mut i = 0;
    m.regs.retain(|_| {
        i += 1;
        live_reg[i - 1]
    });
    let mut i = 0;
    m.mems.retain(|_| {
        i += 1;
        live_mem[i - 1]
    });
    for n in &mut m.nodes {
        match &mut n.kind {
            NodeKind::RegQ(r) => *r = RegId(reg_ix[r.0 as usize]),
            NodeKind::MemRead(mem, _) => *mem = MemId(mem_ix[mem.0 as usize]),
            _ => {}
        }
    }
    m.map_node_refs(|n| NodeId(node_ix[n.0 as usize]));
}
