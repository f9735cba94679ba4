//! Builds hardware for the embedded `tiny` model, down to a bitstream.
//!
//! Today this takes the first layer's query projection of the seeded `tiny` model, quantises
//! it, hardwires it as a fixed-weight multiplier array (one CSD shift-and-add dot product per
//! row), checks the native simulation bit for bit against the integer matrix-vector product,
//! writes the Verilog (linted with Verilator and checked with yosys when they are installed),
//! puts the array on the board's pins (`hardwire_fpga::top`), and runs the FPGA flow: for the
//! ULX3S (the default) yosys → nextpnr-ecp5 → ecppack, installing the YoWASP tools into the
//! cache on first use; for the Arty A7, Vivado, or a yosys estimate without it. It prints the
//! resources used of available, Fmax against the board clock and where the bitstream and
//! reports are, and writes `report.json`. The whole decoder (issue 4) builds on this.
//!
//! `cargo run --release --example fpga_build -- [--board ulx3s|arty_a7_100t] [--rows N]
//! [--weight-bits B] [--freq MHZ] [--pll-mhz MHZ] [--seed S] [--out DIR]`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use hardwire::blocks::MultiplierArray;
use hardwire::fpga::estimate::estimate;
use hardwire::fpga::flow::ecp5::Ecp5Flow;
use hardwire::fpga::flow::xilinx::XilinxFlow;
use hardwire::fpga::toolchain::{Ecp5Toolchain, Provisioning};
use hardwire::fpga::top::{board_top_clocked, BoardHarness, ClockPlan};
use hardwire::fpga::{Board, BuildReport, Family};
use hardwire::hdl::prelude::*;
use hardwire::hdl::verilog::Verilog;
use hardwire::model::quant::{QuantSpec, QuantizedMatrix};
use hardwire::model::{LlamaConfig, LlamaWeights};
use hardwire::sim::Simulator;

#[derive(Parser, Debug)]
#[command(about = "Generate, simulate and export hardware for the tiny model")]
struct Args {
    /// Board: ulx3s (ECP5, the default) or arty_a7_100t (Xilinx 7-series).
    #[arg(long, default_value = "ulx3s")]
    board: String,
    /// Rows of the query projection to hardwire (the tiny model has 64).
    //
    // 8 by default: each fully parallel 64-column row costs about 1,500 LUT4s and 900
    // flip-flops on the ECP5 (measured: 8 rows = 12,114 LUTs, 7,146 FFs), so all 64 rows
    // (~97k LUTs) would not fit the LFE5U-85F's 83,640, and the WebAssembly nextpnr takes
    // about 95 s for 8 rows; 8 keeps a fresh-machine run near 4 minutes.
    #[arg(long, default_value_t = 8)]
    rows: usize,
    /// Bits per weight (2 to 8).
    #[arg(long, default_value_t = 4)]
    weight_bits: u32,
    /// Random activation vectors to check in simulation.
    #[arg(long, default_value_t = 200)]
    vectors: usize,
    /// Clock to place and route for, in MHz (default: the board clock).
    #[arg(long)]
    freq: Option<f64>,
    /// Run the design from an ECP5 PLL at this many MHz instead of the board clock.
    #[arg(long)]
    pll_mhz: Option<f64>,
    /// nextpnr placement seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory (replaced as a whole when the run succeeds).
    #[arg(long, default_value = "target/fpga_build")]
    out: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if !(2..=8).contains(&args.weight_bits) {
        bail!(
            "--weight-bits must be between 2 and 8, not {}",
            args.weight_bits
        );
    }
    let board = Board::by_id(&args.board).with_context(|| {
        format!(
            "unknown board `{}`; known boards: {}",
            args.board,
            Board::ids().join(", ")
        )
    })?;
    let config = LlamaConfig::tiny();
    if args.rows == 0 || args.rows > config.hidden_size {
        bail!(
            "--rows must be between 1 and {} (the tiny model's hidden size)",
            config.hidden_size
        );
    }
    let t0 = Instant::now();
    println!(
        "[1/6] tiny model: seeded weights, layer 0 query projection, {} rows",
        args.rows
    );
    let weights = LlamaWeights::seeded(&config, 1).context("seeding the tiny model")?;
    let q = QuantizedMatrix::quantize(
        &weights.layers[0].wq,
        QuantSpec::per_channel(args.weight_bits),
    );
    let rows: Vec<Vec<i64>> = (0..args.rows)
        .map(|r| {
            q.q[r * q.cols..(r + 1) * q.cols]
                .iter()
                .map(|&w| i64::from(w))
                .collect()
        })
        .collect();

    println!("[2/6] elaborating the fixed-weight multiplier array");
    let block = MultiplierArray {
        weights: rows.clone(),
        weight_bits: args.weight_bits,
        ty: Type::signed(8),
        label: "wq0".into(),
    };
    let design = Design::elaborate(&block).map_err(|e| anyhow::anyhow!("{e}"))?;
    let nonzero = rows.iter().flatten().filter(|w| **w != 0).count();

