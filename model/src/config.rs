//! The Llama hyperparameters, read from a Hugging Face `config.json` or taken from a preset.

use crate::error::{ModelError, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// RoPE frequency scaling of Llama 3.1 (`rope_scaling` with `rope_type` `llama3`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RopeScaling {
    /// `llama3` is the only type understood; others are rejected by [`LlamaConfig::validate`].
    #[serde(alias = "type")]
    pub rope_type: String,
    /// Factor by which low frequencies are divided.
    pub factor: f64,
    /// Wavelengths longer than `original_max_position_embeddings / low_freq_factor` are scaled.
    pub low_freq_factor: f64,
    /// Wavelengths shorter than `original_max_position_embeddings / high_freq_factor` are kept.
    pub high_freq_factor: f64,
    /// Context length the model was first trained with.
    pub original_max_position_embeddings: usize,
}

/// Hyperparameters of a Llama-family decoder, with Hugging Face `config.json` field names.
///
/// ```
/// let c = hardwire_model::LlamaConfig::preset("smollm2-135m").unwrap();
/// assert_eq!(c.head_dim(), 64);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the SwiGLU hidden layer.
    pub intermediate_size: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads (grouped-query attention when fewer than the query heads).
    pub num_key_value_heads: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Longest sequence (KV cache depth).
    #[serde(rename = "max_position_embeddings")]
    pub max_seq: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base.
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    /// Optional llama3 RoPE scaling.
    #[serde(default)]
    pub rope_scaling: Option<RopeScaling>,
    /// Whether the output head reuses the token embedding.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Beginning-of-sequence token, if the model has one.
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token, if the model has one.
    #[serde(default, deserialize_with = "first_of_list")]
    pub eos_token_id: Option<u32>,
}

fn default_rope_theta() -> f64 {
    10000.0
}

/// Llama 3 configs give `eos_token_id` as a list; keep the first.
fn first_of_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(u32),
        Many(Vec<u32>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(x)) => Some(x),
        Some(OneOrMany::Many(v)) => v.first().copied(),
    })
}

/// Largest `config.json` read: real ones are about a kilobyte.
pub const MAX_CONFIG_JSON_BYTES: u64 = 1 << 20;

/// Names accepted by [`LlamaConfig::preset`].
pub const PRESETS: [&str; 3] = ["tiny", "smollm2-135m", "llama-3.1-8b"];

impl LlamaConfig {
    /// The embedded default: byte-level vocabulary, 2 layers, hidden 64, untied, for weights made
    /// by [`crate::LlamaWeights::seeded`].
    pub fn tiny() -> Self {
        LlamaConfig {
            hidden_size: 64,
            intermediate_size: 192,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            num_hidden_layers: 2,
            vocab_size: 256,
            max_seq: 64,
            rms_norm_eps: 1e-5,
            rope_theta: 10000.0,
            rope_scaling: None,
            tie_word_embeddings: false,
            bos_token_id: None,
            eos_token_id: None,
        }
    }

    /// HuggingFaceTB/SmolLM2-135M(-Instruct).
    pub fn smollm2_135m() -> Self {
        LlamaConfig {
            hidden_size: 576,
            intermediate_size: 1536,
            num_attention_heads: 9,
            num_key_value_heads: 3,
            num_hidden_layers: 30,
            vocab_size: 49152,
            max_seq: 8192,
            rms_norm_eps: 1e-5,
            rope_theta: 100000.0,
            rope_scaling: None,
            tie_word_embeddings: true,
            bos_token_id: Some(1),
            eos_token_id: Some(2),
        }
    }

    /// meta-llama/Llama-3.1-8B, with its llama3 RoPE scaling.
    pub fn llama_3_1_8b() -> Self {
        LlamaConfig {
            hidden_size: 4096,
            intermediate_size: 14336,
            num_attention_heads: 32,
            num_key_value_heads: 8,
            num_hidden_layers: 32,
            vocab_size: 128256,
            max_seq: 131072,
            rms_norm_eps: 1e-5,
            rope_theta: 500000.0,
            rope_scaling: Some(RopeScaling {
                rope_type: "llama3".into(),
                factor: 8.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max_position_embeddings: 8192,
            }),
            tie_word_embeddings: false,
            bos_token_id: Some(128000),
            eos_token_id: Some(128001),
        }
    }

