//! Decode speed on SmolLM2-135M, side by side on one machine in one run: the f32 reference, the
//! fixed-point golden model at 8 and at 4 bits, and Hugging Face transformers in f32 when its
//! Python environment is there (`scripts/hf-decode-speed.py`; `HARDWIRE_HF_PYTHON` names the
//! interpreter, default `python3`). Rounds are interleaved (every engine once per round) and
//! each engine's median is reported, with its ratio to transformers.
//!
//! Run: `cargo bench -p hardwire-model --bench decode` (2 threads: `RAYON_NUM_THREADS=2`).
//!
//! Under `cargo test` (no `--bench` argument) it is a smoke run: one round of one generated
//! token per engine, where the f32 reference's must be transformers' greedy choice (see
//! `tests/smollm2.rs`) and the golden models' tokens come out of the same prompt.

use hardwire_model::fixed::{argmax as argmax_fixed, FixedModel, NumericConfig};
use hardwire_model::fixtures::{smollm2_gguf, smollm2_gguf_or_skip};
use hardwire_model::gguf_model::load_gguf_model;
use hardwire_model::quant::{QuantPolicy, QuantSpec};
use hardwire_model::reference::argmax;
use hardwire_model::Reference;
use std::process::Command;
use std::time::Instant;

const PROMPT: &str = "The history of the Roman Empire";

/// What each engine decodes with: `decode(n)` feeds the prompt, then times `n` single-token
/// steps and returns tokens per second and the first new token.
type Engine<'a> = (&'a str, Box<dyn Fn(usize) -> (f64, u32) + 'a>);

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` runs this with no such argument.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let path = if smoke {
        println!("smoke run (one round, one token); `cargo bench -p hardwire-model --bench decode` measures");
        smollm2_gguf_or_skip("decode bench smoke run")
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
    let prompt = tok.encode(PROMPT).unwrap();
    let r = Reference::new(&w);
    let golden = |spec: QuantSpec| {
        let t = Instant::now();
        let m = FixedModel::new(
            &w,
            &QuantPolicy::uniform(spec),
            NumericConfig::default(),
            prompt.len() + 130,
        )
        .unwrap();
        println!("{spec:?}: built in {:.1} s", t.elapsed().as_secs_f64());
        m
    };
    let g8 = golden(QuantSpec::grouped(8, 32));
    let g4 = golden(QuantSpec {
        offset: true,
        ..QuantSpec::grouped(4, 32)
    });
    let fixed = |m: &FixedModel, n: usize| {
        let mut cache = m.new_cache();
        let mut logits = Vec::new();
        for &t in &prompt {
            logits = m.step(&mut cache, t).unwrap();
        }
        let first = argmax_fixed(&logits) as u32;
        let mut next = first;
        let t = Instant::now();
        for _ in 0..n {
            next = argmax_fixed(&m.step(&mut cache, next).unwrap()) as u32;
        }
        (n as f64 / t.elapsed().as_secs_f64(), first)
    };
    let engines: Vec<Engine> = vec![
        (
            "f32 reference",
            Box::new(|n| {
                let mut cache = r.new_cache();
                let last = |l: Vec<Vec<f32>>| argmax(l.last().unwrap());
                let first = last(r.forward(&mut cache, &prompt, false).unwrap());
                let mut next = first;
                let t = Instant::now();
                for _ in 0..n {
                    next = last(r.forward(&mut cache, &[next], false).unwrap());
                }
                (n as f64 / t.elapsed().as_secs_f64(), first)
            }),
        ),
        ("golden 8-bit g32", Box::new(|n| fixed(&g8, n))),
        ("golden 4-bit affine g32", Box::new(|n| fixed(&g4, n))),
    ];
    let (rounds, n) = if smoke { (1, 1) } else { (3, 128) };
    let hf = !smoke;
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); engines.len() + 1];
    let mut hf_note = None;
    for round in 0..rounds {
        for (i, (name, decode)) in engines.iter().enumerate() {
            let (rate, first) = decode(n);
            if smoke && i == 0 {
                // Transformers continues " is often divided into four eras".
                assert_eq!(
                    tok.decode(&[first]),
                    " is",
                    "the greedy token after the prompt"
                );
            }
            println!("round {round}: {name}: {rate:.1} tokens/s");
            rates[i].push(rate);
        }
        if hf {
            match transformers(path.to_str().unwrap(), n) {
                Ok(rate) => {
                    println!("round {round}: transformers f32: {rate:.1} tokens/s");
                    rates[engines.len()].push(rate);
                }
                Err(e) => hf_note = Some(e),
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let hf_rate = median(&mut rates[engines.len()]);
    println!(
        "\nmedian of {rounds} interleaved rounds, {n} decode steps, {} threads:",
        rayon::current_num_threads()
    );
    for (i, (name, _)) in engines.iter().enumerate() {
        let rate = median(&mut rates[i]).unwrap();
        match hf_rate {
            Some(h) => println!(
                "  {name:<24} {rate:>7.1} tokens/s  {:.2}× transformers",
                rate / h
            ),
            None => println!("  {name:<24} {rate:>7.1} tokens/s"),
        }
    }
    match (hf_rate, hf_note) {
        (Some(h), _) => println!("  {:<24} {h:>7.1} tokens/s", "transformers f32"),
        (None, Some(e)) => println!(
            "  transformers not measured ({e}); model/README.md states the last side-by-side figures"
        ),
        (None, None) => {}
    }
}

/// Transformers' f32 decode rate from `scripts/hf-decode-speed.py`, or why there is none.
fn transformers(gguf: &str, n: usize) -> Result<f64, String> {
    let python = std::env::var("HARDWIRE_HF_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/hf-decode-speed.py");
    let threads = rayon::current_num_threads().to_string();
    let out = Command::new(&python)
        .args([script, "--gguf", gguf, "--threads", &threads])
        .args(["--new-tokens", &n.to_string(), "--prompt", PROMPT])
        .output()
        .map_err(|e| format!("{python}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(err.lines().last().unwrap_or("failed").trim().to_string());
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.trim()).map_err(|e| e.to_string())?;
    v["decode_tokens_per_s"]
        .as_f64()
        .ok_or_else(|| format!("no decode_tokens_per_s in {line}"))
}
