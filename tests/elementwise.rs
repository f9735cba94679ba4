//! The element-wise stream blocks are bit-exact with the golden model: [`SwiGlu`] with
//! `mul(silu(gate), up)`, [`ResidualAdd`] with `residual_add` and [`Argmax`] with `argmax`,
//! in native simulation (random formats, tables, lengths, values and gaps in the streams,
//! several vectors in a row) and under Verilator; each meets its stated latency.

mod element_stream;

use element_stream::StreamBench;
use hardwire::blocks::{Argmax, ResidualAdd, SwiGlu};
use hardwire::hdl::prelude::*;
use hardwire::hdl::verilog::Verilog;
use hardwire::hdl::Code;
use hardwire::model::fixed::{argmax, mul, residual_add, silu, Format, SiluTable};
use hardwire::sim::cosim::require_tool;
use proptest::prelude::*;

/// A vector of element pairs, each with the idle cycles before it: (gate, up) for SwiGLU,
/// (x, d) for the residual add.
type Pairs = Vec<(usize, i32, usize, i32)>;

/// Idle cycles before an element: mostly none, sometimes a few.
fn gap() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(0usize), 1 => 1usize..4]
}

/// A value of a `bits`-wide signed format.
fn full_range(bits: u32) -> impl Strategy<Value = i32> {
    let lim = 1i64 << (bits - 1);
    (-lim..lim).prop_map(|v| v as i32)
}

fn elaborate<B: Block>(block: &B) -> Design {
    Design::elaborate(block).unwrap_or_else(|e| panic!("{e}"))
}

/// The golden SwiGLU product of one (gate, up) pair.
fn swiglu_golden(b: &SwiGlu, gate: i32, up: i32) -> i64 {
    let s = silu(&[gate], &b.table, b.act);
    mul(&s, &[up], b.act.frac, b.out)[0].into()
}

/// Sends `vectors` of (gap, gate, up) pairs back to back; checks every product and that each
/// comes `latency()` cycles after its up value.
fn check_swiglu(b: &SwiGlu, vectors: &[Pairs]) -> StreamBench {
    let design = elaborate(b);
    let mut bench = StreamBench::new(&design, &[("y_valid", "y")]);
    let mut expected = Vec::new();
    for pairs in vectors {
        for &(gap_g, gate, gap_u, up) in pairs {
            bench.send("x_valid", "x", gap_g, gate.into());
            let c = bench.send("x_valid", "x", gap_u, up.into());
            expected.push((c + b.latency(), swiglu_golden(b, gate, up)));
        }
    }
    bench.idle(b.latency() as usize + 3);
    assert_eq!(bench.seen[0], expected, "(cycle, product) of each pair");
    bench
}

fn format(bits: std::ops::RangeInclusive<u32>) -> impl Strategy<Value = Format> {
    bits.prop_flat_map(|bits| (Just(bits), 0..bits).prop_map(|(bits, frac)| Format { bits, frac }))
}

fn swiglu_block() -> impl Strategy<Value = SwiGlu> {
    let table = prop_oneof![
        3 => Just(SiluTable::default()),
        1 => prop::collection::vec(-40_000i32..40_000, 2..40).prop_map(|entries| SiluTable { entries }),
    ];
    (8u32..=24, table).prop_flat_map(|(act_bits, table)| {
        (4..=act_bits.min(20)).prop_flat_map(move |act_frac| {
            let table = table.clone();
            (2u32..=24).prop_flat_map(move |out_bits| {
                let table = table.clone();
                (0..=(2 * act_frac).min(28)).prop_map(move |out_frac| SwiGlu {
                    act: Format {
                        bits: act_bits,
                        frac: act_frac,
                    },
                    out: Format {
                        bits: out_bits,
                        frac: out_frac,
                    },
                    table: table.clone(),
                })
            })
        })
    })
}

/// Activations: anywhere in the format, or within the sigmoid table's range ±8 (and a bit).
fn activation(act: Format) -> impl Strategy<Value = i32> {
    let lim = 1i64 << (act.bits - 1);
    let near = (10i64 << act.frac).min(lim);
    prop_oneof![full_range(act.bits), (-near..near).prop_map(|v| v as i32),]
}

