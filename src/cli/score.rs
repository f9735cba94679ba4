//! `hardwire score`: per-position argmax, next-token negative log-likelihood and perplexity.

use super::engine::Engine;
use super::{model_source, ModelArgs};
use anyhow::{bail, Context};
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

fn read_tokens(path: &PathBuf) -> anyhow::Result<Vec<u32>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(&text)
            .with_context(|| format!("{}: not a JSON array of ids", path.display()));
    }
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u32>()
                .with_context(|| format!("{}: `{s}` is not a token id", path.display()))
        })
        .collect()
}

/// Runs the command.
pub fn run(a: &ScoreArgs) -> anyhow::Result<()> {
    let (weights, tok) = model_source::load(&a.model.model, a.model.layers, a.model.seed)?;
    let tokens = match (&a.text, &a.tokens) {
        (Some(t), _) => tok.encode(t)?,
        (None, Some(p)) => read_tokens(p)?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_and_plain_token_files() {
        let dir = std::env::temp_dir().join(format!("hardwire-cli-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (json, plain, bad) = (dir.join("a.json"), dir.join("b.txt"), dir.join("c.txt"));
        std::fs::write(&json, "[504, 1463, 282]").unwrap();
        std::fs::write(&plain, "504 1463,\n282\n").unwrap();
        std::fs::write(&bad, "504 x").unwrap();
        assert_eq!(read_tokens(&json).unwrap(), vec![504, 1463, 282]);
        assert_eq!(read_tokens(&plain).unwrap(), vec![504, 1463, 282]);
        let e = read_tokens(&bad).unwrap_err().to_string();
        assert!(e.contains("`x` is not a token id"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