    println!("[3/6] native simulation against the integer matrix-vector product");
    let t_sim = Instant::now();
    let cycles = check_in_simulation(&design, &block, &rows, args.vectors)?;
    let sim_s = t_sim.elapsed().as_secs_f64();

    println!("[4/6] writing Verilog and checking it with outside tools");
    let verilog = Verilog::from_design(&design);
    let staging = args.out.with_extension("partial");
    let _ = std::fs::remove_dir_all(&staging);
    verilog
        .write_to(&staging.join("rtl"))
        .context("writing the Verilog")?;
    let lint = run_tool(&staging.join("rtl"), "verilator", &lint_args(&verilog));
    let yosys_script = format!(
        "read_verilog {}; hierarchy -check -top {}; proc; check -assert",
        verilog.sources().collect::<Vec<_>>().join(" "),
        verilog.top
    );
    let yosys = run_tool(
        &staging.join("rtl"),
        "yosys",
        &["-q".into(), "-p".into(), yosys_script],
    );
    if lint == Check::Failed || yosys == Check::Failed {
        bail!(
            "an outside tool rejected the Verilog; its log is in {}",
            staging.join("rtl").display()
        );
    }

    let plan = match args.pll_mhz {
        Some(mhz) if board.part.family == Family::Ecp5 => ClockPlan::Pll { mhz },
        Some(_) => bail!("--pll-mhz is for ECP5 boards only so far"),
        None => ClockPlan::Board,
    };
    // The analytic estimate of what goes on the board, before minutes of synthesis.
    let clock_hz = match plan {
        ClockPlan::Board => board.clock_hz,
        ClockPlan::Pll { mhz } => (mhz * 1e6).round() as u64,
    };
    let harness = BoardHarness::new(block.clone(), board.pins.leds.1, clock_hz)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let on_board = Design::elaborate(&harness).map_err(|e| anyhow::anyhow!("{e}"))?;
    let predicted = estimate(&on_board, &board.part);
    println!(
        "      estimate before synthesis: {} LUTs, {} flip-flops, {} DSPs, {} block RAMs",
        predicted.luts, predicted.ffs, predicted.dsps, predicted.bram_blocks
    );
    if let Err(e) = board.part.check_fit(&predicted) {
        bail!("by the estimate, {e}\n(lower --rows or --weight-bits, or pick a larger board)");
    }

    println!("[5/6] the FPGA tools for the {}", board.name);
    let provisioning = Provisioning::from_env();
    let ecp5_tools = match board.part.family {
        Family::Ecp5 => {
            let tools = Ecp5Toolchain::find(&provisioning)?;
            println!("      using {}", tools.source);
            Some(tools)
        }
        Family::Xilinx7 => None,
    };

    println!(
        "[6/6] synthesis, place and route, bitstream for the {}",
        board.name
    );
    let top = board_top_clocked(&board, block.clone(), plan).map_err(|e| anyhow::anyhow!("{e}"))?;
    let build_dir = staging.join(board.id);
    let flow: BuildReport = match &ecp5_tools {
        Some(tools) => {
            let mut flow = Ecp5Flow::new(&board);
            flow.seed = args.seed;
            if let Some(mhz) = args.pll_mhz {
                flow = flow.with_pll(mhz);
            }
            if let Some(f) = args.freq {
                flow.target_mhz = f;
            }
            flow.run(&top, &build_dir, tools)?
        }
        None => {
            let mut flow = XilinxFlow::new(&board);
            if let Some(f) = args.freq {
                flow.target_mhz = f;
            }
            flow.run(&top, &build_dir, &provisioning)?
        }
    };
    // The build moves with the output directory when it is committed below.
    let mut flow = flow;
    flow.dir = args.out.join(board.id);

