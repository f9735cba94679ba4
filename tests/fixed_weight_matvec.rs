//! The streaming matrix-vector product is bit-exact with the golden model's `matvec_row` for
//! both weight stores, in native simulation (random matrices, layers, lanes, widths and input
//! gaps, with the documented latency; layers of different weight widths and grids) and under
//! Verilator; its RTL is a reviewed snapshot; and misuse is an error, not a panic.

use hardwire::blocks::{FixedWeightMatVec, WeightStore};
use hardwire::hdl::prelude::*;
use hardwire::hdl::verilog::Verilog;
use hardwire::model::fixed::matvec::matvec_row;
use hardwire::model::fixed::{FixedMatrix, PackedWeights};
use hardwire::sim::cosim::{cosimulate, require_tool, Backend, Recorder};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// What every layer shares.
#[derive(Debug, Clone, Copy)]
struct Shape {
    rows: usize,
    cols: usize,
    group_size: usize,
    weight_bits: u32,
    out_bits: u32,
    affine: bool,
}

fn shape() -> impl Strategy<Value = Shape> {
    (1usize..=6, 1usize..=13, 2u32..=8, 2u32..=24, any::<bool>()).prop_flat_map(
        |(rows, cols, weight_bits, out_bits, affine)| {
            (1usize..=cols).prop_map(move |group_size| Shape {
                rows,
                cols,
                group_size,
                weight_bits,
                out_bits,
                affine,
            })
        },
    )
}

/// A random matrix of `s`'s shape: random weights, multipliers and offsets; shifts all equal
/// or per row.
fn matrix(s: Shape) -> impl Strategy<Value = FixedMatrix> {
    let q = 1i16 << (s.weight_bits - 1);
    let groups = s.cols.div_ceil(s.group_size);
    let cells = s.rows * groups;
    (
        prop::collection::vec((-q..q).prop_map(|w| w as i8), s.rows * s.cols),
        prop::collection::vec(0i32..(1 << 15), cells),
        prop_oneof![
            (0u32..24).prop_map(move |k| vec![k; s.rows]),
            prop::collection::vec(0u32..24, s.rows),
        ],
        if s.affine {
            prop::collection::vec(-(1i32 << 15)..(1 << 15), cells).boxed()
        } else {
            Just(vec![]).boxed()
        },
    )
        .prop_map(move |(weights, mults, shifts, offset_mults)| FixedMatrix {
            rows: s.rows,
            cols: s.cols,
            group_size: s.group_size,
            weight_bits: s.weight_bits,
            weights: PackedWeights::new(s.rows, s.cols, &weights),
            mults: mults.into(),
            shifts,
            out_bits: s.out_bits,
            offset_mults: offset_mults.into(),
        })
}

/// A store by index: hardwired, or 1 lane, 2 lanes, a lane count that does not divide the
/// rows, or one lane per row.
fn store(rows: usize, pick: usize) -> WeightStore {
    let lanes = match pick {
        0 => return WeightStore::Hardwired,
        1 => 1,
        2 => 2.min(rows),
        3 => (2..rows)
            .rev()
            .find(|&l| !rows.is_multiple_of(l))
            .unwrap_or(rows),
        _ => rows,
    };
    WeightStore::Rom { lanes }
}

/// One vector to send: its layer, elements, and the idle cycles before each element.
#[derive(Debug, Clone)]
struct Vector {
    layer: usize,
    x: Vec<i32>,
    gaps: Vec<usize>,
}

fn vectors(layers: usize, cols: usize, bits: u32) -> impl Strategy<Value = Vec<Vector>> {
    let lim = 1i32 << (bits - 1);
    let vector = (
        0..layers,
        prop::collection::vec(-lim..lim, cols),
        prop::collection::vec(prop_oneof![3 => Just(0usize), 1 => 1usize..4], cols),
    )
        .prop_map(|(layer, x, gaps)| Vector { layer, x, gaps });
    prop::collection::vec(vector, 1..=3)
}

/// A whole case: the block and what to send it.
fn case(acc_bits: BoxedStrategy<u32>) -> impl Strategy<Value = (FixedWeightMatVec, Vec<Vector>)> {
    (shape(), 1usize..=2, 0usize..5, 2u32..=16, acc_bits).prop_flat_map(
        |(s, layers, pick, input_bits, acc_bits)| {
            (
                prop::collection::vec(matrix(s), layers),
                vectors(layers, s.cols, input_bits),
            )
                .prop_map(move |(matrices, xs)| {
                    let block = FixedWeightMatVec {
                        matrices,
                        input_bits,
                        acc_bits,
                        store: store(s.rows, pick),
                        label: "p".into(),
                    };
                    (block, xs)
                })
        },
    )
}

