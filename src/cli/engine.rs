//! The two numerics behind one interface: the f32 reference and the fixed-point golden model.

use super::ModelArgs;
use anyhow::{bail, Context};
use hardwire_model::accuracy::{score_f32, score_fixed, Score, CALIBRATION_TEXT};
use hardwire_model::awq::scale_for_quantization;
use hardwire_model::fixed::{argmax, FixedKvCache, FixedModel, NumericConfig};
use hardwire_model::gptq::quantize_model_gptq;
use hardwire_model::quant::{
    named_matrices, quantize_model, QuantPolicy, QuantSpec, QuantizedMatrix,
};
use hardwire_model::sensitivity::{choose, costs_at_low, TensorCost};
use hardwire_model::store::{self, Provenance, WeightStore};
use hardwire_model::tensor_source::TensorSource;
use hardwire_model::{KvCache, LlamaConfig, LlamaWeights, Reference, Tokenizer};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// Which arithmetic runs the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Numerics {
    /// The f32 reference.
    F32,
    /// The fixed-point golden model.
    Fixed,
}

/// A ready-to-run model.
pub enum Engine<'w> {
    /// f32 reference.
    F32(Reference<'w>),
    /// Fixed-point golden model.
    Fixed(Box<FixedModel>),
}

/// What the numerics were, for reports.
#[derive(Serialize)]
pub struct NumericsReport {
    pub numerics: Numerics,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datapath: Option<NumericConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<QuantPolicy>,
    /// Whether GPTQ chose the integers (fixed numerics only).
    pub gptq: bool,
    /// Whether activation-aware scales were folded into the weights before quantising.
    pub awq: bool,
}

/// The datapath the arguments ask for.
pub fn datapath(a: &ModelArgs) -> anyhow::Result<NumericConfig> {
    let mut n = if a.model == "tiny" {
        NumericConfig::tiny()
    } else {
        NumericConfig::default()
    };
    n.act = a.act.unwrap_or(n.act);
    n.resid = a.resid.unwrap_or(n.resid);
    n.prod = a.prod.unwrap_or(n.prod);
    n.acc_bits = a.acc_bits.unwrap_or(n.acc_bits);
    // The flags' parsers checked each value; this checks them together.
    n.validate()
        .map_err(|e| anyhow::anyhow!("--act, --resid, --prod and --acc-bits: {e}"))?;
    Ok(n)
}

/// The model the flags name, loaded (`--layers`, `--seed`), with activation-aware scales
/// folded in when `--awq` asks for them. Every command that quantises loads through here.
pub fn load(a: &ModelArgs) -> anyhow::Result<(LlamaWeights, Tokenizer)> {
    let (w, tok) = super::model_source::load(&a.model, a.layers, a.seed)?;
    if !a.awq {
        return Ok((w, tok));
    }
    let grid = match (&a.policy, a.mixed) {
        (Some(path), _) => read_policy(path, &w.config)?,
        (None, Some(m)) => QuantPolicy::uniform(spec(a, m.base)),
        (None, None) if a.best_grid => {
            QuantPolicy::best_grid(&w, a.weight_bits, spec(a, a.weight_bits).group_size)
        }
        (None, None) => QuantPolicy::uniform(spec(a, a.weight_bits)),
    };
    let tokens = tok.encode(CALIBRATION_TEXT)?;
    let tokens = &tokens[..tokens.len().min(SENSITIVITY_TOKENS)];
    let t = Instant::now();
    eprintln!(
        "searching activation-aware scales for {} layers on {} calibration tokens",
        w.layers.len(),
        tokens.len()
    );
    let (scaled, sites) = scale_for_quantization(&w, |n| grid.spec_for(n), tokens)?;
    let (before, after) = sites.iter().fold((0.0, 0.0), |(b, a), s| {
        (b + s.error_unscaled, a + s.error_scaled)
    });
    eprintln!(
        "scaled {} of {} sites in {:.1} s; calibration output error {:+.1}%",
        sites.iter().filter(|s| s.alpha > 0.0).count(),
        sites.len(),
        t.elapsed().as_secs_f64(),
        100.0 * (after / before.max(f64::MIN_POSITIVE) - 1.0)
    );
    Ok((scaled, tok))
}

