//! [`Mac`]: a multiply-accumulate unit.

use crate::builder::{Block, ModuleBuilder};
use crate::ir::Type;

/// `acc <= (clear ? 0 : acc) + a * b` on cycles where `en` is high; `clear` without `en`
/// just clears. The accumulator wraps at `acc_width` bits (size it for the longest sum).
///
/// Ports: `a` (`ty_a`), `b` (`ty_b`), `en`, `clear`; `acc` (`acc_width` bits, the
/// signedness of the operands).
/// Latency: 1 cycle. Throughput: one product per cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mac {
    /// Type of `a`.
    pub ty_a: Type,
    /// Type of `b` (same signedness as `a`).
    pub ty_b: Type,
    /// Width of the accumulator.
    pub acc_width: u32,
}

impl Block for Mac {
    fn name(&self) -> String {
        let s = if self.ty_a.signed { "s" } else { "u" };
        format!(
            "mac_{s}{}x{}_acc{}",
            self.ty_a.width, self.ty_b.width, self.acc_width
        )
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let a = m.input("a", self.ty_a);
        let b = m.input("b", self.ty_b);
        let en = m.input("en", Type::BOOL);
        let clear = m.input("clear", Type::BOOL);
        let ty = self.ty_a.with_width(self.acc_width);
        let acc = m.reg("acc_q", ty).reset(0);
        let zero = m.lit(0, ty);
        let base = clear.mux(zero, acc.q());
        let product = a * b;
        let width = self.acc_width.max(product.width());
        let sum = (base.extend(width) + product.extend(width)).trunc(self.acc_width);
        acc.next_when(clear, zero);
        acc.next_when(en, sum);
        m.output("acc", acc.q());
    }
}
