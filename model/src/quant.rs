//! Weight quantisation: symmetric integers of 2 to 8 bits with one scale per output channel (or
//! per group of inputs along a row), optionally with a per-group offset (affine grid),
//! per-tensor policies, and a per-tensor error report.

use crate::weights::{LlamaWeights, Matrix};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How one tensor is quantised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantSpec {
    /// Weight width, 2 to 8 bits; values lie in `-2^(bits-1) ..= 2^(bits-1) - 1`.
    pub bits: u32,
    /// Inputs sharing one scale along a row; `None` for one scale per output channel (row).
    pub group_size: Option<usize>,
    /// Affine grid: `w ≈ q * scale + offset` with a real offset per group (the hardware adds
    /// `offset * Σx` per group). Off: symmetric, `w ≈ q * scale`.
    #[serde(default)]
    pub offset: bool,
}

impl QuantSpec {
    /// Per-output-channel quantisation to `bits`.
    pub fn per_channel(bits: u32) -> Self {
        QuantSpec {
            bits,
            group_size: None,
            offset: false,
        }
    }

    /// Symmetric quantisation to `bits` with one scale per `group_size` inputs.
    pub fn grouped(bits: u32, group_size: usize) -> Self {
        QuantSpec {
            bits,
            group_size: Some(group_size),
            offset: false,
        }
    }

    /// Largest quantised value, `2^(bits-1) - 1`.
    pub fn qmax(self) -> i32 {
        (1 << (self.bits - 1)) - 1
    }

    /// Smallest quantised value, `-2^(bits-1)`: two's complement without a zero point, so 0
    /// stays exact and the scale is the only parameter; the extra negative level is free in
    /// hardware and worth a lot at 2 to 4 bits.
    pub fn qmin(self) -> i32 {
        -(1 << (self.bits - 1))
    }
}

/// Which spec each tensor gets: a default and overrides by Hugging Face tensor name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantPolicy {
    /// Spec of every tensor not overridden.
    pub default: QuantSpec,
    /// `(tensor name, spec)` pairs that take precedence.
    pub overrides: Vec<(String, QuantSpec)>,
}

impl QuantPolicy {
    /// Every tensor with `spec`.
    pub fn uniform(spec: QuantSpec) -> Self {
        QuantPolicy {
            default: spec,
            overrides: Vec::new(),
        }
    }

    /// The spec of tensor `name`.
    pub fn spec_for(&self, name: &str) -> QuantSpec {
        self.overrides
            .iter()
            .find(|(n, _)| n == name)
            .map_or(self.default, |(_, s)| *s)
    }

    /// A mixed policy: every tensor at `base`, and the `fraction` of tensors (by count) that lose
    /// the most signal-to-noise at `base` raised to `high` — e.g. a 3-bit base with 6-bit for the
    /// most sensitive quarter.
    pub fn mixed_by_sensitivity(
        w: &LlamaWeights,
        base: QuantSpec,
        high: QuantSpec,
        fraction: f64,
    ) -> Self {
        let mut reports: Vec<TensorReport> = named_matrices(w)
            .into_iter()
            .map(|(n, m)| QuantizedMatrix::quantize(m, base).report(&n, m))
            .collect();
        reports.sort_by(|a, b| a.snr_db.total_cmp(&b.snr_db));
        let k = ((reports.len() as f64) * fraction).round() as usize;
        QuantPolicy {
            default: base,
            overrides: reports
                .into_iter()
                .take(k)
                .map(|r| (r.name, high))
                .collect(),
        }
    }

    /// Every tensor at `bits` in groups of `group_size`, each on the grid, symmetric or affine,
    /// that quantises it with the smaller error: a tensor stored symmetric (GGUF's Q8_0) stays
    /// symmetric, one stored affine (Q4_1) goes affine, and at 8 bits both keep their source
    /// exactly.
    pub fn best_grid(w: &LlamaWeights, bits: u32, group_size: Option<usize>) -> Self {
        let spec = |offset| QuantSpec {
            bits,
            group_size,
            offset,
        };
        let snr = |m: &Matrix, offset| {
            QuantizedMatrix::quantize(m, spec(offset))
                .report("", m)
                .snr_db
        };
        QuantPolicy {
            default: spec(true),
            overrides: named_matrices(w)
                .into_iter()
                .filter(|(_, m)| snr(m, false) > snr(m, true))
                .map(|(n, _)| (n, spec(false)))
                .collect(),
        }
    }
}

