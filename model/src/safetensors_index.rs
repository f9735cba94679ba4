//! A sharded safetensors model's `model.safetensors.index.json`: which shard file holds each
//! tensor, and loading the weights a config needs from those shards.
//!
//! Only the tensors a validated config names are looked up (so a config claiming 10^8 layers is
//! refused before a single name is built), and only the shards they live in are opened.

use crate::config::LlamaConfig;
use crate::error::{ModelError, Result};
use crate::safetensors::SafeTensorsFile;
use crate::weights::{hf_tensor_names, FetchedTensor, LlamaWeights};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest index read: a real one (Llama 3.1 405B, 1,138 tensors) is about 100 kB.
pub const MAX_INDEX_JSON_BYTES: u64 = 64 << 20;

/// The `weight_map` of an index: tensor name to shard file name.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardIndex {
    path: PathBuf,
    weight_map: BTreeMap<String, String>,
}

#[derive(serde::Deserialize)]
struct IndexJson {
    weight_map: BTreeMap<String, String>,
}

impl ShardIndex {
    /// Reads the index at `path` (a regular file of at most [`MAX_INDEX_JSON_BYTES`]).
    pub fn open(path: &Path) -> Result<Self> {
        let text = crate::bytes::read_text_limited(path, MAX_INDEX_JSON_BYTES)?;
        Self::parse(path, &text)
    }

    /// Parses index JSON; `path` names it in errors. Other top-level fields (`metadata`) are
    /// skipped without being held.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let j: IndexJson = serde_json::from_str(text).map_err(|e| {
            ModelError::malformed(
                path,
                format!("not an index with a `weight_map` of tensor names to file names: {e}"),
            )
        })?;
        Ok(ShardIndex {
            path: path.into(),
            weight_map: j.weight_map,
        })
    }

    /// The shard holding `tensor`, when the index lists it; a shard name that is not a plain
    /// file name beside the index (`../x`, `/etc/x`, `.hidden`) is an error.
    pub fn shard_for(&self, tensor: &str) -> Result<Option<&str>> {
        let Some(file) = self.weight_map.get(tensor) else {
            return Ok(None);
        };
        if file.is_empty() || file.contains('/') || file.contains('\\') || file.starts_with('.') {
            return Err(ModelError::malformed_tensor(
                &self.path,
                tensor,
                format!("shard name `{file}` is not a plain file name"),
            ));
        }
        Ok(Some(file))
    }

    /// The shard files holding the tensors `config` needs, each once, in name order. `config`
    /// is validated first, so at most [`crate::sizes::MAX_LAYERS`] layers of names are built.
    pub fn shards_for(&self, config: &LlamaConfig) -> Result<Vec<&str>> {
        config.validate()?;
        let mut files = Vec::new();
        for (name, _) in hf_tensor_names(config) {
            if let Some(f) = self.shard_for(&name)? {
                files.push(f);
            }
        }
        files.sort_unstable();
        files.dedup();
        Ok(files)
    }
}

impl ShardIndex {
    /// Opens (maps) the shards in `dir` that hold the tensors `config` needs, by file name.
    pub fn open_shards(
        &self,
        dir: &Path,
        config: &LlamaConfig,
    ) -> Result<BTreeMap<String, SafeTensorsFile>> {
        self.shards_for(config)?
            .into_iter()
            .map(|f| Ok((f.to_string(), SafeTensorsFile::open(&dir.join(f))?)))
            .collect()
    }
}

/// Loads the weights `config` needs from the shards named by the index at `index`.
pub fn load_sharded(index: &Path, config: &LlamaConfig) -> Result<LlamaWeights> {
    let idx = ShardIndex::open(index)?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let shards = idx.open_shards(dir, config)?;
    LlamaWeights::assemble(config, index, |name| sharded_tensor(&idx, &shards, name))
}

/// Tensor `name` from the shard the index names for it (`shards`: the shards opened, by file
/// name); `Ok(None)` when the index does not list it, an error naming the shard when the shard
/// lacks it.
pub fn sharded_tensor(
    idx: &ShardIndex,
    shards: &BTreeMap<String, SafeTensorsFile>,
    name: &str,
) -> Result<Option<FetchedTensor>> {
    let Some(file) = idx.shard_for(name)? else {
        return Ok(None);
    };
    match shards.get(file) {
        Some(s) => s.tensor_f32(name).and_then(|t| {
            t.ok_or_else(|| ModelError::MissingTensor {
                file: s.path().into(),
                tensor: name.into(),
            })
            .map(Some)
        }),
        None => Ok(None),
    }
}
