//! Building a design under Verilator (cached by content) and running it.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use hardwire_hdl::ir::Design;
use hardwire_hdl::verilog::Verilog;

use super::tools::{cache_dir, run_logged, stable_hash, tool_available, version};
use super::{harness, Backend, CosimError, Stimulus};
use crate::clocks::Schedule;

/// A Verilator model of a design, built or found in the cache.
#[derive(Debug, Clone)]
pub struct VerilatorBuild {
    /// The directory holding the executable, the Verilog and the build log.
    pub dir: PathBuf,
    /// Time the build took (zero when cached).
    pub build_time: Duration,
    /// Whether it came from the cache.
    pub cached: bool,
    /// The design's clocks, for the stimulus's edges.
    clocks: Schedule,
}

/// The result of a free-running Verilator benchmark.
#[derive(Debug, Clone)]
pub struct VerilatorBench {
    /// Cycles run.
    pub cycles: u64,
    /// Wall time of the simulation loop only, as measured inside the harness.
    pub seconds: f64,
    /// The outputs after the last cycle, as hex text.
    pub outputs: Vec<String>,
}

const EXE: &str = "hardwire_sim";

impl VerilatorBuild {
    /// Exports `design` to Verilog and builds it with Verilator and the C++ harness, unless
    /// the same build is already cached.
    pub fn new(design: &Design) -> Result<Self, CosimError> {
        Self::with_threads(design, 1)
    }

    /// As [`VerilatorBuild::new`], but the model is built with Verilator's `--threads
    /// threads`, so it evaluates on that many threads; 1 is the single-threaded build `new`
    /// makes. The thread count is part of the cache key.
    pub fn with_threads(design: &Design, threads: usize) -> Result<Self, CosimError> {
        if !tool_available("verilator") {
            return Err(super::tools::missing("verilator"));
        }
        let verilog = Verilog::from_design(design);
        let main = harness::verilator_main(design);
        let tool_version = version("verilator")?;
        let flags = verilator_flags(&verilog.top, threads);
        let mut parts: Vec<&[u8]> = vec![tool_version.as_bytes(), main.as_bytes()];
        parts.extend(flags.iter().map(|f| f.as_bytes()));
        let hex: Vec<(&str, String)> = verilog
            .memories
            .iter()
            .map(|m| (m.name.as_str(), m.hex()))
            .collect();
        let text = verilog.files.iter().chain(&verilog.models);
        for (name, text) in text
            .map(|(n, t)| (n.as_str(), t))
            .chain(hex.iter().map(|(n, t)| (*n, t)))
        {
            parts.push(name.as_bytes());
            parts.push(text.as_bytes());
        }
        let key = format!("{}-{:016x}", verilog.top, stable_hash(parts));
        let root = cache_dir().join("verilator");
        let dir = root.join(&key);
        if dir.join(EXE).is_file() {
            return Ok(VerilatorBuild {
                dir,
                build_time: Duration::ZERO,
                cached: true,
                clocks: Schedule::for_design(design),
            });
        }
        // Build beside the final place and rename, so an interrupted build is never taken
        // for a finished one.
        let staging = root.join(format!("{key}.tmp{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        verilog.write_to(&staging).map_err(CosimError::io(format!(
            "writing Verilog to {}",
            staging.display()
        )))?;
        std::fs::write(staging.join("harness.cpp"), &main)
            .map_err(CosimError::io("writing the C++ harness"))?;
        let start = Instant::now();
        let mut cmd = Command::new("verilator");
        cmd.args(&flags)
            .arg("harness.cpp")
            .args(verilog.simulation_sources());
        run_logged(cmd, &staging, "verilator.log")?;
        std::fs::copy(staging.join("obj").join(EXE), staging.join(EXE))
            .map_err(CosimError::io("copying the Verilator executable"))?;
        let _ = std::fs::remove_dir_all(staging.join("obj"));
        let build_time = start.elapsed();
        match std::fs::rename(&staging, &dir) {
            Ok(()) => {}
            // Another process finished the same build first: use theirs.
            Err(_) if dir.join(EXE).is_file() => {
                let _ = std::fs::remove_dir_all(&staging);
            }
            Err(e) => {
                return Err(CosimError::io(format!(
                    "moving the build to {}",
                    dir.display()
                ))(e))
            }
        }
        Ok(VerilatorBuild {
            dir,
            build_time,
            cached: false,
            clocks: Schedule::for_design(design),
        })
    }

    /// Runs the model on `stimulus`; returns each cycle's outputs as hex text.
    pub fn run(&self, stimulus: &Stimulus) -> Result<Vec<Vec<String>>, CosimError> {
        let work = tempdir("verilator-run")?;
        std::fs::write(
            work.join("stimulus.txt"),
            stimulus.text(self.clocks.clone())?,
        )
        .map_err(CosimError::io("writing the stimulus"))?;
        // Memory files are read relative to the working directory.
        for entry in std::fs::read_dir(&self.dir).map_err(CosimError::io("listing the build"))? {
            let path = entry.map_err(CosimError::io("listing the build"))?.path();
            if path.extension().is_some_and(|e| e == "hex") {
                let _ = std::fs::copy(&path, work.join(path.file_name().expect("a file")));
            }
        }
        let mut cmd = Command::new(self.dir.join(EXE));
        cmd.args(["stimulus.txt", "verilator_out.txt"]);
        run_logged(cmd, &work, "run.log")?;
        let text = std::fs::read_to_string(work.join("verilator_out.txt"))
            .map_err(CosimError::io("reading Verilator's output"))?;
        let _ = std::fs::remove_dir_all(&work);
        Ok(text
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect())
    }

    /// Runs `cycles` cycles free (one reset cycle, then inputs at zero) and reports the
    /// simulation loop's own time.
    pub fn bench(&self, cycles: u64) -> Result<VerilatorBench, CosimError> {
        let mut cmd = Command::new(self.dir.join(EXE));
        cmd.arg("--bench").arg(cycles.to_string());
        let text = run_logged(cmd, &self.dir, "bench.log")?;
        let mut lines = text.lines();
        let outputs = lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let seconds = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| CosimError::BadOutput {
                backend: Backend::Verilator,
                reason: format!("no timing in {text:?}"),
            })?;
        Ok(VerilatorBench {
            cycles,
            seconds,
            outputs,
        })
    }
}

fn verilator_flags(top: &str, threads: usize) -> Vec<String> {
    let mut flags: Vec<String> = [
        "--cc",
        "--exe",
        "--build",
        "-j",
        "2",
        "-O3",
        "--x-assign",
        "fast",
        "--x-initial",
        "fast",
        "--Mdir",
        "obj",
        "-o",
        EXE,
        "--top-module",
        top,
        "-CFLAGS",
        "-O2",
        "-MAKEFLAGS",
        "OPT_FAST=-O2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Only a threaded build names its thread count, so single-threaded builds keep the cache
    // keys they had before the option existed.
    if threads > 1 {
        flags.extend(["--threads".to_string(), threads.to_string()]);
    }
    flags
}

/// A fresh private directory under the cache (YoWASP-style sandboxes and some tools dislike
/// `/tmp`, and the cache is on the same disk as the builds).
pub(crate) fn tempdir(what: &str) -> Result<PathBuf, CosimError> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = cache_dir()
        .join("work")
        .join(format!("{what}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(CosimError::io(format!("creating {}", dir.display())))?;
    Ok(dir)
}
