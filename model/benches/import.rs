//! Time to import SmolLM2-135M from GGUF and from a safetensors export (figures printed, nothing
//! asserted). Peak memory: run the bench binary under `/usr/bin/time -v`, e.g.
//! `HARDWIRE_IMPORT=gguf /usr/bin/time -v target/release/deps/import-*` (see the crate README
//! of the report). `HARDWIRE_IMPORT` picks `gguf`, `safetensors` or `both` (default).
//!
//! Under `cargo test` (no `--bench` argument) it is a smoke run: both imports of the first
//! layer only, and the safetensors export must read back with the same config and parameter
//! count.

use hardwire_model::fixtures::{smollm2_gguf, smollm2_gguf_or_skip};
use hardwire_model::gguf_model::load_gguf_model;
use hardwire_model::safetensors::{hf_tensors, load_hf_dir, write_safetensors, Dtype};
use std::time::Instant;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` runs this with no such argument.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let path = if smoke {
        println!(
            "smoke run (first layer only); `cargo bench -p hardwire-model --bench import` measures"
        );
        smollm2_gguf_or_skip("import bench smoke run")
    } else {
        smollm2_gguf()
    };
    let Some(path) = path else {
        eprintln!("SmolLM2 GGUF not found; run scripts/fetch-smollm2.sh");
        return;
    };
    let which = std::env::var("HARDWIRE_IMPORT").unwrap_or_else(|_| "both".into());
    let layers = smoke.then_some(1);
    let t0 = Instant::now();
    let (w, _) = load_gguf_model(&path, layers).expect("load gguf");
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
    let (config, params) = (w.config.clone(), w.num_params());
    drop(w);
    let t1 = Instant::now();
    let w2 = load_hf_dir(&dir).expect("load safetensors");
    assert_eq!(w2.config, config, "the safetensors export's config");
    assert_eq!(
        w2.num_params(),
        params,
        "the safetensors export's parameters"
    );
    println!(
        "safetensors (BF16, mmap) import: {:.2} s, {} parameters",
        t1.elapsed().as_secs_f64(),
        w2.num_params()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
