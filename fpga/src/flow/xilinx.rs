//! The Xilinx 7-series flow: a Vivado non-project Tcl script with the board's XDC when
//! `vivado` is on `PATH`; otherwise yosys `synth_xilinx -flatten -family xc7` gives a
//! utilisation estimate, and the report says it is one.

use std::path::Path;
use std::time::Instant;

use hardwire_hdl::verilog::Verilog;

use super::{count, read_yosys_stat, write_rtl};
use crate::board::Board;
use crate::error::FpgaError;
use crate::output_dir::{OutputDir, Overwrite};
use crate::part::{Family, Resources};
use crate::progress::Progress;
use crate::report::{BuildReport, StageTime, Utilisation};
use crate::toolchain::{find_yosys, Provisioning};

/// Settings of one 7-series build.
#[derive(Debug, Clone)]
pub struct XilinxFlow<'a> {
    /// The board.
    pub board: &'a Board,
    /// The clock to build for, in MHz (the board clock by default).
    pub target_mhz: f64,
    /// Where progress messages go.
    pub progress: Progress,
}

/// The Vivado non-project script: synthesise, place, route, report, write the bitstream.
/// Timing comes from the XDC's `create_clock`; the reports are parsed by
/// [`read_vivado_reports`].
pub fn vivado_tcl(board: &Board, top: &str, sources: &[String]) -> String {
    let mut s = String::from("# hardwire: Vivado non-project build\n");
    for src in sources {
        s += &format!("read_verilog {src}\n");
    }
    s += &format!("read_xdc {}\n", board.constraints_file);
    s += &format!(
        "synth_design -top {top} -part {}\n\
         opt_design\nplace_design\nphys_opt_design\nroute_design\n\
         report_utilization -file utilization.rpt\n\
         report_timing_summary -file timing.rpt\n\
         write_bitstream -force {top}.bit\n",
        board.part.name
    );
    s
}