/// Drives `vectors` through the block one after another, each starting right after the
/// previous one's last output (or a cycle or two later), with `layer` garbage in between;
/// checks every output against `matvec_row`, that no output comes at any other time, and that
/// the last output comes exactly `latency()` cycles after the last input.
fn drive(
    block: &FixedWeightMatVec,
    design: &Design,
    vectors: &[Vector],
) -> Result<Recorder, TestCaseError> {
    let mut t = Recorder::new(design, 2).unwrap();
    let (y_valid, y) = (t.signal("y_valid").unwrap(), t.signal("y").unwrap());
    let rows = block.matrices[0].rows;
    let latency = block.latency();
    let mut cycle = 0u64;
    let junk = |cycle: u64| (cycle.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 24) as i64;
    // One clock edge, then garbage on `x` until it is set again.
    let step = |t: &mut Recorder, cycle: &mut u64| {
        t.step();
        *cycle += 1;
        t.set("x", junk(*cycle)).unwrap();
    };
    for (i, v) in vectors.iter().enumerate() {
        let mut last_x = 0;
        for (c, (&x, &gap)) in v.x.iter().zip(&v.gaps).enumerate() {
            t.set("x_valid", 0).unwrap();
            for _ in 0..gap {
                prop_assert_eq!(t.read(y_valid), 0, "output while receiving vector {}", i);
                step(&mut t, &mut cycle);
            }
            if c == 0 {
                t.set("layer", v.layer as i64).unwrap();
            }
            t.set("x_valid", 1).unwrap();
            t.set("x", x.into()).unwrap();
            prop_assert_eq!(t.read(y_valid), 0, "output while receiving vector {}", i);
            last_x = cycle;
            step(&mut t, &mut cycle);
        }
        t.set("x_valid", 0).unwrap();
        let mut r = 0;
        let mut waited = 0;
        while r < rows {
            if t.read(y_valid) == 1 {
                let want = matvec_row(&block.matrices[v.layer], r, &v.x, block.acc_bits);
                prop_assert_eq!(t.read(y), i64::from(want), "row {} of vector {}", r, i);
                r += 1;
                if r == rows {
                    prop_assert_eq!(cycle - last_x, latency, "latency of vector {}", i);
                }
            }
            waited += 1;
            prop_assert!(waited < 10 * latency + 100, "vector {} gave {} rows", i, r);
            step(&mut t, &mut cycle);
        }
        // `layer` need only be held until the last output.
        t.set("layer", junk(cycle) >> 7).unwrap();
        for _ in 0..(i % 3) {
            prop_assert_eq!(t.read(y_valid), 0, "extra output after vector {}", i);
            step(&mut t, &mut cycle);
        }
    }
    for _ in 0..4 {
        prop_assert_eq!(t.read(y_valid), 0, "extra output at the end");
        step(&mut t, &mut cycle);
    }
    Ok(t)
}

fn check(block: &FixedWeightMatVec, vectors: &[Vector]) -> Result<(), TestCaseError> {
    let design = Design::elaborate(block).unwrap_or_else(|e| panic!("{e}"));
    drive(block, &design, vectors).map(|_| ())
}

