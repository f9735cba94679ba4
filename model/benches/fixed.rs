//! Accuracy and speed of the fixed-point golden model against the f32 reference on SmolLM2-135M
//! (figures printed, nothing asserted). Run: `cargo bench -p hardwire-model --bench fixed`.
//! `HARDWIRE_ACC_TOKENS` limits the scored tokens (default: all of the sample text);
//! `HARDWIRE_TEXT=second` scores `SECOND_SAMPLE_TEXT` instead; `HARDWIRE_POLICY` runs the
//! policies whose names start with it.
//!
//! Under `cargo test` (no `--bench` argument) it is a smoke run of the 8-bit group-32 policy
//! on the first layers and the first tokens, whose top-1 agreement with f32 is checked.

use hardwire_model::accuracy::{
    score_f32, score_fixed, top1_agreement, CALIBRATION_TEXT, SAMPLE_TEXT, SECOND_SAMPLE_TEXT,
};
use hardwire_model::fixed::{FixedModel, NumericConfig};
use hardwire_model::fixtures::{smollm2_gguf, smollm2_gguf_or_skip};
use hardwire_model::gguf_model::load_gguf_model;
use hardwire_model::gptq::quantize_model_gptq;
use hardwire_model::quant::{
    fake_quantize, named_matrices, quantize_model, QuantPolicy, QuantSpec,
};
use hardwire_model::Reference;
use std::time::Instant;

