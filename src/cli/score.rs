//! `hardwire score`: per-position argmax, next-token negative log-likelihood and perplexity.

use super::engine::Engine;
use super::{engine, ModelArgs};
use anyhow::bail;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `hardwire score`.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["text", "tokens"])))]
pub struct ScoreArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Text to score (tokenised without BOS).
    #[arg(long)]
    text: Option<String>,
    /// File of token ids: a JSON array, or integers separated by spaces, commas or newlines.
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// Print everything as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    tokens: Vec<u32>,
    /// Argmax after each position.
    argmax: Vec<u32>,
    /// `-ln p(tokens[i + 1])` after position `i`.
    nll: Vec<f64>,
    perplexity: f64,
    #[serde(flatten)]
    numerics: super::engine::NumericsReport,
}

/// Runs the command.
pub fn run(a: &ScoreArgs) -> anyhow::Result<()> {
    let (weights, tok) = engine::load(&a.model)?;
    let tokens = match (&a.text, &a.tokens) {
        (Some(t), _) => tok.encode(t)?,
        (None, Some(p)) => super::token_file::read_tokens(p)?,
        (None, None) => bail!("give --text or --tokens"),
    };
    if tokens.len() < 2 {
        bail!("scoring needs at least two tokens, got {}", tokens.len());
    }
    if let Some(&bad) = tokens
        .iter()
        .find(|&&t| t as usize >= weights.config.vocab_size)
    {
        bail!(
            "token id {bad} is outside the vocabulary of {}",
            weights.config.vocab_size
        );
    }
    if tokens.len() > weights.config.max_seq {
        bail!(
            "{} tokens exceed the model's max_seq {}",
            tokens.len(),
            weights.config.max_seq
        );
    }
    let (engine, numerics) = Engine::new(&a.model, &weights, &tok, tokens.len())?;
    let s = engine.score(&tokens)?;
    let report = Report {
        tokens,
        argmax: s.argmax,
        nll: s.nll,
        perplexity: s.perplexity,
        numerics,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("position  token  argmax  nll(next)");
        for i in 0..report.tokens.len() {
            let nll = report
                .nll
                .get(i)
                .map_or(String::from("-"), |v| format!("{v:.4}"));
            println!(
                "{i:8}  {:5}  {:6}  {nll}",
                report.tokens[i], report.argmax[i]
            );
        }
        println!("perplexity {:.4}", report.perplexity);
    }
    Ok(())
}
