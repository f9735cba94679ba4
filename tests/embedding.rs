//! [`Embedding`] is bit-exact with the golden model's `embed_lookup`, in native simulation
//! (random sizes, weight widths, groups, multipliers of either sign, shifts past the
//! datapath's width, symmetric and affine grids, tokens with gaps between them) and under
//! Verilator, and meets its stated latency.

mod element_stream;

use element_stream::StreamBench;
use hardwire::blocks::Embedding;
use hardwire::hdl::prelude::*;
use hardwire::hdl::verilog::Verilog;
use hardwire::hdl::Code;
use hardwire::model::fixed::{embed_lookup, FixedMatrix, PackedWeights};
use hardwire::sim::cosim::require_tool;
use proptest::prelude::*;

fn elaborate(b: &Embedding) -> Design {
    Design::elaborate(b).unwrap_or_else(|e| panic!("{e}"))
}

/// Looks the tokens up one after another, each `gap` cycles after the previous row's last
/// element; checks every element and each lookup's latency.
fn check(b: &Embedding, tokens: &[(usize, usize)]) -> StreamBench {
    let design = elaborate(b);
    let cols = b.matrix.cols;
    let mut bench = StreamBench::new(&design, &[("y_valid", "y")]);
    let mut want = Vec::new();
    for (i, &(gap, token)) in tokens.iter().enumerate() {
        let c = bench.send("token_valid", "token", gap, token as i64);
        // The token port is read only with the pulse.
        bench.set("token", !(token as i64));
        want.extend(embed_lookup(&b.matrix, token).into_iter().map(i64::from));
        bench.wait_for(0, (i + 1) * cols, b.latency() + 1);
        let &(end, _) = bench.seen[0].last().unwrap();
        assert_eq!(end - c, b.latency(), "latency of token {i}");
    }
    bench.idle(3);
    let got: Vec<i64> = bench.seen[0].iter().map(|&(_, y)| y).collect();
    assert_eq!(got, want);
    bench
}

fn matrix() -> impl Strategy<Value = FixedMatrix> {
    (1usize..10, 1usize..21, 1u32..=8, 2u32..=24).prop_flat_map(
        |(rows, cols, weight_bits, out_bits)| {
            let q = 1i16 << (weight_bits - 1);
            (1usize..=cols + 2).prop_flat_map(move |group_size| {
                let scales = rows * cols.div_ceil(group_size);
                let mult = prop_oneof![3 => 0i32..(1 << 15), 1 => any::<i32>()];
                let shift = prop_oneof![3 => 0u32..40, 1 => 40u32..80];
                (
                    prop::collection::vec((-q..q).prop_map(|w| w as i8), rows * cols),
                    prop::collection::vec(mult, scales),
                    prop::collection::vec(shift, rows),
                    prop_oneof![
                        Just(vec![]),
                        prop::collection::vec(-(1i32 << 15)..(1 << 15), scales)
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

fn case() -> impl Strategy<Value = (Embedding, Vec<(usize, usize)>)> {
    matrix().prop_flat_map(|matrix| {
        let rows = matrix.rows;
        let token = (prop_oneof![3 => Just(0usize), 1 => 1usize..4], 0..rows);
        (
            Just(Embedding {
                matrix,
                label: "p".into(),
            }),
            prop::collection::vec(token, 1..5),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn embedding_matches_golden((b, tokens) in case()) {
        check(&b, &tokens);
    }
}

/// A matrix with every weight and multiplier from a seed.
fn seeded(
    rows: usize,
    cols: usize,
    weight_bits: u32,
    group_size: usize,
    affine: bool,
) -> FixedMatrix {
    let mut s = 11u64;
    let mut next = move |n: u64| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) % n
    };
    let q = 1u64 << weight_bits;
    let scales = rows * cols.div_ceil(group_size);
    FixedMatrix {
        rows,
        cols,
        group_size,
        weight_bits,
        weights: PackedWeights::new(
            rows,
            cols,
            &(0..rows * cols)
                .map(|_| (next(q) as i64 - (q / 2) as i64) as i8)
                .collect::<Vec<_>>(),
        ),
        mults: (0..scales).map(|_| next(1 << 15) as i32).collect(),
        shifts: (0..rows).map(|_| 8 + next(10) as u32).collect(),
        out_bits: 16,
        offset_mults: if affine {
            (0..scales)
                .map(|_| next(1 << 12) as i32 - (1 << 11))
                .collect()
        } else {
            Default::default()
        },
    }
}

#[test]
fn embedding_under_verilator() {
    if !require_tool("verilator") {
        return;
    }
    let b = Embedding {
        matrix: seeded(6, 13, 4, 5, true),
        label: "v".into(),
    };
    let tokens = [(0, 3), (0, 0), (2, 5), (1, 3), (0, 1)];
    check(&b, &tokens).cosimulate(&elaborate(&b));
}

/// The Verilog files of a design, memory contents abbreviated to their first words.
fn verilog(block: &Embedding) -> String {
    Verilog::from_design(&elaborate(block)).listing(|_| true)
}

#[test]
fn embedding_verilog() {
    insta::assert_snapshot!(verilog(&Embedding {
        matrix: seeded(3, 6, 4, 4, true),
        label: "s".into(),
    }));
}

#[test]
fn misuse_is_reported() {
    let good = Embedding {
        matrix: seeded(3, 6, 4, 4, false),
        label: "m".into(),
    };
    let mut too_wide = good.clone();
    too_wide.matrix.weights.set(4, 8);
    let mut short = good.clone();
    short.matrix.mults = short.matrix.mults[1..].into();
    let mut empty = good.clone();
    empty.matrix.cols = 0;
    let mut wide_weights = good.clone();
    wide_weights.matrix.weight_bits = 9;
    for (block, words) in [
        (too_wide, "does not fit 4 bits"),
        (short, "multipliers"),
        (empty, "not a 3x0 matrix"),
        (wide_weights, "9-bit weights"),
    ] {
        let e = Design::elaborate(&block).expect_err("a bad parameter");
        assert!(e.has(Code::BadParameter), "{e}");
        assert!(e.to_string().contains(words), "{e}");
    }
    Design::elaborate(&good).unwrap_or_else(|e| panic!("{e}"));
}