/// Calibration tokens the loss-measured sensitivity (`--avg-bits`) runs on: the first of the
/// built-in calibration paragraph. Each tensor costs one forward pass over them from its
/// layer on (SmolLM2-135M: about 9 minutes on 2 cores for all 211 tensors).
pub const SENSITIVITY_TOKENS: usize = 128;

/// The model's tensors quantised as the flags ask, with the policy that chose their widths.
pub struct Quantized {
    /// Width, group and grid of each tensor.
    pub policy: QuantPolicy,
    /// The tensors, in `named_matrices` order.
    pub tensors: Vec<(String, QuantizedMatrix)>,
    /// Each tensor's measured cost at the low width, when `--avg-bits` chose the policy.
    pub costs: Option<Vec<TensorCost>>,
    /// The whole model at the low and at the high width, when `--avg-bits` chose the policy
    /// (what the costs were measured on; a mixed policy's tensors are picked from them).
    pub uniform: Vec<(QuantSpec, Vec<(String, QuantizedMatrix)>)>,
}

/// Quantises `w` as the flags ask: a policy from `--policy`, from `--mixed` (with `--avg-bits`,
/// by each tensor's measured cost on the loss; without, by weight SNR) or uniform, then
/// round-to-nearest or GPTQ (`--gptq`). Every command goes through here, so the hardware
/// matches the golden model of `generate` and `score`.
pub fn quantize(a: &ModelArgs, w: &LlamaWeights, tok: &Tokenizer) -> anyhow::Result<Quantized> {
    let calibration = || tok.encode(CALIBRATION_TEXT);
    let round = |policy: &QuantPolicy| round(a, w, tok, policy);
    let mut uniform = Vec::new();
    let (policy, costs) = match (&a.policy, a.mixed, a.avg_bits) {
        (Some(path), _, _) => (read_policy(path, &w.config)?, None),
        (None, Some(m), Some(avg)) => {
            let low = spec(a, m.base);
            let tokens = calibration()?;
            let tokens = &tokens[..tokens.len().min(SENSITIVITY_TOKENS)];
            let n = named_matrices(w).len();
            eprintln!(
                "measuring the cost of leaving each of {n} tensors at {} bits rather than {}, on {} calibration tokens",
                m.base,
                m.high,
                tokens.len()
            );
            let t = Instant::now();
            let high = spec(a, m.high);
            let low_q = round(&QuantPolicy::uniform(low))?;
            let high_q = round(&QuantPolicy::uniform(high))?;
            let costs = costs_at_low(w, &low_q, &high_q, tokens, |i, n| {
                if i > 0 && (i % 20 == 0 || i == n) {
                    eprintln!("  {i}/{n} tensors, {:.0} s", t.elapsed().as_secs_f64());
                }
            })?;
            uniform = vec![(low, low_q), (high, high_q)];
            (choose(&costs, low, high, avg), Some(costs))
        }
        (None, Some(m), None) => (
            QuantPolicy::mixed_by_sensitivity(
                w,
                spec(a, m.base),
                spec(a, m.high),
                a.mixed_fraction,
            ),
            None,
        ),
        (None, None, _) if a.best_grid => (
            QuantPolicy::best_grid(w, a.weight_bits, spec(a, a.weight_bits).group_size),
            None,
        ),
        (None, None, _) => (QuantPolicy::uniform(spec(a, a.weight_bits)), None),
    };
    let tensors = match pick(w, &policy, &uniform) {
        Some(t) => t,
        None => round(&policy)?,
    };
    Ok(Quantized {
        policy,
        tensors,
        costs,
        uniform,
    })
}

/// The grid the flags give a width: `--group-size` (0: per channel) and `--offset`.
fn spec(a: &ModelArgs, bits: u32) -> QuantSpec {
    QuantSpec {
        bits,
        group_size: (a.group_size > 0).then_some(a.group_size),
        offset: a.offset,
    }
}

