//! The same weights through every import path give the same model.

mod common;

use common::*;
use hardwire_model::bytes::FileBytes;
use hardwire_model::fixtures::smollm2_gguf_or_skip;
use hardwire_model::gguf::GgufFile;
use hardwire_model::gguf_model::{config_from_gguf, load_gguf_model, weights_from_gguf};
use hardwire_model::safetensors::{
    hf_tensors, load_hf_dir, load_safetensors, write_safetensors, Dtype,
};
use hardwire_model::{LlamaWeights, Reference};
use std::path::Path;

#[test]
fn tiny_gguf_round_trip_undoes_the_qk_permutation() {
    let w = tiny();
    let f = GgufFile::parse("tiny.gguf".into(), FileBytes::Owned(gguf_bytes(&w))).unwrap();
    let c = config_from_gguf(&f).unwrap();
    assert_eq!(c.hidden_size, 64);
    assert!(!c.tie_word_embeddings);
    let back = weights_from_gguf(&f, &w.config).unwrap();
    assert_eq!(back, w);
}

#[test]
fn tiny_safetensors_f32_f16_bf16() {
    let w = tiny();
    let dir = temp_dir("tiny-st");
    for (dtype, tol) in [(Dtype::F32, 0.0), (Dtype::F16, 1e-3), (Dtype::BF16, 8e-3)] {
        let p = dir.join(format!("{}.safetensors", dtype.name()));
        std::fs::write(&p, safetensors_bytes(&w, dtype)).unwrap();
        let back = load_safetensors(&p, &w.config).unwrap();
        let err = back
            .embed
            .data
            .iter()
            .zip(&w.embed.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err <= tol, "{dtype:?}: max error {err}");
        if dtype == Dtype::F32 {
            assert_eq!(back, w);
        }
    }
}

/// Writes `w` as a Hugging Face directory split over two shards with an index.
fn write_sharded(w: &LlamaWeights, dir: &Path) {
    let tensors = hf_tensors(w);
    let half = tensors.len() / 2;
    let mut map = serde_json::Map::new();
    for (i, part) in [&tensors[..half], &tensors[half..]].into_iter().enumerate() {
        let file = format!("model-0000{}-of-00002.safetensors", i + 1);
        std::fs::write(dir.join(&file), write_safetensors(part, Dtype::F32)).unwrap();
        for (name, _, _) in part {
            map.insert(name.clone(), file.clone().into());
        }
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(&w.config).unwrap(),
    )
    .unwrap();
}

#[test]
fn tiny_sharded_directory_loads() {
    let w = tiny();
    let dir = temp_dir("tiny-sharded");
    write_sharded(&w, &dir);
    assert_eq!(load_hf_dir(&dir).unwrap(), w);
}

#[test]
fn smollm2_safetensors_export_gives_the_same_logits() {
    let Some(path) = smollm2_gguf_or_skip("smollm2 safetensors") else {
        return;
    };
    let (w, tok) = load_gguf_model(&path, None).unwrap();
    let dir = temp_dir("smollm2-st");
    write_sharded(&w, &dir);
    let back = load_hf_dir(&dir).unwrap();
    drop(dir);
    let ids = tok.encode("The history of the Roman Empire").unwrap();
    let (ra, rb) = (Reference::new(&w), Reference::new(&back));
    let la = ra.forward(&mut ra.new_cache(), &ids, true).unwrap();
    let lb = rb.forward(&mut rb.new_cache(), &ids, true).unwrap();
    assert_eq!(la, lb);
}