/// Average bits per weight over `tensors`: the weights' own widths (what "3/6-bit" counts)
/// and, second, with the scale and offset multipliers as the hardware stores them
/// (`mult_bits` each per group).
pub fn average_bits(tensors: &[(String, QuantizedMatrix)], mult_bits: u32) -> (f64, f64) {
    let (mut params, mut weight, mut stored) = (0f64, 0f64, 0f64);
    for (_, q) in tensors {
        let n = (q.rows * q.cols) as f64;
        let groups = (q.rows * q.groups_per_row()) as f64;
        let per_group = if q.spec.offset { 2.0 } else { 1.0 } * mult_bits as f64;
        params += n;
        weight += n * q.spec.bits as f64;
        stored += n * q.spec.bits as f64 + groups * per_group;
    }
    (weight / params.max(1.0), stored / params.max(1.0))
}

/// A quantised matrix: integer weights and one scale per (row, group).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedMatrix {
    /// Rows (output channels).
    pub rows: usize,
    /// Columns (inputs).
    pub cols: usize,
    /// The spec used.
    pub spec: QuantSpec,
    /// Inputs per group (`cols` when per channel).
    pub group_size: usize,
    /// Integer weights, row-major.
    pub q: Vec<i8>,
    /// Scales, `rows * groups_per_row()`, row-major: weight ≈ `q * scale + offset`.
    pub scales: Vec<f32>,
    /// Offsets, like `scales`; all zero unless `spec.offset`.
    pub offsets: Vec<f32>,
}

/// Clipping ratios tried per group (1.0 down to 0.5 by 1/40); the one with the least squared
/// error wins. Clipping a few outliers pays at 2 to 4 bits; at 8 bits only 1.0 is tried.
fn clip_ratios(bits: u32) -> Vec<f32> {
    if bits >= 8 {
        vec![1.0]
    } else {
        (0..=20).map(|i| 1.0 - i as f32 / 40.0).collect()
    }
}

/// The scale [`QuantizedMatrix::quantize`] picks for one group of weights (least squared
/// error over the clipping ratios).
pub fn quantize_group_scale(w: &[f32], spec: QuantSpec) -> (f32, f32) {
    let mut q = vec![0i8; w.len()];
    quantize_group(w, &mut q, spec, &clip_ratios(spec.bits))
}

/// Quantises one group in place; returns its `(scale, offset)`.
fn quantize_group(w: &[f32], q: &mut [i8], spec: QuantSpec, ratios: &[f32]) -> (f32, f32) {
    if spec.offset {
        return quantize_group_affine(w, q, spec, ratios);
    }
    (quantize_group_symmetric(w, q, spec, ratios), 0.0)
}