/// The tensors of `w` quantised by `policy`: GPTQ calibrated on the built-in paragraph
/// (`--gptq`), else round-to-nearest.
pub fn round(
    a: &ModelArgs,
    w: &LlamaWeights,
    tok: &Tokenizer,
    policy: &QuantPolicy,
) -> anyhow::Result<Vec<(String, QuantizedMatrix)>> {
    Ok(if a.gptq {
        quantize_model_gptq(w, policy, &tok.encode(CALIBRATION_TEXT)?)?
    } else {
        quantize_model(w, policy)
    })
}

/// The tensors of `policy` taken from whole-model quantisations at single specs (`uniform`),
/// if it uses no other spec. Each tensor is quantised on its own (GPTQ's Hessians come from the
/// f32 model), so this is what quantising by `policy` gives, without doing it again.
pub fn pick(
    w: &LlamaWeights,
    policy: &QuantPolicy,
    uniform: &[(QuantSpec, Vec<(String, QuantizedMatrix)>)],
) -> Option<Vec<(String, QuantizedMatrix)>> {
    named_matrices(w)
        .iter()
        .enumerate()
        .map(|(i, (n, _))| {
            let spec = policy.spec_for(n);
            uniform
                .iter()
                .find(|(s, _)| *s == spec)
                .map(|(_, q)| q[i].clone())
        })
        .collect()
}

/// A policy written by `hardwire quantize` (JSON), checked against the model: every override
/// names one of its tensors, and every width is one the hardware builds.
fn read_policy(path: &Path, config: &LlamaConfig) -> anyhow::Result<QuantPolicy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--policy: reading {}", path.display()))?;
    let p: QuantPolicy = serde_json::from_str(&text)
        .with_context(|| format!("--policy: {} is not a quantisation policy", path.display()))?;
    // The matrices: every two-dimensional tensor.
    let names = hardwire_model::weights::hf_tensor_names(config);
    for (name, spec) in std::iter::once(("default", &p.default))
        .chain(p.overrides.iter().map(|(n, s)| (n.as_str(), s)))
    {
        if name != "default" && !names.iter().any(|(n, s)| n == name && s.len() == 2) {
            bail!(
                "--policy {}: `{name}` is not a tensor of this model ({} layers)",
                path.display(),
                config.num_hidden_layers
            );
        }
        if !super::flags::WEIGHT_BITS.contains(&spec.bits) || spec.group_size == Some(0) {
            bail!(
                "--policy {}: {name} asks for {} bits in groups of {:?}; widths are 2 to 8, groups at least 1",
                path.display(),
                spec.bits,
                spec.group_size
            );
        }
    }
    Ok(p)
}

/// The golden model the flags ask for, with the policy that chose its widths: read from the
/// weight store ([`WeightStore`]) when it holds one made from the same source with the same
/// settings by this build, else made by `build` and stored, then read back from the store, so
/// that its weights are mapped either way. Every command that runs or builds the golden model
/// gets it here.
pub fn golden(
    a: &ModelArgs,
    max_seq: usize,
    build: impl FnOnce() -> anyhow::Result<(FixedModel, QuantPolicy)>,
) -> anyhow::Result<(FixedModel, QuantPolicy)> {
    let Some(store) = WeightStore::default_dir() else {
        return build();
    };
    let t = Instant::now();
    let key = store::key(&recipe(a)?);
    let (m, meta, how) = store.open_or_build(&key, max_seq, || {
        let (m, policy) = build()?;
        anyhow::Ok((m, serde_json::to_string(&policy)?))
    })?;
    let policy = serde_json::from_str(&meta)
        .with_context(|| format!("the weight store's policy for {key}"))?;
    match how {
        Provenance::Hit(p) => eprintln!(
            "read the quantised model from the weight store ({}) in {:.1} s",
            p.display(),
            t.elapsed().as_secs_f64()
        ),
        Provenance::Built(p) => eprintln!("stored the quantised model in {}", p.display()),
        Provenance::NotStored(why) => {
            eprintln!("note: the quantised model stays in memory: it was not stored ({why})")
        }
    }
    Ok((m, policy))
}

