//! Activation-aware scaling (AWQ, Lin et al., 2023): before quantising, the input channels of
//! each matrix that carry large activations are scaled up, and whatever produces those
//! activations is scaled down by the same factor, so the f32 model computes the same function
//! while the salient weights take more of their grid.
//!
//! Each site is one input shared by some matrices and one producer that absorbs the inverse
//! scale:
//!
//! | site | matrices (columns × s) | producer (÷ s) |
//! | --- | --- | --- |
//! | attention input | `q_proj`, `k_proj`, `v_proj` | `input_layernorm` gain |
//! | attention output | `o_proj` | `v_proj` rows |
//! | FFN input | `gate_proj`, `up_proj` | `post_attention_layernorm` gain |
//! | SwiGLU product | `down_proj` | `up_proj` rows |
//!
//! With grouped-query attention an `o_proj` column reads the `v_proj` row of its head's group,
//! so the columns sharing a row share a scale. The scale is `s_j = mean|x_j|^α`, normalised so
//! that `max(s) * min(s) = 1`; `α` is searched per site on a grid that includes 0 (no
//! scaling), minimising the error of the site's outputs `Σ_t ‖(Q(W·diag(s))·diag(s)⁻¹ − W) x_t‖²`
//! on calibration activations of the f32 model. The result is ordinary weights: the quantiser,
//! the golden model and the hardware take them unchanged (the norm gains carry the inverse
//! scales into the RMSNorm units).

use crate::error::Result;
use crate::gptq::site_of;
use crate::kernels::dot;
use crate::quant::{named_matrices, QuantSpec, QuantizedMatrix};
use crate::reference::{MatrixInput, Reference};
use crate::weights::{LlamaWeights, Matrix};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The exponents searched per site.
pub const ALPHAS: [f32; 10] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// What the search chose at one site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteScale {
    /// Layer index.
    pub layer: usize,
    /// `attention`, `attention_output`, `ffn` or `ffn_hidden`.
    pub site: String,
    /// The chosen exponent (0: left unscaled).
    pub alpha: f32,
    /// The site's output error on the calibration tokens without scaling, and with the chosen
    /// scale (sums of squares, in the outputs' units).
    pub error_unscaled: f64,
    /// See [`SiteScale::error_unscaled`].
    pub error_scaled: f64,
}

