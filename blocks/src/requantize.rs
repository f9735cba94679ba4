//! [`Requantize`]: group sums of a matrix-vector product back to an activation format.

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::element;

/// Turns the exact group sums of each output row into one activation, the way the golden
/// model's `hardwire_model::fixed::matvec_row` does: each group sum wraps to `acc_bits` (as
/// the golden model's accumulator does), is multiplied by its group's fixed multiplier (a
/// constant: shifts and adds), the products are added, and the total is shifted right by the
/// row's shift, rounding half up, and saturated to `out_bits`. For an affine weight grid, each
/// group's input sum (wrapped the same way) times the row's offset multiplier joins the total.
///
/// Ports: `sums` (flat bus of `rows` × `groups` values of `sum_ty`, row-major, followed by the
/// `groups` input sums when there are offset multipliers), `in_valid`;
/// `y` (flat bus of `rows` × `out_bits` signed), `out_valid`.
/// Latency: 1 cycle. Throughput: one vector per cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requantize {
    /// Output rows.
    pub rows: usize,
    /// Groups per row.
    pub groups: usize,
    /// Type of each incoming group sum (signed).
    pub sum_ty: Type,
    /// Width the group sums wrap to.
    pub acc_bits: u32,
    /// Per (row, group) non-negative multipliers, row-major.
    pub mults: Vec<i32>,
    /// Per-row right shifts.
    pub shifts: Vec<u32>,
    /// Per (row, group) offset multipliers for an affine grid; empty for a symmetric one.
    pub offset_mults: Vec<i32>,
    /// Width the outputs saturate to.
    pub out_bits: u32,
    /// Distinguishes the modules of different matrices.
    pub label: String,
}

impl Block for Requantize {
    fn name(&self) -> String {
        format!("requant_{}_{}x{}", self.label, self.rows, self.groups)
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let affine = !self.offset_mults.is_empty();
        if self.mults.len() != self.rows * self.groups
            || self.shifts.len() != self.rows
            || (affine && self.offset_mults.len() != self.mults.len())
        {
            m.bad_parameter(format!(
                "`{}` has {} rows of {} groups but {} multipliers and {} shifts",
                self.label,
                self.rows,
                self.groups,
                self.mults.len(),
                self.shifts.len()
            ));
            return;
        }
        let n = (self.rows * self.groups + if affine { self.groups } else { 0 }) as u32;
        let sums = m.input("sums", Type::unsigned(n * self.sum_ty.width));
        let in_valid = m.input("in_valid", Type::BOOL);
        let mut ys = Vec::with_capacity(self.rows);
        for r in 0..self.rows {
            let mut total: Option<Signal<'_>> = None;
            for g in 0..self.groups {
                let i = r * self.groups + g;
                let mut terms = vec![(i, self.mults[i])];
                if affine {
                    terms.push((self.rows * self.groups + g, self.offset_mults[i]));
                }
                for (k, mult) in terms {
                    let s = element(sums, k as u32, self.sum_ty);
                    let acc = if s.width() > self.acc_bits {
                        s.trunc(self.acc_bits).as_signed()
                    } else {
                        s
                    };
                    let p = acc * i64::from(mult);
                    total = Some(match total {
                        None => p,
                        Some(t) => t + p,
                    });
                }
            }
            let total = total.expect("at least one group");
            let shift = self.shifts[r];
            let rounded = if shift == 0 {
                total
            } else {
                (total + (1i64 << (shift - 1))) >> shift
            };
            let y = m.reg(&format!("y{r}"), Type::signed(self.out_bits));
            y.next(rounded.saturate(self.out_bits));
            ys.push(y.q().as_unsigned());
        }
        ys.reverse();
        m.output("y", m.concat(&ys));
        let valid = m.reg("valid", Type::BOOL).reset(0);
        valid.next(in_valid);
        m.output("out_valid", valid.q());
        m.latency("out", "in", 1);
    }
}
