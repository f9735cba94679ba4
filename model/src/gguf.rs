//! A GGUF (version 2 and 3) reader: metadata, tensor directory and dequantisation of F32, F16,
//! Q8_0, Q4_0 and Q4_1 tensors, and of the K-quants Q4_K and Q6_K that Llama 3.1 8B GGUF files
//! ship in (Q4_K_M mixes the two).
//!
//! Every count and length read from the file is checked against the bytes that remain before
//! anything is allocated from it, so a malformed file is an error, never a panic or a huge
//! allocation.

use crate::bytes::{Cursor, FileBytes};
use crate::error::{ModelError, Result};
use crate::gguf_value::{put_str, put_typed_value, read_str, read_value};
pub use crate::gguf_value::{GgufArray, GgufStrings, GgufValue};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// ggml tensor element types this reader dequantises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    /// 32-bit float.
    F32,
    /// 16-bit float.
    F16,
    /// Blocks of 32: f16 scale `d`, 16 bytes of nibbles; `x = d * (q - 8)`.
    Q4_0,
    /// Blocks of 32: f16 `d`, f16 `m`, 16 bytes of nibbles; `x = d * q + m`.
    Q4_1,
    /// Blocks of 32: f16 `d`, 32 signed bytes; `x = d * q`.
    Q8_0,
    /// Super-blocks of 256 in 8 sub-blocks of 32: f16 `d` and `dmin`, 12 bytes packing each
    /// sub-block's 6-bit scale and 6-bit min, 128 bytes of nibbles; `x = d·sc·q − dmin·m`.
    Q4K,
    /// Super-blocks of 256 in 16 sub-blocks of 16: the low 4 bits of each 6-bit quant (128
    /// bytes), the high 2 (64 bytes), a signed 8-bit scale per sub-block, f16 `d`;
    /// `x = d·sc·(q − 32)`.
    Q6K,
}

/// Names of the ggml types by code, for messages about the ones this reader does not take.
const GGML_TYPE_NAMES: [&str; 16] = [
    "F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K",
    "Q4_K", "Q5_K", "Q6_K", "Q8_K",
];

impl GgmlType {
    fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            8 => GgmlType::Q8_0,
            12 => GgmlType::Q4K,
            14 => GgmlType::Q6K,
            _ => return None,
        })
    }

    /// (elements per block, bytes per block).
    pub fn block(self) -> (u64, u64) {
        match self {
            GgmlType::F32 => (1, 4),
            GgmlType::F16 => (1, 2),
            GgmlType::Q4_0 => (32, 18),
            GgmlType::Q4_1 => (32, 20),
            GgmlType::Q8_0 => (32, 34),
            GgmlType::Q4K => (256, 144),
            GgmlType::Q6K => (256, 210),
        }
    }
}

/// One entry of the tensor directory.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufTensorInfo {
    /// Tensor name (`blk.0.attn_q.weight`...).
    pub name: String,
    /// Shape in row-major order (outermost first): GGUF's dimension list reversed.
    pub shape: Vec<usize>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Absolute byte offset of the data in the file.
    pub start: usize,
    /// Byte length of the data.
    pub len: usize,
}

/// A parsed GGUF file whose tensor data stays in the (mapped) file until asked for.
pub struct GgufFile {
    path: PathBuf,
    bytes: FileBytes,
    /// Metadata key/value pairs.
    pub metadata: BTreeMap<String, GgufValue>,
    /// Tensor directory, in file order.
    pub tensors: Vec<GgufTensorInfo>,
    /// Position in `tensors` by name, so a load looks each of its names up once rather than
    /// scanning a directory of up to [`MAX_TENSORS`] entries per name.
    by_name: std::collections::HashMap<String, usize>,
}

const MAX_DIMS: u32 = 4;

/// Most metadata pairs accepted (real files hold a few dozen).
pub const MAX_METADATA_PAIRS: u64 = 1 << 16;