/// The golden model of weights loaded whole, quantised as the flags ask ([`quantize`]),
/// through the weight store.
pub fn loaded_golden(
    a: &ModelArgs,
    w: &LlamaWeights,
    tok: &Tokenizer,
    max_seq: usize,
) -> anyhow::Result<(FixedModel, QuantPolicy)> {
    let n = datapath(a)?;
    golden(a, max_seq, || {
        let q = quantize(a, w, tok)?;
        Ok((
            FixedModel::from_quantized(w, &q.tensors, n, max_seq)?,
            q.policy,
        ))
    })
}

/// The golden model of a model read tensor by tensor (never in f32), with a uniform precision
/// from the flags, through the weight store.
pub fn streamed_golden(
    a: &ModelArgs,
    config: &LlamaConfig,
    tensors: &TensorSource,
    max_seq: usize,
) -> anyhow::Result<(FixedModel, QuantPolicy)> {
    if a.mixed.is_some() || a.best_grid || a.gptq || a.awq {
        bail!("{}: --mixed, --best-grid, --gptq and --awq measure the whole model in f32; a model read tensor by tensor takes --weight-bits, --group-size and --offset, or --policy", a.model);
    }
    let n = datapath(a)?;
    golden(a, max_seq, || {
        let policy = match &a.policy {
            Some(path) => read_policy(path, config)?,
            None => QuantPolicy::uniform(spec(a, a.weight_bits)),
        };
        let t = Instant::now();
        let m = FixedModel::stream(
            config,
            &policy,
            n,
            max_seq,
            |name, shape| tensors.fetch(config, name, shape),
            |done, total| {
                if done % 20 == 0 || done == total {
                    eprintln!(
                        "  {done}/{total} tensors read and quantised, {:.0} s",
                        t.elapsed().as_secs_f64()
                    );
                }
            },
        )?;
        Ok((m, policy))
    })
}

/// What the weight store's key is made of: every flag, the source's content digest, the
/// policy file's, and the digest of this CLI's code (which turns the flags into a policy).
fn recipe(a: &ModelArgs) -> anyhow::Result<String> {
    let policy = match &a.policy {
        Some(p) => store::file_digest(p).with_context(|| format!("--policy {}", p.display()))?,
        None => String::new(),
    };
    // The numerics flag picks the engine, not the golden model: every command shares a store.
    let mut a = a.clone();
    a.numerics = Numerics::Fixed;
    Ok(format!(
        "{a:?}\nsource {}\npolicy {policy}\ncli {}",
        super::model_source::digest(&a.model)?,
        env!("HARDWIRE_CLI_SOURCE")
    ))
}

impl<'w> Engine<'w> {
    /// Builds the engine for `w`, with a KV cache of at least `max_seq` positions.
    pub fn new(
        a: &ModelArgs,
        w: &'w LlamaWeights,
        tok: &Tokenizer,
        max_seq: usize,
    ) -> anyhow::Result<(Self, NumericsReport)> {
        Ok(match a.numerics {
            Numerics::F32 => (
                Engine::F32(Reference::new(w)),
                NumericsReport {
                    numerics: a.numerics,
                    datapath: None,
                    policy: None,
                    gptq: false,
                    awq: false,
                },
            ),
            Numerics::Fixed => {
                let n = datapath(a)?;
                let (m, policy) = loaded_golden(a, w, tok, max_seq)?;
                (
                    Engine::Fixed(Box::new(m)),
                    NumericsReport {
                        numerics: a.numerics,
                        datapath: Some(n),
                        policy: Some(policy),
                        gptq: a.gptq,
                        awq: a.awq,
                    },
                )
            }
        })
    }

    /// The fixed-point engine for the model of `config` whose tensors are `tensors`, built
    /// tensor by tensor (never held in f32), with a uniform precision from the flags.
    pub fn streamed(
        a: &ModelArgs,
        config: &LlamaConfig,
        tensors: &TensorSource,
        max_seq: usize,
    ) -> anyhow::Result<(Self, NumericsReport)> {
        if a.numerics != Numerics::Fixed {
            bail!("{}: the f32 reference would hold the whole model in f32; use --numerics fixed, which streams it", a.model);
        }
        let n = datapath(a)?;
        let (m, policy) = streamed_golden(a, config, tensors, max_seq)?;
        Ok((
            Engine::Fixed(Box::new(m)),
            NumericsReport {
                numerics: a.numerics,
                datapath: Some(n),
                policy: Some(policy),
                gptq: false,
                awq: false,
            },
        ))
    }

