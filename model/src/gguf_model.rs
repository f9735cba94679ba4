//! A Llama model from a GGUF file: its configuration from the metadata, its weights renamed to
//! Hugging Face names and its Q/K rows returned to Hugging Face order.

use crate::config::LlamaConfig;
use crate::error::{ModelError, Result};
use crate::gguf::GgufFile;
use crate::sizes;
use crate::weights::{FetchedTensor, LlamaWeights};

/// Reads a [`LlamaConfig`] from the `llama.*` metadata of a GGUF file.
pub fn config_from_gguf(f: &GgufFile) -> Result<LlamaConfig> {
    let arch = f
        .get("general.architecture")
        .and_then(|v| v.as_str())
        .unwrap_or("llama");
    // A size read from the file is checked against its limit here, under its GGUF key, before
    // the config is built (and long before anything is allocated from it).
    let num = |key: &str, limit: usize| -> Result<usize> {
        let full = format!("{arch}.{key}");
        let v = f.get(&full).and_then(|v| v.as_u64()).ok_or_else(|| {
            ModelError::malformed(
                f.path(),
                format!("metadata `{full}` is missing or not an integer"),
            )
        })?;
        usize::try_from(v)
            .ok()
            .filter(|&v| v <= limit)
            .ok_or_else(|| {
                ModelError::malformed(
                    f.path(),
                    format!(
                        "metadata `{full}` is {v}, larger than the limit of {limit} this tool accepts"
                    ),
                )
            })
    };
    let float = |key: &str, default: f64| {
        f.get(&format!("{arch}.{key}"))
            .and_then(|v| v.as_f64())
            .unwrap_or(default)
    };
    let heads = num("attention.head_count", sizes::MAX_HEADS)?;
    let kv_heads = match f.get(&format!("{arch}.attention.head_count_kv")) {
        None => heads,
        Some(_) => num("attention.head_count_kv", sizes::MAX_HEADS)?,
    };
    let vocab_size = if f.get(&format!("{arch}.vocab_size")).is_some() {
        num("vocab_size", sizes::MAX_VOCAB)?
    } else {
        match f.get("tokenizer.ggml.tokens").and_then(|v| v.as_array()) {
            Some(a) => a.len(),
            None => f
                .tensor_info("token_embd.weight")
                .and_then(|t| t.shape.first().copied())
                .unwrap_or(0),
        }
    };
    let token = |key: &str| -> Result<Option<u32>> {
        let full = format!("tokenizer.ggml.{key}");
        match f.get(&full) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|x| u32::try_from(x).ok())
                .map(Some)
                .ok_or_else(|| {
                    ModelError::malformed(
                        f.path(),
                        format!("metadata `{full}` ({v:?}) is not a 32-bit token id"),
                    )
                }),
        }
    };
    let config = LlamaConfig {
        hidden_size: num("embedding_length", sizes::MAX_HIDDEN)?,
        intermediate_size: num("feed_forward_length", sizes::MAX_INTERMEDIATE)?,
        num_attention_heads: heads,
        num_key_value_heads: kv_heads,
        num_hidden_layers: num("block_count", sizes::MAX_LAYERS)?,
        vocab_size,
        max_seq: num("context_length", sizes::MAX_SEQ)?,
        rms_norm_eps: float("attention.layer_norm_rms_epsilon", 1e-5),
        rope_theta: float("rope.freq_base", 10000.0),
        rope_scaling: None,
        tie_word_embeddings: f.tensor_info("output.weight").is_none(),
        bos_token_id: token("bos_token_id")?,
        eos_token_id: token("eos_token_id")?,
    };
    config
        .validate()
        .map_err(|e| ModelError::malformed(f.path(), e.to_string()))?;
    Ok(config)
}

/// The GGUF name of a Hugging Face tensor name.
pub fn gguf_name(hf: &str) -> String {
    if let Some(rest) = hf.strip_prefix("model.layers.") {
        let (i, part) = rest.split_once('.').unwrap_or((rest, ""));
        let p = match part {
            "input_layernorm.weight" => "attn_norm.weight",
            "self_attn.q_proj.weight" => "attn_q.weight",
            "self_attn.k_proj.weight" => "attn_k.weight",
            "self_attn.v_proj.weight" => "attn_v.weight",
            "self_attn.o_proj.weight" => "attn_output.weight",
            "post_attention_layernorm.weight" => "ffn_norm.weight",
            "mlp.gate_proj.weight" => "ffn_gate.weight",
            "mlp.up_proj.weight" => "ffn_up.weight",
            "mlp.down_proj.weight" => "ffn_down.weight",
            other => other,
        };
        return format!("blk.{i}.{p}");
    }
    match hf {
        "model.embed_tokens.weight" => "token_embd.weight".into(),
        "model.norm.weight" => "output_norm.weight".into(),
        "lm_head.weight" => "output.weight".into(),
        other => other.into(),
    }
}

