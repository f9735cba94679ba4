//! `hardwire build`: a model's core behind the serial token protocol, on a board, down to a
//! bitstream (or stopped by the estimate, with the numbers, when it cannot fit), through the
//! same flow as `examples/fpga_build.rs` ([`hardwire::board_flow`]).

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use hardwire::board_flow::BoardFlow;
use hardwire::sweep::{self, SweepArgs};
use hardwire_fpga::output_dir::{OutputDir, Overwrite};

use super::hardware::{self, HardwareArgs};
use super::ModelArgs;

/// Arguments of `hardwire build`.
#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct BuildArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    hardware: HardwareArgs,
    #[command(flatten)]
    flow: BoardFlow,
    #[command(flatten)]
    sweep: SweepArgs,
    /// Output directory for the board build and its report; it appears only when complete,
    /// and replaces an earlier output of hardwire's as a whole.
    #[arg(long, default_value = "target/hardwire-build")]
    out: PathBuf,
    /// Replace --out even if it holds files that hardwire did not write.
    #[arg(long)]
    force: bool,
}

/// Runs the command.
pub fn run(a: &BuildArgs) -> anyhow::Result<()> {
    let out = OutputDir::create(&a.out, Overwrite::from_force(a.force))?;
    let built = hardware::build(&a.model, &a.hardware)?;
    let settings = serde_json::json!({
        "model": a.model.model,
        "layers": built.model.layers.len(),
        "reuse": a.hardware.reuse,
        "lm_head_reuse": a.hardware.lm_head_reuse,
        "attention_lanes": a.hardware.attention_lanes,
        "max_seq": built.core.max_seq(),
        "token_bits": built.core.token_bits(),
    });
    if a.sweep.sweep {
        let layers = built.model.layers.len();
        let lm_head = |reuse| a.hardware.lm_head_reuse_for(reuse, layers);
        let lanes = a.hardware.attention_lanes;
        let report = sweep::run(
            &a.sweep,
            &a.flow,
            &built.model,
            lm_head,
            lanes,
            settings,
            &out,
        )?;
        print!("{}", report.table());
        let dir = out.commit()?;
        eprintln!(
            "table in {}, plots sweep-luts.svg and sweep-dsps.svg beside it",
            dir.join("sweep.json").display()
        );
        return Ok(());
    }
    let report = a.flow.run(&built.core, &built.model, settings, &out)?;
    print!("{}", report.summary());
    let dir = out.commit()?;
    eprintln!(
        "report in {} ({:.1} s)",
        dir.join("report.json").display(),
        report.seconds
    );
    if report.timing_missed() {
        bail!("timing is not met");
    }
    Ok(())
}
