//! `check-latency`: every declared stream latency ([`Latency`]) is what the structure has:
//! on every path from the input stream's valid to the output stream's, through logic,
//! registers (one cycle each) and children (the latency they declare), the same number of
//! cycles, and no register loop (a sequencer's counter) on the way.

use std::collections::{BTreeSet, HashMap};

use super::Pass;
use crate::diagnostic::{Code, Diagnostic, HdlError};
use crate::ir::{Design, Direction, Latency, Module, NodeId, NodeKind};

/// Checks declared latencies against the paths between the streams' valids.
pub struct CheckLatency;

impl Pass for CheckLatency {
    fn name(&self) -> &'static str {
        "check-latency"
    }
    fn description(&self) -> &'static str {
        "declared stream latencies equal the registers on every path between the valids"
    }
    fn run(&self, design: &mut Design) -> Result<(), HdlError> {
        let mut diagnostics = Vec::new();
        for m in &design.modules {
            for l in &m.latencies {
                if let Err(message) = check(design, m, l) {
                    diagnostics.push(Diagnostic {
                        code: Code::LatencyMismatch,
                        message: format!(
                            "`{}` is declared {} cycles after `{}`, but {message}",
                            l.to, l.cycles, l.from
                        ),
                        module: m.name.clone(),
                        loc: l.loc,
                    });
                }
            }
        }
        HdlError::check(diagnostics)
    }
}

/// How far a node is from the input valid, in cycles.
#[derive(Clone, Debug, PartialEq)]
enum Reach {
    /// Not at all.
    Never,
    /// By paths of these lengths.
    At(BTreeSet<u64>),
    /// Through the register loop at this register.
    Loop(String),
}

impl Reach {
    fn join(self, other: Reach) -> Reach {
        match (self, other) {
            (Reach::Loop(r), _) | (_, Reach::Loop(r)) => Reach::Loop(r),
            (Reach::Never, x) | (x, Reach::Never) => x,
            (Reach::At(mut a), Reach::At(b)) => {
                a.extend(b);
                Reach::At(a)
            }
        }
    }

    fn later(self, cycles: u64) -> Reach {
        match self {
            Reach::At(a) => Reach::At(a.into_iter().map(|c| c + cycles).collect()),
            x => x,
        }
    }
}

fn check(design: &Design, m: &Module, l: &Latency) -> Result<(), String> {
    let port = |stream: &str, dir: Direction| {
        let name = Latency::valid_port(stream);
        m.ports
            .iter()
            .find(|p| p.name == name && p.dir == dir && p.ty.width == 1)
            .map(|p| p.node)
            .ok_or_else(|| {
                let what = if dir == Direction::Input {
                    "input"
                } else {
                    "output"
                };
                format!("the module has no one-bit {what} `{name}` for that stream")
            })
    };
    let from = port(&l.from, Direction::Input)?;
    let to = port(&l.to, Direction::Output)?;
    let mut walk = Walk {
        design,
        m,
        from,
        reaches: reaches_from(design, m, from),
        memo: HashMap::new(),
        on_path: Vec::new(),
    };
    match walk.reach(to) {
        Reach::At(c) if c.len() == 1 && c.contains(&l.cycles) => Ok(()),
        Reach::At(c) if c.len() == 1 => {
            let n = *c.first().expect("one");
            let s = if n == 1 { "" } else { "s" };
            Err(format!("every path between their valids has {n} cycle{s}"))
        }
        Reach::At(c) => Err(format!(
            "paths between their valids have {} cycles, so transfers would come out of order \
             or merge",
            c.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        )),
        Reach::Loop(r) => Err(format!(
            "the path between their valids runs through the register loop at `{r}` (a \
             sequencer), whose timing the structure does not fix; check it in simulation \
             instead"
        )),
        Reach::Never => Err(format!(
            "`{}` does not depend on `{}` through logic, registers or children that declare \
             their latency",
            Latency::valid_port(&l.to),
            Latency::valid_port(&l.from)
        )),
    }
}

