//! safetensors import (F32, F16 and BF16; one file or a sharded `model.safetensors.index.json`),
//! memory-mapped, with Hugging Face tensor names.
//!
//! The header is parsed here rather than by the `safetensors` crate so that every fault names
//! the file and the tensor and no allocation is sized from a length before it is checked.

use crate::bytes::FileBytes;
use crate::config::LlamaConfig;
use crate::error::{ModelError, Result};
use crate::weights::{FetchedTensor, LlamaWeights};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest JSON header accepted (the format's own limit is 100 MB).
pub const MAX_HEADER_BYTES: u64 = 100 << 20;

/// Element types of a safetensors file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// 32-bit float.
    F32,
    /// 16-bit IEEE float.
    F16,
    /// bfloat16.
    BF16,
    /// A type the format knows but weights never use here (integers, f64, f8...): loading such a
    /// tensor as a weight is an error.
    Other(&'static str, usize),
}

impl Dtype {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "F32" => Dtype::F32,
            "F16" => Dtype::F16,
            "BF16" => Dtype::BF16,
            "F64" => Dtype::Other("F64", 8),
            "I64" => Dtype::Other("I64", 8),
            "U64" => Dtype::Other("U64", 8),
            "I32" => Dtype::Other("I32", 4),
            "U32" => Dtype::Other("U32", 4),
            "I16" => Dtype::Other("I16", 2),
            "U16" => Dtype::Other("U16", 2),
            "I8" => Dtype::Other("I8", 1),
            "U8" => Dtype::Other("U8", 1),
            "BOOL" => Dtype::Other("BOOL", 1),
            "F8_E4M3" => Dtype::Other("F8_E4M3", 1),
            "F8_E5M2" => Dtype::Other("F8_E5M2", 1),
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
            Dtype::Other(_, s) => s,
        }
    }

    /// The name used in the header.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::Other(n, _) => n,
        }
    }
}

/// One tensor of the header.
#[derive(Debug, Clone, PartialEq)]
pub struct SafeTensorInfo {
    /// Element type.
    pub dtype: Dtype,
    /// Row-major shape.
    pub shape: Vec<usize>,
    /// Absolute byte range in the file.
    pub start: usize,
    /// End of the byte range (exclusive).
    pub end: usize,
}

/// A parsed safetensors file whose data stays mapped.
pub struct SafeTensorsFile {
    path: PathBuf,
    bytes: FileBytes,
    /// Tensors by name.
    pub tensors: BTreeMap<String, SafeTensorInfo>,
}

impl SafeTensorsFile {
    /// Maps and parses `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Self::parse(path.to_path_buf(), FileBytes::map(path)?)
    }

    /// Parses bytes; `path` names them in errors.
    pub fn parse(path: PathBuf, bytes: FileBytes) -> Result<Self> {
        let tensors = parse_header(&path, &bytes)?;
        Ok(SafeTensorsFile {
            path,
            bytes,
            tensors,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tensor `name` converted to f32, with its shape; `Ok(None)` when absent.
    pub fn tensor_f32(&self, name: &str) -> Result<Option<FetchedTensor>> {
        let Some(info) = self.tensors.get(name) else {
            return Ok(None);
        };
        let raw = self.bytes.get(info.start..info.end).ok_or_else(|| {
            ModelError::malformed_tensor(&self.path, name, "data runs past the end of the file")
        })?;
        crate::memory::check_fits(
            &format!("tensor `{name}` of {} as f32", self.path.display()),
            (raw.len() as u64 / info.dtype.size().max(1) as u64).saturating_mul(4),
        )?;
        let data: Vec<f32> = match info.dtype {
            Dtype::F32 => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => raw
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => raw
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::Other(n, _) => {
                return Err(ModelError::malformed_tensor(
                    &self.path,
                    name,
                    format!("dtype {n} is not a weight type (F32, F16 or BF16)"),
                ))
            }
        };
        self.bytes.release(info.start, info.end - info.start);
        Ok(Some(FetchedTensor {
            name: name.into(),
            shape: info.shape.clone(),
            data,
        }))
    }
}

/// Most dimensions a tensor may have (weights have one or two; the format sets no limit, so a
/// header of `[0,0,0,...]` could otherwise cost eight bytes of memory per two of file).
pub const MAX_DIMS: usize = 8;

/// One header entry as written, before its ranges are checked.
#[derive(serde::Deserialize)]
struct RawEntry {
    dtype: String,
    shape: BoundedShape,
    data_offsets: [u64; 2],
}

/// A `shape` list that refuses more than [`MAX_DIMS`] sizes while it is read.
struct BoundedShape(Vec<usize>);

impl<'de> serde::Deserialize<'de> for BoundedShape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = BoundedShape;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a list of at most {MAX_DIMS} sizes")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                let mut v = Vec::new();
                while let Some(d) = a.next_element::<u64>()? {
                    if v.len() == MAX_DIMS {
                        return Err(serde::de::Error::custom(format!(
                            "more than {MAX_DIMS} dimensions"
                        )));
                    }
                    v.push(usize::try_from(d).map_err(serde::de::Error::custom)?);
                }
                Ok(BoundedShape(v))
            }
        }
        d.deserialize_seq(V)
    }
}

