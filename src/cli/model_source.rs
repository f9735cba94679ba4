//! Finding and loading a model from a path or a preset name.

use anyhow::{bail, Context};
use hardwire_model::gguf_model::load_gguf_model;
use hardwire_model::safetensors::load_hf_dir;
use hardwire_model::{fixtures, LlamaConfig, LlamaWeights, Tokenizer};
use std::path::Path;

/// Weights and tokenizer named by `--model`.
pub fn load(
    model: &str,
    layers: Option<usize>,
    seed: u64,
) -> anyhow::Result<(LlamaWeights, Tokenizer)> {
    let (weights, tok) = match model {
        "tiny" => (LlamaWeights::seeded(&LlamaConfig::tiny(), seed)?, Tokenizer::bytes()),
        "smollm2-135m" => {
            let path = fixtures::smollm2_gguf().with_context(|| {
                format!(
                    "the smollm2-135m preset reads {:?}; run scripts/fetch-smollm2.sh first",
                    fixtures::smollm2_gguf_path()
                )
            })?;
            load_gguf_model(&path, None)?
        }
        "llama-3.1-8b" => bail!("the llama-3.1-8b preset has no bundled weights; pass --model with a GGUF file or a Hugging Face directory"),
        path => load_path(Path::new(path))?,
    };
    Ok(match layers {
        Some(n) if n > weights.config.num_hidden_layers => bail!(
            "--layers {n}: the model has only {} decoder layers",
            weights.config.num_hidden_layers
        ),
        Some(n) => (weights.reduce_layers(n)?, tok),
        None => (weights, tok),
    })
}

fn load_path(path: &Path) -> anyhow::Result<(LlamaWeights, Tokenizer)> {
    if !path.exists() {
        bail!(
            "{}: no such file, and not a preset (tiny, smollm2-135m, llama-3.1-8b)",
            path.display()
        );
    }
    if path.extension().is_some_and(|e| e == "gguf") {
        return Ok(load_gguf_model(path, None)?);
    }
    let dir = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(Path::new("."))
    };
    let weights = load_hf_dir(dir)?;
    let tok = if dir.join("tokenizer.json").is_file() {
        Tokenizer::from_tokenizer_json(&dir.join("tokenizer.json"))?
    } else if weights.config.vocab_size == 256 {
        Tokenizer::bytes()
    } else {
        bail!(
            "{}: no tokenizer.json beside the weights; use `score --tokens FILE`",
            dir.display()
        );
    };
    Ok((weights, tok))
}
