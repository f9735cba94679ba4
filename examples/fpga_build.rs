//! Builds the whole model as hardware, down to a bitstream.
//!
//! Takes the seeded `tiny` model (one layer by default), quantises it, builds its
//! [`LlamaCore`] (embedding, decoder, final norm, LM head, argmax behind token streams) and
//! runs the one board flow that `hardwire build` runs too ([`hardwire::board_flow`]): it checks
//! in native simulation that the core generates the golden model's greedy tokens in the
//! predicted cycles, writes the Verilog (linted with Verilator and checked with yosys when they
//! are installed), puts the core behind the serial token protocol on the board's pins,
//! estimates its resources from the IR (stopping there, with the numbers and the knob to turn,
//! when it cannot fit) and runs the FPGA flow: for the ULX3S (the default) yosys →
//! nextpnr-ecp5 → ecppack, installing the YoWASP tools into the cache on first use; for the
//! Arty A7, Vivado, or a yosys estimate without it. It prints the resources used of available,
//! Fmax against the clock, cycles per token and tokens per second, the estimator's error, and
//! where the bitstream and reports are, and writes `report.json` (with the design report,
//! block by block).
//!
//! `cargo run --release --example fpga_build -- [--board ulx3s|arty_a7_100t] [--layers N]
//! [--reuse R] [--lm-head-reuse R] [--attention-lanes L] [--weight-bits B] [--max-seq N]
//! [--check-tokens N] [--weights-seed S] [--pll-mhz MHZ] [--freq MHZ] [--placement-seed S]
//! [--estimate-only] [--out DIR] [--sweep [--sweep-reuse R,R,..] [--sweep-place N]]`
//!
//! With `--sweep` it builds no single design: it estimates the core at every reuse factor of
//! `--sweep-reuse`, places and routes the `--sweep-place` fastest that fit, prints a table and
//! writes `sweep.json` with two plots of tokens per second against LUTs and DSP blocks.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;
use hardwire::blocks::LlamaCore;
use hardwire::board_flow::BoardFlow;
use hardwire::fpga::output_dir::{OutputDir, Overwrite};
use hardwire::model::fixed::{FixedModel, NumericConfig};
use hardwire::model::quant::{QuantPolicy, QuantSpec};
use hardwire::model::{LlamaConfig, LlamaWeights};
use hardwire::sweep::{self, SweepArgs};

#[derive(Parser, Debug)]
#[command(about = "Generate, simulate and build the tiny model's whole core for an FPGA")]
struct Args {
    /// Decoder layers of the tiny model to build (it has 2). The layers share one decoder's
    /// logic; each adds its weights in ROM and its KV cache in RAM.
    #[arg(long, default_value_t = 1)]
    layers: usize,
    /// Times each weight multiplier is used per matrix-vector product in the decoder: 1
    /// hardwires every weight into logic; N > 1 keeps weights in ROMs feeding
    /// ceil(rows * cols / N) multiply-accumulate lanes per matrix.
    //
    // 4096 by default: sixteen lanes, shared by the five matrix units, a 4-bit weight's
    // product in logic and the lanes' group terms on one multiplier (two 18x18 blocks): 36
    // DSPs in all, about four minutes of place and route, timing met at 100 MHz. Both layers
    // at reuse 2048 with 8 attention lanes meet it too (110.0 MHz), but their eight minutes
    // of place and route would take a fresh machine's first run past ten; `--sweep` places
    // and times the range.
    #[arg(long, default_value_t = 4096)]
    reuse: usize,
    /// Reuse factor of the LM head (default: --reuse times the layer count).
    #[arg(long)]
    lm_head_reuse: Option<usize>,
    /// Multiply-accumulate lanes of attention's score and weighted-sum loops (a power of two
    /// dividing the tiny model's head size of 16).
    #[arg(long, default_value_t = 4)]
    attention_lanes: usize,
    /// Bits per weight (2 to 8), in groups of 32 columns with a scale each.
    #[arg(long, default_value_t = 4)]
    weight_bits: u32,
    /// KV-cache depth in positions (1 to the model's 64).
    #[arg(long, default_value_t = 64)]
    max_seq: usize,
    /// Seed of the tiny model's weights.
    #[arg(long, default_value_t = 0)]
    weights_seed: u64,
    /// Output directory: it appears only when complete, and replaces an earlier output of
    /// hardwire's as a whole.
    #[arg(long, default_value = "target/fpga_build")]
    out: PathBuf,
    /// Replace --out even if it holds files that hardwire did not write.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    flow: BoardFlow,
    #[command(flatten)]
    sweep: SweepArgs,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut config = LlamaConfig::tiny();
    check_args(&args, &config)?;
    config.num_hidden_layers = args.layers;
    // The LM head's reuse beside a decoder reuse factor (for one build and for a sweep).
    let lm_head = |reuse: usize| (args.lm_head_reuse).unwrap_or(reuse.saturating_mul(args.layers));
    let lm_head_reuse = lm_head(args.reuse);
    let out = OutputDir::create(&args.out, Overwrite::from_force(args.force))?;

