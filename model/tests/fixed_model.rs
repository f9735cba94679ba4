//! The fixed-point decoder against the f32 reference on the tiny seeded model.

use hardwire_model::fixed::{FixedModel, NumericConfig};
use hardwire_model::quant::{fake_quantize, quantize_model, QuantPolicy, QuantSpec};
use hardwire_model::{LlamaConfig, LlamaWeights, Reference};

#[test]
fn eight_bit_logits_track_the_reference() {
    let w = LlamaWeights::seeded(&LlamaConfig::tiny(), 5).unwrap();
    // Against the reference run on the same quantised weights, what remains is the datapath's
    // error: activations, tables and roundings.
    let fq = fake_quantize(
        &w,
        &quantize_model(&w, &QuantPolicy::uniform(QuantSpec::per_channel(8))),
    );
    let r = Reference::new(&fq);
    let numerics = NumericConfig::tiny();
    let m = FixedModel::new(
        &w,
        &QuantPolicy::uniform(QuantSpec::per_channel(8)),
        numerics,
        64,
    )
    .unwrap();
    let tokens: Vec<u32> = "Hello, hardware!".bytes().map(u32::from).collect();
    let want = r.forward(&mut r.new_cache(), &tokens, true).unwrap();
    let mut cache = m.new_cache();
    for (i, &t) in tokens.iter().enumerate() {
        let got = m.logits_real(&m.step(&mut cache, t).unwrap());
        let err = got
            .iter()
            .zip(&want[i])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        let scale = want[i].iter().fold(0.0f32, |a, b| a.max(b.abs()));
        assert!(
            err < 0.01 * scale,
            "position {i}: max logit error {err} (max |logit| {scale})"
        );
    }
}

#[test]
fn greedy_tokens_of_eight_bit_fixed_match_the_reference_on_tiny() {
    let w = LlamaWeights::seeded(&LlamaConfig::tiny(), 9).unwrap();
    let numerics = NumericConfig::tiny();
    let m = FixedModel::new(
        &w,
        &QuantPolicy::uniform(QuantSpec {
            bits: 8,
            group_size: Some(32),
            offset: false,
        }),
        numerics,
        64,
    )
    .unwrap();
    let prompt: Vec<u32> = "abc".bytes().map(u32::from).collect();
    let want = Reference::new(&w)
        .generate_greedy(&prompt, 10, None)
        .unwrap();
    assert_eq!(m.generate_greedy(&prompt, 10, None).unwrap(), want);
}

/// Streaming the model tensor by tensor builds the same hardware model as quantising the whole
/// f32 model: every matrix, norm and report, and so the same tokens (untied head, grouped
/// affine 4-bit, as the 8B preset runs).
#[test]
fn streamed_model_equals_the_model_built_whole() {
    use hardwire_model::weights::{hf_tensor_names, synthetic_tensor, FetchedTensor};
    use std::path::Path;
    let config = LlamaConfig {
        tie_word_embeddings: false,
        ..LlamaConfig::tiny()
    };
    let fetch = |name: &str, shape: &[usize]| synthetic_tensor(3, name, shape);
    let whole = LlamaWeights::assemble(&config, Path::new("<synthetic>"), |name| {
        let shape = hf_tensor_names(&config)
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
            .unwrap();
        Ok(Some(FetchedTensor {
            name: name.into(),
            data: fetch(name, &shape),
            shape,
        }))
    })
    .unwrap();
    let policy = QuantPolicy::uniform(QuantSpec {
        bits: 4,
        group_size: Some(16),
        offset: true,
    });
    let numerics = NumericConfig::tiny();
    let a = FixedModel::new(&whole, &policy, numerics, 64).unwrap();
    let mut ticks = Vec::new();
    let b = FixedModel::stream(
        &config,
        &policy,
        numerics,
        64,
        |name, shape| Ok(fetch(name, shape)),
        |done, total| ticks.push((done, total)),
    )
    .unwrap();
    let n = hf_tensor_names(&config).len();
    assert_eq!(ticks, (1..=n).map(|d| (d, n)).collect::<Vec<_>>());
    assert_eq!(a.layers, b.layers);
    assert_eq!((&a.embed, &a.lm_head), (&b.embed, &b.lm_head));
    assert_eq!(a.final_norm, b.final_norm);
    assert_eq!(a.report, b.report);
    let prompt: Vec<u32> = "stream".bytes().map(u32::from).collect();
    assert_eq!(
        a.generate_greedy(&prompt, 8, None).unwrap(),
        b.generate_greedy(&prompt, 8, None).unwrap()
    );
}
