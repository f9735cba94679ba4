//! RoPE in hardware is bit-exact with the golden model's `rope` (then permuted into
//! rotation-pair order): native simulation on random heads, widths, positions, tables and
//! input gaps, several vectors in a row; the same run under Verilator; the latency as
//! documented.

use hardwire::blocks::RotaryEmbedding;
use hardwire::hdl::prelude::*;
use hardwire::hdl::verilog::Verilog;
use hardwire::hdl::Code;
use hardwire::model::config::LlamaConfig;
use hardwire::model::fixed::{rope, RopeTables};
use hardwire::sim::cosim::{cosimulate, require_tool, Backend, Recorder};
use proptest::prelude::*;

/// One vector to send: its elements (model order, whole heads), position, and the idle
/// cycles before each element.
#[derive(Debug, Clone)]
struct Vector {
    x: Vec<i32>,
    pos: usize,
    gaps: Vec<usize>,
}

fn tables(head_dim: usize, max_seq: usize) -> RopeTables {
    let config = LlamaConfig {
        hidden_size: head_dim * 2,
        num_attention_heads: 2,
        num_key_value_heads: 2,
        ..LlamaConfig::tiny()
    };
    RopeTables::new(&config, max_seq)
}

/// Model order to rotation-pair order, head by head.
fn pair_order(x: &[i32], head_dim: usize) -> Vec<i32> {
    let half = head_dim / 2;
    x.chunks(head_dim)
        .flat_map(|h| (0..half).flat_map(move |i| [h[i], h[i + half]]))
        .collect()
}

fn golden(block: &RotaryEmbedding, v: &Vector) -> Vec<i32> {
    let mut x = v.x.clone();
    for head in x.chunks_mut(block.head_dim) {
        rope(head, v.pos, &block.tables, block.bits);
    }
    pair_order(&x, block.head_dim)
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
/// last output), with garbage on `x` and `pos` while idle; returns each vector's outputs and
/// measured latency.
fn drive(rec: &mut Recorder, block: &RotaryEmbedding, vectors: &[Vector]) -> Vec<(Vec<i32>, u64)> {
    let mut results = Vec::new();
    let mut junk = 0x5a5a_i64;
    let mut b = Bench {
        rec,
        cycle: 0,
        out: Vec::new(),
        last_out: 0,
    };
    for v in vectors {
        let input = pair_order(&v.x, block.head_dim);
        b.out.clear();
        let mut last_in = 0;
        for (i, &e) in input.iter().enumerate() {
            for _ in 0..v.gaps[i] {
                junk = junk.wrapping_mul(6364136223846793005).wrapping_add(1);
                b.rec.set("x_valid", 0).unwrap();
                b.rec.set("x", junk >> 20).unwrap();
                if i == 0 {
                    b.rec.set("pos", junk >> 40).unwrap();
                }
                b.edge();
            }
            b.rec.set("pos", v.pos as i64).unwrap();
            b.rec.set("x_valid", 1).unwrap();
            b.rec.set("x", e.into()).unwrap();
            last_in = b.cycle;
            b.edge();
        }
        b.rec.set("x_valid", 0).unwrap();
        while b.out.len() < input.len() && b.cycle < last_in + 100 {
            b.edge();
        }
        results.push((b.out.clone(), b.last_out - last_in));
    }
    results
}

fn check(block: &RotaryEmbedding, vectors: &[Vector]) -> Result<Recorder, TestCaseError> {
    let design = Design::elaborate(block).unwrap_or_else(|e| panic!("{e}"));
    let mut rec = Recorder::new(&design, 2).unwrap();
    for (v, (out, latency)) in vectors.iter().zip(drive(&mut rec, block, vectors)) {
        prop_assert_eq!(&out, &golden(block, v), "pos {}", v.pos);
        prop_assert_eq!(latency, block.latency());
    }
    Ok(rec)
}

fn vectors(head_dim: usize, bits: u32, max_seq: usize) -> impl Strategy<Value = Vec<Vector>> {
    let lim = 1i64 << (bits - 1);
    let one = (1usize..4).prop_flat_map(move |heads| {
        let n = heads * head_dim;
        (
            prop::collection::vec((-lim..lim).prop_map(|v| v as i32), n),
            0..max_seq,
            prop::collection::vec(prop_oneof![4 => Just(0usize), 1 => 1usize..4], n),
        )
            .prop_map(|(x, pos, gaps)| Vector { x, pos, gaps })
    });
    prop::collection::vec(one, 1..5)
}

fn case() -> impl Strategy<Value = (RotaryEmbedding, Vec<Vector>)> {
    (
        1usize..=4,
        prop::sample::select(vec![6u32, 12, 16, 20, 24, 32]),
        1usize..40,
        any::<bool>(),
    )
        .prop_flat_map(|(half, bits, max_seq, random_tables)| {
            let head_dim = 2 * half;
            let n = half * max_seq;
            let t = tables(head_dim, max_seq);
            let tables = if random_tables {
                // Any entries in range, full scale included: exercises the saturation.
                (
                    prop::collection::vec(-(1i32 << 14)..=(1 << 14), n),
                    prop::collection::vec(-(1i32 << 14)..=(1 << 14), n),
                )
                    .prop_map(move |(cos, sin)| RopeTables {
                        half,
                        max_seq,
                        cos,
                        sin,
                    })
                    .boxed()
            } else {
                Just(t).boxed()
            };
            (tables, vectors(head_dim, bits, max_seq)).prop_map(move |(tables, vs)| {
                (
                    RotaryEmbedding {
                        tables,
                        head_dim,
                        bits,
                        label: "p".into(),
                    },
                    vs,
                )
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn rotary_matches_golden_rope((block, vs) in case()) {
        check(&block, &vs)?;
    }
}

fn small() -> RotaryEmbedding {
    RotaryEmbedding {
        tables: tables(4, 3),
        head_dim: 4,
        bits: 12,
        label: "s".into(),
    }
}

#[test]
fn rotary_under_verilator() {
    if !require_tool("verilator") {
        return;
    }
    let block = RotaryEmbedding {
        tables: tables(8, 12),
        head_dim: 8,
        bits: 20,
        label: "v".into(),
    };
    let mut seed = 7u64;
    let mut rnd = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let vs: Vec<Vector> = (0..6)
        .map(|k| {
            let n = 8 * (1 + k % 3);
            Vector {
                x: (0..n).map(|_| rnd(1 << 20) as i32 - (1 << 19)).collect(),
                pos: rnd(12) as usize,
                gaps: (0..n)
                    .map(|_| if rnd(3) == 0 { rnd(3) as usize } else { 0 })
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
fn rotary_verilog() {
    insta::assert_snapshot!(verilog(&small(), |_| true));
}

#[test]
fn rotary_rejects_tables_for_another_head_size() {
    let block = RotaryEmbedding {
        head_dim: 6,
        ..small()
    };
    let err = Design::elaborate(&block).unwrap_err();
    assert!(err.has(Code::BadParameter), "{err}");
    assert!(err.to_string().contains("3 pairs"), "{err}");
    let odd = RotaryEmbedding {
        head_dim: 5,
        ..small()
    };
    assert!(Design::elaborate(&odd).unwrap_err().has(Code::BadParameter));
}
