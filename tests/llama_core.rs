//! The whole core end to end: the native cycle simulation of `LlamaCore` generates the golden
//! model's tokens, each in the cycles `LlamaCore::cycles_per_token` predicts, and the exported
//! Verilog under Verilator does the same on the same cycles.

use hardwire::blocks::LlamaCore;
use hardwire::hdl::prelude::*;
use hardwire::model::fixed::{FixedModel, NumericConfig};
use hardwire::model::quant::{QuantPolicy, QuantSpec};
use hardwire::model::{LlamaConfig, LlamaWeights};
use hardwire::report::DesignReport;
use hardwire::sim::cosim::{cosimulate, require_tool, Backend, Recorder};
use hardwire::token_stream::run_prompt;

fn four_bit() -> QuantPolicy {
    QuantPolicy::uniform(QuantSpec {
        bits: 4,
        group_size: Some(32),
        offset: false,
    })
}

fn tiny() -> FixedModel {
    let w = LlamaWeights::seeded(&LlamaConfig::tiny(), 0).unwrap();
    FixedModel::new(&w, &four_bit(), NumericConfig::tiny(), 64).unwrap()
}

#[test]
fn tiny_core_generates_the_golden_tokens_natively_and_under_verilator() {
    let model = tiny();
    let core = LlamaCore::from_model(&model, 1024, 2048);
    let design = Design::elaborate(&core).unwrap_or_else(|e| panic!("{e}"));
    let prompt: Vec<u32> = b"Hardwired ".iter().map(|&b| u32::from(b)).collect();
    let golden = model.generate_greedy(&prompt, 32, None).unwrap();

    let mut bench = Recorder::new(&design, 2).unwrap();
    let run = run_prompt(&mut bench, &prompt, 32, 1_000_000, |_| {}).unwrap();
    assert_eq!(run.tokens, golden);
    let measured = run.cycles_per_token();
    assert_eq!(measured.len(), prompt.len() + 31);
    for (pos, &cycles) in measured.iter().enumerate() {
        assert_eq!(
            cycles,
            core.cycles_per_token(pos),
            "cycles of the token at {pos}"
        );
    }
    let report = DesignReport::new(&core, &design, 0);
    eprintln!(
        "{report}\n{} cycles for {} tokens",
        run.cycles,
        golden.len()
    );

    if require_tool("verilator") {
        let r = cosimulate(&design, &bench.stimulus(), Backend::Verilator)
            .unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "Verilator agrees on {} cycles (build {:.1} s, cached: {})",
            r.cycles,
            r.build_time.as_secs_f64(),
            r.cached
        );
    }
}

/// The tiny model under a 3-bit base with the most sensitive quarter of its matrices at 6 bits,
/// as `--mixed 3/6` builds it: the layers' matrices differ in width, yet the one decoder engine
/// generates the golden tokens in the predicted cycles, its weight ROMs padded to the widest
/// layer and the report saying by how much.
#[test]
fn tiny_core_with_mixed_precision_generates_the_golden_tokens() {
    let w = LlamaWeights::seeded(&LlamaConfig::tiny(), 0).unwrap();
    let spec = |bits| QuantSpec {
        bits,
        group_size: Some(32),
        offset: false,
    };
    let policy = QuantPolicy::mixed_by_sensitivity(&w, spec(3), spec(6), 0.25);
    let model = FixedModel::new(&w, &policy, NumericConfig::tiny(), 64).unwrap();
    let layers = model.layers.len();
    let core = LlamaCore::from_model(&model, 1024, 1024 * layers);
    let widths = |name: &str| -> Vec<u32> {
        let (_, mv) = core
            .decoder
            .matvecs()
            .into_iter()
            .find(|(n, _)| *n == name)
            .unwrap();
        mv.matrices.iter().map(|m| m.weight_bits).collect()
    };
    let mixed: Vec<_> = ["qkv", "o_proj", "gate_up", "down"]
        .into_iter()
        .filter(|n| widths(n).iter().any(|&b| b != widths(n)[0]))
        .collect();
    assert!(
        !mixed.is_empty(),
        "no matrix differs across layers: the test would prove nothing"
    );
    let design = Design::elaborate(&core).unwrap_or_else(|e| panic!("{e}"));
    let prompt: Vec<u32> = b"Mixed ".iter().map(|&b| u32::from(b)).collect();
    let golden = model.generate_greedy(&prompt, 8, None).unwrap();
    let mut bench = Recorder::new(&design, 2).unwrap().recording(false);
    let run = run_prompt(&mut bench, &prompt, 8, 1_000_000, |_| {}).unwrap();
    assert_eq!(run.tokens, golden);
    for (pos, &cycles) in run.cycles_per_token().iter().enumerate() {
        assert_eq!(
            cycles,
            core.cycles_per_token(pos),
            "cycles of the token at {pos}"
        );
    }
    let report = DesignReport::new(&core, &design, 0);
    assert!(
        report.weight_padding_bits > 0,
        "{mixed:?} differ but nothing is padded"
    );
    assert!(report.weight_padding_bits < report.total.rom_bits);
    eprintln!("layers differ in {mixed:?}\n{report}");
}