/// A case whose layers differ in weight width and grid kind (a mixed-precision policy): two or
/// three layers, each with its own width of 2 to 8 bits and its own grid.
fn mixed_case() -> impl Strategy<Value = (FixedWeightMatVec, Vec<Vector>)> {
    let formats = prop::collection::vec((2u32..=8, any::<bool>()), 2..=3);
    (
        shape(),
        formats,
        0usize..5,
        2u32..=16,
        prop_oneof![Just(40u32), 3u32..=16],
    )
        .prop_flat_map(|(s, formats, pick, input_bits, acc_bits)| {
            let layers = formats.len();
            let matrices: Vec<_> = formats
                .into_iter()
                .map(|(weight_bits, affine)| {
                    matrix(Shape {
                        weight_bits,
                        affine,
                        ..s
                    })
                })
                .collect();
            (matrices, vectors(layers, s.cols, input_bits)).prop_map(move |(matrices, xs)| {
                let block = FixedWeightMatVec {
                    matrices,
                    input_bits,
                    acc_bits,
                    store: store(s.rows, pick),
                    label: "m".into(),
                };
                (block, xs)
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Layers of different weight widths and grids in one engine: each layer's outputs are
    /// its own matrix's, at the latency `latency()` gives.
    #[test]
    fn layers_of_different_formats_match((block, xs) in mixed_case()) {
        check(&block, &xs)?;
    }

    /// Accumulators wide enough never to wrap (the normal case).
    #[test]
    fn native_matches_matvec_row((block, xs) in case(Just(40).boxed())) {
        check(&block, &xs)?;
    }

    /// Narrow accumulators: group sums and input sums wrap exactly as the golden model's do.
    #[test]
    fn narrow_accumulators_wrap_like_the_golden_model((block, xs) in case((3u32..=16).boxed())) {
        check(&block, &xs)?;
    }
}

/// A fixed affine matrix of `layers` layers (different weights per layer).
fn fixed(rows: usize, cols: usize, group_size: usize, layers: usize) -> Vec<FixedMatrix> {
    let groups = cols.div_ceil(group_size);
    (0..layers)
        .map(|n| FixedMatrix {
            rows,
            cols,
            group_size,
            weight_bits: 4,
            weights: PackedWeights::new(
                rows,
                cols,
                &(0..rows * cols)
                    .map(|i| ((i * 7 + n * 5) % 16) as i8 - 8)
                    .collect::<Vec<_>>(),
            ),
            mults: (0..rows * groups)
                .map(|i| ((i * 2731 + n * 977) % 16384) as i32)
                .collect(),
            shifts: (0..rows).map(|r| ((r * 5 + n) % 13) as u32).collect(),
            out_bits: 12,
            offset_mults: (0..rows * groups)
                .map(|i| ((i * 1237 + n * 31) % 8192) as i32 - 4096)
                .collect(),
        })
        .collect()
}

/// `count` vectors of 12-bit inputs with a few gaps, taking turns at the layers.
fn fixed_vectors(layers: usize, cols: usize, count: usize) -> Vec<Vector> {
    (0..count)
        .map(|i| Vector {
            layer: i % layers,
            x: (0..cols)
                .map(|c| ((c * 40503 + i * 9973) % 4096) as i32 - 2048)
                .collect(),
            gaps: (0..cols).map(|c| (c * 3 + i) % 4 / 3).collect(),
        })
        .collect()
}

/// Every lane count for one shape, including lane counts above `cols` (the replayed passes
/// wait for the output shift register) and ones that do not divide `rows`.
#[test]
fn every_lane_count_matches() {
    let matrices = fixed(7, 3, 2, 2);
    let xs = fixed_vectors(2, 3, 3);
    for lanes in 1..=7 {
        let block = FixedWeightMatVec {
            matrices: matrices.clone(),
            input_bits: 12,
            acc_bits: 20,
            store: WeightStore::Rom { lanes },
            label: "e".into(),
        };
        check(&block, &xs).unwrap_or_else(|e| panic!("{lanes} lanes: {e}"));
    }
}

fn cosim(block: &FixedWeightMatVec, xs: &[Vector]) {
    let design = Design::elaborate(block).unwrap_or_else(|e| panic!("{e}"));
    let t = drive(block, &design, xs).unwrap_or_else(|e| panic!("{e}"));
    cosimulate(&design, &t.stimulus(), Backend::Verilator).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn rom_under_verilator() {
    if !require_tool("verilator") {
        return;
    }
    let block = FixedWeightMatVec {
        matrices: fixed(5, 9, 4, 2),
        input_bits: 12,
        acc_bits: 18,
        store: WeightStore::Rom { lanes: 2 },
        label: "v".into(),
    };
    cosim(&block, &fixed_vectors(2, 9, 4));
}

/// A weight ROM deeper than [`FixedWeightMatVec::ROM_BANK_DEPTH`] words is built as banks of
/// that depth (the last shorter), each read registered before the bank is picked, and the
/// vectors of both layers, whose words lie in different banks, match natively and under
/// Verilator.
#[test]
fn a_rom_deeper_than_a_bank_is_banked() {
    // One lane: 50 passes of 48 columns per layer, 4,800 words, so 2,048 + 2,048 + 704.
    let block = FixedWeightMatVec {
        matrices: fixed(50, 48, 16, 2),
        input_bits: 12,
        acc_bits: 20,
        store: WeightStore::Rom { lanes: 1 },
        label: "deep".into(),
    };
    assert_eq!(FixedWeightMatVec::ROM_BANK_DEPTH, 2048);
    let rtl = verilog(&block);
    for (bank, depth) in [("b0", 2048), ("b1", 2048), ("b2", 704)] {
        let declared = format!("weights_{bank} [0:{}];", depth - 1);
        assert!(rtl.contains(&declared), "no `{declared}`");
    }
    assert!(!rtl.contains("weights_b3") && !rtl.contains("weights ["));
    let xs = fixed_vectors(2, 48, 3);
    check(&block, &xs).unwrap_or_else(|e| panic!("{e}"));
    if require_tool("verilator") {
        cosim(&block, &xs);
    }
}

/// `fixed` with layer `n` at `bits[n]`-bit weights (each layer's weights reduced into its
/// range) and, where `symmetric[n]`, no offsets.
fn mixed(rows: usize, cols: usize, bits: &[u32], symmetric: &[bool]) -> Vec<FixedMatrix> {
    let mut matrices = fixed(rows, cols, 2, bits.len());
    for ((m, &b), &sym) in matrices.iter_mut().zip(bits).zip(symmetric) {
        m.weight_bits = b;
        let half = 1i32 << (b - 1);
        let w: Vec<i8> = m
            .weights
            .iter()
            .enumerate()
            // Reach both ends of the range, so sign extension is exercised.
            .map(|(i, w)| ((i32::from(w) * 37 + i as i32 * 11).rem_euclid(2 * half) - half) as i8)
            .collect();
        m.weights = PackedWeights::new(rows, cols, &w);
        if sym {
            m.offset_mults = Default::default();
        }
    }
    matrices
}

#[test]
fn mixed_widths_under_verilator() {
    if !require_tool("verilator") {
        return;
    }
    let block = FixedWeightMatVec {
        matrices: mixed(5, 6, &[3, 6, 2], &[false, true, false]),
        input_bits: 12,
        acc_bits: 18,
        store: WeightStore::Rom { lanes: 2 },
        label: "mixed".into(),
    };
    cosim(&block, &fixed_vectors(3, 6, 4));
}

/// Padding is what the ROM holds beyond each layer's own width, and the ROM is as wide as the
/// widest layer; the hardwired store pads nothing.
#[test]
fn mixed_widths_pad_the_rom_to_the_widest() {
    let block = |store| FixedWeightMatVec {
        matrices: mixed(5, 6, &[3, 6], &[true, true]),
        input_bits: 12,
        acc_bits: 18,
        store,
        label: "pad".into(),
    };
    // 2 lanes, 3 passes (the last half empty), 6 columns: 36 fields a layer; layer 0 pads 3
    // bits in each.
    let rom = block(WeightStore::Rom { lanes: 2 });
    assert_eq!(rom.weight_padding_bits(), 3 * 2 * 3 * 6);
    let design = Design::elaborate(&rom).unwrap_or_else(|e| panic!("{e}"));
    let weights = design
        .top_module()
        .mems
        .iter()
        .find(|m| m.name == "weights")
        .expect("a weight ROM");
    assert_eq!((weights.ty.width, weights.depth), (2 * 6, 2 * 3 * 6));
    assert_eq!(block(WeightStore::Hardwired).weight_padding_bits(), 0);
    let uniform = FixedWeightMatVec {
        matrices: mixed(5, 6, &[6, 6], &[true, true]),
        ..rom.clone()
    };
    assert_eq!(uniform.weight_padding_bits(), 0);
}

#[test]
fn hardwired_under_verilator() {
    if !require_tool("verilator") {
        return;
    }
    let block = FixedWeightMatVec {
        matrices: fixed(3, 5, 2, 2),
        input_bits: 12,
        acc_bits: 16,
        store: WeightStore::Hardwired,
        label: "v".into(),
    };
    cosim(&block, &fixed_vectors(2, 5, 3));
}

/// The Verilog files of a design, memory contents abbreviated to their first words.
fn verilog<B: Block>(block: &B) -> String {
    let design = Design::elaborate(block).unwrap_or_else(|e| panic!("{e}"));
    Verilog::from_design(&design).listing(|_| true)
}

#[test]
fn rom_3x4_two_lanes_two_layers_rtl() {
    let mut matrices = fixed(3, 4, 2, 2);
    for m in &mut matrices {
        m.offset_mults = Default::default();
    }
    insta::assert_snapshot!(verilog(&FixedWeightMatVec {
        matrices,
        input_bits: 8,
        acc_bits: 16,
        store: WeightStore::Rom { lanes: 2 },
        label: "s".into(),
    }));
}

#[test]
fn hardwired_2x2_two_layers_rtl() {
    let mut matrices = fixed(2, 2, 2, 2);
    for m in &mut matrices {
        m.offset_mults = Default::default();
    }
    insta::assert_snapshot!(verilog(&FixedWeightMatVec {
        matrices,
        input_bits: 6,
        acc_bits: 16,
        store: WeightStore::Hardwired,
        label: "s".into(),
    }));
}

/// A way to spoil a good block.
type Spoil = Box<dyn Fn(&mut FixedWeightMatVec)>;

#[test]
fn bad_parameters_are_errors() {
    let good = FixedWeightMatVec {
        matrices: fixed(3, 4, 2, 2),
        input_bits: 8,
        acc_bits: 16,
        store: WeightStore::Rom { lanes: 2 },
        label: "bad".into(),
    };
    assert!(Design::elaborate(&good).is_ok());
    let cases: Vec<(&str, Spoil)> = vec![
        ("no matrices", Box::new(|b| b.matrices.clear())),
        (
            "0 lanes",
            Box::new(|b| b.store = WeightStore::Rom { lanes: 0 }),
        ),
        (
            "4 lanes",
            Box::new(|b| b.store = WeightStore::Rom { lanes: 4 }),
        ),
        (
            "layer 1 of `bad` is 3x5 in groups of 2, layer 0 3x4 in groups of 2",
            Box::new(|b| b.matrices[1] = fixed(3, 5, 2, 1).remove(0)),
        ),
        (
            "layer 1 of `bad` is 3x4 in groups of 3",
            Box::new(|b| b.matrices[1] = fixed(3, 4, 3, 1).remove(0)),
        ),
        (
            "layer 1 of `bad` saturates to 13 bits, layer 0 to 12",
            Box::new(|b| b.matrices[1].out_bits = 13),
        ),
        (
            "layer 1 of `bad` has 9-bit weights",
            Box::new(|b| b.matrices[1].weight_bits = 9),
        ),
        (
            "does not fit 3 bits",
            Box::new(|b| b.matrices[1].weight_bits = 3),
        ),
        (
            "5 multipliers",
            Box::new(|b| {
                b.matrices[0].mults = b.matrices[0].mults[1..].into();
            }),
        ),
        (
            "does not fit 4 bits",
            Box::new(|b| b.matrices[1].weights.set(3, 9)),
        ),
        ("wraps accumulators at 0 bits", Box::new(|b| b.acc_bits = 0)),
        (
            "wraps accumulators at 65 bits",
            Box::new(|b| b.acc_bits = 65),
        ),
        ("29-bit inputs", Box::new(|b| b.input_bits = 29)),
        (
            "every size must be at least 1",
            Box::new(|b| {
                for m in &mut b.matrices {
                    m.group_size = 0;
                }
            }),
        ),
        (
            "layer 0 of `bad` has 9-bit weights",
            Box::new(|b| {
                for m in &mut b.matrices {
                    m.weight_bits = 9;
                }
            }),
        ),
        (
            "saturates to 0 bits",
            Box::new(|b| {
                for m in &mut b.matrices {
                    m.out_bits = 0;
                }
            }),
        ),
    ];
    for (want, spoil) in cases {
        for store in [WeightStore::Hardwired, WeightStore::Rom { lanes: 2 }] {
            let mut bad = good.clone();
            bad.store = store;
            spoil(&mut bad);
            let err = Design::elaborate(&bad).expect_err(want).to_string();
            assert!(err.contains(want), "expected `{want}` in:\n{err}");
            // The figures a planner reads do not panic either.
            let _ = (bad.latency(), bad.multipliers(), bad.reuse(), bad.name());
        }
    }
}

#[test]
fn reuse_lanes_and_latency_figures() {
    assert_eq!(WeightStore::for_reuse(64, 32, 1), WeightStore::Hardwired);
    assert_eq!(
        WeightStore::for_reuse(49152, 576, 576),
        WeightStore::Rom { lanes: 49152 }
    );
    assert_eq!(
        WeightStore::for_reuse(576, 576, 576 * 9),
        WeightStore::Rom { lanes: 64 }
    );
    assert_eq!(
        WeightStore::for_reuse(10, 10, 7),
        WeightStore::Rom { lanes: 10 }
    );
    let block = |store| FixedWeightMatVec {
        matrices: fixed(10, 4, 2, 1),
        input_bits: 8,
        acc_bits: 16,
        store,
        label: "f".into(),
    };
    let rom = block(WeightStore::Rom { lanes: 3 });
    assert_eq!((rom.reuse(), rom.multipliers()), (16, 3));
    // Passes of 3, 3, 3 and 1 rows: 3 * max(4, 3) + 1 + 16 stages.
    assert_eq!(rom.latency(), 29);
    // Lanes wider than the columns: each replayed pass waits for the output.
    assert_eq!(block(WeightStore::Rom { lanes: 6 }).latency(), 6 + 4 + 16);
    let hw = block(WeightStore::Hardwired);
    assert_eq!(hw.reuse(), 1);
    let nonzero = hw.matrices[0].weights.iter().filter(|&w| w != 0).count();
    assert_eq!(hw.multipliers(), nonzero);
}
