//! The whole decoder step built only from the fixed-point units: what the generated hardware
//! computes, token by token.

use super::matvec::{embed_lookup, matvec, FixedMatrix, Requant};
use super::rmsnorm::{rms_norm, RmsNormParams, RsqrtTable};
use super::rope::{rope, RopeTables};
use super::silu::{silu, SiluTable};
use super::softmax::{attention_score, score_requant, softmax, weighted_sum, ExpTable, RecipTable};
use super::{argmax, mul, residual_add, Format, NumericConfig};
use crate::config::LlamaConfig;
use crate::error::{ModelError, Result};
use crate::quant::{QuantPolicy, QuantizedMatrix, TensorReport};
use crate::weights::LlamaWeights;
use rayon::prelude::*;

/// One decoder layer in hardware form.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedLayer {
    /// Attention RMSNorm constants.
    pub attn_norm: RmsNormParams,
    /// Query projection.
    pub wq: FixedMatrix,
    /// Key projection.
    pub wk: FixedMatrix,
    /// Value projection.
    pub wv: FixedMatrix,
    /// Output projection.
    pub wo: FixedMatrix,
    /// FFN RMSNorm constants.
    pub ffn_norm: RmsNormParams,
    /// SwiGLU gate.
    pub w_gate: FixedMatrix,
    /// SwiGLU up.
    pub w_up: FixedMatrix,
    /// SwiGLU down.
    pub w_down: FixedMatrix,
}

/// The fixed-point model: quantised weights, folded constants and every table.
#[derive(Debug, Clone)]
pub struct FixedModel {
    /// Datapath widths.
    pub numerics: NumericConfig,
    /// Model hyperparameters.
    pub config: LlamaConfig,
    /// Token embedding, integer weights to the residual format (see [`embed_lookup`]).
    pub embed: FixedMatrix,
    /// Layers.
    pub layers: Vec<FixedLayer>,
    /// Final RMSNorm constants.
    pub final_norm: RmsNormParams,
    /// Output head, `act` to `act` (the embedding's weights when tied, with its own multipliers).
    pub lm_head: FixedMatrix,
    /// RoPE tables up to the KV cache depth.
    pub rope: RopeTables,
    /// Attention score scale.
    pub score_scale: Requant,
    /// RMSNorm seed table.
    pub rsqrt_table: RsqrtTable,
    /// Softmax exp table.
    pub exp_table: ExpTable,
    /// Softmax reciprocal table.
    pub recip_table: RecipTable,
    /// SiLU sigmoid table.
    pub silu_table: SiluTable,
    /// Quantisation error per tensor.
    pub report: Vec<TensorReport>,
}

/// Keys and values (activations after RoPE for keys) of the positions decoded so far.
#[derive(Debug, Clone)]
pub struct FixedKvCache {
    k: Vec<Vec<i32>>,
    v: Vec<Vec<i32>>,
    len: usize,
}

