//! File bytes, memory-mapped or owned, with bounds-checked little-endian reads; and the rule
//! that only regular files are read (a FIFO would block the open forever, a device would be
//! read without end).

use crate::error::{ModelError, Result};
use std::path::{Path, PathBuf};

/// Drops the pages of bytes `start..start + len` of a read-only file map from the process's
/// resident set (the page cache may keep them; the next read maps them in again). A range
/// outside the map, or a system without `madvise`, is left alone.
pub(crate) fn release_pages(map: &memmap2::Mmap, start: usize, len: usize) {
    #[cfg(unix)]
    if start.checked_add(len).is_some_and(|end| end <= map.len()) {
        // SAFETY: nothing was ever written through a read-only map, so dropping its pages
        // loses nothing: the next access reads them from the file again. The callers hold no
        // reference into the range across this call.
        let _ =
            unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, len) };
    }
    #[cfg(not(unix))]
    let _ = (map, start, len);
}

/// The bytes of a weight file: memory-mapped when read from disk, owned when built in memory.
pub enum FileBytes {
    /// A read-only map of the file.
    Mapped(memmap2::Mmap),
    /// Bytes held in memory (tests, generated files).
    Owned(Vec<u8>),
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(m) => m,
            FileBytes::Owned(v) => v,
        }
    }
}

impl FileBytes {
    /// Tells the system this process is done with bytes `start..start + len` of a mapped
    /// file: their pages leave the process's resident set (the page cache may keep them), so
    /// reading a model tensor by tensor keeps one tensor resident, not the whole file. A later
    /// read maps them in again; owned bytes are left alone.
    pub fn release(&self, start: usize, len: usize) {
        if let FileBytes::Mapped(m) = self {
            release_pages(m, start, len);
        }
    }

    /// Maps `path` read-only; anything but a regular file is refused before it is opened.
    pub fn map(path: &Path) -> Result<Self> {
        let io = |source| ModelError::Io {
            file: path.into(),
            source,
        };
        regular_file_len(path)?;
        let file = std::fs::File::open(path).map_err(io)?;
        // The path may have been swapped between the check and the open: check what was opened.
        check_file_type(path, &file.metadata().map_err(io)?)?;
        // SAFETY: the map is read-only; a weight file changed underneath us while loaded is
        // outside what we promise, as with every mmap-based loader.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Ok(FileBytes::Mapped(map))
    }
}

/// The length of the regular file at `path` (symbolic links followed), found without opening
/// it: opening a FIFO for reading blocks until a writer appears, so the type is checked first.
///
/// ```
/// let dir = std::env::temp_dir();
/// let e = hardwire_model::bytes::regular_file_len(&dir).unwrap_err();
/// assert!(e.to_string().contains("is not a regular file (a directory)"));
/// ```
pub fn regular_file_len(path: &Path) -> Result<u64> {
    let meta = std::fs::metadata(path).map_err(|source| ModelError::Io {
        file: path.into(),
        source,
    })?;
    check_file_type(path, &meta)?;
    Ok(meta.len())
}

fn check_file_type(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    Err(ModelError::NotRegularFile {
        file: path.into(),
        kind: file_kind(&meta.file_type()),
    })
}

/// What a file type is, in words, for [`ModelError::NotRegularFile`].
pub fn file_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a file"
    }
}

/// Reads the regular text file at `path` when it holds at most `max_bytes` (JSON configs and
/// indexes, whose real sizes are kilobytes to megabytes): a FIFO, device or oversized file is an
/// error naming the file before anything is read or allocated.
pub fn read_text_limited(path: &Path, max_bytes: u64) -> Result<String> {
    let len = regular_file_len(path)?;
    if len > max_bytes {
        return Err(ModelError::malformed(
            path,
            format!("{len} bytes, more than the {max_bytes}-byte limit for this kind of file"),
        ));
    }
    let io = |source| ModelError::Io {
        file: path.into(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    check_file_type(path, &file.metadata().map_err(io)?)?;
    let mut text = String::new();
    // `take` bounds the read even if the file grows after the check.
    std::io::Read::read_to_string(&mut std::io::Read::take(file, max_bytes), &mut text)
        .map_err(io)?;
    Ok(text)
}

/// A cursor over a byte slice whose every read is checked against the end.
pub(crate) struct Cursor<'a> {
    pub bytes: &'a [u8],
    pub pos: usize,
    pub file: &'a PathBuf,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8], file: &'a PathBuf) -> Self {
        Cursor {
            bytes,
            pos: 0,
            file,
        }
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() as u64 {
            return Err(ModelError::malformed(
                self.file,
                format!(
                    "truncated: {what} needs {n} bytes at offset {} but only {} remain",
                    self.pos,
                    self.remaining()
                ),
            ));
        }
        let s = &self.bytes[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    pub fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// This process's resident file-backed memory (`RssFile`), in bytes.
    fn rss_file() -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        let kb: u64 = s
            .lines()
            .find(|l| l.starts_with("RssFile:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap();
        kb * 1024
    }

    #[test]
    fn a_released_range_leaves_the_resident_set_and_reads_back_the_same() {
        let path = std::env::temp_dir().join(format!("hardwire-release-{}", std::process::id()));
        let data: Vec<u8> = (0..64u32 << 20).map(|i| (i * 7 + i / 4096) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let map = FileBytes::map(&path).unwrap();
        let sum = |b: &[u8]| b.iter().map(|&x| x as u64).sum::<u64>();
        let want = sum(&data);
        assert_eq!(sum(&map), want);
        let touched = rss_file();
        map.release(0, map.len());
        let released = rss_file();
        assert!(
            touched.saturating_sub(released) >= 48 << 20,
            "resident file pages {touched} -> {released}"
        );
        assert_eq!(sum(&map), want, "the bytes read back the same");
        drop(map);
        std::fs::remove_file(&path).unwrap();
    }
}
