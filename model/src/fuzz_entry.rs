//! The entry points the `cargo fuzz` targets (in `fuzz/`) and the regression-corpus replay test
//! (`model/tests/fuzz_regressions.rs`) share, so a crash found by one is replayed by the other
//! through the same code.
//!
//! Each takes arbitrary bytes, runs them through a front door of the crate as a user's file
//! would go, and returns what the parser said. An `Err` is a correct answer for bad input; a
//! panic, an abort or a hang is a bug.

use crate::bytes::FileBytes;
use crate::config::LlamaConfig;
use crate::error::Result;
use crate::gguf::GgufFile;
use crate::gguf_model::{config_from_gguf, weights_from_gguf};
use crate::safetensors::SafeTensorsFile;
use crate::safetensors_index::ShardIndex;
use crate::tokenizer::Tokenizer;
use crate::weights::LlamaWeights;
use std::path::Path;

/// The fuzz targets, by the names of their `fuzz/fuzz_targets/*.rs` files and corpus folders.
pub const TARGETS: [&str; 4] = ["gguf", "safetensors", "safetensors_index", "config_json"];

/// Runs the entry point of `target` (one of [`TARGETS`]) on `data`; `None` for an unknown name.
pub fn run(target: &str, data: &[u8]) -> Option<Result<()>> {
    Some(match target {
        "gguf" => gguf(data),
        "safetensors" => safetensors(data),
        "safetensors_index" => safetensors_index(data),
        "config_json" => config_json(data),
        _ => return None,
    })
}

/// A GGUF file: parse, read the config, build the tokenizer, then load the weights.
pub fn gguf(data: &[u8]) -> Result<()> {
    let f = GgufFile::parse("fuzz.gguf".into(), FileBytes::Owned(data.to_vec()))?;
    // Every tensor the directory lists, dequantised (bounded by the file's length).
    for t in f.tensors.iter().take(16) {
        f.tensor_f32(&t.name)?;
    }
    let config = config_from_gguf(&f)?;
    let _ = Tokenizer::from_gguf(&f);
    weights_from_gguf(&f, &config)?;
    Ok(())
}

/// The config the seed files are written for and a fuzzed safetensors file or index is loaded
/// against: a Llama small enough that its whole file (about 4 kB) is mutated quickly.
pub fn small_config() -> LlamaConfig {
    LlamaConfig {
        hidden_size: 8,
        intermediate_size: 16,
        num_attention_heads: 2,
        num_key_value_heads: 1,
        num_hidden_layers: 1,
        vocab_size: 16,
        max_seq: 8,
        ..LlamaConfig::tiny()
    }
}

/// A safetensors file: parse the header, fetch every tensor, then assemble the small model.
pub fn safetensors(data: &[u8]) -> Result<()> {
    let path = Path::new("fuzz.safetensors");
    let f = SafeTensorsFile::parse(path.into(), FileBytes::Owned(data.to_vec()))?;
    for name in f.tensors.keys().take(64) {
        let _ = f.tensor_f32(name)?;
    }
    LlamaWeights::assemble(&small_config(), path, |n| f.tensor_f32(n))?;
    Ok(())
}

/// A `model.safetensors.index.json`: parse it and resolve the shards of the small model.
pub fn safetensors_index(data: &[u8]) -> Result<()> {
    let text = String::from_utf8_lossy(data);
    let idx = ShardIndex::parse(Path::new("model.safetensors.index.json"), &text)?;
    idx.shards_for(&small_config())?;
    Ok(())
}

/// A `config.json`: parse and validate, then every checked size derived from it.
pub fn config_json(data: &[u8]) -> Result<()> {
    let text = String::from_utf8_lossy(data);
    let c = LlamaConfig::from_json_str(&text)?;
    c.num_params()?;
    c.f32_weight_bytes()?;
    c.kv_cache_bytes(c.max_seq, 4)?;
    crate::fixed::FixedModel::footprint_bytes(&c, c.max_seq)?;
    c.rope_inv_freq();
    Ok(())
}