impl FixedKvCache {
    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is held yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl FixedModel {
    /// Bytes a fixed-point model of `config` takes with `max_seq` positions (at most the
    /// config's), computed with checked arithmetic: integer weights held twice while they are
    /// built (quantised, then in hardware form), the RoPE tables, and the KV cache it will fill
    /// (one `i32` per key and value).
    ///
    /// ```
    /// let c = hardwire_model::LlamaConfig::tiny();
    /// let b = hardwire_model::fixed::FixedModel::footprint_bytes(&c, 64).unwrap();
    /// assert!(b > 2 * c.num_params().unwrap());
    /// ```
    pub fn footprint_bytes(config: &LlamaConfig, max_seq: usize) -> Result<u64> {
        let max_seq = max_seq.min(config.max_seq).max(1);
        let overflow =
            || ModelError::Config("the fixed-point model's size overflows 64 bits".into());
        let weights = config.num_params()?.checked_mul(2).ok_or_else(overflow)?;
        // cos and sin, i32, head_dim / 2 per position.
        let rope = (max_seq as u64)
            .checked_mul(config.head_dim() as u64 / 2)
            .and_then(|n| n.checked_mul(2 * 4))
            .ok_or_else(overflow)?;
        let kv = config.kv_cache_bytes(max_seq, 4)?;
        weights
            .checked_add(rope)
            .and_then(|n| n.checked_add(kv))
            .ok_or_else(overflow)
    }

    /// Checks that [`FixedModel::footprint_bytes`] fits in the machine's available memory.
    pub fn check_fits(config: &LlamaConfig, max_seq: usize) -> Result<()> {
        crate::memory::check_fits(
            &format!("a fixed-point model with a KV cache of {max_seq} positions"),
            Self::footprint_bytes(config, max_seq)?,
        )
    }

    /// Quantises `w` with `policy` (round to nearest) and builds the fixed-point model with a
    /// KV cache of `max_seq` positions (at most the config's). A model that would not fit in
    /// the machine's memory is an error before anything is allocated.
    pub fn new(
        w: &LlamaWeights,
        policy: &QuantPolicy,
        numerics: NumericConfig,
        max_seq: usize,
    ) -> Result<Self> {
        Self::check_fits(&w.config, max_seq)?;
        Self::from_quantized(
            w,
            &crate::quant::quantize_model(w, policy),
            numerics,
            max_seq,
        )
    }

    /// Builds the fixed-point model from matrices already quantised (in
    /// [`crate::quant::named_matrices`] order, e.g. by [`crate::gptq::quantize_model_gptq`]);
    /// norms and configuration come from `w`.
    pub fn from_quantized(
        w: &LlamaWeights,
        quantized: &[(String, QuantizedMatrix)],
        numerics: NumericConfig,
        max_seq: usize,
    ) -> Result<Self> {
        numerics.validate().map_err(ModelError::Config)?;
        let c = &w.config;
        c.validate()?;
        Self::check_fits(c, max_seq)?;
        let max_seq = max_seq.min(c.max_seq).max(1);
        let (act, resid, mb) = (numerics.act, numerics.resid, numerics.mult_bits);
        let report: Vec<TensorReport> = crate::quant::named_matrices(w)
            .par_iter()
            .zip(quantized.par_iter())
            .map(|((name, m), (_, q))| q.report(name, m))
            .collect();
        let mut qs: Vec<&QuantizedMatrix> = quantized.iter().map(|(_, q)| q).collect();
        let missing = || ModelError::Config("a matrix is missing".into());
        let untied_head = if w.lm_head.is_some() { qs.pop() } else { None };
        let mut it = qs.into_iter();
        let q_embed = it.next().ok_or_else(missing)?;
        let embed = FixedMatrix::from_quantized(q_embed, mb, Format { bits: 8, frac: 0 }, resid);
        let lm_head = FixedMatrix::from_quantized(untied_head.unwrap_or(q_embed), mb, act, act);
        let eps = c.rms_norm_eps;
        let mut layers = Vec::with_capacity(w.layers.len());
        for l in &w.layers {
            let mut next = |input: Format, output: Format| {
                it.next()
                    .map(|q| FixedMatrix::from_quantized(q, mb, input, output))
                    .ok_or_else(missing)
            };
            layers.push(FixedLayer {
                attn_norm: RmsNormParams::new(&l.attn_norm, eps, resid),
                wq: next(act, act)?,
                wk: next(act, act)?,
                wv: next(act, act)?,
                wo: next(act, resid)?,
                ffn_norm: RmsNormParams::new(&l.ffn_norm, eps, resid),
                w_gate: next(act, act)?,
                w_up: next(act, act)?,
                w_down: next(resid, resid)?,
            });
        }
        Ok(FixedModel {
            numerics,
            config: c.clone(),
            embed,
            layers,
            final_norm: RmsNormParams::new(&w.final_norm, eps, resid),
            lm_head,
            rope: RopeTables::new(c, max_seq),
            score_scale: score_requant(c.head_dim(), act, mb),
            rsqrt_table: RsqrtTable::default(),
            exp_table: ExpTable::default(),
            recip_table: RecipTable::default(),
            silu_table: SiluTable::default(),
            report,
        })
    }

    /// An empty KV cache.
    pub fn new_cache(&self) -> FixedKvCache {
        let n = self.layers.len();
        FixedKvCache {
            k: vec![Vec::new(); n],
            v: vec![Vec::new(); n],
            len: 0,
        }
    }

    /// One decoder step: feeds `token` at the next position and returns the logits (in the
    /// `act` format).
    ///
    /// Formats along the way: embedding, residual stream, `o_proj` and `down_proj` outputs and
    /// the SwiGLU product in `resid`; everything else in `act`.
    pub fn step(&self, cache: &mut FixedKvCache, token: u32) -> Result<Vec<i32>> {
        let c = &self.config;
        let (act, resid, acc) = (
            self.numerics.act,
            self.numerics.resid,
            self.numerics.acc_bits,
        );
        if token as usize >= c.vocab_size {
            return Err(ModelError::Config(format!(
                "token id {token} is outside the vocabulary of {}",
                c.vocab_size
            )));
        }
        if cache.len >= self.rope.max_seq {
            return Err(ModelError::Config(format!(
                "position {} is past the KV cache depth {}",
                cache.len, self.rope.max_seq
            )));
        }
        let pos = cache.len;
        let (hd, kv) = (c.head_dim(), c.kv_dim());
        let group = c.num_attention_heads / c.num_key_value_heads;
        let mut x = embed_lookup(&self.embed, token as usize);
        for (li, l) in self.layers.iter().enumerate() {
            let h = rms_norm(&x, &l.attn_norm, &self.rsqrt_table, act);
            let mut q = matvec(&l.wq, &h, acc);
            let mut k = matvec(&l.wk, &h, acc);
            let v = matvec(&l.wv, &h, acc);
            q.chunks_exact_mut(hd)
                .for_each(|head| rope(head, pos, &self.rope, act.bits));
            k.chunks_exact_mut(hd)
                .for_each(|head| rope(head, pos, &self.rope, act.bits));
            cache.k[li].extend_from_slice(&k);
            cache.v[li].extend_from_slice(&v);
            let (kc, vc) = (&cache.k[li], &cache.v[li]);
            let mut att = Vec::with_capacity(c.hidden_size);
            for head in 0..c.num_attention_heads {
                let off = (head / group) * hd;
                let qh = &q[head * hd..(head + 1) * hd];
                let scores: Vec<i32> = (0..=pos)
                    .map(|p| {
                        attention_score(
                            qh,
                            &kc[p * kv + off..p * kv + off + hd],
                            self.score_scale,
                            act.bits,
                        )
                    })
                    .collect();
                let probs = softmax(&scores, &self.exp_table, &self.recip_table, act.frac);
                att.extend(weighted_sum(&probs, vc, kv, off, hd, act.bits));
            }
            x = residual_add(&x, &matvec(&l.wo, &att, acc), resid);
            let h = rms_norm(&x, &l.ffn_norm, &self.rsqrt_table, act);
            let g = silu(&matvec(&l.w_gate, &h, acc), &self.silu_table, act);
            let m = mul(&g, &matvec(&l.w_up, &h, acc), act.frac, resid);
            x = residual_add(&x, &matvec(&l.w_down, &m, acc), resid);
        }
        cache.len += 1;
        let h = rms_norm(&x, &self.final_norm, &self.rsqrt_table, act);
        Ok(matvec(&self.lm_head, &h, acc))
    }

    /// Greedy decoding: feeds `prompt` then appends up to `n` argmax tokens (stopping at `stop`).
    pub fn generate_greedy(&self, prompt: &[u32], n: usize, stop: Option<u32>) -> Result<Vec<u32>> {
        let mut cache = self.new_cache();
        let mut logits = Vec::new();
        for &t in prompt {
            logits = self.step(&mut cache, t)?;
        }
        // `n` may be any count a caller passed; the cache depth bounds what can be produced.
        let mut out = Vec::with_capacity(n.min(self.rope.max_seq));
        for i in 0..n {
            let next = argmax(&logits) as u32;
            out.push(next);
            if Some(next) == stop || i + 1 == n {
                break;
            }
            logits = self.step(&mut cache, next)?;
        }
        Ok(out)
    }

    /// Logits as real numbers (for perplexity; not part of the hardware).
    pub fn logits_real(&self, logits: &[i32]) -> Vec<f32> {
        logits
            .iter()
            .map(|&v| self.numerics.act.to_real(v) as f32)
            .collect()
    }
}
