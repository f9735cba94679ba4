//! Running a design under Icarus Verilog: slow, but a second opinion for small designs.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use hardwire_hdl::ir::Design;
use hardwire_hdl::verilog::Verilog;

use super::tools::{run_logged, tool_available};
use super::verilator::tempdir;
use super::{harness, CosimError, Stimulus};

/// Output rows, and (build time, cached, directory) as for Verilator.
type IcarusRun = (Vec<Vec<String>>, (Duration, bool, PathBuf));

pub(crate) fn run(design: &Design, stimulus: &Stimulus) -> Result<IcarusRun, CosimError> {
    for tool in ["iverilog", "vvp"] {
        if !tool_available(tool) {
            return Err(super::tools::missing(tool));
        }
    }
    let dir = tempdir("icarus")?;
    let verilog = Verilog::from_design(design);
    verilog
        .write_to(&dir)
        .map_err(CosimError::io("writing Verilog"))?;
    std::fs::write(dir.join("hardwire_tb.v"), harness::icarus_testbench(design))
        .map_err(CosimError::io("writing the testbench"))?;
    std::fs::write(dir.join("stimulus.txt"), stimulus.to_text(design)?)
        .map_err(CosimError::io("writing the stimulus"))?;
    let start = Instant::now();
    let mut cmd = Command::new("iverilog");
    cmd.args([
        "-g2005",
        "-o",
        "sim.vvp",
        "-s",
        "hardwire_tb",
        "hardwire_tb.v",
    ])
    .args(verilog.simulation_sources());
    run_logged(cmd, &dir, "iverilog.log")?;
    let build_time = start.elapsed();
    let mut cmd = Command::new("vvp");
    cmd.args(["-n", "sim.vvp"]);
    run_logged(cmd, &dir, "vvp.log")?;
    let text = std::fs::read_to_string(dir.join("icarus_out.txt"))
        .map_err(CosimError::io("reading Icarus's output"))?;
    let rows = text
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    Ok((rows, (build_time, false, dir)))
}
