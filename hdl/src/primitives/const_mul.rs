//! [`ConstMul`]: a product with a fixed constant, as shifts and adds.

use crate::builder::min_width;
use crate::builder::{Block, ModuleBuilder};
use crate::ir::Type;

/// `y = x * constant`, exact. After the `csd-expand` pass this is one shift per nonzero
/// canonical-signed-digit of the constant and an adder tree: zero costs nothing and a power
/// of two is a wire.
///
/// Ports: `x` (`ty`); `y` (`ty` widened by the constant's width).
/// Latency: 0 (combinational). Throughput: one product per cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstMul {
    /// Type of `x`.
    pub ty: Type,
    /// The constant (negative only for signed `ty`).
    pub constant: i64,
}

impl ConstMul {
    /// Width of the constant as an operand of `ty`'s signedness.
    pub fn constant_width(&self) -> u32 {
        min_width(self.constant, self.ty.signed)
    }
}

impl Block for ConstMul {
    fn name(&self) -> String {
        let s = if self.ty.signed { "s" } else { "u" };
        let c = if self.constant < 0 {
            format!("m{}", self.constant.unsigned_abs())
        } else {
            self.constant.to_string()
        };
        format!("const_mul_{s}{}_x{c}", self.ty.width)
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let x = m.input("x", self.ty);
        m.output("y", x * self.constant);
    }
}
