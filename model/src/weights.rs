//! The decoder's weights in f32, Hugging Face layout (rows = output features), whatever file they
//! came from.

use crate::config::LlamaConfig;
use crate::error::{ModelError, Result};
use std::path::Path;

/// A row-major matrix: `rows` output features of `cols` inputs each.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Number of rows (output features).
    pub rows: usize,
    /// Number of columns (input features).
    pub cols: usize,
    /// `rows * cols` values, row after row.
    pub data: Vec<f32>,
}

impl Matrix {
    /// Row `r`.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
}

/// The weights of one decoder layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerWeights {
    /// `input_layernorm` gain.
    pub attn_norm: Vec<f32>,
    /// Query projection, `hidden x hidden`.
    pub wq: Matrix,
    /// Key projection, `kv_dim x hidden`.
    pub wk: Matrix,
    /// Value projection, `kv_dim x hidden`.
    pub wv: Matrix,
    /// Attention output projection, `hidden x hidden`.
    pub wo: Matrix,
    /// `post_attention_layernorm` gain.
    pub ffn_norm: Vec<f32>,
    /// SwiGLU gate, `intermediate x hidden`.
    pub w_gate: Matrix,
    /// SwiGLU up, `intermediate x hidden`.
    pub w_up: Matrix,
    /// SwiGLU down, `hidden x intermediate`.
    pub w_down: Matrix,
}

impl LayerWeights {
    /// The seven matrices with their Hugging Face short names, in computation order.
    pub fn matrices(&self) -> [(&'static str, &Matrix); 7] {
        [
            ("q_proj", &self.wq),
            ("k_proj", &self.wk),
            ("v_proj", &self.wv),
            ("o_proj", &self.wo),
            ("gate_proj", &self.w_gate),
            ("up_proj", &self.w_up),
            ("down_proj", &self.w_down),
        ]
    }
}

/// All weights of a Llama decoder.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaWeights {
    /// The configuration the shapes were checked against.
    pub config: LlamaConfig,
    /// Token embedding, `vocab x hidden`.
    pub embed: Matrix,
    /// Decoder layers.
    pub layers: Vec<LayerWeights>,
    /// Final RMSNorm gain.
    pub final_norm: Vec<f32>,
    /// Output head, `vocab x hidden`; `None` when tied to [`LlamaWeights::embed`].
    pub lm_head: Option<Matrix>,
}

/// A tensor as fetched from a file, before its shape is checked.
pub struct FetchedTensor {
    /// Its name in the file (for messages).
    pub name: String,
    /// Row-major shape.
    pub shape: Vec<usize>,
    /// Values.
    pub data: Vec<f32>,
}

/// The values of tensor `hf` as fetched from `file`, checked: present, of `shape`, and finite.
pub fn checked(
    file: &Path,
    hf: &str,
    shape: &[usize],
    fetched: Option<FetchedTensor>,
) -> Result<Vec<f32>> {
    let t = fetched.ok_or_else(|| ModelError::MissingTensor {
        file: file.into(),
        tensor: hf.into(),
    })?;
    if t.shape != shape {
        return Err(ModelError::ShapeMismatch {
            file: file.into(),
            tensor: t.name,
            expected: shape.to_vec(),
            found: t.shape,
        });
    }
    if let Some((index, &value)) = t.data.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(ModelError::NonFinite {
            file: file.into(),
            tensor: t.name,
            index,
            value,
        });
    }
    Ok(t.data)
}

