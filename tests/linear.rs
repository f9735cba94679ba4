//! The hardwired quantised linear layer is bit-exact with the golden model's
//! `matvec_row`, in native simulation (random matrices, groups, widths and scales) and under
//! Verilator.

use hardwire::blocks::Linear;
use hardwire::hdl::prelude::*;
use hardwire::model::fixed::matvec::matvec_row;
use hardwire::model::fixed::{FixedMatrix, PackedWeights};
use hardwire::sim::cosim::{cosimulate, require_tool, Backend, Stimulus};
use hardwire::sim::Simulator;
use proptest::prelude::*;

/// A random matrix in the hardware's form.
fn matrix() -> impl Strategy<Value = FixedMatrix> {
    (1usize..5, 1usize..13, 2u32..=8, 8u32..=24).prop_flat_map(
        |(rows, cols, weight_bits, out_bits)| {
            let q = 1i16 << (weight_bits - 1);
            (1usize..=cols).prop_flat_map(move |group_size| {
                let groups = cols.div_ceil(group_size);
                (
                    prop::collection::vec((-q..q).prop_map(|w| w as i8), rows * cols),
                    prop::collection::vec(0i32..(1 << 15), rows * groups),
                    prop::collection::vec(0u32..30, rows),
                    // Symmetric grids, or affine ones with offset multipliers of either sign.
                    prop_oneof![
                        Just(vec![]),
                        prop::collection::vec(-(1i32 << 15)..(1 << 15), rows * groups)
                    ],
                )
                    .prop_map(move |(weights, mults, shifts, offset_mults)| {
                        FixedMatrix {
                            rows,
                            cols,
                            group_size,
                            weight_bits,
                            weights: PackedWeights::new(rows, cols, &weights),
                            mults: mults.into(),
                            shifts,
                            out_bits,
                            offset_mults: offset_mults.into(),
                        }
                    })
            })
        },
    )
}

fn bus(values: &[i32], width: u32) -> Bits {
    let mut words = vec![0u64; (values.len() * width as usize).div_ceil(64)];
    for (i, v) in values.iter().enumerate() {
        let field = Bits::from_i128(i128::from(*v), width);
        for b in 0..width {
            if field.bit(b) {
                let j = i * width as usize + b as usize;
                words[j / 64] |= 1 << (j % 64);
            }
        }
    }
    Bits::from_words(&words, values.len() as u32 * width)
}

fn check(linear: &Linear, vectors: &[Vec<i32>]) -> Result<(), TestCaseError> {
    let design = Design::elaborate(linear).unwrap_or_else(|e| panic!("{e}"));
    let mut sim = Simulator::new(&design).unwrap();
    sim.reset(1).unwrap();
    let latency = linear.latency() as usize;
    let out = linear.matrix.out_bits;
    for c in 0..vectors.len() + latency {
        let x = vectors
            .get(c)
            .cloned()
            .unwrap_or_else(|| vec![0; linear.matrix.cols]);
        sim.poke_bits("x", &bus(&x, linear.input.width)).unwrap();
        sim.poke("in_valid", u64::from(c < vectors.len())).unwrap();
        if c >= latency {
            let v = &vectors[c - latency];
            prop_assert_eq!(sim.peek("out_valid").unwrap(), 1);
            let y = sim.peek_bits("y").unwrap();
            for r in 0..linear.matrix.rows {
                let got = hardwire::hdl::eval::slice(&y, r as u32 * out, out).to_i128();
                let want = matvec_row(&linear.matrix, r, v, linear.acc_bits);
                prop_assert_eq!(got, i128::from(want), "row {} of {:?}", r, v);
            }
        }
        sim.step();
    }
    Ok(())
}

fn input_vectors(cols: usize, in_bits: u32) -> impl Strategy<Value = Vec<Vec<i32>>> {
    let lim = 1i32 << (in_bits - 1);
    prop::collection::vec(prop::collection::vec(-lim..lim, cols), 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Accumulators wide enough never to wrap (the normal case).
    #[test]
    fn linear_matches_matvec_row((m, xs) in matrix().prop_flat_map(|m| { let c = m.cols; (Just(m), input_vectors(c, 12)) })) {
        check(&Linear { matrix: m, input: Type::signed(12), acc_bits: 40, label: "p".into() }, &xs)?;
    }

    /// Narrow accumulators: the group sums wrap exactly as the golden model's do.
    #[test]
    fn linear_wraps_like_the_golden_accumulator((m, xs) in matrix().prop_flat_map(|m| { let c = m.cols; (Just(m), input_vectors(c, 16)) })) {
        check(&Linear { matrix: m, input: Type::signed(16), acc_bits: 16, label: "w".into() }, &xs)?;
    }
}

#[test]
fn linear_under_verilator() {
    if !require_tool("verilator") {
        return;
    }
    let matrix = FixedMatrix {
        rows: 3,
        cols: 10,
        group_size: 4,
        weight_bits: 4,
        weights: PackedWeights::new(
            3,
            10,
            &(0..30)
                .map(|i| ((i * 7) % 16 - 8) as i8)
                .collect::<Vec<_>>(),
        ),
        mults: vec![12345, 300, 7, 0, 16383, 2, 999, 1, 4096].into(),
        shifts: vec![9, 0, 14],
        out_bits: 20,
        offset_mults: vec![-300, 0, 5, 1, -16384, 77, 2, 0, -1].into(),
    };
    let linear = Linear {
        matrix,
        input: Type::signed(20),
        acc_bits: 40,
        label: "v".into(),
    };
    let design = Design::elaborate(&linear).unwrap_or_else(|e| panic!("{e}"));
    let stimulus = Stimulus::random(&design, 10_000, 8, 7);
    cosimulate(&design, &stimulus, Backend::Verilator).unwrap_or_else(|e| panic!("{e}"));
}