fn swiglu_case() -> impl Strategy<Value = (SwiGlu, Vec<Pairs>)> {
    swiglu_block().prop_flat_map(|b| {
        let pair = (gap(), activation(b.act), gap(), activation(b.act));
        let vector = prop::collection::vec(pair, 1..6);
        (Just(b), prop::collection::vec(vector, 1..4))
    })
}

fn residual_case() -> impl Strategy<Value = (ResidualAdd, Vec<Pairs>)> {
    (1usize..9, format(2..=24)).prop_flat_map(|(n, format)| {
        let b = ResidualAdd {
            n,
            format,
            label: "r".into(),
        };
        let element = (
            gap(),
            full_range(format.bits),
            gap(),
            full_range(format.bits),
        );
        (
            Just(b),
            prop::collection::vec(prop::collection::vec(element, n), 1..4),
        )
    })
}

/// Sends each vector's `x` then its `d`, waits for its sums, and checks them and the latency.
fn check_residual(b: &ResidualAdd, vectors: &[Pairs]) -> StreamBench {
    let design = elaborate(b);
    let mut bench = StreamBench::new(&design, &[("y_valid", "y")]);
    let mut want = Vec::new();
    for (v, elements) in vectors.iter().enumerate() {
        for &(gap, x, _, _) in elements {
            bench.send("x_valid", "x", gap, x.into());
        }
        let mut last = 0;
        for &(_, _, gap, d) in elements {
            last = bench.send("d_valid", "d", gap, d.into());
        }
        let xs: Vec<i32> = elements.iter().map(|e| e.1).collect();
        let ds: Vec<i32> = elements.iter().map(|e| e.3).collect();
        want.extend(residual_add(&xs, &ds, b.format).into_iter().map(i64::from));
        bench.wait_for(0, (v + 1) * b.n, 100);
        let &(end, _) = bench.seen[0].last().unwrap();
        assert_eq!(end - last, b.latency(), "latency of vector {v}");
    }
    bench.idle(4);
    let got: Vec<i64> = bench.seen[0].iter().map(|&(_, y)| y).collect();
    assert_eq!(got, want);
    bench
}

fn argmax_case() -> impl Strategy<Value = (Argmax, Vec<Vec<(usize, i32)>>)> {
    (1usize..13, 1u32..=16).prop_flat_map(|(n, bits)| {
        let lim = 1i32 << (bits - 1);
        // Few distinct values, so ties are common.
        let value = prop_oneof![
            full_range(bits),
            (-3i32..3).prop_map(move |v| v.clamp(-lim, lim - 1))
        ];
        let vector = prop::collection::vec((gap(), value), n);
        (
            Just(Argmax { n, bits }),
            prop::collection::vec(vector, 1..4),
        )
    })
}

/// Sends the vectors back to back; checks each index and its cycle.
fn check_argmax(b: &Argmax, vectors: &[Vec<(usize, i32)>]) -> StreamBench {
    let design = elaborate(b);
    let mut bench = StreamBench::new(&design, &[("index_valid", "index")]);
    let mut want = Vec::new();
    for elements in vectors {
        let mut last = 0;
        for &(gap, x) in elements {
            last = bench.send("x_valid", "x", gap, x.into());
        }
        let xs: Vec<i32> = elements.iter().map(|e| e.1).collect();
        want.push((last + b.latency(), argmax(&xs) as i64));
    }
    bench.idle(3);
    assert_eq!(bench.seen[0], want, "(cycle, index) of each vector");
    bench
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn swiglu_matches_golden((b, vectors) in swiglu_case()) {
        check_swiglu(&b, &vectors);
    }

    #[test]
    fn residual_add_matches_golden((b, vectors) in residual_case()) {
        check_residual(&b, &vectors);
    }

    #[test]
    fn argmax_matches_golden((b, vectors) in argmax_case()) {
        check_argmax(&b, &vectors);
    }
}

