//! The weight store: a golden model's quantised weights, packed at their width, with its folded
//! constants, in one file under `$HARDWIRE_CACHE_DIR/weights/` named by the hash of everything
//! that made it. The golden model, `hardwire rtl` and `hardwire sim` read the weights from it
//! through a memory map, so a 4-bit model costs half a byte per weight wherever it is used, and
//! a model quantised once (the 8B takes minutes) opens in a moment the next time.
//!
//! A store file:
//!
//! | bytes | what |
//! |---|---|
//! | 0..8 | `HWSTORE` and a zero byte |
//! | 8..12 | format version, little-endian `u32` |
//! | 16..24, 24..32 | offset and length of the JSON header |
//! | 64.. | sections, each 64-byte aligned: per matrix its packed weights, then its multipliers, shifts and offset multipliers as little-endian 32-bit words |
//! | header offset.. | the header: configuration, datapath, each matrix's shape and sections, the norms, the quantisation report |
//!
//! A file is written under a temporary name beside its final one, synced, then renamed: a
//! store that exists is complete. Reading checks the magic, the version, and that every
//! section lies inside the file with the length its shape needs, so a truncated or damaged
//! store is an error naming the file and the matrix, never a panic.

use crate::config::LlamaConfig;
use crate::error::{ModelError, Result};
use crate::fixed::matvec::FixedMatrix;
use crate::fixed::model::{FixedLayer, FixedModel, Parts};
use crate::fixed::packed::{Container, PackedWeights};
use crate::fixed::{NumericConfig, RmsNormParams, Shared};
use crate::quant::TensorReport;
use memmap2::Mmap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"HWSTORE\0";
/// Raised whenever the layout or the meaning of a field changes.
const VERSION: u32 = 1;
const ALIGN: u64 = 64;

/// Where a section lies in the file.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Section {
    pub at: u64,
    pub len: u64,
}

#[derive(Serialize, Deserialize)]
struct MatrixEntry {
    role: String,
    rows: usize,
    cols: usize,
    group_size: usize,
    weight_bits: u32,
    out_bits: u32,
    container: Container,
    weights: Section,
    mults: Section,
    shifts: Section,
    offset_mults: Option<Section>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    config: LlamaConfig,
    numerics: NumericConfig,
    matrices: Vec<MatrixEntry>,
    norms: Vec<(String, RmsNormParams)>,
    report: Vec<TensorReport>,
    /// What the caller keeps beside the model (the CLI: the quantisation policy, as JSON).
    meta: String,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        file: path.to_path_buf(),
        source,
    }
}