/// The affine grid with the least squared error: for each clipping ratio, the range shrunk
/// about its centre; the best of those (see [`refined_starts`]) refined by least squares (with
/// the integers fixed, the best scale and offset are a linear regression; the integers are then
/// rounded again). The offset sits at the grid's middle so `q` stays signed. A group already on such a grid (GGUF's Q4_1 at 4 bits) is
/// kept exactly: the unclipped range fits it with no error, and only a smaller error replaces it.
fn quantize_group_affine(w: &[f32], q: &mut [i8], spec: QuantSpec, ratios: &[f32]) -> (f32, f32) {
    let (qmin, qmax) = (spec.qmin() as f32, spec.qmax() as f32);
    let lo = w.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = w.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if hi <= lo || !(hi - lo).is_finite() {
        q.fill(0);
        return (0.0, if lo.is_finite() { lo } else { 0.0 });
    }
    let round = |s: f32, o: f32, x: f32| round_clamped((x - o) / s, qmin, qmax);
    let error = |s: f32, o: f32| -> f32 {
        lane_sum(w, |x| {
            let d = x - (round(s, o, x) * s + o);
            d * d
        })
    };
    let (centre, half) = ((lo + hi) / 2.0, (hi - lo) / 2.0);
    // Every clipping ratio's grid, then least squares from the few best of them.
    let mut starts: Vec<(f32, f32, f32)> = ratios
        .iter()
        .map(|&ratio| {
            let s = 2.0 * half * ratio / (qmax - qmin);
            let o = centre - half * ratio - qmin * s;
            (error(s, o), s, o)
        })
        .collect();
    starts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut best = starts[0];
    for &(_, s0, o0) in starts.iter().take(refined_starts(spec.bits)) {
        if best.0 == 0.0 {
            // On the grid already (Q4_1 at 4 bits): nothing can do better.
            break;
        }
        let mut cand = (s0, o0);
        for _ in 0..REFINE_STEPS {
            match least_squares(w, |x| round(cand.0, cand.1, x)) {
                Some(next) if next != cand => cand = next,
                _ => break,
            }
            let err = error(cand.0, cand.1);
            if err < best.0 {
                best = (err, cand.0, cand.1);
            }
        }
    }
    let (_, s, o) = best;
    for (qi, &x) in q.iter_mut().zip(w) {
        *qi = round(s, o, x) as i8;
    }
    (s, o)
}

/// Partial sums per lane: the quantiser's error sums in a fixed order that vectorises (a
/// sequential float sum cannot be reordered by the compiler).
const LANES: usize = 8;

/// `Σ f(x)` over `w`, element `i` added to lane `i % LANES`, the lanes then added in order.
#[inline(always)]
fn lane_sum(w: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = w.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..LANES {
            acc[l] += f(c[l]);
        }
    }
    for (l, &x) in tail.iter().enumerate() {
        acc[l] += f(x);
    }
    acc.iter().sum()
}

/// `v.round().clamp(lo, hi)` for integer bounds (ties away from zero), in operations that
/// vectorise on baseline x86-64: `round` is a libm call there, and it was a quarter of the
/// quantiser's time. Clamping first is the same (rounding is monotone and keeps integers), and
/// within `[lo, hi]` truncation through `i32` is exact, as is `c - t`.
#[inline(always)]
pub(crate) fn round_clamped(v: f32, lo: f32, hi: f32) -> f32 {
    let c = v.clamp(lo, hi);
    let t = c as i32 as f32;
    let r = c - t;
    t + if r >= 0.5 {
        1.0
    } else if r <= -0.5 {
        -1.0
    } else {
        0.0
    }
}

/// Least-squares refinements of an affine grid from each clipping ratio it starts from.
const REFINE_STEPS: usize = 2;

/// How many of the clipping ratios with the least error an affine grid is refined from: all of
/// them at 2 and 3 bits, 5 above. Refining all 21 takes 5× the time; on a 1536×576
/// heavy-tailed matrix (group 32) it gives 1.5% less squared error at 3 bits and 0.2% at 4, and
/// on SmolLM2-135M's 3/6 ladder refining 5 at 3 bits cost 2 to 3 points of perplexity at 4.7
/// bits (+16.8% against +14.0%).
fn refined_starts(bits: u32) -> usize {
    if bits <= 3 {
        usize::MAX
    } else {
        5
    }
}