/// `w` with activation-aware scales searched for quantisation by `spec_for` (a tensor name
/// to its grid) on the activations of `calibration` tokens (run in windows of the model's
/// context), and what each site chose.
pub fn scale_for_quantization(
    w: &LlamaWeights,
    spec_for: impl Fn(&str) -> QuantSpec + Sync,
    calibration: &[u32],
) -> Result<(LlamaWeights, Vec<SiteScale>)> {
    let inputs = Reference::new(w).matrix_inputs(calibration)?;
    let c = &w.config;
    let (hd, group) = (
        c.head_dim(),
        c.num_attention_heads / c.num_key_value_heads.max(1),
    );
    let mut out = w.clone();
    let mut chosen = Vec::new();
    for l in 0..w.layers.len() {
        for site in [
            MatrixInput::Attention,
            MatrixInput::AttentionOutput,
            MatrixInput::Ffn,
            MatrixInput::FfnHidden,
        ] {
            let Some(x) = inputs.get(&(l, site)) else {
                continue;
            };
            // The matrices this input feeds, as earlier sites of the layer left them.
            let named = named_matrices(&out);
            let matrices: Vec<&(String, &Matrix)> = named
                .iter()
                .filter(|(name, _)| site_of(name) == Some((l, site)))
                .collect();
            let cols = matrices[0].1.cols;
            let mut magnitude = mean_magnitude(x, cols);
            // An o_proj column reads the v row `(head / group) * hd + d`: columns sharing a
            // row share one scale (their mean magnitude).
            let tie = |col: usize| (col / hd / group) * hd + col % hd;
            if site == MatrixInput::AttentionOutput {
                let rows = c.kv_dim();
                let mut sum = vec![0f64; rows];
                for (col, &m) in magnitude.iter().enumerate() {
                    sum[tie(col)] += m;
                }
                magnitude = (0..cols).map(|col| sum[tie(col)] / group as f64).collect();
            }
            let error = |s: &[f32]| -> f64 {
                matrices
                    .iter()
                    .map(|(name, m)| output_error(m, s, spec_for(name), x))
                    .sum()
            };
            let unscaled = vec![1f32; cols];
            let error_unscaled = error(&unscaled);
            let (mut best, mut best_alpha, mut best_error) = (unscaled, 0f32, error_unscaled);
            for &alpha in &ALPHAS[1..] {
                let s = scales(&magnitude, alpha);
                let e = error(&s);
                if e < best_error {
                    (best, best_alpha, best_error) = (s, alpha, e);
                }
            }
            chosen.push(SiteScale {
                layer: l,
                site: site_name(site).into(),
                alpha: best_alpha,
                error_unscaled,
                error_scaled: best_error,
            });
            if best_alpha == 0.0 {
                continue;
            }
            let s = best;
            let layer = &mut out.layers[l];
            match site {
                MatrixInput::Attention => {
                    for m in [&mut layer.wq, &mut layer.wk, &mut layer.wv] {
                        scale_columns(m, &s);
                    }
                    divide(&mut layer.attn_norm, &s);
                }
                MatrixInput::AttentionOutput => {
                    scale_columns(&mut layer.wo, &s);
                    // Every column tied to a v row has the same scale: the row's first one.
                    let cols_v = layer.wv.cols;
                    for (row, v) in layer.wv.data.chunks_exact_mut(cols_v).enumerate() {
                        divide(v, &[s[(row / hd) * group * hd + row % hd]]);
                    }
                }
                MatrixInput::Ffn => {
                    scale_columns(&mut layer.w_gate, &s);
                    scale_columns(&mut layer.w_up, &s);
                    divide(&mut layer.ffn_norm, &s);
                }
                MatrixInput::FfnHidden => {
                    scale_columns(&mut layer.w_down, &s);
                    let cols_u = layer.w_up.cols;
                    for (u, &sr) in layer.w_up.data.chunks_exact_mut(cols_u).zip(&s) {
                        divide(u, &[sr]);
                    }
                }
            }
        }
    }
    Ok((out, chosen))
}

/// The site's name in reports.
fn site_name(site: MatrixInput) -> &'static str {
    match site {
        MatrixInput::Attention => "attention",
        MatrixInput::AttentionOutput => "attention_output",
        MatrixInput::Ffn => "ffn",
        MatrixInput::FfnHidden => "ffn_hidden",
    }
}

/// Mean `|x_j|` per column of `x` (`t × cols`, row-major).
fn mean_magnitude(x: &[f32], cols: usize) -> Vec<f64> {
    let t = (x.len() / cols.max(1)).max(1);
    let mut m = vec![0f64; cols];
    for row in x.chunks_exact(cols) {
        for (mj, &v) in m.iter_mut().zip(row) {
            *mj += f64::from(v.abs());
        }
    }
    m.iter().map(|v| v / t as f64).collect()
}