/// Writes `model` (and the caller's `meta`) to a store at `path`, atomically (a temporary file beside it, synced, then
/// renamed). Returns the bytes written. On any error (a full disk, say) the temporary file is
/// removed and nothing appears at `path`.
pub fn write(model: &FixedModel, meta: &str, path: &Path) -> Result<u64> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("partial-{}-{n}", std::process::id()));
    let result = write_to(model, meta, &tmp).and_then(|len| {
        std::fs::rename(&tmp, path).map_err(io(path))?;
        Ok(len)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_to(model: &FixedModel, meta: &str, path: &Path) -> Result<u64> {
    let err = io(path);
    let file = File::create(path).map_err(&err)?;
    let mut w = Writer::new(file);
    w.bytes(&[0; ALIGN as usize]).map_err(&err)?;
    let all = model.matrices();
    let mut matrices: Vec<MatrixEntry> = Vec::new();
    for (i, (role, m)) in all.iter().enumerate() {
        // A tied head shares the embedding's weights: one copy, two entries.
        let weights = match all[..i].iter().position(|(_, o)| o.weights == m.weights) {
            Some(j) => matrices[j].weights,
            None => w.section(m.weights.bytes()).map_err(&err)?,
        };
        matrices.push(MatrixEntry {
            role: role.clone(),
            rows: m.rows,
            cols: m.cols,
            group_size: m.group_size,
            weight_bits: m.weight_bits,
            out_bits: m.out_bits,
            container: m.weights.container(),
            weights,
            mults: w.words(&m.mults).map_err(&err)?,
            shifts: w.words(&m.shifts).map_err(&err)?,
            offset_mults: if m.offset_mults.is_empty() {
                None
            } else {
                Some(w.words(&m.offset_mults).map_err(&err)?)
            },
        });
    }
    let header = Header {
        config: model.config.clone(),
        numerics: model.numerics,
        matrices,
        norms: model
            .norms()
            .into_iter()
            .map(|(r, n)| (r, n.clone()))
            .collect(),
        report: model.report.clone(),
        meta: meta.to_string(),
    };
    let json = serde_json::to_vec(&header).map_err(|e| ModelError::Config(e.to_string()))?;
    let h = w.section(&json).map_err(&err)?;
    let mut file = w.into_file().map_err(&err)?;
    let mut pre = [0u8; 32];
    pre[..8].copy_from_slice(MAGIC);
    pre[8..12].copy_from_slice(&VERSION.to_le_bytes());
    pre[16..24].copy_from_slice(&h.at.to_le_bytes());
    pre[24..32].copy_from_slice(&h.len.to_le_bytes());
    file.seek(SeekFrom::Start(0)).map_err(&err)?;
    file.write_all(&pre).map_err(&err)?;
    file.sync_all().map_err(&err)?;
    Ok(h.at + h.len)
}

/// Sections written one after another, each at a multiple of [`ALIGN`] so the words in them
/// can be read in place through a map (the store, and matrices spilled off the heap).
pub(crate) struct Writer {
    out: BufWriter<File>,
    at: u64,
}

impl Writer {
    /// Writes to `file` from its start.
    pub(crate) fn new(file: File) -> Writer {
        Writer {
            out: BufWriter::with_capacity(8 << 20, file),
            at: 0,
        }
    }

    /// The file, everything written to it.
    pub(crate) fn into_file(self) -> std::io::Result<File> {
        self.out.into_inner().map_err(|e| e.into_error())
    }

    fn bytes(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.out.write_all(b)?;
        self.at += b.len() as u64;
        Ok(())
    }

    /// `b` at the next aligned offset.
    pub(crate) fn section(&mut self, b: &[u8]) -> std::io::Result<Section> {
        let pad = self.at.next_multiple_of(ALIGN) - self.at;
        self.bytes(&[0; ALIGN as usize][..pad as usize])?;
        let at = self.at;
        self.bytes(b)?;
        Ok(Section {
            at,
            len: b.len() as u64,
        })
    }

    /// `v` as little-endian 32-bit words at the next aligned offset.
    pub(crate) fn words<T: Copy + Into<i64>>(&mut self, v: &[T]) -> std::io::Result<Section> {
        let b: Vec<u8> = v
            .iter()
            .flat_map(|&x| (x.into() as u32).to_le_bytes())
            .collect();
        self.section(&b)
    }
}

/// The model in the store at `path`, its weights mapped, with RoPE tables up to `max_seq`;
/// and the meta it was written with.
pub fn read(path: &Path, max_seq: usize) -> Result<(FixedModel, String)> {
    let bad = |matrix: Option<&str>, reason: String| ModelError::Malformed {
        file: path.to_path_buf(),
        tensor: matrix.map(str::to_string),
        reason,
    };
    let mut file = File::open(path).map_err(io(path))?;
    let len = file.metadata().map_err(io(path))?.len();
    let mut pre = [0u8; 32];
    if len < ALIGN || file.read_exact(&mut pre).is_err() {
        return Err(bad(
            None,
            format!("{len} bytes, too short for a weight store"),
        ));
    }
    if &pre[..8] != MAGIC {
        return Err(bad(
            None,
            "not a hardwire weight store (no HWSTORE magic)".into(),
        ));
    }
    let version = u32::from_le_bytes(pre[8..12].try_into().unwrap());
    if version != VERSION {
        return Err(bad(
            None,
            format!("store format {version}; this build reads {VERSION}"),
        ));
    }
    let u64_at = |i: usize| u64::from_le_bytes(pre[i..i + 8].try_into().unwrap());
    let header_section = Section {
        at: u64_at(16),
        len: u64_at(24),
    };
    let header_bytes = read_section(&mut file, len, header_section)
        .ok_or_else(|| bad(None, "the header lies past the end (truncated?)".into()))?;
    let header: Header = serde_json::from_slice(&header_bytes)
        .map_err(|e| bad(None, format!("the header does not parse: {e}")))?;
    // SAFETY: store files are written once under a temporary name and renamed into place, and
    // never modified after; a file removed while mapped stays readable.
    let map = Arc::new(unsafe { Mmap::map(&file) }.map_err(io(path))?);
    let mut matrices = HashMap::new();
    for e in &header.matrices {
        let role = Some(e.role.as_str());
        let groups = if e.group_size == 0 {
            return Err(bad(role, "a group size of 0".into()));
        } else {
            e.cols.div_ceil(e.group_size)
        };
        let weights = usize::try_from(e.weights.at)
            .ok()
            .filter(|_| Some(e.weights.len) == (e.rows as u64).checked_mul(e.container.row_bytes(e.cols) as u64))
            .and_then(|at| PackedWeights::mapped(e.rows, e.cols, e.container, map.clone(), at))
            .ok_or_else(|| bad(role, "its weights lie past the end of the file or have the wrong length (truncated?)".into()))?;
        // `n` 32-bit words, read in place from the map where the machine's byte order allows.
        let mut words = |s: Section, n: usize, what: &str| -> Result<Shared<i32>> {
            if s.len != 4 * n as u64 {
                return Err(bad(role, format!("{} {what} for {n}", s.len / 4)));
            }
            let truncated = || bad(role, format!("its {what} lie past the end (truncated?)"));
            if let Some(v) = usize::try_from(s.at)
                .ok()
                .and_then(|at| Shared::mapped(map.clone(), at, n))
            {
                return Ok(v);
            }
            let b = read_section(&mut file, len, s).ok_or_else(truncated)?;
            Ok(b.chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
                .collect())
        };
        let m = FixedMatrix {
            rows: e.rows,
            cols: e.cols,
            group_size: e.group_size,
            weight_bits: e.weight_bits,
            weights,
            mults: words(e.mults, e.rows * groups, "multipliers")?,
            shifts: words(e.shifts, e.rows, "shifts")?
                .iter()
                .map(|&s| s as u32)
                .collect(),
            out_bits: e.out_bits,
            offset_mults: match e.offset_mults {
                Some(s) => words(s, e.rows * groups, "offset multipliers")?,
                None => Shared::default(),
            },
        };
        matrices.insert(e.role.clone(), m);
    }
    let mut norms: HashMap<String, RmsNormParams> = header.norms.into_iter().collect();
    let mut matrix = |role: String| {
        matrices
            .remove(&role)
            .ok_or_else(|| bad(None, format!("the matrix {role} is missing")))
    };
    let mut norm = |role: String| {
        norms
            .remove(&role)
            .ok_or_else(|| bad(None, format!("the norm {role} is missing")))
    };
    let c = &header.config;
    let layers = (0..c.num_hidden_layers)
        .map(|i| {
            let r = |x: &str| format!("layers.{i}.{x}");
            let (attn_norm, ffn_norm) = (norm(r("attn_norm"))?, norm(r("ffn_norm"))?);
            let ms: Vec<FixedMatrix> = FixedLayer::ROLES
                .iter()
                .map(|role| matrix(r(role)))
                .collect::<Result<_>>()?;
            let ms = ms.try_into().expect("one matrix per role");
            Ok(FixedLayer::from_roles(attn_norm, ffn_norm, ms))
        })
        .collect::<Result<Vec<_>>>()?;
    let parts = Parts {
        embed: matrix("embed".into())?,
        layers,
        final_norm: norm("final_norm".into())?,
        lm_head: matrix("lm_head".into())?,
    };
    Ok((
        FixedModel::from_parts(
            header.config,
            header.numerics,
            max_seq,
            parts,
            header.report,
        ),
        header.meta,
    ))
}

/// The section's bytes, read rather than mapped (the header, the shifts); `None` past the end.
fn read_section(file: &mut File, file_len: u64, s: Section) -> Option<Vec<u8>> {
    if s.at.checked_add(s.len)? > file_len {
        return None;
    }
    let mut b = vec![0u8; usize::try_from(s.len).ok()?];
    file.seek(SeekFrom::Start(s.at)).ok()?;
    file.read_exact(&mut b).ok()?;
    Some(b)
}

/// A directory of stores named by their keys, with a size limit: when an added store takes the
/// directory past it, the least recently used others are removed.
pub struct WeightStore {
    dir: PathBuf,
    limit_bytes: u64,
}

/// How [`WeightStore::open_or_build`] got its model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// Read from the store.
    Hit(PathBuf),
    /// Built, then written to the store and read back from it.
    Built(PathBuf),
    /// Built, and not stored: the reason (a full disk, say). The model is held in memory.
    NotStored(String),
}

impl WeightStore {
    /// The default store, `weights/` in the cache directory ([`crate::fixtures::cache_dir`]),
    /// limited to `$HARDWIRE_WEIGHT_STORE_GB` (default 32) gigabytes; `None` when there is no
    /// cache directory or the variable is 0 (the store is off).
    pub fn default_dir() -> Option<Self> {
        let gb: f64 = std::env::var("HARDWIRE_WEIGHT_STORE_GB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(32.0);
        (gb > 0.0).then_some(())?;
        Some(WeightStore {
            dir: crate::fixtures::cache_dir()?.join("weights"),
            limit_bytes: (gb * 1e9) as u64,
        })
    }

    /// A store in `dir` holding at most `limit_bytes`.
    pub fn new(dir: PathBuf, limit_bytes: u64) -> Self {
        WeightStore { dir, limit_bytes }
    }

    /// Where the store of `key` lives.
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.hwstore"))
    }

    /// The model stored under `key` (a hex digest of what makes it: see [`key`]) with its
    /// meta, else `build()`'s, written to the store and read back mapped. A store that cannot
    /// be read (damaged, an old format) is rebuilt; one that cannot be written leaves the model
    /// in memory, with the reason.
    pub fn open_or_build<E: From<ModelError>>(
        &self,
        key: &str,
        max_seq: usize,
        build: impl FnOnce() -> std::result::Result<(FixedModel, String), E>,
    ) -> std::result::Result<(FixedModel, String, Provenance), E> {
        let path = self.path(key);
        if path.is_file() {
            if let Ok((m, meta)) = read(&path, max_seq) {
                // Marks it as used, for the size limit.
                let _ = File::options()
                    .append(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                return Ok((m, meta, Provenance::Hit(path)));
            }
        }
        let (model, meta) = build()?;
        let stored = std::fs::create_dir_all(&self.dir)
            .map_err(io(&self.dir))
            .and_then(|_| write(&model, &meta, &path))
            .and_then(|_| read(&path, max_seq));
        Ok(match stored {
            Ok((m, _)) => {
                self.evict(&path);
                (m, meta, Provenance::Built(path))
            }
            Err(e) => (model, meta, Provenance::NotStored(e.to_string())),
        })
    }

    /// Removes the least recently used stores other than `keep` while the directory holds more
    /// than the limit.
    fn evict(&self, keep: &Path) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut stores: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "hwstore"))
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some((m.modified().ok()?, m.len(), e.path()))
            })
            .collect();
        let mut total: u64 = stores.iter().map(|s| s.1).sum();
        stores.sort();
        for (_, len, p) in stores {
            if total <= self.limit_bytes {
                break;
            }
            if p != keep && std::fs::remove_file(&p).is_ok() {
                total -= len;
            }
        }
    }
}

