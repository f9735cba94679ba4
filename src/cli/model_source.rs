//! Finding and loading a model from a path or a preset name.
//!
//! A path is classified by what it is, not by its name: a directory is a Hugging Face model
//! directory, a regular file starting with the magic `GGUF` is a GGUF file (whatever its
//! extension), any other regular file is taken to sit in a Hugging Face directory, and a FIFO,
//! device or socket is refused before it is opened (opening a FIFO would block forever).

use anyhow::{bail, Context};
use hardwire_model::bytes::file_kind;
use hardwire_model::gguf::has_gguf_magic;
use hardwire_model::gguf_model::load_gguf_model;
use hardwire_model::safetensors::load_hf_dir;
use hardwire_model::store;
use hardwire_model::tensor_source::TensorSource;
use hardwire_model::{fixtures, LlamaConfig, LlamaWeights, Tokenizer};
use std::path::{Path, PathBuf};

/// What `--model` names.
pub enum Source {
    /// Weights read whole, with their tokenizer.
    Loaded(LlamaWeights, Tokenizer),
    /// A model too large for its weights in f32 (the synthetic Llama 3.1 8B, or a file whose
    /// f32 weights would not fit in memory), `--layers` applied: the commands that stream read
    /// it tensor by tensor.
    Streamed {
        /// Its configuration.
        config: LlamaConfig,
        /// Its tensors.
        tensors: TensorSource,
        /// Its tokenizer (bytes for the synthetic model: the prompt's bytes are its ids).
        tokenizer: Tokenizer,
    },
}

/// The model named by `--model`: streamed when it is the synthetic 8B or its f32 weights would
/// not fit in memory, else loaded as [`super::engine::load`] does.
pub fn open(a: &super::ModelArgs) -> anyhow::Result<Source> {
    let layers = |c: LlamaConfig| -> anyhow::Result<LlamaConfig> {
        Ok(match a.layers {
            Some(n) => c
                .reduce_layers(n)
                .with_context(|| format!("--layers {n}"))?,
            None => c,
        })
    };
    if a.model == "llama-3.1-8b" {
        return Ok(Source::Streamed {
            config: layers(LlamaConfig::llama_3_1_8b())?,
            tensors: TensorSource::Synthetic { seed: a.seed },
            tokenizer: Tokenizer::bytes(),
        });
    }
    if !matches!(a.model.as_str(), "tiny" | "smollm2-135m") {
        let path = Path::new(&a.model);
        let (config, tensors) = match classify(path)? {
            ModelPath::Gguf(p) => TensorSource::gguf(p, a.layers)?,
            ModelPath::HfDir(d) => TensorSource::hf_dir(d, a.layers)?,
        };
        if config.check_f32_weights_fit(&a.model).is_err() {
            let tokenizer = match &tensors {
                TensorSource::Gguf(f) => Tokenizer::from_gguf(f)?,
                _ => hf_tokenizer(tensors.path().parent().unwrap_or(Path::new(".")), &config)?,
            };
            eprintln!(
                "{}: its weights would not fit in memory as f32, so they are read one tensor at a time",
                a.model
            );
            return Ok(Source::Streamed {
                config,
                tensors,
                tokenizer,
            });
        }
    }
    let (w, tok) = super::engine::load(a)?;
    Ok(Source::Loaded(w, tok))
}

/// Weights and tokenizer named by `--model`, for the commands that need the f32 weights.
pub fn load(
    model: &str,
    layers: Option<usize>,
    seed: u64,
) -> anyhow::Result<(LlamaWeights, Tokenizer)> {
    let (weights, tok) = match model {
        "tiny" => (
            LlamaWeights::seeded(&LlamaConfig::tiny(), seed)?,
            Tokenizer::bytes(),
        ),
        "smollm2-135m" => {
            let path = fixtures::smollm2_gguf().with_context(|| {
                format!(
                    "the smollm2-135m preset reads {:?}; run scripts/fetch-smollm2.sh first",
                    fixtures::smollm2_gguf_path()
                )
            })?;
            load_gguf_model(&path, None)?
        }
        "llama-3.1-8b" => bail!(
            "the llama-3.1-8b preset is synthetic and too large for this command's f32 weights \
             (32 GB); `generate --numerics fixed` streams it, or pass --model with a GGUF file \
             or a Hugging Face directory"
        ),
        path => load_path(Path::new(path))?,
    };
    Ok(match layers {
        Some(n) => (
            weights
                .reduce_layers(n)
                .with_context(|| format!("--layers {n}"))?,
            tok,
        ),
        None => (weights, tok),
    })
}

