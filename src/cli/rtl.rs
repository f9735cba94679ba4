//! `hardwire rtl`: the Verilog, memory files and design report of a model's core.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use hardwire_fpga::flow::Staging;
use hardwire_hdl::verilog::Verilog;

use super::hardware::{self, HardwareArgs};
use super::ModelArgs;
use hardwire::report::DesignReport;

/// Arguments of `hardwire rtl`.
#[derive(Args)]
pub struct RtlArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    hardware: HardwareArgs,
    /// Output directory; it appears only when complete (written as `DIR.partial` first).
    #[arg(long)]
    out: PathBuf,
    /// Position the report gives per-block latencies at.
    #[arg(long, default_value_t = 0)]
    report_pos: usize,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub fn run(a: &RtlArgs) -> anyhow::Result<()> {
    let t = Instant::now();
    let built = hardware::build(&a.model, &a.hardware)?;
    let design = hardware::elaborate(&built.core)?;
    let report = DesignReport::new(
        &built.core,
        &design,
        a.report_pos.min(built.core.max_seq() - 1),
    );
    eprintln!("emitting Verilog");
    let verilog = Verilog::from_design(&design);
    let staging = Staging::begin(&a.out)?;
    let total: usize = verilog.files.iter().map(|(_, t)| t.len()).sum();
    let mut written = 0usize;
    let mut next_note = total / 10;
    for (name, text) in &verilog.files {
        std::fs::write(staging.partial.join(name), text)?;
        written += text.len();
        if written >= next_note && total > 50 << 20 {
            eprintln!("  wrote {} of {} MB", written >> 20, total >> 20);
            next_note += total / 10;
        }
    }
    std::fs::write(
        staging.partial.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(staging.partial.join("report.txt"), format!("{report}\n"))?;
    let dir = staging.commit()?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    eprintln!(
        "wrote {} files ({:.1} MB, top `{}`) to {} in {:.1} s",
        verilog.files.len(),
        total as f64 / 1e6,
        verilog.top,
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