/// The smoke run: the first layers and tokens, the one policy, and the least top-1
/// agreement with f32 it must reach.
const SMOKE_LAYERS: usize = 2;
const SMOKE_TOKENS: usize = 8;
const SMOKE_POLICY: &str = "8-bit group 32";
const SMOKE_AGREEMENT: f64 = 0.75;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` runs this with no such argument.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let path = if smoke {
        println!("smoke run ({SMOKE_LAYERS} layers, {SMOKE_TOKENS} tokens, {SMOKE_POLICY}); `cargo bench -p hardwire-model --bench fixed` measures");
        smollm2_gguf_or_skip("fixed bench smoke run")
    } else {
        smollm2_gguf()
    };
    let Some(path) = path else {
        eprintln!("SmolLM2 GGUF not found; run scripts/fetch-smollm2.sh");
        return;
    };
    let env = |k: &str| std::env::var(k).ok().and_then(|s| s.parse::<u32>().ok());
    let layers = if smoke {
        Some(SMOKE_LAYERS)
    } else {
        env("HARDWIRE_LAYERS").map(|n| n as usize)
    };
    let (w, tok) = load_gguf_model(&path, layers).expect("load");
    let text = match std::env::var("HARDWIRE_TEXT").as_deref() {
        Ok("second") => SECOND_SAMPLE_TEXT,
        _ => SAMPLE_TEXT,
    };
    let mut tokens = tok.encode(text).unwrap();
    let max_tokens = if smoke {
        Some(SMOKE_TOKENS)
    } else {
        std::env::var("HARDWIRE_ACC_TOKENS")
            .ok()
            .and_then(|s| s.parse().ok())
    };
    if let Some(n) = max_tokens {
        tokens.truncate(n);
    }
    let r = Reference::new(&w);
    let f32_score = score_f32(&r, &tokens).unwrap();
    println!(
        "{} tokens; f32 reference perplexity {:.3}",
        tokens.len(),
        f32_score.perplexity
    );
    let mut numerics = NumericConfig::default();
    if let Some(b) = env("HARDWIRE_ACT_BITS") {
        numerics.act.bits = b;
    }
    if let Some(f) = env("HARDWIRE_ACT_FRAC") {
        numerics.act.frac = f;
    }
    if let Some(b) = env("HARDWIRE_RESID_BITS") {
        numerics.resid.bits = b;
    }
    if let Some(f) = env("HARDWIRE_RESID_FRAC") {
        numerics.resid.frac = f;
    }
    if let Some(a) = env("HARDWIRE_ACC_BITS") {
        numerics.acc_bits = a;
    }
    let spec = |bits, group_size| QuantSpec {
        bits,
        group_size,
        offset: false,
    };
    // Raises every matrix whose name contains one of `patterns` to `high`.
    let raise = |mut p: QuantPolicy, patterns: &[&str], high: QuantSpec| {
        for (n, _) in named_matrices(&w) {
            if patterns.iter().any(|pat| n.contains(pat)) {
                p.overrides.push((n, high));
            }
        }
        p
    };
    let embed8 = |p| raise(p, &["embed_tokens"], spec(8, Some(32)));
    let mixed_36 = || {
        raise(
            QuantPolicy::uniform(spec(3, Some(32))),
            &["embed_tokens", "down_proj"],
            spec(6, Some(32)),
        )
    };
    // (name, policy, GPTQ?); a policy is made only when it runs, since choosing one by
    // sensitivity quantises the whole model.
    type PolicyFn<'a> = Box<dyn Fn() -> QuantPolicy + 'a>;
    let policies: Vec<(&str, PolicyFn, bool)> = vec![
        (
            "8-bit per-channel",
            Box::new(|| QuantPolicy::uniform(QuantSpec::per_channel(8))),
            false,
        ),
        (
            "8-bit group 32",
            Box::new(|| QuantPolicy::uniform(spec(8, Some(32)))),
            false,
        ),
        (
            "8-bit group 32, better grid per tensor",
            Box::new(|| QuantPolicy::best_grid(&w, 8, Some(32))),
            false,
        ),
        (
            "4-bit group 32",
            Box::new(|| QuantPolicy::uniform(spec(4, Some(32)))),
            false,
        ),
        (
            "4-bit group 32, better grid per tensor",
            Box::new(|| QuantPolicy::best_grid(&w, 4, Some(32))),
            false,
        ),
        (
            "4-bit group 32 GPTQ",
            Box::new(|| QuantPolicy::uniform(spec(4, Some(32)))),
            true,
        ),
        (
            "4-bit group 32 GPTQ, embedding at 8 (as the GGUF stores it)",
            Box::new(|| embed8(QuantPolicy::uniform(spec(4, Some(32))))),
            true,
        ),
        (
            "4-bit group 32 affine (per-group offset)",
            Box::new(|| {
                QuantPolicy::uniform(QuantSpec {
                    bits: 4,
                    group_size: Some(32),
                    offset: true,
                })
            }),
            false,
        ),
        (
            "mixed 3/6 group 32, worst-SNR 25% at 6",
            Box::new(|| {
                QuantPolicy::mixed_by_sensitivity(&w, spec(3, Some(32)), spec(6, Some(32)), 0.25)
            }),
            false,
        ),
        (
            "mixed 3/6 group 32, embedding and down_proj at 6",
            Box::new(&mixed_36),
            false,
        ),
        (
            "mixed 3/6 group 32 GPTQ, embedding and down_proj at 6",
            Box::new(&mixed_36),
            true,
        ),
        (
            "mixed 3/6 group 32 affine, embedding and down_proj at 6",
            Box::new(|| {
                raise(
                    QuantPolicy::uniform(QuantSpec {
                        bits: 3,
                        group_size: Some(32),
                        offset: true,
                    }),
                    &["embed_tokens", "down_proj"],
                    QuantSpec {
                        bits: 6,
                        group_size: Some(32),
                        offset: true,
                    },
                )
            }),
            false,
        ),
    ];
    let calibration = tok.encode(CALIBRATION_TEXT).unwrap();
    let only = if smoke {
        Some(SMOKE_POLICY.to_string())
    } else {
        std::env::var("HARDWIRE_POLICY").ok()
    };
    for (name, policy, gptq) in policies {
        if only.as_deref().is_some_and(|o| !name.starts_with(o)) {
            continue;
        }
        let policy = policy();
        let t0 = Instant::now();
        let quantized = if gptq {
            quantize_model_gptq(&w, &policy, &calibration).unwrap()
        } else {
            quantize_model(&w, &policy)
        };
        let quantize_s = t0.elapsed().as_secs_f64();
        let fq = fake_quantize(&w, &quantized);
        let fq_score = score_f32(&Reference::new(&fq), &tokens).unwrap();
        println!(
            "{name}, weights only (f32 datapath): top-1 agreement {:.2}%, perplexity {:.3} ({:+.1}%); quantised in {quantize_s:.1} s",
            100.0 * top1_agreement(&f32_score, &fq_score),
            fq_score.perplexity,
            100.0 * (fq_score.perplexity / f32_score.perplexity - 1.0),
        );
        drop(fq);
        let t0 = Instant::now();
        let m = FixedModel::from_quantized(&w, &quantized, numerics, tokens.len() + 8).unwrap();
        drop(quantized);
        let build = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let s = score_fixed(&m, &tokens).unwrap();
        let dt = t1.elapsed().as_secs_f64();
        let agreement = top1_agreement(&f32_score, &s);
        if smoke {
            assert!(
                agreement >= SMOKE_AGREEMENT,
                "{name}: top-1 agreement with f32 {agreement} on the smoke run"
            );
        }
        let worst = m
            .report
            .iter()
            .map(|r| r.snr_db)
            .fold(f64::INFINITY, f64::min);
        println!(
            "{name}: top-1 agreement {:.2}%, perplexity {:.3} ({:+.1}% vs f32), {:.1} tokens/s, build {build:.1} s, worst tensor SNR {worst:.1} dB ({numerics:?})",
            100.0 * agreement,
            s.perplexity,
            100.0 * (s.perplexity / f32_score.perplexity - 1.0),
            tokens.len() as f64 / dt,
        );
    }
}