/// The content digest of what `--model` names: a preset's name (its seed and layers are
/// flags), else the BLAKE3 digest of the GGUF file, or of a Hugging Face directory's
/// `config.json` and weight files.
pub fn digest(model: &str) -> anyhow::Result<String> {
    let path = match model {
        "tiny" | "llama-3.1-8b" => return Ok(format!("preset {model}")),
        "smollm2-135m" => fixtures::smollm2_gguf().with_context(|| {
            format!(
                "the smollm2-135m preset reads {:?}; run scripts/fetch-smollm2.sh first",
                fixtures::smollm2_gguf_path()
            )
        })?,
        path => PathBuf::from(path),
    };
    let dir = match classify(&path)? {
        ModelPath::Gguf(p) => return Ok(store::file_digest(p)?),
        ModelPath::HfDir(d) => d,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                n == "config.json" || n.to_string_lossy().ends_with(".safetensors")
            })
        })
        .collect();
    files.sort();
    let digests = files
        .iter()
        .map(|f| {
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            Ok(format!("{} {name}", store::file_digest(f)?))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(digests.join("\n"))
}

/// What a `--model` path holds, decided from the file system and the file's first bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ModelPath<'a> {
    /// A GGUF file.
    Gguf(&'a Path),
    /// A Hugging Face directory (`config.json` and safetensors weights).
    HfDir(&'a Path),
}

fn classify(path: &Path) -> anyhow::Result<ModelPath<'_>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{}: no such file, and not a preset (tiny, smollm2-135m, llama-3.1-8b)",
            path.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
    };
    if meta.is_dir() {
        return Ok(ModelPath::HfDir(path));
    }
    if !meta.is_file() {
        bail!(
            "{} is not a regular file ({}); pass a GGUF file or a Hugging Face directory",
            path.display(),
            file_kind(&meta.file_type())
        );
    }
    // A `.gguf` without the magic goes to the GGUF reader too, which says what is wrong.
    if has_gguf_magic(path)? || path.extension().is_some_and(|e| e == "gguf") {
        return Ok(ModelPath::Gguf(path));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.join("config.json").exists() {
        bail!(
            "{} is not a GGUF file (it does not start with `GGUF`), and {} holds no config.json of a Hugging Face model",
            path.display(),
            dir.display()
        );
    }
    Ok(ModelPath::HfDir(dir))
}

fn load_path(path: &Path) -> anyhow::Result<(LlamaWeights, Tokenizer)> {
    let dir = match classify(path)? {
        ModelPath::Gguf(p) => return Ok(load_gguf_model(p, None)?),
        ModelPath::HfDir(d) => d,
    };
    let weights = load_hf_dir(dir)?;
    let tok = hf_tokenizer(dir, &weights.config)?;
    Ok((weights, tok))
}

/// The tokenizer of a Hugging Face directory: its `tokenizer.json`, else bytes for a
/// 256-token vocabulary.
fn hf_tokenizer(dir: &Path, config: &LlamaConfig) -> anyhow::Result<Tokenizer> {
    let tokenizer_json = dir.join("tokenizer.json");
    // `exists`, not `is_file`: a FIFO tokenizer.json is reported as one, not silently skipped.
    Ok(if tokenizer_json.exists() {
        Tokenizer::from_tokenizer_json(&tokenizer_json)?
    } else if config.vocab_size == 256 {
        Tokenizer::bytes()
    } else {
        bail!(
            "{}: no tokenizer.json beside the weights; use `score --tokens FILE`",
            dir.display()
        );
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `<tmp>/hardwire-cli-<pid>-<name>/<file>`, in a fresh directory; `cleanup` removes it.
    fn temp_file(name: &str, file: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hardwire-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d.join(file)
    }

    fn cleanup(file: &Path) {
        let _ = std::fs::remove_dir_all(file.parent().unwrap());
    }

    fn tiny_gguf() -> Vec<u8> {
        use hardwire_model::gguf::{write_gguf, GgufValue};
        use hardwire_model::gguf_model::gguf_tensors;
        let w = LlamaWeights::seeded(&LlamaConfig::tiny(), 1).unwrap();
        let meta = [
            ("llama.embedding_length", GgufValue::U32(64)),
            ("llama.feed_forward_length", GgufValue::U32(192)),
            ("llama.attention.head_count", GgufValue::U32(4)),
            ("llama.attention.head_count_kv", GgufValue::U32(2)),
            ("llama.block_count", GgufValue::U32(2)),
            ("llama.context_length", GgufValue::U32(64)),
            ("llama.vocab_size", GgufValue::U32(256)),
        ];
        let named = gguf_tensors(&w);
        let tensors: Vec<(&str, &[usize], &[f32])> = named
            .iter()
            .map(|(n, s, d)| (n.as_str(), s.as_slice(), d.as_slice()))
            .collect();
        write_gguf(&meta, &tensors)
    }

    #[test]
    fn gguf_without_extension_is_found_by_its_magic() {
        let p = temp_file("magic", "weights");
        std::fs::write(&p, tiny_gguf()).unwrap();
        assert_eq!(classify(&p).unwrap(), ModelPath::Gguf(&p));
        // It then loads as a GGUF: the failure is the missing tokenizer, not a config.json.
        let e = format!("{:#}", load(p.to_str().unwrap(), None, 0).err().unwrap());
        assert!(e.contains("tokenizer") && !e.contains("config.json"), "{e}");
        cleanup(&p);
    }

    #[test]
    fn other_file_without_config_says_it_is_neither() {
        let p = temp_file("neither", "notes.txt");
        std::fs::write(&p, b"hello").unwrap();
        let e = classify(&p).unwrap_err().to_string();
        cleanup(&p);
        assert!(
            e.contains("is not a GGUF file") && e.contains("holds no config.json"),
            "{e}"
        );
        let e = classify(Path::new("/no/such/model"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such file, and not a preset"), "{e}");
    }
}
