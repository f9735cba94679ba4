//! The fixed-point golden model on the real SmolLM2-135M (rung 2 of the numeric ladder): with
//! 8-bit group-32 weights it must pick the f32 reference's token almost everywhere. Catches
//! datapath faults that only real magnitudes reveal (the residual stream reaches ~30000).

use hardwire_model::accuracy::{score_f32, score_fixed, top1_agreement, SAMPLE_TEXT};
use hardwire_model::fixed::{FixedModel, NumericConfig};
use hardwire_model::fixtures::smollm2_gguf_or_skip;
use hardwire_model::gguf_model::load_gguf_model;
use hardwire_model::quant::{QuantPolicy, QuantSpec};
use hardwire_model::Reference;

#[test]
fn eight_bit_fixed_point_agrees_with_f32_on_smollm2() {
    let Some(path) = smollm2_gguf_or_skip("smollm2 fixed point") else {
        return;
    };
    let (w, tok) = load_gguf_model(&path, None).unwrap();
    let mut tokens = tok.encode(SAMPLE_TEXT).unwrap();
    tokens.truncate(48);
    let policy = QuantPolicy::uniform(QuantSpec {
        bits: 8,
        group_size: Some(32),
        offset: false,
    });
    let m = FixedModel::new(&w, &policy, NumericConfig::default(), tokens.len()).unwrap();
    let f = score_f32(&Reference::new(&w), &tokens).unwrap();
    let x = score_fixed(&m, &tokens).unwrap();
    let agreement = top1_agreement(&f, &x);
    assert!(agreement >= 0.95, "top-1 agreement {agreement}");
    assert!(
        (x.perplexity / f.perplexity - 1.0).abs() < 0.03,
        "perplexity {} vs f32 {}",
        x.perplexity,
        f.perplexity
    );
}
