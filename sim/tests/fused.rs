//! The shapes the peephole fusion folds (fields of a bus read as signed, extensions,
//! constant shifts, adds and subtracts, truncations) as the hdl's own passes produce them,
//! checked against the reference interpreter: constant-weight dot products of random
//! widths, signedness and weights, and hand-built chains with overflowing shifts.

mod common;

use common::{single, Mb};
use hardwire_hdl::ir::{BinaryOp, Type};
use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::{ConstMul, FixedWeightDot};
use hardwire_sim::{Reference, Simulator};
use proptest::prelude::*;

fn compare_outputs(
    design: &Design,
    inputs: &[(String, u32)],
    rounds: &[Vec<u64>],
    cycles_per_round: usize,
) {
    let mut sim = Simulator::new(design).unwrap();
    let mut reference = Reference::new(design);
    let outputs: Vec<String> = design
        .top_module()
        .outputs()
        .map(|p| p.name.clone())
        .collect();
    for (r, values) in rounds.iter().enumerate() {
        for ((name, w), v) in inputs.iter().zip(values) {
            let b = Bits::from_words(&[*v, v.rotate_left(17), v.rotate_left(33)], *w);
            sim.poke_bits(name, &b).unwrap();
            reference.poke(name, &b).unwrap();
        }
        for _ in 0..cycles_per_round {
            for o in &outputs {
                assert_eq!(
                    sim.peek_bits(o).unwrap(),
                    reference.peek(o).unwrap(),
                    "{o} in round {r}"
                );
            }
            sim.step();
            reference.step();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn dot_products_match_reference(
        weights in prop::collection::vec(-128i64..128, 1..12),
        weight_bits in 2u32..9,
        width in 2u32..20,
        rounds in prop::collection::vec(prop::collection::vec(any::<u64>(), 2), 1..6),
    ) {
        let limit = 1i64 << (weight_bits - 1);
        let weights: Vec<i64> = weights.iter().map(|w| w.rem_euclid(2 * limit) - limit).collect();
        let n = weights.len() as u32;
        let dot = FixedWeightDot { weights, weight_bits, ty: Type::signed(width), label: "p".into() };
        let design = Design::elaborate(&dot).unwrap();
        let inputs = vec![("x".to_string(), n * width), ("in_valid".to_string(), 1)];
        compare_outputs(&design, &inputs, &rounds, 3);
    }

    #[test]
    fn constant_multipliers_match_reference(
        constant in any::<i32>(),
        width in 1u32..40,
        signed in any::<bool>(),
        rounds in prop::collection::vec(prop::collection::vec(any::<u64>(), 1), 1..8),
    ) {
        let constant = if signed { i64::from(constant) } else { i64::from(constant).abs() };
        let ty = Type { width, signed };
        let design = Design::elaborate(&ConstMul { ty, constant }).unwrap();
        compare_outputs(&design, &[("x".to_string(), width)], &rounds, 1);
    }

    /// Chains the fusion reads through, with shifts that overflow the width they are
    /// computed at and truncations of sums, which a fused instruction must still honour.
    #[test]
    fn shift_add_chains_match_reference(
        signed in any::<bool>(),
        bus_width in 8u32..130,
        fields in prop::collection::vec((any::<u32>(), 1u32..20, 0u32..24, 0u32..30, any::<bool>()), 2..6),
        rounds in prop::collection::vec(prop::collection::vec(any::<u64>(), 1), 1..6),
    ) {
        let mut m = Mb::new("chains", false);
        let bus = m.input("bus", Type::unsigned(bus_width));
        let mut terms = Vec::new();
        for (lo, fw, grow, k, sub) in &fields {
            let fw = (*fw).min(bus_width);
            let lo = lo % (bus_width - fw + 1);
            let field = m.slice(bus, lo, fw);
            let field = m.cast(field, signed);
            let wide = m.resize(field, fw + grow);
            let amount = m.konst(i128::from(*k), Type::unsigned(5));
            let shifted = m.bin(BinaryOp::Shl, wide, amount);
            terms.push((shifted, *sub));
        }
        let mut acc = terms[0].0;
        for (i, (t, sub)) in terms[1..].iter().enumerate() {
            let op = if *sub { BinaryOp::Sub } else { BinaryOp::Add };
            let s = m.bin(op, acc, *t);
            // Alternate truncating and keeping the sums.
            let w = m.ty(s).width;
            acc = if i % 2 == 0 { m.resize(s, w.saturating_sub(2).max(1)) } else { s };
        }
        m.output("y", acc);
        let design = single(m);
        compare_outputs(&design, &[("bus".to_string(), bus_width)], &rounds, 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Products of fields (a weight unpacked from a ROM word times an activation), read
    /// through the views the fused multiply folds: a field cast to either sign, widened,
    /// shifted by a constant, and the product kept whole or truncated.
    #[test]
    fn products_of_fields_match_reference(
        signed in any::<bool>(),
        bus_width in 8u32..130,
        a in (any::<u32>(), 1u32..20, 0u32..6, 0u32..8),
        b in (any::<u32>(), 1u32..24, 0u32..6, 0u32..8),
        truncate in 0u32..20,
        rounds in prop::collection::vec(prop::collection::vec(any::<u64>(), 2), 1..6),
    ) {
        let mut m = Mb::new("products", false);
        let bus = m.input("bus", Type::unsigned(bus_width));
        let x = m.input("x", Type::unsigned(24));
        let mut operand = |src, width, (lo, fw, grow, k): (u32, u32, u32, u32)| {
            let fw = fw.min(width);
            let lo = lo % (width - fw + 1);
            let field = m.slice(src, lo, fw);
            let field = m.cast(field, signed);
            let wide = m.resize(field, fw + grow);
            let amount = m.konst(i128::from(k), Type::unsigned(4));
            m.bin(BinaryOp::Shl, wide, amount)
        };
        let fa = operand(bus, bus_width, a);
        let fb = operand(x, 24, b);
        let p = m.bin(BinaryOp::Mul, fa, fb);
        let w = m.ty(p).width;
        let y = m.resize(p, w.saturating_sub(truncate).max(1));
        m.output("y", y);
        let design = single(m);
        let inputs = [("bus".to_string(), bus_width), ("x".to_string(), 24)];
        compare_outputs(&design, &inputs, &rounds, 1);
    }
}

/// A 64-bit unsigned value shifted by 63 and added: the widest ranges the analysis meets,
/// and sums that wrap, which must not be folded as if they did not.
#[test]
fn extreme_shifts_neither_overflow_the_analysis_nor_fold_wrongly() {
    let mut m = Mb::new("extreme", false);
    let x = m.input("x", Type::unsigned(64));
    let k = m.konst(63, Type::unsigned(6));
    let s = m.bin(BinaryOp::Shl, x, k);
    let t = m.bin(BinaryOp::Add, s, x);
    let u = m.bin(BinaryOp::Add, t, s);
    m.output("y", u);
    let design = single(m);
    compare_outputs(
        &design,
        &[("x".to_string(), 64)],
        &[vec![u64::MAX], vec![1], vec![1 << 63 | 5]],
        1,
    );
}
