//! [`OutputDir`]: an output directory that is written whole or not at all, and that never
//! destroys what hardwire did not write.
//!
//! The rules, in the order they are checked:
//! - the target is never `/`, the home directory, the current directory or one of their
//!   parents (`--out .`, `--out ..`), whatever the overwrite policy;
//! - it is not a symbolic link, and not a file;
//! - if it exists and holds anything, it must carry hardwire's marker file
//!   ([`MARKER`]), which every output directory gets, unless the caller passes
//!   [`Overwrite::Force`] (the CLI's `--force`).
//!
//! Files are written into `<dir>.partial`. [`OutputDir::commit`] then puts the new directory in
//! place of the old one with one atomic exchange of the two names (Linux `renameat2` with
//! `RENAME_EXCHANGE`), and only then deletes the old output, marker last. So whenever a run
//! is killed, `<dir>` is the old output or the new one, whole. On systems without the
//! exchange, the old directory is renamed aside first, so for a moment `<dir>` is absent (never
//! half-written). A failed run keeps `<dir>.partial` with its logs for reading; the next run
//! removes it.

use std::path::{Path, PathBuf};

use crate::error::FpgaError;

/// The file that marks a directory as hardwire's output, safe for hardwire to replace.
pub const MARKER: &str = ".hardwire-output";

/// What an existing, non-empty target may be replaced as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overwrite {
    /// Only a directory that hardwire wrote (it carries [`MARKER`]).
    #[default]
    OwnOutput,
    /// Any directory (`--force`). The protected directories stay protected.
    Force,
}

impl Overwrite {
    /// [`Overwrite::Force`] when `force` (a `--force` flag), else [`Overwrite::OwnOutput`].
    pub fn from_force(force: bool) -> Overwrite {
        if force {
            Overwrite::Force
        } else {
            Overwrite::OwnOutput
        }
    }
}

/// An output directory being written: files go to [`OutputDir::path`] (`<dir>.partial`) until
/// [`OutputDir::commit`] puts them in place.
///
/// ```
/// use hardwire_fpga::output_dir::{OutputDir, Overwrite};
/// let target = std::env::temp_dir().join(format!("hardwire-doc-{}", std::process::id()));
/// let out = OutputDir::create(&target, Overwrite::OwnOutput)?;
/// std::fs::write(out.path().join("report.txt"), "done\n").unwrap();
/// let dir = out.commit()?;
/// assert!(dir.join("report.txt").is_file());
/// # std::fs::remove_dir_all(dir).unwrap();
/// # Ok::<(), hardwire_fpga::FpgaError>(())
/// ```
#[derive(Debug)]
pub struct OutputDir {
    partial: PathBuf,
    dir: PathBuf,
    committed: bool,
}

impl OutputDir {
    /// Checks `dir` against the rules above and starts a fresh `<dir>.partial` with the marker
    /// in it (removing a left-over one that hardwire wrote).
    pub fn create(dir: &Path, overwrite: Overwrite) -> Result<OutputDir, FpgaError> {
        let dir = resolve(dir)?;
        check_target(&dir, overwrite)?;
        let partial = sibling(&dir, "partial");
        if std::fs::symlink_metadata(&partial).is_ok() {
            if !is_own_or_empty(&partial) {
                return Err(refuse(
                    &partial,
                    "it exists and hardwire did not write it; move it away",
                ));
            }
            remove_own(&partial)?;
        }
        std::fs::create_dir(&partial)
            .map_err(FpgaError::io(format!("creating {}", partial.display())))?;
        let marker = partial.join(MARKER);
        std::fs::write(
            &marker,
            format!(
                "Written by hardwire {}. A later run with the same output directory replaces \
                 this directory as a whole.\n",
                env!("CARGO_PKG_VERSION")
            ),
        )
        .map_err(FpgaError::io(format!("writing {}", marker.display())))?;
        Ok(OutputDir {
            partial,
            dir,
            committed: false,
        })
    }

    /// Where files are written until the commit (`<dir>.partial`).
    pub fn path(&self) -> &Path {
        &self.partial
    }

    /// Where the files go at the commit.
    pub fn target(&self) -> &Path {
        &self.dir
    }

    /// Puts the finished directory in place of the old output (if any), atomically where the
    /// system allows, then deletes the old output. Returns the target's path.
    pub fn commit(mut self) -> Result<PathBuf, FpgaError> {
        let moving = |e| {
            FpgaError::io(format!(
                "moving {} to {}",
                self.partial.display(),
                self.dir.display()
            ))(e)
        };
        if std::fs::symlink_metadata(&self.dir).is_err() {
            std::fs::rename(&self.partial, &self.dir).map_err(moving)?;
        } else {
            // Checked again: something may have appeared at the target since `create`.
            check_target(&self.dir, Overwrite::Force)?;
            match exchange(&self.partial, &self.dir) {
                // The old output now sits at `<dir>.partial`.
                Ok(()) => remove_own(&self.partial)?,
                Err(_) => {
                    let aside = sibling(&self.dir, "old");
                    if std::fs::symlink_metadata(&aside).is_ok() {
                        remove_own(&aside)?;
                    }
                    std::fs::rename(&self.dir, &aside).map_err(FpgaError::io(format!(
                        "moving the previous output {} aside",
                        self.dir.display()
                    )))?;
                    std::fs::rename(&self.partial, &self.dir).map_err(moving)?;
                    remove_own(&aside)?;
                }
            }
        }
        self.committed = true;
        Ok(self.dir.clone())
    }
}

