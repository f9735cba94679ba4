//! The f32 reference forward pass: decode with a KV cache, grouped-query attention, RoPE (with
//! llama3 scaling), RMSNorm, SwiGLU and a tied or untied head — the first rung of the numeric
//! ladder, checked against the real SmolLM2-135M.

use crate::error::{ModelError, Result};
use crate::kernels::{dot, matmul};
use crate::weights::LlamaWeights;
use std::collections::HashMap;

/// Keys and values of the positions decoded so far, per layer.
pub struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
    max_seq: usize,
}

impl KvCache {
    /// Number of positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no position is held yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Which matrices an observed input feeds (see [`Reference::forward_observed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatrixInput {
    /// The normed residual feeding `q_proj`, `k_proj` and `v_proj`.
    Attention,
    /// The attention heads' output feeding `o_proj`.
    AttentionOutput,
    /// The normed residual feeding `gate_proj` and `up_proj`.
    Ffn,
    /// The SwiGLU product feeding `down_proj`.
    FfnHidden,
}

/// The f32 reference model over borrowed weights.
pub struct Reference<'w> {
    w: &'w LlamaWeights,
    inv_freq: Vec<f32>,
}

/// `x / rms(x) * gain`.
pub fn rms_norm(x: &[f32], gain: &[f32], eps: f32, out: &mut [f32]) {
    let ss: f32 = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let r = 1.0 / (ss + eps).sqrt();
    for ((o, v), g) in out.iter_mut().zip(x).zip(gain) {
        *o = v * r * g;
    }
}

/// SiLU, `x * sigmoid(x)`.
pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// Rotates each half-split pair `(x[i], x[i + d/2])` of one head by `pos * inv_freq[i]`
/// (Hugging Face's `rotate_half` convention).
pub fn rope(x: &mut [f32], pos: usize, inv_freq: &[f32]) {
    let half = x.len() / 2;
    for (i, f) in inv_freq.iter().enumerate().take(half) {
        let angle = pos as f32 * f;
        let (s, c) = angle.sin_cos();
        let (a, b) = (x[i], x[i + half]);
        x[i] = a * c - b * s;
        x[i + half] = b * c + a * s;
    }
}

impl<'w> Reference<'w> {
    /// A reference model over `weights`.
    pub fn new(weights: &'w LlamaWeights) -> Self {
        let inv_freq = weights
            .config
            .rope_inv_freq()
            .into_iter()
            .map(|f| f as f32)
            .collect();
        Reference {
            w: weights,
            inv_freq,
        }
    }

    /// An empty cache sized for the configuration's `max_seq` (allocated as it fills).
    pub fn new_cache(&self) -> KvCache {
        let n = self.w.config.num_hidden_layers;
        KvCache {
            k: vec![Vec::new(); n],
            v: vec![Vec::new(); n],
            len: 0,
            max_seq: self.w.config.max_seq,
        }
    }

    /// Feeds `tokens` at the next positions of `cache` and returns the logits after each of them
    /// (`all_logits`) or after the last one only.
    pub fn forward(
        &self,
        cache: &mut KvCache,
        tokens: &[u32],
        all_logits: bool,
    ) -> Result<Vec<Vec<f32>>> {
        self.forward_observed(cache, tokens, all_logits, &mut |_, _, _| {})
    }

    /// [`Reference::forward`], also handing `observe(layer, site, inputs)` the inputs of every
    /// matrix (`tokens.len()` rows of the matrix's column count) — calibration data for
    /// quantisation.
    pub fn forward_observed(
        &self,
        cache: &mut KvCache,
        tokens: &[u32],
        all_logits: bool,
        observe: &mut dyn FnMut(usize, MatrixInput, &[f32]),
    ) -> Result<Vec<Vec<f32>>> {
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        let (mut x, end) = self.embed(cache, tokens, all_logits)?;
        self.layers(cache, &mut x, 0, observe, &mut |_, _| {});
        cache.len = end;
        Ok(self.head(&x, all_logits))
    }

