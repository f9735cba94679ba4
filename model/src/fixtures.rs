//! Where the tests, benches and CI find the real SmolLM2-135M fetched by
//! `scripts/fetch-smollm2.sh`.

use std::path::PathBuf;

/// File name of the GGUF inside the cache.
pub const SMOLLM2_GGUF_NAME: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The cache directory: `$HARDWIRE_CACHE_DIR`, else `$HOME/.cache/hardwire`.
pub fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os("HARDWIRE_CACHE_DIR") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("hardwire")),
    }
}

/// The path the fetch script writes the SmolLM2 GGUF to, whether or not it exists.
pub fn smollm2_gguf_path() -> Option<PathBuf> {
    cache_dir().map(|d| d.join("smollm2").join(SMOLLM2_GGUF_NAME))
}

/// The SmolLM2 GGUF, when it has been fetched.
pub fn smollm2_gguf() -> Option<PathBuf> {
    smollm2_gguf_path().filter(|p| p.is_file())
}

/// For tests that need the real model: its path, or `None` after printing a note — unless `CI`
/// is `true`, where a missing model is a failure (CI runs `scripts/fetch-smollm2.sh` first).
pub fn smollm2_gguf_or_skip(test: &str) -> Option<PathBuf> {
    if let Some(p) = smollm2_gguf() {
        return Some(p);
    }
    let msg = format!(
        "{test}: SmolLM2-135M GGUF not found at {:?}; run scripts/fetch-smollm2.sh",
        smollm2_gguf_path()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("note: skipping {msg}");
    None
}
