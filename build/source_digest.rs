// Included by the build scripts of the crates whose code shapes a quantised model (the model
// crate, and the CLI that turns flags into a quantisation policy): it names that code for the
// weight store's key, so a store made by other code is never read, while a change anywhere
// else (the HDL, the blocks, the flows) keeps every store valid.

use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};

/// Emits `cargo:rustc-env=<var>=<digest>`, the digest of `paths` (every file under those that
/// are directories) and of the workspace's lock file (the dependencies' versions), and asks
/// Cargo to rerun on a change.
fn emit_source_digest(var: &str, paths: &[&str], lock: &str) {
    fn walk(path: &Path, out: &mut Vec<PathBuf>) {
        if !path.is_dir() {
            out.push(path.to_path_buf());
            return;
        }
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            walk(&entry.path(), out);
        }
    }
    let mut files = Vec::new();
    for path in paths {
        walk(Path::new(path), &mut files);
        println!("cargo:rerun-if-changed={path}");
    }
    files.sort();
    files.push(PathBuf::from(lock));
    println!("cargo:rerun-if-changed={lock}");
    let mut h = DefaultHasher::new();
    for f in &files {
        h.write(f.to_string_lossy().as_bytes());
        h.write(&std::fs::read(f).unwrap_or_default());
    }
    println!("cargo:rustc-env={var}={:016x}", h.finish());
}