    /// Every matrix's inputs over `calibration`, by layer and site (`t × cols`, row-major). The
    /// text may be longer than the model's context: it runs as consecutive windows of at most
    /// `max_seq` tokens, each a fresh sequence from position 0, their inputs gathered in order.
    pub fn matrix_inputs(
        &self,
        calibration: &[u32],
    ) -> Result<HashMap<(usize, MatrixInput), Vec<f32>>> {
        let mut inputs: HashMap<(usize, MatrixInput), Vec<f32>> = HashMap::new();
        for window in calibration.chunks(self.w.config.max_seq.max(1)) {
            self.forward_observed(&mut self.new_cache(), window, false, &mut |l, site, x| {
                inputs.entry((l, site)).or_default().extend_from_slice(x);
            })?;
        }
        Ok(inputs)
    }

    /// The residual stream entering each layer (and, last, leaving the last one) for `tokens`
    /// from position 0: `layers + 1` vectors of `tokens.len() * hidden` values.
    pub fn residuals(&self, tokens: &[u32]) -> Result<Vec<Vec<f32>>> {
        let mut cache = self.new_cache();
        let (mut x, _) = self.embed(&cache, tokens, false)?;
        let mut out = Vec::with_capacity(self.w.layers.len() + 1);
        self.layers(&mut cache, &mut x, 0, &mut |_, _, _| {}, &mut |_, r| {
            out.push(r.to_vec())
        });
        out.push(x);
        Ok(out)
    }

    /// The embeddings of `tokens`, to follow the positions in `cache`, with the position after
    /// them; checks the context, the memory a forward pass needs, and every token id.
    fn embed(
        &self,
        cache: &KvCache,
        tokens: &[u32],
        all_logits: bool,
    ) -> Result<(Vec<f32>, usize)> {
        let c = &self.w.config;
        let t_n = tokens.len();
        let end = cache.len.checked_add(t_n).filter(|&e| e <= cache.max_seq);
        let Some(end) = end else {
            return Err(ModelError::Config(format!(
                "sequence of {} + {t_n} tokens exceeds max_seq {}",
                cache.len, cache.max_seq
            )));
        };
        crate::memory::check_fits(
            &format!("a forward pass over {t_n} tokens at positions up to {end}"),
            forward_bytes(c, t_n, end, all_logits)?,
        )?;
        let mut x = Vec::with_capacity(t_n * c.hidden_size);
        for &t in tokens {
            if t as usize >= c.vocab_size {
                return Err(ModelError::Config(format!(
                    "token id {t} is outside the vocabulary of {}",
                    c.vocab_size
                )));
            }
            x.extend_from_slice(self.w.embed.row(t as usize));
        }
        Ok((x, end))
    }

    /// The logits after every position, from `x`, the residual stream entering layer `first`
    /// at positions `0..` (as [`Reference::residuals`] gives it): the layers before `first` are
    /// not run. With the weights of layers `first..` changed, this is the changed model's output
    /// on the same tokens, at a fraction of the cost of a whole forward pass.
    pub fn forward_from_layer(&self, first: usize, mut x: Vec<f32>) -> Result<Vec<Vec<f32>>> {
        let c = &self.w.config;
        let t_n = x.len() / c.hidden_size.max(1);
        if first > self.w.layers.len() || x.len() != t_n * c.hidden_size || t_n > c.max_seq {
            return Err(ModelError::Config(format!(
                "forward from layer {first} of {} over {} values: not a residual stream of at most {} positions",
                self.w.layers.len(),
                x.len(),
                c.max_seq
            )));
        }
        crate::memory::check_fits(
            &format!("a forward pass over {t_n} tokens"),
            forward_bytes(c, t_n, t_n, true)?,
        )?;
        self.layers(
            &mut self.new_cache(),
            &mut x,
            first,
            &mut |_, _, _| {},
            &mut |_, _| {},
        );
        Ok(self.head(&x, true))
    }

