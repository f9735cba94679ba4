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
