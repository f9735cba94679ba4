//! Fixtures shared by the import tests: the tiny seeded model written as GGUF and safetensors.
#![allow(dead_code)]

use hardwire_model::gguf::{write_gguf, GgufValue};
use hardwire_model::gguf_model::gguf_tensors;
use hardwire_model::safetensors::{hf_tensors, write_safetensors, Dtype};
use hardwire_model::{LlamaConfig, LlamaWeights};
use std::path::PathBuf;

pub fn tiny() -> LlamaWeights {
    LlamaWeights::seeded(&LlamaConfig::tiny(), 42).unwrap()
}

/// A fresh directory under the system temp dir, unique to this process and `name`, removed
/// when dropped (keep it bound while its files are in use).
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn temp_dir(name: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("hardwire-model-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}

pub fn safetensors_bytes(w: &LlamaWeights, dtype: Dtype) -> Vec<u8> {
    write_safetensors(&hf_tensors(w), dtype)
}

/// The weights as llama.cpp would store them: GGUF names, Q/K rows interleaved per head.
pub fn gguf_bytes(w: &LlamaWeights) -> Vec<u8> {
    let c = &w.config;
    let meta = vec![
        ("general.architecture", GgufValue::String("llama".into())),
        (
            "llama.embedding_length",
            GgufValue::U32(c.hidden_size as u32),
        ),
        (
            "llama.feed_forward_length",
            GgufValue::U32(c.intermediate_size as u32),
        ),
        (
            "llama.attention.head_count",
            GgufValue::U32(c.num_attention_heads as u32),
        ),
        (
            "llama.attention.head_count_kv",
            GgufValue::U32(c.num_key_value_heads as u32),
        ),
        (
            "llama.block_count",
            GgufValue::U32(c.num_hidden_layers as u32),
        ),
        ("llama.context_length", GgufValue::U32(c.max_seq as u32)),
        ("llama.vocab_size", GgufValue::U32(c.vocab_size as u32)),
        ("llama.rope.freq_base", GgufValue::F32(c.rope_theta as f32)),
        (
            "llama.attention.layer_norm_rms_epsilon",
            GgufValue::F32(c.rms_norm_eps as f32),
        ),
    ];
    let owned = gguf_tensors(w);
    let tensors: Vec<(&str, &[usize], &[f32])> = owned
        .iter()
        .map(|(n, s, d)| (n.as_str(), s.as_slice(), d.as_slice()))
        .collect();
    write_gguf(&meta, &tensors)
}
