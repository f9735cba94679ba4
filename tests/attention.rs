//! Attention in hardware, KV cache included, is bit-exact with the attention section of the
//! golden `FixedModel::step` (RoPE, cache, scores, softmax, weighted sum) over consecutive
//! positions and alternating layers: native simulation on random head layouts, formats and
//! input gaps; the same run under Verilator; the latency as documented.

use hardwire::blocks::Attention;
use hardwire::hdl::prelude::*;
use hardwire::hdl::verilog::Verilog;
use hardwire::hdl::Code;
use hardwire::model::config::LlamaConfig;
use hardwire::model::fixed::{
    attention_score, rope, score_requant, softmax, weighted_sum, ExpTable, Format, RecipTable,
    RopeTables,
};
use hardwire::sim::cosim::{cosimulate, require_tool, Backend, Recorder};
use proptest::prelude::*;

/// One step's projections (model order, before RoPE) and the idle cycles before each of the
/// `qkv` stream's elements.
#[derive(Debug, Clone)]
struct Step {
    q: Vec<i32>,
    k: Vec<i32>,
    v: Vec<i32>,
    gaps: Vec<usize>,
}

fn attention(
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    max_seq: usize,
    layers: usize,
    act: Format,
) -> Attention {
    let config = LlamaConfig {
        hidden_size: heads * head_dim,
        num_attention_heads: heads,
        num_key_value_heads: kv_heads,
        ..LlamaConfig::tiny()
    };
    Attention {
        heads,
        kv_heads,
        head_dim,
        max_seq,
        layers,
        act,
        score_scale: score_requant(head_dim, act, 16),
        rope: RopeTables::new(&config, max_seq),
        exp: ExpTable::default(),
        recip: RecipTable::default(),
        lanes: 1,
        label: "t".into(),
    }
}

/// Model order to rotation-pair order, head by head.
fn pair_order(x: &[i32], head_dim: usize) -> Vec<i32> {
    let half = head_dim / 2;
    x.chunks(head_dim)
        .flat_map(|h| (0..half).flat_map(move |i| [h[i], h[i + half]]))
        .collect()
}

/// The golden model's KV cache of one layer and its attention step, as `FixedModel::step`
/// computes them.
#[derive(Default)]
struct GoldenLayer {
    k: Vec<i32>,
    v: Vec<i32>,
}

impl GoldenLayer {
    fn step(&mut self, a: &Attention, pos: usize, s: &Step) -> Vec<i32> {
        let (hd, bits) = (a.head_dim, a.act.bits);
        let kv = a.kv_heads * hd;
        let group = a.heads / a.kv_heads;
        let (mut q, mut k) = (s.q.clone(), s.k.clone());
        q.chunks_exact_mut(hd)
            .for_each(|head| rope(head, pos, &a.rope, bits));
        k.chunks_exact_mut(hd)
            .for_each(|head| rope(head, pos, &a.rope, bits));
        self.k.truncate(pos * kv);
        self.v.truncate(pos * kv);
        self.k.extend_from_slice(&k);
        self.v.extend_from_slice(&s.v);
        let mut att = Vec::new();
        for head in 0..a.heads {
            let off = (head / group) * hd;
            let qh = &q[head * hd..(head + 1) * hd];
            let scores: Vec<i32> = (0..=pos)
                .map(|p| {
                    attention_score(
                        qh,
                        &self.k[p * kv + off..p * kv + off + hd],
                        a.score_scale,
                        bits,
                    )
                })
                .collect();
            let probs = softmax(&scores, &a.exp, &a.recip, a.act.frac);
            att.extend(weighted_sum(&probs, &self.v, kv, off, hd, bits));
        }
        att
    }
}

