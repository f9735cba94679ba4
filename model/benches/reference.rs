//! Tokens per second of the f32 reference on SmolLM2-135M (figures printed, nothing asserted).
//! Run: `cargo bench -p hardwire-model --bench reference`.
//!
//! Under `cargo test` (no `--bench` argument) it is a smoke run: one round of one generated
//! token, which must be Hugging Face transformers' greedy choice (see `tests/smollm2.rs`).

use hardwire_model::fixtures::{smollm2_gguf, smollm2_gguf_or_skip};
use hardwire_model::gguf_model::load_gguf_model;
use hardwire_model::reference::argmax;
use hardwire_model::Reference;
use std::time::Instant;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` runs this with no such argument.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let path = if smoke {
        println!("smoke run (one round, one token); `cargo bench -p hardwire-model --bench reference` measures");
        smollm2_gguf_or_skip("reference bench smoke run")
    } else {
        smollm2_gguf()
    };
    let Some(path) = path else {
        eprintln!("SmolLM2 GGUF not found; run scripts/fetch-smollm2.sh");
        return;
    };
    let t0 = Instant::now();
    let (w, tok) = load_gguf_model(&path, None).expect("load");
    println!(
        "import: {:.2} s ({} parameters)",
        t0.elapsed().as_secs_f64(),
        w.num_params()
    );
    let r = Reference::new(&w);
    let prompt = tok.encode("The history of the Roman Empire").unwrap();
    let (rounds, n) = if smoke { (1, 1) } else { (2, 128) };
    for round in 0..rounds {
        let mut cache = r.new_cache();
        let t0 = Instant::now();
        let mut logits = r
            .forward(&mut cache, &prompt, false)
            .unwrap()
            .pop()
            .unwrap();
        let t_prompt = t0.elapsed().as_secs_f64();
        if smoke {
            // Transformers continues " is often divided into four eras".
            let first = tok.decode(&[argmax(&logits)]);
            assert_eq!(first, " is", "the greedy token after the prompt");
        }
        let t1 = Instant::now();
        for _ in 0..n {
            let next = argmax(&logits);
            logits = r
                .forward(&mut cache, &[next], false)
                .unwrap()
                .pop()
                .unwrap();
        }
        let dt = t1.elapsed().as_secs_f64();
        println!(
            "f32 reference, round {round}: prompt {} tokens in {:.3} s; decode {n} tokens: {:.1} tokens/s ({} threads)",
            prompt.len(),
            t_prompt,
            n as f64 / dt,
            rayon::current_num_threads()
        );
    }
}
