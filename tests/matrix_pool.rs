//! A pool of matrix units on shared ROM lanes is bit-exact with the golden model's
//! `matvec_row` for every unit, whatever the units' shapes, widths and grids and however the
//! jobs follow each other, with each unit's own latency and `y_last` on each vector's last
//! element only; it runs the same under Verilator; misuse is an error, not a panic.

use hardwire::blocks::{FixedWeightMatVec, MatrixPool, WeightStore};
use hardwire::hdl::prelude::*;
use hardwire::model::fixed::matvec::matvec_row;
use hardwire::model::fixed::{FixedMatrix, PackedWeights};
use hardwire::sim::cosim::{cosimulate, require_tool, Backend, Recorder};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// One unit's shape and widths.
#[derive(Debug, Clone, Copy)]
struct Unit {
    rows: usize,
    cols: usize,
    weight_bits: u32,
    out_bits: u32,
    input_bits: u32,
    affine: bool,
    /// One matrix for all layers (an LM head) rather than one per layer.
    shared: bool,
}

fn unit() -> impl Strategy<Value = Unit> {
    (
        1usize..=9,
        1usize..=11,
        2u32..=8,
        2u32..=24,
        2u32..=16,
        any::<bool>(),
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |(rows, cols, weight_bits, out_bits, input_bits, affine, shared)| Unit {
                rows,
                cols,
                weight_bits,
                out_bits,
                input_bits,
                affine,
                shared,
            },
        )
}

fn matrix(u: Unit, group_size: usize) -> impl Strategy<Value = FixedMatrix> {
    let q = 1i16 << (u.weight_bits - 1);
    let cells = u.rows * u.cols.div_ceil(group_size);
    (
        prop::collection::vec((-q..q).prop_map(|w| w as i8), u.rows * u.cols),
        prop::collection::vec(0i32..(1 << 15), cells),
        prop::collection::vec(0u32..24, u.rows),
        if u.affine {
            prop::collection::vec(-(1i32 << 15)..(1 << 15), cells).boxed()
        } else {
            Just(vec![]).boxed()
        },
    )
        .prop_map(move |(weights, mults, shifts, offset_mults)| FixedMatrix {
            rows: u.rows,
            cols: u.cols,
            group_size,
            weight_bits: u.weight_bits,
            weights: PackedWeights::new(u.rows, u.cols, &weights),
            mults: mults.into(),
            shifts,
            out_bits: u.out_bits,
            offset_mults: offset_mults.into(),
        })
}

/// One vector to send: its job, layer, elements, and the idle cycles before each element.
#[derive(Debug, Clone)]
struct Vector {
    job: usize,
    layer: usize,
    x: Vec<i32>,
    gaps: Vec<usize>,
}

fn pool() -> impl Strategy<Value = (MatrixPool, Vec<Vector>)> {
    (
        prop::collection::vec(unit(), 2..=4),
        1usize..=2,
        1usize..=6,
        1usize..=12,
        prop_oneof![Just(40u32), 6u32..=16],
    )
        .prop_flat_map(|(units, layers, group_size, lanes, acc_bits)| {
            let matrices: Vec<_> = units
                .iter()
                .map(|&u| {
                    let count = if u.shared { 1 } else { layers };
                    prop::collection::vec(matrix(u, group_size), count)
                })
                .collect();
            let chosen = units.clone();
            let vector = (0..units.len(), 0..layers).prop_flat_map(move |(job, layer)| {
                let u = chosen[job];
                let lim = 1i32 << (u.input_bits - 1);
                (
                    prop::collection::vec(-lim..lim, u.cols),
                    prop::collection::vec(prop_oneof![3 => Just(0usize), 1 => 1usize..4], u.cols),
                )
                    .prop_map(move |(x, gaps)| Vector {
                        job,
                        layer,
                        x,
                        gaps,
                    })
            });
            (
                matrices,
                prop::collection::vec(vector, 1..=5),
                Just(units.clone()),
            )
                .prop_map(move |(matrices, xs, units)| {
                    let units = (matrices.into_iter().zip(&units).enumerate())
                        .map(|(k, (matrices, u))| FixedWeightMatVec {
                            matrices,
                            input_bits: u.input_bits,
                            acc_bits,
                            store: WeightStore::Shared { lanes },
                            label: format!("u{k}"),
                        })
                        .collect();
                    let pool = MatrixPool {
                        units,
                        label: "p".into(),
                    };
                    (pool, xs)
                })
        })
}

