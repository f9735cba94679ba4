//! Upper limits on a configuration's sizes, and the checked arithmetic over them: parameter
//! counts, weight bytes and KV-cache bytes. A size read from a file is checked here before
//! anything is allocated from it, so a config claiming 10^12 layers is an error naming the
//! field, never an abort, and no product wraps in a release build.
//!
//! The limits sit well above every real Llama. For reference, Llama 3.1 405B has 126 layers,
//! hidden 16384, intermediate 53248, 128 query and 8 key/value heads, a vocabulary of 128256 and a
//! context of 131072; Llama 3.1 8B has 32 layers, hidden 4096, intermediate 14336, 32 heads and
//! the same vocabulary and context.

use crate::config::LlamaConfig;
use crate::error::{ModelError, Result};

/// Most decoder layers accepted (Llama 3.1 405B: 126).
pub const MAX_LAYERS: usize = 1024;
/// Widest residual stream accepted (Llama 3.1 405B: 16384).
pub const MAX_HIDDEN: usize = 1 << 17;
/// Widest SwiGLU hidden layer accepted (Llama 3.1 405B: 53248).
pub const MAX_INTERMEDIATE: usize = 1 << 19;
/// Most attention heads, query or key/value, accepted (Llama 3.1 405B: 128).
pub const MAX_HEADS: usize = 1024;
/// Largest vocabulary accepted (Llama 3.1: 128256).
pub const MAX_VOCAB: usize = 1 << 22;
/// Longest context (`max_position_embeddings`) accepted (Llama 3.1: 131072).
pub const MAX_SEQ: usize = 1 << 24;

