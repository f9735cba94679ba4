//! `check-crossings`: no register or memory port samples a signal of another clock domain,
//! except the first stage of a synchroniser.

use super::Pass;
use crate::diagnostic::{Code, Diagnostic, HdlError, Loc};
use crate::ir::{Design, InstId, ModuleId, NodeId, NodeKind};

/// Reports every register and memory port whose inputs come, through any logic and across
/// the hierarchy, from registers or memory reads of another clock domain, unless it is
/// marked as a synchroniser. (Memory contents written in one domain and read in another are
/// a dual-clock memory, whose users keep it safe, as [`AsyncFifo`](crate::primitives::AsyncFifo)
/// does; top-level inputs belong to no domain.)
pub struct CheckCrossings;

impl Pass for CheckCrossings {
    fn name(&self) -> &'static str {
        "check-crossings"
    }
    fn description(&self) -> &'static str {
        "signals cross clock domains only through synchronisers"
    }
    fn run(&self, design: &mut Design) -> Result<(), HdlError> {
        if design.modules.iter().all(|m| m.domains.len() == 1) {
            return Ok(());
        }
        let tree = Tree::new(design);
        if tree.domain_names.len() > 64 {
            return HdlError::check(vec![Diagnostic {
                code: Code::BadParameter,
                message: "more than 64 clock domains; the crossing check counts up to 64".into(),
                module: design.top_module().name.clone(),
                loc: design
                    .top_module()
                    .regs
                    .first()
                    .map_or_else(Loc::caller, |r| r.loc),
            }]);
        }
        let mut masks = tree.empty_masks(design);
        let mut diagnostics = Vec::new();
        for (i, inst) in tree.insts.iter().enumerate() {
            let module = design.module(inst.module);
            let mut report = |what: String, domain: u32, inputs: Vec<NodeId>, loc: Loc| {
                let own = 1u64 << domain;
                let seen = inputs
                    .into_iter()
                    .fold(0, |m, n| m | tree.mask(design, &mut masks, i, n));
                if seen & !own != 0 {
                    let others: Vec<String> = (0..64)
                        .filter(|b| seen & !own & (1 << b) != 0)
                        .map(|b| format!("`{}`", tree.domain_names[b]))
                        .collect();
                    diagnostics.push(Diagnostic {
                        code: Code::UnsyncedCrossing,
                        message: format!(
                            "{what} in clock domain `{}` samples signals of {} without a \
                             synchroniser; bring single bits (or Gray codes) through \
                             `primitives::Synchronizer`, anything wider through \
                             `primitives::AsyncFifo`",
                            tree.domain_names[domain as usize],
                            others.join(" and ")
                        ),
                        module: module.name.clone(),
                        loc,
                    });
                }
            };
            for r in module.regs.iter().filter(|r| !r.synchronizer) {
                let inputs = r.next.into_iter().chain(r.enable).collect();
                let what = format!("register `{}{}`", inst.path, r.name);
                report(what, inst.domains[r.domain.0 as usize], inputs, r.loc);
            }
            for mem in &module.mems {
                for p in &mem.read_ports {
                    let inputs = std::iter::once(p.addr).chain(p.enable).collect();
                    let what = format!("a read port of memory `{}{}`", inst.path, mem.name);
                    report(what, inst.domains[p.domain.0 as usize], inputs, mem.loc);
                }
                for p in &mem.write_ports {
                    let inputs = vec![p.addr, p.data, p.enable];
                    let what = format!("a write port of memory `{}{}`", inst.path, mem.name);
                    report(what, inst.domains[p.domain.0 as usize], inputs, mem.loc);
                }
            }
        }
        HdlError::check(diagnostics)
    }
}

/// One instance of a module in the flattened hierarchy.
struct Inst {
    module: ModuleId,
    /// The parent's instance index and this instance's id in the parent.
    parent: Option<(usize, InstId)>,
    /// Each of the module's domains as a top-level domain.
    domains: Vec<u32>,
    /// The instance index of each of the module's instances.
    children: Vec<usize>,
    /// `u_a.u_b.`, for messages.
    path: String,
}