/// The Hugging Face names of the tensors a config needs, with their row-major shapes.
pub fn hf_tensor_names(c: &LlamaConfig) -> Vec<(String, Vec<usize>)> {
    let (h, kv, ff) = (c.hidden_size, c.kv_dim(), c.intermediate_size);
    let mut v = vec![(
        "model.embed_tokens.weight".to_string(),
        vec![c.vocab_size, h],
    )];
    for i in 0..c.num_hidden_layers {
        let p = format!("model.layers.{i}");
        v.push((format!("{p}.input_layernorm.weight"), vec![h]));
        v.push((format!("{p}.self_attn.q_proj.weight"), vec![h, h]));
        v.push((format!("{p}.self_attn.k_proj.weight"), vec![kv, h]));
        v.push((format!("{p}.self_attn.v_proj.weight"), vec![kv, h]));
        v.push((format!("{p}.self_attn.o_proj.weight"), vec![h, h]));
        v.push((format!("{p}.post_attention_layernorm.weight"), vec![h]));
        v.push((format!("{p}.mlp.gate_proj.weight"), vec![ff, h]));
        v.push((format!("{p}.mlp.up_proj.weight"), vec![ff, h]));
        v.push((format!("{p}.mlp.down_proj.weight"), vec![h, ff]));
    }
    v.push(("model.norm.weight".into(), vec![h]));
    if !c.tie_word_embeddings {
        v.push(("lm_head.weight".into(), vec![c.vocab_size, h]));
    }
    v
}

impl LlamaWeights {
    /// Assembles weights by Hugging Face name from `fetch`, checking every shape against the
    /// config and every value for NaN or infinity. `file` names the source in errors.
    pub fn assemble(
        config: &LlamaConfig,
        file: &Path,
        mut fetch: impl FnMut(&str) -> Result<Option<FetchedTensor>>,
    ) -> Result<Self> {
        config.validate()?;
        // Every tensor below is allocated as f32: refuse a model the machine cannot hold before
        // the first one is.
        config.check_f32_weights_fit(&file.display().to_string())?;
        let mut get = |hf: &str, shape: &[usize]| checked(file, hf, shape, fetch(hf)?);
        let mut mat = |hf: &str, rows: usize, cols: usize| -> Result<Matrix> {
            let shape = if rows == 0 {
                vec![cols]
            } else {
                vec![rows, cols]
            };
            Ok(Matrix {
                rows: rows.max(1),
                cols,
                data: get(hf, &shape)?,
            })
        };
        let (h, kv, ff, v) = (
            config.hidden_size,
            config.kv_dim(),
            config.intermediate_size,
            config.vocab_size,
        );
        let embed = mat("model.embed_tokens.weight", v, h)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("model.layers.{i}");
            layers.push(LayerWeights {
                attn_norm: mat(&format!("{p}.input_layernorm.weight"), 0, h)?.data,
                wq: mat(&format!("{p}.self_attn.q_proj.weight"), h, h)?,
                wk: mat(&format!("{p}.self_attn.k_proj.weight"), kv, h)?,
                wv: mat(&format!("{p}.self_attn.v_proj.weight"), kv, h)?,
                wo: mat(&format!("{p}.self_attn.o_proj.weight"), h, h)?,
                ffn_norm: mat(&format!("{p}.post_attention_layernorm.weight"), 0, h)?.data,
                w_gate: mat(&format!("{p}.mlp.gate_proj.weight"), ff, h)?,
                w_up: mat(&format!("{p}.mlp.up_proj.weight"), ff, h)?,
                w_down: mat(&format!("{p}.mlp.down_proj.weight"), h, ff)?,
            });
        }
        let final_norm = mat("model.norm.weight", 0, h)?.data;
        let lm_head = if config.tie_word_embeddings {
            None
        } else {
            Some(mat("lm_head.weight", v, h)?)
        };
        Ok(LlamaWeights {
            config: config.clone(),
            embed,
            layers,
            final_norm,
            lm_head,
        })
    }

    /// Weights drawn deterministically from `seed` (uniform, scaled by 1/sqrt(fan-in); norm
    /// gains near 1), so the `tiny` preset needs no download.
    pub fn seeded(config: &LlamaConfig, seed: u64) -> Result<Self> {
        let mut rng = SplitMix64(seed);
        Self::assemble(config, Path::new("<seeded>"), |name| {
            let shape = hf_tensor_names(config)
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, s)| s)
                .unwrap_or_default();
            let n: usize = shape.iter().product();
            let value = seeded_value(&shape);
            let data = (0..n).map(|_| value(rng.symmetric())).collect();
            Ok(Some(FetchedTensor {
                name: name.into(),
                shape,
                data,
            }))
        })
    }

    /// The output head (the embedding when tied).
    pub fn head(&self) -> &Matrix {
        self.lm_head.as_ref().unwrap_or(&self.embed)
    }

    /// The same weights with only the first `n` layers (for prototypes).
    pub fn reduce_layers(mut self, n: usize) -> Result<Self> {
        self.config = self.config.reduce_layers(n)?;
        self.layers.truncate(self.config.num_hidden_layers);
        Ok(self)
    }

    /// Number of parameters (the tied head counted once).
    pub fn num_params(&self) -> usize {
        let layer: usize = self
            .layers
            .iter()
            .map(|l| {
                l.matrices()
                    .iter()
                    .map(|(_, m)| m.data.len())
                    .sum::<usize>()
                    + l.attn_norm.len()
                    + l.ffn_norm.len()
            })
            .sum();
        self.embed.data.len()
            + layer
            + self.final_norm.len()
            + self.lm_head.as_ref().map_or(0, |m| m.data.len())
    }
}

