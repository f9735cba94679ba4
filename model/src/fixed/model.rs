//! The whole decoder step built only from the fixed-point units: what the generated hardware
//! computes, token by token.

use super::attention::{self, CacheView, Softmax};
use super::matvec::{embed_lookup, matvec, matvecs, FixedMatrix, Requant};
use super::rmsnorm::{rms_norm, RmsNormParams, RsqrtTable};
use super::rope::{rope, RopeTables};
use super::silu::{silu, SiluTable};
use super::softmax::{score_requant, ExpTable, RecipTable};
use super::team::{for_each_mut, Team};
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

impl FixedLayer {
    /// The roles of the layer's matrices, in decode order: how [`FixedLayer::matrices`] and the
    /// weight store name them.
    pub const ROLES: [&'static str; 7] = ["wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down"];

    /// The layer's matrices by role, in decode order.
    pub fn matrices(&self) -> [(&'static str, &FixedMatrix); 7] {
        let m = [
            &self.wq,
            &self.wk,
            &self.wv,
            &self.wo,
            &self.w_gate,
            &self.w_up,
            &self.w_down,
        ];
        std::array::from_fn(|i| (Self::ROLES[i], m[i]))
    }

    /// A layer from its norms and its matrices in the order of [`FixedLayer::ROLES`].
    pub fn from_roles(
        attn_norm: RmsNormParams,
        ffn_norm: RmsNormParams,
        [wq, wk, wv, wo, w_gate, w_up, w_down]: [FixedMatrix; 7],
    ) -> FixedLayer {
        FixedLayer {
            attn_norm,
            wq,
            wk,
            wv,
            wo,
            ffn_norm,
            w_gate,
            w_up,
            w_down,
        }
    }
}

/// What a model holds besides its tables: weights and norms.
pub(crate) struct Parts {
    pub embed: FixedMatrix,
    pub layers: Vec<FixedLayer>,
    pub final_norm: RmsNormParams,
    pub lm_head: FixedMatrix,
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

/// Models with fewer weights than this per token step on the thread pool rather than a team:
/// their jobs are too short to pay for starting the team's threads (tens of microseconds).
const TEAM_MIN_WEIGHTS: usize = 4 << 20;

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
        let originals = crate::quant::named_matrices(w);
        if originals.len() != quantized.len() {
            return Err(ModelError::Config(format!(
                "{} quantised matrices for a model of {}",
                quantized.len(),
                originals.len()
            )));
        }
        let report: Vec<TensorReport> = originals
            .par_iter()
            .zip(quantized.par_iter())
            .map(|((name, m), (_, q))| q.report(name, m))
            .collect();
        let mut by_name: std::collections::HashMap<&str, (&QuantizedMatrix, TensorReport)> =
            originals
                .iter()
                .zip(quantized)
                .zip(report)
                .map(|(((name, _), (_, q)), r)| (name.as_str(), (q, r)))
                .collect();
        let gains: std::collections::HashMap<String, &[f32]> = crate::safetensors::hf_tensors(w)
            .into_iter()
            .filter(|(_, shape, _)| shape.len() == 1)
            .map(|(name, _, data)| (name, data))
            .collect();
        let norm = |name: &str| -> Result<Vec<f32>> {
            gains
                .get(name)
                .map(|g| g.to_vec())
                .ok_or_else(|| ModelError::Config(format!("the norm {name} is missing")))
        };
        Self::assemble(&w.config, numerics, max_seq, norm, |name| {
            by_name
                .remove(name)
                .map(|(q, r)| (std::borrow::Cow::Borrowed(q), r))
                .ok_or_else(|| ModelError::Config(format!("the matrix {name} is missing")))
        })
    }

    /// Builds the fixed-point model of `config` one tensor at a time: `fetch(name, shape)`
    /// gives a tensor's values (Hugging Face name, row-major shape), each matrix is quantised
    /// with `policy` and turned into its hardware form, and its f32 values are dropped before
    /// the next is fetched. So the model is never held in f32: the peak is the integer model
    /// plus the largest tensor. `progress(done, total)` follows the tensors.
    pub fn stream(
        config: &LlamaConfig,
        policy: &QuantPolicy,
        numerics: NumericConfig,
        max_seq: usize,
        mut fetch: impl FnMut(&str, &[usize]) -> Result<Vec<f32>>,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Self> {
        let names = crate::weights::hf_tensor_names(config);
        let total = names.len();
        let shapes: std::collections::HashMap<String, Vec<usize>> = names.into_iter().collect();
        // Both closures below fetch and count, so they share these through a `RefCell`.
        let state = std::cell::RefCell::new((&mut fetch, &mut progress, 0usize));
        let get = |name: &str| -> Result<(Vec<usize>, Vec<f32>)> {
            let shape = shapes
                .get(name)
                .ok_or_else(|| ModelError::Config(format!("no tensor {name} in the config")))?;
            Ok((shape.clone(), (state.borrow_mut().0)(name, shape)?))
        };
        let tick = || {
            let (_, progress, done) = &mut *state.borrow_mut();
            *done += 1;
            progress(*done, total);
        };
        Self::assemble(
            config,
            numerics,
            max_seq,
            |name| {
                let (_, data) = get(name)?;
                tick();
                Ok(data)
            },
            |name| {
                let (shape, data) = get(name)?;
                let m = crate::weights::Matrix {
                    rows: shape[0],
                    cols: shape[1],
                    data,
                };
                let q = QuantizedMatrix::quantize(&m, policy.spec_for(name));
                let r = q.report(name, &m);
                tick();
                Ok((std::borrow::Cow::Owned(q), r))
            },
        )
    }

    /// The model from its tensors by Hugging Face name, asked for in
    /// [`crate::weights::hf_tensor_names`] order: `norm` gives a norm's gain, `matrix` a
    /// matrix quantised with its error report. Each matrix is turned into its hardware form as
    /// it comes, so a streaming source holds one at a time.
    fn assemble<'q>(
        c: &LlamaConfig,
        numerics: NumericConfig,
        max_seq: usize,
        mut norm: impl FnMut(&str) -> Result<Vec<f32>>,
        mut matrix: impl FnMut(&str) -> Result<(std::borrow::Cow<'q, QuantizedMatrix>, TensorReport)>,
    ) -> Result<Self> {
        numerics.validate().map_err(ModelError::Config)?;
        c.validate()?;
        Self::check_fits(c, max_seq)?;
        let (act, resid, prod, mb) = (
            numerics.act,
            numerics.resid,
            numerics.prod,
            numerics.mult_bits,
        );
        let mut report = Vec::new();
        let (embed, tied_head) = {
            let (q, r) = matrix("model.embed_tokens.weight")?;
            report.push(r);
            let embed = FixedMatrix::from_quantized(&q, mb, Format { bits: 8, frac: 0 }, resid);
            let head = c
                .tie_word_embeddings
                .then(|| FixedMatrix::from_quantized(&q, mb, act, act));
            (embed, head)
        };
        let mut fixed = |name: &str, input: Format, output: Format| -> Result<FixedMatrix> {
            let (q, r) = matrix(name)?;
            report.push(r);
            Ok(FixedMatrix::from_quantized(&q, mb, input, output))
        };
        let eps = c.rms_norm_eps;
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let attn_norm =
                RmsNormParams::new(&norm(&format!("{p}.input_layernorm.weight"))?, eps, resid);
            let wq = fixed(&format!("{p}.self_attn.q_proj.weight"), act, act)?;
            let wk = fixed(&format!("{p}.self_attn.k_proj.weight"), act, act)?;
            let wv = fixed(&format!("{p}.self_attn.v_proj.weight"), act, act)?;
            let wo = fixed(&format!("{p}.self_attn.o_proj.weight"), act, resid)?;
            let ffn_norm = RmsNormParams::new(
                &norm(&format!("{p}.post_attention_layernorm.weight"))?,
                eps,
                resid,
            );
            let w_gate = fixed(&format!("{p}.mlp.gate_proj.weight"), act, act)?;
            let w_up = fixed(&format!("{p}.mlp.up_proj.weight"), act, act)?;
            let w_down = fixed(&format!("{p}.mlp.down_proj.weight"), prod, resid)?;
            let matrices = [wq, wk, wv, wo, w_gate, w_up, w_down];
            layers.push(FixedLayer::from_roles(attn_norm, ffn_norm, matrices));
        }
        let final_norm = RmsNormParams::new(&norm("model.norm.weight")?, eps, resid);
        let lm_head = match tied_head {
            Some(h) => h,
            None => fixed("lm_head.weight", act, act)?,
        };
        Ok(Self::from_parts(
            c.clone(),
            numerics,
            max_seq,
            Parts {
                embed,
                layers,
                final_norm,
                lm_head,
            },
            report,
        ))
    }

    /// The model from its weights and norms: the tables follow from the configuration and
    /// the datapath, the RoPE tables up to `max_seq` positions.
    pub(crate) fn from_parts(
        config: LlamaConfig,
        numerics: NumericConfig,
        max_seq: usize,
        p: Parts,
        report: Vec<TensorReport>,
    ) -> Self {
        let max_seq = max_seq.min(config.max_seq).max(1);
        FixedModel {
            rope: RopeTables::new(&config, max_seq),
            score_scale: score_requant(config.head_dim(), numerics.act, numerics.mult_bits),
            numerics,
            config,
            embed: p.embed,
            layers: p.layers,
            final_norm: p.final_norm,
            lm_head: p.lm_head,
            rsqrt_table: RsqrtTable::default(),
            exp_table: ExpTable::default(),
            recip_table: RecipTable::default(),
            silu_table: SiluTable::default(),
            report,
        }
    }

    /// Weights multiplied per token: every layer's matrices and the head.
    fn weights_per_token(&self) -> usize {
        let layers: usize = self
            .layers
            .iter()
            .flat_map(|l| l.matrices())
            .map(|(_, m)| m.weights.len())
            .sum();
        layers + self.lm_head.weights.len()
    }

    /// Every matrix by role (`embed`, `layers.{i}.wq`, …, `lm_head`), in the order the weight
    /// store writes them.
    pub fn matrices(&self) -> Vec<(String, &FixedMatrix)> {
        let mut out = vec![("embed".to_string(), &self.embed)];
        for (i, l) in self.layers.iter().enumerate() {
            for (role, m) in l.matrices() {
                out.push((format!("layers.{i}.{role}"), m));
            }
        }
        out.push(("lm_head".to_string(), &self.lm_head));
        out
    }

    /// Every norm by role (`layers.{i}.attn_norm`, `layers.{i}.ffn_norm`, `final_norm`).
    pub fn norms(&self) -> Vec<(String, &RmsNormParams)> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            out.push((format!("layers.{i}.attn_norm"), &l.attn_norm));
            out.push((format!("layers.{i}.ffn_norm"), &l.ffn_norm));
        }
        out.push(("final_norm".to_string(), &self.final_norm));
        out
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
    /// Formats along the way: embedding, residual stream, `o_proj` and `down_proj` outputs in
    /// `resid`; the SwiGLU product in `prod`; everything else in `act`.
    pub fn step(&self, cache: &mut FixedKvCache, token: u32) -> Result<Vec<i32>> {
        // A model of SmolLM2's size takes ~150 parallel jobs per token: on a team whose
        // helpers spin between them (`fixed/team.rs`). A small one, or a step called from the
        // pool (steps in parallel), runs on a worker of the pool, so its jobs do not each hand
        // the calling thread to the pool and back.
        let threads = rayon::current_num_threads();
        let outside_pool = rayon::current_thread_index().is_none();
        if threads > 1 && outside_pool && self.weights_per_token() >= TEAM_MIN_WEIGHTS {
            Team::with(threads, || self.step_inner(cache, token))
        } else {
            rayon::scope(|_| self.step_inner(cache, token))
        }
    }

