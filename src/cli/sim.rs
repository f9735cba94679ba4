//! `hardwire sim`: the native cycle simulation of a model's core, checked against the golden
//! model.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use hardwire_sim::cosim::Recorder;
use serde::Serialize;

use super::hardware::{self, HardwareArgs};
use super::ModelArgs;
use hardwire::token_stream::run_prompt;

/// Arguments of `hardwire sim`.
#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct SimArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    hardware: HardwareArgs,
    /// The prompt, encoded with the model's tokenizer.
    #[arg(long, conflicts_with = "tokens", required_unless_present = "tokens")]
    prompt: Option<String>,
    /// A file of prompt token ids: a JSON array, or integers separated by spaces, commas or
    /// newlines.
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// Tokens to generate.
    #[arg(long, default_value_t = 8)]
    max_new_tokens: u16,
    /// Write a waveform of the whole run (large for big models).
    #[arg(long)]
    vcd: Option<PathBuf>,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    prompt_ids: Vec<u32>,
    generated_ids: Vec<u32>,
    golden_ids: Vec<u32>,
    matches_golden: bool,
    text: String,
    cycles: u64,
    cycles_per_token: Vec<u64>,
    cycles_per_token_predicted: Vec<u64>,
    simulated_cycles_per_second: f64,
    simulation_seconds: f64,
    /// The command's peak resident memory (Linux), in bytes.
    peak_rss_bytes: Option<u64>,
}

fn prompt_ids(a: &SimArgs, tok: &hardwire_model::Tokenizer) -> anyhow::Result<Vec<u32>> {
    let ids = match (&a.prompt, &a.tokens) {
        (Some(p), _) => tok.encode(p)?,
        (None, Some(f)) => super::token_file::read_tokens(f)?,
        (None, None) => bail!("give --prompt or --tokens"),
    };
    if ids.is_empty() {
        bail!("the prompt has no tokens");
    }
    Ok(ids)
}

/// Runs the command.
pub fn run(a: &SimArgs) -> anyhow::Result<()> {
    let built = hardware::build(&a.model, &a.hardware)?;
    let prompt = prompt_ids(a, &built.tokenizer)?;
    let vocab = built.core.vocab() as u32;
    if let Some(t) = prompt.iter().find(|&&t| t >= vocab) {
        bail!("token id {t} is outside the vocabulary of {vocab}");
    }
    let needed = prompt.len() + usize::from(a.max_new_tokens);
    if needed > built.core.max_seq() + 1 {
        bail!(
            "{} prompt tokens and {} new ones need a KV cache of {} positions; --max-seq is {}",
            prompt.len(),
            a.max_new_tokens,
            needed - 1,
            built.core.max_seq()
        );
    }
    let golden = built
        .model
        .generate_greedy(&prompt, a.max_new_tokens.into(), None)?;
    let design = hardware::elaborate(&built.core)?;
    let mut bench = Recorder::new(&design, 2)?.recording(false);
    if let Some(path) = &a.vcd {
        let f =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        bench.sim().trace_vcd(std::io::BufWriter::new(f))?;
    }
    eprintln!(
        "simulating {} prompt tokens and {} new ones",
        prompt.len(),
        a.max_new_tokens
    );
    let t = Instant::now();
    let patience = 4 * built.core.cycles_per_token(built.core.max_seq() - 1);
    let run = run_prompt(&mut bench, &prompt, a.max_new_tokens, patience, |tok| {
        eprintln!("  token {tok} after {:.1} s", t.elapsed().as_secs_f64());
    })?;
    let seconds = t.elapsed().as_secs_f64();
    if a.vcd.is_some() {
        bench.sim().flush_vcd()?;
    }
    let report = Report {
        text: built.tokenizer.decode(&run.tokens),
        matches_golden: run.tokens == golden,
        cycles_per_token: run.cycles_per_token(),
        cycles_per_token_predicted: (0..run.cycles_per_token().len())
            .map(|p| built.core.cycles_per_token(p))
            .collect(),
        prompt_ids: prompt,
        generated_ids: run.tokens.clone(),
        golden_ids: golden,
        cycles: run.cycles,
        simulated_cycles_per_second: run.cycles as f64 / seconds.max(1e-9),
        simulation_seconds: seconds,
        peak_rss_bytes: hardwire_model::memory::peak_rss_bytes(),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", report.text);
        let cpt = &report.cycles_per_token;
        eprintln!(
            "{} tokens {} the golden model; {} cycles, {}–{} cycles per token, {:.0} simulated cycles/s, peak RSS {:.2} GB",
            report.generated_ids.len(),
            if report.matches_golden { "match" } else { "DIFFER FROM" },
            report.cycles,
            cpt.iter().min().unwrap_or(&0),
            cpt.iter().max().unwrap_or(&0),
            report.simulated_cycles_per_second,
            report.peak_rss_bytes.unwrap_or(0) as f64 / 1e9
        );
    }
    if !report.matches_golden {
        bail!(
            "the simulated core generated {:?} but the golden model {:?}",
            report.generated_ids,
            report.golden_ids
        );
    }
    Ok(())
}