/// The scale and offset minimising `Σ (w - q s - o)²` for the integers `q(w)`, if the integers
/// are not all equal and the scale comes out positive.
fn least_squares(w: &[f32], q: impl Fn(f32) -> f32) -> Option<(f32, f32)> {
    let n = w.len() as f64;
    // Each sum in lanes, like `lane_sum`, so the loop vectorises.
    let mut acc = [[0f64; LANES]; 4];
    let mut add = |l: usize, x: f32| {
        let (qi, xi) = (q(x) as f64, x as f64);
        acc[0][l] += qi;
        acc[1][l] += xi;
        acc[2][l] += qi * qi;
        acc[3][l] += qi * xi;
    };
    let chunks = w.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (l, &x) in c.iter().enumerate() {
            add(l, x);
        }
    }
    for (l, &x) in tail.iter().enumerate() {
        add(l, x);
    }
    let [sq, sw, sqq, sqw] = acc.map(|a| a.iter().sum::<f64>());
    let det = n * sqq - sq * sq;
    if det <= 0.0 {
        return None;
    }
    let s = (n * sqw - sq * sw) / det;
    let o = (sw - s * sq) / n;
    (s > 0.0 && s.is_finite() && o.is_finite()).then_some((s as f32, o as f32))
}

fn quantize_group_symmetric(w: &[f32], q: &mut [i8], spec: QuantSpec, ratios: &[f32]) -> f32 {
    let (qmin, qmax) = (spec.qmin() as f32, spec.qmax() as f32);
    let amax = w.iter().fold(0f32, |a, x| a.max(x.abs()));
    if amax == 0.0 {
        q.fill(0);
        return 0.0;
    }
    // The largest magnitude maps to qmax or, below 8 bits and when it is negative, possibly to
    // qmin (one level more, worth a lot at 2 to 4 bits); at 8 bits the grid stays ±127, which
    // keeps a tensor already stored that way (GGUF's Q8_0 embedding) exact.
    let tops: &[f32] = if spec.bits < 8 && w.contains(&-amax) {
        &[qmax, -qmin]
    } else {
        &[qmax]
    };
    let mut best = (f32::INFINITY, 0f32);
    for (&ratio, &top) in ratios.iter().flat_map(|r| tops.iter().map(move |t| (r, t))) {
        let s = amax * ratio / top;
        let err = lane_sum(w, |x| {
            let d = x - round_clamped(x / s, qmin, qmax) * s;
            d * d
        });
        if err < best.0 {
            best = (err, s);
        }
    }
    let s = best.1;
    for (qi, x) in q.iter_mut().zip(w) {
        *qi = round_clamped(x / s, qmin, qmax) as i8;
    }
    s
}

impl QuantizedMatrix {
    /// Quantises `m` with `spec` (rows in parallel).
    pub fn quantize(m: &Matrix, spec: QuantSpec) -> Self {
        assert!(
            (2..=8).contains(&spec.bits),
            "weight bits must be 2 to 8, got {}",
            spec.bits
        );
        let g = spec.group_size.unwrap_or(m.cols).clamp(1, m.cols.max(1));
        let groups = m.cols.div_ceil(g);
        let mut q = vec![0i8; m.data.len()];
        let mut scales = vec![0f32; m.rows * groups];
        let mut offsets = vec![0f32; m.rows * groups];
        let ratios = clip_ratios(spec.bits);
        q.par_chunks_mut(m.cols.max(1))
            .zip(scales.par_chunks_mut(groups.max(1)))
            .zip(offsets.par_chunks_mut(groups.max(1)))
            .enumerate()
            .for_each(|(r, ((qrow, srow), orow))| {
                let wrow = m.row(r);
                for gi in 0..srow.len() {
                    let (lo, hi) = (gi * g, ((gi + 1) * g).min(m.cols));
                    (srow[gi], orow[gi]) =
                        quantize_group(&wrow[lo..hi], &mut qrow[lo..hi], spec, &ratios);
                }
            });
        QuantizedMatrix {
            rows: m.rows,
            cols: m.cols,
            spec,
            group_size: g,
            q,
            scales,
            offsets,
        }
    }

    /// Groups per row.
    pub fn groups_per_row(&self) -> usize {
        self.cols.div_ceil(self.group_size)
    }

    /// Scale of weight `(r, c)`.
    pub fn scale(&self, r: usize, c: usize) -> f32 {
        self.scales[r * self.groups_per_row() + c / self.group_size]
    }

    /// Offset of weight `(r, c)` (0 for a symmetric grid).
    pub fn offset(&self, r: usize, c: usize) -> f32 {
        self.offsets[r * self.groups_per_row() + c / self.group_size]
    }

