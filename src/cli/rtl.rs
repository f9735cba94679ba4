//! `hardwire rtl`: the Verilog, memory files and design report of a model's core.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use hardwire_fpga::output_dir::{OutputDir, Overwrite};
use hardwire_hdl::verilog::Verilog;

use super::hardware::{self, HardwareArgs};
use super::{flags, ModelArgs};
use hardwire::report::DesignReport;
use hardwire::scale::ScaleReport;

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
    #[arg(long, required_unless_present = "report_only")]
    out: Option<PathBuf>,
    /// Print the scale report only (weights, multipliers, ROM and KV-cache bits, cycles and
    /// tokens/s, devices needed per FPGA part, the hardwired variant's adders), without
    /// elaborating the core or writing anything: it runs for Llama 3.1 8B.
    #[arg(long, conflicts_with = "out")]
    report_only: bool,
    /// Clock the scale report's rates are given at, in MHz.
    #[arg(long, default_value_t = 100.0, value_parser = flags::clock_mhz)]
    clock_mhz: f64,
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
    let out = match &a.out {
        Some(dir) => Some(OutputDir::create(dir, Overwrite::from_force(a.force))?),
        None => None,
    };
    let hardware::Built { model, core, .. } = hardware::build(&a.model, &a.hardware)?;
    let scale = ScaleReport::new(&core, &model, a.clock_mhz);
    // The core holds what the hardware needs; the golden model is done with.
    drop(model);
    let Some(out) = out else {
        if a.json {
            println!("{}", serde_json::to_string_pretty(&scale)?);
        } else {
            println!("{scale}");
        }
        return Ok(());
    };
    let design = hardware::elaborate(&core)?;
    let report = DesignReport::new(&core, &design, a.report_pos.min(core.max_seq() - 1));
    let verilog = Verilog::from_design(&design);
    let writing = Instant::now();
    let bytes = write_rtl(&verilog, out.path())?;
    let write_secs = writing.elapsed().as_secs_f64();
    let write = |name: &str, text: &[u8]| {
        let path = out.path().join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    let mut json = serde_json::to_value(&report)?;
    json["scale"] = serde_json::to_value(&scale)?;
    write(
        "report.json",
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    write("report.txt", format!("{report}\n{scale}\n").as_bytes())?;
    let dir = out.commit()?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "wrote {} modules and {} memories ({:.1} MB in {write_secs:.1} s, {:.0} MB/s; top `{}`) \
         to {} in {secs:.1} s",
        verilog.files.len(),
        verilog.memories.len(),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / write_secs.max(1e-9),
        verilog.top,
        dir.display(),
    );
    Ok(())
}

/// Writes the Verilog and, under `bin/`, each `$readmemh` file's packed binary image (each
/// word little-endian in whole bytes), streaming the ROMs from their images with a progress
/// line every tenth; returns the bytes written.
fn write_rtl(verilog: &Verilog, dir: &Path) -> anyhow::Result<u64> {
    let total = verilog.total_bytes() + verilog.bin_bytes();
    let tenth = (total / 10).max(1);
    let noted = AtomicU64::new(0);
    let note = |done: u64| {
        let tenths = done / tenth;
        if total > 64 << 20 && noted.fetch_max(tenths, Ordering::Relaxed) < tenths {
            eprintln!("  wrote {} of {} MB", done >> 20, total >> 20);
        }
    };
    eprintln!(
        "writing Verilog and memory images ({:.1} MB)",
        total as f64 / 1e6
    );
    verilog
        .write_with_progress(dir, Some(&dir.join("bin")), &note)
        .with_context(|| format!("writing the Verilog and memory images to {}", dir.display()))?;
    Ok(total)
}
