//! [`FixedWeightDot`]: a dot product with weights baked into the logic.

use super::{element, AdderTree, ConstMul};
use crate::builder::{Block, ModuleBuilder};
use crate::ir::Type;

/// `y = sum_i weights[i] * x[i]` with every weight a constant: each nonzero weight is a
/// [`ConstMul`] instance (shifts and adds, one module per distinct weight value), zero weights
/// vanish, and the sum is a pipelined [`AdderTree`] over the nonzero products. This is one row
/// of an inference chip's fixed-weight multiplier array.
///
/// Ports: `x` (flat bus of `weights.len()` × `ty`), `in_valid`; `y` (exact), `out_valid`.
/// Latency: `ceil(log2(nonzero weights))` cycles. Throughput: one vector per cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedWeightDot {
    /// The weights; they must fit `weight_bits` as signed values.
    pub weights: Vec<i64>,
    /// Bits per weight (signed).
    pub weight_bits: u32,
    /// Type of each input element (signed).
    pub ty: Type,
    /// A name for this weight set, so different rows get different modules.
    pub label: String,
}

impl FixedWeightDot {
    fn tree(&self) -> AdderTree {
        let nonzero = self.weights.iter().filter(|w| **w != 0).count();
        AdderTree {
            inputs: nonzero.max(1),
            ty: Type::signed(self.ty.width + self.weight_bits),
        }
    }

    /// Cycles from `x` to `y`.
    pub fn latency(&self) -> u32 {
        self.tree().latency()
    }

    /// Type of `y`.
    pub fn output_type(&self) -> Type {
        self.tree().sum_type()
    }
}

impl Block for FixedWeightDot {
    fn name(&self) -> String {
        format!(
            "dot_{}_{}x{}w{}",
            self.label,
            self.weights.len(),
            self.ty.width,
            self.weight_bits
        )
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let n = self.weights.len() as u32;
        let x = m.input("x", Type::unsigned(n * self.ty.width));
        let in_valid = m.input("in_valid", Type::BOOL);
        let product_width = self.ty.width + self.weight_bits;
        let limit = 1i64 << (self.weight_bits - 1);
        if let Some(w) = self.weights.iter().find(|w| !(-limit..limit).contains(*w)) {
            m.bad_parameter(format!(
                "weight {w} does not fit in {} signed bits",
                self.weight_bits
            ));
        }
        let mut products = Vec::new();
        for (i, &w) in self.weights.iter().enumerate().filter(|(_, w)| **w != 0) {
            let mul = m.instance(
                &format!("u_mul{i}"),
                &ConstMul {
                    ty: self.ty,
                    constant: w,
                },
            );
            mul.input("x", element(x, i as u32, self.ty));
            products.push(mul.output("y").resize(product_width).as_unsigned());
        }
        if products.is_empty() {
            products.push(m.lit(0, Type::unsigned(product_width)));
        }
        let tree = m.instance("u_sum", &self.tree());
        products.reverse();
        tree.input("x", m.concat(&products));
        tree.input("in_valid", in_valid);
        m.output("y", tree.output("sum"));
        m.output("out_valid", tree.output("out_valid"));
        m.latency("out", "in", self.latency().into());
    }
}