/// Drives `vectors` through the pool one after another, each starting right after the
/// previous one's last output (or a cycle or two later), with `job` and `layer` garbage in
/// between; checks every output against `matvec_row`, `y_last` on the last only, and that
/// the last output comes exactly its unit's latency after the last input.
fn drive(
    pool: &MatrixPool,
    design: &Design,
    vectors: &[Vector],
) -> Result<Recorder, TestCaseError> {
    let mut t = Recorder::new(design, 2).unwrap();
    let (y_valid, y, y_last) = (
        t.signal("y_valid").unwrap(),
        t.signal("y").unwrap(),
        t.signal("y_last").unwrap(),
    );
    let mut cycle = 0u64;
    let junk = |cycle: u64| (cycle.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 24) as i64;
    let step = |t: &mut Recorder, cycle: &mut u64| {
        t.step();
        *cycle += 1;
        t.set("x", junk(*cycle)).unwrap();
    };
    for (i, v) in vectors.iter().enumerate() {
        let unit = &pool.units[v.job];
        let matrix = &unit.matrices[v.layer.min(unit.matrices.len() - 1)];
        let latency = pool.latency(v.job);
        let mut last_x = 0;
        t.set("job", v.job as i64).unwrap();
        t.set("layer", v.layer as i64).unwrap();
        for (&x, &gap) in v.x.iter().zip(&v.gaps) {
            t.set("x_valid", 0).unwrap();
            for _ in 0..gap {
                prop_assert_eq!(t.read(y_valid), 0, "output while receiving vector {}", i);
                step(&mut t, &mut cycle);
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
        while r < matrix.rows {
            if t.read(y_valid) == 1 {
                let want = matvec_row(matrix, r, &v.x, unit.acc_bits);
                prop_assert_eq!(t.read(y), i64::from(want), "row {} of vector {}", r, i);
                r += 1;
                prop_assert_eq!(t.read(y_last) == 1, r == matrix.rows, "y_last at row {}", r);
                if r == matrix.rows {
                    prop_assert_eq!(cycle - last_x, latency, "latency of vector {}", i);
                }
            } else {
                prop_assert_eq!(t.read(y_last), 0, "y_last without an output");
            }
            waited += 1;
            prop_assert!(waited < 10 * latency + 100, "vector {} gave {} rows", i, r);
            step(&mut t, &mut cycle);
        }
        // `job` and `layer` need only be held until the last output.
        t.set("job", junk(cycle) >> 9).unwrap();
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Any units, lanes (fewer or more than a unit's rows) and order of jobs.
    #[test]
    fn every_unit_of_a_pool_matches_matvec_row((pool, xs) in pool()) {
        let design = Design::elaborate(&pool).unwrap_or_else(|e| panic!("{e}"));
        drive(&pool, &design, &xs)?;
    }
}

/// Two fixed units of different shapes, widths and grids (one per layer, one for all layers).
fn fixed_pool(lanes: usize) -> (MatrixPool, Vec<Vector>) {
    let matrix = |rows: usize, cols: usize, bits: u32, out_bits: u32, affine: bool, n: usize| {
        let groups = cols.div_ceil(2);
        FixedMatrix {
            rows,
            cols,
            group_size: 2,
            weight_bits: bits,
            weights: PackedWeights::new(
                rows,
                cols,
                &(0..rows * cols)
                    .map(|i| ((i * 7 + n * 5) % (1 << bits)) as i8 - (1 << (bits - 1)) as i8)
                    .collect::<Vec<_>>(),
            ),
            mults: (0..rows * groups)
                .map(|i| ((i * 2731 + n * 977) % 16384) as i32)
                .collect(),
            shifts: (0..rows).map(|r| ((r * 5 + n) % 13) as u32).collect(),
            out_bits,
            offset_mults: if affine {
                (0..rows * groups)
                    .map(|i| ((i * 1237 + n * 31) % 8192) as i32 - 4096)
                    .collect()
            } else {
                Default::default()
            },
        }
    };
    let unit = |matrices, input_bits, label: &str| FixedWeightMatVec {
        matrices,
        input_bits,
        acc_bits: 20,
        store: WeightStore::Shared { lanes },
        label: label.into(),
    };
    let pool = MatrixPool {
        units: vec![
            unit(
                vec![matrix(7, 5, 4, 12, true, 0), matrix(7, 5, 4, 12, false, 1)],
                12,
                "a",
            ),
            unit(vec![matrix(3, 9, 6, 16, false, 2)], 10, "b"),
        ],
        label: "f".into(),
    };
    let xs = (0..5)
        .map(|i| {
            let (job, cols, bits) = if i % 2 == 0 { (0, 5, 12) } else { (1, 9, 10) };
            Vector {
                job,
                layer: i / 2 % 2,
                x: (0..cols)
                    .map(|c| ((c * 40503 + i * 9973) % (1 << bits)) as i32 - (1 << (bits - 1)))
                    .collect(),
                gaps: (0..cols).map(|c| (c * 3 + i) % 4 / 3).collect(),
            }
        })
        .collect();
    (pool, xs)
}

#[test]
fn every_lane_count_of_a_fixed_pool_matches() {
    for lanes in 1..=10 {
        let (pool, xs) = fixed_pool(lanes);
        let design = Design::elaborate(&pool).unwrap_or_else(|e| panic!("{e}"));
        drive(&pool, &design, &xs).unwrap_or_else(|e| panic!("{lanes} lanes: {e}"));
    }
}

#[test]
fn a_pool_under_verilator() {
    if !require_tool("verilator") {
        return;
    }
    let (pool, xs) = fixed_pool(3);
    let design = Design::elaborate(&pool).unwrap_or_else(|e| panic!("{e}"));
    let t = drive(&pool, &design, &xs).unwrap_or_else(|e| panic!("{e}"));
    cosimulate(&design, &t.stimulus(), Backend::Verilator).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_misused_pool_is_a_clear_error() {
    let (pool, _) = fixed_pool(3);
    type Edit = Box<dyn Fn(&mut MatrixPool)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("at least two", Box::new(|p| p.units.truncate(1))),
        (
            "`WeightStore::Shared { lanes: 3 }`",
            Box::new(|p| p.units[1].store = WeightStore::Shared { lanes: 4 }),
        ),
        (
            "`WeightStore::Shared { lanes: 3 }`",
            Box::new(|p| p.units[1].store = WeightStore::Rom { lanes: 3 }),
        ),
        (
            "the lanes share both",
            Box::new(|p| p.units[1].acc_bits = 30),
        ),
        (
            "products must fit 32 bits",
            Box::new(|p| p.units[0].input_bits = 27),
        ),
        (
            "a pool of 0 lanes",
            Box::new(|p| {
                for u in &mut p.units {
                    u.store = WeightStore::Shared { lanes: 0 };
                }
            }),
        ),
    ];
    for (want, edit) in cases {
        let mut p = pool.clone();
        edit(&mut p);
        let err = Design::elaborate(&p).expect_err(want).to_string();
        assert!(err.contains(want), "{want}: {err}");
    }
}
