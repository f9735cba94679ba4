//! Only regular files are read as weights, configs or tokenizers (issue 14, finding 6): a FIFO
//! once blocked the load forever and a directory gave "No such device". Each case must return
//! promptly with an error naming the path and what it is.

mod common;

use common::*;
use hardwire_model::bytes::{read_text_limited, regular_file_len};
use hardwire_model::gguf::{has_gguf_magic, GgufFile};
use hardwire_model::gguf_model::load_gguf_model;
use hardwire_model::safetensors::{load_hf_dir, SafeTensorsFile};
use hardwire_model::{LlamaConfig, Tokenizer};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs")
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Runs `f` on another thread and returns its error text, failing the test if it has not
/// returned within 20 s (a FIFO opened for reading would block forever).
fn error_within_seconds<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, hardwire_model::ModelError> + Send + 'static,
) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f().err().map(|e| e.to_string()));
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the load blocked instead of refusing the special file")
        .expect("the special file was accepted")
}

fn assert_names(e: &str, path: &Path, kind: &str) {
    assert!(
        e.contains(&format!(
            "{} is not a regular file ({kind})",
            path.display()
        )),
        "{e}"
    );
}

#[test]
fn fifo_named_gguf_is_refused_without_blocking() {
    let dir = temp_dir("fifo-gguf");
    let p = dir.join("x.gguf");
    mkfifo(&p);
    let q = p.clone();
    assert_names(
        &error_within_seconds(move || GgufFile::open(&q)),
        &p,
        "a FIFO",
    );
    let q = p.clone();
    assert_names(
        &error_within_seconds(move || load_gguf_model(&q, None)),
        &p,
        "a FIFO",
    );
    let q = p.clone();
    assert_names(
        &error_within_seconds(move || has_gguf_magic(&q)),
        &p,
        "a FIFO",
    );
}

#[test]
fn directory_named_gguf_is_refused() {
    let dir = temp_dir("dir-gguf");
    let p = dir.join("x.gguf");
    std::fs::create_dir(&p).unwrap();
    let q = p.clone();
    assert_names(
        &error_within_seconds(move || GgufFile::open(&q)),
        &p,
        "a directory",
    );
}

#[test]
fn character_device_is_refused() {
    let p = PathBuf::from("/dev/null");
    if !p.exists() {
        return;
    }
    let q = p.clone();
    assert_names(
        &error_within_seconds(move || SafeTensorsFile::open(&q)),
        &p,
        "a character device",
    );
    assert_names(
        &regular_file_len(&p).unwrap_err().to_string(),
        &p,
        "a character device",
    );
}

#[test]
fn fifo_config_tokenizer_and_weights_in_a_model_directory_are_refused() {
    let dir = temp_dir("fifo-hf");
    let config = dir.join("config.json");
    mkfifo(&config);
    let d = dir.to_path_buf();
    assert_names(
        &error_within_seconds(move || load_hf_dir(&d)),
        &config,
        "a FIFO",
    );
    let c = config.clone();
    assert_names(
        &error_within_seconds(move || LlamaConfig::from_json_file(&c)),
        &config,
        "a FIFO",
    );

    std::fs::remove_file(&config).unwrap();
    std::fs::write(&config, serde_json::to_string(&tiny().config).unwrap()).unwrap();
    let weights = dir.join("model.safetensors");
    mkfifo(&weights);
    let d = dir.to_path_buf();
    assert_names(
        &error_within_seconds(move || load_hf_dir(&d)),
        &weights,
        "a FIFO",
    );

    let tok = dir.join("tokenizer.json");
    mkfifo(&tok);
    let t = tok.clone();
    assert_names(
        &error_within_seconds(move || Tokenizer::from_tokenizer_json(&t)),
        &tok,
        "a FIFO",
    );
}

#[test]
fn oversized_json_is_refused_before_reading() {
    let dir = temp_dir("big-json");
    let p = dir.join("config.json");
    std::fs::write(&p, vec![b' '; 2048]).unwrap();
    let e = read_text_limited(&p, 1024).unwrap_err().to_string();
    assert!(
        e.contains("config.json") && e.contains("2048 bytes, more than the 1024-byte limit"),
        "{e}"
    );
}

#[test]
fn gguf_is_recognised_by_its_magic_whatever_its_name() {
    let dir = temp_dir("magic");
    let p = dir.join("weights.bin");
    std::fs::write(&p, gguf_bytes(&tiny())).unwrap();
    assert!(has_gguf_magic(&p).unwrap());
    let s = dir.join("model.safetensors");
    std::fs::write(
        &s,
        safetensors_bytes(&tiny(), hardwire_model::safetensors::Dtype::F32),
    )
    .unwrap();
    assert!(!has_gguf_magic(&s).unwrap());
    let short = dir.join("short");
    std::fs::write(&short, b"GG").unwrap();
    assert!(!has_gguf_magic(&short).unwrap());
    // And it parses by content, not by name.
    let f = GgufFile::open(&p).unwrap();
    let c = hardwire_model::gguf_model::config_from_gguf(&f).unwrap();
    assert_eq!((c.hidden_size, c.num_hidden_layers), (64, 2));
}
