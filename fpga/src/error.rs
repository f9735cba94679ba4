//! [`FpgaError`]: everything a flow can fail with, each saying what to do about it.

use std::path::PathBuf;

use crate::part::DoesNotFit;

/// Why a flow or the toolchain could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum FpgaError {
    /// A tool is neither on `PATH` nor installable.
    #[error("{what} is not available: {hint}")]
    ToolMissing {
        /// What is missing.
        what: String,
        /// What to install, and how.
        hint: String,
    },
    /// Installing the YoWASP tools failed.
    #[error("installing the YoWASP tools into {venv} failed: {message}\nlast lines of {log}:\n{log_tail}\n{hint}")]
    InstallFailed {
        /// The virtual environment being created.
        venv: PathBuf,
        /// What went wrong.
        message: String,
        /// The install log.
        log: PathBuf,
        /// Its last lines.
        log_tail: String,
        /// What to do instead.
        hint: String,
    },
    /// A tool ran and failed.
    #[error("{stage}: `{tool}` failed ({status}); last lines of {log}:\n{log_tail}")]
    ToolFailed {
        /// The flow stage (synthesis, place and route, ...).
        stage: String,
        /// The tool's name.
        tool: String,
        /// How it exited.
        status: String,
        /// Its full log.
        log: PathBuf,
        /// The last lines of that log.
        log_tail: String,
    },
    /// The design needs more of some resource than the part has.
    #[error("{0}")]
    DoesNotFit(#[from] DoesNotFit),
    /// A tool's output could not be understood.
    #[error("could not read {what} ({path}): {message}")]
    BadReport {
        /// Which output.
        what: String,
        /// Where it is.
        path: PathBuf,
        /// Why it could not be read.
        message: String,
    },
    /// A setting the board or part cannot have.
    #[error("{what} is not possible: {why}")]
    Unsupported {
        /// What was asked for.
        what: String,
        /// Why not.
        why: String,
    },
    /// An output directory that hardwire refuses to write, because doing so could destroy
    /// files it did not write.
    #[error("refusing to write the output to {dir}: {why}")]
    UnsafeOutput {
        /// The directory asked for.
        dir: PathBuf,
        /// Why it was refused, and what to do instead.
        why: String,
    },
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl FpgaError {
    /// A closure turning an I/O error into [`FpgaError::Io`] with this context.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> FpgaError {
        let context = context.into();
        move |source| FpgaError::Io { context, source }
    }
}

/// The last `n` lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