/// Seed inputs for every target, written by the crate's own writers from a seeded
/// [`small_config`] model: `(target, file name, bytes)`, each a few kilobytes.
pub fn seeds() -> Result<Vec<(&'static str, String, Vec<u8>)>> {
    use crate::gguf::{write_gguf, GgufArray, GgufValue};
    use crate::gguf_model::gguf_tensors;
    use crate::safetensors::{hf_tensors, write_safetensors, Dtype};
    let c = small_config();
    let w = LlamaWeights::seeded(&c, 7)?;
    let mut out = Vec::new();
    for dtype in [Dtype::F32, Dtype::F16, Dtype::BF16] {
        out.push((
            "safetensors",
            format!("small_{}.safetensors", dtype.name()),
            write_safetensors(&hf_tensors(&w), dtype),
        ));
    }
    let u32v = |x: usize| GgufValue::U32(x as u32);
    let tokens: crate::gguf::GgufStrings = (0..c.vocab_size)
        .map(|i| ["a", "b", "ab", "<s>"][i % 4])
        .collect();
    let meta = vec![
        ("general.architecture", GgufValue::String("llama".into())),
        ("llama.embedding_length", u32v(c.hidden_size)),
        ("llama.feed_forward_length", u32v(c.intermediate_size)),
        ("llama.attention.head_count", u32v(c.num_attention_heads)),
        ("llama.attention.head_count_kv", u32v(c.num_key_value_heads)),
        ("llama.block_count", u32v(c.num_hidden_layers)),
        ("llama.context_length", u32v(c.max_seq)),
        ("llama.rope.freq_base", GgufValue::F32(10000.0)),
        (
            "llama.attention.layer_norm_rms_epsilon",
            GgufValue::F32(1e-5),
        ),
        ("tokenizer.ggml.model", GgufValue::String("gpt2".into())),
        (
            "tokenizer.ggml.tokens",
            GgufValue::Array(GgufArray::String(tokens)),
        ),
        (
            "tokenizer.ggml.merges",
            GgufValue::Array(GgufArray::String(["a b"].into_iter().collect())),
        ),
        (
            "tokenizer.ggml.token_type",
            GgufValue::Array(GgufArray::I32(
                (0..c.vocab_size as i32).map(|i| 1 + 2 * (i % 2)).collect(),
            )),
        ),
        ("tokenizer.ggml.bos_token_id", u32v(3)),
    ];
    let owned = gguf_tensors(&w);
    let tensors: Vec<(&str, &[usize], &[f32])> = owned
        .iter()
        .map(|(n, s, d)| (n.as_str(), s.as_slice(), d.as_slice()))
        .collect();
    out.push(("gguf", "small.gguf".into(), write_gguf(&meta, &tensors)));
    let weight_map: serde_json::Map<String, serde_json::Value> = hf_tensors(&w)
        .iter()
        .enumerate()
        .map(|(i, (n, _, _))| {
            let shard = format!("model-0000{}-of-00002.safetensors", 1 + i % 2);
            (n.clone(), serde_json::Value::String(shard))
        })
        .collect();
    let index = serde_json::json!({"metadata": {"total_size": 1234}, "weight_map": weight_map});
    out.push((
        "safetensors_index",
        "model.safetensors.index.json".into(),
        index.to_string().into_bytes(),
    ));
    for (name, config) in [
        ("small", c.clone()),
        ("smollm2", LlamaConfig::smollm2_135m()),
        ("llama31_8b", LlamaConfig::llama_3_1_8b()),
    ] {
        let json = serde_json::to_string_pretty(&config)
            .map_err(|e| crate::ModelError::Config(e.to_string()))?;
        out.push(("config_json", format!("{name}.json"), json.into_bytes()));
    }
    Ok(out)
}