/// A small deterministic generator for the co-simulation runs.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }

    fn signed(&mut self, bits: u32) -> i32 {
        (self.below(1 << bits) as i64 - (1 << (bits - 1))) as i32
    }

    fn gap(&mut self) -> usize {
        [0, 0, 0, 1, 2][self.below(5) as usize]
    }
}

#[test]
fn swiglu_under_verilator() {
    if !require_tool("verilator") {
        return;
    }
    let b = SwiGlu {
        act: Format { bits: 20, frac: 12 },
        out: Format { bits: 24, frac: 7 },
        table: SiluTable::default(),
    };
    let mut r = Lcg(1);
    let vectors: Vec<Vec<_>> = (0..4)
        .map(|_| {
            (0..6)
                .map(|_| (r.gap(), r.signed(17), r.gap(), r.signed(20)))
                .collect()
        })
        .collect();
    check_swiglu(&b, &vectors).cosimulate(&elaborate(&b));
}

#[test]
fn residual_add_under_verilator() {
    if !require_tool("verilator") {
        return;
    }
    let b = ResidualAdd {
        n: 7,
        format: Format { bits: 12, frac: 4 },
        label: "v".into(),
    };
    let mut r = Lcg(2);
    let vectors: Vec<Vec<_>> = (0..3)
        .map(|_| {
            (0..7)
                .map(|_| (r.gap(), r.signed(12), r.gap(), r.signed(12)))
                .collect()
        })
        .collect();
    check_residual(&b, &vectors).cosimulate(&elaborate(&b));
}

#[test]
fn argmax_under_verilator() {
    if !require_tool("verilator") {
        return;
    }
    let b = Argmax { n: 10, bits: 6 };
    let mut r = Lcg(3);
    let vectors: Vec<Vec<_>> = (0..5)
        .map(|_| (0..10).map(|_| (r.gap(), r.signed(3))).collect())
        .collect();
    check_argmax(&b, &vectors).cosimulate(&elaborate(&b));
}

/// The Verilog files of a design, memory contents abbreviated to their first words.
fn verilog<B: Block>(block: &B) -> String {
    Verilog::from_design(&elaborate(block)).listing(|_| true)
}

#[test]
fn swiglu_verilog() {
    insta::assert_snapshot!(verilog(&SwiGlu {
        act: Format { bits: 10, frac: 6 },
        out: Format { bits: 12, frac: 5 },
        table: SiluTable::default(),
    }));
}

#[test]
fn residual_add_verilog() {
    insta::assert_snapshot!(verilog(&ResidualAdd {
        n: 6,
        format: Format { bits: 8, frac: 3 },
        label: "s".into(),
    }));
}

#[test]
fn argmax_verilog() {
    insta::assert_snapshot!(verilog(&Argmax { n: 5, bits: 8 }));
}

fn bad_parameter<B: Block>(block: &B) -> String {
    let e = Design::elaborate(block).expect_err("a bad parameter");
    assert!(e.has(Code::BadParameter), "{e}");
    e.to_string()
}

#[test]
fn misuse_is_reported() {
    let e = bad_parameter(&SwiGlu {
        act: Format { bits: 16, frac: 3 },
        out: Format { bits: 16, frac: 3 },
        table: SiluTable::default(),
    });
    assert!(e.contains("act.frac"), "{e}");
    let e = bad_parameter(&SwiGlu {
        act: Format { bits: 16, frac: 8 },
        out: Format { bits: 16, frac: 17 },
        table: SiluTable::default(),
    });
    assert!(e.contains("2 * act.frac"), "{e}");
    let e = bad_parameter(&SwiGlu {
        act: Format { bits: 16, frac: 8 },
        out: Format { bits: 16, frac: 8 },
        table: SiluTable { entries: vec![5] },
    });
    assert!(e.contains("SiLU table"), "{e}");
    let e = bad_parameter(&ResidualAdd {
        n: 0,
        format: Format { bits: 16, frac: 8 },
        label: "z".into(),
    });
    assert!(e.contains("n >= 1"), "{e}");
    let e = bad_parameter(&Argmax { n: 0, bits: 8 });
    assert!(e.contains("n >= 1"), "{e}");
}