/// Each size field with its `config.json` name and limit, in the order they are reported.
fn limited_fields(c: &LlamaConfig) -> [(&'static str, usize, usize); 7] {
    [
        ("num_hidden_layers", c.num_hidden_layers, MAX_LAYERS),
        ("hidden_size", c.hidden_size, MAX_HIDDEN),
        ("intermediate_size", c.intermediate_size, MAX_INTERMEDIATE),
        ("num_attention_heads", c.num_attention_heads, MAX_HEADS),
        ("num_key_value_heads", c.num_key_value_heads, MAX_HEADS),
        ("vocab_size", c.vocab_size, MAX_VOCAB),
        ("max_position_embeddings (max_seq)", c.max_seq, MAX_SEQ),
    ]
}

/// A product or sum that would not fit in 64 bits (impossible within the limits; kept so that
/// the arithmetic stays checked if a limit is raised).
fn overflow(what: &str) -> ModelError {
    ModelError::Config(format!("{what} overflows 64 bits"))
}

/// `a * b * ...`, checked.
fn product(what: &str, factors: &[u64]) -> Result<u64> {
    factors
        .iter()
        .try_fold(1u64, |acc, &f| acc.checked_mul(f))
        .ok_or_else(|| overflow(what))
}

impl LlamaConfig {
    /// The fields above their limit (see the module constants), one message each; empty when
    /// every size is within bounds. [`LlamaConfig::validate`] reports these.
    pub fn limit_problems(&self) -> Vec<String> {
        limited_fields(self)
            .into_iter()
            .filter(|&(_, v, max)| v > max)
            .map(|(name, v, max)| {
                format!("{name} ({v}) is larger than the limit of {max} this tool accepts")
            })
            .collect()
    }

    /// Parameters of one decoder layer: seven matrices and two norm gains.
    pub fn layer_params(&self) -> Result<u64> {
        let (h, kv, ff) = (
            self.hidden_size as u64,
            self.kv_dim() as u64,
            self.intermediate_size as u64,
        );
        let attention = product("q/o projections", &[2, h, h])?
            .checked_add(product("k/v projections", &[2, kv, h])?)
            .ok_or_else(|| overflow("attention parameters"))?;
        let ffn = product("SwiGLU matrices", &[3, ff, h])?;
        attention
            .checked_add(ffn)
            .and_then(|p| p.checked_add(2 * h))
            .ok_or_else(|| overflow("layer parameters"))
    }

    /// Total parameters: embedding, layers, final norm and (when untied) the output head.
    ///
    /// ```
    /// let c = hardwire_model::LlamaConfig::smollm2_135m();
    /// assert_eq!(c.num_params().unwrap(), 134_515_008);
    /// ```
    pub fn num_params(&self) -> Result<u64> {
        let embed = product(
            "vocab_size x hidden_size",
            &[self.vocab_size as u64, self.hidden_size as u64],
        )?;
        let head = if self.tie_word_embeddings { 0 } else { embed };
        product(
            "num_hidden_layers x layer parameters",
            &[self.num_hidden_layers as u64, self.layer_params()?],
        )?
        .checked_add(embed)
        .and_then(|p| p.checked_add(head))
        .and_then(|p| p.checked_add(self.hidden_size as u64))
        .ok_or_else(|| overflow("parameter count"))
    }

    /// Bytes of the weights held as f32 (how [`crate::LlamaWeights`] holds them).
    pub fn f32_weight_bytes(&self) -> Result<u64> {
        product("f32 weight bytes", &[self.num_params()?, 4])
    }

    /// Bytes of a KV cache of `max_seq` positions holding keys and values of
    /// `bytes_per_value` bytes each, for every layer: `layers * 2 * kv_dim * max_seq * bytes`.
    ///
    /// ```
    /// let c = hardwire_model::LlamaConfig::tiny();
    /// // 2 layers, keys and values, kv_dim 32, 64 positions, f32.
    /// assert_eq!(c.kv_cache_bytes(64, 4).unwrap(), 2 * 2 * 32 * 64 * 4);
    /// assert!(c.kv_cache_bytes(usize::MAX, u64::MAX).is_err());
    /// ```
    pub fn kv_cache_bytes(&self, max_seq: usize, bytes_per_value: u64) -> Result<u64> {
        product(
            "KV cache bytes (layers x 2 x kv_dim x max_seq x bytes per value)",
            &[
                self.num_hidden_layers as u64,
                2,
                self.kv_dim() as u64,
                max_seq as u64,
                bytes_per_value,
            ],
        )
    }

    /// Checks that a KV cache of `max_seq` positions of `bytes_per_value` bytes fits in the
    /// machine's available memory (see [`crate::memory::check_fits`]); `source` names what set
    /// `max_seq` (a flag or a file's field) for the message.
    pub fn check_kv_cache_fits(
        &self,
        max_seq: usize,
        bytes_per_value: u64,
        source: &str,
    ) -> Result<()> {
        let bytes = self.kv_cache_bytes(max_seq, bytes_per_value)?;
        crate::memory::check_fits(
            &format!("a KV cache of {max_seq} positions ({source})"),
            bytes,
        )
    }

    /// Checks that the weights as f32 fit in the machine's available memory; `source` names the
    /// file they come from.
    pub fn check_f32_weights_fit(&self, source: &str) -> Result<()> {
        crate::memory::check_fits(
            &format!("the f32 weights of {source}"),
            self.f32_weight_bytes()?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_within_limits_and_llama_8b_counts_right() {
        for p in crate::config::PRESETS {
            assert!(LlamaConfig::preset(p).unwrap().limit_problems().is_empty());
        }
        // Llama 3.1 8B has 8,030,261,248 parameters.
        assert_eq!(
            LlamaConfig::llama_3_1_8b().num_params().unwrap(),
            8_030_261_248
        );
    }

    #[test]
    fn sizes_at_every_limit_do_not_overflow() {
        let mut c = LlamaConfig::tiny();
        c.num_hidden_layers = MAX_LAYERS;
        c.hidden_size = MAX_HIDDEN;
        c.intermediate_size = MAX_INTERMEDIATE;
        c.num_attention_heads = MAX_HEADS;
        c.num_key_value_heads = MAX_HEADS;
        c.vocab_size = MAX_VOCAB;
        c.max_seq = MAX_SEQ;
        assert!(c.limit_problems().is_empty());
        let p = c.num_params().unwrap();
        assert!(p > 1 << 40, "{p}");
        c.kv_cache_bytes(MAX_SEQ, 8).unwrap();
    }

    #[test]
    fn each_field_over_its_limit_is_named() {
        let mut c = LlamaConfig::tiny();
        c.num_hidden_layers = 1_000_000_000_000;
        c.max_seq = 4_000_000_000;
        let p = c.limit_problems().join("; ");
        assert!(
            p.contains("num_hidden_layers (1000000000000) is larger than the limit of 1024"),
            "{p}"
        );
        assert!(
            p.contains("max_position_embeddings (max_seq) (4000000000)"),
            "{p}"
        );
    }
}
