//! [`Linear`]: a quantised linear layer, `y = requant(W x)`, with the weights hardwired.

use hardwire_hdl::prelude::*;
use hardwire_model::fixed::FixedMatrix;

use super::elementwise::delay;
use super::{MultiplierArray, Requantize};

/// A quantised linear layer matching `hardwire_model::fixed::matvec_row` bit for bit: for each
/// group of `group_size` inputs a [`MultiplierArray`] computes exact sums with the weights in
/// logic, and a [`Requantize`] stage scales, rounds and saturates them to the output format.
/// For an affine grid the group matvec has one more row of ones: the group's input sum, which
/// the offset multipliers scale.
///
/// Ports: `x` (flat bus of `cols` × `input` signed), `in_valid`; `y` (flat bus of `rows` ×
/// `matrix.out_bits` signed), `out_valid`.
/// Latency: [`Linear::latency`] cycles (the adder trees' depth plus one).
/// Throughput: one vector per cycle (reuse factor 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    /// The matrix as the hardware holds it.
    pub matrix: FixedMatrix,
    /// Type of each input activation (signed).
    pub input: Type,
    /// Width the group accumulators wrap to.
    pub acc_bits: u32,
    /// Distinguishes the modules of different matrices (a Verilog identifier part).
    pub label: String,
}

impl Linear {
    fn group(&self, g: usize) -> MultiplierArray {
        let m = &self.matrix;
        let lo = g * m.group_size;
        let hi = (lo + m.group_size).min(m.cols);
        let mut weights: Vec<Vec<i64>> = (0..m.rows)
            .map(|r| {
                m.weights.row(r)[lo..hi]
                    .iter()
                    .map(|&w| i64::from(w))
                    .collect()
            })
            .collect();
        if !m.offset_mults.is_empty() {
            weights.push(vec![1; hi - lo]);
        }
        MultiplierArray {
            weights,
            weight_bits: m.weight_bits,
            ty: self.input,
            label: format!("{}_g{g}", self.label),
        }
    }

    fn groups(&self) -> Vec<MultiplierArray> {
        (0..self.matrix.groups_per_row())
            .map(|g| self.group(g))
            .collect()
    }

    /// Cycles from `x` to `y`.
    pub fn latency(&self) -> u32 {
        self.groups().iter().map(|g| g.latency()).max().unwrap_or(0) + 1
    }
}

impl Block for Linear {
    fn name(&self) -> String {
        format!(
            "linear_{}_{}x{}",
            self.label, self.matrix.rows, self.matrix.cols
        )
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let mat = &self.matrix;
        if mat.rows == 0
            || mat.cols == 0
            || mat.group_size == 0
            || mat.weights.len() != mat.rows * mat.cols
        {
            m.bad_parameter(format!(
                "`{}` is not a {}x{} matrix",
                self.label, mat.rows, mat.cols
            ));
            return;
        }
        let x = m.input("x", Type::unsigned(mat.cols as u32 * self.input.width));
        let in_valid = m.input("in_valid", Type::BOOL);
        let groups = self.groups();
        let sum_ty = groups
            .iter()
            .map(|g| g.output_type())
            .max_by_key(|t| t.width)
            .expect("a group");
        // Per group: its rows' sums, delayed to the slowest group's latency.
        let units: Vec<_> = groups
            .iter()
            .enumerate()
            .map(|(g, block)| {
                let w = self.input.width;
                let lo = (g * mat.group_size) as u32 * w;
                let hi = ((g * mat.group_size + block.weights[0].len()) as u32) * w - 1;
                let u = m.instance(&format!("u_group{g}"), block);
                u.input(
                    "x",
                    if lo == 0 && hi + 1 == x.width() {
                        x
                    } else {
                        x.bits(hi, lo)
                    },
                );
                u.input("in_valid", in_valid);
                let latency = u.latency("out").map_or(0, |l| l.1);
                (u, latency)
            })
            .collect();
        let latency = units.iter().map(|u| u.1).max().unwrap_or(0);
        let mut per_group: Vec<Vec<Signal<'_>>> = Vec::new();
        let mut valid = in_valid;
        for (g, ((u, group_latency), block)) in units.into_iter().zip(&groups).enumerate() {
            let mut y = u.output("y");
            let mut v = u.output("out_valid");
            for stage in group_latency..latency {
                y = delay(m, &format!("g{g}_d{stage}"), y, false);
                v = delay(m, &format!("g{g}_v{stage}"), v, true);
            }
            let ty = block.output_type();
            per_group.push(
                (0..block.weights.len() as u32)
                    .map(|r| {
                        hardwire_hdl::primitives::element(y, r, ty)
                            .extend(sum_ty.width)
                            .as_unsigned()
                    })
                    .collect(),
            );
            if g == 0 {
                valid = v;
            }
        }
        // Row-major (row, group) order, then each group's input sum for an affine grid; the
        // first element in the low bits.
        let mut sums = Vec::with_capacity((mat.rows + 1) * per_group.len());
        for r in 0..mat.rows {
            for group in &per_group {
                sums.push(group[r]);
            }
        }
        if !mat.offset_mults.is_empty() {
            sums.extend(per_group.iter().map(|group| group[mat.rows]));
        }
        sums.reverse();
        let rq = Requantize {
            rows: mat.rows,
            groups: per_group.len(),
            sum_ty,
            acc_bits: self.acc_bits,
            mults: mat.mults.to_vec(),
            shifts: mat.shifts.clone(),
            offset_mults: mat.offset_mults.to_vec(),
            out_bits: mat.out_bits,
            label: self.label.clone(),
        };
        let u = m.instance("u_requant", &rq);
        u.input("sums", m.concat(&sums));
        u.input("in_valid", valid);
        m.output("y", u.output("y"));
        m.output("out_valid", u.output("out_valid"));
        m.latency("out", "in", self.latency().into());
    }
}
