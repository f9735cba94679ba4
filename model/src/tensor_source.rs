//! Where a model's tensors come from when it is read one tensor at a time
//! ([`crate::fixed::FixedModel::stream`]): a GGUF file, a Hugging Face directory (one
//! safetensors file or shards with `model.safetensors.index.json`), or seeded synthetic values.
//! Every tensor is checked as it comes: present, of the configuration's shape, finite; an
//! error names the file and the tensor.

use crate::config::LlamaConfig;
use crate::error::Result;
use crate::gguf::GgufFile;
use crate::gguf_model::{config_from_gguf, gguf_tensor};
use crate::safetensors::{resolve, SafeTensorsFile};
use crate::safetensors_index::{sharded_tensor, ShardIndex};
use crate::weights::{checked, synthetic_tensor, FetchedTensor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A model's tensors, read on demand.
pub enum TensorSource {
    /// Seeded values drawn per tensor ([`synthetic_tensor`]).
    Synthetic {
        /// The seed.
        seed: u64,
    },
    /// A GGUF file (mapped).
    Gguf(GgufFile),
    /// One safetensors file (mapped).
    Safetensors(SafeTensorsFile),
    /// Sharded safetensors: the index and the shards it names (mapped).
    Sharded {
        /// The index file's path.
        index_path: PathBuf,
        /// The index.
        index: ShardIndex,
        /// The shards by file name.
        shards: BTreeMap<String, SafeTensorsFile>,
    },
}

impl TensorSource {
    /// The configuration and tensors of a Hugging Face directory (`config.json` beside
    /// `model.safetensors` or `model.safetensors.index.json` and its shards), its configuration
    /// cut to `layers` when given. Only the shards holding needed tensors are opened.
    pub fn hf_dir(dir: &Path, layers: Option<usize>) -> Result<(LlamaConfig, Self)> {
        let mut config = LlamaConfig::from_json_file(&dir.join("config.json"))?;
        if let Some(n) = layers {
            config = config.reduce_layers(n)?;
        }
        config.validate()?;
        // The file choice `load_hf_dir` makes: the shard index if there is one.
        let path = resolve(dir)?;
        let source = if path.extension().is_some_and(|e| e == "json") {
            let index = ShardIndex::open(&path)?;
            let shards = index.open_shards(dir, &config)?;
            TensorSource::Sharded {
                index_path: path,
                index,
                shards,
            }
        } else {
            TensorSource::Safetensors(SafeTensorsFile::open(&path)?)
        };
        Ok((config, source))
    }

    /// The configuration (cut to `layers`) and tensors of a GGUF file.
    pub fn gguf(path: &Path, layers: Option<usize>) -> Result<(LlamaConfig, Self)> {
        let f = GgufFile::open(path)?;
        let mut config = config_from_gguf(&f)?;
        if let Some(n) = layers {
            config = config.reduce_layers(n)?;
        }
        Ok((config, TensorSource::Gguf(f)))
    }

    /// The file errors name.
    pub fn path(&self) -> &Path {
        match self {
            TensorSource::Synthetic { .. } => Path::new("<synthetic>"),
            TensorSource::Gguf(f) => f.path(),
            TensorSource::Safetensors(f) => f.path(),
            TensorSource::Sharded { index_path, .. } => index_path,
        }
    }

    /// Tensor `hf` (a Hugging Face name) of `config`, checked against `shape`: present, of that
    /// shape, every value finite.
    pub fn fetch(&self, config: &LlamaConfig, hf: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let fetched: Option<FetchedTensor> = match self {
            TensorSource::Synthetic { seed } => {
                return Ok(synthetic_tensor(*seed, hf, shape));
            }
            TensorSource::Gguf(f) => gguf_tensor(f, config, hf)?,
            TensorSource::Safetensors(f) => f.tensor_f32(hf)?,
            TensorSource::Sharded { index, shards, .. } => sharded_tensor(index, shards, hf)?,
        };
        checked(self.path(), hf, shape, fetched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::{FixedModel, NumericConfig};
    use crate::quant::{QuantPolicy, QuantSpec};
    use crate::safetensors::{hf_tensors, write_safetensors, Dtype};
    use crate::LlamaWeights;

    /// The tiny model (untied head) as a Hugging Face directory in two BF16 shards with their
    /// index, and its weights as read back whole.
    fn sharded_dir(name: &str) -> (PathBuf, LlamaWeights) {
        let d = std::env::temp_dir().join(format!("hardwire-source-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let mut c = LlamaConfig::tiny();
        c.tie_word_embeddings = false;
        let w = LlamaWeights::seeded(&c, 5).unwrap();
        let tensors = hf_tensors(&w);
        let (a, b) = tensors.split_at(tensors.len() / 2);
        let mut map = serde_json::Map::new();
        for (file, part) in [
            ("model-00001-of-00002.safetensors", a),
            ("model-00002-of-00002.safetensors", b),
        ] {
            std::fs::write(d.join(file), write_safetensors(part, Dtype::BF16)).unwrap();
            for (n, _, _) in part {
                map.insert(n.clone(), file.into());
            }
        }
        let index = serde_json::json!({ "metadata": {}, "weight_map": map });
        std::fs::write(d.join("model.safetensors.index.json"), index.to_string()).unwrap();
        std::fs::write(d.join("config.json"), serde_json::to_string(&c).unwrap()).unwrap();
        let whole = crate::safetensors::load_hf_dir(&d).unwrap();
        (d, whole)
    }

    fn stream(source: &TensorSource, c: &LlamaConfig, policy: &QuantPolicy) -> Result<FixedModel> {
        FixedModel::stream(
            c,
            policy,
            NumericConfig::tiny(),
            16,
            |n, s| source.fetch(c, n, s),
            |_, _| {},
        )
    }

    #[test]
    fn a_sharded_checkpoint_streams_to_the_model_built_whole() {
        let (d, whole) = sharded_dir("equal");
        let policy = QuantPolicy::uniform(QuantSpec {
            bits: 4,
            group_size: Some(16),
            offset: true,
        });
        let (c, source) = TensorSource::hf_dir(&d, None).unwrap();
        assert!(matches!(source, TensorSource::Sharded { .. }));
        let streamed = stream(&source, &c, &policy).unwrap();
        let built = FixedModel::new(&whole, &policy, NumericConfig::tiny(), 16).unwrap();
        assert_eq!(streamed.matrices(), built.matrices());
        assert_eq!(streamed.norms(), built.norms());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn bad_checkpoints_are_errors_naming_the_file_and_tensor() {
        let policy = QuantPolicy::uniform(QuantSpec::grouped(4, 16));
        let open_and_stream = |d: &Path| -> String {
            let r = TensorSource::hf_dir(d, None).and_then(|(c, s)| stream(&s, &c, &policy));
            format!("{}", r.map(|_| ()).unwrap_err())
        };
        // A shard the index names is missing.
        let (d, _) = sharded_dir("missing");
        std::fs::remove_file(d.join("model-00002-of-00002.safetensors")).unwrap();
        let e = open_and_stream(&d);
        assert!(e.contains("model-00002-of-00002.safetensors"), "{e}");
        // A shard is truncated.
        let (d2, _) = sharded_dir("truncated");
        let shard = d2.join("model-00002-of-00002.safetensors");
        let len = std::fs::metadata(&shard).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&shard)
            .unwrap()
            .set_len(len - 100)
            .unwrap();
        let e = open_and_stream(&d2);
        assert!(
            e.contains("model-00002-of-00002.safetensors") && e.contains("malformed"),
            "{e}"
        );
        // The config disagrees with the tensors' shapes.
        let (d3, _) = sharded_dir("shape");
        let mut c = LlamaConfig::tiny();
        c.tie_word_embeddings = false;
        c.intermediate_size = 160;
        std::fs::write(d3.join("config.json"), serde_json::to_string(&c).unwrap()).unwrap();
        let e = open_and_stream(&d3);
        assert!(
            e.contains("mlp.gate_proj.weight")
                && e.contains("has shape [192, 64]")
                && e.contains("[160, 64]"),
            "{e}"
        );
        for d in [d, d2, d3] {
            let _ = std::fs::remove_dir_all(&d);
        }
    }
}
