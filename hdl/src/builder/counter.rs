//! Counters: a register that counts modulo a number fixed at elaboration.

use super::module::{ModuleBuilder, Signal};
use super::reg::Reg;
use crate::diagnostic::Loc;
use crate::ir::Type;

/// A register counting `0, 1, ..., modulus - 1, 0, ...`, reset to 0. It holds unless told
/// otherwise; [`Counter::incr`] and [`Counter::clear`] follow the `when` scope they are
/// called in, like any register update. When the modulus is not a power of two the counter
/// asserts that it stays below it (`<name>_in_range`).
#[derive(Clone, Copy)]
pub struct Counter<'a> {
    reg: Reg<'a>,
    modulus: u64,
}

impl<'e> ModuleBuilder<'e> {
    /// A counter modulo `modulus` (at least 1), as wide as `modulus - 1` needs.
    #[track_caller]
    pub fn counter(&self, name: &str, modulus: u64) -> Counter<'_> {
        let loc = Loc::caller();
        if modulus == 0 {
            self.error(
                crate::diagnostic::Code::BadParameter,
                loc,
                format!("counter `{name}` counts modulo 0; the modulus starts at 1"),
            );
        }
        let width = (64 - modulus.saturating_sub(1).leading_zeros()).max(1);
        let reg = self.reg_at(name, Type::unsigned(width), loc).reset(0);
        let modulus = modulus.max(1);
        if modulus < 1u64.checked_shl(width).unwrap_or(0) {
            // The values past the modulus are unreachable; saying so lets a formal proof
            // by induction rule them out.
            let in_range = reg.q().lt(modulus as i64);
            self.check_at(
                crate::ir::CheckKind::Assert,
                &format!("{name}_in_range"),
                in_range,
                loc,
            );
        }
        Counter { reg, modulus }
    }
}

impl<'a> Counter<'a> {
    /// The count.
    pub fn q(&self) -> Signal<'a> {
        self.reg.q()
    }

    /// The underlying register.
    pub fn reg(&self) -> Reg<'a> {
        self.reg
    }

    /// High while the count is `modulus - 1`, the last before it wraps.
    #[track_caller]
    pub fn is_last(&self) -> Signal<'a> {
        self.reg.q().eq((self.modulus - 1) as i64)
    }

    /// Counts one up on this edge, wrapping from `modulus - 1` to 0.
    #[track_caller]
    pub fn incr(&self) {
        let q = self.reg.q();
        let up = q.wrapping_add(1);
        if self.modulus == 1u64.checked_shl(q.width()).unwrap_or(0) {
            self.reg.next(up);
        } else {
            self.reg.next(self.is_last().mux(0, up));
        }
    }

    /// Goes back to 0 on this edge.
    #[track_caller]
    pub fn clear(&self) {
        let q = self.reg.q();
        self.reg.next(q.m.lit(0, q.ty()));
    }
}
