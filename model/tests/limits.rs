//! Sizes from a file are checked against limits and the machine before anything is allocated
//! from them (issue 14, finding 5): each case once aborted with "memory allocation of … bytes
//! failed" or spent gigabytes, and is now an error naming the file and the field.

mod common;

use common::*;
use hardwire_model::bytes::FileBytes;
use hardwire_model::fixed::{FixedModel, NumericConfig};
use hardwire_model::gguf::{write_gguf, GgufArray, GgufFile, GgufValue};
use hardwire_model::gguf_model::config_from_gguf;
use hardwire_model::quant::{QuantPolicy, QuantSpec};
use hardwire_model::safetensors::load_hf_dir;
use hardwire_model::safetensors_index::ShardIndex;
use hardwire_model::{memory, LlamaConfig, ModelError, Reference, Tokenizer};
use std::path::Path;

/// The tiny model's GGUF metadata with `key` replaced by `value`, and no tensors.
fn gguf_with(key: &str, value: GgufValue) -> Vec<u8> {
    let c = LlamaConfig::tiny();
    let mut meta = vec![
        ("general.architecture", GgufValue::String("llama".into())),
        (
            "llama.embedding_length",
            GgufValue::U64(c.hidden_size as u64),
        ),
        (
            "llama.feed_forward_length",
            GgufValue::U64(c.intermediate_size as u64),
        ),
        ("llama.attention.head_count", GgufValue::U64(4)),
        ("llama.attention.head_count_kv", GgufValue::U64(2)),
        ("llama.block_count", GgufValue::U64(2)),
        ("llama.context_length", GgufValue::U64(64)),
        ("llama.vocab_size", GgufValue::U64(256)),
    ];
    meta.retain(|(k, _)| *k != key);
    meta.push((key, value));
    write_gguf(&meta, &[])
}

fn gguf_config_err(bytes: Vec<u8>) -> String {
    let f = GgufFile::parse("big.gguf".into(), FileBytes::Owned(bytes)).unwrap();
    config_from_gguf(&f).unwrap_err().to_string()
}

fn json_config(layers: u64, context: u64) -> String {
    format!(
        r#"{{"hidden_size":64,"intermediate_size":192,"num_attention_heads":4,"num_key_value_heads":2,
        "num_hidden_layers":{layers},"vocab_size":256,"max_position_embeddings":{context},"rms_norm_eps":1e-5}}"#
    )
}

fn llama_405b() -> LlamaConfig {
    LlamaConfig {
        hidden_size: 16384,
        intermediate_size: 53248,
        num_attention_heads: 128,
        num_key_value_heads: 8,
        num_hidden_layers: 126,
        vocab_size: 128256,
        max_seq: 131072,
        ..LlamaConfig::llama_3_1_8b()
    }
}

#[test]
fn config_json_with_absurd_layers_or_context_names_file_and_field() {
    let dir = temp_dir("limits-config");
    let p = dir.join("config.json");
    for (layers, context, field) in [
        (
            1_000_000_000_000u64,
            64u64,
            "num_hidden_layers (1000000000000)",
        ),
        (4_000_000_000, 64, "num_hidden_layers (4000000000)"),
        (
            2,
            4_000_000_000,
            "max_position_embeddings (max_seq) (4000000000)",
        ),
    ] {
        std::fs::write(&p, json_config(layers, context)).unwrap();
        let e = LlamaConfig::from_json_file(&p).unwrap_err().to_string();
        assert!(e.contains(&p.display().to_string()), "{e}");
        assert!(
            e.contains(field) && e.contains("larger than the limit"),
            "{e}"
        );
    }
}

#[test]
fn gguf_with_absurd_sizes_names_file_and_key() {
    for (key, v) in [
        ("llama.block_count", 1_000_000_000_000u64),
        ("llama.block_count", 4_000_000_000),
        ("llama.context_length", 4_000_000_000),
        ("llama.embedding_length", 1 << 40),
        ("llama.vocab_size", u64::MAX),
    ] {
        let e = gguf_config_err(gguf_with(key, GgufValue::U64(v)));
        assert!(
            e.contains("big.gguf") && e.contains(&format!("`{key}` is {v}, larger than the limit")),
            "{e}"
        );
    }
}