/// Sends one step as the stream convention allows, with garbage on the inputs while idle
/// before its first element; returns the outputs and the measured latency.
fn send(
    rec: &mut Recorder,
    a: &Attention,
    layer: usize,
    pos: usize,
    s: &Step,
    junk: &mut i64,
) -> (Vec<i32>, u64) {
    let hd = a.head_dim;
    let input: Vec<i32> = pair_order(&s.q, hd)
        .into_iter()
        .chain(pair_order(&s.k, hd))
        .chain(s.v.iter().copied())
        .collect();
    let (mut out, mut cycle, mut last_in, mut last_out) = (Vec::new(), 0u64, 0u64, 0u64);
    let mut edge = |rec: &mut Recorder, cycle: &mut u64, out: &mut Vec<i32>| {
        if rec.get("att_valid").unwrap() == 1 {
            out.push(rec.get("att").unwrap() as i32);
            last_out = *cycle;
        }
        rec.step();
        *cycle += 1;
    };
    for (i, &e) in input.iter().enumerate() {
        for _ in 0..s.gaps[i] {
            *junk = junk.wrapping_mul(6364136223846793005).wrapping_add(1);
            rec.set("qkv_valid", 0).unwrap();
            rec.set("qkv", *junk >> 30).unwrap();
            if i == 0 {
                rec.set("layer", *junk >> 50).unwrap();
                rec.set("pos", *junk >> 45).unwrap();
            }
            edge(rec, &mut cycle, &mut out);
        }
        rec.set("layer", layer as i64).unwrap();
        rec.set("pos", pos as i64).unwrap();
        rec.set("qkv_valid", 1).unwrap();
        rec.set("qkv", e.into()).unwrap();
        last_in = cycle;
        edge(rec, &mut cycle, &mut out);
    }
    rec.set("qkv_valid", 0).unwrap();
    let deadline = cycle + a.latency(pos) + 20;
    while cycle < deadline {
        edge(rec, &mut cycle, &mut out);
        if out.len() == a.heads * hd {
            break;
        }
    }
    (out, last_out - last_in)
}

/// Runs each sequence of `steps[pos][layer]` from position 0 (a new sequence overwrites the
/// cache), each layer in turn at each position, against the golden caches; returns the
/// recorder for a replay.
fn check(a: &Attention, sequences: &[Vec<Vec<Step>>]) -> Result<Recorder, TestCaseError> {
    let design = Design::elaborate(a).unwrap_or_else(|e| panic!("{e}"));
    let mut rec = Recorder::new(&design, 2).unwrap();
    let mut golden: Vec<GoldenLayer> = (0..a.layers).map(|_| GoldenLayer::default()).collect();
    let mut junk = 99i64;
    for steps in sequences {
        for (pos, layers) in steps.iter().enumerate() {
            for (layer, s) in layers.iter().enumerate() {
                let want = golden[layer].step(a, pos, s);
                let (got, latency) = send(&mut rec, a, layer, pos, s, &mut junk);
                prop_assert_eq!(&got, &want, "layer {} pos {}", layer, pos);
                prop_assert_eq!(latency, a.latency(pos), "layer {} pos {}", layer, pos);
            }
        }
    }
    Ok(rec)
}

/// Values in a small range (so softmax spreads its weight) or anywhere in the format.
fn values(n: usize, act: Format) -> impl Strategy<Value = Vec<i32>> {
    let full = 1i64 << (act.bits - 1);
    let small = 1i64 << (act.frac + 1);
    prop_oneof![Just(small), Just(full)]
        .prop_flat_map(move |lim| prop::collection::vec((-lim..lim).prop_map(|v| v as i32), n))
}

fn step(a: &Attention) -> impl Strategy<Value = Step> {
    let (q, kv) = (a.heads * a.head_dim, a.kv_heads * a.head_dim);
    (
        values(q, a.act),
        values(kv, a.act),
        values(kv, a.act),
        prop::collection::vec(prop_oneof![4 => Just(0usize), 1 => 1usize..3], q + 2 * kv),
    )
        .prop_map(|(q, k, v, gaps)| Step { q, k, v, gaps })
}