/// Most tensors accepted (Llama 3.1 405B holds 1,138).
pub const MAX_TENSORS: u64 = 1 << 20;

/// Whether the regular file at `path` starts with the GGUF magic `GGUF`, whatever its name: a
/// GGUF without the `.gguf` extension is still recognised. Anything but a regular file is an
/// error (see [`crate::bytes::regular_file_len`]), found before the file is opened.
pub fn has_gguf_magic(path: &Path) -> Result<bool> {
    use std::io::Read;
    let io = |source| ModelError::Io {
        file: path.into(),
        source,
    };
    if crate::bytes::regular_file_len(path)? < 4 {
        return Ok(false);
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(io)?;
    Ok(&magic == b"GGUF")
}

impl GgufFile {
    /// Maps and parses the file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = FileBytes::map(path)?;
        Self::parse(path.to_path_buf(), bytes)
    }

    /// Parses bytes already in memory; `path` names them in errors.
    pub fn parse(path: PathBuf, bytes: FileBytes) -> Result<Self> {
        let (metadata, tensors) = parse_layout(&path, &bytes)?;
        let by_name = tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Ok(GgufFile {
            path,
            bytes,
            metadata,
            tensors,
            by_name,
        })
    }

    /// The file's path (as given).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A metadata value.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.get(key)
    }

    /// A directory entry by name.
    pub fn tensor_info(&self, name: &str) -> Option<&GgufTensorInfo> {
        let edited = self.by_name.len() != self.tensors.len();
        match self.by_name.get(name).map(|&i| self.tensors.get(i)) {
            Some(Some(t)) if t.name == name => Some(t),
            None if !edited => None,
            // `tensors` is public and has been edited since the parse: scan it.
            _ => self.tensors.iter().find(|t| t.name == name),
        }
    }

    /// The tensor `name` dequantised to f32, with its row-major shape.
    pub fn tensor_f32(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let info = self
            .tensor_info(name)
            .ok_or_else(|| ModelError::MissingTensor {
                file: self.path.clone(),
                tensor: name.into(),
            })?;
        // The directory checked the range against the file and the element count against 2^40.
        let raw = info
            .start
            .checked_add(info.len)
            .and_then(|end| self.bytes.get(info.start..end))
            .ok_or_else(|| {
                ModelError::malformed_tensor(&self.path, name, "data runs past the end of the file")
            })?;
        let n = info
            .shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| ModelError::malformed_tensor(&self.path, name, "shape overflows"))?;
        crate::memory::check_fits(
            &format!("tensor `{name}` of {} as f32", self.path.display()),
            (n as u64).saturating_mul(4),
        )?;
        let values = dequantize(info.ggml_type, raw, n);
        self.bytes.release(info.start, info.len);
        Ok((info.shape.clone(), values))
    }
}

type Layout = (BTreeMap<String, GgufValue>, Vec<GgufTensorInfo>);

