//! Time to import SmolLM2-135M from GGUF and from a safetensors export (figures printed, nothing
//! asserted). Peak memory: run the bench binary under `/usr/bin/time -v`, e.g.
//! `HARDWIRE_IMPORT=gguf /usr/bin/time -v target/release/deps/import-*` (see the crate README
//! of the report). `HARDWIRE_IMPORT` picks `gguf`, `safetensors` or `both` (default).

use hardwire_model::fixtures::smollm2_gguf;
use hardwire_model::gguf_model::load_gguf_model;
use hardwire_model::safetensors::{hf_tensors, load_hf_dir, write_safetensors, Dtype};
use std::time::Instant;

fn main() {
    let Some(path) = smollm2_gguf() else {
        eprintln!("SmolLM2 GGUF not found; run scripts/fetch-smollm2.sh");
        return;
    };
    let which = std::env::var("HARDWIRE_IMPORT").unwrap_or_else(|_| "both".into());
    let t0 = Instant::now();
    let (w, _) = load_gguf_model(&path, None).expect("load gguf");
    let gguf_s = t0.elapsed().as_secs_f64();
    println!(
        "GGUF import (dequantise to f32, tokenizer): {gguf_s:.2} s, {} parameters",
        w.num_params()
    );
    if which == "gguf" {
        return;
    }
    let dir = std::env::temp_dir().join(format!("hardwire-import-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("model.safetensors"),
        write_safetensors(&hf_tensors(&w), Dtype::BF16),
    )
    .unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(&w.config).unwrap(),
    )
    .unwrap();
    drop(w);
    let t1 = Instant::now();
    let w2 = load_hf_dir(&dir).expect("load safetensors");
    println!(
        "safetensors (BF16, mmap) import: {:.2} s, {} parameters",
        t1.elapsed().as_secs_f64(),
        w2.num_params()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