/// Undoes llama.cpp's per-head row interleave of Q and K: within each head, GGUF row `2j + t`
/// is Hugging Face row `t * head_dim/2 + j`.
pub fn unpermute_rows(data: &[f32], rows: usize, cols: usize, n_head: usize) -> Vec<f32> {
    let hd = rows / n_head;
    let half = hd / 2;
    let mut out = vec![0.0; data.len()];
    for h in 0..n_head {
        for j in 0..half {
            for t in 0..2 {
                let src = h * hd + 2 * j + t;
                let dst = h * hd + t * half + j;
                out[dst * cols..(dst + 1) * cols]
                    .copy_from_slice(&data[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

/// The inverse of [`unpermute_rows`] (Hugging Face order to llama.cpp order).
pub fn permute_rows(data: &[f32], rows: usize, cols: usize, n_head: usize) -> Vec<f32> {
    let hd = rows / n_head;
    let half = hd / 2;
    let mut out = vec![0.0; data.len()];
    for h in 0..n_head {
        for j in 0..half {
            for t in 0..2 {
                let dst = h * hd + 2 * j + t;
                let src = h * hd + t * half + j;
                out[dst * cols..(dst + 1) * cols]
                    .copy_from_slice(&data[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

/// `w`'s tensors as llama.cpp names and lays them out (Q and K rows in its interleaved RoPE
/// order), ready for [`crate::gguf::write_gguf`]: the inverse of [`weights_from_gguf`].
pub fn gguf_tensors(w: &LlamaWeights) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let c = &w.config;
    crate::safetensors::hf_tensors(w)
        .into_iter()
        .map(|(name, shape, data)| {
            let data = if name.ends_with("q_proj.weight") {
                permute_rows(data, shape[0], shape[1], c.num_attention_heads)
            } else if name.ends_with("k_proj.weight") {
                permute_rows(data, shape[0], shape[1], c.num_key_value_heads)
            } else {
                data.to_vec()
            };
            (gguf_name(&name), shape, data)
        })
        .collect()
}

/// Loads the weights of a GGUF file for `config` (usually [`config_from_gguf`], possibly with
/// fewer layers).
pub fn weights_from_gguf(f: &GgufFile, config: &LlamaConfig) -> Result<LlamaWeights> {
    LlamaWeights::assemble(config, f.path(), |hf| gguf_tensor(f, config, hf))
}

/// The tensor of Hugging Face name `hf` from a GGUF file, as Hugging Face lays it out (Q/K rows
/// unpermuted, norm gains 1-D); `Ok(None)` when the file lacks it.
pub fn gguf_tensor(f: &GgufFile, config: &LlamaConfig, hf: &str) -> Result<Option<FetchedTensor>> {
    let name = gguf_name(hf);
    if f.tensor_info(&name).is_none() {
        return Ok(None);
    }
    let (mut shape, mut data) = f.tensor_f32(&name)?;
    // Norm gains are 1-D in both formats.
    if shape.len() == 2 && shape[0] == 1 && hf.ends_with("norm.weight") {
        shape.remove(0);
    }
    let heads = if hf.ends_with("q_proj.weight") {
        Some(config.num_attention_heads)
    } else if hf.ends_with("k_proj.weight") {
        Some(config.num_key_value_heads)
    } else {
        None
    };
    if let (Some(nh), [rows, cols]) = (heads, shape.as_slice()) {
        if rows % (2 * nh) == 0 {
            data = unpermute_rows(&data, *rows, *cols, nh);
        }
    }
    Ok(Some(FetchedTensor { name, shape, data }))
}

/// Weights and tokenizer of a GGUF file, optionally cut to its first `layers` layers.
pub fn load_gguf_model(
    path: &std::path::Path,
    layers: Option<usize>,
) -> Result<(LlamaWeights, crate::tokenizer::Tokenizer)> {
    let f = GgufFile::open(path)?;
    let mut config = config_from_gguf(&f)?;
    if let Some(n) = layers {
        config = config.reduce_layers(n)?;
    }
    let weights = weights_from_gguf(&f, &config)?;
    let tokenizer = crate::tokenizer::Tokenizer::from_gguf(&f)?;
    Ok((weights, tokenizer))
}
