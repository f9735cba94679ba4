//! `check-clocks`: clocks are not data. A clock ([`NodeKind::Clock`]) travels through wires
//! and output ports to a local domain or out of the module, and into a child only as one of
//! its clock domains; no logic, register, memory port or check reads it, and every local
//! domain is clocked by one.

use super::Pass;
use crate::builder::describe_node;
use crate::diagnostic::{Code, Diagnostic, HdlError};
use crate::ir::{Design, Direction, Drive, Module, ModuleId, NodeId, NodeKind};

/// Reports clocks read as data and local domains clocked by something else.
pub struct CheckClocks;

impl Pass for CheckClocks {
    fn name(&self) -> &'static str {
        "check-clocks"
    }
    fn description(&self) -> &'static str {
        "clocks reach only wires, ports and domains, and every local domain has one"
    }
    fn run(&self, design: &mut Design) -> Result<(), HdlError> {
        // Per module (children first): which output ports carry a clock.
        let mut clock_outputs: Vec<Vec<bool>> = Vec::with_capacity(design.modules.len());
        let mut diagnostics = Vec::new();
        for m in &design.modules {
            let carries = carriers(m, &clock_outputs);
            check_module(design, m, &carries, &mut diagnostics);
            clock_outputs.push(
                m.ports
                    .iter()
                    .map(|p| p.dir == Direction::Output && carries[p.node.0 as usize])
                    .collect(),
            );
        }
        HdlError::check(diagnostics)
    }
}

/// Which nodes of `m` carry a clock: clocks, wires driven by one, and outputs of children
/// that carry one.
fn carriers(m: &Module, clock_outputs: &[Vec<bool>]) -> Vec<bool> {
    let mut carries = vec![false; m.nodes.len()];
    for id in m.topological_order() {
        carries[id.0 as usize] = match &m.node(id).kind {
            NodeKind::Clock(_) => true,
            NodeKind::Wire {
                driver: Some(d), ..
            } => carries[d.0 as usize],
            NodeKind::InstOut(inst, p) => {
                let ModuleId(child) = m.instances[inst.0 as usize].module;
                clock_outputs
                    .get(child as usize)
                    .and_then(|c| c.get(*p as usize))
                    .copied()
                    .unwrap_or(false)
            }
            _ => false,
        };
    }
    carries
}

fn check_module(design: &Design, m: &Module, carries: &[bool], out: &mut Vec<Diagnostic>) {
    let name = |id: NodeId| describe_node(m, id);
    let mut bad = |id: NodeId, message: String| {
        out.push(Diagnostic {
            code: Code::ClockAsData,
            message,
            module: m.name.clone(),
            loc: m.node(id).loc,
        })
    };
    for (i, n) in m.nodes.iter().enumerate() {
        if let NodeKind::Clock(d) = n.kind {
            if d.0 as usize >= m.domains.len() {
                bad(
                    NodeId(i as u32),
                    format!("a clock of domain {} of {}", d.0, m.domains.len()),
                );
            }
        }
        if matches!(n.kind, NodeKind::Wire { .. }) {
            continue;
        }
        if let Some(c) = n
            .kind
            .operands()
            .into_iter()
            .find(|c| carries[c.0 as usize])
        {
            bad(
                NodeId(i as u32),
                format!(
                    "the clock `{}` is read as data by `{}`; a clock only reaches wires, ports \
                     and clock domains (sample a signal in the domain instead)",
                    name(c),
                    name(NodeId(i as u32))
                ),
            );
        }
    }
    let state_inputs = m
        .regs
        .iter()
        .flat_map(|r| r.next.into_iter().chain(r.enable))
        .chain(m.mems.iter().flat_map(|mem| {
            mem.read_ports
                .iter()
                .flat_map(|p| std::iter::once(p.addr).chain(p.enable))
                .chain(
                    mem.write_ports
                        .iter()
                        .flat_map(|p| [p.addr, p.data, p.enable]),
                )
        }))
        .chain(m.checks.iter().map(|c| c.cond));
    for id in state_inputs {
        if carries[id.0 as usize] {
            bad(
                id,
                format!(
                    "the clock `{}` is sampled by a register, memory port or check; a clock only \
                     reaches wires, ports and clock domains",
                    name(id)
                ),
            );
        }
    }
    for inst in &m.instances {
        let child = design.module(inst.module);
        for (port, conn) in child.ports.iter().zip(&inst.connections) {
            if let Some(c) = conn.filter(|c| carries[c.0 as usize]) {
                bad(
                    c,
                    format!(
                        "the clock `{}` drives the input `{}` of instance `{}`; a clock enters \
                         a child as one of its clock domains (`clock_input` there, \
                         `Instance::domain` here)",
                        name(c),
                        port.name,
                        inst.name
                    ),
                );
            }
        }
    }
    for (k, d) in m.domains.iter().enumerate() {
        let Drive::Local { clock, reset } = d.drive else {
            continue;
        };
        let id = crate::ir::DomainId(k as u32);
        let named = |n: NodeId, want: Option<String>| match &m.node(n).kind {
            NodeKind::Wire { name, .. } => Some(name.clone()) == want,
            _ => false,
        };
        if !named(clock, Some(m.clock_port(id)))
            || reset.is_some_and(|r| !named(r, m.reset_port(id)))
            || reset.is_some() != m.reset_port(id).is_some()
        {
            bad(
                clock,
                format!(
                    "the local domain `{}` must be driven through the wires `{}`{} (as \
                     `local_domain` makes them)",
                    d.name,
                    m.clock_port(id),
                    m.reset_port(id)
                        .map(|r| format!(" and `{r}`"))
                        .unwrap_or_default()
                ),
            );
            continue;
        }
        if !carries[clock.0 as usize] {
            bad(
                clock,
                format!(
                    "the local domain `{}` is clocked by `{}`, which is not a clock: drive it \
                     from `ModuleBuilder::clock` of another domain, through wires and ports \
                     (a PLL's output)",
                    d.name,
                    name(clock)
                ),
            );
        }
        if let Some(r) = reset.filter(|r| carries[r.0 as usize]) {
            bad(
                r,
                format!("the reset of local domain `{}` is a clock", d.name),
            );
        }
    }
}
