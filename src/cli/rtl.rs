//! `hardwire rtl`: the Verilog, memory files and design report of a model's core.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use hardwire_fpga::output_dir::{OutputDir, Overwrite};
use hardwire_hdl::verilog::Verilog;

use super::hardware::{self, HardwareArgs};
use super::{flags, ModelArgs};
use anyhow::bail;
use hardwire::report::DesignReport;
use hardwire::scale::ScaleReport;

/// The largest ROM `rtl` elaborates and writes: 4 Gb (SmolLM2-135M at 8 bits is about 1.3).
const MAX_ELABORATED_ROM_BITS: u64 = 4_000_000_000;

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
    let built = hardware::build(&a.model, &a.hardware)?;
    let scale = ScaleReport::new(&built.core, &built.model, a.clock_mhz);
    let Some(out) = out else {
        if a.json {
            println!("{}", serde_json::to_string_pretty(&scale)?);
        } else {
            println!("{scale}");
        }
        return Ok(());
    };
    if scale.rom_bits > MAX_ELABORATED_ROM_BITS {
        bail!(
            "the core holds {:.1} Gb of ROM; its Verilog and ROM images are not written at this \
             size yet (the design IR holds every ROM word in memory). `hardwire rtl \
             --report-only` gives its scale report",
            scale.rom_bits as f64 / 1e9
        );
    }
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
