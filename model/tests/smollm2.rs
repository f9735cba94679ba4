//! The f32 reference against the real SmolLM2-135M (rung 1 of the numeric ladder).

use hardwire_model::fixtures::smollm2_gguf_or_skip;
use hardwire_model::gguf_model::load_gguf_model;
use hardwire_model::Reference;

const PROMPT: &str = "The history of the Roman Empire";
const PROMPT_IDS: [u32; 6] = [504, 1463, 282, 260, 4469, 7057];
/// Hugging Face transformers' greedy continuation (20 new tokens).
const HF_CONTINUATION: [u32; 20] = [
    314, 1129, 6066, 618, 1876, 24429, 42, 260, 7049, 4469, 7057, 28, 260, 4469, 7057, 656, 12702,
    29465, 28, 260,
];

#[test]
fn smollm2_tokenizer_and_greedy_continuation_match_transformers() {
    let Some(path) = smollm2_gguf_or_skip("smollm2 greedy") else {
        return;
    };
    let (weights, tok) = load_gguf_model(&path, None).unwrap();
    let ids = tok.encode(PROMPT).unwrap();
    assert_eq!(ids, PROMPT_IDS);
    let r = Reference::new(&weights);
    let out = r.generate_greedy(&ids, 20, None).unwrap();
    assert_eq!(out, HF_CONTINUATION, "text: {:?}", tok.decode(&out));
    assert_eq!(
        tok.decode(&out),
        " is often divided into four eras: the Early Roman Empire, the Roman Empire under Emperor Augustus, the"
    );
}