fn parse_layout(path: &PathBuf, bytes: &[u8]) -> Result<Layout> {
    let mut c = Cursor::new(bytes, path);
    if c.take(4, "magic")? != b"GGUF" {
        return Err(ModelError::malformed(
            path,
            "not a GGUF file (magic is not `GGUF`)",
        ));
    }
    let version = c.u32("version")?;
    if !(2..=3).contains(&version) {
        return Err(ModelError::malformed(
            path,
            format!("unsupported GGUF version {version}"),
        ));
    }
    let n_tensors = c.u64("tensor count")?;
    let n_kv = c.u64("metadata count")?;
    // A key/value pair takes at least 8 + 4 + 1 bytes, a tensor entry 8 + 4 + 8 + 4 + 8.
    if n_kv.saturating_mul(13) > c.remaining() as u64
        || n_tensors.saturating_mul(32) > c.remaining() as u64
    {
        return Err(ModelError::malformed(
            path,
            format!("header claims {n_kv} metadata pairs and {n_tensors} tensors, more than the file holds"),
        ));
    }
    if n_kv > MAX_METADATA_PAIRS || n_tensors > MAX_TENSORS {
        return Err(ModelError::malformed(
            path,
            format!("header claims {n_kv} metadata pairs and {n_tensors} tensors, more than the limits of {MAX_METADATA_PAIRS} and {MAX_TENSORS}"),
        ));
    }
    let mut metadata = BTreeMap::new();
    for _ in 0..n_kv {
        let key = read_str(&mut c, "metadata key")?.to_string();
        let ty = c.u32(&key)?;
        let v = read_value(&mut c, ty, &key)?;
        if metadata.insert(key.clone(), v).is_some() {
            return Err(ModelError::malformed(
                path,
                format!("metadata key `{key}` appears twice"),
            ));
        }
    }
    let mut infos = Vec::with_capacity(n_tensors as usize);
    for _ in 0..n_tensors {
        let name = read_str(&mut c, "tensor name")?.to_string();
        let bad = |reason: String| ModelError::malformed_tensor(path, name.clone(), reason);
        let n_dims = c.u32(&name)?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(bad(format!(
                "{n_dims} dimensions (1 to {MAX_DIMS} allowed)"
            )));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(c.u64(&name)?);
        }
        let code = c.u32(&name)?;
        let ty = GgmlType::from_code(code).ok_or_else(|| {
            let name = GGML_TYPE_NAMES
                .get(code as usize)
                .copied()
                .unwrap_or("unknown");
            bad(format!(
                "ggml type {code} ({name}) is not supported; this reader takes F32, F16, \
                     Q4_0, Q4_1, Q8_0, Q4_K and Q6_K"
            ))
        })?;
        let offset = c.u64(&name)?;
        let n = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        let n = n
            .filter(|&n| n < (1 << 40))
            .ok_or_else(|| bad(format!("dimensions {dims:?} overflow")))?;
        let (per_block, block_bytes) = ty.block();
        if dims[0] % per_block != 0 {
            return Err(bad(format!(
                "innermost dimension {} is not a multiple of the {ty:?} block of {per_block}",
                dims[0]
            )));
        }
        // n < 2^40 and block_bytes <= 34, so this cannot overflow.
        let len = n / per_block * block_bytes;
        let shape = dims
            .iter()
            .rev()
            .map(|&d| usize::try_from(d))
            .collect::<std::result::Result<Vec<usize>, _>>()
            .map_err(|_| bad(format!("dimensions {dims:?} do not fit in memory")))?;
        infos.push((name, shape, ty, offset, len));
    }
    let alignment = match metadata.get("general.alignment") {
        None => 32,
        Some(v) => match v.as_u64() {
            Some(a) if a.is_power_of_two() && a <= 1 << 16 => a,
            _ => {
                return Err(ModelError::malformed(
                    path,
                    format!("general.alignment {v:?} is not a power of two"),
                ))
            }
        },
    };
    let data_start = (c.pos as u64).div_ceil(alignment) * alignment;
    let file_len = bytes.len() as u64;
    let mut tensors = Vec::with_capacity(infos.len());
    for (name, shape, ty, offset, len) in infos {
        let bad = |reason: String| ModelError::malformed_tensor(path, name.clone(), reason);
        if offset % alignment != 0 {
            return Err(bad(format!(
                "offset {offset} is not aligned to {alignment}"
            )));
        }
        let start = data_start.checked_add(offset);
        let end = start.and_then(|s| s.checked_add(len));
        match (start, end) {
            (Some(s), Some(e)) if e <= file_len => tensors.push(GgufTensorInfo {
                name,
                shape,
                ggml_type: ty,
                start: s as usize,
                len: len as usize,
            }),
            _ => {
                return Err(bad(format!(
                    "data at offset {offset} (+{len} bytes) runs past the end of the file ({file_len} bytes)"
                )))
            }
        }
    }
    check_no_overlap(path, &tensors)?;
    Ok((metadata, tensors))
}

