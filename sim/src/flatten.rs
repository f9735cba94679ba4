//! Flattening: the design's hierarchy inlined into one arena of nodes, registers and memories.
//!
//! Instances disappear here: a child's input port becomes an alias of the parent node that
//! drives it, and the parent's [`NodeKind::InstOut`] becomes an alias of the child's output
//! wire. Names survive as hierarchical paths (`u_child.acc`) so the testbench and the
//! waveform writer can still find every signal the user named.

use hardwire_hdl::ir::{
    BinaryOp, CheckKind, Design, DomainId, Drive, MemInit, ModuleId, NodeKind, Reset, ResetKind,
    Type, UnaryOp,
};
use hardwire_hdl::{Bits, Loc};

use crate::clocks::several_clocks;
use crate::error::SimError;

/// Index of a node in [`Flat::nodes`].
pub(crate) type FlatId = u32;

/// What computes a flattened node.
#[derive(Debug, Clone)]
pub(crate) enum FlatKind {
    /// A value set from outside: a top input port or the implicit `rst`.
    Input,
    /// A constant.
    Const(Bits),
    /// The same bits as another node (wires, casts, ports crossing the hierarchy).
    Alias(FlatId),
    /// The current output of a register (the one whose [`FlatReg::q`] this is).
    RegQ,
    /// The data of a memory read port (the one whose [`FlatReadPort::data`] this is).
    MemRead,
    Unary(UnaryOp, FlatId),
    Binary(BinaryOp, FlatId, FlatId),
    Mux(FlatId, FlatId, FlatId),
    Slice(FlatId, u32),
    Concat(Vec<FlatId>),
    Resize(FlatId),
}

/// A flattened node.
#[derive(Debug, Clone)]
pub(crate) struct FlatNode {
    pub kind: FlatKind,
    pub ty: Type,
    /// The instance the node belongs to, numbered in the order they were inlined (0 is the
    /// top): logic of one instance tends to be active or idle together.
    pub inst: u32,
}

/// A register with its inputs as flattened nodes.
#[derive(Debug, Clone)]
pub(crate) struct FlatReg {
    pub name: String,
    pub ty: Type,
    /// The value its domain's reset loads.
    pub reset: Option<Bits>,
    /// The value it powers up with: a reset value in a domain without reset.
    pub init: Option<Bits>,
    pub next: FlatId,
    pub enable: Option<FlatId>,
    /// The node that reads the register's output.
    pub q: FlatId,
    /// Its clock domain, an index into [`Flat::domains`].
    pub domain: u32,
}

/// A read port of a flattened memory.
#[derive(Debug, Clone)]
pub(crate) struct FlatReadPort {
    pub addr: FlatId,
    pub enable: Option<FlatId>,
    /// The node carrying the read data.
    pub data: FlatId,
}

/// A write port of a flattened memory.
#[derive(Debug, Clone)]
pub(crate) struct FlatWritePort {
    pub addr: FlatId,
    pub data: FlatId,
    pub enable: FlatId,
}

/// A memory with its ports as flattened nodes.
#[derive(Debug, Clone)]
pub(crate) struct FlatMem<'d> {
    pub name: String,
    pub ty: Type,
    pub depth: u32,
    /// The design's initial contents, borrowed: a model's ROMs are most of its size.
    pub init: Option<&'d MemInit>,
    pub read_ports: Vec<FlatReadPort>,
    pub write_ports: Vec<FlatWritePort>,
}

/// A check of some instance, with its condition as a flattened node.
#[derive(Debug, Clone)]
pub(crate) struct FlatCheck {
    pub kind: CheckKind,
    /// The hierarchical name (`u_child.in_range`).
    pub name: String,
    pub cond: FlatId,
    pub loc: Loc,
    /// The domain whose edges sample it.
    pub domain: u32,
}

/// A clock domain: one of the top module's, or a local domain of some instance. Every
/// instance's domains resolve to one of these.
#[derive(Debug, Clone)]
pub(crate) struct FlatDomain {
    pub name: String,
    pub reset: Reset,
    /// The reset: an input of the top, or for a local domain the node driving it.
    pub rst: Option<FlatId>,
    /// With several domains: an input the simulator sets on the edges where this domain's
    /// clock rises, which enables its registers and memory ports (for a local domain, an
    /// alias of its root's).
    pub tick: Option<FlatId>,
    /// The top-level domain whose clock edges this one steps on: itself for a top domain
    /// with a clock input, the domain its clock is carried from for a local one.
    pub root: u32,
    /// Driven inside the design, so its reset is computed rather than set from outside.
    pub local: bool,
}