struct Tree {
    insts: Vec<Inst>,
    domain_names: Vec<String>,
}

const UNKNOWN: u64 = u64::MAX;

impl Tree {
    fn new(design: &Design) -> Tree {
        let top = design.top_module();
        let mut tree = Tree {
            insts: vec![Inst {
                module: design.top,
                parent: None,
                domains: (0..top.domains.len() as u32).collect(),
                children: Vec::new(),
                path: String::new(),
            }],
            domain_names: top.domains.iter().map(|d| d.name.clone()).collect(),
        };
        let mut i = 0;
        while i < tree.insts.len() {
            let module = design.module(tree.insts[i].module);
            for (k, child) in module.instances.iter().enumerate() {
                let path = format!("{}{}.", tree.insts[i].path, child.name);
                // A child's local domains are domains of their own.
                let child_module = design.module(child.module);
                let domains = child
                    .domains
                    .iter()
                    .zip(&child_module.domains)
                    .map(|(d, theirs)| {
                        if theirs.is_local() {
                            tree.domain_names.push(format!("{path}{}", theirs.name));
                            tree.domain_names.len() as u32 - 1
                        } else {
                            tree.insts[i].domains[d.0 as usize]
                        }
                    })
                    .collect();
                tree.insts.push(Inst {
                    module: child.module,
                    parent: Some((i, InstId(k as u32))),
                    domains,
                    children: Vec::new(),
                    path,
                });
                let c = tree.insts.len() - 1;
                tree.insts[i].children.push(c);
            }
            i += 1;
        }
        tree
    }

    fn empty_masks(&self, design: &Design) -> Vec<Vec<u64>> {
        self.insts
            .iter()
            .map(|i| vec![UNKNOWN; design.module(i.module).nodes.len()])
            .collect()
    }

    /// The domains whose registers and memory reads `node` of instance `inst` depends on
    /// combinationally, one bit each (memoised; iterative, for deep logic).
    fn mask(&self, design: &Design, masks: &mut [Vec<u64>], inst: usize, node: NodeId) -> u64 {
        let mut stack = vec![(inst, node)];
        while let Some(&(i, n)) = stack.last() {
            if masks[i][n.0 as usize] != UNKNOWN {
                stack.pop();
                continue;
            }
            let (own, deps) = self.inputs_of(design, i, n);
            let pending: Vec<(usize, NodeId)> = deps
                .iter()
                .copied()
                .filter(|&(j, d)| masks[j][d.0 as usize] == UNKNOWN)
                .collect();
            if pending.is_empty() {
                stack.pop();
                masks[i][n.0 as usize] = deps
                    .iter()
                    .fold(own, |m, &(j, d)| m | masks[j][d.0 as usize]);
            } else {
                stack.extend(pending);
            }
        }
        masks[inst][node.0 as usize]
    }

    /// A node's own domain bits (a register or memory read) and the nodes it reads.
    fn inputs_of(&self, design: &Design, i: usize, n: NodeId) -> (u64, Vec<(usize, NodeId)>) {
        let inst = &self.insts[i];
        let module = design.module(inst.module);
        let bit = |d: crate::ir::DomainId| 1u64 << inst.domains[d.0 as usize];
        match &module.node(n).kind {
            NodeKind::Input(p) => match inst.parent {
                None => (0, Vec::new()),
                Some((parent, k)) => {
                    let pm = design.module(self.insts[parent].module);
                    let driver = pm.instances[k.0 as usize].connections[*p as usize];
                    (0, driver.map(|d| (parent, d)).into_iter().collect())
                }
            },
            NodeKind::RegQ(r) => (bit(module.regs[r.0 as usize].domain), Vec::new()),
            NodeKind::MemRead(m, p) => {
                let port = &module.mems[m.0 as usize].read_ports[*p as usize];
                (bit(port.domain), Vec::new())
            }
            NodeKind::InstOut(k, p) => {
                let c = inst.children[k.0 as usize];
                let child = design.module(self.insts[c].module);
                (0, vec![(c, child.ports[*p as usize].node)])
            }
            kind => (0, kind.operands().into_iter().map(|d| (i, d)).collect()),
        }
    }
}
