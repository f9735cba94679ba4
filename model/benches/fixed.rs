//! Accuracy and speed of the fixed-point golden model against the f32 reference on SmolLM2-135M
//! (figures printed, nothing asserted). Run: `cargo bench -p hardwire-model --bench fixed`.
//! `HARDWIRE_ACC_TOKENS` limits the scored tokens (default: all of the sample text).

use hardwire_model::accuracy::{score_f32, score_fixed, top1_agreement, SAMPLE_TEXT};
use hardwire_model::fixed::{FixedModel, NumericConfig};
use hardwire_model::fixtures::smollm2_gguf;
use hardwire_model::gguf_model::load_gguf_model;
use hardwire_model::quant::{fake_quantize, QuantPolicy, QuantSpec};
use hardwire_model::Reference;
use std::time::Instant;

fn main() {
    let Some(path) = smollm2_gguf() else {
        eprintln!("SmolLM2 GGUF not found; run scripts/fetch-smollm2.sh");
        return;
    };
    let env = |k: &str| std::env::var(k).ok().and_then(|s| s.parse::<u32>().ok());
    let layers = env("HARDWIRE_LAYERS").map(|n| n as usize);
    let (w, tok) = load_gguf_model(&path, layers).expect("load");
    let mut tokens = tok.encode(SAMPLE_TEXT).unwrap();
    if let Some(n) = std::env::var("HARDWIRE_ACC_TOKENS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
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
    let policies: Vec<(&str, QuantPolicy)> = vec![
        (
            "8-bit per-channel",
            QuantPolicy::uniform(QuantSpec::per_channel(8)),
        ),
        (
            "8-bit group 64",
            QuantPolicy::uniform(QuantSpec {
                bits: 8,
                group_size: Some(64),
            }),
        ),
        (
            "8-bit group 32",
            QuantPolicy::uniform(QuantSpec {
                bits: 8,
                group_size: Some(32),
            }),
        ),
        (
            "4-bit group 32",
            QuantPolicy::uniform(QuantSpec {
                bits: 4,
                group_size: Some(32),
            }),
        ),
        (
            "4-bit per-channel",
            QuantPolicy::uniform(QuantSpec::per_channel(4)),
        ),
        (
            "mixed 3/6 (group 32, worst 25% at 6)",
            QuantPolicy::mixed_by_sensitivity(
                &w,
                QuantSpec {
                    bits: 3,
                    group_size: Some(32),
                },
                QuantSpec {
                    bits: 6,
                    group_size: Some(32),
                },
                0.25,
            ),
        ),
    ];
    let only = std::env::var("HARDWIRE_POLICY").ok();
    for (name, policy) in policies {
        if only.as_deref().is_some_and(|o| !name.starts_with(o)) {
            continue;
        }
        let fq = fake_quantize(&w, &policy);
        let fq_score = score_f32(&Reference::new(&fq), &tokens).unwrap();
        println!(
            "{name}, weights only (f32 datapath): top-1 agreement {:.2}%, perplexity {:.3}",
            100.0 * top1_agreement(&f32_score, &fq_score),
            fq_score.perplexity
        );
        drop(fq);
        let t0 = Instant::now();
        let m = FixedModel::new(&w, &policy, numerics, tokens.len() + 8).unwrap();
        let build = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let s = score_fixed(&m, &tokens).unwrap();
        let dt = t1.elapsed().as_secs_f64();
        let worst = m
            .report
            .iter()
            .map(|r| r.snr_db)
            .fold(f64::INFINITY, f64::min);
        println!(
            "{name}: top-1 agreement {:.2}%, perplexity {:.3} ({:+.1}% vs f32), {:.1} tokens/s, build {build:.1} s, worst tensor SNR {worst:.1} dB ({numerics:?})",
            100.0 * top1_agreement(&f32_score, &s),
            s.perplexity,
            100.0 * (s.perplexity / f32_score.perplexity - 1.0),
            tokens.len() as f64 / dt,
        );
    }
}
