//! Instances: one block used inside another, connected port by port by name.

use super::elaborate::Block;
use super::module::{ModuleBuilder, Signal};
use crate::diagnostic::{Code, Loc};
use crate::ir::{Direction, InstId, Instance as IrInstance, NodeKind, Port, Type};

/// An instance being connected: drive each input with [`Instance::input`], read outputs
/// with [`Instance::output`]. Every input must be connected.
pub struct Instance<'a> {
    pub(super) m: &'a ModuleBuilder<'a>,
    id: InstId,
    module_name: String,
    ports: Vec<Port>,
    /// The child did not elaborate (already reported): stay quiet about its ports.
    failed: bool,
}

impl<'e> ModuleBuilder<'e> {
    /// Instantiates `block` as `name`. Blocks equal in value share one module.
    #[track_caller]
    pub fn instance<B: Block + PartialEq + Clone + 'static>(
        &self,
        name: &str,
        block: &B,
    ) -> Instance<'_> {
        let loc = Loc::caller();
        self.claim_name(name, "an instance", loc);
        let child = self.elab.elaborate_child(block, loc);
        let failed = child.is_none();
        let (module_id, module_name, ports, clocked) = match child {
            Some((id, m)) => (id, m.name, m.ports, m.clocked),
            None => (
                crate::ir::ModuleId(u32::MAX),
                block.name(),
                Vec::new(),
                false,
            ),
        };
        let mut d = self.data.borrow_mut();
        let id = InstId(d.module.instances.len() as u32);
        d.module.instances.push(IrInstance {
            name: name.to_string(),
            module: module_id,
            connections: vec![None; ports.len()],
            loc,
        });
        d.module.clocked |= clocked;
        Instance {
            m: self,
            id,
            module_name,
            ports,
            failed,
        }
    }
}

impl<'a> Instance<'a> {
    fn find(&self, port: &str, dir: Direction, loc: Loc) -> Option<(usize, Type)> {
        let found = self.ports.iter().position(|p| p.name == port);
        match found {
            Some(i) if self.ports[i].dir == dir => Some((i, self.ports[i].ty)),
            _ if self.failed => None,
            _ => {
                let want = if dir == Direction::Input {
                    "input"
                } else {
                    "output"
                };
                let names: Vec<_> = self
                    .ports
                    .iter()
                    .filter(|p| p.dir == dir)
                    .map(|p| p.name.as_str())
                    .collect();
                self.m.error(
                    Code::UnknownPort,
                    loc,
                    format!(
                        "module `{}` has no {want} `{port}`; its {want}s are: {}",
                        self.module_name,
                        names.join(", ")
                    ),
                );
                None
            }
        }
    }

    /// The child's module name.
    pub(super) fn module_name(&self) -> &str {
        &self.module_name
    }

    /// The instance name.
    pub(super) fn name(&self) -> String {
        self.m.data.borrow().module.instances[self.id.0 as usize]
            .name
            .clone()
    }

    /// The type of the child's port `port`, if it has one: for a parent that adapts to its
    /// child's interface instead of restating it.
    pub fn port_type(&self, port: &str) -> Option<Type> {
        self.ports.iter().find(|p| p.name == port).map(|p| p.ty)
    }

    /// Whether the child has port `port` in direction `dir` (quietly: no error when not).
    pub(super) fn has_port(&self, port: &str, dir: Direction) -> bool {
        self.ports.iter().any(|p| p.name == port && p.dir == dir)
    }

    /// Connects the child's input `port` to `value`, which must have the port's type.
    #[track_caller]
    pub fn input(&self, port: &str, value: Signal<'a>) -> &Self {
        self.input_at(port, value, Loc::caller())
    }

    pub(super) fn input_at(&self, port: &str, value: Signal<'a>, loc: Loc) -> &Self {
        let Some((index, ty)) = self.find(port, Direction::Input, loc) else {
            return self;
        };
        if value.ty != ty {
            self.m.error(
                Code::WidthMismatch,
                loc,
                format!(
                    "input `{port}` of `{}` is {ty} but `{}` is {}; convert it first",
                    self.module_name,
                    self.m.describe(value.id),
                    value.ty
                ),
            );
            return self;
        }
        let mut d = self.m.data.borrow_mut();
        let slot = &mut d.module.instances[self.id.0 as usize].connections[index];
        let again = slot.is_some();
        *slot = Some(value.id);
        drop(d);
        if again {
            self.m.error(
                Code::MultiplyDriven,
                loc,
                format!("input `{port}` of this instance is connected twice"),
            );
        }
        self
    }

    /// The child's output `port`.
    #[track_caller]
    pub fn output(&self, port: &str) -> Signal<'a> {
        self.output_at(port, Loc::caller())
    }

    pub(super) fn output_at(&self, port: &str, loc: Loc) -> Signal<'a> {
        match self.find(port, Direction::Output, loc) {
            Some((index, ty)) => self
                .m
                .signal(NodeKind::InstOut(self.id, index as u32), ty, loc),
            None => self.m.constant_at(crate::Bits::zero(1), Type::BOOL, loc),
        }
    }
}
