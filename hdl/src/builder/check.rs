//! Assertions, assumptions and covers: properties of a module that the native simulator
//! checks on every edge and that yosys' formal front end and SymbiYosys prove.
//!
//! ```
//! use hardwire_hdl::prelude::*;
//!
//! let design = Design::build("mod10", |m| {
//!     let count = m.counter("count", 10);
//!     count.incr();
//!     m.assert("count_below_10", count.q().lt(10));
//!     m.when(count.is_last(), || m.cover("wraps", m.lit(1, Type::BOOL)));
//!     m.output("q", count.q());
//! })
//! .unwrap();
//! // Two here, and the counter's own `count_in_range`.
//! assert_eq!(design.top_module().checks.len(), 3);
//! ```

use super::module::{ModuleBuilder, Signal};
use crate::diagnostic::Loc;
use crate::ir::{BinaryOp, Check, CheckKind, NodeKind, Type, UnaryOp};

impl<'e> ModuleBuilder<'e> {
    /// Claims that `cond` is high on every clock edge out of reset (inside `when`: on every
    /// such edge where the scope's condition holds). The simulator reports the first edge
    /// where it is not; a formal proof shows there is none.
    #[track_caller]
    pub fn assert(&self, name: &str, cond: Signal<'_>) {
        self.check_at(CheckKind::Assert, name, cond, Loc::caller());
    }

    /// Restricts a formal proof to inputs that keep `cond` high (inside `when`: where the
    /// scope's condition holds). In simulation a violated assumption is reported like an
    /// assertion: the testbench broke the contract.
    #[track_caller]
    pub fn assume(&self, name: &str, cond: Signal<'_>) {
        self.check_at(CheckKind::Assume, name, cond, Loc::caller());
    }

    /// Claims that `cond` can be high out of reset (inside `when`: together with the scope's
    /// condition). A formal cover run finds a trace that reaches it; the simulator counts
    /// the edges where it was.
    #[track_caller]
    pub fn cover(&self, name: &str, cond: Signal<'_>) {
        self.check_at(CheckKind::Cover, name, cond, Loc::caller());
    }

    pub(super) fn check_at(&self, kind: CheckKind, name: &str, cond: Signal<'_>, loc: Loc) {
        self.claim_name(name, "a check", loc);
        self.check_bool(
            &format!("the condition of {} `{name}`", kind.keyword()),
            cond,
            loc,
        );
        let scope = self.data.borrow().scope.last().copied();
        let cond = match (kind, scope) {
            (_, None) => cond.id,
            // Outside the scope the claim holds vacuously.
            (CheckKind::Assert | CheckKind::Assume, Some(s)) => {
                let outside = self.push(NodeKind::Unary(UnaryOp::Not, s), Type::BOOL, loc);
                self.push(
                    NodeKind::Binary(BinaryOp::Or, outside, cond.id),
                    Type::BOOL,
                    loc,
                )
            }
            (CheckKind::Cover, Some(s)) => {
                self.push(NodeKind::Binary(BinaryOp::And, s, cond.id), Type::BOOL, loc)
            }
        };
        let domain = self.use_domain();
        self.data.borrow_mut().module.checks.push(Check {
            kind,
            name: name.to_string(),
            domain,
            cond,
            loc,
        });
    }
}
