//! [`MultiplierArray`]: the fixed-weight multiplier array, `y = W x` with every weight a constant
//! in the logic.

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::FixedWeightDot;

use super::elementwise::delay;

/// `y = W x` for a quantised weight matrix hardwired into logic: one
/// [`FixedWeightDot`] per row, all rows in parallel (reuse factor 1). Rows with equal
/// weights share one module.
///
/// Ports: `x` (flat bus of `cols` × `ty`), `in_valid`; `y` (flat bus of `rows` exact sums),
/// `out_valid`.
/// Latency: `ceil(log2(nonzero weights in the densest row))` cycles; rows with fewer nonzero
/// weights are delayed to match. Throughput: one vector per cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiplierArray {
    /// Quantised weights, one vector per output row, each of `cols` values.
    pub weights: Vec<Vec<i64>>,
    /// Bits per weight (signed).
    pub weight_bits: u32,
    /// Type of each input element (signed).
    pub ty: Type,
    /// Distinguishes the modules of different weight matrices.
    pub label: String,
}

impl MultiplierArray {
    fn row(&self, r: usize) -> FixedWeightDot {
        FixedWeightDot {
            weights: self.weights[r].clone(),
            weight_bits: self.weight_bits,
            ty: self.ty,
            label: format!("{}_r{r}", self.label),
        }
    }

    /// Cycles from `x` to `y`.
    pub fn latency(&self) -> u32 {
        (0..self.weights.len())
            .map(|r| self.row(r).latency())
            .max()
            .unwrap_or(0)
    }

    /// Type of each element of `y`: wide enough for any row's exact sum.
    pub fn output_type(&self) -> Type {
        let cols = self.weights.first().map_or(1, Vec::len);
        let row = FixedWeightDot {
            weights: vec![1; cols],
            weight_bits: self.weight_bits,
            ty: self.ty,
            label: String::new(),
        };
        row.output_type()
    }
}

impl Block for MultiplierArray {
    fn name(&self) -> String {
        let cols = self.weights.first().map_or(0, Vec::len);
        format!(
            "matvec_{}_{}x{}w{}",
            self.label,
            self.weights.len(),
            cols,
            self.weight_bits
        )
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let cols = self.weights.first().map_or(0, Vec::len);
        if self.weights.is_empty() || cols == 0 || self.weights.iter().any(|r| r.len() != cols) {
            m.bad_parameter(format!(
                "`{}` needs a non-empty matrix whose rows all have the same length",
                self.label
            ));
            return;
        }
        let x = m.input("x", Type::unsigned(cols as u32 * self.ty.width));
        let in_valid = m.input("in_valid", Type::BOOL);
        let out_ty = self.output_type();
        let rows: Vec<_> = (0..self.weights.len())
            .map(|r| {
                let u = m.instance(&format!("u_row{r}"), &self.row(r));
                u.input("x", x);
                u.input("in_valid", in_valid);
                let latency = u.latency("out").map_or(0, |l| l.1);
                (u, latency)
            })
            .collect();
        let latency = rows.iter().map(|r| r.1).max().unwrap_or(0);
        let mut ys = Vec::with_capacity(self.weights.len());
        let mut valid = None;
        for (r, (u, row_latency)) in rows.into_iter().enumerate() {
            // Rows with fewer nonzero weights finish early: delay them to the common latency.
            let mut y = u.output("y").extend(out_ty.width);
            let mut v = u.output("out_valid");
            for stage in row_latency..latency {
                y = delay(m, &format!("row{r}_d{stage}"), y, false);
                v = delay(m, &format!("row{r}_v{stage}"), v, true);
            }
            ys.push(y.as_unsigned());
            if row_latency == latency && valid.is_none() {
                valid = Some(v);
            }
        }
        ys.reverse();
        m.output("y", m.concat(&ys));
        m.output("out_valid", valid.unwrap_or(in_valid));
        m.latency("out", "in", self.latency().into());
    }
}
