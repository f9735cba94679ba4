//! The softmax pipeline is bit-exact with the golden model's `softmax`: native simulation on
//! random score formats, lengths, tables and input gaps, several vectors in a row; the same run
//! under Verilator; the latency as documented.

use hardwire::blocks::SoftmaxPipeline;
use hardwire::hdl::prelude::*;
use hardwire::hdl::verilog::Verilog;
use hardwire::hdl::Code;
use hardwire::model::fixed::{softmax, ExpTable, RecipTable};
use hardwire::sim::cosim::{cosimulate, require_tool, Backend, Recorder};
use proptest::prelude::*;

/// Scores to send, and the idle cycles before each.
#[derive(Debug, Clone)]
struct Vector {
    scores: Vec<i32>,
    gaps: Vec<usize>,
}

/// Counts cycles and collects the output stream.
struct Bench<'r> {
    rec: &'r mut Recorder,
    cycle: u64,
    out: Vec<i32>,
    last_out: u64,
}

impl Bench<'_> {
    /// Samples the outputs, then clocks.
    fn edge(&mut self) {
        if self.rec.get("y_valid").unwrap() == 1 {
            self.out.push(self.rec.get("y").unwrap() as i32);
            self.last_out = self.cycle;
        }
        self.rec.step();
        self.cycle += 1;
    }
}

/// Sends each vector as the stream convention allows (the next one from the cycle after the
/// last output), with garbage on `x` and `x_last` while idle; returns each vector's outputs
/// and measured latency.
fn drive(rec: &mut Recorder, vectors: &[Vector]) -> Vec<(Vec<i32>, u64)> {
    let mut results = Vec::new();
    let mut junk = 0x1234_i64;
    let mut b = Bench {
        rec,
        cycle: 0,
        out: Vec::new(),
        last_out: 0,
    };
    for v in vectors {
        b.out.clear();
        let mut last_in = 0;
        for (i, &s) in v.scores.iter().enumerate() {
            for _ in 0..v.gaps[i] {
                junk = junk.wrapping_mul(6364136223846793005).wrapping_add(1);
                b.rec.set("x_valid", 0).unwrap();
                b.rec.set("x", junk >> 24).unwrap();
                b.rec.set("x_last", junk >> 63).unwrap();
                b.edge();
            }
            b.rec.set("x_valid", 1).unwrap();
            b.rec.set("x", s.into()).unwrap();
            b.rec
                .set("x_last", i64::from(i + 1 == v.scores.len()))
                .unwrap();
            last_in = b.cycle;
            b.edge();
        }
        b.rec.set("x_valid", 0).unwrap();
        let deadline = b.cycle + 3 * v.scores.len() as u64 + 50;
        while b.out.len() < v.scores.len() && b.cycle < deadline {
            b.edge();
        }
        results.push((b.out.clone(), b.last_out - last_in));
    }
    results
}

fn check(block: &SoftmaxPipeline, vectors: &[Vector]) -> Result<Recorder, TestCaseError> {
    let design = Design::elaborate(block).unwrap_or_else(|e| panic!("{e}"));
    let mut rec = Recorder::new(&design, 2).unwrap();
    for (v, (out, latency)) in vectors.iter().zip(drive(&mut rec, vectors)) {
        let want = softmax(&v.scores, &block.exp, &block.recip, block.score_frac);
        prop_assert_eq!(&out, &want, "scores {:?}", v.scores);
        prop_assert_eq!(latency, block.latency(v.scores.len()));
    }
    Ok(rec)
}

/// Scores either anywhere in the format or clustered (so several probabilities matter).
fn vector(max_len: usize, bits: u32) -> impl Strategy<Value = Vector> {
    let lim = 1i64 << (bits - 1);
    (1..=max_len, -lim..lim, prop_oneof![Just(lim), 1i64..256]).prop_flat_map(
        move |(n, centre, spread)| {
            let score =
                (-spread..spread).prop_map(move |d| (centre + d).clamp(-lim, lim - 1) as i32);
            (
                prop::collection::vec(score, n),
                prop::collection::vec(prop_oneof![3 => Just(0usize), 1 => 1usize..4], n),
            )
                .prop_map(|(scores, gaps)| Vector { scores, gaps })
        },
    )
}

