//! The core on the real SmolLM2-135M, reduced to two layers, with 4-bit weights and with a mixed
//! 3/6-bit policy chosen by each tensor's measured cost: the native cycle simulation generates
//! the golden model's tokens, each in the predicted cycles.

use std::time::Instant;

use hardwire::blocks::LlamaCore;
use hardwire::hdl::prelude::*;
use hardwire::model::accuracy::CALIBRATION_TEXT;
use hardwire::model::fixed::{FixedModel, NumericConfig};
use hardwire::model::fixtures::smollm2_gguf_or_skip;
use hardwire::model::gguf_model::load_gguf_model;
use hardwire::model::quant::{average_bits, quantize_model, QuantPolicy, QuantSpec};
use hardwire::model::sensitivity::{choose, costs_at_low};
use hardwire::report::DesignReport;
use hardwire::sim::cosim::Recorder;
use hardwire::token_stream::run_prompt;

#[test]
fn smollm2_two_layers_at_4_bits_generates_the_golden_tokens() {
    let Some(path) = smollm2_gguf_or_skip("smollm2 core") else {
        return;
    };
    let (weights, tok) = load_gguf_model(&path, None).unwrap();
    let weights = weights.reduce_layers(2).unwrap();
    let policy = QuantPolicy::uniform(QuantSpec {
        bits: 4,
        group_size: Some(32),
        offset: true,
    });
    let model = FixedModel::new(&weights, &policy, NumericConfig::default(), 16).unwrap();
    let prompt = tok.encode("The history of the Roman Empire").unwrap();
    let golden = model.generate_greedy(&prompt, 8, None).unwrap();

    let t = Instant::now();
    let core = LlamaCore::from_model(&model, 16384, 2 * 16384);
    let design = Design::elaborate(&core).unwrap_or_else(|e| panic!("{e}"));
    let elaborated = t.elapsed();
    let mut bench = Recorder::new(&design, 2).unwrap().recording(false);
    let t = Instant::now();
    let run = run_prompt(&mut bench, &prompt, 8, 10_000_000, |_| {}).unwrap();
    let seconds = t.elapsed().as_secs_f64();
    assert_eq!(run.tokens, golden, "text {:?}", tok.decode(&run.tokens));
    let measured = run.cycles_per_token();
    for (pos, &cycles) in measured.iter().enumerate() {
        assert_eq!(
            cycles,
            core.cycles_per_token(pos),
            "cycles of the token at {pos}"
        );
    }
    eprintln!("{}", DesignReport::new(&core, &design, 0));
    eprintln!(
        "{:?}: {} cycles for {} tokens ({}..{} per token), {:.0} simulated cycles/s; \
         elaborated in {:.1} s, simulated in {:.1} s",
        tok.decode(&run.tokens),
        run.cycles,
        prompt.len() + golden.len(),
        measured.iter().min().unwrap(),
        measured.iter().max().unwrap(),
        run.cycles as f64 / seconds,
        elaborated.as_secs_f64(),
        seconds
    );
}