fn check_no_overlap(path: &PathBuf, tensors: &[GgufTensorInfo]) -> Result<()> {
    let mut sorted: Vec<&GgufTensorInfo> = tensors.iter().collect();
    sorted.sort_by_key(|t| (t.start, t.len));
    for w in sorted.windows(2) {
        if w[0].name == w[1].name {
            return Err(ModelError::malformed_tensor(
                path,
                w[0].name.clone(),
                "appears twice",
            ));
        }
        if w[0].start + w[0].len > w[1].start {
            return Err(ModelError::malformed_tensor(
                path,
                w[1].name.clone(),
                format!("data overlaps tensor `{}`", w[0].name),
            ));
        }
    }
    let mut names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(ModelError::malformed_tensor(path, w[0], "appears twice"));
    }
    Ok(())
}

/// Sub-block `j`'s 6-bit scale and min from a Q4_K block's 12 packed bytes: for `j < 4` the
/// low 6 bits of bytes `j` and `j + 4`; after, 4 bits from byte `j + 4` (low nibble: scale,
/// high: min) and 2 from the top of bytes `j − 4` (scale) and `j` (min).
fn k4_scale_min(s: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    half::f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Dequantises `n` elements of type `ty` from `raw` (whose length the directory checked); the
/// output is sized from `raw`, so a wrong `n` cannot make it allocate more than the data holds.
pub fn dequantize(ty: GgmlType, raw: &[u8], n: usize) -> Vec<f32> {
    let (per_block, block_bytes) = ty.block();
    let mut out = Vec::with_capacity(raw.len() / block_bytes as usize * per_block as usize);
    match ty {
        GgmlType::F32 => out.extend(
            raw.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        ),
        GgmlType::F16 => out.extend(raw.chunks_exact(2).map(|b| f16_at(b, 0))),
        GgmlType::Q8_0 => {
            for b in raw.chunks_exact(34) {
                let d = f16_at(b, 0);
                out.extend(b[2..34].iter().map(|&q| d * (q as i8) as f32));
            }
        }
        GgmlType::Q4_0 => {
            for b in raw.chunks_exact(18) {
                let d = f16_at(b, 0);
                let q = &b[2..18];
                out.extend(q.iter().map(|&x| d * ((x & 0xf) as i32 - 8) as f32));
                out.extend(q.iter().map(|&x| d * ((x >> 4) as i32 - 8) as f32));
            }
        }
        GgmlType::Q4_1 => {
            for b in raw.chunks_exact(20) {
                let d = f16_at(b, 0);
                let m = f16_at(b, 2);
                let q = &b[4..20];
                out.extend(q.iter().map(|&x| d * (x & 0xf) as f32 + m));
                out.extend(q.iter().map(|&x| d * (x >> 4) as f32 + m));
            }
        }
        GgmlType::Q4K => {
            for b in raw.chunks_exact(144) {
                let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
                let (scales, q) = (&b[4..16], &b[16..144]);
                // Four groups of 64: 32 bytes whose low nibbles are sub-block 2j, high 2j + 1.
                for (j, q) in q.chunks_exact(32).enumerate() {
                    for (sub, shift) in [(2 * j, 0), (2 * j + 1, 4)] {
                        let (sc, m) = k4_scale_min(scales, sub);
                        let (scale, min) = (d * sc as f32, dmin * m as f32);
                        out.extend(q.iter().map(|&x| scale * ((x >> shift) & 0xf) as f32 - min));
                    }
                }
            }
        }
        GgmlType::Q6K => {
            for b in raw.chunks_exact(210) {
                let (ql, qh, sc) = (&b[..128], &b[128..192], &b[192..208]);
                let d = f16_at(b, 208);
                // Two halves of 128: quant `l + 32k` of a half takes its low nibble from
                // `ql[l + 32(k % 2)]` (high nibble for k ≥ 2) and bits `2k..2k+2` of `qh[l]`.
                for half in 0..2 {
                    let (ql, qh, sc) = (&ql[64 * half..], &qh[32 * half..], &sc[8 * half..]);
                    for k in 0..4 {
                        out.extend((0..32).map(|l| {
                            let lo = (ql[l + 32 * (k % 2)] >> (4 * (k / 2))) & 0xf;
                            let hi = (qh[l] >> (2 * k)) & 3;
                            let q = (lo | hi << 4) as i32 - 32;
                            d * (sc[2 * k + l / 16] as i8) as f32 * q as f32
                        }));
                    }
                }
            }
        }
    }
    debug_assert_eq!(out.len(), n);
    out
}

/// Writes a minimal GGUF (version 3) from metadata and F32 tensors (row-major shapes); used by
/// tests to build fixtures and malformed variants of them.
pub fn write_gguf(metadata: &[(&str, GgufValue)], tensors: &[(&str, &[usize], &[f32])]) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend((tensors.len() as u64).to_le_bytes());
    out.extend((metadata.len() as u64).to_le_bytes());
    for (k, v) in metadata {
        put_str(&mut out, k);
        put_typed_value(&mut out, v);
    }
    let mut offset = 0u64;
    for (name, shape, data) in tensors {
        put_str(&mut out, name);
        out.extend((shape.len() as u32).to_le_bytes());
        for d in shape.iter().rev() {
            out.extend((*d as u64).to_le_bytes());
        }
        out.extend(0u32.to_le_bytes());
        out.extend(offset.to_le_bytes());
        offset += (data.len() as u64 * 4).div_ceil(32) * 32;
    }
    while !out.len().is_multiple_of(32) {
        out.push(0);
    }
    for (_, _, data) in tensors {
        let start = out.len();
        out.extend(data.iter().flat_map(|x| x.to_le_bytes()));
        while !(out.len() - start).is_multiple_of(32) {
            out.push(0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dequantizes_blocks() {
        // Q4_0: d = 0.5, nibbles 0..15 low, 15..0 high.
        let mut b = half::f16::from_f32(0.5).to_le_bytes().to_vec();
        b.extend((0..16u8).map(|i| i | ((15 - i) << 4)));
        let x = dequantize(GgmlType::Q4_0, &b, 32);
        assert_eq!(x[0], -4.0);
        assert_eq!(x[15], 3.5);
        assert_eq!(x[16], 3.5);
        // Q4_1: d = 1, m = -2.
        let mut b = half::f16::from_f32(1.0).to_le_bytes().to_vec();
        b.extend(half::f16::from_f32(-2.0).to_le_bytes());
        b.extend((0..16u8).map(|i| i | (1 << 4)));
        let x = dequantize(GgmlType::Q4_1, &b, 32);
        assert_eq!((x[0], x[5], x[20]), (-2.0, 3.0, -1.0));
        // Q8_0: d = 0.25.
        let mut b = half::f16::from_f32(0.25).to_le_bytes().to_vec();
        b.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let x = dequantize(GgmlType::Q8_0, &b, 32);
        assert_eq!((x[0], x[31]), (-4.0, 3.75));
    }

    #[test]
    fn round_trips_written_file() {
        let data: Vec<f32> = (0..6).map(|i| i as f32).collect();
        let bytes = write_gguf(
            &[("general.architecture", GgufValue::String("llama".into()))],
            &[("t", &[2, 3], &data)],
        );
        let f = GgufFile::parse("mem.gguf".into(), FileBytes::Owned(bytes)).unwrap();
        assert_eq!(
            f.get("general.architecture").unwrap().as_str(),
            Some("llama")
        );
        assert_eq!(f.tensor_f32("t").unwrap(), (vec![2, 3], data));
    }
}
