//! `hardwire generate`: greedy continuation of a prompt, with tokens per second.

use super::engine::Engine;
use super::model_source::{self, Source};
use super::ModelArgs;
use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;
use std::time::Instant;

/// Arguments of `hardwire generate`.
#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The prompt (no BOS token is added).
    #[arg(long)]
    prompt: String,
    /// Tokens to generate.
    #[arg(long, default_value_t = 32)]
    max_new_tokens: usize,
    /// Keep going past the end-of-sequence token.
    #[arg(long)]
    ignore_eos: bool,
    /// Print token ids and figures as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    model: &'a str,
    prompt_ids: Vec<u32>,
    generated_ids: Vec<u32>,
    text: String,
    load_seconds: f64,
    prompt_seconds: f64,
    decode_seconds: f64,
    tokens_per_second: f64,
    #[serde(flatten)]
    numerics: super::engine::NumericsReport,
}

/// Runs the command.
pub fn run(a: &GenerateArgs) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let source = model_source::open(&a.model)?;
    let (config, tok) = match &source {
        Source::Loaded(w, tok) => (&w.config, tok),
        Source::Streamed {
            config, tokenizer, ..
        } => (config, tokenizer),
    };
    let prompt_ids = tok.encode(&a.prompt)?;
    if prompt_ids.is_empty() {
        bail!("the prompt encodes to no tokens");
    }
    // Checked: a huge --max-new-tokens must not wrap past the context check.
    let max_seq = prompt_ids
        .len()
        .checked_add(a.max_new_tokens)
        .and_then(|n| n.checked_add(1))
        .filter(|&n| n <= config.max_seq)
        .with_context(|| {
            format!(
                "--max-new-tokens {}: the prompt's {} tokens and the new ones exceed the \
                 model's max_seq {}",
                a.max_new_tokens,
                prompt_ids.len(),
                config.max_seq
            )
        })?;
    let (engine, numerics) = match &source {
        Source::Loaded(w, tok) => Engine::new(&a.model, w, tok, max_seq)?,
        Source::Streamed {
            config, tensors, ..
        } => Engine::streamed(&a.model, config, tensors, max_seq)?,
    };
    let load_seconds = t0.elapsed().as_secs_f64();
    let stop = if a.ignore_eos {
        None
    } else {
        config.eos_token_id
    };
    let mut session = engine.session();
    let t1 = Instant::now();
    let mut next = session.feed(&prompt_ids)?;
    let prompt_seconds = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let mut generated = Vec::with_capacity(a.max_new_tokens);
    while generated.len() < a.max_new_tokens {
        generated.push(next);
        if Some(next) == stop || generated.len() == a.max_new_tokens {
            break;
        }
        next = session.feed(&[next])?;
    }
    // The first new token came with the prompt; the rest each took one decode step.
    let decode_seconds = t2.elapsed().as_secs_f64();
    let steps = generated.len().saturating_sub(1).max(1);
    let report = Report {
        model: &a.model.model,
        text: tok.decode(&generated),
        prompt_ids,
        generated_ids: generated,
        load_seconds,
        prompt_seconds,
        decode_seconds,
        tokens_per_second: steps as f64 / decode_seconds.max(1e-9),
        numerics,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}{}", a.prompt, report.text);
        eprintln!(
            "{} tokens, {:.1} tokens/s ({} numerics; load {:.2} s, prompt {:.3} s)",
            report.generated_ids.len(),
            report.tokens_per_second,
            serde_json::to_value(report.numerics.numerics)?
                .as_str()
                .unwrap_or("?"),
            load_seconds,
            prompt_seconds
        );
    }
    Ok(())
}