    /// A preset by name (see [`PRESETS`]).
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "tiny" => Some(Self::tiny()),
            "smollm2-135m" => Some(Self::smollm2_135m()),
            "llama-3.1-8b" => Some(Self::llama_3_1_8b()),
            _ => None,
        }
    }

    /// Parses a Hugging Face `config.json` and validates it.
    pub fn from_json_str(json: &str) -> Result<Self> {
        let c: LlamaConfig = serde_json::from_str(json)
            .map_err(|e| ModelError::Config(format!("config.json: {e}")))?;
        c.validate()?;
        Ok(c)
    }

    /// Reads and validates a Hugging Face `config.json` (a regular file of at most
    /// [`MAX_CONFIG_JSON_BYTES`]).
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let text = crate::bytes::read_text_limited(path, MAX_CONFIG_JSON_BYTES)?;
        Self::from_json_str(&text).map_err(|e| match e {
            ModelError::Config(m) => ModelError::Config(format!("{}: {m}", path.display())),
            e => e,
        })
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads.max(1)
    }

    /// Total width of the key (or value) projection.
    pub fn kv_dim(&self) -> usize {
        self.head_dim() * self.num_key_value_heads
    }

    /// The same model cut to its first `n` layers (the prototype uses few layers); more layers
    /// than the model has is an error, not a silent clamp.
    pub fn reduce_layers(&self, n: usize) -> Result<Self> {
        if n > self.num_hidden_layers {
            return Err(ModelError::Config(format!(
                "cannot keep {n} layers: the model has only {} decoder layers",
                self.num_hidden_layers
            )));
        }
        let mut c = self.clone();
        c.num_hidden_layers = n;
        c.validate()?;
        Ok(c)
    }

    /// Checks that the numbers add up and that every size is within the limits of
    /// [`crate::sizes`] (so that the products built from them cannot overflow and are not
    /// absurd); the error names the fields that disagree.
    pub fn validate(&self) -> Result<()> {
        let mut problems = self.limit_problems();
        let positive = [
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("num_hidden_layers", self.num_hidden_layers),
            ("vocab_size", self.vocab_size),
            ("max_position_embeddings (max_seq)", self.max_seq),
        ];
        for (name, v) in positive {
            if v == 0 {
                problems.push(format!("{name} is 0"));
            }
        }
        if self.num_attention_heads > 0
            && !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            problems.push(format!(
                "num_attention_heads ({}) does not divide hidden_size ({})",
                self.num_attention_heads, self.hidden_size
            ));
        }
        if self.num_key_value_heads > 0
            && !self
                .num_attention_heads
                .is_multiple_of(self.num_key_value_heads)
        {
            problems.push(format!(
                "num_key_value_heads ({}) does not divide num_attention_heads ({})",
                self.num_key_value_heads, self.num_attention_heads
            ));
        }
        if self.num_attention_heads > 0 && !self.head_dim().is_multiple_of(2) {
            problems.push(format!(
                "head_dim = hidden_size / num_attention_heads = {} / {} = {} is odd (RoPE rotates pairs)",
                self.hidden_size,
                self.num_attention_heads,
                self.head_dim()
            ));
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps > 0.0) {
            problems.push(format!(
                "rms_norm_eps ({}) must be positive",
                self.rms_norm_eps
            ));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 1.0) {
            problems.push(format!("rope_theta ({}) must exceed 1", self.rope_theta));
        }
        if let Some(s) = &self.rope_scaling {
            if s.rope_type != "llama3" {
                problems.push(format!(
                    "rope_scaling.rope_type `{}` is not supported (only `llama3`)",
                    s.rope_type
                ));
            }
            if !(s.factor >= 1.0
                && s.high_freq_factor > s.low_freq_factor
                && s.low_freq_factor > 0.0)
                || s.original_max_position_embeddings == 0
            {
                problems.push(
                    "rope_scaling needs factor >= 1, high_freq_factor > low_freq_factor > 0 and original_max_position_embeddings > 0".into(),
                );
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ModelError::Config(problems.join("; ")))
        }
    }

    /// RoPE inverse frequencies (one per rotated pair), with llama3 scaling applied when set.
    /// Computed in f64; both the f32 reference and the fixed-point tables start from these.
    pub fn rope_inv_freq(&self) -> Vec<f64> {
        let d = self.head_dim();
        (0..d / 2)
            .map(|i| {
                let f = 1.0 / self.rope_theta.powf((2 * i) as f64 / d as f64);
                match &self.rope_scaling {
                    None => f,
                    Some(s) => llama3_scale(f, s),
                }
            })
            .collect()
    }
}