/// The mixed 3/6 policy `--mixed 3/6 --offset --avg-bits 4.0` chooses (the cost of leaving each
/// tensor at 3 bits measured on the loss, a knapsack under 4.0 bits per weight) runs in hardware
/// bit for bit, and its ROMs hold fewer bits than the 4-bit core's.
#[test]
fn smollm2_two_layers_at_mixed_3_6_generates_the_golden_tokens() {
    let Some(path) = smollm2_gguf_or_skip("smollm2 mixed core") else {
        return;
    };
    let (weights, tok) = load_gguf_model(&path, None).unwrap();
    let weights = weights.reduce_layers(2).unwrap();
    let spec = |bits| QuantSpec {
        bits,
        group_size: Some(32),
        offset: true,
    };
    let calibration = tok.encode(CALIBRATION_TEXT).unwrap();
    let low = quantize_model(&weights, &QuantPolicy::uniform(spec(3)));
    let high = quantize_model(&weights, &QuantPolicy::uniform(spec(6)));
    let costs = costs_at_low(&weights, &low, &high, &calibration[..128], |_, _| {}).unwrap();
    let policy = choose(&costs, spec(3), spec(6), 4.0);
    let quantized = quantize_model(&weights, &policy);
    let (avg, _) = average_bits(&quantized, 16);
    assert!(
        !policy.overrides.is_empty() && avg <= 4.0 && avg > 3.0,
        "{policy:?}: {avg} bits"
    );
    let model =
        FixedModel::from_quantized(&weights, &quantized, NumericConfig::default(), 16).unwrap();
    let prompt = tok.encode("The history of the Roman Empire").unwrap();
    let golden = model.generate_greedy(&prompt, 4, None).unwrap();
    let core = LlamaCore::from_model(&model, 16384, 2 * 16384);
    let design = Design::elaborate(&core).unwrap_or_else(|e| panic!("{e}"));
    let mut bench = Recorder::new(&design, 2).unwrap().recording(false);
    let run = run_prompt(&mut bench, &prompt, 4, 10_000_000, |_| {}).unwrap();
    assert_eq!(run.tokens, golden, "text {:?}", tok.decode(&run.tokens));
    for (pos, &cycles) in run.cycles_per_token().iter().enumerate() {
        assert_eq!(cycles, core.cycles_per_token(pos), "cycles at {pos}");
    }
    let mixed = DesignReport::new(&core, &design, 0);

    let four = FixedModel::new(
        &weights,
        &QuantPolicy::uniform(spec(4)),
        NumericConfig::default(),
        16,
    )
    .unwrap();
    let four_core = LlamaCore::from_model(&four, 16384, 2 * 16384);
    let four_design = Design::elaborate(&four_core).unwrap_or_else(|e| panic!("{e}"));
    let four = DesignReport::new(&four_core, &four_design, 0);
    let (m, f) = (mixed.total.rom_bits, four.total.rom_bits);
    eprintln!(
        "mixed 3/6 at {avg:.3} bits ({} of {} tensors at 6): ROM {m} bits ({} of them padding)          against {f} at 4 bits, {:+.1}%",
        policy.overrides.len(),
        quantized.len(),
        mixed.weight_padding_bits,
        100.0 * (m as f64 / f as f64 - 1.0)
    );
    assert!(m < f, "mixed ROM {m} bits, 4-bit {f}");
}

/// All 30 layers (reuse 16384, the LM head at 30 times that): the golden model's first four
/// tokens after a three-token prompt, each in the predicted cycles (about 2.5 M per token).
#[test]
fn smollm2_all_layers_generate_the_first_four_golden_tokens() {
    let Some(path) = smollm2_gguf_or_skip("smollm2 full core") else {
        return;
    };
    let (weights, tok) = load_gguf_model(&path, None).unwrap();
    let policy = QuantPolicy::uniform(QuantSpec {
        bits: 4,
        group_size: Some(32),
        offset: true,
    });
    let model = FixedModel::new(&weights, &policy, NumericConfig::default(), 8).unwrap();
    let prompt = tok.encode("The history of").unwrap();
    let golden = model.generate_greedy(&prompt, 4, None).unwrap();
    let core = LlamaCore::from_model(&model, 16384, 30 * 16384);
    let design = Design::elaborate(&core).unwrap_or_else(|e| panic!("{e}"));
    let mut bench = Recorder::new(&design, 2).unwrap().recording(false);
    let t = Instant::now();
    let run = run_prompt(&mut bench, &prompt, 4, 20_000_000, |_| {}).unwrap();
    let seconds = t.elapsed().as_secs_f64();
    assert_eq!(run.tokens, golden, "text {:?}", tok.decode(&run.tokens));
    for (pos, &cycles) in run.cycles_per_token().iter().enumerate() {
        assert_eq!(
            cycles,
            core.cycles_per_token(pos),
            "cycles of the token at {pos}"
        );
    }
    eprintln!(
        "{:?}: {} cycles, {:.0} simulated cycles/s",
        tok.decode(&run.tokens),
        run.cycles,
        run.cycles as f64 / seconds
    );
}
