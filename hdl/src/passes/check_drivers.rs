//! `check-drivers`: every wire, output and register has a driver, and every instance input is
//! connected. (Driving a wire twice is reported by the builder where the second assignment is
//! written, since the IR has room for one driver only.)

use super::Pass;
use crate::diagnostic::{Code, Diagnostic, HdlError};
use crate::ir::{Design, Direction, NodeKind};

/// Reports undriven wires, outputs and registers, and unconnected instance inputs.
pub struct CheckDrivers;

impl Pass for CheckDrivers {
    fn name(&self) -> &'static str {
        "check-drivers"
    }
    fn description(&self) -> &'static str {
        "every wire, output and register is driven and every instance input is connected"
    }
    fn run(&self, design: &mut Design) -> Result<(), HdlError> {
        let mut diagnostics = Vec::new();
        for m in &design.modules {
            let mut report = |code, loc, message| {
                diagnostics.push(Diagnostic {
                    code,
                    message,
                    module: m.name.clone(),
                    loc,
                });
            };
            for n in &m.nodes {
                if let NodeKind::Wire { name, driver: None } = &n.kind {
                    let is_output = m
                        .ports
                        .iter()
                        .any(|p| p.dir == Direction::Output && p.name == *name);
                    let what = if is_output { "output" } else { "wire" };
                    report(
                        Code::Undriven,
                        n.loc,
                        format!("{what} `{name}` is never driven; drive it with `assign`"),
                    );
                }
            }
            for r in &m.regs {
                if r.next.is_none() {
                    report(
                        Code::Undriven,
                        r.loc,
                        format!("register `{}` is never given a next value; call `next` or `next_when` on it", r.name),
                    );
                }
            }
            for inst in &m.instances {
                let child = design.module(inst.module);
                for (port, conn) in child.ports.iter().zip(&inst.connections) {
                    if port.dir == Direction::Input && conn.is_none() {
                        report(
                            Code::Unconnected,
                            inst.loc,
                            format!(
                                "input `{}` of instance `{}` (module `{}`) is not connected; \
                                 connect it with `.input(\"{}\", ...)`",
                                port.name, inst.name, child.name, port.name
                            ),
                        );
                    }
                }
            }
        }
        HdlError::check(diagnostics)
    }
}