/// The header's tensor entries in file order, `__metadata__` skipped without being held, each
/// fault naming its tensor.
struct RawHeader(Vec<(String, RawEntry)>);

impl<'de> serde::Deserialize<'de> for RawHeader {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawHeader;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object of tensor entries")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Self::Value, A::Error> {
                let mut v = Vec::new();
                while let Some(name) = m.next_key::<String>()? {
                    if name == "__metadata__" {
                        m.next_value::<serde::de::IgnoredAny>()?;
                        continue;
                    }
                    let e = m
                        .next_value::<RawEntry>()
                        .map_err(|e| serde::de::Error::custom(format!("tensor `{name}`: {e}")))?;
                    v.push((name, e));
                }
                Ok(RawHeader(v))
            }
        }
        d.deserialize_map(V)
    }
}

fn parse_header(path: &Path, bytes: &[u8]) -> Result<BTreeMap<String, SafeTensorInfo>> {
    let bad = |reason: String| ModelError::malformed(path, reason);
    let Some((len_bytes, rest)) = bytes.split_first_chunk::<8>() else {
        return Err(bad(format!(
            "truncated: {} bytes, less than the 8-byte header length",
            bytes.len()
        )));
    };
    let n = u64::from_le_bytes(*len_bytes);
    let avail = rest.len() as u64;
    if n > avail || n > MAX_HEADER_BYTES {
        return Err(bad(format!(
            "header length {n} is larger than the {avail} bytes after it (or the 100 MB limit)"
        )));
    }
    // n <= rest.len(), checked just above.
    let (header, data) = rest.split_at(n as usize);
    let RawHeader(entries) = serde_json::from_slice(header)
        .map_err(|e| bad(format!("header is not valid safetensors JSON: {e}")))?;
    let data_start = 8 + header.len();
    let data_len = data.len();
    let mut tensors = BTreeMap::new();
    for (name, e) in entries {
        let tbad = |reason: String| ModelError::malformed_tensor(path, name.clone(), reason);
        let dtype =
            Dtype::parse(&e.dtype).ok_or_else(|| tbad(format!("unknown dtype `{}`", e.dtype)))?;
        let shape = e.shape.0;
        let [a, b] = e.data_offsets;
        if a > b || b > data_len as u64 {
            return Err(tbad(format!(
                "data_offsets [{a}, {b}] are out of range (data section is {data_len} bytes)"
            )));
        }
        let numel = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        let want = numel.and_then(|n| n.checked_mul(dtype.size()));
        // b <= data_len, so the span and both ends fit in usize.
        let span = (b - a) as usize;
        if want != Some(span) {
            return Err(tbad(format!(
                "shape {shape:?} of {} needs {want:?} bytes but data_offsets span {span}",
                dtype.name(),
            )));
        }
        let info = SafeTensorInfo {
            dtype,
            shape,
            start: data_start + a as usize,
            end: data_start + b as usize,
        };
        if tensors.insert(name.clone(), info).is_some() {
            return Err(tbad("appears twice in the header".into()));
        }
    }
    let mut spans: Vec<(&String, &SafeTensorInfo)> = tensors.iter().collect();
    spans.sort_by_key(|(_, t)| (t.start, t.end));
    for w in spans.windows(2) {
        if w[0].1.end > w[1].1.start {
            return Err(ModelError::malformed_tensor(
                path,
                w[1].0.clone(),
                format!("data overlaps tensor `{}`", w[0].0),
            ));
        }
    }
    Ok(tensors)
}

/// Loads weights for `config` from a `.safetensors` file, a `model.safetensors.index.json`, or a
/// directory holding either.
pub fn load_safetensors(path: &Path, config: &LlamaConfig) -> Result<LlamaWeights> {
    // The config sizes every name enumerated and every buffer: check its limits first.
    config.validate()?;
    let path = resolve(path)?;
    if path.extension().is_some_and(|e| e == "json") {
        crate::safetensors_index::load_sharded(&path, config)
    } else {
        let f = SafeTensorsFile::open(&path)?;
        LlamaWeights::assemble(config, &path, |name| f.tensor_f32(name))
    }
}

