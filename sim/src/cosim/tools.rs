//! Finding outside tools, running them with their output kept, and the build cache.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::CosimError;

/// Whether `tool` can be run from `PATH`.
pub fn tool_available(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// For tests that need `tool`: true when it is there. When it is missing, panics if `CI` is
/// `true` (CI must never skip quietly) and otherwise prints why the test is skipped and
/// returns false.
pub fn require_tool(tool: &str) -> bool {
    if tool_available(tool) {
        return true;
    }
    let install = format!(
        "`{tool}` is not installed (on Debian: apt-get install {})",
        debian_package(tool)
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{install}; CI needs it, so this test fails instead of skipping");
    }
    eprintln!("skipping: {install}");
    false
}

fn debian_package(tool: &str) -> &str {
    match tool {
        "iverilog" | "vvp" => "iverilog",
        other => other,
    }
}

pub(crate) fn missing(tool: &str) -> CosimError {
    CosimError::ToolMissing {
        tool: tool.to_string(),
        hint: format!(
            "install it (on Debian: apt-get install {})",
            debian_package(tool)
        ),
    }
}

/// Runs `cmd` in `dir`, keeping its combined output in `dir/<log>`; a failure carries the
/// last lines of that log.
pub(crate) fn run_logged(mut cmd: Command, dir: &Path, log: &str) -> Result<String, CosimError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let output = cmd.current_dir(dir).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            missing(&program)
        } else {
            CosimError::Io {
                context: format!("starting `{program}`"),
                source: e,
            }
        }
    })?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    std::fs::write(dir.join(log), &text).map_err(CosimError::io(format!("writing {log}")))?;
    if !output.status.success() {
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        return Err(CosimError::ToolFailed {
            tool: program,
            status: output.status.to_string(),
            log_tail: tail,
        });
    }
    Ok(text)
}

/// Where builds are cached: `$HARDWIRE_CACHE_DIR`, else `~/.cache/hardwire`: the rule
/// `scripts/fetch-smollm2.sh` and `hardwire_model::fixtures` follow too.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("HARDWIRE_CACHE_DIR") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("hardwire")
}

/// A stable 64-bit FNV-1a hash of some byte strings, for cache keys that must not change
/// between builds of this crate.
pub(crate) fn stable_hash<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(&[0xff]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The first line a tool prints for `--version`, part of cache keys.
pub(crate) fn version(tool: &str) -> Result<String, CosimError> {
    let out = Command::new(tool).arg("--version").output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            missing(tool)
        } else {
            CosimError::Io {
                context: format!("starting `{tool}`"),
                source: e,
            }
        }
    })?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// Runs `verilator --lint-only -Wall` (plus `extra` flags) in `dir`, where `verilog` has been
/// written, with `top` as the top module. Gives Verilator's output: `Ok` when it accepts the
/// design (warnings may still be in the text), `Err` when it rejects it or cannot run.
pub fn verilator_lint(
    dir: &Path,
    verilog: &hardwire_hdl::verilog::Verilog,
    top: &str,
    extra: &[&str],
) -> Result<String, String> {
    let out = Command::new("verilator")
        .args(["--lint-only", "-Wall"])
        .args(extra)
        .args(["--top-module", top])
        .args(verilog.simulation_sources())
        .current_dir(dir)
        .output()
        .map_err(|e| format!("verilator did not run: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}
