//! Errors of the model crate: every load error names the file and, where one is involved, the
//! tensor.

use std::path::PathBuf;

/// An error while reading a configuration, weights or a tokenizer.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be opened or read.
    #[error("{file}: {source}")]
    Io {
        /// The file involved.
        file: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file's bytes do not follow its format (truncated, bad header, offsets out of range...).
    #[error("{file}: malformed{}: {reason}", tensor_suffix(.tensor))]
    Malformed {
        /// The file involved.
        file: PathBuf,
        /// The tensor involved, when the fault is in one tensor.
        tensor: Option<String>,
        /// What is wrong, in words.
        reason: String,
    },
    /// A tensor's shape is not the one the configuration asks for.
    #[error(
        "{file}: tensor `{tensor}` has shape {found:?}, the configuration expects {expected:?}"
    )]
    ShapeMismatch {
        /// The file involved.
        file: PathBuf,
        /// The tensor's name in the file.
        tensor: String,
        /// The shape the configuration implies (rows, columns).
        expected: Vec<usize>,
        /// The shape found in the file.
        found: Vec<usize>,
    },
    /// A tensor the configuration needs is not in the file.
    #[error("{file}: tensor `{tensor}` is missing")]
    MissingTensor {
        /// The file (or index) searched.
        file: PathBuf,
        /// The missing tensor's name.
        tensor: String,
    },
    /// A weight is NaN or infinite.
    #[error("{file}: tensor `{tensor}` holds a non-finite value ({value}) at element {index}")]
    NonFinite {
        /// The file involved.
        file: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// Flat index of the first offending element.
        index: usize,
        /// The offending value.
        value: f32,
    },
    /// The configuration does not add up.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The path names something other than a regular file (a FIFO, a device, a socket, a
    /// directory): only regular files are read, so a FIFO cannot block the load forever.
    #[error("{file} is not a regular file ({kind})")]
    NotRegularFile {
        /// The path involved.
        file: PathBuf,
        /// What it is instead, in words ("a FIFO", "a directory"...).
        kind: &'static str,
    },
    /// An allocation the load or run needs is larger than the machine's available memory.
    #[error(
        "{what} needs {needed} bytes ({:.1} GiB) but only {available} bytes ({:.1} GiB) are available (MemAvailable in /proc/meminfo)",
        gib(*.needed),
        gib(*.available)
    )]
    OutOfMemory {
        /// What would be allocated, naming its source (file, field or flag).
        what: String,
        /// Bytes it needs.
        needed: u64,
        /// Bytes the machine has available.
        available: u64,
    },
    /// The tokenizer could not be built or could not encode the text.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

fn tensor_suffix(tensor: &Option<String>) -> String {
    match tensor {
        Some(t) => format!(" (tensor `{t}`)"),
        None => String::new(),
    }
}

impl ModelError {
    /// A [`ModelError::Malformed`] about the file as a whole.
    pub fn malformed(file: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        ModelError::Malformed {
            file: file.into(),
            tensor: None,
            reason: reason.into(),
        }
    }

    /// A [`ModelError::Malformed`] about one tensor.
    pub fn malformed_tensor(
        file: impl Into<PathBuf>,
        tensor: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ModelError::Malformed {
            file: file.into(),
            tensor: Some(tensor.into()),
            reason: reason.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