    /// Runs layers `first..` over the residual stream `x` (`t_n` positions after the cache's),
    /// appending to the cache, handing `observe` every matrix input and `residual(layer, x)` the
    /// stream entering each layer.
    fn layers(
        &self,
        cache: &mut KvCache,
        x: &mut [f32],
        first: usize,
        observe: &mut dyn FnMut(usize, MatrixInput, &[f32]),
        residual: &mut dyn FnMut(usize, &[f32]),
    ) {
        let c = &self.w.config;
        let (h, kv, ff, hd) = (c.hidden_size, c.kv_dim(), c.intermediate_size, c.head_dim());
        let t_n = x.len() / h;
        let p0 = cache.len;
        let eps = c.rms_norm_eps as f32;
        let mut xn = vec![0.0; t_n * h];
        let (mut q, mut k, mut v) = (vec![0.0; t_n * h], vec![0.0; t_n * kv], vec![0.0; t_n * kv]);
        let mut att = vec![0.0; t_n * h];
        let mut proj = vec![0.0; t_n * h];
        let (mut g, mut u) = (vec![0.0; t_n * ff], vec![0.0; t_n * ff]);
        let group = c.num_attention_heads / c.num_key_value_heads;
        let scale = 1.0 / (hd as f32).sqrt();
        let mut scores = Vec::with_capacity(p0 + t_n);
        for (li, l) in self.w.layers.iter().enumerate().skip(first) {
            residual(li, x);
            for t in 0..t_n {
                rms_norm(
                    &x[t * h..(t + 1) * h],
                    &l.attn_norm,
                    eps,
                    &mut xn[t * h..(t + 1) * h],
                );
            }
            observe(li, MatrixInput::Attention, &xn);
            matmul(&l.wq, &xn, &mut q);
            matmul(&l.wk, &xn, &mut k);
            matmul(&l.wv, &xn, &mut v);
            for t in 0..t_n {
                for hq in q[t * h..(t + 1) * h].chunks_exact_mut(hd) {
                    rope(hq, p0 + t, &self.inv_freq);
                }
                for hk in k[t * kv..(t + 1) * kv].chunks_exact_mut(hd) {
                    rope(hk, p0 + t, &self.inv_freq);
                }
            }
            cache.k[li].extend_from_slice(&k);
            cache.v[li].extend_from_slice(&v);
            let (kc, vc) = (&cache.k[li], &cache.v[li]);
            for t in 0..t_n {
                let n_pos = p0 + t + 1;
                for head in 0..c.num_attention_heads {
                    let kvh = head / group;
                    let qh = &q[t * h + head * hd..t * h + (head + 1) * hd];
                    scores.clear();
                    scores.extend(
                        (0..n_pos).map(|p| {
                            dot(qh, &kc[p * kv + kvh * hd..p * kv + (kvh + 1) * hd]) * scale
                        }),
                    );
                    softmax_in_place(&mut scores);
                    let o = &mut att[t * h + head * hd..t * h + (head + 1) * hd];
                    o.fill(0.0);
                    for (p, &s) in scores.iter().enumerate() {
                        let vr = &vc[p * kv + kvh * hd..p * kv + (kvh + 1) * hd];
                        for (oi, vi) in o.iter_mut().zip(vr) {
                            *oi += s * vi;
                        }
                    }
                }
            }
            observe(li, MatrixInput::AttentionOutput, &att);
            matmul(&l.wo, &att, &mut proj);
            x.iter_mut().zip(&proj).for_each(|(a, b)| *a += b);
            for t in 0..t_n {
                rms_norm(
                    &x[t * h..(t + 1) * h],
                    &l.ffn_norm,
                    eps,
                    &mut xn[t * h..(t + 1) * h],
                );
            }
            observe(li, MatrixInput::Ffn, &xn);
            matmul(&l.w_gate, &xn, &mut g);
            matmul(&l.w_up, &xn, &mut u);
            g.iter_mut().zip(&u).for_each(|(a, b)| *a = silu(*a) * b);
            observe(li, MatrixInput::FfnHidden, &g);
            matmul(&l.w_down, &g, &mut proj);
            x.iter_mut().zip(&proj).for_each(|(a, b)| *a += b);
        }
    }

    /// Final norm and head over the residual stream `x`: logits after every position
    /// (`all_logits`) or after the last.
    fn head(&self, x: &[f32], all_logits: bool) -> Vec<Vec<f32>> {
        let c = &self.w.config;
        let h = c.hidden_size;
        let t_n = x.len() / h;
        let eps = c.rms_norm_eps as f32;
        let first = if all_logits { 0 } else { t_n - 1 };
        let mut xs = vec![0.0; (t_n - first) * h];
        for t in first..t_n {
            rms_norm(
                &x[t * h..(t + 1) * h],
                &self.w.final_norm,
                eps,
                &mut xs[(t - first) * h..(t - first + 1) * h],
            );
        }
        let vocab = c.vocab_size;
        let mut logits = vec![0.0; (t_n - first) * vocab];
        matmul(self.w.head(), &xs, &mut logits);
        logits.chunks_exact(vocab).map(|r| r.to_vec()).collect()
    }