    eprintln!(
        "tiny model, {} layer(s): seeded weights (seed {}), {}-bit group-32 quantisation; {}",
        args.layers,
        args.weights_seed,
        args.weight_bits,
        if args.sweep.sweep {
            format!("sweeping decoder reuse {:?}", args.sweep.sweep_reuse)
        } else {
            format!(
                "decoder reuse {}, LM head reuse {lm_head_reuse}",
                args.reuse
            )
        }
    );
    let weights =
        LlamaWeights::seeded(&config, args.weights_seed).context("seeding the tiny model")?;
    let policy = QuantPolicy::uniform(QuantSpec {
        bits: args.weight_bits,
        group_size: Some(32),
        offset: false,
    });
    let model = FixedModel::new(&weights, &policy, NumericConfig::tiny(), args.max_seq)?;
    if args.sweep.sweep {
        let settings = serde_json::json!({
            "model": format!("tiny (seeded {}), {} layer(s)", args.weights_seed, args.layers),
            "layers": args.layers,
            "weight_bits": args.weight_bits,
            "max_seq": args.max_seq,
        });
        let lanes = args.attention_lanes;
        let report = sweep::run(
            &args.sweep,
            &args.flow,
            &model,
            lm_head,
            lanes,
            settings,
            &out,
        )?;
        let out = out.commit()?;
        println!();
        print!("{}", report.table());
        println!(
            "table in {}, plots in {} and {}",
            out.join("sweep.json").display(),
            out.join("sweep-luts.svg").display(),
            out.join("sweep-dsps.svg").display()
        );
        return Ok(());
    }
    let core = LlamaCore::from_model(&model, args.reuse, lm_head_reuse)
        .with_attention_lanes(args.attention_lanes);
    let settings = serde_json::json!({
        "model": format!("tiny (seeded {}), {} layer(s)", args.weights_seed, args.layers),
        "layers": args.layers,
        "reuse": args.reuse,
        "lm_head_reuse": lm_head_reuse,
        "attention_lanes": args.attention_lanes,
        "weight_bits": args.weight_bits,
        "max_seq": core.max_seq(),
        "token_bits": core.token_bits(),
    });
    let report = args.flow.run(&core, &model, settings, &out)?;
    let out = out.commit()?;

    println!();
    println!(
        "LlamaCore: tiny, {} layer(s), {}-bit weights, reuse {} (LM head {lm_head_reuse}), KV \
         cache {} positions; {} multiply-accumulate weight multipliers",
        args.layers,
        args.weight_bits,
        args.reuse,
        core.max_seq(),
        core.weight_multipliers()
    );
    print!("{}", report.summary());
    println!(
        "Verilog in {}, report in {}",
        out.join("rtl").display(),
        out.join("report.json").display()
    );
    println!("done in {:.1} s", report.seconds);
    if report.timing_missed() {
        bail!("timing is not met");
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
    Ok(())
}