/// The default tables, or ones nudged by a few units (other widths, other roundings).
fn tables() -> impl Strategy<Value = (ExpTable, RecipTable)> {
    let (exp, recip) = (ExpTable::default(), RecipTable::default());
    prop_oneof![
        3 => Just((exp.clone(), recip.clone())),
        1 => (
            prop::collection::vec(-40i64..40, exp.entries.len()),
            prop::collection::vec(-300i64..300, recip.entries.len()),
        )
            .prop_map(move |(de, dr)| {
                let nudge = |t: &[u32], d: &[i64]| {
                    t.iter().zip(d).map(|(&v, &d)| (i64::from(v) + d).max(0) as u32).collect()
                };
                (
                    ExpTable { entries: nudge(&exp.entries, &de) },
                    RecipTable { entries: nudge(&recip.entries, &dr) },
                )
            }),
    ]
}

fn case() -> impl Strategy<Value = (SoftmaxPipeline, Vec<Vector>)> {
    (
        1usize..24,
        prop::sample::select(vec![6u32, 12, 16, 20, 24, 32]),
    )
        .prop_flat_map(|(max_len, bits)| (Just(max_len), Just(bits), 0..bits - 1, tables()))
        .prop_flat_map(|(max_len, bits, frac, (exp, recip))| {
            let block = SoftmaxPipeline {
                max_len,
                score_bits: bits,
                score_frac: frac,
                exp,
                recip,
                label: "p".into(),
            };
            (
                Just(block),
                prop::collection::vec(vector(max_len, bits), 1..4),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn softmax_matches_golden((block, vs) in case()) {
        check(&block, &vs)?;
    }
}

fn block(max_len: usize, label: &str) -> SoftmaxPipeline {
    SoftmaxPipeline {
        max_len,
        score_bits: 20,
        score_frac: 12,
        exp: ExpTable::default(),
        recip: RecipTable::default(),
        label: label.into(),
    }
}

#[test]
fn softmax_prob_width_for_the_default_tables() {
    // 1.0 is 2^15; the Newton step's largest result needs 16 bits, plus a sign.
    assert_eq!(block(8, "w").prob_bits(), 17);
}

#[test]
fn softmax_long_vectors() {
    // A thousand equal scores (the widest sum) and a thousand spread ones.
    let block = block(1000, "l");
    let spread = (0..1000).map(|i| (i * 7919 % 20_000) - 10_000).collect();
    let vs = [vec![12_345; 1000], spread].map(|scores| Vector {
        gaps: vec![0; scores.len()],
        scores,
    });
    check(&block, &vs).unwrap();
}

#[test]
fn softmax_under_verilator() {
    if !require_tool("verilator") {
        return;
    }
    let block = block(64, "v");
    let mut seed = 11u64;
    let mut rnd = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let vs: Vec<Vector> = [1usize, 64, 5, 33, 2, 17]
        .iter()
        .map(|&n| {
            let spread = [1 << 19, 40_000, 3000][n % 3];
            Vector {
                scores: (0..n)
                    .map(|_| rnd(2 * spread) as i32 - spread as i32)
                    .collect(),
                gaps: (0..n)
                    .map(|_| if rnd(3) == 0 { rnd(4) as usize } else { 0 })
                    .collect(),
            }
        })
        .collect();
    let rec = check(&block, &vs).unwrap();
    let design = Design::elaborate(&block).unwrap();
    cosimulate(&design, &rec.stimulus(), Backend::Verilator).unwrap_or_else(|e| panic!("{e}"));
}

/// The Verilog of a design, the files whose names pass `keep`.
fn verilog<B: Block>(block: &B, keep: impl Fn(&str) -> bool) -> String {
    let design = Design::elaborate(block).unwrap_or_else(|e| panic!("{e}"));
    Verilog::from_design(&design).listing(keep)
}

#[test]
fn softmax_verilog() {
    // The module; its tables are the golden model's.
    insta::assert_snapshot!(verilog(&block(4, "s"), |f| f.ends_with(".v")));
}

#[test]
fn softmax_rejects_bad_tables_and_sizes() {
    let short = SoftmaxPipeline {
        exp: ExpTable {
            entries: vec![1; 10],
        },
        ..block(4, "e")
    };
    let err = Design::elaborate(&short).unwrap_err();
    assert!(err.has(Code::BadParameter), "{err}");
    assert!(
        err.to_string().contains("exp table has 10 entries"),
        "{err}"
    );
    let empty = SoftmaxPipeline {
        max_len: 0,
        ..block(4, "z")
    };
    assert!(Design::elaborate(&empty)
        .unwrap_err()
        .has(Code::BadParameter));
    let frac = SoftmaxPipeline {
        score_frac: 20,
        ..block(4, "f")
    };
    assert!(Design::elaborate(&frac)
        .unwrap_err()
        .has(Code::BadParameter));
}