    /// Scores a token sequence.
    pub fn score(&self, tokens: &[u32]) -> anyhow::Result<Score> {
        Ok(match self {
            Engine::F32(r) => score_f32(r, tokens)?,
            Engine::Fixed(m) => score_fixed(m, tokens)?,
        })
    }

    /// A decoding session.
    pub fn session(&self) -> Session<'_, 'w> {
        match self {
            Engine::F32(r) => Session::F32(r, r.new_cache()),
            Engine::Fixed(m) => Session::Fixed(m, m.new_cache()),
        }
    }
}

/// A decoding session: feed tokens, get the argmax of the next.
pub enum Session<'e, 'w> {
    /// f32 reference with its cache.
    F32(&'e Reference<'w>, KvCache),
    /// Fixed-point model with its cache.
    Fixed(&'e FixedModel, FixedKvCache),
}

impl Session<'_, '_> {
    /// Feeds `tokens` (at least one) and returns the greedy next token.
    pub fn feed(&mut self, tokens: &[u32]) -> anyhow::Result<u32> {
        Ok(match self {
            Session::F32(r, c) => {
                let logits = r.forward(c, tokens, false)?;
                hardwire_model::reference::argmax(logits.last().context("no tokens to feed")?)
            }
            Session::Fixed(m, c) => {
                let mut logits = Vec::new();
                for &t in tokens {
                    logits = m.step(c, t)?;
                }
                argmax(&logits) as u32
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use hardwire_model::fixed::Format;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        model: ModelArgs,
    }

    fn args(extra: &[&str]) -> ModelArgs {
        let mut v = vec!["hardwire", "--model", "tiny"];
        v.extend_from_slice(extra);
        Wrapper::parse_from(v).model
    }

    #[test]
    fn policy_and_datapath_follow_the_flags() {
        let w = LlamaWeights::seeded(&hardwire_model::LlamaConfig::tiny(), 0).unwrap();
        let tok = Tokenizer::bytes();
        let a = args(&["--weight-bits", "4", "--act", "18.10"]);
        let (p, n) = (
            quantize(&a, &w, &tok).unwrap().policy,
            datapath(&a).unwrap(),
        );
        assert_eq!(
            p.default,
            QuantSpec {
                bits: 4,
                group_size: Some(32),
                offset: false,
            }
        );
        assert_eq!(n.act, Format { bits: 18, frac: 10 });
        let p = quantize(&args(&["--mixed", "3/6", "--group-size", "0"]), &w, &tok)
            .unwrap()
            .policy;
        assert_eq!(
            p.default,
            QuantSpec {
                bits: 3,
                group_size: None,
                offset: false,
            }
        );
        assert_eq!(p.overrides.len(), 4);
        for bad in [
            ["--mixed", "3/9"],
            ["--act", "30.10"],
            ["--mixed-fraction", "NaN"],
        ] {
            let mut v = vec!["hardwire", "--model", "tiny"];
            v.extend_from_slice(&bad);
            let e = Wrapper::try_parse_from(v)
                .err()
                .expect("refused")
                .to_string();
            assert!(e.contains(bad[0]), "{e}");
        }
    }

    #[test]
    fn sessions_of_both_numerics_decode() {
        let w = LlamaWeights::seeded(&hardwire_model::LlamaConfig::tiny(), 0).unwrap();
        let tok = Tokenizer::bytes();
        for numerics in ["f32", "fixed"] {
            let a = args(&["--numerics", numerics, "--resid", "20.14"]);
            let (e, _) = Engine::new(&a, &w, &tok, 16).unwrap();
            let mut s = e.session();
            let next = s.feed(&[1, 2, 3]).unwrap();
            assert!(next < 256);
            let score = e.score(&[1, 2, 3, 4]).unwrap();
            assert_eq!(score.nll.len(), 3);
        }
    }
}