impl Drop for OutputDir {
    /// A run that fails before writing anything leaves nothing behind; one that wrote files
    /// keeps them in `<dir>.partial` for reading.
    fn drop(&mut self) {
        if !self.committed {
            let only_marker = std::fs::read_dir(&self.partial)
                .map(|entries| entries.flatten().all(|e| e.file_name() == MARKER))
                .unwrap_or(false);
            if only_marker {
                let _ = remove_own(&self.partial);
            }
        }
    }
}

/// `dir` with its parent made absolute and canonical (created if missing) and its last
/// component kept as written, so that `.`, `..` and symbolic links in the parent are seen
/// through while a link at the target itself is still visible as a link.
fn resolve(dir: &Path) -> Result<PathBuf, FpgaError> {
    let absolute =
        std::path::absolute(dir).map_err(FpgaError::io(format!("resolving {}", dir.display())))?;
    // `absolute` keeps `..`; canonicalising the whole path resolves it, when it exists.
    let absolute = match std::fs::canonicalize(&absolute) {
        Ok(c) if !is_symlink(&absolute) => c,
        _ => absolute,
    };
    let (Some(parent), Some(name)) = (absolute.parent(), absolute.file_name()) else {
        return Err(refuse(dir, "it is the root directory"));
    };
    if name == ".." || name == "." {
        return Err(refuse(dir, "give a directory by name"));
    }
    std::fs::create_dir_all(parent)
        .map_err(FpgaError::io(format!("creating {}", parent.display())))?;
    let parent = std::fs::canonicalize(parent)
        .map_err(FpgaError::io(format!("resolving {}", parent.display())))?;
    Ok(parent.join(name))
}

/// The directories that are never an output: the root, the home directory, the current
/// directory, and every parent of the last two.
fn protected() -> Vec<(PathBuf, &'static str)> {
    let mut out = vec![(PathBuf::from("/"), "the root directory")];
    let home = std::env::var_os("HOME").and_then(|h| std::fs::canonicalize(h).ok());
    let cwd = std::env::current_dir()
        .ok()
        .and_then(|c| std::fs::canonicalize(c).ok());
    for (start, what, above) in [
        (
            cwd,
            "the current directory",
            "a parent of the current directory",
        ),
        (
            home,
            "your home directory",
            "a parent of your home directory",
        ),
    ] {
        if let Some(start) = start {
            out.push((start.clone(), what));
            out.extend(start.ancestors().skip(1).map(|a| (a.to_path_buf(), above)));
        }
    }
    out
}

fn check_target(dir: &Path, overwrite: Overwrite) -> Result<(), FpgaError> {
    let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if let Some((_, what)) = protected().into_iter().find(|(p, _)| *p == real) {
        return Err(refuse(
            dir,
            &format!("it is {what}; name a new directory for the output"),
        ));
    }
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return Ok(());
    };
    if meta.file_type().is_symlink() {
        return Err(refuse(
            dir,
            "it is a symbolic link; give the directory itself",
        ));
    }
    if !meta.is_dir() {
        return Err(refuse(dir, "it exists and is not a directory"));
    }
    if overwrite == Overwrite::OwnOutput && !is_own_or_empty(dir) {
        return Err(refuse(
            dir,
            &format!(
                "it holds files that hardwire did not write (it has no {MARKER}); choose \
                 another directory, or pass --force to replace it as a whole"
            ),
        ));
    }
    Ok(())
}

fn refuse(dir: &Path, why: &str) -> FpgaError {
    FpgaError::UnsafeOutput {
        dir: dir.to_path_buf(),
        why: why.to_string(),
    }
}

/// `<dir>.<suffix>` beside `dir`.
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    dir.with_file_name(name)
}

fn is_symlink(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
}

/// Whether `dir` is a real directory that is empty or carries the marker.
fn is_own_or_empty(dir: &Path) -> bool {
    if is_symlink(dir) {
        return false;
    }
    match std::fs::read_dir(dir) {
        Ok(mut entries) => dir.join(MARKER).is_file() || entries.next().is_none(),
        Err(_) => false,
    }
}

