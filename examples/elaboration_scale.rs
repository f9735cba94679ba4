//! Times elaboration, passes and Verilog generation of a large fixed-weight array.
//! `cargo run --release --example elaboration_scale -- [ROWS] [COLS]`
use std::time::Instant;

use hardwire::blocks::MultiplierArray;
use hardwire::hdl::prelude::*;
use hardwire::hdl::verilog::Verilog;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (rows, cols) = (
        args.first().copied().unwrap_or(256),
        args.get(1).copied().unwrap_or(256),
    );
    let mut s = 1u64;
    let weights: Vec<Vec<i64>> = (0..rows)
        .map(|_| {
            (0..cols)
                .map(|_| {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((s >> 33) % 16) as i64 - 8
                })
                .collect()
        })
        .collect();
    let block = MultiplierArray {
        weights,
        weight_bits: 4,
        ty: Type::signed(8),
        label: "scale".into(),
    };
    let t = Instant::now();
    let design = Design::elaborate(&block).unwrap_or_else(|e| panic!("{e}"));
    let elaborate = t.elapsed();
    let nodes: usize = design.modules.iter().map(|m| m.nodes.len()).sum();
    let t = Instant::now();
    let v = Verilog::from_design(&design);
    let emit = t.elapsed();
    let bytes = v.total_bytes();
    println!(
        "{rows}x{cols} weights: {} modules, {nodes} nodes; elaborate + passes {:.2} s; Verilog {:.2} s ({:.1} MB)",
        design.modules.len(),
        elaborate.as_secs_f64(),
        emit.as_secs_f64(),
        bytes as f64 / 1e6
    );
}
