//! `hardwire rtl`: the Verilog, memory files and design report of a model's core.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use hardwire_fpga::output_dir::{OutputDir, Overwrite};
use hardwire_hdl::verilog::Verilog;

use super::hardware::{self, HardwareArgs};
use super::ModelArgs;
use hardwire::report::DesignReport;

/// Arguments of `hardwire rtl`.
#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct RtlArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    hardware: HardwareArgs,
    /// Output directory; it appears only when complete (written as `DIR.partial` first), and
    /// replaces an earlier output of hardwire's as a whole.
    #[arg(long)]
    out: PathBuf,
    /// Replace --out even if it holds files that hardwire did not write.
    #[arg(long)]
    force: bool,
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
    // Before any work: a refused output directory is refused at once.
    let out = OutputDir::create(&a.out, Overwrite::from_force(a.force))?;
    let built = hardware::build(&a.model, &a.hardware)?;
    let design = hardware::elaborate(&built.core)?;
    let report = DesignReport::new(
        &built.core,
        &design,
        a.report_pos.min(built.core.max_seq() - 1),
    );
    eprintln!("emitting Verilog");
    let verilog = Verilog::from_design(&design);
    let total: usize = verilog.files.iter().map(|(_, t)| t.len()).sum();
    let mut written = 0usize;
    let mut next_note = total / 10;
    let write = |name: &str, text: &[u8]| {
        let path = out.path().join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    for (name, text) in &verilog.files {
        write(name, text.as_bytes())?;
        written += text.len();
        if written >= next_note && total > 50 << 20 {
            eprintln!("  wrote {} of {} MB", written >> 20, total >> 20);
            next_note += total / 10;
        }
    }
    write(
        "report.json",
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    write("report.txt", format!("{report}\n").as_bytes())?;
    let dir = out.commit()?;
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