/// A name the user gave, with the instance path it lives under.
#[derive(Debug, Clone)]
pub(crate) struct FlatSignal {
    /// Instance names from the top down (empty for the top module).
    pub scope: Vec<String>,
    /// The name inside its module.
    pub name: String,
    pub node: FlatId,
    /// The names of its values, for a state machine's register (else empty).
    pub labels: Vec<String>,
}

impl FlatSignal {
    /// `u_a.u_b.name`.
    pub fn path(&self) -> String {
        let mut s = String::new();
        for part in &self.scope {
            s.push_str(part);
            s.push('.');
        }
        s.push_str(&self.name);
        s
    }
}

/// The whole design as one module.
#[derive(Debug, Clone, Default)]
pub(crate) struct Flat<'d> {
    pub nodes: Vec<FlatNode>,
    pub regs: Vec<FlatReg>,
    pub mems: Vec<FlatMem<'d>>,
    /// Every instance's checks.
    pub checks: Vec<FlatCheck>,
    /// Top-level inputs (including `rst` when the top is clocked), by name.
    pub inputs: Vec<(String, FlatId)>,
    /// The top module's clock domains in its order (the default one first, with `rst` when
    /// the top is clocked), then the local domains of instances.
    pub domains: Vec<FlatDomain>,
    /// The flattened [`NodeKind::Clock`] nodes (which read 0) and the domain of each.
    clocks: Vec<(FlatId, u32)>,
    /// The node carrying each local domain's clock, by domain.
    local_clocks: std::collections::HashMap<u32, FlatId>,
    /// More than one clock is an input of the top, so domains have ticks.
    several: bool,
    /// Instances inlined so far.
    pub instances: u32,
    /// Every named signal: ports, registers and wires of every instance, in a stable order
    /// (module by module, depth first, each module's ports, then registers, then wires).
    pub signals: Vec<FlatSignal>,
}

/// Inlines every instance of `design`'s top module.
pub(crate) fn flatten(design: &Design) -> Result<Flat<'_>, SimError> {
    if design.modules.get(design.top.0 as usize).is_none() {
        return Err(SimError::BadDesign(format!(
            "the top module id {} is not in the design",
            design.top.0
        )));
    }
    let mut flat = Flat::default();
    let top = design.top_module();
    let mut port_inputs = Vec::new();
    // With one clock running, its domain needs no tick.
    let several = several_clocks(top);
    flat.several = several;
    for (i, d) in top.domains.iter().enumerate() {
        let id = DomainId(i as u32);
        if d.is_local() {
            // Filled in when the top is inlined.
            flat.domains.push(FlatDomain {
                name: d.name.clone(),
                reset: d.reset,
                rst: None,
                tick: None,
                root: u32::MAX,
                local: true,
            });
            continue;
        }
        let rst = match top.reset_port(id) {
            Some(name) if (id != DomainId::SYNC || top.clocked) => {
                let rst = flat.push(FlatKind::Input, Type::BOOL, 0);
                flat.inputs.push((name, rst));
                Some(rst)
            }
            _ => None,
        };
        // Named so it gets a slot like an input; `$` keeps it apart from the design's names.
        let tick = several.then(|| {
            let t = flat.push(FlatKind::Input, Type::BOOL, 0);
            flat.inputs.push((format!("$tick_{}", d.name), t));
            t
        });
        let reset = if d.reset.kind == ResetKind::None || rst.is_none() {
            Reset::NONE
        } else {
            d.reset
        };
        flat.domains.push(FlatDomain {
            name: d.name.clone(),
            reset,
            rst,
            tick,
            root: i as u32,
            local: false,
        });
    }
    for port in &top.ports {
        if port.dir == hardwire_hdl::ir::Direction::Input {
            let id = flat.push(FlatKind::Input, port.ty, 0);
            flat.inputs.push((port.name.clone(), id));
            port_inputs.push(Some(id));
        } else {
            port_inputs.push(None);
        }
    }
    let mut scope = Vec::new();
    let domains: Vec<u32> = (0..top.domains.len() as u32).collect();
    flat.inline(design, design.top, &port_inputs, &domains, &mut scope, 0)?;
    flat.resolve_local_clocks()?;
    Ok(flat)
}

/// Deeper than this, the hierarchy must be recursive (which a checked design never is).
const MAX_DEPTH: usize = 256;

