//! The machine's available memory, checked before a large allocation so that a model too big for
//! the machine is a [`ModelError::OutOfMemory`] naming what was asked for, not an abort with
//! "memory allocation of … bytes failed".

use crate::error::{ModelError, Result};

/// Allocations below this are not checked against the machine: reading `/proc/meminfo` costs
/// more than they do, and every caller that can ask for more checks its own total first.
pub const UNCHECKED_BYTES: u64 = 64 << 20;

/// `MemAvailable` from `/proc/meminfo`, in bytes; `None` where that file cannot be read or
/// parsed (not Linux, a sandbox), in which case nothing is checked against the machine.
pub fn available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_available(&text)
}

/// This process's peak resident memory so far (Linux `VmHWM`), in bytes; `None` where
/// `/proc/self/status` cannot be read. Commands state it in their reports.
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The `MemAvailable:` line of a `/proc/meminfo` text, in bytes.
///
/// ```
/// use hardwire_model::memory::parse_mem_available;
/// assert_eq!(parse_mem_available("MemTotal: 8 kB\nMemAvailable:   2048 kB\n"), Some(2 << 20));
/// assert_eq!(parse_mem_available("MemTotal: 8 kB\n"), None);
/// ```
pub fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let mut parts = line.split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => value.checked_mul(1024),
        None => Some(value),
        Some(_) => None,
    }
}

/// Whether `needed` bytes fit in `available` (`None`: unknown, so they are taken to fit).
///
/// ```
/// use hardwire_model::memory::check_fits_in;
/// assert!(check_fits_in("a KV cache", 10, Some(100)).is_ok());
/// let e = check_fits_in("a KV cache", 1000, Some(100)).unwrap_err();
/// assert!(e.to_string().contains("a KV cache needs 1000 bytes"));
/// assert!(check_fits_in("a KV cache", u64::MAX, None).is_ok());
/// ```
pub fn check_fits_in(what: &str, needed: u64, available: Option<u64>) -> Result<()> {
    match available {
        Some(available) if needed > available => Err(ModelError::OutOfMemory {
            what: what.into(),
            needed,
            available,
        }),
        _ => Ok(()),
    }
}

/// Checks that `needed` bytes for `what` (which should name the file and field, or the flag,
/// that sized it) fit in the machine's available memory; requests under [`UNCHECKED_BYTES`]
/// pass without reading `/proc/meminfo`.
pub fn check_fits(what: &str, needed: u64) -> Result<()> {
    if needed < UNCHECKED_BYTES {
        return Ok(());
    }
    check_fits_in(what, needed, available_bytes())
}
