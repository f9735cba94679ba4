//! Elaboration: running blocks' `build` to produce the modules of a design, once per distinct
//! parameterisation, and checking the result.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;

use super::module::{Assign, ModuleBuilder};
use crate::diagnostic::{Code, Diagnostic, HdlError, Loc};
use crate::ir::{Design, Module, ModuleId, NodeId, NodeKind, Type};
use crate::passes;

/// A reusable piece of hardware: a Rust value whose fields are its parameters and whose
/// [`Block::build`] elaborates one module.
///
/// ```
/// use hardwire_hdl::prelude::*;
///
/// #[derive(Clone, PartialEq)]
/// struct Scale { width: u32, factor: i64 }
///
/// impl Block for Scale {
///     fn name(&self) -> String { format!("scale_w{}_x{}", self.width, self.factor) }
///     fn build(&self, m: &ModuleBuilder) {
///         let x = m.input("x", Type::signed(self.width));
///         m.output("y", x * self.factor);
///     }
/// }
/// let design = Design::elaborate(&Scale { width: 8, factor: 3 }).unwrap();
/// assert_eq!(design.top_module().name, "scale_w8_x3");
/// ```
pub trait Block {
    /// The module name. It must be a Verilog identifier and must differ between blocks that
    /// elaborate differently, so put every parameter in it; equal blocks share one module.
    fn name(&self) -> String;

    /// Describes the module through `m`.
    fn build(&self, m: &ModuleBuilder<'_>);
}

/// The module elaborated for a name, and a copy of the block that made it.
type Maker = (ModuleId, Box<dyn Any>);

/// Design-wide state while elaborating: finished modules and who made them.
pub(crate) struct Elaborator {
    modules: RefCell<Vec<Module>>,
    made_by: RefCell<HashMap<String, Maker>>,
    in_progress: RefCell<Vec<String>>,
    diagnostics: RefCell<Vec<Diagnostic>>,
}

impl Elaborator {
    fn new() -> Self {
        Elaborator {
            modules: RefCell::new(Vec::new()),
            made_by: RefCell::new(HashMap::new()),
            in_progress: RefCell::new(Vec::new()),
            diagnostics: RefCell::new(Vec::new()),
        }
    }

    fn error(&self, code: Code, loc: Loc, module: String, message: String) {
        self.diagnostics.borrow_mut().push(Diagnostic {
            code,
            message,
            module,
            loc,
        });
    }