impl<'d> Flat<'d> {
    /// Gives each local domain the root whose edges its clock is carried from (through
    /// wires, ports and models, which are all aliases here, and other local domains).
    fn resolve_local_clocks(&mut self) -> Result<(), SimError> {
        let clock_of: std::collections::HashMap<FlatId, u32> =
            self.clocks.iter().copied().collect();
        let locals: Vec<usize> = (0..self.domains.len())
            .filter(|&i| self.domains[i].local)
            .collect();
        // Each local domain's clock node, followed to the domain it is the clock of.
        let mut source = Vec::new();
        for &i in &locals {
            let mut n = self.local_clocks[&(i as u32)];
            let from = loop {
                match self.nodes[n as usize].kind {
                    FlatKind::Alias(a) => n = a,
                    _ => break clock_of.get(&n).copied(),
                }
            };
            source.push(from.ok_or_else(|| {
                SimError::BadDesign(format!(
                    "the clock of local domain `{}` is not carried from another domain's clock",
                    self.domains[i].name
                ))
            })?);
        }
        // Roots, through chains of local domains (at most as long as there are locals).
        for _ in 0..=locals.len() {
            for (k, &i) in locals.iter().enumerate() {
                let root = self.domains[source[k] as usize].root;
                self.domains[i].root = root;
            }
        }
        for &i in &locals {
            let root = self.domains[i].root;
            if root == u32::MAX {
                return Err(SimError::BadDesign(format!(
                    "local domain `{}` is clocked by a loop of local domains",
                    self.domains[i].name
                )));
            }
            if let (Some(t), Some(rt)) = (self.domains[i].tick, self.domains[root as usize].tick) {
                self.nodes[t as usize].kind = FlatKind::Alias(rt);
            }
        }
        Ok(())
    }

    /// An enable narrowed to the edges of `domain`'s clock, when there are several clocks.
    fn on_tick(&mut self, enable: Option<FlatId>, domain: u32, inst: u32) -> Option<FlatId> {
        match (self.domains[domain as usize].tick, enable) {
            (None, e) => e,
            (Some(t), None) => Some(t),
            (Some(t), Some(e)) => {
                Some(self.push(FlatKind::Binary(BinaryOp::And, e, t), Type::BOOL, inst))
            }
        }
    }

    fn push(&mut self, kind: FlatKind, ty: Type, inst: u32) -> FlatId {
        self.nodes.push(FlatNode { kind, ty, inst });
        (self.nodes.len() - 1) as FlatId
    }