impl<'a> XilinxFlow<'a> {
    /// A build for `board` at its own clock.
    pub fn new(board: &'a Board) -> XilinxFlow<'a> {
        XilinxFlow {
            board,
            target_mhz: board.clock_mhz(),
            progress: Progress::Stderr,
        }
    }

    /// Runs Vivado when it is on the search path, else the yosys estimate, into `dir`.
    pub fn run(
        &self,
        verilog: &Verilog,
        dir: &Path,
        p: &Provisioning,
    ) -> Result<BuildReport, FpgaError> {
        if self.board.part.family != Family::Xilinx7 {
            return Err(FpgaError::ToolMissing {
                what: format!("a Xilinx flow for {}", self.board.name),
                hint: "this board is not a 7-series board; use flow::ecp5 for it".into(),
            });
        }
        let out = OutputDir::create(dir, Overwrite::OwnOutput)?;
        let work = out.path().to_path_buf();
        let sources = write_rtl(verilog, &work)?;
        let xdc = self.board.constraints_file;
        std::fs::write(work.join(xdc), self.board.constraints)
            .map_err(FpgaError::io(format!("writing {xdc}")))?;
        std::fs::write(
            work.join("build.tcl"),
            vivado_tcl(self.board, &verilog.top, &sources),
        )
        .map_err(FpgaError::io("writing build.tcl"))?;
        let start = Instant::now();
        let report = match p.which("vivado") {
            Some(vivado) => self.vivado(verilog, &vivado, &work, out.target())?,
            None => {
                self.progress.say(
                    "  vivado is not on PATH: estimating with yosys synth_xilinx instead \
                     (build.tcl is written for when Vivado is there)",
                );
                self.estimate(verilog, &sources, &work, out.target(), p)?
            }
        };
        let json = serde_json::to_string_pretty(&report).expect("a report always serialises");
        std::fs::write(work.join("report.json"), json)
            .map_err(FpgaError::io("writing report.json"))?;
        std::fs::write(work.join("summary.txt"), report.summary())
            .map_err(FpgaError::io("writing summary.txt"))?;
        out.commit()?;
        self.progress
            .say(&format!("  done in {:.1} s", start.elapsed().as_secs_f64()));
        Ok(report)
    }

    fn vivado(
        &self,
        verilog: &Verilog,
        vivado: &Path,
        work: &Path,
        dir: &Path,
    ) -> Result<BuildReport, FpgaError> {
        let mut cmd = std::process::Command::new(vivado);
        cmd.args(["-mode", "batch", "-nojournal", "-source", "build.tcl"]);
        let t = self.progress.run_stage(
            "[1/1] Vivado synthesis, place, route, bitstream",
            "vivado",
            cmd,
            work,
            "vivado.log",
        )?;
        let (used, wns) = read_vivado_reports(work)?;
        let period = 1000.0 / self.target_mhz;
        let fmax = 1000.0 / (period - wns);
        Ok(BuildReport {
            board: self.board.id.into(),
            part: self.board.part.name.into(),
            top: verilog.top.clone(),
            flow: "vivado".into(),
            estimate: false,
            tools: [("vivado".to_string(), String::new())].into(),
            tool_source: vivado.display().to_string(),
            target_mhz: self.target_mhz,
            fmax_mhz: Some(fmax),
            timing_met: Some(wns >= 0.0),
            utilisation: Utilisation::new(&used, &self.board.part.resources),
            cells: Default::default(),
            seed: 0,
            bitstream: Some(format!("{}.bit", verilog.top)),
            stages: vec![StageTime {
                stage: "vivado".into(),
                seconds: t.as_secs_f64(),
            }],
            dir: dir.to_path_buf(),
        })
    }

    fn estimate(
        &self,
        verilog: &Verilog,
        sources: &[String],
        work: &Path,
        dir: &Path,
        p: &Provisioning,
    ) -> Result<BuildReport, FpgaError> {
        let yosys = find_yosys(p)?;
        let script = format!(
            "read_verilog {}\nsynth_xilinx -flatten -family xc7 -top {}\ntee -q -o stat.json stat -json\n",
            sources.join(" "),
            verilog.top
        );
        std::fs::write(work.join("synth.ys"), script).map_err(FpgaError::io("writing synth.ys"))?;
        let mut cmd = yosys.command();
        cmd.args(["-s", "synth.ys"]);
        let t = self.progress.run_stage(
            "[1/1] synthesis estimate",
            "yosys synth_xilinx",
            cmd,
            work,
            "yosys.log",
        )?;
        let cells = read_yosys_stat(&work.join("stat.json"))?;
        let used = xilinx_resources(&cells);
        Ok(BuildReport {
            board: self.board.id.into(),
            part: self.board.part.name.into(),
            top: verilog.top.clone(),
            flow: "yosys-xilinx-estimate".into(),
            estimate: true,
            tools: [("yosys".to_string(), yosys.version())].into(),
            tool_source: yosys.program.display().to_string(),
            target_mhz: self.target_mhz,
            fmax_mhz: None,
            timing_met: None,
            utilisation: Utilisation::new(&used, &self.board.part.resources),
            cells,
            seed: 0,
            bitstream: None,
            stages: vec![StageTime {
                stage: "synthesis estimate".into(),
                seconds: t.as_secs_f64(),
            }],
            dir: dir.to_path_buf(),
        })
    }
}

/// Resources from yosys's 7-series cell counts: LUTs as Vivado counts slice LUTs (every
/// `LUT1`–`LUT6` one LUT6 site, a shift-register LUT one, a distributed RAM the LUTs it is
/// built of), every `FD*` a flip-flop, a `RAMB18E1` half a `RAMB36E1` (rounded up).
pub fn xilinx_resources(cells: &std::collections::BTreeMap<String, u64>) -> Resources {
    let lut_memory = |c: &str| match c {
        "SRL16E" | "SRLC32E" | "RAM32X1S" | "RAM64X1S" => 1,
        "RAM32X1D" | "RAM64X1D" | "RAM128X1S" => 2,
        "RAM32M" | "RAM64M" | "RAM128X1D" | "RAM256X1S" => 4,
        _ => 0,
    };
    let memory_luts: u64 = cells.iter().map(|(c, n)| lut_memory(c) * n).sum();
    Resources {
        luts: count(cells, |c| c.starts_with("LUT")) + memory_luts,
        ffs: count(cells, |c| c.starts_with("FD")),
        dsps: count(cells, |c| c.starts_with("DSP48")),
        bram_blocks: count(cells, |c| c.starts_with("RAMB36"))
            + count(cells, |c| c.starts_with("RAMB18")).div_ceil(2),
    }
}

/// Utilisation and worst negative slack (ns) from Vivado's `utilization.rpt` and
/// `timing.rpt`.
pub fn read_vivado_reports(work: &Path) -> Result<(Resources, f64), FpgaError> {
    let read = |name: &str| {
        std::fs::read_to_string(work.join(name))
            .map_err(FpgaError::io(format!("reading Vivado's {name}")))
    };
    let util = read("utilization.rpt")?;
    let timing = read("timing.rpt")?;
    // Table rows look like `| Slice LUTs | 1234 | 0 | 0 | 63400 | 1.95 |`.
    let used = |label: &str| -> u64 {
        util.lines()
            .find(|l| l.trim_start_matches('|').trim_start().starts_with(label))
            .and_then(|l| l.split('|').nth(2))
            .and_then(|n| n.trim().parse::<f64>().ok())
            .map_or(0, |n| n.ceil() as u64)
    };
    let resources = Resources {
        luts: used("Slice LUTs"),
        ffs: used("Slice Registers"),
        dsps: used("DSPs"),
        bram_blocks: used("Block RAM Tile"),
    };
    // The design timing summary: a header line with `WNS(ns)`, a dashes line, the values.
    let lines: Vec<&str> = timing.lines().collect();
    let wns = lines
        .iter()
        .position(|l| l.trim_start().starts_with("WNS(ns)"))
        .and_then(|i| lines.get(i + 2))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|w| w.parse::<f64>().ok())
        .ok_or_else(|| FpgaError::BadReport {
            what: "Vivado's timing summary".into(),
            path: work.join("timing.rpt"),
            message: "no WNS(ns) figure".into(),
        })?;
    Ok((resources, wns))
}
