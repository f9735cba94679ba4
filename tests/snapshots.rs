//! Reviewed RTL snapshots of the transformer blocks at small sizes.

use hardwire::blocks::Linear;
use hardwire::hdl::prelude::*;
use hardwire::hdl::verilog::Verilog;
use hardwire::model::fixed::{FixedMatrix, PackedWeights};

fn verilog<B: Block>(block: &B) -> String {
    let design = Design::elaborate(block).unwrap_or_else(|e| panic!("{e}"));
    Verilog::from_design(&design).listing(|_| true)
}

#[test]
fn linear_2x3_two_groups() {
    let matrix = FixedMatrix {
        rows: 2,
        cols: 3,
        group_size: 2,
        weight_bits: 4,
        weights: PackedWeights::new(2, 3, &[3, -8, 1, 0, 5, -1]),
        mults: vec![300, 17, 1024, 0].into(),
        shifts: vec![6, 3],
        out_bits: 12,
        offset_mults: vec![].into(),
    };
    insta::assert_snapshot!(verilog(&Linear {
        matrix,
        input: Type::signed(8),
        acc_bits: 16,
        label: "s".into()
    }));
}

/// The top-level sequencer and the decoder's wiring to the matrix pool, of a one-layer model
/// with 8-wide hidden state (the blocks inside have their own snapshots).
#[test]
fn llama_core_sequencer_and_decoder() {
    use hardwire::blocks::LlamaCore;
    use hardwire::model::fixed::{FixedModel, NumericConfig};
    use hardwire::model::quant::{QuantPolicy, QuantSpec};
    use hardwire::model::{LlamaConfig, LlamaWeights};
    let config = LlamaConfig {
        hidden_size: 8,
        intermediate_size: 16,
        num_attention_heads: 2,
        num_key_value_heads: 1,
        num_hidden_layers: 1,
        vocab_size: 16,
        max_seq: 4,
        ..LlamaConfig::tiny()
    };
    let w = LlamaWeights::seeded(&config, 1).unwrap();
    let policy = QuantPolicy::uniform(QuantSpec {
        bits: 4,
        group_size: Some(8),
        offset: false,
    });
    let model = FixedModel::new(&w, &policy, NumericConfig::tiny(), 4).unwrap();
    // Reuse 64: fewer lanes than rows, so the matrix units share a pool.
    let core = LlamaCore::from_model(&model, 64, 128);
    assert!(core.pool().is_some());
    let design = Design::elaborate(&core).unwrap_or_else(|e| panic!("{e}"));
    let text = Verilog::from_design(&design)
        .listing(|name| name.starts_with("llama_core") || name.starts_with("decoder"));
    insta::assert_snapshot!(text);
}

/// The ULX3S's pin-level top behind its PLL: the clock input named as in the constraint
/// file, the PLL's model, the reset synchroniser clocked by the domain it resets, and the
/// harness in the domain `core` (the harness has its own snapshots through its blocks).
#[test]
fn ulx3s_top_behind_a_pll() {
    use hardwire::blocks::{BoardHarness, MultiplierArray};
    use hardwire::fpga::top::{BoardTop, ClockPlan};
    use hardwire::fpga::Board;
    let array = MultiplierArray {
        weights: vec![vec![3, -7]],
        weight_bits: 4,
        ty: Type::signed(4),
        label: "snap".into(),
    };
    let top = BoardTop {
        board: Board::ulx3s(),
        plan: ClockPlan::Pll { mhz: 50.0 },
        block: BoardHarness::new(array, 8, 50_000_000).unwrap(),
    };
    let design = Design::elaborate(&top).unwrap_or_else(|e| panic!("{e}"));
    let text = Verilog::from_design(&design).listing(|name| {
        name == "ulx3s_top.v" || name.starts_with("reset_sync") || name.contains("ecp5_pll")
    });
    insta::assert_snapshot!(text);
}