    /// Inlines one instance of `mid`; `port_inputs[i]` is the flat node driving input port
    /// `i`. Returns the flat node of every port (inputs and outputs).
    fn inline(
        &mut self,
        design: &'d Design,
        mid: ModuleId,
        port_inputs: &[Option<FlatId>],
        domains: &[u32],
        scope: &mut Vec<String>,
        depth: usize,
    ) -> Result<Vec<FlatId>, SimError> {
        let module = design.modules.get(mid.0 as usize).ok_or_else(|| {
            SimError::BadDesign(format!("module id {} is not in the design", mid.0))
        })?;
        if depth > MAX_DEPTH {
            return Err(SimError::BadDesign(format!(
                "module `{}` instantiates itself",
                module.name
            )));
        }
        self.instances += 1;
        let inst = self.instances - 1;
        let base = self.nodes.len() as FlatId;
        let n = module.nodes.len() as u32;
        let check = |id: hardwire_hdl::ir::NodeId| -> Result<FlatId, SimError> {
            if id.0 < n {
                Ok(base + id.0)
            } else {
                Err(SimError::BadDesign(format!(
                    "module `{}` refers to node {} of {}",
                    module.name, id.0, n
                )))
            }
        };
        // Reserve the ids first so every reference can be written as base + local id.
        for node in &module.nodes {
            self.nodes.push(FlatNode {
                kind: FlatKind::Input,
                ty: node.ty,
                inst,
            });
        }
        // Local domains become domains of their own (the top's are made already).
        let mut domains = domains.to_vec();
        for (k, d) in module.domains.iter().enumerate() {
            let Drive::Local { clock, reset } = d.drive else {
                continue;
            };
            let index = if depth == 0 {
                k as u32
            } else {
                self.domains.push(FlatDomain {
                    name: scoped(scope, &d.name),
                    reset: d.reset,
                    rst: None,
                    tick: None,
                    root: u32::MAX,
                    local: true,
                });
                self.domains.len() as u32 - 1
            };
            // The tick aliases the root's once that is known.
            let tick = self
                .several
                .then(|| self.push(FlatKind::Input, Type::BOOL, inst));
            let rst = reset.map(check).transpose()?;
            let fd = &mut self.domains[index as usize];
            fd.tick = tick;
            fd.rst = rst;
            if rst.is_none() {
                fd.reset = Reset::NONE;
            }
            self.local_clocks.insert(index, check(clock)?);
            if let Some(slot) = domains.get_mut(k) {
                *slot = index;
            }
        }
        let domains = &domains[..];
        let domain_of = |d: DomainId| -> Result<u32, SimError> {
            domains.get(d.0 as usize).copied().ok_or_else(|| {
                SimError::BadDesign(format!(
                    "module `{}` uses clock domain {} of {}",
                    module.name,
                    d.0,
                    domains.len()
                ))
            })
        };
        let reg_base = self.regs.len() as u32;
        for reg in &module.regs {
            let q = self.push(FlatKind::RegQ, reg.ty, inst);
            let name = reg.name.clone();
            let next = match reg.next {
                Some(nx) => check(nx)?,
                None => return Err(SimError::Undriven(scoped(scope, &name))),
            };
            let domain = domain_of(reg.domain)?;
            let enable = reg.enable.map(check).transpose()?;
            let enable = self.on_tick(enable, domain, inst);
            // Without a reset in its own module's domain (even one clocked by a domain with
            // a reset), the reset value is only where it starts.
            let reset_less = module.domain(reg.domain).reset.kind == ResetKind::None
                || self.domains[domain as usize].reset.kind == ResetKind::None;
            let (reset, init) = match reset_less {
                true => (None, reg.reset.clone()),
                false => (reg.reset.clone(), None),
            };
            self.regs.push(FlatReg {
                name,
                ty: reg.ty,
                reset,
                init,
                next,
                enable,
                q,
                domain,
            });
        }
        let mem_base = self.mems.len() as u32;
        for mem in &module.mems {
            let mut read_ports = Vec::new();
            for rp in &mem.read_ports {
                let data = self.push(FlatKind::MemRead, mem.ty, inst);
                let enable = rp.enable.map(check).transpose()?;
                read_ports.push(FlatReadPort {
                    addr: check(rp.addr)?,
                    enable: self.on_tick(enable, domain_of(rp.domain)?, inst),
                    data,
                });
            }
            let mut write_ports = Vec::new();
            for wp in &mem.write_ports {
                let enable = self.on_tick(Some(check(wp.enable)?), domain_of(wp.domain)?, inst);
                write_ports.push(FlatWritePort {
                    addr: check(wp.addr)?,
                    data: check(wp.data)?,
                    enable: enable.expect("a write port has an enable"),
                });
            }
            self.mems.push(FlatMem {
                name: scoped(scope, &mem.name),
                ty: mem.ty,
                depth: mem.depth,
                init: mem.init.as_ref(),
                read_ports,
                write_ports,
            });
        }
        // Children first, so their outputs can be aliased.
        let mut child_ports = Vec::new();
        for inst in &module.instances {
            let child = design.modules.get(inst.module.0 as usize).ok_or_else(|| {
                SimError::BadDesign(format!(
                    "instance `{}` refers to a missing module",
                    inst.name
                ))
            })?;
            let mut inputs = Vec::new();
            for (i, port) in child.ports.iter().enumerate() {
                let conn = inst.connections.get(i).copied().flatten();
                match (port.dir, conn) {
                    (hardwire_hdl::ir::Direction::Input, Some(c)) => inputs.push(Some(check(c)?)),
                    (hardwire_hdl::ir::Direction::Input, None) => {
                        return Err(SimError::Undriven(scoped(
                            scope,
                            &format!("{}.{}", inst.name, port.name),
                        )))
                    }
                    _ => inputs.push(None),
                }
            }
            let child_domains = inst
                .domains
                .iter()
                .map(|&d| domain_of(d))
                .collect::<Result<Vec<u32>, SimError>>()?;
            if child_domains.len() != child.domains.len() {
                return Err(SimError::BadDesign(format!(
                    "instance `{}` connects {} clock domains of {}",
                    inst.name,
                    child_domains.len(),
                    child.domains.len()
                )));
            }
            scope.push(inst.name.clone());
            let ports = self.inline(
                design,
                inst.module,
                &inputs,
                &child_domains,
                scope,
                depth + 1,
            )?;
            scope.pop();
            child_ports.push(ports);
        }
        for (i, node) in module.nodes.iter().enumerate() {
            let kind = match &node.kind {
                NodeKind::Input(p) => match port_inputs.get(*p as usize).copied().flatten() {
                    Some(src) => FlatKind::Alias(src),
                    None => {
                        return Err(SimError::BadDesign(format!(
                            "module `{}` reads port {p}, which is not an input",
                            module.name
                        )))
                    }
                },
                NodeKind::Const(b) => FlatKind::Const(b.resize(node.ty.width, false)),
                NodeKind::Clock(d) => {
                    self.clocks.push((base + i as u32, domain_of(*d)?));
                    FlatKind::Const(Bits::zero(1))
                }
                NodeKind::Wire { name, driver } => match driver {
                    Some(d) => FlatKind::Alias(check(*d)?),
                    None => return Err(SimError::Undriven(scoped(scope, name))),
                },
                NodeKind::RegQ(r) => match self.regs.get((reg_base + r.0) as usize) {
                    Some(reg) if r.0 < module.regs.len() as u32 => FlatKind::Alias(reg.q),
                    _ => {
                        return Err(SimError::BadDesign(format!(
                            "module `{}` reads a missing register",
                            module.name
                        )))
                    }
                },
                NodeKind::MemRead(m, p) => {
                    let data = (m.0 < module.mems.len() as u32)
                        .then(|| {
                            self.mems[(mem_base + m.0) as usize]
                                .read_ports
                                .get(*p as usize)
                        })
                        .flatten()
                        .map(|rp| rp.data);
                    match data {
                        Some(d) => FlatKind::Alias(d),
                        None => {
                            return Err(SimError::BadDesign(format!(
                                "module `{}` reads a missing memory port",
                                module.name
                            )))
                        }
                    }
                }
                NodeKind::InstOut(inst, p) => {
                    match child_ports
                        .get(inst.0 as usize)
                        .and_then(|ports: &Vec<FlatId>| ports.get(*p as usize))
                    {
                        Some(src) => FlatKind::Alias(*src),
                        None => {
                            return Err(SimError::BadDesign(format!(
                                "module `{}` reads a missing instance port",
                                module.name
                            )))
                        }
                    }
                }
                NodeKind::Unary(op, a) => FlatKind::Unary(*op, check(*a)?),
                NodeKind::Binary(op, a, b) => FlatKind::Binary(*op, check(*a)?, check(*b)?),
                NodeKind::Mux(s, a, b) => FlatKind::Mux(check(*s)?, check(*a)?, check(*b)?),
                NodeKind::Slice(a, lo) => FlatKind::Slice(check(*a)?, *lo),
                NodeKind::Concat(parts) => {
                    FlatKind::Concat(parts.iter().map(|p| check(*p)).collect::<Result<_, _>>()?)
                }
                NodeKind::Resize(a) => FlatKind::Resize(check(*a)?),
                NodeKind::Cast(a) => FlatKind::Alias(check(*a)?),
            };
            self.nodes[base as usize + i].kind = kind;
        }
        for c in &module.checks {
            self.checks.push(FlatCheck {
                kind: c.kind,
                name: scoped(scope, &c.name),
                cond: check(c.cond)?,
                loc: c.loc,
                domain: domain_of(c.domain)?,
            });
        }
        // Names: ports, then registers, then wires.
        for port in &module.ports {
            self.signals.push(FlatSignal {
                scope: scope.clone(),
                name: port.name.clone(),
                node: check(port.node)?,
                labels: Vec::new(),
            });
        }
        for r in 0..module.regs.len() {
            let reg = &self.regs[reg_base as usize + r];
            let sig = FlatSignal {
                scope: scope.clone(),
                name: reg.name.clone(),
                node: reg.q,
                labels: module.regs[r].labels.clone(),
            };
            self.regs[reg_base as usize + r].name = sig.path();
            self.signals.push(sig);
        }
        for (i, node) in module.nodes.iter().enumerate() {
            if let NodeKind::Wire { name, .. } = &node.kind {
                self.signals.push(FlatSignal {
                    scope: scope.clone(),
                    name: name.clone(),
                    node: base + i as u32,
                    labels: Vec::new(),
                });
            }
        }
        module.ports.iter().map(|p| check(p.node)).collect()
    }
}

fn scoped(scope: &[String], name: &str) -> String {
    let mut s = scope.join(".");
    if !s.is_empty() {
        s.push('.');
    }
    s.push_str(name);
    s
}