/// A prompt with `max_new = 0` only fills the cache; `start` then begins a new conversation.
#[test]
fn tiny_core_follows_the_token_protocol() {
    let model = tiny();
    let core = LlamaCore::from_model(&model, 4096, 4096);
    let design = Design::elaborate(&core).unwrap_or_else(|e| panic!("{e}"));
    let mut bench = Recorder::new(&design, 2).unwrap().recording(false);
    // Prompt only: nothing comes out, four positions are used.
    let run = run_prompt(&mut bench, &[1, 2, 3, 4], 0, 1_000_000, |_| {}).unwrap();
    assert!(run.tokens.is_empty());
    assert_eq!(bench.get("pos").unwrap(), 4);
    // `start` clears the position: the same prompt gives the golden tokens from scratch.
    let run = run_prompt(&mut bench, &[7, 8], 3, 1_000_000, |_| {}).unwrap();
    assert_eq!(run.tokens, model.generate_greedy(&[7, 8], 3, None).unwrap());
}

/// `start` raised with the first prompt token begins a new conversation with that token.
#[test]
fn tiny_core_takes_start_with_a_token() {
    let model = tiny();
    let core = LlamaCore::from_model(&model, 4096, 4096);
    let design = Design::elaborate(&core).unwrap_or_else(|e| panic!("{e}"));
    let mut bench = Recorder::new(&design, 2).unwrap().recording(false);
    let golden = model.generate_greedy(&[42], 2, None).unwrap();
    for (name, value) in [
        ("start", 1),
        ("in_valid", 1),
        ("in_token", 42),
        ("in_last", 1),
    ] {
        bench.set(name, value).unwrap();
    }
    bench.set("max_new", 2).unwrap();
    bench.set("out_ready", 1).unwrap();
    let mut tokens = Vec::new();
    for _ in 0..4 * core.cycles_per_token(1) {
        if bench.get("in_ready").unwrap() == 0 {
            bench.set("in_valid", 0).unwrap();
        }
        if bench.get("out_valid").unwrap() == 1 {
            tokens.push(bench.get("out_token").unwrap() as u32);
        }
        bench.step();
    }
    assert_eq!(tokens, golden);
}

/// Random small models (shapes, grouped-query layouts, layers, uniform and mixed weight widths,
/// symmetric and affine grids) and every kind of weight storage: the core generates the golden tokens, in
/// the predicted cycles.
mod random_models {
    use super::*;
    use proptest::prelude::*;

    fn config(hidden: usize, heads: usize, kv_heads: usize, layers: usize) -> LlamaConfig {
        LlamaConfig {
            hidden_size: hidden,
            intermediate_size: 2 * hidden + 8,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            num_hidden_layers: layers,
            vocab_size: 40,
            max_seq: 8,
            ..LlamaConfig::tiny()
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        #[test]
        fn core_matches_golden_generation(
            (heads, kv_heads) in prop_oneof![Just((2usize, 1usize)), Just((2, 2)), Just((4, 2))],
            head_dim in prop_oneof![Just(4usize), Just(8)],
            layers in 1usize..=2,
            (bits, high) in prop_oneof![Just((4u32, 4u32)), Just((8, 8)), Just((3, 6))],
            offset in any::<bool>(),
            reuse in prop_oneof![Just(1usize), Just(8), Just(64), Just(512)],
            seed in 0u64..1000,
            prompt in prop::collection::vec(0u32..40, 1..3),
        ) {
            let c = config(heads * head_dim, heads, kv_heads, layers);
            let w = LlamaWeights::seeded(&c, seed).unwrap();
            let spec = |bits| QuantSpec { bits, group_size: Some(8), offset };
            // A mixed policy raises a quarter of the matrices, some in one layer and not in
            // another.
            let policy = if high == bits {
                QuantPolicy::uniform(spec(bits))
            } else {
                QuantPolicy::mixed_by_sensitivity(&w, spec(bits), spec(high), 0.25)
            };
            let model = FixedModel::new(&w, &policy, NumericConfig::tiny(), 8).unwrap();
            let core = LlamaCore::from_model(&model, reuse, reuse);
            let design = Design::elaborate(&core).unwrap_or_else(|e| panic!("{e}"));
            let mut bench = Recorder::new(&design, 2).unwrap().recording(false);
            let run = run_prompt(&mut bench, &prompt, 3, 1_000_000, |_| {}).unwrap();
            prop_assert_eq!(&run.tokens, &model.generate_greedy(&prompt, 3, None).unwrap());
            for (pos, &cycles) in run.cycles_per_token().iter().enumerate() {
                prop_assert_eq!(cycles, core.cycles_per_token(pos), "position {}", pos);
            }
        }
    }
}
