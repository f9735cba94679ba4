//! GPTQ (Frantar et al., 2022): rounds a matrix's weights column by column, pushing each
//! column's rounding error onto the columns not yet rounded, weighted by the inverse Hessian
//! `(XᵀX)⁻¹` of the matrix's inputs on calibration text. Same integer format as
//! [`QuantizedMatrix::quantize`]; only the choice of integers (and group scales) differs, so the
//! hardware is unchanged.

use crate::error::Result;
use crate::quant::{
    layer_of, named_matrices, quantize_group_scale, QuantPolicy, QuantSpec, QuantizedMatrix,
};
use crate::reference::{MatrixInput, Reference};
use crate::weights::{LlamaWeights, Matrix};
use rayon::prelude::*;

/// `XᵀX` of the observed inputs, `cols x cols`, row-major, in f64.
pub fn hessian(x: &[f32], cols: usize) -> Vec<f64> {
    let t_n = x.len() / cols;
    let mut h = vec![0f64; cols * cols];
    h.par_chunks_mut(cols).enumerate().for_each(|(i, row)| {
        for t in 0..t_n {
            let xt = &x[t * cols..(t + 1) * cols];
            let xi = xt[i] as f64;
            if xi == 0.0 {
                continue;
            }
            for (hj, &xj) in row.iter_mut().zip(xt) {
                *hj += xi * xj as f64;
            }
        }
    });
    h
}

/// Lower Cholesky factor of a symmetric positive-definite matrix, in place; `false` if it is not.
fn cholesky(a: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let d = a[j * n + j] - (0..j).map(|k| a[j * n + k] * a[j * n + k]).sum::<f64>();
        if d <= 0.0 {
            return false;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        let (head, tail) = a.split_at_mut((j + 1) * n);
        let rj = &head[j * n..j * n + j];
        tail.par_chunks_mut(n).for_each(|ri| {
            let s: f64 = ri[..j].iter().zip(rj).map(|(x, y)| x * y).sum();
            ri[j] = (ri[j] - s) / d;
        });
    }
    for i in 0..n {
        for j in i + 1..n {
            a[i * n + j] = 0.0;
        }
    }
    true
}

/// The upper triangular `U` with `H⁻¹ = UᵀU`: with `J` the reversal, `JHJ = L'L'ᵀ` gives
/// `H⁻¹ = (J L'⁻ᵀ J)(J L'⁻¹ J)`, so `U = J L'⁻¹ J` — one Cholesky and one triangular inverse.
fn inverse_upper_cholesky(h: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut a: Vec<f64> = (0..n * n)
        .map(|k| h[(n - 1 - k / n) * n + (n - 1 - k % n)])
        .collect();
    if !cholesky(&mut a, n) {
        return None;
    }
    // Inverse of the lower triangular `a`, column by column (columns are independent).
    let cols: Vec<Vec<f64>> = (0..n)
        .into_par_iter()
        .map(|j| {
            let mut x = vec![0f64; n];
            x[j] = 1.0 / a[j * n + j];
            for i in j + 1..n {
                let s: f64 = (j..i).map(|k| a[i * n + k] * x[k]).sum();
                x[i] = -s / a[i * n + i];
            }
            x
        })
        .collect();
    // U[i][j] = Linv[n-1-i][n-1-j].
    let mut u = vec![0f64; n * n];
    for (j, col) in cols.iter().enumerate() {
        for (i, &v) in col.iter().enumerate() {
            u[(n - 1 - i) * n + (n - 1 - j)] = v;
        }
    }
    Some(u)
}

