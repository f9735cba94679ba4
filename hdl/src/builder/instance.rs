//! Instances: one block used inside another, connected port by port by name.

use super::elaborate::Block;
use super::module::{ModuleBuilder, Signal};
use crate::diagnostic::{Code, Loc};
use crate::ir::{
    Direction, Domain, DomainId, InstId, Instance as IrInstance, Latency, NodeKind, Port,
    ResetKind, Type,
};

/// An instance being connected: drive each input with [`Instance::input`], read outputs
/// with [`Instance::output`]. Every input must be connected.
pub struct Instance<'a> {
    pub(super) m: &'a ModuleBuilder<'a>,
    id: InstId,
    module_name: String,
    ports: Vec<Port>,
    /// The child's declared stream latencies.
    latencies: Vec<Latency>,
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
        let (module_id, module_name, ports, clocked, domains, latencies) = match child {
            Some((id, m)) => (id, m.name, m.ports, m.clocked, m.domains, m.latencies),
            None => (
                crate::ir::ModuleId(u32::MAX),
                block.name(),
                Vec::new(),
                false,
                vec![crate::ir::Domain::sync()],
                Vec::new(),
            ),
        };
        let id = InstId(self.data.borrow().module.instances.len() as u32);
        self.data.borrow_mut().module.instances.push(IrInstance {
            name: name.to_string(),
            module: module_id,
            connections: vec![None; ports.len()],
            domains: vec![DomainId::SYNC; domains.len()],
            loc,
        });
        let map = self.connect_domains(id, &domains, clocked, loc);
        self.data.borrow_mut().module.instances[id.0 as usize].domains = map;
        Instance {
            m: self,
            id,
            module_name,
            ports,
            latencies,
            failed,
        }
    }
}

impl ModuleBuilder<'_> {
    /// The parent domain of each of a child's domains: its default one to the domain being
    /// built in; every other is connected by [`Instance::domain`], or at the end to the
    /// parent's domain of the same name (declared then, as inputs, if the parent has none).
    fn connect_domains(
        &self,
        id: InstId,
        child: &[crate::ir::Domain],
        clocked: bool,
        loc: Loc,
    ) -> Vec<DomainId> {
        let mut map = vec![DomainId::SYNC; child.len()];
        if clocked {
            map[0] = self.use_domain();
            self.check_reset(id, &child[0], map[0], loc);
        }
        let mut d = self.data.borrow_mut();
        // A child's local domains are its own business.
        for (i, domain) in child.iter().enumerate().skip(1) {
            if !domain.is_local() {
                d.pending_domains.push((id, i, domain.clone(), loc));
            }
        }
        map
    }

    /// Connects what no [`Instance::domain`] did, by name.
    pub(super) fn connect_pending_domains(&self) {
        let pending = std::mem::take(&mut self.data.borrow_mut().pending_domains);
        for (inst, i, domain, loc) in pending {
            let parent = match self.find_domain(&domain.name) {
                Some(p) => p,
                None => self.add_domain(domain.clone(), loc),
            };
            self.bind_domain(inst, i, &domain, parent, loc);
        }
    }

    fn bind_domain(&self, inst: InstId, i: usize, child: &Domain, parent: DomainId, loc: Loc) {
        self.check_reset(inst, child, parent, loc);
        let mut d = self.data.borrow_mut();
        d.module.instances[inst.0 as usize].domains[i] = parent;
        // The child's clock comes from this module's `clk` now.
        d.module.clocked |= parent == DomainId::SYNC;
    }

    fn check_reset(&self, inst: InstId, child: &Domain, parent: DomainId, loc: Loc) {
        let (theirs, parent_name, instance) = {
            let d = self.data.borrow();
            let p = &d.module.domains[parent.0 as usize];
            let name = d
                .module
                .instances
                .get(inst.0 as usize)
                .map(|i| i.name.clone());
            (p.reset, p.name.clone(), name.unwrap_or_default())
        };
        // A reset-less domain ignores the reset of the domain clocking it.
        if child.reset.kind != ResetKind::None && theirs != child.reset {
            self.error(
                Code::BadParameter,
                loc,
                format!(
                    "instance `{instance}`'s clock domain `{}` has reset {:?} but the domain \
                     `{parent_name}` clocking it here has {:?}; registers cannot change how \
                     they reset",
                    child.name, child.reset, theirs
                ),
            );
        }
    }
}

impl<'a> Instance<'a> {
    fn find(&self, port: &str, dir: Direction, loc: Loc) -> Option<(usize, Type)> {
        let found = self.ports.iter().position(|p| p.name == port);
        match found {
            Some(i) if self.ports[i].dir == dir => Some((i, self.ports[i].ty)),
            _ if self.failed => None,
            Some(_) => {
                let (is, use_) = match dir {
                    Direction::Input => ("an output", "read it with `output`"),
                    Direction::Output => ("an input", "drive it with `input`"),
                };
                self.m.error(
                    Code::UnknownPort,
                    loc,
                    format!(
                        "`{port}` of module `{}` is {is}, the other direction: {use_}",
                        self.module_name
                    ),
                );
                None
            }
            None => {
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

    /// The child's declared latency from a stream to its output stream `to`
    /// ([`ModuleBuilder::latency`]): `(from, cycles)`, or `None` if it declares none. How a
    /// composite's latency comes from its parts.
    pub fn latency(&self, to: &str) -> Option<(String, u64)> {
        self.latencies
            .iter()
            .find(|l| l.to == to)
            .map(|l| (l.from.clone(), l.cycles))
    }

    /// Clocks the child's domain `name` by `domain` of this module (its default domain is
    /// `sync`; others otherwise follow the domain of their name here).
    #[track_caller]
    pub fn domain(&self, name: &str, domain: super::ClockDomain) -> &Self {
        let loc = Loc::caller();
        let mut d = self.m.data.borrow_mut();
        let found = d
            .pending_domains
            .iter()
            .position(|p| p.0 == self.id && p.2.name == name);
        match found {
            Some(k) => {
                let (inst, i, child, _) = d.pending_domains.remove(k);
                drop(d);
                self.m.bind_domain(inst, i, &child, domain.id, loc);
            }
            None if name == "sync" && !self.failed => {
                drop(d);
                self.m
                    .bind_domain(self.id, 0, &Domain::sync(), domain.id, loc);
            }
            None => {
                drop(d);
                if !self.failed {
                    self.m.error(
                        Code::UnknownPort,
                        loc,
                        format!(
                            "`{}` has no clock domain `{name}` left to connect (each is \
                             connected once)",
                            self.module_name
                        ),
                    );
                }
            }
        }
        self
    }

    /// A wire of this module that drives the child's input `port` (named
    /// `<instance>_<port>`, of the port's type), to be driven with
    /// [`assign`](ModuleBuilder::assign): how an interface's flipped side connects.
    #[track_caller]
    pub fn driven_input(&self, port: &str) -> Signal<'a> {
        let loc = Loc::caller();
        let found = self.find(port, Direction::Input, loc);
        let ty = found.map_or(Type::BOOL, |(_, ty)| ty);
        let wire = self.m.wire_at(&format!("{}_{port}", self.name()), ty, loc);
        if found.is_some() {
            self.input_at(port, wire, loc);
        }
        wire
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
