//! The two numerics behind one interface: the f32 reference and the fixed-point golden model.

use super::ModelArgs;
use anyhow::Context;
use hardwire_model::accuracy::{score_f32, score_fixed, Score, CALIBRATION_TEXT};
use hardwire_model::fixed::{argmax, FixedKvCache, FixedModel, NumericConfig};
use hardwire_model::gptq::quantize_model_gptq;
use hardwire_model::quant::{quantize_model, QuantPolicy, QuantSpec};
use hardwire_model::{KvCache, LlamaWeights, Reference, Tokenizer};
use serde::Serialize;

/// Which arithmetic runs the model.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
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
}

/// The quantisation policy and datapath the arguments ask for.
pub fn fixed_settings(
    a: &ModelArgs,
    w: &LlamaWeights,
) -> anyhow::Result<(QuantPolicy, NumericConfig)> {
    let group_size = (a.group_size > 0).then_some(a.group_size);
    let spec = |bits| QuantSpec {
        bits,
        group_size,
        offset: a.offset,
    };
    let policy = match a.mixed {
        Some(m) => {
            QuantPolicy::mixed_by_sensitivity(w, spec(m.base), spec(m.high), a.mixed_fraction)
        }
        None => QuantPolicy::uniform(spec(a.weight_bits)),
    };
    let mut n = if a.model == "tiny" {
        NumericConfig::tiny()
    } else {
        NumericConfig::default()
    };
    n.act = a.act.unwrap_or(n.act);
    n.resid = a.resid.unwrap_or(n.resid);
    n.acc_bits = a.acc_bits.unwrap_or(n.acc_bits);
    // The flags' parsers checked each value; this checks them together.
    n.validate()
        .map_err(|e| anyhow::anyhow!("--act, --resid and --acc-bits: {e}"))?;
    Ok((policy, n))
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
                },
            ),
            Numerics::Fixed => {
                let (policy, n) = fixed_settings(a, w)?;
                let quantized = if a.gptq {
                    quantize_model_gptq(w, &policy, &tok.encode(CALIBRATION_TEXT)?)?
                } else {
                    quantize_model(w, &policy)
                };
                let m = FixedModel::from_quantized(w, &quantized, n, max_seq)?;
                (
                    Engine::Fixed(Box::new(m)),
                    NumericsReport {
                        numerics: a.numerics,
                        datapath: Some(n),
                        policy: Some(policy),
                        gptq: a.gptq,
                    },
                )
            }
        })
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
    fn fixed_settings_follow_the_flags() {
        let w = LlamaWeights::seeded(&hardwire_model::LlamaConfig::tiny(), 0).unwrap();
        let (p, n) = fixed_settings(&args(&["--weight-bits", "4", "--act", "18.10"]), &w).unwrap();
        assert_eq!(
            p.default,
            QuantSpec {
                bits: 4,
                group_size: Some(32),
                offset: false,
            }
        );
        assert_eq!(n.act, Format { bits: 18, frac: 10 });
        let (p, _) = fixed_settings(&args(&["--mixed", "3/6", "--group-size", "0"]), &w).unwrap();
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