/// GPTQ-quantises `m` given the Hessian `h` of its inputs (dampened by 1% of its mean diagonal).
pub fn quantize_gptq(m: &Matrix, spec: QuantSpec, h: &[f64]) -> QuantizedMatrix {
    let n = m.cols;
    let mut h = h.to_vec();
    let mean_diag = (0..n).map(|i| h[i * n + i]).sum::<f64>() / n as f64;
    let damp = 0.01 * mean_diag.max(1e-12);
    for i in 0..n {
        if h[i * n + i] == 0.0 {
            h[i * n + i] = 1.0;
        }
        h[i * n + i] += damp;
    }
    let Some(u) = inverse_upper_cholesky(&h, n) else {
        return QuantizedMatrix::quantize(m, spec);
    };
    let g = spec.group_size.unwrap_or(n).clamp(1, n.max(1));
    let groups = n.div_ceil(g);
    let (qmin, qmax) = (spec.qmin() as f64, spec.qmax() as f64);
    let mut q = vec![0i8; m.data.len()];
    let mut scales = vec![0f32; m.rows * groups];
    let mut offsets = vec![0f32; m.rows * groups];
    q.par_chunks_mut(n)
        .zip(scales.par_chunks_mut(groups))
        .zip(offsets.par_chunks_mut(groups))
        .enumerate()
        .for_each(|(r, ((qrow, srow), orow))| {
            let mut w: Vec<f64> = m.row(r).iter().map(|&x| x as f64).collect();
            let (mut s, mut o) = (0f64, 0f64);
            for j in 0..n {
                if j % g == 0 {
                    let hi = (j + g).min(n);
                    let grp: Vec<f32> = w[j..hi].iter().map(|&x| x as f32).collect();
                    let (gs, go) = quantize_group_scale(&grp, spec);
                    (srow[j / g], orow[j / g]) = (gs, go);
                    (s, o) = (gs as f64, go as f64);
                }
                let qj = if s > 0.0 {
                    ((w[j] - o) / s).round().clamp(qmin, qmax)
                } else {
                    0.0
                };
                qrow[j] = qj as i8;
                let err = (w[j] - (qj * s + o)) / u[j * n + j];
                let urow = &u[j * n..(j + 1) * n];
                for (wk, &uk) in w[j + 1..].iter_mut().zip(&urow[j + 1..]) {
                    *wk -= err * uk;
                }
            }
        });
    QuantizedMatrix {
        rows: m.rows,
        cols: n,
        spec,
        group_size: g,
        q,
        scales,
        offsets,
    }
}

/// Quantises every matrix of `w` with `policy`: GPTQ with Hessians from `calibration` tokens
/// for the layer matrices, round-to-nearest for the embedding and head. Returned in
/// [`named_matrices`] order.
///
/// The calibration may be longer than the model's context: it runs as consecutive windows of
/// at most `max_seq` tokens, each a fresh sequence from position 0, and each matrix's Hessian
/// sums `x xᵀ` over the inputs of every window (the inputs are gathered window after window
/// and multiplied once, which is the same sum). A model whose context is shorter than the text
/// thus calibrates on all of it, and the result depends only on the weights, the policy and
/// the tokens.
pub fn quantize_model_gptq(
    w: &LlamaWeights,
    policy: &QuantPolicy,
    calibration: &[u32],
) -> Result<Vec<(String, QuantizedMatrix)>> {
    let inputs = Reference::new(w).matrix_inputs(calibration)?;
    let mut out = Vec::new();
    let mut cache: Option<((usize, MatrixInput), Vec<f64>)> = None;
    for (name, m) in named_matrices(w) {
        let spec = policy.spec_for(&name);
        let site = site_of(&name);
        let q = match site.and_then(|k| inputs.get(&k).map(|x| (k, x))) {
            Some((key, x)) => {
                if cache.as_ref().map(|c| c.0) != Some(key) {
                    cache = Some((key, hessian(x, m.cols)));
                }
                let h = cache.as_ref().map(|c| c.1.as_slice()).unwrap_or_default();
                quantize_gptq(m, spec, h)
            }
            None => QuantizedMatrix::quantize(m, spec),
        };
        out.push((name, q));
    }
    Ok(out)
}

