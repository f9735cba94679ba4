//! Every malformed-input case is an error naming the file and, where one is involved, the tensor.

mod common;

use common::*;
use hardwire_model::bytes::FileBytes;
use hardwire_model::gguf::GgufFile;
use hardwire_model::gguf_model::weights_from_gguf;
use hardwire_model::safetensors::{hf_tensors, write_safetensors, Dtype, SafeTensorsFile};
use hardwire_model::{LlamaWeights, ModelError};
use std::path::Path;

fn st_load(bytes: Vec<u8>) -> Result<LlamaWeights, ModelError> {
    let w = tiny();
    let f = SafeTensorsFile::parse("bad.safetensors".into(), FileBytes::Owned(bytes))?;
    LlamaWeights::assemble(&w.config, Path::new("bad.safetensors"), |n| f.tensor_f32(n))
}

fn gguf_load(bytes: Vec<u8>) -> Result<LlamaWeights, ModelError> {
    let f = GgufFile::parse("bad.gguf".into(), FileBytes::Owned(bytes))?;
    weights_from_gguf(&f, &tiny().config)
}

/// A safetensors file from a raw JSON header and data section.
fn st_raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

fn expect_err(r: Result<LlamaWeights, ModelError>, parts: &[&str]) -> String {
    let e = r.expect_err("malformed input was accepted").to_string();
    for p in parts {
        assert!(e.contains(p), "error `{e}` does not mention `{p}`");
    }
    e
}

#[test]
fn safetensors_truncated() {
    let b = safetensors_bytes(&tiny(), Dtype::F32);
    expect_err(
        st_load(b[..b.len() - 10].to_vec()),
        &["bad.safetensors", "out of range"],
    );
    expect_err(st_load(b[..5].to_vec()), &["bad.safetensors", "truncated"]);
}

#[test]
fn safetensors_header_longer_than_file() {
    let mut b = safetensors_bytes(&tiny(), Dtype::F32);
    b[..8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    expect_err(st_load(b), &["bad.safetensors", "header length"]);
}

#[test]
fn safetensors_bad_json() {
    expect_err(
        st_load(st_raw("{\"a\": [1, 2", &[])),
        &["bad.safetensors", "JSON"],
    );
}

#[test]
fn safetensors_unknown_dtype() {
    let h = r#"{"model.norm.weight":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}}"#;
    expect_err(
        st_load(st_raw(h, &[0; 8])),
        &["bad.safetensors", "model.norm.weight", "unknown dtype `F7`"],
    );
}

#[test]
fn safetensors_integer_dtype_for_a_weight() {
    let w = tiny();
    let mut t = hf_tensors(&w);
    t.retain(|(n, _, _)| n != "model.norm.weight");
    let mut b = write_safetensors(&t, Dtype::F32);
    // Rewrite with one extra I32 tensor under the norm's name.
    let n = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&b[8..8 + n]).unwrap();
    let data_len = b.len() - 8 - n;
    header.insert(
        "model.norm.weight".into(),
        serde_json::json!({"dtype":"I32","shape":[64],"data_offsets":[data_len, data_len + 256]}),
    );
    let h = serde_json::Value::Object(header).to_string();
    let mut data = b.split_off(8 + n);
    data.extend([0u8; 256]);
    expect_err(
        st_load(st_raw(&h, &data)),
        &["bad.safetensors", "model.norm.weight", "I32"],
    );
}

#[test]
fn safetensors_offsets_out_of_range() {
    let h = r#"{"model.norm.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8000000000000]}}"#;
    expect_err(
        st_load(st_raw(h, &[0; 8])),
        &["bad.safetensors", "model.norm.weight", "out of range"],
    );
}

#[test]
fn safetensors_overlapping_tensors() {
    let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
    expect_err(
        st_load(st_raw(h, &[0; 12])),
        &["bad.safetensors", "`b`", "overlaps tensor `a`"],
    );
}

#[test]
fn safetensors_size_disagrees_with_shape() {
    let h = r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#;
    expect_err(
        st_load(st_raw(h, &[0; 8])),
        &["bad.safetensors", "`a`", "shape [3]"],
    );
}

#[test]
fn safetensors_shape_mismatch_with_config() {
    let mut w = tiny();
    w.final_norm.push(1.0);
    expect_err(
        st_load(safetensors_bytes(&w, Dtype::F32)),
        &["bad.safetensors", "model.norm.weight", "[65]", "[64]"],
    );
}