    fn build_module(
        &self,
        name: String,
        loc: Loc,
        build: impl FnOnce(&ModuleBuilder<'_>),
    ) -> Option<ModuleId> {
        if !super::module::is_user_identifier(&name) {
            self.error(
                Code::BadName,
                loc,
                name.clone(),
                format!("`{name}` is not usable as a module name: use a Verilog identifier"),
            );
            return None;
        }
        if self.in_progress.borrow().contains(&name) {
            let chain = self.in_progress.borrow().join(" -> ");
            self.error(
                Code::BadParameter,
                loc,
                name.clone(),
                format!("module `{name}` instantiates itself ({chain} -> {name})"),
            );
            return None;
        }
        self.in_progress.borrow_mut().push(name.clone());
        let mb = ModuleBuilder::new(self, name);
        build(&mb);
        mb.connect_pending_domains();
        let module = finish(mb.data.into_inner(), self);
        self.in_progress.borrow_mut().pop();
        let mut modules = self.modules.borrow_mut();
        modules.push(module);
        Some(ModuleId(modules.len() as u32 - 1))
    }

    /// Elaborates `block` unless an equal block already was; returns the module's id and a
    /// copy of its interface.
    pub(crate) fn elaborate_child<B: Block + PartialEq + Clone + 'static>(
        &self,
        block: &B,
        loc: Loc,
    ) -> Option<(ModuleId, Module)> {
        let name = block.name();
        let known = self.made_by.borrow().get(&name).map(|(id, maker)| {
            let same = maker.downcast_ref::<B>().is_some_and(|b| b == block);
            (*id, same)
        });
        let id = match known {
            Some((id, true)) => id,
            Some((_, false)) => {
                self.error(
                    Code::ModuleNameClash,
                    loc,
                    name.clone(),
                    format!(
                        "two different blocks are both named `{name}`: put every parameter that \
                         changes the hardware into `Block::name`"
                    ),
                );
                return None;
            }
            None => {
                let id = self.build_module(name.clone(), loc, |m| block.build(m))?;
                self.made_by
                    .borrow_mut()
                    .insert(name, (id, Box::new(block.clone())));
                id
            }
        };
        let modules = self.modules.borrow();
        let m = &modules[id.0 as usize];
        let interface = Module {
            name: m.name.clone(),
            ports: m.ports.clone(),
            nodes: Vec::new(),
            regs: Vec::new(),
            mems: Vec::new(),
            instances: Vec::new(),
            checks: Vec::new(),
            clocked: m.clocked,
            domains: m.domains.clone(),
            external: m.external.clone(),
            latencies: m.latencies.clone(),
        };
        Some((id, interface))
    }
}

/// Turns the builder's pending assignments into drivers and reports what can only be seen
/// once the whole module is described.
fn finish(mut d: super::module::ModuleData, elab: &Elaborator) -> Module {
    let name = d.module.name.clone();
    let fold = |module: &mut Module, base: Option<NodeId>, assigns: &[Assign], ty: Type| {
        let mut value = base;
        for a in assigns {
            value = Some(match (a.cond, value) {
                (None, _) | (Some(_), None) => a.value,
                (Some(c), Some(v)) => {
                    module.nodes.push(crate::ir::Node {
                        kind: NodeKind::Mux(c, a.value, v),
                        ty,
                        loc: a.loc,
                    });
                    NodeId(module.nodes.len() as u32 - 1)
                }
            });
        }
        value
    };
    for (wire, assigns) in std::mem::take(&mut d.wire_assigns) {
        if assigns.is_empty() {
            continue;
        }
        let ty = d.module.node(wire).ty;
        // The unconditional default comes first whatever its place in the code.
        let default = assigns.iter().find(|a| a.cond.is_none()).map(|a| a.value);
        let conditional: Vec<Assign> = assigns
            .iter()
            .copied()
            .filter(|a| a.cond.is_some())
            .collect();
        if default.is_none() {
            let wire_name = super::module::describe_node(&d.module, wire);
            d.diagnostics.push(Diagnostic {
                code: Code::Undriven,
                message: format!(
                    "`{wire_name}` is driven only under conditions, which would imply a latch; \
                     give it a default with `assign` as well"
                ),
                module: name.clone(),
                loc: assigns[0].loc,
            });
            continue;
        }
        let driver = fold(&mut d.module, default, &conditional, ty);
        if let NodeKind::Wire { driver: slot, .. } = &mut d.module.nodes[wire.0 as usize].kind {
            *slot = driver;
        }
    }
    for (r, (q, assigns)) in std::mem::take(&mut d.reg_assigns).into_iter().enumerate() {
        if assigns.is_empty() {
            continue;
        }
        let ty = d.module.regs[r].ty;
        let hold = if assigns[0].cond.is_some() {
            Some(q)
        } else {
            None
        };
        d.module.regs[r].next = fold(&mut d.module, hold, &assigns, ty);
    }
    elab.diagnostics.borrow_mut().append(&mut d.diagnostics);
    d.module
}

impl Design {
    /// Elaborates `top` and everything it instantiates, runs the checks and the default
    /// optimisation passes ([`passes::optimisations`]), and returns the design or every
    /// problem found.
    #[track_caller]
    pub fn elaborate<B: Block>(top: &B) -> Result<Design, HdlError> {
        let loc = Loc::caller();
        let mut design = Self::elaborate_unoptimized_at(top.name(), loc, |m| top.build(m))?;
        passes::run(&mut design, &passes::optimisations())?;
        Ok(design)
    }

    /// Elaborates and checks `top` without optimising it.
    #[track_caller]
    pub fn elaborate_unoptimized<B: Block>(top: &B) -> Result<Design, HdlError> {
        Self::elaborate_unoptimized_at(top.name(), Loc::caller(), |m| top.build(m))
    }

    /// Elaborates a one-off top module described by a closure, checked and optimised.
    #[track_caller]
    pub fn build(name: &str, build: impl FnOnce(&ModuleBuilder<'_>)) -> Result<Design, HdlError> {
        let mut design = Self::elaborate_unoptimized_at(name.to_string(), Loc::caller(), build)?;
        passes::run(&mut design, &passes::optimisations())?;
        Ok(design)
    }

    fn elaborate_unoptimized_at(
        name: String,
        loc: Loc,
        build: impl FnOnce(&ModuleBuilder<'_>),
    ) -> Result<Design, HdlError> {
        let elab = Elaborator::new();
        let top = elab.build_module(name, loc, build);
        HdlError::check(elab.diagnostics.into_inner())?;
        let modules = elab.modules.into_inner();
        let top = top.expect("a module that elaborated without diagnostics exists");
        let mut design = Design { modules, top };
        passes::run(&mut design, &passes::checks())?;
        Ok(design)
    }
}