fn case() -> impl Strategy<Value = (Attention, Vec<Vec<Step>>)> {
    (
        1usize..=2,
        1usize..=2,
        prop::sample::select(vec![2usize, 4, 6, 8]),
        1usize..=8,
        1usize..=2,
        prop::sample::select(vec![
            Format { bits: 20, frac: 12 },
            Format { bits: 12, frac: 6 },
            Format { bits: 16, frac: 10 },
        ]),
        0u32..=3,
    )
        .prop_flat_map(|(kv_heads, group, head_dim, max_seq, layers, act, lanes)| {
            // Lanes: a power of two that divides the head.
            let lanes = (0..=lanes)
                .rev()
                .map(|l| 1usize << l)
                .find(|l| head_dim % l == 0)
                .unwrap_or(1);
            let a = Attention {
                lanes,
                ..attention(kv_heads * group, kv_heads, head_dim, max_seq, layers, act)
            };
            let steps = (1..=max_seq).prop_flat_map({
                let a = a.clone();
                move |n| prop::collection::vec(prop::collection::vec(step(&a), a.layers), n)
            });
            (Just(a), steps)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn attention_matches_golden_steps((a, steps) in case()) {
        check(&a, &[steps])?;
    }
}

/// A fixed run: every position of a small cache, both layers, random values.
fn fixed_run(a: &Attention, positions: usize, seed: u64) -> Vec<Vec<Step>> {
    let mut seed = seed;
    let mut rnd = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let lim = 1u64 << (a.act.frac + 1);
    let (q, kv) = (a.heads * a.head_dim, a.kv_heads * a.head_dim);
    (0..positions)
        .map(|_| {
            (0..a.layers)
                .map(|_| {
                    let mut vals =
                        |n: usize| (0..n).map(|_| rnd(2 * lim) as i32 - lim as i32).collect();
                    Step {
                        q: vals(q),
                        k: vals(kv),
                        v: vals(kv),
                        gaps: (0..q + 2 * kv)
                            .map(|_| if rnd(4) == 0 { rnd(3) as usize } else { 0 })
                            .collect(),
                    }
                })
                .collect()
        })
        .collect()
}

#[test]
fn attention_under_verilator() {
    if !require_tool("verilator") {
        return;
    }
    let a = attention(4, 2, 8, 8, 2, Format { bits: 20, frac: 12 });
    let rec = check(&a, &[fixed_run(&a, 5, 3)]).unwrap();
    let design = Design::elaborate(&a).unwrap();
    cosimulate(&design, &rec.stimulus(), Backend::Verilator).unwrap_or_else(|e| panic!("{e}"));
}

/// Eight lanes: banked q buffer and caches, eight products per cycle in the scores (summed
/// in a tree of two stages) and the weighted sums, the outputs through a shift register.
#[test]
fn attention_with_lanes_under_verilator() {
    if !require_tool("verilator") {
        return;
    }
    let a = Attention {
        lanes: 8,
        ..attention(4, 2, 8, 8, 2, Format { bits: 20, frac: 12 })
    };
    let rec = check(&a, &[fixed_run(&a, 8, 4)]).unwrap();
    let design = Design::elaborate(&a).unwrap();
    cosimulate(&design, &rec.stimulus(), Backend::Verilator).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn attention_full_cache_then_a_new_sequence() {
    // GQA with three query heads per kv head: every position of the cache, then a new
    // sequence from position 0 over the old one's entries.
    let a = attention(3, 1, 4, 6, 1, Format { bits: 20, frac: 12 });
    check(&a, &[fixed_run(&a, 6, 5), fixed_run(&a, 4, 6)]).unwrap();
}

/// The Verilog of a design, the files whose names pass `keep`.
fn verilog<B: Block>(block: &B, keep: impl Fn(&str) -> bool) -> String {
    let design = Design::elaborate(block).unwrap_or_else(|e| panic!("{e}"));
    Verilog::from_design(&design).listing(keep)
}

#[test]
fn attention_verilog() {
    // The attention module alone: its RoPE and softmax units have their own snapshots.
    let a = attention(2, 1, 4, 4, 2, Format { bits: 12, frac: 6 });
    insta::assert_snapshot!(verilog(&a, |f| f.starts_with("attention_")));
}

#[test]
fn attention_rejects_bad_head_layouts() {
    let a = attention(4, 2, 8, 8, 2, Format { bits: 20, frac: 12 });
    let uneven = Attention {
        heads: 3,
        ..a.clone()
    };
    let err = Design::elaborate(&uneven).unwrap_err();
    assert!(err.has(Code::BadParameter), "{err}");
    assert!(
        err.to_string()
            .contains("3 query heads cannot share 2 kv heads"),
        "{err}"
    );
    let short = Attention {
        max_seq: 9,
        ..a.clone()
    };
    let err = Design::elaborate(&short).unwrap_err();
    assert!(err.to_string().contains("cover 8 positions"), "{err}");
    let three = Attention {
        lanes: 3,
        ..a.clone()
    };
    let err = Design::elaborate(&three).unwrap_err();
    assert!(err.to_string().contains("3 lanes for heads of 8"), "{err}");
    let odd = Attention { head_dim: 7, ..a };
    assert!(Design::elaborate(&odd).unwrap_err().has(Code::BadParameter));
}
