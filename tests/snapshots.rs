//! Reviewed RTL snapshots of the transformer blocks at small sizes.

use hardwire::blocks::Linear;
use hardwire::hdl::prelude::*;
use hardwire::hdl::verilog::Verilog;
use hardwire::model::fixed::FixedMatrix;

fn verilog<B: Block>(block: &B) -> String {
    let design = Design::elaborate(block).unwrap_or_else(|e| panic!("{e}"));
    Verilog::from_design(&design)
        .files
        .iter()
        .map(|(name, body)| format!("==> {name} <==\n{body}"))
        .collect()
}

#[test]
fn linear_2x3_two_groups() {
    let matrix = FixedMatrix {
        rows: 2,
        cols: 3,
        group_size: 2,
        weight_bits: 4,
        weights: vec![3, -8, 1, 0, 5, -1],
        mults: vec![300, 17, 1024, 0],
        shifts: vec![6, 3],
        out_bits: 12,
        offset_mults: vec![],
    };
    insta::assert_snapshot!(verilog(&Linear {
        matrix,
        input: Type::signed(8),
        acc_bits: 16,
        label: "s".into()
    }));
}
