//! `hardwire build`: a model's core behind the serial token protocol, on a board, down to a
//! bitstream (or stopped by the estimate, with the numbers, when it cannot fit).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use hardwire_fpga::estimate::estimate;
use hardwire_fpga::flow::ecp5::Ecp5Flow;
use hardwire_fpga::flow::xilinx::XilinxFlow;
use hardwire_fpga::output_dir::{OutputDir, Overwrite};
use hardwire_fpga::token_link::{TokenLink, TokenLinkPins};
use hardwire_fpga::toolchain::{Ecp5Toolchain, Provisioning};
use hardwire_fpga::top::{board_top_of_design, ClockPlan};
use hardwire_fpga::{Board, Family};
use hardwire_hdl::ir::Design;
use serde::Serialize;

use super::hardware::{self, HardwareArgs};
use super::{flags, ModelArgs};
use hardwire::fit::shrink_advice;
use hardwire::report::DesignReport;

/// Arguments of `hardwire build`.
#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct BuildArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    hardware: HardwareArgs,
    /// Board: ulx3s (ECP5) or arty_a7_100t (Xilinx 7-series; a yosys estimate without Vivado).
    #[arg(long, default_value = "ulx3s")]
    board: String,
    /// Run the design from an ECP5 PLL at this many MHz instead of the board clock.
    #[arg(long, value_parser = flags::mhz)]
    pll_mhz: Option<f64>,
    /// nextpnr's placement seed.
    #[arg(long, default_value_t = 1)]
    placement_seed: u64,
    /// Stop after the estimate (no synthesis).
    #[arg(long)]
    estimate_only: bool,
    /// Output directory for the board build and its report; it appears only when complete,
    /// and replaces an earlier output of hardwire's as a whole.
    #[arg(long, default_value = "target/hardwire-build")]
    out: PathBuf,
    /// Replace --out even if it holds files that hardwire did not write.
    #[arg(long)]
    force: bool,
}

#[derive(Serialize)]
struct Report {
    board: String,
    estimate: hardwire_fpga::Resources,
    fpga: Option<hardwire_fpga::BuildReport>,
    cycles_per_token: [u64; 2],
    tokens_per_second_at_fmax: Option<[f64; 2]>,
    design: DesignReport,
}

/// Runs the command.
pub fn run(a: &BuildArgs) -> anyhow::Result<()> {
    let t = Instant::now();
    let board = Board::by_id(&a.board).with_context(|| {
        format!(
            "unknown board `{}`; known boards: {}",
            a.board,
            Board::ids().join(", ")
        )
    })?;
    let plan = ClockPlan::for_board(&board, a.pll_mhz).context("--pll-mhz")?;
    let out = OutputDir::create(&a.out, Overwrite::from_force(a.force))?;
    let built = hardware::build(&a.model, &a.hardware)?;
    let core = built.core;
    let design = hardware::elaborate(&core)?;
    let cycles = [
        core.cycles_per_token(0),
        core.cycles_per_token(core.max_seq() - 1),
    ];
    let link = TokenLink::new(core.clone(), core.token_bits(), plan.clock_hz(&board));
    let pins = TokenLinkPins {
        link,
        leds: board.pins.leds.1,
    };
    eprintln!("elaborating the core behind the serial token protocol");
    let on_board = Design::elaborate(&pins).map_err(|e| anyhow!("{e}"))?;
    let predicted = estimate(&on_board, &board.part);
    eprintln!(
        "estimate: {predicted} (the {} has {})",
        board.part.name, board.part.resources
    );
    if let Err(e) = board.part.check_fit(&predicted) {
        bail!(
            "by the estimate, {e}\n{}",
            shrink_advice(&predicted, &board.part.resources)
        );
    }
    let mut report = Report {
        board: board.id.to_string(),
        estimate: predicted,
        fpga: None,
        cycles_per_token: cycles,
        tokens_per_second_at_fmax: None,
        design: DesignReport::new(&core, &design, 0),
    };
    if !a.estimate_only {
        let top = board_top_of_design(&board, &on_board, plan);
        let provisioning = Provisioning::from_env();
        let dir = out.path().join(board.id);
        let mut flow = match board.part.family {
            Family::Ecp5 => {
                let tools = Ecp5Toolchain::find(&provisioning)?;
                let mut flow = Ecp5Flow::new(&board);
                flow.seed = a.placement_seed;
                if let Some(mhz) = a.pll_mhz {
                    flow = flow.with_pll(mhz);
                }
                flow.run(&top, &dir, &tools)?
            }
            Family::Xilinx7 => XilinxFlow::new(&board).run(&top, &dir, &provisioning)?,
        };
        print!("{}", flow.summary());
        // The build moves with the output directory when it is committed below.
        flow.dir = out.target().join(board.id);
        report.tokens_per_second_at_fmax =
            flow.fmax_mhz.map(|f| cycles.map(|c| f * 1e6 / c as f64));
        report.fpga = Some(flow);
    }
    println!(
        "  cycles/token {} at position 0, {} at position {}",
        cycles[0],
        cycles[1],
        core.max_seq() - 1
    );
    if let Some([first, last]) = report.tokens_per_second_at_fmax {
        println!("  tokens/s    {last:.0}–{first:.0} at Fmax");
    }
    let path = out.path().join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", path.display()))?;
    let dir = out.commit()?;
    eprintln!(
        "report in {} ({:.1} s)",
        dir.join("report.json").display(),
        t.elapsed().as_secs_f64()
    );
    if report.fpga.as_ref().and_then(|f| f.timing_met) == Some(false) {
        bail!("timing is not met");
    }
    Ok(())
}