#[test]
fn safetensors_missing_tensor() {
    let w = tiny();
    let mut t = hf_tensors(&w);
    t.retain(|(n, _, _)| n != "model.layers.1.mlp.up_proj.weight");
    expect_err(
        st_load(write_safetensors(&t, Dtype::F32)),
        &[
            "bad.safetensors",
            "model.layers.1.mlp.up_proj.weight",
            "missing",
        ],
    );
}

#[test]
fn safetensors_nan_and_inf() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut w = tiny();
        w.layers[0].wk.data[5] = bad;
        let e = expect_err(
            st_load(safetensors_bytes(&w, Dtype::F32)),
            &[
                "bad.safetensors",
                "model.layers.0.self_attn.k_proj.weight",
                "element 5",
            ],
        );
        assert!(e.contains("non-finite"), "{e}");
    }
}

#[test]
fn gguf_truncated() {
    let b = gguf_bytes(&tiny());
    expect_err(
        gguf_load(b[..b.len() - 100].to_vec()),
        &["bad.gguf", "past the end of the file"],
    );
    let p = entry_after_name(&b, "output_norm.weight");
    expect_err(gguf_load(b[..p + 6].to_vec()), &["bad.gguf", "truncated"]);
    expect_err(gguf_load(b[..3].to_vec()), &["bad.gguf", "truncated"]);
}

#[test]
fn gguf_counts_larger_than_file() {
    let mut b = gguf_bytes(&tiny());
    b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    expect_err(gguf_load(b), &["bad.gguf", "more than the file holds"]);
}

#[test]
fn gguf_bad_magic_and_version() {
    let mut b = gguf_bytes(&tiny());
    b[0] = b'X';
    expect_err(gguf_load(b), &["bad.gguf", "magic"]);
    let mut b = gguf_bytes(&tiny());
    b[4] = 9;
    expect_err(gguf_load(b), &["bad.gguf", "version 9"]);
}

/// Finds the directory entry of `name` and returns the offset just after its name.
fn entry_after_name(b: &[u8], name: &str) -> usize {
    let mut key = (name.len() as u64).to_le_bytes().to_vec();
    key.extend(name.as_bytes());
    b.windows(key.len())
        .position(|w| w == key.as_slice())
        .unwrap()
        + key.len()
}

#[test]
fn gguf_unknown_tensor_type() {
    let mut b = gguf_bytes(&tiny());
    let p = entry_after_name(&b, "output_norm.weight");
    // n_dims (4) + one dim (8), then the type.
    b[p + 12..p + 16].copy_from_slice(&77u32.to_le_bytes());
    expect_err(
        gguf_load(b.clone()),
        &[
            "bad.gguf",
            "output_norm.weight",
            "ggml type 77 (unknown) is not supported",
        ],
    );
    // A real ggml type this reader does not decode is named.
    b[p + 12..p + 16].copy_from_slice(&13u32.to_le_bytes());
    expect_err(
        gguf_load(b),
        &[
            "output_norm.weight",
            "ggml type 13 (Q5_K) is not supported",
            "Q4_K and Q6_K",
        ],
    );
}

#[test]
fn gguf_offset_out_of_range_and_overlap() {
    let mut b = gguf_bytes(&tiny());
    let p = entry_after_name(&b, "output_norm.weight");
    b[p + 16..p + 24].copy_from_slice(&(1u64 << 50).to_le_bytes());
    expect_err(
        gguf_load(b),
        &["bad.gguf", "output_norm.weight", "past the end"],
    );
    let mut b = gguf_bytes(&tiny());
    let p = entry_after_name(&b, "output_norm.weight");
    b[p + 16..p + 24].copy_from_slice(&0u64.to_le_bytes());
    expect_err(gguf_load(b), &["bad.gguf", "overlaps"]);
}

#[test]
fn gguf_shape_mismatch_missing_and_nan() {
    let mut w = tiny();
    w.final_norm.truncate(32);
    expect_err(
        gguf_load(gguf_bytes(&w)),
        &["bad.gguf", "output_norm.weight", "[32]", "[64]"],
    );
    let mut w = tiny();
    w.lm_head = None;
    expect_err(
        gguf_load(gguf_bytes(&w)),
        &["bad.gguf", "lm_head.weight", "missing"],
    );
    let mut w = tiny();
    w.layers[1].w_down.data[3] = f32::NAN;
    expect_err(
        gguf_load(gguf_bytes(&w)),
        &["bad.gguf", "blk.1.ffn_down.weight", "non-finite"],
    );
}
