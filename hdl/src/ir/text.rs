//! A module as text, one line per node, register, memory, instance and check, for golden
//! tests of the passes and for reading what a pass did:
//!
//! ```text
//! module top
//!   in a: UInt<8>
//!   out y: UInt<9> = %3
//!   %0 = in a : UInt<8>
//!   %1 = const 0x03 : UInt<8>
//!   %2 = add %0, %1 : UInt<9>
//!   %3 = wire y <- %2 : UInt<9>
//! ```

use std::fmt::{self, Display, Formatter, Write};

use super::{Direction, Drive, Module, NodeId, NodeKind};

impl Display for Module {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let n = |id: NodeId| format!("%{}", id.0);
        let opt = |id: Option<NodeId>| id.map_or("-".to_string(), n);
        let domain = |d: super::DomainId| self.domain(d).name.clone();
        write!(f, "module {}", self.name)?;
        if self.clocked {
            write!(f, " (clocked)")?;
        }
        if let Some(e) = &self.external {
            write!(f, " external {}", e.module)?;
        }
        writeln!(f)?;
        for (i, d) in self.domains.iter().enumerate().skip(1) {
            let drive = match &d.drive {
                Drive::Ports { clock, reset } => {
                    format!(
                        "ports {clock}{}",
                        reset.as_ref().map_or(String::new(), |r| format!(", {r}"))
                    )
                }
                Drive::Local { clock, reset } => format!("local {}, {}", n(*clock), opt(*reset)),
            };
            writeln!(f, "  domain {i} {}: {:?} {drive}", d.name, d.reset)?;
        }
        for p in &self.ports {
            match p.dir {
                Direction::Input => writeln!(f, "  in {}: {}", p.name, p.ty)?,
                Direction::Output => writeln!(f, "  out {}: {} = {}", p.name, p.ty, n(p.node))?,
            }
        }
        for (i, node) in self.nodes.iter().enumerate() {
            let mut line = String::new();
            let ops = |ids: &[NodeId]| ids.iter().map(|&i| n(i)).collect::<Vec<_>>().join(", ");
            match &node.kind {
                NodeKind::Input(p) => write!(line, "in {}", self.ports[*p as usize].name),
                NodeKind::Const(b) => write!(line, "const {b}"),
                NodeKind::Wire { name, driver } => write!(line, "wire {name} <- {}", opt(*driver)),
                NodeKind::RegQ(r) => write!(line, "reg {}", self.regs[r.0 as usize].name),
                NodeKind::MemRead(m, p) => {
                    write!(line, "read {}.{p}", self.mems[m.0 as usize].name)
                }
                NodeKind::InstOut(i, p) => {
                    write!(line, "out {}.{p}", self.instances[i.0 as usize].name)
                }
                NodeKind::Unary(op, a) => {
                    write!(line, "{} {}", format!("{op:?}").to_lowercase(), n(*a))
                }
                NodeKind::Binary(op, a, b) => {
                    write!(
                        line,
                        "{} {}",
                        format!("{op:?}").to_lowercase(),
                        ops(&[*a, *b])
                    )
                }
                NodeKind::Mux(s, a, b) => write!(line, "mux {}", ops(&[*s, *a, *b])),
                NodeKind::Slice(a, lo) => write!(line, "slice {} from {lo}", n(*a)),
                NodeKind::Concat(parts) => write!(line, "concat {}", ops(parts)),
                NodeKind::Resize(a) => write!(line, "resize {}", n(*a)),
                NodeKind::Cast(a) => write!(line, "cast {}", n(*a)),
                NodeKind::Clock(d) => write!(line, "clock {}", domain(*d)),
            }?;
            writeln!(f, "  %{i} = {line} : {}", node.ty)?;
        }
        for r in &self.regs {
            let reset = r.reset.as_ref().map_or("-".to_string(), |b| b.to_string());
            writeln!(
                f,
                "  reg {}: {} reset {reset} next {} enable {} in {}",
                r.name,
                r.ty,
                opt(r.next),
                opt(r.enable),
                domain(r.domain)
            )?;
        }
        for m in &self.mems {
            writeln!(
                f,
                "  mem {}: {} x {} ({:?})",
                m.name, m.ty, m.depth, m.style
            )?;
            for p in &m.read_ports {
                writeln!(
                    f,
                    "    read {} enable {} in {}",
                    n(p.addr),
                    opt(p.enable),
                    domain(p.domain)
                )?;
            }
            for p in &m.write_ports {
                writeln!(
                    f,
                    "    write {} <- {} enable {} in {}",
                    n(p.addr),
                    n(p.data),
                    n(p.enable),
                    domain(p.domain)
                )?;
            }
        }
        for i in &self.instances {
            let conns: Vec<String> = i.connections.iter().map(|c| opt(*c)).collect();
            writeln!(
                f,
                "  inst {} of module {} ({})",
                i.name,
                i.module.0,
                conns.join(", ")
            )?;
        }
        for c in &self.checks {
            writeln!(
                f,
                "  {} {} {} in {}",
                c.kind.keyword(),
                c.name,
                n(c.cond),
                domain(c.domain)
            )?;
        }
        for l in &self.latencies {
            writeln!(f, "  latency {} <- {} {}", l.to, l.from, l.cycles)?;
        }
        Ok(())
    }
}