/// The store key of a model: the hex BLAKE3 digest of the store format, the code that
/// quantises (a digest of this crate's source and the lock file made at build time, so a
/// changed quantiser never reads an old store) and `recipe`, which names the weights' source by
/// content (see [`file_digest`]) and every setting that shapes the quantised model.
pub fn key(recipe: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(&VERSION.to_le_bytes());
    h.update(env!("HARDWIRE_MODEL_SOURCE").as_bytes());
    h.update(recipe.as_bytes());
    h.finalize().to_hex()[..32].to_string()
}

/// The hex BLAKE3 digest of a file's bytes, hashed over a memory map on every core.
pub fn file_digest(path: &Path) -> Result<String> {
    let mut h = blake3::Hasher::new();
    h.update_mmap_rayon(path).map_err(io(path))?;
    Ok(h.finalize().to_hex().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{QuantPolicy, QuantSpec};
    use crate::LlamaWeights;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hardwire-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn model(bits: u32, offset: bool, tied: bool) -> FixedModel {
        let mut c = LlamaConfig::tiny();
        c.tie_word_embeddings = tied;
        let w = LlamaWeights::seeded(&c, 3).unwrap();
        let spec = QuantSpec {
            bits,
            group_size: Some(16),
            offset,
        };
        FixedModel::new(&w, &QuantPolicy::uniform(spec), NumericConfig::tiny(), 16).unwrap()
    }

    fn assert_same(a: &FixedModel, b: &FixedModel) {
        assert_eq!(a.matrices(), b.matrices());
        assert_eq!(a.norms(), b.norms());
        assert_eq!(a.report, b.report);
        assert_eq!((&a.config, a.numerics), (&b.config, b.numerics));
        assert_eq!(a.rope, b.rope);
        assert_eq!(
            a.generate_greedy(&[1, 2, 3], 8, None).unwrap(),
            b.generate_greedy(&[1, 2, 3], 8, None).unwrap()
        );
    }

    #[test]
    fn a_stored_model_reads_back_equal_and_mapped() {
        let d = temp("roundtrip");
        for (bits, offset, tied) in [(4, true, true), (8, false, false), (3, false, true)] {
            let m = model(bits, offset, tied);
            let p = d.join("m.hwstore");
            let n = write(&m, "policy", &p).unwrap();
            assert_eq!(n, std::fs::metadata(&p).unwrap().len());
            let (r, meta) = read(&p, 16).unwrap();
            assert_eq!(meta, "policy");
            assert!(r.matrices().iter().all(|(_, m)| m.weights.is_mapped()));
            assert_same(&m, &r);
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_damaged_store_is_an_error_naming_the_file() {
        let d = temp("damaged");
        let p = d.join("m.hwstore");
        write(&model(4, true, true), "", &p).unwrap();
        let whole = std::fs::read(&p).unwrap();
        let q = d.join("bad.hwstore");
        let cut = |n: usize| {
            std::fs::write(&q, &whole[..n]).unwrap();
            read(&q, 16).map(|_| ()).unwrap_err().to_string()
        };
        for (n, words) in [
            (10, "too short"),
            (whole.len() - 10, "past the end"),
            (4096, "past the end"),
        ] {
            let e = cut(n);
            assert!(e.contains("bad.hwstore") && e.contains(words), "{n}: {e}");
        }
        let mut other = whole.clone();
        other[8] = 9;
        std::fs::write(&q, &other).unwrap();
        let e = read(&q, 16).unwrap_err().to_string();
        assert!(e.contains("store format 9"), "{e}");
        other[..8].copy_from_slice(b"GGUF\0\0\0\0");
        std::fs::write(&q, &other).unwrap();
        let e = read(&q, 16).unwrap_err().to_string();
        assert!(e.contains("not a hardwire weight store"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_store_builds_once_rebuilds_damage_and_keeps_its_limit() {
        let d = temp("dir");
        let s = WeightStore::new(d.clone(), u64::MAX);
        let m = model(4, true, true);
        let mut builds = 0;
        let mut get = |s: &WeightStore, key: &str| {
            s.open_or_build(key, 16, || {
                builds += 1;
                Ok::<_, ModelError>((m.clone(), format!("build {builds}")))
            })
            .unwrap()
        };
        let (a, meta, how) = get(&s, "k1");
        assert!(matches!(how, Provenance::Built(_)), "{how:?}");
        let (b, meta_b, how) = get(&s, "k1");
        assert!(matches!(how, Provenance::Hit(_)), "{how:?}");
        assert_same(&a, &b);
        assert_eq!((meta.as_str(), meta_b.as_str()), ("build 1", "build 1"));
        // A damaged store is rebuilt.
        std::fs::write(s.path("k1"), b"HWSTORE\0junk").unwrap();
        assert!(matches!(get(&s, "k1").2, Provenance::Built(_)));
        // No partial files are left, and the limit removes the least recently used.
        let size = std::fs::metadata(s.path("k1")).unwrap().len();
        let small = WeightStore::new(d.clone(), size + size / 2);
        get(&small, "k2");
        assert!(!s.path("k1").exists() && s.path("k2").exists());
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert_eq!(builds, 3);
        // A store that cannot be written leaves the model in memory, and says why.
        let blocked = WeightStore::new(d.join("k2.hwstore").join("sub"), u64::MAX);
        let (m2, _, how) = blocked
            .open_or_build("k3", 16, || Ok::<_, ModelError>((m.clone(), String::new())))
            .unwrap();
        assert!(matches!(how, Provenance::NotStored(_)), "{how:?}");
        assert!(!m2.embed.weights.is_mapped());
        let _ = std::fs::remove_dir_all(&d);
    }
}