/// How a seeded tensor of `shape` turns a uniform draw in [-1, 1) into a weight: norm gains
/// near 1, matrices uniform with the variance of 1/fan-in.
fn seeded_value(shape: &[usize]) -> impl Fn(f32) -> f32 {
    let (base, amp) = match shape {
        [_, cols] => (0.0, (3.0 / *cols as f32).sqrt()),
        _ => (1.0, 0.1),
    };
    move |u| base + amp * u
}

/// Tensor `name` of the synthetic model drawn from `seed`, independently of every other tensor
/// (its own SplitMix64 stream, seeded by `seed` and the name's FNV-1a hash), so that a model too
/// large to hold can be generated one tensor at a time, in parallel, and the same on every
/// run. The values follow [`LlamaWeights::seeded`]'s distribution. (The small presets keep one
/// stream across their tensors, as their committed figures and snapshots were made with.)
pub fn synthetic_tensor(seed: u64, name: &str, shape: &[usize]) -> Vec<f32> {
    use rayon::prelude::*;
    let start = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    }) ^ seed;
    let n: usize = shape.iter().product();
    let value = seeded_value(shape);
    let mut data = vec![0f32; n];
    // Element `i` is the stream's `i`-th draw: SplitMix64 jumps ahead by adding to its state.
    const CHUNK: usize = 1 << 16;
    data.par_chunks_mut(CHUNK).enumerate().for_each(|(c, out)| {
        let mut rng =
            SplitMix64(start.wrapping_add(((c * CHUNK) as u64).wrapping_mul(SplitMix64::GAMMA)));
        out.iter_mut().for_each(|x| *x = value(rng.symmetric()));
    });
    data
}

/// A small deterministic generator (SplitMix64) for seeded weights and tests.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// What each draw adds to the state (so `n` draws ahead is `n` times it).
    pub const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(Self::GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub fn symmetric(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 23) as f32) - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_synthetic_tensor_is_its_own_stream_in_any_chunking() {
        let shape = [3, 70_000];
        let t = synthetic_tensor(7, "model.layers.3.mlp.up_proj.weight", &shape);
        // Sequentially, from the same start: the chunks jumped ahead to the right draws.
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for b in "model.layers.3.mlp.up_proj.weight".bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        let mut rng = SplitMix64(h ^ 7);
        let a = (3.0f32 / 70_000.0).sqrt();
        assert!(t.iter().all(|&x| x == a * rng.symmetric()));
        // Another name or seed gives other values; the same gives the same.
        assert_ne!(
            t[..8],
            synthetic_tensor(8, "model.layers.3.mlp.up_proj.weight", &shape)[..8]
        );
        assert_ne!(
            t[..8],
            synthetic_tensor(7, "model.layers.4.mlp.up_proj.weight", &shape)[..8]
        );
        assert_eq!(
            t,
            synthetic_tensor(7, "model.layers.3.mlp.up_proj.weight", &shape)
        );
        let norm = synthetic_tensor(7, "model.norm.weight", &[64]);
        assert!(norm.iter().all(|&x| (0.9..=1.1).contains(&x)));
    }
}
