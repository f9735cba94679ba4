//! Builds the whole model as hardware, down to a bitstream.
//!
//! Takes the seeded `tiny` model (one layer by default), quantises it, builds its
//! [`LlamaCore`] (embedding, decoder, final norm, LM head, argmax behind token streams),
//! checks in native simulation that it generates the golden model's greedy tokens in the
//! predicted cycles, writes the Verilog (linted with Verilator and checked with yosys when they
//! are installed), puts the core behind the serial token protocol
//! ([`hardwire::fpga::token_link`]) on the board's pins, estimates its resources from the IR
//! (stopping there, with the numbers and the knob to turn, when it cannot fit) and runs the
//! FPGA flow: for the ULX3S (the default) yosys → nextpnr-ecp5 → ecppack, installing the YoWASP
//! tools into the cache on first use; for the Arty A7, Vivado, or a yosys estimate without it.
//! It prints the resources used of available, Fmax against the clock, cycles per token and
//! tokens per second, the estimator's error, and where the bitstream and reports are, and
//! writes `report.json` (with the design report, block by block).
//!
//! `cargo run --release --example fpga_build -- [--board ulx3s|arty_a7_100t] [--layers N]
//! [--reuse R] [--lm-head-reuse R] [--weight-bits B] [--max-seq N] [--check-tokens N]
//! [--weights-seed S] [--pll-mhz MHZ] [--freq MHZ] [--seed S] [--estimate-only] [--out DIR]`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use hardwire::blocks::LlamaCore;
use hardwire::fit::shrink_advice;
use hardwire::fpga::estimate::estimate;
use hardwire::fpga::flow::ecp5::Ecp5Flow;
use hardwire::fpga::flow::xilinx::XilinxFlow;
use hardwire::fpga::output_dir::{OutputDir, Overwrite};
use hardwire::fpga::token_link::{TokenLink, TokenLinkPins};
use hardwire::fpga::toolchain::{Ecp5Toolchain, Provisioning};
use hardwire::fpga::top::{board_top_of_design, parse_mhz, ClockPlan};
use hardwire::fpga::{Board, BuildReport, Family};
use hardwire::hdl::prelude::*;
use hardwire::hdl::verilog::Verilog;
use hardwire::model::fixed::{FixedModel, NumericConfig};
use hardwire::model::quant::{QuantPolicy, QuantSpec};
use hardwire::model::{LlamaConfig, LlamaWeights};
use hardwire::report::DesignReport;
use hardwire::sim::cosim::Recorder;
use hardwire::token_stream::run_prompt;

#[derive(Parser, Debug)]
#[command(about = "Generate, simulate and build the tiny model's whole core for an FPGA")]
struct Args {
    /// Board: ulx3s (ECP5, the default) or arty_a7_100t (Xilinx 7-series).
    #[arg(long, default_value = "ulx3s")]
    board: String,
    /// Decoder layers of the tiny model to build (it has 2). The layers share one decoder's
    /// logic; each adds its weights in ROM and its KV cache in RAM.
    #[arg(long, default_value_t = 1)]
    layers: usize,
    /// Times each weight multiplier is used per matrix-vector product in the decoder: 1
    /// hardwires every weight into logic; N > 1 keeps weights in ROMs feeding
    /// ceil(rows * cols / N) multiply-accumulate lanes per matrix.
    //
    // 8192 by default. Each lane takes about four of the ECP5's 18x18 multipliers (yosys maps
    // even its 4-bit weight product to one), and beside the norms', RoPE's, attention's and
    // SwiGLU's, reuse 1024 needs about 314 by the estimate and 2048 about 186, more than the
    // LFE5U-85F's 156. 4096 fits (121) with 1.7 times the tokens per second, but routing it
    // took the WebAssembly nextpnr 190-420 s over four seeds, against 110-200 s at 8192 (93
    // multipliers), which keeps a run near 5 minutes on 2 cores.
    #[arg(long, default_value_t = 8192)]
    reuse: usize,
    /// Reuse factor of the LM head (default: --reuse times the layer count).
    #[arg(long)]
    lm_head_reuse: Option<usize>,
    /// Bits per weight (2 to 8), in groups of 32 columns with a scale each.
    #[arg(long, default_value_t = 4)]
    weight_bits: u32,
    /// KV-cache depth in positions (1 to the model's 64).
    #[arg(long, default_value_t = 64)]
    max_seq: usize,
    /// Tokens generated in the native simulation check (after a 3-token prompt).
    #[arg(long, default_value_t = 4)]
    check_tokens: u16,
    /// Seed of the tiny model's weights.
    #[arg(long, default_value_t = 0)]
    weights_seed: u64,
    /// Clock to place and route for, in MHz (default: the board clock, or the PLL's).
    #[arg(long, value_parser = parse_mhz)]
    freq: Option<f64>,
    /// Run the design from an ECP5 PLL at this many MHz instead of the board clock.
    #[arg(long, value_parser = parse_mhz)]
    pll_mhz: Option<f64>,
    /// nextpnr placement seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop after the estimate (no synthesis).
    #[arg(long)]
    estimate_only: bool,
    /// Output directory: it appears only when complete, and replaces an earlier output of
    /// hardwire's as a whole.
    #[arg(long, default_value = "target/fpga_build")]
    out: PathBuf,
    /// Replace --out even if it holds files that hardwire did not write.
    #[arg(long)]
    force: bool,
}

