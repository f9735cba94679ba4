//! Importing a real-format 8B checkpoint: writes the synthetic Llama 3.1 8B as a Hugging Face
//! directory of BF16 safetensors shards (16.1 GB in four shards, each written one tensor at a
//! time) with its `model.safetensors.index.json` and `config.json`, then imports it in a child
//! process, tensor by tensor, into the 4-bit golden model (what `generate --model DIR
//! --numerics fixed --weight-bits 4` does for a checkpoint too large for f32), and prints the
//! import's time, rate and peak RSS. The directory goes under `$HARDWIRE_BENCH_DIR` (default:
//! the temp directory) and is removed at the end.
//!
//! `cargo bench -p hardwire-model --bench checkpoint` measures; under `cargo test` (no
//! `--bench` argument) it is a smoke run of the same steps on the tiny model, which must stream
//! to the model built from its weights read whole.

use hardwire_model::fixed::{FixedModel, NumericConfig};
use hardwire_model::quant::{QuantPolicy, QuantSpec};
use hardwire_model::safetensors::{write_safetensors_to, Dtype};
use hardwire_model::tensor_source::TensorSource;
use hardwire_model::weights::{hf_tensor_names, synthetic_tensor};
use hardwire_model::LlamaConfig;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

const SEED: u64 = 7;

fn policy() -> QuantPolicy {
    QuantPolicy::uniform(QuantSpec {
        bits: 4,
        group_size: Some(32),
        offset: true,
    })
}

/// Writes `config`'s synthetic weights as BF16 shards of at most `shard_bytes`, with the index
/// and config; returns the bytes written.
fn write_checkpoint(config: &LlamaConfig, dir: &Path, shard_bytes: u64) -> u64 {
    std::fs::create_dir_all(dir).unwrap();
    let names = hf_tensor_names(config);
    let mut shards: Vec<Vec<(String, Vec<usize>)>> = vec![Vec::new()];
    let mut in_shard = 0u64;
    for (n, s) in names {
        let b = 2 * s.iter().product::<usize>() as u64;
        if in_shard + b > shard_bytes && !shards.last().unwrap().is_empty() {
            shards.push(Vec::new());
            in_shard = 0;
        }
        in_shard += b;
        shards.last_mut().unwrap().push((n, s));
    }
    let count = shards.len();
    let mut map = serde_json::Map::new();
    let (t, mut total) = (Instant::now(), 0u64);
    for (i, shard) in shards.iter().enumerate() {
        let file = format!("model-{:05}-of-{count:05}.safetensors", i + 1);
        let path = dir.join(&file);
        let mut out = BufWriter::with_capacity(8 << 20, std::fs::File::create(&path).unwrap());
        write_safetensors_to(&mut out, shard, Dtype::BF16, |k| {
            let (n, s) = &shard[k];
            Ok(synthetic_tensor(SEED, n, s))
        })
        .unwrap();
        drop(out);
        total += std::fs::metadata(&path).unwrap().len();
        for (n, _) in shard {
            map.insert(n.clone(), file.clone().into());
        }
        eprintln!(
            "  wrote {file} ({:.2} GB in all, {:.0} s)",
            total as f64 / 1e9,
            t.elapsed().as_secs_f64()
        );
    }
    let index = serde_json::json!({ "metadata": { "total_size": total }, "weight_map": map });
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(config).unwrap(),
    )
    .unwrap();
    total
}

/// Imports the checkpoint in `dir` into the 4-bit golden model, streaming.
fn import(dir: &Path, quiet: bool) -> FixedModel {
    let (c, source) = TensorSource::hf_dir(dir, None).expect("open the checkpoint");
    let t = Instant::now();
    FixedModel::stream(
        &c,
        &policy(),
        NumericConfig::default(),
        64,
        |n, s| source.fetch(&c, n, s),
        |done, total| {
            if !quiet && (done % 20 == 0 || done == total) {
                eprintln!(
                    "  {done}/{total} tensors imported, {:.0} s",
                    t.elapsed().as_secs_f64()
                );
            }
        },
    )
    .expect("import")
}

/// Peak resident memory of this process, in GB.
fn peak_rss_gb() -> Option<f64> {
    hardwire_model::memory::peak_rss_bytes().map(|b| b as f64 / 1e9)
}

fn main() {
    // The child: import only, so its peak RSS is the import's.
    if let Some(dir) = std::env::var_os("HARDWIRE_CHECKPOINT_IMPORT") {
        let t = Instant::now();
        let m = import(Path::new(&dir), false);
        println!(
            "{} {:.3} {}",
            t.elapsed().as_secs_f64(),
            peak_rss_gb().unwrap_or(f64::NAN),
            m.layers.len()
        );
        return;
    }
    let smoke = !std::env::args().any(|a| a == "--bench");
    let base = std::env::var_os("HARDWIRE_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("hardwire-checkpoint-{}", std::process::id()));
    if smoke {
        println!(
            "smoke run (tiny); `cargo bench -p hardwire-model --bench checkpoint` measures the 8B"
        );
        let mut c = LlamaConfig::tiny();
        c.tie_word_embeddings = false;
        write_checkpoint(&c, &dir, 40_000);
        let shards = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".safetensors"))
            .count();
        assert!(shards > 1, "the smoke checkpoint is sharded");
        let streamed = import(&dir, true);
        let whole = hardwire_model::safetensors::load_hf_dir(&dir).unwrap();
        let built = FixedModel::new(&whole, &policy(), NumericConfig::default(), 64).unwrap();
        assert_eq!(streamed.matrices(), built.matrices());
        std::fs::remove_dir_all(&dir).unwrap();
        return;
    }
    let config = LlamaConfig::llama_3_1_8b();
    eprintln!(
        "writing the synthetic 8B as BF16 shards to {}",
        dir.display()
    );
    let t = Instant::now();
    let bytes = write_checkpoint(&config, &dir, 5_000_000_000);
    let write_s = t.elapsed().as_secs_f64();
    eprintln!("importing it into the 4-bit golden model (a child process)");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env("HARDWIRE_CHECKPOINT_IMPORT", &dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("the import child");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(out.status.success(), "the import failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<f64> = text
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    println!(
        "checkpoint: {:.2} GB of BF16 safetensors, written in {write_s:.0} s",
        bytes as f64 / 1e9
    );
    println!(
        "import (tensor by tensor, to 4-bit affine g32): {:.0} s, {:.0} MB/s of checkpoint, peak RSS {:.2} GB, {} layers",
        f[0],
        bytes as f64 / 1e6 / f[0],
        f[1],
        f[2]
    );
}