/// `s_j = magnitude_j^α`, normalised so that the largest and smallest multiply to 1 (a
/// magnitude of 0 counts as the smallest positive one).
fn scales(magnitude: &[f64], alpha: f32) -> Vec<f32> {
    let floor = magnitude
        .iter()
        .copied()
        .filter(|&m| m > 0.0)
        .fold(f64::INFINITY, f64::min);
    let floor = if floor.is_finite() { floor } else { 1.0 };
    let raw: Vec<f64> = magnitude
        .iter()
        .map(|&m| m.max(floor).powf(f64::from(alpha)))
        .collect();
    let (lo, hi) = raw
        .iter()
        .fold((f64::INFINITY, 0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let norm = (lo * hi).sqrt();
    raw.iter().map(|v| (v / norm) as f32).collect()
}

/// Multiplies column `j` of `m` by `s[j]`.
fn scale_columns(m: &mut Matrix, s: &[f32]) {
    for row in m.data.chunks_exact_mut(m.cols) {
        for (v, &sj) in row.iter_mut().zip(s) {
            *v *= sj;
        }
    }
}

/// Divides `v[j]` by `s[j]`, or every element by `s[0]` when `s` has one element.
fn divide(v: &mut [f32], s: &[f32]) {
    if let [one] = s {
        v.iter_mut().for_each(|x| *x /= one);
    } else {
        v.iter_mut().zip(s).for_each(|(x, sj)| *x /= sj);
    }
}

/// `Σ_t ‖(Q(W·diag(s))·diag(s)⁻¹ − W) x_t‖²` for the inputs `x` (`t × cols`).
fn output_error(m: &Matrix, s: &[f32], spec: QuantSpec, x: &[f32]) -> f64 {
    let mut scaled = m.clone();
    scale_columns(&mut scaled, s);
    let q = QuantizedMatrix::quantize(&scaled, spec).dequantize();
    let inv: Vec<f32> = s.iter().map(|v| 1.0 / v).collect();
    (0..m.rows)
        .into_par_iter()
        .map(|r| {
            let d: Vec<f32> = q
                .row(r)
                .iter()
                .zip(m.row(r))
                .zip(&inv)
                .map(|((&qv, &wv), &i)| qv * i - wv)
                .collect();
            x.chunks_exact(m.cols)
                .map(|xt| f64::from(dot(&d, xt)).powi(2))
                .sum::<f64>()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accuracy::CALIBRATION_TEXT;
    use crate::config::LlamaConfig;
    use crate::quant::{quantize_model, QuantPolicy};
    use crate::tokenizer::Tokenizer;

    fn spec() -> QuantSpec {
        QuantSpec {
            bits: 3,
            group_size: Some(32),
            offset: true,
        }
    }

    /// The scaled model computes the same logits as the original in f32, never has a larger
    /// calibration error at any site, and is what the quantiser then takes.
    #[test]
    fn scaling_keeps_the_function_and_never_raises_the_error() {
        let w = LlamaWeights::seeded(&LlamaConfig::tiny(), 3).unwrap();
        let tokens = Tokenizer::bytes().encode(&CALIBRATION_TEXT[..200]).unwrap();
        let (scaled, sites) = scale_for_quantization(&w, |_| spec(), &tokens).unwrap();
        assert_eq!(sites.len(), 4 * w.layers.len());
        assert!(sites.iter().all(|s| s.error_scaled <= s.error_unscaled));
        assert!(
            sites.iter().any(|s| s.alpha > 0.0),
            "no site was scaled: {sites:?}"
        );
        let probe = &tokens[..32];
        let a = Reference::new(&w).forward(&mut Reference::new(&w).new_cache(), probe, true);
        let rs = Reference::new(&scaled);
        let b = rs.forward(&mut rs.new_cache(), probe, true);
        for (la, lb) in a.unwrap().iter().zip(b.unwrap().iter()) {
            for (x, y) in la.iter().zip(lb) {
                assert!((x - y).abs() <= 1e-3 * (1.0 + x.abs()), "{x} vs {y}");
            }
        }
        // Scaling changed the integers the quantiser picks.
        let p = QuantPolicy::uniform(spec());
        assert_ne!(
            quantize_model(&w, &p)
                .iter()
                .map(|(_, q)| q.q.clone())
                .collect::<Vec<_>>(),
            quantize_model(&scaled, &p)
                .iter()
                .map(|(_, q)| q.q.clone())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn scales_are_normalised_powers_of_the_magnitudes() {
        let s = scales(&[1.0, 4.0, 0.0, 16.0], 0.5);
        // sqrt: 1, 2, 1 (0 counts as the smallest positive), 4; normalised by sqrt(1 * 4) = 2.
        assert_eq!(s, vec![0.5, 1.0, 0.5, 2.0]);
        assert_eq!(scales(&[3.0, 5.0], 0.0), vec![1.0, 1.0]);
    }
}