pub(crate) fn site_of(name: &str) -> Option<(usize, MatrixInput)> {
    let layer = layer_of(name)?;
    let site = if name.contains("q_proj") || name.contains("k_proj") || name.contains("v_proj") {
        MatrixInput::Attention
    } else if name.contains("o_proj") {
        MatrixInput::AttentionOutput
    } else if name.contains("gate_proj") || name.contains("up_proj") {
        MatrixInput::Ffn
    } else {
        MatrixInput::FfnHidden
    };
    Some((layer, site))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::SplitMix64;

    #[test]
    fn inverse_upper_cholesky_factors_the_inverse() {
        let n = 5;
        let mut rng = SplitMix64(1);
        let x: Vec<f32> = (0..40 * n).map(|_| rng.symmetric()).collect();
        let mut h = hessian(&x, n);
        (0..n).for_each(|i| h[i * n + i] += 0.1);
        let u = inverse_upper_cholesky(&h, n).unwrap();
        // (UᵀU) H = I.
        for i in 0..n {
            for j in 0..n {
                let v: f64 = (0..n)
                    .map(|k| {
                        (0..n).map(|l| u[l * n + i] * u[l * n + k]).sum::<f64>() * h[k * n + j]
                    })
                    .sum();
                assert!(
                    (v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-9,
                    "({i},{j}) = {v}"
                );
            }
        }
    }

    /// The tiny model (context 64) calibrated on the whole calibration text, 20 times longer:
    /// it works, it is deterministic, it rounds differently from round-to-nearest, and each
    /// Hessian is the sum over the windows, each window a fresh sequence.
    #[test]
    fn gptq_calibrates_a_short_context_on_windows() {
        use crate::accuracy::CALIBRATION_TEXT;
        use crate::config::LlamaConfig;
        use crate::quant::quantize_model;
        use crate::Tokenizer;

        let w = LlamaWeights::seeded(&LlamaConfig::tiny(), 0).unwrap();
        let max_seq = w.config.max_seq;
        let tokens = Tokenizer::bytes().encode(CALIBRATION_TEXT).unwrap();
        assert!(tokens.len() > 10 * max_seq, "{} tokens", tokens.len());
        let policy = QuantPolicy::uniform(QuantSpec::grouped(3, 32));
        let gptq = quantize_model_gptq(&w, &policy, &tokens).unwrap();
        assert_eq!(gptq, quantize_model_gptq(&w, &policy, &tokens).unwrap());
        let rtn = quantize_model(&w, &policy);
        let names: Vec<&str> = gptq.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            rtn.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()
        );
        for ((name, g), (_, r)) in gptq.iter().zip(&rtn) {
            // Only the layer matrices are GPTQ's; the embedding and head round to nearest.
            if name.starts_with("model.layers.") {
                assert_ne!(g.q, r.q, "{name} rounded to nearest");
            } else {
                assert_eq!(g, r, "{name}");
            }
        }

        // Layer 0's Q projection from the Hessian summed window by window.
        let r = Reference::new(&w);
        let cols = w.config.hidden_size;
        let mut h = vec![0f64; cols * cols];
        for window in tokens.chunks(max_seq) {
            r.forward_observed(&mut r.new_cache(), window, false, &mut |l, site, x| {
                if (l, site) == (0, MatrixInput::Attention) {
                    for (a, b) in h.iter_mut().zip(hessian(x, cols)) {
                        *a += b;
                    }
                }
            })
            .unwrap();
        }
        let q_proj = &w.layers[0].wq;
        let want = quantize_gptq(q_proj, policy.default, &h);
        let (_, got) = gptq
            .iter()
            .find(|(n, _)| n == "model.layers.0.self_attn.q_proj.weight")
            .unwrap();
        // The same sums in another order of f64 additions; on these weights no rounding flips.
        assert_eq!(got, &want);
        // One window of the whole text is refused: the windows are what make it fit.
        assert!(r
            .forward_observed(&mut r.new_cache(), &tokens, false, &mut |_, _, _| {})
            .is_err());
    }

    #[test]
    fn gptq_lowers_output_error_on_calibration_inputs() {
        let (rows, cols) = (8, 32);
        let mut rng = SplitMix64(7);
        let m = Matrix {
            rows,
            cols,
            data: (0..rows * cols).map(|_| rng.symmetric()).collect(),
        };
        // Correlated inputs: GPTQ's advantage comes from the off-diagonal Hessian.
        let x: Vec<f32> = (0..200)
            .flat_map(|_| {
                let base = rng.symmetric();
                (0..cols)
                    .map(|_| base + 0.3 * rng.symmetric())
                    .collect::<Vec<_>>()
            })
            .collect();
        let h = hessian(&x, cols);
        let spec = QuantSpec {
            bits: 3,
            group_size: None,
            offset: false,
        };
        let err = |q: &QuantizedMatrix| {
            let d = q.dequantize();
            (0..200)
                .map(|t| {
                    let xt = &x[t * cols..(t + 1) * cols];
                    (0..rows)
                        .map(|r| {
                            let e: f32 = (0..cols)
                                .map(|c| (m.data[r * cols + c] - d.data[r * cols + c]) * xt[c])
                                .sum();
                            (e * e) as f64
                        })
                        .sum::<f64>()
                })
                .sum::<f64>()
        };
        let rtn = err(&QuantizedMatrix::quantize(&m, spec));
        let gptq = err(&quantize_gptq(&m, spec, &h));
        assert!(gptq < rtn, "gptq {gptq} vs round-to-nearest {rtn}");
    }
}
