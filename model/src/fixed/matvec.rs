//! Matrix-vector product with requantisation: integer weights times activations, accumulated
//! per group in a wrapping `acc_bits` accumulator, each group accumulator times its integer
//! multiplier, the sum shifted back to an activation.

use super::packed::PackedWeights;
use super::shared::Shared;
use super::split_dot::{self, SplitInput};
use super::team::{for_each_mut, threads};
use super::{round_shift_i128, saturate, wrap, Format};
use crate::quant::QuantizedMatrix;

/// A real scale as an integer multiplier and a right shift: `scale ≈ mult * 2^-shift`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requant {
    /// Non-negative multiplier, below `2^(mult_bits - 1)`.
    pub mult: i32,
    /// Right shift applied after multiplying.
    pub shift: u32,
}

impl Requant {
    /// The multiplier with the most significant bits in `mult_bits` (signed) for `scale > 0`:
    /// `scale * 2^shift` lies in `[2^(mult_bits - 2), 2^(mult_bits - 1))` and is rounded, so the
    /// realised scale is within half a step (`2^-shift`) of `scale`, except just below a power
    /// of two, where the rounding reaches `2^(mult_bits - 1)` and the multiplier is clamped to
    /// the largest it can hold: within one step there. (One shift less would keep half a step
    /// for this value but double the step of every other group of the row.)
    pub fn from_scale(scale: f64, mult_bits: u32) -> Self {
        if scale <= 0.0 || !scale.is_finite() {
            return Requant { mult: 0, shift: 0 };
        }
        let shift = ((mult_bits as i32 - 2) - scale.log2().floor() as i32).clamp(0, 62) as u32;
        Requant {
            mult: mult_from(scale, shift, mult_bits),
            shift,
        }
    }

    /// `round_shift(x * mult, shift)`, saturated to `bits`.
    pub fn apply(self, x: i64, bits: u32) -> i32 {
        // A 64- by 32-bit product is below 2^95: the multiply is exact, and needs no check.
        let product = (x as i128).wrapping_mul(self.mult as i128);
        saturate(round_shift_i128(product, self.shift) as i64, bits)
    }
}

fn mult_from(scale: f64, shift: u32, mult_bits: u32) -> i32 {
    let max = (1i64 << (mult_bits - 1)) - 1;
    ((scale * (shift as f64).exp2()).round() as i64).clamp(-max, max) as i32
}

/// A weight matrix as the hardware holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedMatrix {
    /// Output channels.
    pub rows: usize,
    /// Inputs.
    pub cols: usize,
    /// Inputs sharing one multiplier.
    pub group_size: usize,
    /// Weight width in bits.
    pub weight_bits: u32,
    /// Integer weights, row-major, packed at their width.
    pub weights: PackedWeights,
    /// Per (row, group) multipliers, row-major; they share the row's shift. Shared, like the
    /// weights: a clone (a hardware block, a ROM image) refers to the same multipliers.
    pub mults: Shared<i32>,
    /// Per-row right shift.
    pub shifts: Vec<u32>,
    /// Width the outputs saturate to.
    pub out_bits: u32,
    /// Per (row, group) signed multipliers of the group's input sum, for an affine weight grid
    /// (`w = q * scale + offset`); empty for a symmetric grid. Shared, as `mults`.
    pub offset_mults: Shared<i32>,
}

impl FixedMatrix {
    /// The hardware form of a quantised matrix taking activations in format `input` to format
    /// `output`: the format change `2^(output.frac - input.frac)` is folded into the scales, and
    /// each row's shift is set by its largest group scale so that multiplier has `mult_bits`
    /// significant bits.
    pub fn from_quantized(
        q: &QuantizedMatrix,
        mult_bits: u32,
        input: Format,
        output: Format,
    ) -> Self {
        let fold = (output.frac as f64 - input.frac as f64).exp2();
        let groups = q.groups_per_row();
        let mut mults = Vec::with_capacity(q.rows * groups);
        let mut shifts = Vec::with_capacity(q.rows);
        let affine = q.offsets.iter().any(|&o| o != 0.0);
        let mut offset_mults = Vec::new();
        for r in 0..q.rows {
            let s = &q.scales[r * groups..(r + 1) * groups];
            let o = &q.offsets[r * groups..(r + 1) * groups];
            let top = s
                .iter()
                .chain(if affine { o } else { &[] })
                .fold(0f32, |a, &b| a.max(b.abs())) as f64
                * fold;
            let shift = Requant::from_scale(top, mult_bits).shift;
            shifts.push(shift);
            mults.extend(
                s.iter()
                    .map(|&x| mult_from(x as f64 * fold, shift, mult_bits)),
            );
            if affine {
                offset_mults.extend(
                    o.iter()
                        .map(|&x| mult_from(x as f64 * fold, shift, mult_bits)),
                );
            }
        }
        FixedMatrix {
            rows: q.rows,
            cols: q.cols,
            group_size: q.group_size,
            weight_bits: q.spec.bits,
            weights: PackedWeights::new(q.rows, q.cols, &q.q),
            mults: mults.into(),
            shifts,
            out_bits: output.bits,
            offset_mults: offset_mults.into(),
        }
    }