#[test]
fn gguf_token_id_wider_than_32_bits_is_an_error_not_truncated() {
    let e = gguf_config_err(gguf_with(
        "tokenizer.ggml.bos_token_id",
        GgufValue::U64(1 << 32),
    ));
    assert!(
        e.contains("tokenizer.ggml.bos_token_id") && e.contains("32-bit"),
        "{e}"
    );
}

#[test]
fn sharded_index_with_absurd_config_is_refused_before_enumerating_names() {
    let dir = temp_dir("limits-index");
    std::fs::write(dir.join("config.json"), json_config(100_000_000, 64)).unwrap();
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        r#"{"weight_map":{"model.embed_tokens.weight":"a.safetensors"}}"#,
    )
    .unwrap();
    let e = load_hf_dir(&dir).unwrap_err().to_string();
    assert!(e.contains("num_hidden_layers (100000000)"), "{e}");
    // The index alone, asked for an unvalidated config, validates it first.
    let idx = ShardIndex::parse(
        Path::new("model.safetensors.index.json"),
        r#"{"weight_map":{}}"#,
    )
    .unwrap();
    let mut c = LlamaConfig::tiny();
    c.num_hidden_layers = 100_000_000;
    let e = idx.shards_for(&c).unwrap_err().to_string();
    assert!(e.contains("num_hidden_layers (100000000)"), "{e}");
}

#[test]
fn shard_names_must_be_plain_file_names() {
    let idx = ShardIndex::parse(
        Path::new("i.json"),
        r#"{"weight_map":{"model.norm.weight":"../escape.safetensors"}}"#,
    )
    .unwrap();
    let e = idx
        .shards_for(&LlamaConfig::tiny())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model.norm.weight") && e.contains("not a plain file name"),
        "{e}"
    );
}

#[test]
fn gguf_u8_array_is_held_at_one_byte_per_element() {
    let n = 1 << 20;
    let bytes = gguf_with("big.array", GgufValue::Array(GgufArray::U8(vec![5; n])));
    let f = GgufFile::parse("a.gguf".into(), FileBytes::Owned(bytes)).unwrap();
    match f.get("big.array").unwrap().as_array().unwrap() {
        GgufArray::U8(v) => {
            assert_eq!(v.len(), n);
            assert!(v.capacity() <= n);
        }
        other => panic!("held as {other:?}"),
    }
}

#[test]
fn gguf_array_and_string_lengths_are_bounded_by_the_file() {
    let good = gguf_with("k.s", GgufValue::String("abc".into()));
    // The string's length field follows its key and type code.
    let key = b"k.s";
    let at = good.windows(3).position(|w| w == key).unwrap() + 3 + 4;
    let mut b = good.clone();
    b[at..at + 8].copy_from_slice(&(u64::MAX - 3).to_le_bytes());
    let e = GgufFile::parse("s.gguf".into(), FileBytes::Owned(b))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("s.gguf") && e.contains("truncated: k.s needs"),
        "{e}"
    );

    let good = gguf_with("k.a", GgufValue::Array(GgufArray::U64(vec![1, 2])));
    let at = good.windows(3).position(|w| w == b"k.a").unwrap() + 3 + 4 + 4;
    for count in [u64::MAX, u64::MAX / 8 + 1, 1 << 40] {
        let mut b = good.clone();
        b[at..at + 8].copy_from_slice(&count.to_le_bytes());
        let e = GgufFile::parse("a.gguf".into(), FileBytes::Owned(b))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains(&format!("`k.a`: array of {count} elements is longer than")),
            "{e}"
        );
    }
}

#[test]
fn gguf_metadata_and_tensor_counts_are_bounded() {
    let mut b = gguf_with("x", GgufValue::U8(1));
    b[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let e = GgufFile::parse("c.gguf".into(), FileBytes::Owned(b))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("c.gguf") && e.contains("more than the file holds"),
        "{e}"
    );
}

