//! The Verilog-2005 backend: IR → syntax tree ([`ast`]) → text ([`print`](mod@print)).
//!
//! Output is one file per module, named after it, plus one `$readmemh` file per initialised
//! memory, all byte-for-byte deterministic. Every net is declared unsigned; signedness is
//! expressed where it matters (`$signed` on comparisons, arithmetic shifts and products,
//! explicit sign extension elsewhere), so no width is ever inferred from context and the
//! output passes `verilator --lint-only -Wall` with no warnings.

pub mod ast;
mod emit;
mod mem_file;
pub mod print;

pub use mem_file::MemFile;

use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crate::ir::Design;

/// The generated files of a design.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verilog {
    /// `(file name, contents)`: each module's `.v` file in design order (children first).
    pub files: Vec<(String, String)>,
    /// The `$readmemh` file of each initialised memory, made as it is written: a model's
    /// weights are not held as text.
    pub memories: Vec<MemFile>,
    /// `(file name, contents)`: a simulation model of each external module (vendor
    /// primitive) the design instantiates, for simulators and lint; not a synthesis source.
    pub models: Vec<(String, String)>,
    /// The top module's name.
    pub top: String,
}

impl Verilog {
    /// Generates Verilog for every module of `design`.
    pub fn from_design(design: &Design) -> Verilog {
        emit::design(design)
    }

    /// The `.v` files' names in order.
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|(n, _)| n.as_str())
    }

    /// The names of the synthesis sources and the memory files they read.
    pub fn file_names(&self) -> impl Iterator<Item = &str> {
        self.sources()
            .chain(self.memories.iter().map(|m| m.name.as_str()))
    }

    /// Bytes [`Verilog::write_to`] writes.
    pub fn total_bytes(&self) -> u64 {
        let text = self.files.iter().chain(&self.models);
        text.map(|(_, t)| t.len() as u64).sum::<u64>()
            + self.memories.iter().map(MemFile::hex_len).sum::<u64>()
    }

    /// The `.v` files a simulator or linter reads: [`Verilog::sources`], then the models of
    /// the external modules.
    pub fn simulation_sources(&self) -> impl Iterator<Item = &str> {
        self.sources()
            .chain(self.models.iter().map(|(n, _)| n.as_str()))
    }

    /// All modules in one text, children first.
    pub fn single_file(&self) -> String {
        self.files.iter().map(|(_, t)| t.as_str()).collect()
    }

    /// The contents of the `.v` file (or simulation model) with this name.
    pub fn file(&self, name: &str) -> Option<&str> {
        self.files
            .iter()
            .chain(&self.models)
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
    }

    /// The files whose names pass `keep`, each under a `==> name <==` header, for reviewing
    /// RTL (and for snapshot tests): modules in full, memory files cut to their first four
    /// words and their count.
    pub fn listing(&self, keep: impl Fn(&str) -> bool) -> String {
        let mut out = String::new();
        let show = |out: &mut String, (name, body): &(String, String)| {
            out.push_str(&format!("==> {name} <==\n{body}"));
        };
        for f in self.files.iter().filter(|(n, _)| keep(n)) {
            show(&mut out, f);
        }
        for m in self.memories.iter().filter(|m| keep(&m.name)) {
            let head: Vec<String> = m.init.first(4).iter().map(|w| w.to_hex()).collect();
            out.push_str(&format!(
                "==> {} ({} words) <==\n{}\n...\n",
                m.name,
                m.init.depth(),
                head.join("\n")
            ));
        }
        for f in self.models.iter().filter(|(n, _)| keep(n)) {
            show(&mut out, f);
        }
        out
    }

    /// Bytes of the memories' binary images ([`MemFile::write`]).
    pub fn bin_bytes(&self) -> u64 {
        self.memories.iter().map(MemFile::bin_len).sum()
    }

    /// Writes every file into `dir` (created if missing).
    pub fn write_to(&self, dir: &Path) -> io::Result<()> {
        self.write_with_progress(dir, None, &|_| {})
    }

    /// [`Verilog::write_to`], and each memory's packed binary image into `bin_dir` if given;
    /// calls `progress` with the bytes written so far (of [`Verilog::total_bytes`] plus, with
    /// `bin_dir`, [`Verilog::bin_bytes`]) every few megabytes. Memory files stream from their
    /// images, the largest first, on every core.
    pub fn write_with_progress(
        &self,
        dir: &Path,
        bin_dir: Option<&Path>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> io::Result<()> {
        // Every error names the file it happened to.
        let named =
            |what: String| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
        let at = |path: &Path| named(path.display().to_string());
        let create = |path: &Path| {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(at(parent))?;
            }
            std::fs::File::create(path).map_err(at(path))
        };
        let done = AtomicU64::new(0);
        let add = |n: u64| progress(done.fetch_add(n, Ordering::Relaxed) + n);
        std::fs::create_dir_all(dir).map_err(at(dir))?;
        for (name, text) in self.files.iter().chain(&self.models) {
            let path = dir.join(name);
            create(&path)?
                .write_all(text.as_bytes())
                .map_err(at(&path))?;
            add(text.len() as u64);
        }
        let mut order: Vec<&MemFile> = self.memories.iter().collect();
        order.sort_by_key(|m| std::cmp::Reverse(m.hex_len()));
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let write_one = |m: &MemFile| -> io::Result<()> {
            let hex_path = dir.join(&m.name);
            let bin_path = bin_dir.map(|d| d.join(m.bin_name()));
            let buffered = |f| BufWriter::with_capacity(1 << 20, f);
            let mut hex = buffered(create(&hex_path)?);
            let mut bin = match &bin_path {
                Some(p) => Some(buffered(create(p)?)),
                None => None,
            };
            let mut last = 0;
            // A failed write is the hex file's or the image's; both are named.
            let both = match &bin_path {
                Some(b) => format!("{} or {}", hex_path.display(), b.display()),
                None => hex_path.display().to_string(),
            };
            m.write(
                &mut hex,
                bin.as_mut().map(|b| b as &mut dyn Write),
                &mut |n| {
                    add(n - last);
                    last = n;
                },
            )
            .map_err(named(both))?;
            let flush = |w: BufWriter<std::fs::File>, p: &Path| {
                w.into_inner().map(drop).map_err(|e| at(p)(e.into_error()))
            };
            flush(hex, &hex_path)?;
            if let (Some(w), Some(p)) = (bin, &bin_path) {
                flush(w, p)?;
            }
            Ok(())
        };
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(order.len());
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        while !failed.load(Ordering::Relaxed) {
                            let Some(m) = order.get(next.fetch_add(1, Ordering::Relaxed)) else {
                                break;
                            };
                            write_one(m).inspect_err(|_| failed.store(true, Ordering::Relaxed))?;
                        }
                        Ok(())
                    })
                })
                .collect();
            // The scope joins every writer; the first error is the one reported.
            handles
                .into_iter()
                .try_for_each(|h| h.join().expect("a memory writer panicked"))
        })
    }
}