fn llama3_scale(inv_freq: f64, s: &RopeScaling) -> f64 {
    let old = s.original_max_position_embeddings as f64;
    let low_wavelen = old / s.low_freq_factor;
    let high_wavelen = old / s.high_freq_factor;
    let wavelen = 2.0 * std::f64::consts::PI / inv_freq;
    if wavelen < high_wavelen {
        inv_freq
    } else if wavelen > low_wavelen {
        inv_freq / s.factor
    } else {
        let smooth = (old / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        (1.0 - smooth) * inv_freq / s.factor + smooth * inv_freq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate() {
        for p in PRESETS {
            LlamaConfig::preset(p).unwrap().validate().unwrap();
        }
        assert_eq!(LlamaConfig::tiny().kv_dim(), 32);
    }

    #[test]
    fn parses_hf_llama31_config() {
        let json = r#"{"architectures":["LlamaForCausalLM"],"bos_token_id":128000,"eos_token_id":[128001,128008],
        "hidden_size":4096,"intermediate_size":14336,"max_position_embeddings":131072,"num_attention_heads":32,
        "num_hidden_layers":32,"num_key_value_heads":8,"rms_norm_eps":1e-05,"rope_scaling":{"factor":8.0,
        "low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},
        "rope_theta":500000.0,"tie_word_embeddings":false,"vocab_size":128256}"#;
        let c = LlamaConfig::from_json_str(json).unwrap();
        assert_eq!(c, LlamaConfig::llama_3_1_8b());
    }

    #[test]
    fn llama3_scaling_matches_known_values() {
        let c = LlamaConfig::llama_3_1_8b();
        let f = c.rope_inv_freq();
        // Highest frequency untouched, lowest divided by the factor.
        assert_eq!(f[0], 1.0);
        let unscaled = 1.0 / 500000f64.powf(126.0 / 128.0);
        assert!((f[63] - unscaled / 8.0).abs() < 1e-15);
    }

    #[test]
    fn bad_config_names_fields() {
        let mut c = LlamaConfig::tiny();
        c.num_attention_heads = 5;
        c.num_key_value_heads = 2;
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("num_attention_heads (5) does not divide hidden_size (64)"),
            "{e}"
        );
        assert!(
            e.contains("num_key_value_heads (2) does not divide num_attention_heads (5)"),
            "{e}"
        );
        let mut c = LlamaConfig::tiny();
        c.max_seq = 0;
        c.num_hidden_layers = 0;
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("num_hidden_layers is 0") && e.contains("max_seq"),
            "{e}"
        );
        let mut c = LlamaConfig::tiny();
        c.hidden_size = 36; // head_dim 9
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("is odd"), "{e}");
    }

    #[test]
    fn reduce_layers_keeps_the_rest() {
        let c = LlamaConfig::smollm2_135m().reduce_layers(2).unwrap();
        assert_eq!(c.num_hidden_layers, 2);
        assert_eq!(c.hidden_size, 576);
        assert!(LlamaConfig::tiny().reduce_layers(0).is_err());
        let e = LlamaConfig::tiny()
            .reduce_layers(3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("only 2 decoder layers"), "{e}");
    }
}