/// The prompt of the simulation check: three bytes of the byte-level tiny vocabulary.
const PROMPT: &[u8] = b"Hi!";

fn main() -> Result<()> {
    let args = Args::parse();
    let t0 = Instant::now();
    let board = Board::by_id(&args.board).with_context(|| {
        format!(
            "unknown board `{}`; known boards: {}",
            args.board,
            Board::ids().join(", ")
        )
    })?;
    let mut config = LlamaConfig::tiny();
    check_args(&args, &config)?;
    config.num_hidden_layers = args.layers;
    let plan = ClockPlan::for_board(&board, args.pll_mhz).context("--pll-mhz")?;
    let lm_head_reuse = args
        .lm_head_reuse
        .unwrap_or(args.reuse.saturating_mul(args.layers));
    let out = OutputDir::create(&args.out, Overwrite::from_force(args.force))?;

    println!(
        "[1/7] tiny model, {} layer(s): seeded weights (seed {}), {}-bit group-32 quantisation",
        args.layers, args.weights_seed, args.weight_bits
    );
    let weights =
        LlamaWeights::seeded(&config, args.weights_seed).context("seeding the tiny model")?;
    let policy = QuantPolicy::uniform(QuantSpec {
        bits: args.weight_bits,
        group_size: Some(32),
        offset: false,
    });
    let model = FixedModel::new(&weights, &policy, NumericConfig::tiny(), args.max_seq)?;

    println!(
        "[2/7] elaborating LlamaCore: decoder reuse {}, LM head reuse {lm_head_reuse}",
        args.reuse
    );
    let t = Instant::now();
    let core = LlamaCore::from_model(&model, args.reuse, lm_head_reuse);
    let core_design = Design::elaborate(&core).map_err(|e| anyhow!("{e}"))?;
    let elaborate_s = t.elapsed().as_secs_f64();
    let design_report = DesignReport::new(&core, &core_design, 0);
    let cpt = (
        core.cycles_per_token(0),
        core.cycles_per_token(core.max_seq() - 1),
    );

    println!(
        "[3/7] native simulation: {:?} and {} generated tokens against the golden model",
        String::from_utf8_lossy(PROMPT),
        args.check_tokens
    );
    let t = Instant::now();
    let prompt: Vec<u32> = PROMPT.iter().map(|&b| u32::from(b)).collect();
    let golden = model.generate_greedy(&prompt, args.check_tokens.into(), None)?;
    let mut bench = Recorder::new(&core_design, 2)?.recording(false);
    let run = run_prompt(
        &mut bench,
        &prompt,
        args.check_tokens,
        4 * cpt.1.max(cpt.0),
        |_| {},
    )?;
    let sim_s = t.elapsed().as_secs_f64();
    if run.tokens != golden {
        bail!(
            "the simulated core generated {:?} but the golden model {:?}",
            run.tokens,
            golden
        );
    }
    let measured = run.cycles_per_token();
    if let Some((pos, &c)) = measured
        .iter()
        .enumerate()
        .find(|&(p, &c)| c != core.cycles_per_token(p))
    {
        bail!(
            "the token at position {pos} took {c} cycles; LlamaCore::cycles_per_token says {}",
            core.cycles_per_token(pos)
        );
    }

    println!("[4/7] the core behind the serial token protocol on the board's pins");
    let link = TokenLink::new(core.clone(), core.token_bits(), plan.clock_hz(&board));
    let pins = TokenLinkPins {
        link,
        leds: board.pins.leds.1,
    };
    let on_board = Design::elaborate(&pins).map_err(|e| anyhow!("{e}"))?;
    let verilog = Verilog::from_design(&on_board);
    let staging = out.path().to_path_buf();
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
    let top = board_top_of_design(&board, &on_board, plan);

    println!("[5/7] the estimate before synthesis");
    let predicted = estimate(&on_board, &board.part);
    println!(
        "      {predicted} (the {} has {})",
        board.part.name, board.part.resources
    );
    if let Err(e) = board.part.check_fit(&predicted) {
        bail!(
            "by the estimate, {e}\n{}",
            shrink_advice(&predicted, &board.part.resources)
        );
    }
    if args.estimate_only {
        let report = serde_json::json!({
            "design": top.top,
            "board": board.id,
            "estimate": predicted,
            "design_report": design_report,
        });
        std::fs::write(
            staging.join("report.json"),
            serde_json::to_string_pretty(&report)?,
        )?;
        let out = out.commit()?;
        println!(
            "stopping after the estimate (--estimate-only); Verilog and report in {}",
            out.display()
        );
        return Ok(());
    }

    println!("[6/7] the FPGA tools for the {}", board.name);
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
        "[7/7] synthesis, place and route, bitstream for the {}",
        board.name
    );
    let build_dir = staging.join(board.id);
    let mut flow: BuildReport = match &ecp5_tools {
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
    let critical = critical_path(&build_dir);
    // The build moves with the output directory when it is committed below.
    flow.dir = out.target().join(board.id);
    let actual = flow.utilisation.used();
    let errors = [
        ("luts", predicted.luts, actual.luts),
        ("ffs", predicted.ffs, actual.ffs),
        ("dsps", predicted.dsps, actual.dsps),
        ("bram_blocks", predicted.bram_blocks, actual.bram_blocks),
    ];
    let clock_mhz = flow.target_mhz;
    let per_s = |mhz: f64, cycles: u64| mhz * 1e6 / cycles as f64;

    let report = serde_json::json!({
        "design": top.top,
        "model": format!("tiny (seeded {}), {} layer(s)", args.weights_seed, args.layers),
        "board": board.id,
        "layers": args.layers,
        "reuse": args.reuse,
        "lm_head_reuse": lm_head_reuse,
        "weight_bits": args.weight_bits,
        "max_seq": core.max_seq(),
        "token_bits": core.token_bits(),
        "baud": pins.link.baud,
        "elaboration_seconds": elaborate_s,
        "cycles_per_token": {
            "pos_0": cpt.0,
            "pos_last": cpt.1,
            "bound": core.cycles_per_token_bound(),
        },
        "tokens_per_second": {
            "at_clock": [per_s(clock_mhz, cpt.0), per_s(clock_mhz, cpt.1)],
            "at_fmax": flow.fmax_mhz.map(|f| [per_s(f, cpt.0), per_s(f, cpt.1)]),
        },
        "simulation": {
            "prompt": prompt,
            "tokens": run.tokens,
            "golden": golden,
            "cycles_per_token": measured,
            "cycles": run.cycles,
            "seconds": sim_s,
            "matches_golden": true,
        },
        "critical_path": critical.as_ref().map(|(from, to, ns)| serde_json::json!({
            "from": from, "to": to, "ns": ns,
        })),
        "verilator_lint": lint.as_str(),
        "yosys_check": yosys.as_str(),
        "fpga": flow,
        "estimate": {
            "luts": predicted.luts,
            "ffs": predicted.ffs,
            "dsps": predicted.dsps,
            "bram_blocks": predicted.bram_blocks,
            "errors": errors.iter().map(|(k, p, a)| (k.to_string(), relative_error(*p, *a))).collect::<std::collections::BTreeMap<_, _>>(),
        },
        "design_report": design_report,
        "seconds": t0.elapsed().as_secs_f64(),
    });
    std::fs::write(
        staging.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(
        staging.join(board.id).join("report.json"),
        serde_json::to_string_pretty(&flow)?,
    )?;
    let out = out.commit()?;

    println!();
    println!(
        "LlamaCore: tiny, {} layer(s), {}-bit weights, reuse {} (LM head {lm_head_reuse}), KV cache {} positions; {} multiply-accumulate weight multipliers",
        args.layers,
        args.weight_bits,
        args.reuse,
        core.max_seq(),
        core.weight_multipliers()
    );
    println!(
        "native simulation: {} generated tokens equal the golden model's, each in the predicted cycles ({} cycles, {sim_s:.1} s)",
        run.tokens.len(),
        run.cycles
    );
    println!(
        "verilator lint: {}   yosys check: {}",
        lint.as_str(),
        yosys.as_str()
    );
    print!("{}", flow.summary());
    println!(
        "  cycles/token {} at position 0, {} at position {} (bound {})",
        cpt.0,
        cpt.1,
        core.max_seq() - 1,
        core.cycles_per_token_bound()
    );
    match flow.fmax_mhz {
        Some(f) => println!(
            "  tokens/s    {:.0}–{:.0} at Fmax {f:.1} MHz, {:.0}–{:.0} at the {clock_mhz:.0} MHz clock",
            per_s(f, cpt.1),
            per_s(f, cpt.0),
            per_s(clock_mhz, cpt.1),
            per_s(clock_mhz, cpt.0),
        ),
        None => println!(
            "  tokens/s    {:.0}–{:.0} at the {clock_mhz:.0} MHz clock",
            per_s(clock_mhz, cpt.1),
            per_s(clock_mhz, cpt.0),
        ),
    }
    if let Some((from, to, ns)) = &critical {
        println!("  critical path {ns:.1} ns: {from} -> {to}");
    }
    let line = errors
        .iter()
        .map(|(k, p, a)| format!("{k} {p} vs {a} ({:+.1}%)", 100.0 * relative_error(*p, *a)))
        .collect::<Vec<_>>()
        .join(", ");
    println!("  estimate vs {}: {line}", flow.flow);
    println!(
        "Verilog in {}, report in {}",
        out.join("rtl").display(),
        out.join("report.json").display()
    );
    println!("done in {:.1} s", t0.elapsed().as_secs_f64());
    if flow.timing_met == Some(false) {
        bail!("timing is not met at {:.1} MHz", flow.target_mhz);
    }
    Ok(())
}

fn check_args(args: &Args, config: &LlamaConfig) -> Result<()> {
    if !(2..=8).contains(&args.weight_bits) {
        bail!(
            "--weight-bits must be between 2 and 8, not {}",
            args.weight_bits
        );
    }
    if args.layers == 0 || args.layers > config.num_hidden_layers {
        bail!(
            "--layers must be 1 to the tiny model's {}",
            config.num_hidden_layers
        );
    }
    if args.reuse == 0 || args.lm_head_reuse == Some(0) {
        bail!("a reuse factor must be at least 1");
    }
    if args.max_seq == 0 || args.max_seq > config.max_seq {
        bail!("--max-seq must be 1 to the tiny model's {}", config.max_seq);
    }
    if PROMPT.len() + usize::from(args.check_tokens) > args.max_seq.saturating_add(1) {
        bail!(
            "--check-tokens {} with a {}-token prompt needs --max-seq of at least {}",
            args.check_tokens,
            PROMPT.len(),
            PROMPT.len() + usize::from(args.check_tokens) - 1
        );
    }
    Ok(())
}

/// The worst register-to-register path in nextpnr's report: its first cell, its last cell
/// and its delay in ns (the block that limits Fmax).
fn critical_path(build_dir: &Path) -> Option<(String, String, f64)> {
    let text = std::fs::read_to_string(build_dir.join("nextpnr-report.json")).ok()?;
    let report: serde_json::Value = serde_json::from_str(&text).ok()?;
    let clocked = |end: &serde_json::Value| end.as_str().is_some_and(|s| s.starts_with("posedge"));
    report["critical_paths"]
        .as_array()?
        .iter()
        .filter(|p| clocked(&p["from"]) && clocked(&p["to"]))
        .filter_map(|p| {
            let steps = p["path"].as_array()?;
            let cell = |v: &serde_json::Value| v["cell"].as_str().map(str::to_string);
            let ns = steps
                .iter()
                .filter_map(|s| s["delay"].as_f64())
                .sum::<f64>();
            Some((
                cell(&steps.first()?["from"])?,
                cell(&steps.last()?["to"])?,
                ns,
            ))
        })
        .max_by(|a, b| a.2.total_cmp(&b.2))
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
