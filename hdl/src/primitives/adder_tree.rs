//! [`AdderTree`]: the sum of a vector, one pipeline register per level.

use super::{clog2, element};
use crate::builder::{Block, ModuleBuilder, Signal};
use crate::ir::Type;

/// Sums `inputs` values of type `ty`, pairing them level by level with a register after each
/// level.
///
/// Ports: `x` (flat bus of `inputs` × `ty`), `in_valid`; `sum` (`ty` widened by
/// `ceil(log2(inputs))` bits, exact), `out_valid`.
/// Latency: `ceil(log2(inputs))` cycles (0 for one input: then it is a wire).
/// Throughput: one vector per cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdderTree {
    /// Number of values summed (at least 1).
    pub inputs: usize,
    /// Type of each value.
    pub ty: Type,
}

impl AdderTree {
    /// Cycles from a vector at `x` to its sum at `sum`.
    pub fn latency(&self) -> u32 {
        clog2(self.inputs)
    }

    /// Type of the sum.
    pub fn sum_type(&self) -> Type {
        self.ty.with_width(self.ty.width + clog2(self.inputs))
    }
}

impl Block for AdderTree {
    fn name(&self) -> String {
        let s = if self.ty.signed { "s" } else { "u" };
        format!("adder_tree_{}x{s}{}", self.inputs, self.ty.width)
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let x = m.input("x", Type::unsigned(self.inputs as u32 * self.ty.width));
        let mut valid = m.input("in_valid", Type::BOOL);
        let mut level: Vec<Signal<'_>> = (0..self.inputs as u32)
            .map(|i| element(x, i, self.ty))
            .collect();
        let mut depth = 0;
        while level.len() > 1 {
            depth += 1;
            let width = level[0].width() + 1;
            let sums: Vec<Signal<'_>> = level
                .chunks(2)
                .map(|pair| match pair {
                    [a, b] => *a + *b,
                    [a] => a.extend(width),
                    _ => unreachable!("chunks of two"),
                })
                .collect();
            level = sums
                .into_iter()
                .enumerate()
                .map(|(i, s)| {
                    let r = m.reg(&format!("l{depth}_{i}"), s.ty());
                    r.next(s);
                    r.q()
                })
                .collect();
            let v = m.reg(&format!("valid{depth}"), Type::BOOL).reset(0);
            v.next(valid);
            valid = v.q();
        }
        m.output("sum", level[0].extend(self.sum_type().width));
        m.output("out_valid", valid);
        m.latency("out", "in", self.latency().into());
    }
}