    fn step_inner(&self, cache: &mut FixedKvCache, token: u32) -> Result<Vec<i32>> {
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
            let [mut q, mut k, v] = matvecs([&l.wq, &l.wk, &l.wv], &h, acc);
            q.chunks_exact_mut(hd)
                .for_each(|head| rope(head, pos, &self.rope, act.bits));
            k.chunks_exact_mut(hd)
                .for_each(|head| rope(head, pos, &self.rope, act.bits));
            cache.k[li].extend_from_slice(&k);
            cache.v[li].extend_from_slice(&v);
            let view = |head: usize| CacheView {
                keys: &cache.k[li],
                values: &cache.v[li],
                stride: kv,
                offset: (head / group) * hd,
                positions: pos + 1,
            };
            let softmax = Softmax {
                scale: self.score_scale,
                exp: &self.exp_table,
                recip: &self.recip_table,
            };
            let mut heads: Vec<(usize, Vec<i32>)> = (0..c.num_attention_heads)
                .map(|h| (h, Vec::new()))
                .collect();
            for_each_mut(&mut heads, |(h, out)| {
                *out = attention::head_fast(&q[*h * hd..(*h + 1) * hd], view(*h), softmax, act);
            });
            let att: Vec<i32> = heads.into_iter().flat_map(|(_, out)| out).collect();
            x = residual_add(&x, &matvec(&l.wo, &att, acc), resid);
            let h = rms_norm(&x, &l.ffn_norm, &self.rsqrt_table, act);
            let [gate, up] = matvecs([&l.w_gate, &l.w_up], &h, acc);
            let m = mul(
                &silu(&gate, &self.silu_table, act),
                &up,
                act.frac,
                self.numerics.prod,
            );
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
