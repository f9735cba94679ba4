//! The Verilog-2005 backend: IR → syntax tree ([`ast`]) → text ([`print`](mod@print)).
//!
//! Output is one file per module, named after it, plus one `$readmemh` file per initialised
//! memory, all byte-for-byte deterministic. Every net is declared unsigned; signedness is
//! expressed where it matters (`$signed` on comparisons, arithmetic shifts and products,
//! explicit sign extension elsewhere), so no width is ever inferred from context and the
//! output passes `verilator --lint-only -Wall` with no warnings.

pub mod ast;
mod emit;
pub mod print;

use std::io;
use std::path::Path;

use crate::ir::Design;

/// The generated files of a design.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verilog {
    /// `(file name, contents)`: each module's `.v` file in design order (children first),
    /// then the memory `.hex` files.
    pub files: Vec<(String, String)>,
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
        self.files
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| n.ends_with(".v"))
    }

    /// The `.v` files a simulator or linter reads: [`Verilog::sources`], then the models of
    /// the external modules.
    pub fn simulation_sources(&self) -> impl Iterator<Item = &str> {
        self.sources()
            .chain(self.models.iter().map(|(n, _)| n.as_str()))
    }

    /// All modules in one text, children first.
    pub fn single_file(&self) -> String {
        let mut s = String::new();
        for (name, text) in &self.files {
            if name.ends_with(".v") {
                s.push_str(text);
            }
        }
        s
    }

    /// The contents of the file with this name.
    pub fn file(&self, name: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
    }

    /// The files whose names pass `keep`, each under a `==> name <==` header, for reviewing
    /// RTL (and for snapshot tests): modules in full, memory files cut to their first four
    /// words and their count.
    pub fn listing(&self, keep: impl Fn(&str) -> bool) -> String {
        let mut out = String::new();
        for (name, body) in self
            .files
            .iter()
            .chain(&self.models)
            .filter(|(n, _)| keep(n))
        {
            if name.ends_with(".hex") {
                let words: Vec<&str> = body.lines().collect();
                let head = words[..words.len().min(4)].join("\n");
                out.push_str(&format!(
                    "==> {name} ({} words) <==\n{head}\n...\n",
                    words.len()
                ));
            } else {
                out.push_str(&format!("==> {name} <==\n{body}"));
            }
        }
        out
    }

    /// Writes every file into `dir` (created if missing).
    pub fn write_to(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for (name, text) in self.files.iter().chain(&self.models) {
            let path = dir.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text)?;
        }
        Ok(())
    }
}