    /// Greedy decoding: feeds `prompt`, then appends `n` argmax tokens (stopping early at `stop`).
    pub fn generate_greedy(&self, prompt: &[u32], n: usize, stop: Option<u32>) -> Result<Vec<u32>> {
        let mut cache = self.new_cache();
        // `n` may be any count a caller passed; max_seq bounds what can be produced.
        let mut out = Vec::with_capacity(n.min(self.w.config.max_seq));
        let mut logits = self
            .forward(&mut cache, prompt, false)?
            .pop()
            .unwrap_or_default();
        for i in 0..n {
            let next = argmax(&logits);
            out.push(next);
            if Some(next) == stop || i + 1 == n {
                break;
            }
            logits = self
                .forward(&mut cache, &[next], false)?
                .pop()
                .unwrap_or_default();
        }
        Ok(out)
    }
}

/// Bytes one [`Reference::forward`] call allocates for `t_n` tokens ending at position `end`:
/// its scratch rows, the cache it extends, and the logits (twice: computed, then split per token).
fn forward_bytes(c: &crate::LlamaConfig, t_n: usize, end: usize, all_logits: bool) -> Result<u64> {
    let rows = if all_logits { t_n as u64 } else { 1 };
    let per_token = (6 * c.hidden_size as u64)
        .checked_add(2 * c.kv_dim() as u64)
        .and_then(|n| n.checked_add(2 * c.intermediate_size as u64));
    let scratch = per_token.and_then(|n| n.checked_mul(t_n as u64));
    let logits = rows
        .checked_mul(c.vocab_size as u64)
        .and_then(|n| n.checked_mul(2));
    let cache = c.kv_cache_bytes(end, 4)?;
    scratch
        .zip(logits)
        .and_then(|(s, l)| s.checked_add(l))
        .and_then(|n| n.checked_mul(4))
        .and_then(|n| n.checked_add(cache))
        .ok_or_else(|| ModelError::Config("the forward pass's size overflows 64 bits".into()))
}

/// Softmax of `x` in place (max subtracted first).
pub fn softmax_in_place(x: &mut [f32]) {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0;
    for v in x.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    let r = 1.0 / s;
    x.iter_mut().for_each(|v| *v *= r);
}

/// Index of the largest value, the first at a tie.
pub fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in x.iter().enumerate() {
        if *v > x[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LlamaConfig;

    #[test]
    fn batched_prompt_equals_token_by_token() {
        let w = LlamaWeights::seeded(&LlamaConfig::tiny(), 7).unwrap();
        let r = Reference::new(&w);
        let toks = [72u32, 101, 108, 108, 111];
        let mut c1 = r.new_cache();
        let all = r.forward(&mut c1, &toks, true).unwrap();
        let mut c2 = r.new_cache();
        for (i, &t) in toks.iter().enumerate() {
            let one = r.forward(&mut c2, &[t], false).unwrap();
            for (a, b) in one[0].iter().zip(&all[i]) {
                assert!((a - b).abs() < 1e-4, "position {i}: {a} vs {b}");
            }
        }
        assert_eq!(c2.len(), 5);
    }

    #[test]
    fn rope_preserves_norm_and_position_zero() {
        let inv: Vec<f32> = LlamaConfig::tiny()
            .rope_inv_freq()
            .iter()
            .map(|&f| f as f32)
            .collect();
        let mut x: Vec<f32> = (0..16).map(|i| i as f32 - 3.0).collect();
        let orig = x.clone();
        rope(&mut x, 0, &inv);
        assert_eq!(x, orig);
        rope(&mut x, 17, &inv);
        let n0: f32 = orig.iter().map(|v| v * v).sum();
        let n1: f32 = x.iter().map(|v| v * v).sum();
        assert!((n0 - n1).abs() < 1e-3);
    }

    #[test]
    fn too_long_sequence_is_an_error() {
        let w = LlamaWeights::seeded(&LlamaConfig::tiny(), 1).unwrap();
        let r = Reference::new(&w);
        let mut c = r.new_cache();
        assert!(r.forward(&mut c, &[0; 65], false).is_err());
    }
}
