//! Miters: two designs with the same ports side by side, fed the same inputs, with an
//! assertion that each output agrees. Simulating one compares the designs on a testbench's
//! inputs; proving it (SymbiYosys, through `hardwire-fpga`'s `formal`) compares them on every
//! input sequence up to a depth. That is how the optimisation passes are checked to keep a
//! block's behaviour: the optimised design against the unoptimised one.

use crate::diagnostic::{Code, Diagnostic, HdlError, Loc};
use crate::ir::{
    BinaryOp, Check, CheckKind, Design, Direction, DomainId, InstId, Instance, Module, ModuleId,
    NodeId, NodeKind, Port, Type,
};

/// The suffix given to the module names of the second design in a miter.
pub const REFERENCE_SUFFIX: &str = "_ref";

impl Design {
    /// A design named `miter` that instantiates `self` as `dut` and `reference` as
    /// `reference`, drives both from its own inputs (the tops' inputs, by name), asserts
    /// `same_<output>` for every output on every edge out of reset, and outputs `equal`, high
    /// while all agree. The reference's modules are renamed with [`REFERENCE_SUFFIX`].
    ///
    /// Fails when the two tops' ports differ in name, direction, order or type.
    #[track_caller]
    pub fn miter(&self, reference: &Design) -> Result<Design, HdlError> {
        let loc = Loc::caller();
        let (a, b) = (self.top_module(), reference.top_module());
        let error = |message: String| HdlError {
            diagnostics: vec![Diagnostic {
                code: Code::UnknownPort,
                message,
                module: "miter".into(),
                loc,
            }],
        };
        let shape = |m: &Module| -> Vec<(String, Direction, Type)> {
            m.ports
                .iter()
                .map(|p| (p.name.clone(), p.dir, p.ty))
                .collect()
        };
        if shape(a) != shape(b) {
            return Err(error(format!(
                "`{}` and `{}` have different ports, so they cannot be compared: {} against {}",
                a.name,
                b.name,
                port_list(a),
                port_list(b)
            )));
        }
        if a.domains != b.domains {
            return Err(error(format!(
                "`{}` and `{}` have different clock domains, so they cannot be compared",
                a.name, b.name
            )));
        }
        let mut modules = self.modules.clone();
        let shift = modules.len() as u32;
        for m in &reference.modules {
            let mut m = m.clone();
            m.name.push_str(REFERENCE_SUFFIX);
            if self.find(&m.name).is_some() {
                return Err(error(format!(
                    "module `{}` is in the first design already; rename it",
                    m.name
                )));
            }
            for i in &mut m.instances {
                i.module = ModuleId(i.module.0 + shift);
            }
            modules.push(m);
        }
        let mut top = Module::empty("miter", true);
        top.domains = a.domains.clone();
        let domains: Vec<DomainId> = (0..a.domains.len() as u32).map(DomainId).collect();
        let mut connections = Vec::new();
        for p in &a.ports {
            connections.push(match p.dir {
                Direction::Input => {
                    let node = top.push_node(NodeKind::Input(top.ports.len() as u32), p.ty, loc);
                    top.ports.push(Port { node, ..p.clone() });
                    Some(node)
                }
                Direction::Output => None,
            });
        }
        for (name, module) in [
            ("dut", self.top),
            ("reference", ModuleId(reference.top.0 + shift)),
        ] {
            top.instances.push(Instance {
                name: name.into(),
                module,
                connections: connections.clone(),
                domains: domains.clone(),
                loc,
            });
        }
        let mut all: Option<NodeId> = None;
        for (j, p) in a.ports.iter().enumerate() {
            if p.dir != Direction::Output {
                continue;
            }
            let x = top.push_node(NodeKind::InstOut(InstId(0), j as u32), p.ty, loc);
            let y = top.push_node(NodeKind::InstOut(InstId(1), j as u32), p.ty, loc);
            let same = top.push_node(NodeKind::Binary(BinaryOp::Eq, x, y), Type::BOOL, loc);
            top.checks.push(Check {
                kind: CheckKind::Assert,
                name: format!("same_{}", p.name),
                domain: DomainId::SYNC,
                cond: same,
                loc,
            });
            all = Some(match all {
                None => same,
                Some(acc) => {
                    top.push_node(NodeKind::Binary(BinaryOp::And, acc, same), Type::BOOL, loc)
                }
            });
        }
        let all = all.ok_or_else(|| error(format!("`{}` has no outputs to compare", a.name)))?;
        let equal = top.push_node(
            NodeKind::Wire {
                name: "equal".into(),
                driver: Some(all),
            },
            Type::BOOL,
            loc,
        );
        top.ports.push(Port {
            name: "equal".into(),
            dir: Direction::Output,
            ty: Type::BOOL,
            node: equal,
        });
        modules.push(top);
        let top = ModuleId(modules.len() as u32 - 1);
        let mut design = Design { modules, top };
        crate::passes::run(&mut design, &crate::passes::checks())?;
        Ok(design)
    }
}

fn port_list(m: &Module) -> String {
    let ports: Vec<String> = m
        .ports
        .iter()
        .map(|p| {
            let dir = if p.dir == Direction::Input {
                "in"
            } else {
                "out"
            };
            format!("{dir} {}: {}", p.name, p.ty)
        })
        .collect();
    format!("({})", ports.join(", "))
}
