//! Weight quantisation: symmetric integers of 2 to 8 bits with one scale per output channel (or
//! per group of inputs along a row), per-tensor policies, and a per-tensor error report.

use crate::weights::{LlamaWeights, Matrix};
use serde::{Deserialize, Serialize};

/// How one tensor is quantised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantSpec {
    /// Weight width, 2 to 8 bits; values lie in `-(2^(bits-1) - 1) ..= 2^(bits-1) - 1`.
    pub bits: u32,
    /// Inputs sharing one scale along a row; `None` for one scale per output channel (row).
    pub group_size: Option<usize>,
}

impl QuantSpec {
    /// Per-output-channel quantisation to `bits`.
    pub fn per_channel(bits: u32) -> Self {
        QuantSpec {
            bits,
            group_size: None,
        }
    }

    /// Largest magnitude of a quantised value.
    pub fn qmax(self) -> i32 {
        (1 << (self.bits - 1)) - 1
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
    /// Scales, `rows * groups_per_row()`, row-major: weight ≈ `q * scale`.
    pub scales: Vec<f32>,
}

/// Clipping ratios tried per group; the one with the least squared error wins. Clipping a few
/// outliers pays at 2 to 4 bits and changes nothing measurable at 8.
const CLIP_RATIOS: [f32; 8] = [1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6];

impl QuantizedMatrix {
    /// Quantises `m` with `spec`.
    pub fn quantize(m: &Matrix, spec: QuantSpec) -> Self {
        assert!(
            (2..=8).contains(&spec.bits),
            "weight bits must be 2 to 8, got {}",
            spec.bits
        );
        let g = spec.group_size.unwrap_or(m.cols).clamp(1, m.cols.max(1));
        let qmax = spec.qmax() as f32;
        let groups = m.cols.div_ceil(g);
        let mut q = vec![0i8; m.data.len()];
        let mut scales = vec![0f32; m.rows * groups];
        let ratios: &[f32] = if spec.bits >= 8 {
            &CLIP_RATIOS[..1]
        } else {
            &CLIP_RATIOS
        };
        for r in 0..m.rows {
            for gi in 0..groups {
                let lo = r * m.cols + gi * g;
                let hi = (lo + g).min((r + 1) * m.cols);
                let w = &m.data[lo..hi];
                let amax = w.iter().fold(0f32, |a, x| a.max(x.abs()));
                if amax == 0.0 {
                    continue;
                }
                let mut best = (f32::INFINITY, 0f32);
                for &ratio in ratios {
                    let s = amax * ratio / qmax;
                    let err: f32 = w
                        .iter()
                        .map(|x| {
                            let d = x - (x / s).round().clamp(-qmax, qmax) * s;
                            d * d
                        })
                        .sum();
                    if err < best.0 {
                        best = (err, s);
                    }
                }
                let s = best.1;
                scales[r * groups + gi] = s;
                for (qi, x) in q[lo..hi].iter_mut().zip(w) {
                    *qi = (x / s).round().clamp(-qmax, qmax) as i8;
                }
            }
        }
        QuantizedMatrix {
            rows: m.rows,
            cols: m.cols,
            spec,
            group_size: g,
            q,
            scales,
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

    /// Back to f32.
    pub fn dequantize(&self) -> Matrix {
        let data = (0..self.rows * self.cols)
            .map(|i| self.q[i] as f32 * self.scale(i / self.cols, i % self.cols))
            .collect();
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
            let d = x - self.q[i] as f64 * self.scale(i / self.cols, i % self.cols) as f64;
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

/// The weights with every matrix quantised by `policy` and turned back to f32 ("fake
/// quantisation"): run through the f32 reference, it separates the weights' share of the error
/// from the fixed-point datapath's.
pub fn fake_quantize(w: &LlamaWeights, policy: &QuantPolicy) -> LlamaWeights {
    let mut out = w.clone();
    let fq = |name: &str, m: &mut Matrix| {
        *m = QuantizedMatrix::quantize(m, policy.spec_for(name)).dequantize();
    };
    fq("model.embed_tokens.weight", &mut out.embed);
    for (i, l) in out.layers.iter_mut().enumerate() {
        let p = format!("model.layers.{i}");
        fq(&format!("{p}.self_attn.q_proj.weight"), &mut l.wq);
        fq(&format!("{p}.self_attn.k_proj.weight"), &mut l.wk);
        fq(&format!("{p}.self_attn.v_proj.weight"), &mut l.wv);
        fq(&format!("{p}.self_attn.o_proj.weight"), &mut l.wo);
        fq(&format!("{p}.mlp.gate_proj.weight"), &mut l.w_gate);
        fq(&format!("{p}.mlp.up_proj.weight"), &mut l.w_up);
        fq(&format!("{p}.mlp.down_proj.weight"), &mut l.w_down);
    }
    if let Some(m) = out.lm_head.as_mut() {
        fq("lm_head.weight", m);
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

    proptest! {
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
                prop_assert!((a - b).abs() <= s / 2.0 + 1e-5 || a.abs() > s * q.spec.qmax() as f32,
                    "{a} -> {b} (scale {s}, amax {amax})");
            }
        }
    }
}
