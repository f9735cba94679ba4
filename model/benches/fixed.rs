//! Accuracy and speed of the fixed-point golden model against the f32 reference on SmolLM2-135M
//! (figures printed, nothing asserted). Run: `cargo bench -p hardwire-model --bench fixed`.
//! `HARDWIRE_ACC_TOKENS` limits the scored tokens (default: all of the sample text).

use hardwire_model::accuracy::{
    score_f32, score_fixed, top1_agreement, CALIBRATION_TEXT, SAMPLE_TEXT,
};
use hardwire_model::fixed::{FixedModel, NumericConfig};
use hardwire_model::fixtures::smollm2_gguf;
use hardwire_model::gguf_model::load_gguf_model;
use hardwire_model::gptq::quantize_model_gptq;
use hardwire_model::quant::{
    fake_quantize, named_matrices, quantize_model, QuantPolicy, QuantSpec,
};
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
    // (name, policy, GPTQ?)
    let policies: Vec<(&str, QuantPolicy, bool)> = vec![
        (
            "8-bit per-channel",
            QuantPolicy::uniform(QuantSpec::per_channel(8)),
            false,
        ),
        (
            "8-bit group 32",
            QuantPolicy::uniform(spec(8, Some(32))),
            false,
        ),
        (
            "4-bit group 32",
            QuantPolicy::uniform(spec(4, Some(32))),
            false,
        ),
        (
            "4-bit group 32 GPTQ",
            QuantPolicy::uniform(spec(4, Some(32))),
            true,
        ),
        (
            "4-bit group 32 GPTQ, embedding at 8 (as the GGUF stores it)",
            embed8(QuantPolicy::uniform(spec(4, Some(32)))),
            true,
        ),
        (
            "4-bit group 32 affine (per-group offset)",
            QuantPolicy::uniform(QuantSpec {
                bits: 4,
                group_size: Some(32),
                offset: true,
            }),
            false,
        ),
        (
            "mixed 3/6 group 32, worst-SNR 25% at 6",
            QuantPolicy::mixed_by_sensitivity(&w, spec(3, Some(32)), spec(6, Some(32)), 0.25),
            false,
        ),
        (
            "mixed 3/6 group 32, embedding and down_proj at 6",
            mixed_36(),
            false,
        ),
        (
            "mixed 3/6 group 32 GPTQ, embedding and down_proj at 6",
            mixed_36(),
            true,
        ),
        (
            "mixed 3/6 group 32 affine, embedding and down_proj at 6",
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
            ),
            false,
        ),
    ];
    let calibration = tok.encode(CALIBRATION_TEXT).unwrap();
    let only = std::env::var("HARDWIRE_POLICY").ok();
    for (name, policy, gptq) in policies {
        if only.as_deref().is_some_and(|o| !name.starts_with(o)) {
            continue;
        }
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
