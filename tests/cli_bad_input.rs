//! Bad model inputs through the whole command line, as a user meets them: sizes that would
//! exhaust memory are refused before allocation, and special files by their kind (issue 14,
//! findings 5 and 6; `model/tests/limits.rs` and `special_files.rs` test the loaders alone).

mod cli;

use cli::{hardwire, Scratch};
use hardwire::model::LlamaConfig;
use std::time::{Duration, Instant};

/// A Hugging Face directory whose config.json is the tiny model's with `field` set to `value`.
fn config_dir(dir: &Scratch, field: &str, value: u64) -> String {
    let mut config = serde_json::to_value(LlamaConfig::tiny()).unwrap();
    config[field] = value.into();
    let path = dir.join("model");
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(path.join("config.json"), config.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn absurd_sizes_in_config_json_are_refused_before_allocation() {
    for (field, value) in [
        ("num_hidden_layers", 1_000_000_000_000),
        ("num_hidden_layers", 4_000_000_000),
        ("max_position_embeddings", 4_000_000_000),
        ("vocab_size", 1 << 40),
    ] {
        let dir = Scratch::new("bad-config");
        let model = config_dir(&dir, field, value);
        for cmd in [
            vec!["generate", "--model", &model, "--prompt", "hi"],
            vec![
                "rtl",
                "--model",
                &model,
                "--max-seq",
                "4000000000",
                "--out",
                "o",
            ],
        ] {
            let t = Instant::now();
            hardwire(&dir.0, &cmd).refused(&["config.json", field]);
            assert!(t.elapsed() < Duration::from_secs(20), "{field}: too slow");
        }
    }
}

#[test]
fn a_fifo_or_a_directory_named_like_a_gguf_is_refused_by_kind() {
    let dir = Scratch::new("bad-special");
    let fifo = dir.join("x.gguf");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let t = Instant::now();
    hardwire(
        &dir.0,
        &[
            "generate",
            "--model",
            fifo.to_str().unwrap(),
            "--prompt",
            "hi",
        ],
    )
    .refused(&["x.gguf", "not a regular file", "FIFO"]);
    assert!(t.elapsed() < Duration::from_secs(20), "a FIFO blocked");
    let folder = dir.join("y.gguf");
    std::fs::create_dir(&folder).unwrap();
    hardwire(
        &dir.0,
        &[
            "generate",
            "--model",
            folder.to_str().unwrap(),
            "--prompt",
            "hi",
        ],
    )
    .refused(&["y.gguf", "config.json"]);
}
