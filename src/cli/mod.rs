//! Command-line parsing and dispatch.

mod build;
mod engine;
mod flags;
mod generate;
mod hardware;
mod model_source;
mod quantize;
mod rtl;
mod score;
mod sim;
mod token_file;

use clap::{Args, Parser, Subcommand};
use hardwire_model::fixed::Format;

/// Turn a transformer into hardware.
#[derive(Parser)]
#[command(name = "hardwire", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Greedy text generation with the f32 reference or the fixed-point golden model.
    Generate(generate::GenerateArgs),
    /// Per-position argmax, next-token negative log-likelihood and perplexity of a text.
    Score(score::ScoreArgs),
    /// The accuracy explorer: a quantisation policy's bits, errors, perplexity and top-1
    /// agreement against f32, and (--report) a Pareto table and plot of the policies tried.
    Quantize(quantize::QuantizeArgs),
    /// The Verilog, memory files and design report of a model's core.
    Rtl(rtl::RtlArgs),
    /// Runs a model's core in the native cycle simulator and checks it against the golden model.
    Sim(sim::SimArgs),
    /// A model's core behind the serial token protocol, on a board, down to a bitstream.
    Build(build::BuildArgs),
}

/// Which model and which numerics, shared by every command.
///
/// Negative numbers are taken as values, so that `--mixed-fraction -1` is refused by the
/// flag's parser, by name, rather than read as an unknown flag `-1`.
///
/// `Debug` spells every setting out: the weight store's key is made from it
/// ([`engine::golden`]).
#[derive(Args, Clone, Debug)]
#[command(allow_negative_numbers = true)]
pub struct ModelArgs {
    /// A `.gguf` file, a Hugging Face directory (config.json + safetensors), or a preset:
    /// `tiny` (seeded weights), `smollm2-135m` (the GGUF fetched by scripts/fetch-smollm2.sh),
    /// `llama-3.1-8b` (the 8B shapes with seeded weights, streamed: `generate --numerics fixed`).
    #[arg(long)]
    pub model: String,
    /// Keep only the first N decoder layers.
    #[arg(long, value_parser = flags::positive)]
    pub layers: Option<usize>,
    /// Seed of the `tiny` and `llama-3.1-8b` presets' weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// `f32` (the reference) or `fixed` (the golden model the hardware matches bit for bit).
    #[arg(long, value_enum, default_value_t = engine::Numerics::F32)]
    pub numerics: engine::Numerics,
    /// Weight bits (2 to 8) for `--numerics fixed`.
    #[arg(long, default_value_t = 8, value_parser = flags::weight_bits)]
    pub weight_bits: u32,
    /// Inputs per weight scale along a row (0: one scale per output channel).
    #[arg(long, default_value_t = 32, value_parser = flags::group_size)]
    pub group_size: usize,
    /// Mixed precision `BASE/HIGH` (e.g. `3/6`): every matrix at BASE bits, the most sensitive
    /// quarter (see --mixed-fraction) at HIGH. Overrides --weight-bits.
    #[arg(long, value_name = "BASE/HIGH", value_parser = flags::mixed)]
    pub mixed: Option<flags::MixedBits>,
    /// Fraction (0 to 1) of matrices raised to the high width by --mixed, chosen by weight SNR
    /// (when --avg-bits is not given).
    #[arg(long, default_value_t = 0.25, value_parser = flags::fraction)]
    pub mixed_fraction: f64,
    /// With --mixed: raise the tensors whose quantisation at BASE costs the loss most per
    /// weight, measured one by one on calibration text, while the average weight width stays
    /// within this many bits.
    #[arg(long, value_name = "BITS", requires = "mixed", value_parser = flags::average_bits)]
    pub avg_bits: Option<f64>,
    /// A quantisation policy (JSON, as `hardwire quantize` writes it): the width, group and
    /// grid of every tensor. Replaces --weight-bits, --mixed, --group-size and --offset.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["mixed", "avg_bits", "offset", "best_grid"])]
    pub policy: Option<std::path::PathBuf>,
    /// Activation width and fractional bits, e.g. `20.12` (8 to 24 bits, at least 4
    /// fractional and 2 integer).
    #[arg(long, value_name = "BITS.FRAC", value_parser = flags::act_format)]
    pub act: Option<Format>,
    /// Residual-stream width and fractional bits, e.g. `28.11` (8 to 32 bits, at least 2
    /// integer).
    #[arg(long, value_name = "BITS.FRAC", value_parser = flags::resid_format)]
    pub resid: Option<Format>,
    /// Width and fractional bits of the SwiGLU product, the down projection's input, e.g.
    /// `24.9` (8 to 24 bits, at least 2 integer, at most twice --act's fractional bits).
    #[arg(long, value_name = "BITS.FRAC", value_parser = flags::prod_format)]
    pub prod: Option<Format>,
    /// Accumulator width (16 to 48).
    #[arg(long, value_parser = flags::acc_bits)]
    pub acc_bits: Option<u32>,
    /// Affine weight grid: a real offset per group besides the scale (`w = q * scale + offset`).
    #[arg(long)]
    pub offset: bool,
    /// Each tensor on the grid, symmetric or affine, that quantises it with the smaller error
    /// (a tensor stored as GGUF's Q8_0 stays symmetric, one stored as Q4_1 goes affine).
    /// Replaces --offset for --weight-bits.
    #[arg(long, conflicts_with_all = ["offset", "mixed"])]
    pub best_grid: bool,
    /// Round the layer matrices with GPTQ, calibrated on a built-in English paragraph (slower
    /// to build: about a minute for SmolLM2-135M).
    #[arg(long)]
    pub gptq: bool,
    /// Scale each matrix's salient input channels up, and what feeds them down, before
    /// quantising (AWQ): the f32 model is unchanged, the search for each site's scale runs on
    /// the built-in calibration paragraph at the low width. Combines with every policy and with
    /// --gptq.
    #[arg(long)]
    pub awq: bool,
}

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Generate(a) => generate::run(&a),
        Command::Score(a) => score::run(&a),
        Command::Quantize(a) => quantize::run(&a),
        Command::Rtl(a) => rtl::run(&a),
        Command::Sim(a) => sim::run(&a),
        Command::Build(a) => build::run(&a),
    }
}
