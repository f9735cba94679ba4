//! What `rtl` and `sim` share: the model in fixed point and the core built from it.

use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use hardwire_hdl::ir::Design;
use hardwire_model::fixed::FixedModel;
use hardwire_model::Tokenizer;

use super::model_source::{self, Source};
use super::{engine, flags, ModelArgs};
use hardwire::blocks::LlamaCore;

/// How the hardware is shaped.
#[derive(Args, Clone)]
#[command(allow_negative_numbers = true)]
pub struct HardwareArgs {
    /// Times each weight multiplier is used per matrix-vector product in the decoder: 1
    /// hardwires every weight into logic; N > 1 keeps weights in ROMs feeding
    /// ceil(rows * cols / N) multiply-accumulate lanes per matrix.
    #[arg(long, default_value_t = 1024, value_parser = flags::positive)]
    pub reuse: usize,
    /// Reuse factor of the LM head (default: --reuse times the layer count, so the head takes
    /// about as long per token as one decoder matrix over all layers).
    #[arg(long, value_parser = flags::positive)]
    pub lm_head_reuse: Option<usize>,
    /// Multiply-accumulate lanes of attention's score and weighted-sum loops (a power of two
    /// dividing the head size): each reads that many elements of a head per cycle.
    #[arg(long, default_value_t = 1, value_parser = flags::positive)]
    pub attention_lanes: usize,
    /// KV-cache depth in positions (at most the model's max_seq).
    #[arg(long, default_value_t = 64, value_parser = flags::positive)]
    pub max_seq: usize,
}

impl HardwareArgs {
    /// The LM head's reuse factor beside a decoder reuse factor of `reuse`.
    pub fn lm_head_reuse_for(&self, reuse: usize, layers: usize) -> usize {
        // Saturating: a reuse beyond a matrix's weight count already means one lane.
        (self.lm_head_reuse).unwrap_or(reuse.saturating_mul(layers.max(1)))
    }
}

/// A core ready to elaborate, with its golden model and tokenizer.
pub struct Built {
    /// The fixed-point golden model the hardware matches.
    pub model: FixedModel,
    /// The hardware.
    pub core: LlamaCore,
    /// The model's tokenizer.
    pub tokenizer: Tokenizer,
}

/// Loads and quantises the model and shapes its hardware, telling stderr how it goes.
pub fn build(m: &ModelArgs, h: &HardwareArgs) -> anyhow::Result<Built> {
    let t = Instant::now();
    let source = model_source::open(m)?;
    let config = match &source {
        Source::Loaded(w, _) => &w.config,
        Source::Streamed { config, .. } => config,
    };
    if h.max_seq > config.max_seq {
        bail!(
            "--max-seq {} is more than the model's max_seq {}",
            h.max_seq,
            config.max_seq
        );
    }
    // The datapath flags are checked together before any quantising.
    engine::datapath(m)?;
    eprintln!(
        "opened {} ({} layers) in {:.1} s; quantising",
        m.model,
        config.num_hidden_layers,
        t.elapsed().as_secs_f64()
    );
    let (model, tokenizer) = match source {
        Source::Loaded(weights, tokenizer) => (
            engine::loaded_golden(m, &weights, &tokenizer, h.max_seq)?.0,
            tokenizer,
        ),
        Source::Streamed {
            config,
            tensors,
            tokenizer,
        } => (
            engine::streamed_golden(m, &config, &tensors, h.max_seq)?.0,
            tokenizer,
        ),
    };
    let layers = model.layers.len();
    let core = LlamaCore::from_model(&model, h.reuse, h.lm_head_reuse_for(h.reuse, layers))
        .with_attention_lanes(h.attention_lanes);
    Ok(Built {
        model,
        core,
        tokenizer,
    })
}

/// Elaborates the core (checks and optimisation passes included), timing it on stderr.
pub fn elaborate(core: &LlamaCore) -> anyhow::Result<Design> {
    let t = Instant::now();
    eprintln!("elaborating the core");
    let design = Design::elaborate(core)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("the generated core did not elaborate")?;
    eprintln!(
        "elaborated {} modules in {:.1} s",
        design.modules.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(design)
}