/// Reads `config.json` and the weights of a Hugging Face model directory.
pub fn load_hf_dir(dir: &Path) -> Result<LlamaWeights> {
    let config = LlamaConfig::from_json_file(&dir.join("config.json"))?;
    load_safetensors(dir, &config)
}

/// The weight file a path names: itself, or in a directory its
/// `model.safetensors.index.json`, else its `model.safetensors`.
pub(crate) fn resolve(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    for name in ["model.safetensors.index.json", "model.safetensors"] {
        let p = path.join(name);
        // A FIFO or directory by that name is reported as such, not skipped.
        if p.symlink_metadata().is_ok() {
            crate::bytes::regular_file_len(&p)?;
            return Ok(p);
        }
    }
    Err(ModelError::malformed(
        path,
        "directory holds neither model.safetensors nor model.safetensors.index.json",
    ))
}

/// Serialises tensors (row-major f32 values, stored as `dtype`) to safetensors bytes.
pub fn write_safetensors(tensors: &[(String, Vec<usize>, &[f32])], dtype: Dtype) -> Vec<u8> {
    let shapes: Vec<(String, Vec<usize>)> = tensors
        .iter()
        .map(|(n, s, _)| (n.clone(), s.clone()))
        .collect();
    let mut out = Vec::new();
    write_safetensors_to(&mut out, &shapes, dtype, |i| Ok(tensors[i].2.to_vec()))
        .expect("writing to memory");
    out
}

/// Writes a safetensors file to `out` one tensor at a time: the header from the names and
/// shapes, then `data(i)`'s values for tensor `i` as `dtype`, each dropped before the next is
/// asked for. So a checkpoint of any size is written holding one tensor.
pub fn write_safetensors_to(
    out: &mut impl std::io::Write,
    shapes: &[(String, Vec<usize>)],
    dtype: Dtype,
    mut data: impl FnMut(usize) -> std::io::Result<Vec<f32>>,
) -> std::io::Result<()> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, shape) in shapes {
        let len = shape.iter().product::<usize>() * dtype.size();
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": dtype.name(), "shape": shape, "data_offsets": [offset, offset + len]}),
        );
        offset += len;
    }
    let mut h = serde_json::Value::Object(header).to_string().into_bytes();
    while !(h.len() + 8).is_multiple_of(8) {
        h.push(b' ');
    }
    out.write_all(&(h.len() as u64).to_le_bytes())?;
    out.write_all(&h)?;
    for (i, (name, shape)) in shapes.iter().enumerate() {
        let values = data(i)?;
        if values.len() != shape.iter().product::<usize>() {
            return Err(std::io::Error::other(format!(
                "tensor {name}: {} values for shape {shape:?}",
                values.len()
            )));
        }
        let bytes: Vec<u8> = match dtype {
            Dtype::F16 => values
                .iter()
                .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
                .collect(),
            Dtype::BF16 => values
                .iter()
                .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
                .collect(),
            _ => values.iter().flat_map(|&x| x.to_le_bytes()).collect(),
        };
        out.write_all(&bytes)?;
    }
    Ok(())
}

/// The weights as Hugging Face named tensors, ready for [`write_safetensors`].
pub fn hf_tensors(w: &LlamaWeights) -> Vec<(String, Vec<usize>, &[f32])> {
    let mut v: Vec<(String, Vec<usize>, &[f32])> = Vec::new();
    let h = w.config.hidden_size;
    v.push((
        "model.embed_tokens.weight".into(),
        vec![w.embed.rows, h],
        &w.embed.data,
    ));
    for (i, l) in w.layers.iter().enumerate() {
        let p = format!("model.layers.{i}");
        v.push((
            format!("{p}.input_layernorm.weight"),
            vec![l.attn_norm.len()],
            &l.attn_norm,
        ));
        v.push((
            format!("{p}.post_attention_layernorm.weight"),
            vec![l.ffn_norm.len()],
            &l.ffn_norm,
        ));
        for (short, m) in l.matrices() {
            let part = if short.ends_with("_proj")
                && ["q_proj", "k_proj", "v_proj", "o_proj"].contains(&short)
            {
                "self_attn"
            } else {
                "mlp"
            };
            v.push((
                format!("{p}.{part}.{short}.weight"),
                vec![m.rows, m.cols],
                &m.data,
            ));
        }
    }
    v.push((
        "model.norm.weight".into(),
        vec![w.final_norm.len()],
        &w.final_norm,
    ));
    if let Some(m) = &w.lm_head {
        v.push(("lm_head.weight".into(), vec![m.rows, m.cols], &m.data));
    }
    v
}