#[test]
fn kv_cache_bytes_are_checked_arithmetic() {
    let c = LlamaConfig::llama_3_1_8b();
    // 32 layers x K and V x 1024 x 131072 positions x 2 bytes = 16 GiB.
    assert_eq!(c.kv_cache_bytes(131072, 2).unwrap(), 16 << 30);
    let e = c.kv_cache_bytes(usize::MAX, 4).unwrap_err().to_string();
    assert!(e.contains("overflows"), "{e}");
}

#[test]
fn a_model_larger_than_the_machine_is_an_error_not_an_abort() {
    let Some(available) = memory::available_bytes() else {
        eprintln!("note: /proc/meminfo unreadable; the machine check is skipped by design");
        return;
    };
    let c = llama_405b();
    if c.f32_weight_bytes().unwrap() <= available {
        eprintln!("note: this machine holds Llama 405B in f32; nothing here is too large for it");
        return;
    }
    let e = c.check_f32_weights_fit("405b.gguf").unwrap_err();
    assert!(matches!(e, ModelError::OutOfMemory { .. }), "{e}");
    assert!(
        e.to_string().contains("the f32 weights of 405b.gguf needs"),
        "{e}"
    );
    let e = c
        .check_kv_cache_fits(1 << 24, 4, "--max-seq")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("a KV cache of 16777216 positions (--max-seq)"),
        "{e}"
    );
    let e = FixedModel::check_fits(&c, c.max_seq)
        .unwrap_err()
        .to_string();
    assert!(e.contains("a fixed-point model"), "{e}");
}

#[test]
fn fixed_model_footprint_counts_weights_tables_and_cache() {
    let c = LlamaConfig::tiny();
    let params = c.num_params().unwrap();
    let rope = 64 * 8 * 2 * 4;
    let kv = c.kv_cache_bytes(64, 4).unwrap();
    assert_eq!(
        FixedModel::footprint_bytes(&c, 64).unwrap(),
        2 * params + rope + kv
    );
    // A max_seq beyond the config's is cut to it, as FixedModel::new does.
    assert_eq!(
        FixedModel::footprint_bytes(&c, usize::MAX).unwrap(),
        FixedModel::footprint_bytes(&c, 64).unwrap()
    );
}

#[test]
fn generating_an_absurd_number_of_tokens_is_an_error_not_a_capacity_panic() {
    let w = tiny();
    let e = Reference::new(&w)
        .generate_greedy(&[1, 2], usize::MAX, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("exceeds max_seq 64"), "{e}");
    let m = FixedModel::new(
        &w,
        &QuantPolicy::uniform(QuantSpec::per_channel(8)),
        NumericConfig::default(),
        64,
    )
    .unwrap();
    let e = m
        .generate_greedy(&[1, 2], usize::MAX, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("past the KV cache depth 64"), "{e}");
}

#[test]
fn tokenizer_json_added_token_id_is_bounded() {
    let dir = temp_dir("limits-tokenizer");
    let p = dir.join("tokenizer.json");
    std::fs::write(
        &p,
        r#"{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},
            "added_tokens":[{"id":1000000000000,"content":"<big>"}]}"#,
    )
    .unwrap();
    let e = Tokenizer::from_tokenizer_json(&p)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("tokenizer.json") && e.contains("<big>") && e.contains("id 1000000000000"),
        "{e}"
    );
}

#[test]
fn safetensors_shape_with_many_dimensions_is_refused_while_reading() {
    let shape = vec!["1"; 100_000].join(",");
    let h = format!(r#"{{"t":{{"dtype":"F32","shape":[{shape}],"data_offsets":[0,4]}}}}"#);
    let mut b = (h.len() as u64).to_le_bytes().to_vec();
    b.extend(h.as_bytes());
    b.extend([0u8; 4]);
    let e = hardwire_model::safetensors::SafeTensorsFile::parse(
        "d.safetensors".into(),
        FileBytes::Owned(b),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("d.safetensors")
            && e.contains("tensor `t`")
            && e.contains("more than 8 dimensions"),
        "{e}"
    );
}
