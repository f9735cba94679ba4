//! Running the `hardwire` binary as a user would, in a scratch directory of its own.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// `<tmp>/hardwire-<name>-<pid>`, empty.
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("hardwire-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// A path inside the directory.
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The command `hardwire ARGS` run from `cwd`.
pub fn command(cwd: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hardwire"));
    c.args(args).current_dir(cwd).env_remove("RUST_BACKTRACE");
    c
}

/// What a finished run said.
pub struct Run {
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs `hardwire ARGS` from `cwd` to its end.
pub fn hardwire(cwd: &Path, args: &[&str]) -> Run {
    command(cwd, args)
        .output()
        .expect("running hardwire")
        .into()
}

impl Run {
    /// Asserts a clean refusal: exit code 1 (an error) or 2 (a usage error), never a panic or a
    /// signal, with every one of `words` in the message.
    pub fn refused(&self, words: &[&str]) {
        assert!(
            matches!(self.code, Some(1 | 2)),
            "expected a clean error, got {:?}\n{}",
            self.code,
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        for w in words {
            assert!(self.stderr.contains(w), "`{w}` not in:\n{}", self.stderr);
        }
    }

    /// Asserts success.
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "{}", self.stderr);
        self
    }
}

/// Every file under `dir` (relative path → bytes), to compare directories whole.
pub fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}