    let report = serde_json::json!({
        "design": verilog.top,
        "model": "tiny (seeded), layer 0 q_proj",
        "board": board.id,
        "rows": args.rows,
        "cols": config.hidden_size,
        "weight_bits": args.weight_bits,
        "nonzero_weights": nonzero,
        "modules": design.modules.len(),
        "latency_cycles": block.latency(),
        "simulation": { "vectors": args.vectors, "cycles": cycles, "seconds": sim_s, "bit_exact": true },
        "verilator_lint": lint.as_str(),
        "yosys_check": yosys.as_str(),
        "fpga": flow,
        "estimate": {
            "luts": predicted.luts,
            "ffs": predicted.ffs,
            "dsps": predicted.dsps,
            "bram_blocks": predicted.bram_blocks,
            "lut_error": relative_error(predicted.luts, flow.utilisation.luts.used),
            "ff_error": relative_error(predicted.ffs, flow.utilisation.ffs.used),
        },
    });
    std::fs::write(
        staging.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(
        staging.join(board.id).join("report.json"),
        serde_json::to_string_pretty(&flow)?,
    )?;
    let _ = std::fs::remove_dir_all(&args.out);
    std::fs::rename(&staging, &args.out)
        .with_context(|| format!("moving the result to {}", args.out.display()))?;

    println!();
    println!(
        "hardwired {} x {} weights at {} bits ({} nonzero, {} modules, latency {} cycles, one vector a cycle)",
        args.rows,
        config.hidden_size,
        args.weight_bits,
        nonzero,
        design.modules.len(),
        block.latency()
    );
    println!("native simulation: {} vectors bit-exact with the integer product ({cycles} cycles, {sim_s:.2} s)", args.vectors);
    println!(
        "verilator lint: {}   yosys check: {}",
        lint.as_str(),
        yosys.as_str()
    );
    print!("{}", flow.summary());
    println!(
        "estimate vs {}: LUTs {} vs {} ({:+.1}%), flip-flops {} vs {} ({:+.1}%)",
        flow.flow,
        predicted.luts,
        flow.utilisation.luts.used,
        100.0 * relative_error(predicted.luts, flow.utilisation.luts.used),
        predicted.ffs,
        flow.utilisation.ffs.used,
        100.0 * relative_error(predicted.ffs, flow.utilisation.ffs.used),
    );
    if let Some(f) = flow.fmax_mhz {
        println!(
            "  throughput  {:.1} M matrix-vector products/s at Fmax, {:.1} M/s at the {:.0} MHz clock",
            f,
            flow.target_mhz,
            flow.target_mhz
        );
    }
    println!(
        "Verilog in {}, report in {}",
        args.out.join("rtl").display(),
        args.out.join("report.json").display()
    );
    println!("done in {:.1} s", t0.elapsed().as_secs_f64());
    if flow.timing_met == Some(false) {
        bail!("timing is not met at {:.1} MHz", flow.target_mhz);
    }
    Ok(())
}

/// Drives random activations through the array and compares every output with `W x`.
fn check_in_simulation(
    design: &Design,
    block: &MultiplierArray,
    rows: &[Vec<i64>],
    vectors: usize,
) -> Result<u64> {
    let mut sim = Simulator::new(design)?;
    sim.reset(1)?;
    let cols = rows[0].len();
    let out_ty = block.output_type();
    let latency = block.latency() as usize;
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut pending = std::collections::VecDeque::new();
    for c in 0..vectors + latency {
        let x: Vec<i64> = (0..cols)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed % 256) as i64 - 128
            })
            .collect();
        let mut words = vec![0u64; (cols * 8).div_ceil(64)];
        for (i, v) in x.iter().enumerate() {
            words[i * 8 / 64] |= ((*v as u64) & 0xff) << (i * 8 % 64);
        }
        sim.poke_bits("x", &Bits::from_words(&words, cols as u32 * 8))?;
        sim.poke("in_valid", 1)?;
        pending.push_back(x);
        if c >= latency {
            let x = pending.pop_front().expect("one vector per cycle");
            let y = sim.peek_bits("y")?;
            for (r, row) in rows.iter().enumerate() {
                let want: i64 = row.iter().zip(&x).map(|(w, x)| w * x).sum();
                let got =
                    hardwire::hdl::eval::slice(&y, r as u32 * out_ty.width, out_ty.width).to_i128();
                if got != i128::from(want) {
                    bail!(
                        "row {r}, vector {}: hardware gives {got}, the integer product is {want}",
                        c - latency
                    );
                }
            }
        }
        sim.step();
    }
    Ok(sim.cycle())
}

/// `(estimate - actual) / actual`.
fn relative_error(estimate: u64, actual: u64) -> f64 {
    (estimate as f64 - actual as f64) / (actual.max(1) as f64)
}

#[derive(Debug, PartialEq)]
enum Check {
    Passed,
    Failed,
    NotInstalled,
}

impl Check {
    fn as_str(&self) -> &'static str {
        match self {
            Check::Passed => "passed",
            Check::Failed => "FAILED",
            Check::NotInstalled => "skipped (not installed)",
        }
    }
}

fn lint_args(v: &Verilog) -> Vec<String> {
    let mut a: Vec<String> = ["--lint-only", "-Wall", "--top-module"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.push(v.top.clone());
    a.extend(v.sources().map(str::to_string));
    a
}

/// Runs a tool in `dir`, keeping its output in `dir/<tool>.log`.
fn run_tool(dir: &Path, tool: &str, args: &[String]) -> Check {
    match Command::new(tool).args(args).current_dir(dir).output() {
        Err(_) => Check::NotInstalled,
        Ok(out) => {
            let mut log = out.stdout;
            log.extend(out.stderr);
            let _ = std::fs::write(dir.join(format!("{tool}.log")), log);
            if out.status.success() {
                Check::Passed
            } else {
                Check::Failed
            }
        }
    }
}