/// Deletes a directory of hardwire's, the marker last, so that an interrupted deletion
/// leaves a directory that is still recognisably hardwire's (or empty).
fn remove_own(dir: &Path) -> Result<(), FpgaError> {
    let context = || format!("removing {}", dir.display());
    for entry in std::fs::read_dir(dir).map_err(FpgaError::io(context()))? {
        let entry = entry.map_err(FpgaError::io(context()))?;
        if entry.file_name() == MARKER {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().map_err(FpgaError::io(context()))?;
        if kind.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        }
        .map_err(FpgaError::io(format!("removing {}", path.display())))?;
    }
    let marker = dir.join(MARKER);
    if marker.exists() {
        std::fs::remove_file(&marker).map_err(FpgaError::io(context()))?;
    }
    std::fs::remove_dir(dir).map_err(FpgaError::io(context()))
}

/// Swaps two directory entries in one step.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(std::io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hardwire-outdir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn write(out: &OutputDir, name: &str, text: &str) {
        std::fs::write(out.path().join(name), text).unwrap();
    }

    #[test]
    fn a_new_output_appears_only_at_commit_and_replaces_the_old_whole() {
        let root = scratch("replace");
        let target = root.join("out");
        let out = OutputDir::create(&target, Overwrite::OwnOutput).unwrap();
        write(&out, "a.v", "old");
        assert!(!target.exists());
        out.commit().unwrap();
        let out = OutputDir::create(&target, Overwrite::OwnOutput).unwrap();
        write(&out, "b.v", "new");
        assert_eq!(std::fs::read_to_string(target.join("a.v")).unwrap(), "old");
        out.commit().unwrap();
        assert!(!target.join("a.v").exists());
        assert_eq!(std::fs::read_to_string(target.join("b.v")).unwrap(), "new");
        assert!(target.join(MARKER).is_file());
        assert!(!sibling(&target, "partial").exists());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_directory_of_someone_elses_is_kept_unless_forced() {
        let root = scratch("foreign");
        let target = root.join("mine");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("thesis.tex"), "years of work").unwrap();
        let e = OutputDir::create(&target, Overwrite::OwnOutput)
            .unwrap_err()
            .to_string();
        assert!(e.contains("did not write") && e.contains("--force"), "{e}");
        assert!(target.join("thesis.tex").is_file());
        assert!(!sibling(&target, "partial").exists());
        let out = OutputDir::create(&target, Overwrite::Force).unwrap();
        write(&out, "a.v", "new");
        out.commit().unwrap();
        assert!(!target.join("thesis.tex").exists());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn an_empty_directory_is_used_and_a_file_or_link_is_refused() {
        let root = scratch("kinds");
        std::fs::create_dir(root.join("empty")).unwrap();
        OutputDir::create(&root.join("empty"), Overwrite::OwnOutput)
            .unwrap()
            .commit()
            .unwrap();
        std::fs::write(root.join("file"), "x").unwrap();
        let e = OutputDir::create(&root.join("file"), Overwrite::Force).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
        std::os::unix::fs::symlink(root.join("empty"), root.join("link")).unwrap();
        let e = OutputDir::create(&root.join("link"), Overwrite::Force).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_left_over_partial_is_removed_only_if_it_is_hardwires() {
        let root = scratch("partial");
        let target = root.join("out");
        let partial = sibling(&target, "partial");
        std::fs::create_dir(&partial).unwrap();
        std::fs::write(partial.join("notes.txt"), "mine").unwrap();
        let e = OutputDir::create(&target, Overwrite::Force).unwrap_err();
        assert!(e.to_string().contains("did not write"), "{e}");
        std::fs::write(partial.join(MARKER), "").unwrap();
        OutputDir::create(&target, Overwrite::OwnOutput).unwrap();
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_run_that_wrote_nothing_leaves_nothing() {
        let root = scratch("drop");
        let target = root.join("out");
        drop(OutputDir::create(&target, Overwrite::OwnOutput).unwrap());
        assert!(!sibling(&target, "partial").exists());
        let out = OutputDir::create(&target, Overwrite::OwnOutput).unwrap();
        write(&out, "yosys.log", "error");
        drop(out);
        assert!(sibling(&target, "partial").join("yosys.log").is_file());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn the_root_home_and_working_directories_are_never_outputs() {
        let cwd = std::env::current_dir().unwrap();
        let mut cases = vec![
            PathBuf::from("/"),
            PathBuf::from("."),
            PathBuf::from(".."),
            cwd.clone(),
            cwd.join("sub/../.."),
        ];
        if let Some(home) = std::env::var_os("HOME") {
            cases.push(PathBuf::from(home));
        }
        for dir in cases {
            let e = OutputDir::create(&dir, Overwrite::Force)
                .map(|o| o.target().to_path_buf())
                .unwrap_err();
            assert!(
                matches!(e, FpgaError::UnsafeOutput { .. }),
                "{}: {e}",
                dir.display()
            );
        }
    }
}