/// For an instance output with a declared latency: the node driving the child's input
/// stream valid, and the cycles.
fn declared_input(design: &Design, m: &Module, n: NodeId) -> Option<(NodeId, u64)> {
    let NodeKind::InstOut(inst, p) = m.node(n).kind else {
        return None;
    };
    let inst = &m.instances[inst.0 as usize];
    let child = design.module(inst.module);
    let out = &child.ports[p as usize].name;
    let l = child
        .latencies
        .iter()
        .find(|l| Latency::valid_port(&l.to) == *out)?;
    let input = Latency::valid_port(&l.from);
    let k = child.ports.iter().position(|q| q.name == input)?;
    Some(((*inst.connections.get(k)?)?, l.cycles))
}

/// What a node's value comes from: a register's next value and enable, the input of a child's
/// declared latency, or the operands of logic.
fn inputs(design: &Design, m: &Module, n: NodeId) -> Vec<NodeId> {
    match &m.node(n).kind {
        NodeKind::RegQ(r) => {
            let reg = &m.regs[r.0 as usize];
            reg.next.into_iter().chain(reg.enable).collect()
        }
        NodeKind::InstOut(..) => declared_input(design, m, n)
            .map(|d| d.0)
            .into_iter()
            .collect(),
        kind => kind.operands(),
    }
}

/// Which nodes depend on `from`, through logic, registers and declared child latencies.
fn reaches_from(design: &Design, m: &Module, from: NodeId) -> Vec<bool> {
    let mut users: Vec<Vec<NodeId>> = vec![Vec::new(); m.nodes.len()];
    for n in (0..m.nodes.len() as u32).map(NodeId) {
        for o in inputs(design, m, n) {
            users[o.0 as usize].push(n);
        }
    }
    let mut reached = vec![false; m.nodes.len()];
    let mut work = vec![from];
    while let Some(n) = work.pop() {
        if !std::mem::replace(&mut reached[n.0 as usize], true) {
            work.extend(&users[n.0 as usize]);
        }
    }
    reached
}

struct Walk<'d> {
    design: &'d Design,
    m: &'d Module,
    from: NodeId,
    /// The nodes that depend on `from` at all.
    reaches: Vec<bool>,
    memo: HashMap<NodeId, Reach>,
    /// Registers being walked through, to find loops.
    on_path: Vec<NodeId>,
}

impl Walk<'_> {
    fn reach(&mut self, n: NodeId) -> Reach {
        if n == self.from {
            return Reach::At(BTreeSet::from([0]));
        }
        if !self.reaches[n.0 as usize] {
            return Reach::Never;
        }
        if let Some(r) = self.memo.get(&n) {
            return r.clone();
        }
        let m = self.m;
        let r = match &m.node(n).kind {
            NodeKind::RegQ(r) => {
                let reg = &m.regs[r.0 as usize];
                if self.on_path.contains(&n) {
                    return Reach::Loop(reg.name.clone());
                }
                self.on_path.push(n);
                let reach = self.join(n);
                self.on_path.pop();
                // A register that holds its value (an enable) on the path is state, not delay.
                match (&reach, reg.enable) {
                    (Reach::At(_), Some(_)) => Reach::Loop(reg.name.clone()),
                    _ => reach.later(1),
                }
            }
            NodeKind::InstOut(..) => match declared_input(self.design, m, n) {
                Some((input, cycles)) => self.reach(input).later(cycles),
                None => Reach::Never,
            },
            _ => self.join(n),
        };
        self.memo.insert(n, r.clone());
        r
    }

    /// How far the inputs of `n` are, together.
    fn join(&mut self, n: NodeId) -> Reach {
        let mut reach = Reach::Never;
        for i in inputs(self.design, self.m, n) {
            reach = reach.join(self.reach(i));
        }
        reach
    }
}