    /// Weight `i` (flat index) as a real value.
    pub fn value(&self, i: usize) -> f32 {
        let (r, c) = (i / self.cols, i % self.cols);
        self.q[i] as f32 * self.scale(r, c) + self.offset(r, c)
    }

    /// Back to f32.
    pub fn dequantize(&self) -> Matrix {
        let data = (0..self.rows * self.cols).map(|i| self.value(i)).collect();
        Matrix {
            rows: self.rows,
            cols: self.cols,
            data,
        }
    }

    /// Error of this quantisation of `original`.
    pub fn report(&self, name: &str, original: &Matrix) -> TensorReport {
        let (mut sig, mut noise) = (0f64, 0f64);
        for i in 0..original.data.len() {
            let x = original.data[i] as f64;
            let d = x - self.value(i) as f64;
            sig += x * x;
            noise += d * d;
        }
        TensorReport {
            name: name.into(),
            bits: self.spec.bits,
            group_size: self.spec.group_size,
            snr_db: 10.0 * (sig / noise.max(1e-30)).log10(),
            rel_err: (noise / sig.max(1e-30)).sqrt(),
        }
    }
}

/// Every matrix of `w` quantised (round to nearest) by `policy`, in [`named_matrices`] order.
pub fn quantize_model(w: &LlamaWeights, policy: &QuantPolicy) -> Vec<(String, QuantizedMatrix)> {
    named_matrices(w)
        .into_iter()
        .map(|(n, m)| {
            let q = QuantizedMatrix::quantize(m, policy.spec_for(&n));
            (n, q)
        })
        .collect()
}

/// The weights with every matrix replaced by its quantised form turned back to f32 ("fake
/// quantisation"; `quantized` in [`named_matrices`] order): run through the f32 reference, it
/// separates the weights' share of the error from the fixed-point datapath's.
pub fn fake_quantize(w: &LlamaWeights, quantized: &[(String, QuantizedMatrix)]) -> LlamaWeights {
    let mut out = w.clone();
    for (m, (_, q)) in matrices_mut(&mut out).into_iter().zip(quantized) {
        *m = q.dequantize();
    }
    out
}

/// Quantisation error of one tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorReport {
    /// Hugging Face tensor name.
    pub name: String,
    /// Weight bits.
    pub bits: u32,
    /// Group size, if grouped.
    pub group_size: Option<usize>,
    /// Signal-to-noise ratio in dB: `10 log10(|w|² / |w - ŵ|²)`.
    pub snr_db: f64,
    /// Relative error `|w - ŵ| / |w|`.
    pub rel_err: f64,
}

/// The model's matrices with their Hugging Face names (the embedding once, also the head when
/// tied).
pub fn named_matrices(w: &LlamaWeights) -> Vec<(String, &Matrix)> {
    let mut v = vec![("model.embed_tokens.weight".to_string(), &w.embed)];
    for (i, l) in w.layers.iter().enumerate() {
        for (short, m) in l.matrices() {
            let part = if short.starts_with(['q', 'k', 'v', 'o']) {
                "self_attn"
            } else {
                "mlp"
            };
            v.push((format!("model.layers.{i}.{part}.{short}.weight"), m));
        }
    }
    if let Some(m) = &w.lm_head {
        v.push(("lm_head.weight".into(), m));
    }
    v
}

/// The model's matrices in [`named_matrices`] order, to change in place.
pub fn matrices_mut(w: &mut LlamaWeights) -> Vec<&mut Matrix> {
    let mut v = vec![&mut w.embed];
    for l in w.layers.iter_mut() {
        v.extend([
            &mut l.wq,
            &mut l.wk,
            &mut l.wv,
            &mut l.wo,
            &mut l.w_gate,
            &mut l.w_up,
            &mut l.w_down,
        ]);
    }
    v.extend(w.lm_head.as_mut());
    v
}

