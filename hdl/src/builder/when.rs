//! `when` / `elsewhen` / `otherwise`: conditional scopes in which register updates, wire
//! assignments, memory writes and checks apply only where the scope's condition holds.
//!
//! ```
//! use hardwire_hdl::prelude::*;
//!
//! let design = Design::build("updown", |m| {
//!     let (up, down) = (m.input("up", Type::BOOL), m.input("down", Type::BOOL));
//!     let count = m.reg("count", Type::unsigned(4)).reset(0);
//!     m.when(up, || count.next(count.q().wrapping_add(1)))
//!         .elsewhen(down, || count.next(count.q().wrapping_sub(1)))
//!         .otherwise(|| {});
//!     m.output("q", count.q());
//! })
//! .unwrap();
//! # assert_eq!(design.top_module().regs.len(), 1);
//! ```
//!
//! The branches of one chain exclude each other, so the order of statements no longer decides
//! which update wins between them. Inside one branch, later statements still take priority
//! over earlier ones (last connect wins, as in Chisel and Amaranth), so a default update
//! followed by a `when` override reads top to bottom.

use super::module::{ModuleBuilder, Signal};
use crate::diagnostic::Loc;

/// A `when` chain, continued with [`When::elsewhen`] and ended with [`When::otherwise`] (or
/// just dropped when no branch is left). Bodies may return a value (another chain, say); it
/// is ignored.
pub struct When<'a> {
    m: &'a ModuleBuilder<'a>,
    /// The scope the chain was opened in (none: the module's top level).
    parent: Option<Signal<'a>>,
    /// Whether an earlier branch of the chain holds.
    taken: Signal<'a>,
}

impl<'e> ModuleBuilder<'e> {
    /// Runs `body` in a scope where `cond` holds: every [`Reg::next`](super::Reg::next),
    /// [`assign`](ModuleBuilder::assign), memory write and check made in it applies only when
    /// `cond` (and every enclosing scope's condition) is high.
    #[track_caller]
    pub fn when<'a, R>(&'a self, cond: Signal<'a>, body: impl FnOnce() -> R) -> When<'a> {
        let loc = Loc::caller();
        self.check_bool("the condition of `when`", cond, loc);
        let parent = self.current_scope();
        self.in_scope(parent.map_or(cond, |p| p & cond), body);
        When {
            m: self,
            parent,
            taken: cond,
        }
    }

    fn current_scope(&self) -> Option<Signal<'_>> {
        let id = self.data.borrow().scope.last().copied();
        id.map(|id| Signal {
            m: self,
            id,
            ty: crate::ir::Type::BOOL,
        })
    }

    fn in_scope<R>(&self, active: Signal<'_>, body: impl FnOnce() -> R) {
        self.data.borrow_mut().scope.push(active.id);
        let _ = body();
        self.data.borrow_mut().scope.pop();
    }
}

impl<'a> When<'a> {
    /// A further branch: runs `body` where no earlier branch's condition holds and `cond` does.
    #[track_caller]
    pub fn elsewhen<R>(self, cond: Signal<'a>, body: impl FnOnce() -> R) -> When<'a> {
        let loc = Loc::caller();
        self.m.check_bool("the condition of `elsewhen`", cond, loc);
        let here = !self.taken & cond;
        self.m
            .in_scope(self.parent.map_or(here, |p| p & here), body);
        When {
            taken: self.taken | cond,
            ..self
        }
    }

    /// The last branch: runs `body` where no earlier branch's condition holds.
    #[track_caller]
    pub fn otherwise<R>(self, body: impl FnOnce() -> R) {
        let here = !self.taken;
        self.m
            .in_scope(self.parent.map_or(here, |p| p & here), body);
    }
}
