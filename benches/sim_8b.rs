//! Llama 3.1 8B in the native cycle simulator: `hardwire sim --model llama-3.1-8b` (the exact 8B
//! shapes with seeded 4-bit weights) on a one-word prompt, two new tokens, which must be the
//! golden model's; prints wall time, simulated cycles per second and peak RSS.
//!
//! `cargo bench --bench sim_8b [-- LAYERS]` (default 1 layer: 0.36 M cycles per token, about 5
//! minutes on 2 cores after a minute of quantising into the weight store). The units are shared
//! by the layers, so the design, and the simulator's work per cycle, do not grow with them: only
//! the ROMs deepen. All 32 layers take 3.1 M cycles per token, 10 to 15 minutes each
//! (this bench's 3-token prompt makes four of them).
//!
//! Under `cargo test` (no `--bench` argument) it is a smoke run of the same command on the
//! `tiny` preset, so the bench keeps building and its command keeps working.

use std::process::Command;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let layers = args
        .iter()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map_or("1", String::as_str);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hardwire"));
    cmd.args(["sim", "--numerics", "fixed", "--weight-bits", "4", "--json"]);
    if full {
        // Reuse sets lanes: 13 k weight multipliers in the decoder and 2 k in the head.
        cmd.args(["--model", "llama-3.1-8b", "--layers", layers]);
        cmd.args(["--reuse", "16384", "--lm-head-reuse", "262144"]);
        cmd.args(["--max-seq", "8", "--prompt", "The", "--max-new-tokens", "2"]);
        println!("hardwire sim: Llama 3.1 8B, {layers} layer(s), 4-bit weights");
    } else {
        cmd.args(["--model", "tiny", "--prompt", "hi", "--max-new-tokens", "2"]);
        println!("smoke run on the tiny preset; `cargo bench --bench sim_8b` measures the 8B");
    }
    let t = Instant::now();
    let out = cmd.output().expect("run hardwire");
    let wall = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "hardwire sim failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(
        report["matches_golden"], true,
        "the simulated tokens are the golden model's"
    );
    let gb = report["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN) / 1e9;
    println!(
        "{} prompt and {} new tokens, equal to the golden model's; {} cycles ({} per token), \
         {:.0} simulated cycles/s over {:.0} s of simulation; {wall:.0} s wall, peak RSS {gb:.2} GB",
        report["prompt_ids"].as_array().map_or(0, Vec::len),
        report["generated_ids"].as_array().map_or(0, Vec::len),
        report["cycles"],
        report["cycles_per_token"],
        report["simulated_cycles_per_second"].as_f64().unwrap_or(0.0),
        report["simulation_seconds"].as_f64().unwrap_or(0.0),
    );
}