/// The decoder layer a tensor of [`named_matrices`] belongs to (`None` for the embedding and
/// the head).
pub fn layer_of(name: &str) -> Option<usize> {
    name.strip_prefix("model.layers.")?
        .split_once('.')?
        .0
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LlamaConfig;
    use proptest::prelude::*;

    #[test]
    fn more_bits_less_error() {
        let w = LlamaWeights::seeded(&LlamaConfig::tiny(), 3).unwrap();
        let m = &w.layers[0].wq;
        let snr: Vec<f64> = (2..=8)
            .map(|b| {
                QuantizedMatrix::quantize(m, QuantSpec::per_channel(b))
                    .report("q", m)
                    .snr_db
            })
            .collect();
        assert!(snr.windows(2).all(|p| p[1] > p[0]), "{snr:?}");
        // Uniform weights: about 6 dB per bit.
        assert!(snr[6] > 40.0, "{snr:?}");
        let grouped = QuantizedMatrix::quantize(
            m,
            QuantSpec {
                bits: 3,
                group_size: Some(16),
                offset: false,
            },
        )
        .report("q", m);
        assert!(grouped.snr_db > snr[1], "{} vs {}", grouped.snr_db, snr[1]);
    }

    #[test]
    fn mixed_policy_upgrades_the_worst() {
        let w = LlamaWeights::seeded(&LlamaConfig::tiny(), 3).unwrap();
        let p = QuantPolicy::mixed_by_sensitivity(
            &w,
            QuantSpec::per_channel(3),
            QuantSpec::per_channel(6),
            0.25,
        );
        assert_eq!(p.overrides.len(), 4); // 16 matrices
        assert_eq!(p.spec_for(&p.overrides[0].0).bits, 6);
        assert_eq!(p.spec_for("nothing").bits, 3);
    }

    #[test]
    fn affine_grid_keeps_q4_1_weights_exactly() {
        // A GGUF Q4_1 block: x = d * q + m, q in 0..16 (both ends used).
        let (d, m) = (0.013f32, -0.07f32);
        let data: Vec<f32> = (0..64).map(|i| d * ((i * 7) % 16) as f32 + m).collect();
        let mat = Matrix {
            rows: 2,
            cols: 32,
            data: data.clone(),
        };
        let spec = QuantSpec {
            bits: 4,
            group_size: Some(32),
            offset: true,
        };
        let q = QuantizedMatrix::quantize(&mat, spec);
        for (a, b) in data.iter().zip(&q.dequantize().data) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        // Symmetric 4-bit cannot.
        let sym = QuantizedMatrix::quantize(&mat, QuantSpec::grouped(4, 32)).report("x", &mat);
        assert!(sym.snr_db < 40.0, "{}", sym.snr_db);
    }

    proptest! {
        #[test]
        fn round_clamped_is_round_then_clamp(
            v in prop_oneof![-300.0f32..300.0, any::<f32>().prop_filter("not NaN", |v| !v.is_nan()),
                (-300i32..300).prop_map(|i| i as f32 + 0.5)],
            bits in 2u32..=8,
        ) {
            let spec = QuantSpec::per_channel(bits);
            let (lo, hi) = (spec.qmin() as f32, spec.qmax() as f32);
            prop_assert_eq!(round_clamped(v, lo, hi), v.round().clamp(lo, hi));
        }

        #[test]
        fn per_channel_error_is_within_half_a_step(
            vals in proptest::collection::vec(-4.0f32..4.0, 8..64), bits in 2u32..=8
        ) {
            let m = Matrix { rows: 1, cols: vals.len(), data: vals.clone() };
            let q = QuantizedMatrix::quantize(&m, QuantSpec::per_channel(bits));
            let d = q.dequantize();
            let s = q.scales[0];
            let amax = vals.iter().fold(0f32, |a, x| a.max(x.abs()));
            for (a, b) in vals.iter().zip(&d.data) {
                // Within half a step, except values clipped by the chosen ratio.
                prop_assert!((a - b).abs() <= s / 2.0 + 1e-5 || a.abs() > s * q.spec.qmax() as f32 * 0.999,
                    "{a} -> {b} (scale {s}, amax {amax})");
            }
        }
    }
}