    /// Drops the mapped pages of the weights and multipliers from the process's resident set
    /// ([`PackedWeights::release`]): what streams over a whole model (ROM images, stacking rows
    /// for hardware, the scale report) calls this when done with a matrix, so it holds one
    /// matrix's pages at a time rather than the model's.
    pub fn release(&self) {
        self.weights.release();
        self.mults.release();
        self.offset_mults.release();
    }

    /// Groups per row.
    pub fn groups_per_row(&self) -> usize {
        self.cols.div_ceil(self.group_size)
    }

    /// The realised scale of weight `(r, c)` (format change included).
    pub fn scale(&self, r: usize, c: usize) -> f64 {
        self.mults[r * self.groups_per_row() + c / self.group_size] as f64
            * (-(self.shifts[r] as f64)).exp2()
    }

    /// The realised offset of weight `(r, c)` (0 for a symmetric grid).
    pub fn offset(&self, r: usize, c: usize) -> f64 {
        if self.offset_mults.is_empty() {
            return 0.0;
        }
        self.offset_mults[r * self.groups_per_row() + c / self.group_size] as f64
            * (-(self.shifts[r] as f64)).exp2()
    }
}

/// Exact `Σ w·x` (products fit 31 bits; the sum is exact in 64).
#[inline]
fn dot_i8(w: &[i8], x: &[i32]) -> i64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the feature was just detected.
            return unsafe { dot_i8_avx2(w, x) };
        }
    }
    dot_i8_portable(w, x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_i8_avx2(w: &[i8], x: &[i32]) -> i64 {
    dot_i8_portable(w, x)
}

#[inline(always)]
fn dot_i8_portable(w: &[i8], x: &[i32]) -> i64 {
    let mut acc = [0i64; 8];
    let cw = w.chunks_exact(8);
    let cx = x.chunks_exact(8);
    let (rw, rx) = (cw.remainder(), cx.remainder());
    for (a, b) in cw.zip(cx) {
        for j in 0..8 {
            acc[j] += (a[j] as i32 * b[j]) as i64;
        }
    }
    let tail: i64 = rw
        .iter()
        .zip(rx)
        .map(|(&a, &b)| (a as i32 * b) as i64)
        .sum();
    acc.iter().sum::<i64>() + tail
}

/// One output channel: `sat(round_shift(Σ_g wrap(Σ_{c∈g} w[r][c] x[c]) * mult[r][g], shift[r]))`,
/// plus `wrap(Σ_{c∈g} x[c]) * offset_mult[r][g]` inside the sum for an affine grid.
///
/// Products fit 31 bits (inputs at most 24 bits, weights 8); accumulators wrap at `acc_bits`;
/// the multiplied group sums need `acc_bits + mult_bits + log2(groups)` bits; the result
/// saturates to `m.out_bits`.
pub fn matvec_row(m: &FixedMatrix, r: usize, x: &[i32], acc_bits: u32) -> i32 {
    let groups = m.groups_per_row();
    let row = m.weights.row(r);
    let mut sum: i128 = 0;
    for g in 0..groups {
        let lo = g * m.group_size;
        let hi = (lo + m.group_size).min(m.cols);
        let acc = wrap(dot_i8(&row[lo..hi], &x[lo..hi]), acc_bits);
        sum += acc as i128 * m.mults[r * groups + g] as i128;
        if !m.offset_mults.is_empty() {
            // Affine grid: the offset times the group's input sum (shared by all rows).
            let sx = wrap(x[lo..hi].iter().map(|&v| v as i64).sum(), acc_bits);
            sum += sx as i128 * m.offset_mults[r * groups + g] as i128;
        }
    }
    saturate(round_shift_i128(sum, m.shifts[r]) as i64, m.out_bits)
}

/// Matrix-vector product with requantisation (see [`matvec_row`] for the contract of each
/// output). Latency in hardware depends on the reuse factor; the result does not. Computed by
/// the fast kernels (`fixed/digit_dot.rs`, `fixed/split_dot.rs`) when the inputs allow it, else
/// by [`matvec_row`] itself.
pub fn matvec(m: &FixedMatrix, x: &[i32], acc_bits: u32) -> Vec<i32> {
    let [y] = matvecs([m], x, acc_bits);
    y
}

/// The fewest rows a task of a parallel product takes: the tail of a job, where the threads
/// should finish together.
const MIN_ROWS_PER_TASK: usize = 16;

/// A job's tasks over `rows[k]` rows of each matrix `k`, in order, as `(k, first row, rows)`:
/// guided, each a `1 / (2·threads)` share of the rows left (at least [`MIN_ROWS_PER_TASK`]),
/// so the first tasks are long and the last short. Starting a task costs the kernel its warm
/// caches and prefetch streams: SmolLM2 decoded 30% slower with tasks of 16 rows than of 256,
/// and tasks of 256 rows alone leave one thread idle at the end of a job.
fn guided_tasks(rows: &[usize], threads: usize) -> Vec<(usize, usize, usize)> {
    let mut left: usize = rows.iter().sum();
    let mut tasks = Vec::new();
    for (k, &n) in rows.iter().enumerate() {
        let mut first = 0;
        while first < n {
            let take = (left / (2 * threads)).max(MIN_ROWS_PER_TASK).min(n - first);
            tasks.push((k, first, take));
            (first, left) = (first + take, left - take);
        }
    }
    tasks
}

/// `[matvec(m, x, acc_bits) for m in ms]` as one parallel job: the input is prepared for the
/// kernels once per group size, and the threads are woken once (Q, K and V, or gate and up,
/// take the same input).
pub fn matvecs<const N: usize>(ms: [&FixedMatrix; N], x: &[i32], acc_bits: u32) -> [Vec<i32>; N] {
    for m in ms {
        assert_eq!(
            x.len(),
            m.cols,
            "matvec: input has {} values, the matrix {} columns",
            x.len(),
            m.cols
        );
    }
    // The input split for each matrix, shared by those with the same group size.
    let first_of: [usize; N] = std::array::from_fn(|k| {
        (0..k)
            .find(|&j| ms[j].group_size == ms[k].group_size)
            .unwrap_or(k)
    });
    let splits: Vec<Option<SplitInput>> = (0..N)
        .map(|k| {
            (first_of[k] == k)
                .then(|| SplitInput::new(x, ms[k].group_size, acc_bits))
                .flatten()
        })
        .collect();
    let mut outs = ms.map(|m| vec![0i32; m.rows]);
    let mut rest: Vec<&mut [i32]> = outs.iter_mut().map(|y| &mut y[..]).collect();
    let mut tasks: Vec<(usize, usize, &mut [i32])> = guided_tasks(&ms.map(|m| m.rows), threads())
        .into_iter()
        .map(|(k, first, n)| {
            let (o, tail) = std::mem::take(&mut rest[k]).split_at_mut(n);
            rest[k] = tail;
            (k, first, o)
        })
        .collect();
    for_each_mut(&mut tasks, |(k, first, o)| {
        let (k, first, m) = (*k, *first, ms[*k]);
        match &splits[first_of[k]] {
            Some(s) => split_dot::rows(m, first, o, s, acc_bits),
            None => o
                .iter_mut()
                .enumerate()
                .for_each(|(i, y)| *y = matvec_row(m, first + i, x, acc_bits)),
        }
    });
    outs
}

/// Row `token` of an embedding matrix as activations: `sat(round_shift(q * mult + offset_mult, shift))`, the
/// matrix built with an input format of 0 fractional bits (so `mult * 2^-shift` is the scale in
/// output units).
pub fn embed_lookup(m: &FixedMatrix, token: usize) -> Vec<i32> {
    let groups = m.groups_per_row();
    let row = m.weights.row(token);
    (0..m.cols)
        .map(|c| {
            let q = row[c] as i64;
            let g = token * groups + c / m.group_size;
            let offset = m.offset_mults.get(g).map_or(0, |&o| o as i64);
            let v = q * m.mults[g] as i64 + offset;
            saturate(
                round_shift_i128(v as i128, m.shifts[token]) as i64,
                m.out_bits,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{QuantSpec, QuantizedMatrix};
    use crate::weights::Matrix;
    use proptest::prelude::*;

    proptest! {
        /// Guided tasks cover every row of every matrix once, in order, none shorter than the
        /// minimum unless its matrix ends there, and they never grow along a matrix.
        #[test]
        fn guided_tasks_cover_every_row_once(
            rows in proptest::collection::vec(0usize..3000, 1..4),
            threads in 1usize..9,
        ) {
            let tasks = guided_tasks(&rows, threads);
            let mut next = vec![0; rows.len()];
            let mut last: Option<(usize, usize)> = None;
            for &(k, first, n) in &tasks {
                prop_assert!(n > 0 && first == next[k] && first + n <= rows[k]);
                prop_assert!(next[..k].iter().zip(&rows).all(|(a, b)| a == b), "out of order");
                prop_assert!(n >= MIN_ROWS_PER_TASK || first + n == rows[k]);
                if let Some((_, ln)) = last.filter(|&(lk, _)| lk == k) {
                    prop_assert!(n <= ln, "grew: {} after {}", n, ln);
                }
                next[k] += n;
                last = Some((k, n));
            }
            prop_assert_eq!(next, rows);
        }

        /// Against the f64 product of the same integer weights, realised scales
        /// (`mult * 2^-shift`) and inputs, the error is the final rounding: half a step. The
        /// realised scales are within half a multiplier step of the quantiser's.
        #[test]
        fn matvec_matches_f64_ideal(
            w in proptest::collection::vec(-1.0f32..1.0, 96),
            x in proptest::collection::vec(-4000i32..4000, 24),
            group in prop_oneof![Just(None), Just(Some(8usize))],
            bits in 2u32..=8,
            offset in any::<bool>(),
        ) {
            let (input, output) = (Format { bits: 20, frac: 12 }, Format { bits: 24, frac: 7 });
            let m = Matrix { rows: 4, cols: 24, data: w };
            let q = QuantizedMatrix::quantize(&m, QuantSpec { bits, group_size: group, offset });
            let f = FixedMatrix::from_quantized(&q, 16, input, output);
            let y = matvec(&f, &x, 40);
            let fold = 2f64.powi(7 - 12);
            for r in 0..4 {
                // In output units: q * realised scale * x_int.
                let exact: f64 = (0..24)
                    .map(|c| (q.q[r * 24 + c] as f64 * f.scale(r, c) + f.offset(r, c)) * x[c] as f64)
                    .sum();
                prop_assert!((y[r] as f64 - exact).abs() <= 0.5 + 1e-9, "row {r}: {} vs {exact}", y[r]);
                for c in 0..24 {
                    let step = (-(f.shifts[r] as f64)).exp2();
                    let want = q.scale(r, c) as f64 * fold;
                    // Half a step, or a whole one where the row's largest scale rounded up to
                    // 2^(mult_bits - 1) and was clamped (see `Requant::from_scale`).
                    let mult = f.mults[r * f.groups_per_row() + c / f.group_size];
                    let tol = if mult.abs() == i16::MAX as i32 { step } else { step / 2.0 };
                    prop_assert!(
                        (f.scale(r, c) - want).abs() <= tol + want * 1e-7,
                        "row {r} col {c}: scale {} for {want} (mult {mult}, step {step})",
                        f.scale(r, c)
                    );
                    let want_o = q.offset(r, c) as f64 * fold;
                    let clamped = f.offset_mults.get(r * f.groups_per_row() + c / f.group_size)
                        .is_some_and(|m| m.abs() == i16::MAX as i32);
                    let tol = if clamped { step } else { step / 2.0 };
                    prop_assert!((f.offset(r, c) - want_o).abs() <= tol + want_o.abs() * 1e-7);
                }
            }
        }

        #[test]
        fn embed_lookup_matches_dequantized(w in proptest::collection::vec(-1.0f32..1.0, 32), bits in 2u32..=8) {
            let out = Format { bits: 24, frac: 7 };
            let m = Matrix { rows: 2, cols: 16, data: w };
            let q = QuantizedMatrix::quantize(&m, QuantSpec::per_channel(bits));
            let f = FixedMatrix::from_quantized(&q, 16, Format { bits: 8, frac: 0 }, out);
            let d = q.dequantize();
            for t in 0..2 {
                let e = embed_lookup(&f, t);
                for c in 0..16 {
                    let want = d.data[t * 16 + c] as f64;
                    prop_assert!((out.to_real(e[c]) - want).abs() <= out.step() / 2.0 + want.abs() * 2f64.powi(-14) + 1e-9);
                }
            }
        }
    }

    #[test]
    fn accumulator_wraps() {
        let f = FixedMatrix {
            rows: 1,
            cols: 2,
            group_size: 2,
            weight_bits: 8,
            weights: PackedWeights::new(1, 2, &[127, 127]),
            mults: vec![1].into(),
            shifts: vec![0],
            out_bits: 24,
            offset_mults: vec![].into(),
        };
        // 127 * 200 * 2 = 50800 wraps to 50800 - 65536.
        assert_eq!(matvec(&f, &[200, 200], 16), vec![50800 - 65536]);
    }
}
