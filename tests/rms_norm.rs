//! [`RmsNorm`] is bit-exact with the golden model's `rms_norm`, in native simulation (random
//! formats, gains, epsilons, seed tables, one to three layers switching between vectors,
//! extreme and all-zero vectors, gaps in the stream) and under Verilator, and meets its
//! stated latency.

mod element_stream;

use element_stream::StreamBench;
use hardwire::blocks::RmsNorm;
use hardwire::hdl::prelude::*;
use hardwire::hdl::verilog::Verilog;
use hardwire::hdl::Code;
use hardwire::model::fixed::{rms_norm, Format, RmsNormParams, RsqrtTable};
use hardwire::sim::cosim::require_tool;
use proptest::prelude::*;

/// One vector: its layer, and each element with the idle cycles before it.
#[derive(Debug, Clone)]
struct Vector {
    layer: usize,
    /// Idle cycles before the vector, while `layer` holds another value.
    lead: usize,
    elements: Vec<(usize, i32)>,
}

fn elaborate(b: &RmsNorm) -> Design {
    Design::elaborate(b).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs the vectors one after another (each as soon as the previous one's last output has
/// left); checks every output against the golden model and each vector's latency.
fn check(b: &RmsNorm, vectors: &[Vector]) -> StreamBench {
    let design = elaborate(b);
    let n = b.params[0].gain.len();
    let layers = b.params.len() as i64;
    let mut bench = StreamBench::new(&design, &[("y_valid", "y")]);
    let mut want: Vec<i64> = Vec::new();
    for (i, v) in vectors.iter().enumerate() {
        // The layer only has to hold from the first input to the last output.
        bench.set("layer", (v.layer as i64 + 1) % layers);
        bench.idle(v.lead);
        bench.set("layer", v.layer as i64);
        let mut last = 0;
        for &(gap, x) in &v.elements {
            last = bench.send("x_valid", "x", gap, x.into());
        }
        let xs: Vec<i32> = v.elements.iter().map(|e| e.1).collect();
        want.extend(
            rms_norm(&xs, &b.params[v.layer], &b.table, b.output)
                .into_iter()
                .map(i64::from),
        );
        bench.wait_for(0, (i + 1) * n, b.latency() + 1);
        let &(end, _) = bench.seen[0].last().unwrap();
        assert_eq!(end - last, b.latency(), "latency of vector {i}");
    }
    bench.idle(3);
    let got: Vec<i64> = bench.seen[0].iter().map(|&(_, y)| y).collect();
    assert_eq!(got, want);
    bench
}

fn format(bits: std::ops::RangeInclusive<u32>) -> impl Strategy<Value = Format> {
    bits.prop_flat_map(|bits| (Just(bits), 0..bits).prop_map(|(bits, frac)| Format { bits, frac }))
}

fn params(n: usize) -> impl Strategy<Value = RmsNormParams> {
    let gain = prop_oneof![3 => -(1i32 << 20)..(1 << 20), 1 => any::<i32>()];
    let eps = prop_oneof![0u64..4, 1u64..(1 << 24), 1u64..(1 << 40)];
    (prop::collection::vec(gain, n), eps).prop_map(|(gain, eps)| RmsNormParams { gain, eps })
}

/// The default seed table, or one with every entry nudged by up to 3%.
fn table() -> impl Strategy<Value = RsqrtTable> {
    let base = RsqrtTable::default();
    let nudged = prop::collection::vec(-2000i32..2000, base.entries.len()).prop_map(|d| {
        let entries = RsqrtTable::default()
            .entries
            .iter()
            .zip(d)
            .map(|(&e, d)| (e as i32 + d) as u32)
            .collect();
        RsqrtTable { entries }
    });
    prop_oneof![3 => Just(base), 1 => nudged]
}

/// A vector of `n` inputs: random (full range or small), all zero, or extreme.
fn values(n: usize, bits: u32) -> impl Strategy<Value = Vec<i32>> {
    let lim = 1i64 << (bits - 1);
    // At 32 bits `-min` overflows i32: the largest value is spelled out.
    let (min, max) = (-lim as i32, (lim - 1) as i32);
    prop_oneof![
        4 => prop::collection::vec((-lim..lim).prop_map(|v| v as i32), n),
        2 => prop::collection::vec(-16i32..16, n).prop_map(move |v| v.into_iter().map(|x| x.clamp(min, max)).collect()),
        1 => Just(vec![0; n]),
        1 => Just(vec![min; n]),
        1 => (0..n, any::<bool>()).prop_map(move |(i, neg)| {
            let mut v = vec![0; n];
            v[i] = if neg { min } else { max };
            v
        }),
    ]
}

fn case() -> impl Strategy<Value = (RmsNorm, Vec<Vector>)> {
    (
        1usize..13,
        1usize..4,
        // Up to 32-bit inputs: a dozen squares then pass 64 bits.
        format(4..=32),
        format(4..=24),
        table(),
    )
        .prop_flat_map(|(n, layers, input, output, table)| {
            let block = prop::collection::vec(params(n), layers).prop_map(move |params| RmsNorm {
                params,
                input,
                output,
                table: table.clone(),
                label: "p".into(),
            });
            let gap = prop_oneof![3 => Just(0usize), 1 => 1usize..4];
            let vector = (
                0..layers,
                0usize..4,
                values(n, input.bits),
                prop::collection::vec(gap, n),
            )
                .prop_map(|(layer, lead, xs, gaps)| Vector {
                    layer,
                    lead,
                    elements: gaps.into_iter().zip(xs).collect(),
                });
            (block, prop::collection::vec(vector, 1..4))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn rms_norm_matches_golden((b, vectors) in case()) {
        check(&b, &vectors);
    }
}

/// Gains as the model folds them, for `n` elements of the residual format.
fn model_params(n: usize, seed: u32, input: Format) -> RmsNormParams {
    let gains: Vec<f32> = (0..n)
        .map(|i| 0.2 + ((i as u32 * 37 + seed * 11) % 29) as f32 / 10.0)
        .collect();
    RmsNormParams::new(&gains, 1e-5, input)
}

#[test]
fn rms_norm_under_verilator() {
    if !require_tool("verilator") {
        return;
    }
    let (input, output) = (Format { bits: 24, frac: 7 }, Format { bits: 20, frac: 12 });
    let b = RmsNorm {
        params: vec![model_params(16, 1, input), model_params(16, 2, input)],
        input,
        output,
        table: RsqrtTable::default(),
        label: "v".into(),
    };
    let mut s = 7u64;
    let mut next = move |n: u64| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) % n
    };
    let vectors: Vec<Vector> = (0..4)
        .map(|i| Vector {
            layer: i % 2,
            lead: next(3) as usize,
            elements: (0..16)
                .map(|_| {
                    let gap = [0, 0, 1, 3][next(4) as usize];
                    let scale = [1 << 23, 1 << 12, 40][i % 3];
                    (gap, (next(2 * scale) as i64 - scale as i64) as i32)
                })
                .collect(),
        })
        .collect();
    check(&b, &vectors).cosimulate(&elaborate(&b));
}

/// The Verilog files of a design, memory contents abbreviated to their first words.
fn verilog(block: &RmsNorm) -> String {
    Verilog::from_design(&elaborate(block)).listing(|_| true)
}

#[test]
fn rms_norm_verilog() {
    let input = Format { bits: 12, frac: 4 };
    insta::assert_snapshot!(verilog(&RmsNorm {
        params: vec![model_params(4, 1, input), model_params(4, 2, input)],
        input,
        output: Format { bits: 10, frac: 6 },
        table: RsqrtTable::default(),
        label: "s".into(),
    }));
}

#[test]
fn misuse_is_reported() {
    let input = Format { bits: 16, frac: 8 };
    let good = RmsNorm {
        params: vec![model_params(4, 1, input)],
        input,
        output: input,
        table: RsqrtTable::default(),
        label: "m".into(),
    };
    let cases = [
        (
            RmsNorm {
                params: vec![model_params(4, 1, input), model_params(5, 1, input)],
                ..good.clone()
            },
            "one non-zero length",
        ),
        (
            RmsNorm {
                params: vec![],
                ..good.clone()
            },
            "at least one layer",
        ),
        (
            RmsNorm {
                output: Format { bits: 16, frac: 33 },
                ..good.clone()
            },
            "fractional bits",
        ),
        (
            RmsNorm {
                table: RsqrtTable {
                    entries: vec![1 << 16; 64],
                },
                ..good.clone()
            },
            "needs 128",
        ),
        (
            RmsNorm {
                table: RsqrtTable {
                    entries: vec![1 << 19; 128],
                },
                ..good.clone()
            },
            "Newton step negative",
        ),
    ];
    for (block, words) in cases {
        let e = Design::elaborate(&block).expect_err("a bad parameter");
        assert!(e.has(Code::BadParameter), "{e}");
        assert!(e.to_string().contains(words), "{e}");
    }
    Design::elaborate(&good).unwrap_or_else(|e| panic!("{e}"));
}
