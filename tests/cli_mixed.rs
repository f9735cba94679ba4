//! The hardware commands with the precision options the README documents: `--mixed 3/6` (layers
//! whose matrices differ in width, on the one decoder engine), `--gptq` (calibrated on text
//! longer than the tiny model's context) and `--awq`, run through the real `hardwire` binary.
//! The simulated core must generate the golden model's tokens in the predicted cycles, and with
//! `--gptq` or `--awq` the same tokens `generate --numerics fixed` gives with the same flag.

mod cli;

use cli::Scratch;
use serde_json::Value;
use std::path::Path;

/// Runs `hardwire args…`, insisting on success; returns stdout.
fn hardwire(args: &[&str]) -> String {
    cli::hardwire(Path::new(env!("CARGO_TARGET_TMPDIR")), args)
        .ok()
        .stdout
        .clone()
}

/// `sim --json` with `args`: the report, after checking it matches the golden model in the
/// predicted cycles.
fn sim(args: &[&str]) -> Value {
    let mut all = vec!["sim", "--model", "tiny", "--prompt", "hi"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--max-new-tokens", "4", "--json"]);
    let report: Value = serde_json::from_str(&hardwire(&all)).expect("a JSON report");
    assert_eq!(report["matches_golden"], true, "{report:#}");
    assert_eq!(report["generated_ids"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        report["cycles_per_token"], report["cycles_per_token_predicted"],
        "{report:#}"
    );
    report
}

/// `generate --numerics fixed --json` on the tiny model with `flags`, for 4 tokens of "hi".
fn golden(flags: &[&str]) -> Value {
    let mut all = vec!["generate", "--model", "tiny", "--numerics", "fixed"];
    all.extend_from_slice(flags);
    all.extend_from_slice(&[
        "--prompt",
        "hi",
        "--max-new-tokens",
        "4",
        "--ignore-eos",
        "--json",
    ]);
    serde_json::from_str(&hardwire(&all)).expect("a JSON report")
}

#[test]
fn rtl_with_mixed_precision_writes_the_core_and_counts_its_padding() {
    let scratch = Scratch::new("cli-mixed-rtl");
    let dir = scratch.join("out");
    let out = dir.to_str().expect("a UTF-8 path");
    hardwire(&[
        "rtl", "--model", "tiny", "--mixed", "3/6", "--out", out, "--json",
    ]);
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("report.json")).expect("report.json"),
    )
    .expect("a JSON report");
    let padding = report["weight_padding_bits"]
        .as_u64()
        .expect("padding bits");
    let rom = report["total"]["rom_bits"].as_u64().expect("ROM bits");
    assert!(0 < padding && padding < rom, "padding {padding} of {rom}");
    let text = std::fs::read_to_string(dir.join("report.txt")).expect("report.txt");
    assert!(text.contains("of padding"), "{text}");
    assert!(dir.read_dir().unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".v")));
}

#[test]
fn sim_with_mixed_precision_matches_the_golden_model() {
    sim(&["--mixed", "3/6"]);
}

#[test]
fn gptq_runs_on_tiny_in_the_golden_model_and_in_hardware() {
    let report = sim(&["--gptq"]);
    let golden = golden(&["--gptq"]);
    assert_eq!(golden["gptq"], true);
    // The hardware's golden model is the one `generate` quantises the same way.
    assert_eq!(
        report["generated_ids"], golden["generated_ids"],
        "{golden:#}"
    );
    // As the issue ran it: the default 32 new tokens.
    hardwire(&[
        "generate",
        "--model",
        "tiny",
        "--numerics",
        "fixed",
        "--gptq",
        "--prompt",
        "hi",
    ]);
}

/// AWQ's scales are ordinary weights: the core built from them generates the golden model's
/// tokens, the same ones `generate --numerics fixed --awq` gives.
#[test]
fn awq_runs_on_tiny_in_the_golden_model_and_in_hardware() {
    let flags = ["--awq", "--weight-bits", "3", "--offset"];
    let report = sim(&flags);
    let golden = golden(&flags);
    assert_eq!(golden["awq"], true, "{golden:#}");
    assert_eq!(
        report["generated_ids"], golden["generated_ids"],
        "{golden:#}"
    );
}

/// The explorer on the tiny model: a mixed policy chosen by measured cost under 4.0 bits, its
/// report directory (policy, Pareto table and plot), and that policy run in hardware through
/// `--policy`, bit for bit with the golden model.
#[test]
fn quantize_explores_and_its_policy_runs_in_hardware() {
    let scratch = Scratch::new("cli-quantize");
    let dir = scratch.join("report");
    let out = dir.to_str().expect("a UTF-8 path");
    let report: Value = serde_json::from_str(&hardwire(&[
        "quantize",
        "--model",
        "tiny",
        "--mixed",
        "3/6",
        "--offset",
        "--avg-bits",
        "4.0",
        "--report",
        out,
        "--json",
    ]))
    .expect("a JSON report");
    let avg = report["chosen"]["avg_bits"].as_f64().expect("average bits");
    assert!(3.0 < avg && avg <= 4.0, "{avg}");
    assert!(report["chosen"]["stored_bits"].as_f64().unwrap() > avg);
    assert_eq!(report["chosen"]["datapath"], "golden");
    let tensors = report["tensors"].as_array().expect("tensors");
    assert_eq!(tensors.len(), 16);
    assert!(
        tensors.iter().all(|t| t["cost_at_low"].is_f64()),
        "{tensors:?}"
    );
    let ladder = report["ladder"].as_array().expect("a ladder");
    assert!(ladder.len() >= 5, "{ladder:?}");
    let svg = std::fs::read_to_string(dir.join("pareto.svg")).expect("pareto.svg");
    assert_eq!(svg.matches("<circle").count(), ladder.len() + 1);
    let table = std::fs::read_to_string(dir.join("pareto.md")).expect("pareto.md");
    assert!(
        table.contains("| chosen |") && table.contains("yes"),
        "{table}"
    );

    let policy = dir.join("policy.json");
    let policy = policy.to_str().unwrap();
    sim(&["--policy", policy]);
    // The policy file is the one the explorer measured.
    let written: Value = serde_json::from_str(&std::fs::read_to_string(policy).unwrap()).unwrap();
    assert_eq!(written, report["policy"]);

    // A policy naming a tensor the model does not have is refused by name.
    let bad = scratch.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"default":{"bits":4,"group_size":32,"offset":false},"overrides":[["model.layers.9.mlp.up_proj.weight",{"bits":6,"group_size":32,"offset":false}]]}"#,
    )
    .unwrap();
    cli::hardwire(
        Path::new(env!("CARGO_TARGET_TMPDIR")),
        &[
            "sim",
            "--model",
            "tiny",
            "--prompt",
            "hi",
            "--policy",
            bad.to_str().unwrap(),
        ],
    )
    .refused(&[
        "model.layers.9.mlp.up_proj.weight",
        "not a tensor of this model",
    ]);
}
