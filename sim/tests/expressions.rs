//! The main correctness property: random expression DAGs over random widths (1 to 130 bits
//! at the inputs, wider inside), signed and unsigned, evaluate bit for bit the same in the
//! compiled simulator as in the reference interpreter.

mod common;

use common::{single, Mb};
use hardwire_hdl::ir::{BinaryOp, NodeId, Type, UnaryOp};
use hardwire_hdl::Bits;
use hardwire_sim::{Reference, Simulator};
use proptest::prelude::*;

/// Caps an operand's width so products stay a few words wide.
fn fit(mb: &mut Mb, n: NodeId, r: u32) -> NodeId {
    if mb.ty(n).width > 130 {
        mb.resize(n, 1 + r % 130)
    } else {
        n
    }
}

/// `b` made compatible with `a`'s signedness (and width when `same_width`).
fn like(mb: &mut Mb, a: NodeId, b: NodeId, same_width: bool) -> NodeId {
    let (ta, mut b) = (mb.ty(a), b);
    if same_width && mb.ty(b).width != ta.width {
        b = mb.resize(b, ta.width);
    }
    if mb.ty(b).signed != ta.signed {
        b = mb.cast(b, ta.signed);
    }
    b
}

type Step = (u8, u32, u32, u32, u32);

/// Builds the DAG; returns the design and the names of every node to compare.
fn build(inputs: &[(u32, bool)], steps: &[Step]) -> (hardwire_hdl::Design, Vec<String>) {
    let mut mb = Mb::new("expr", false);
    let mut pool = Vec::new();
    let mut names = Vec::new();
    for (i, (w, s)) in inputs.iter().enumerate() {
        let name = format!("in{i}");
        pool.push(mb.input(
            &name,
            Type {
                width: *w,
                signed: *s,
            },
        ));
        names.push(name);
    }
    for (i, &(op, r1, r2, r3, r4)) in steps.iter().enumerate() {
        let pick = |r: u32| pool[r as usize % pool.len()];
        let a = fit(&mut mb, pick(r1), r3);
        let b = fit(&mut mb, pick(r2), r4);
        let ta = mb.ty(a);
        let node = match op % 21 {
            k @ 0..=2 => {
                let b = like(&mut mb, a, b, false);
                let op = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul][k as usize];
                mb.bin(op, a, b)
            }
            k @ 3..=5 => {
                let b = like(&mut mb, a, b, true);
                let op = [BinaryOp::And, BinaryOp::Or, BinaryOp::Xor][k as usize - 3];
                mb.bin(op, a, b)
            }
            k @ 6..=9 => {
                let b = like(&mut mb, a, b, false);
                let op = [BinaryOp::Eq, BinaryOp::Ne, BinaryOp::Lt, BinaryOp::Le][k as usize - 6];
                mb.bin(op, a, b)
            }
            k @ 10..=11 => {
                let amt = match r3 % 3 {
                    0 => mb.konst(i128::from(r4 % (ta.width + 3)), Type::unsigned(8)),
                    1 => {
                        let wb = mb.ty(b).width;
                        mb.slice(b, 0, wb.min(1 + r4 % 8))
                    }
                    _ => mb.cast(b, false),
                };
                mb.bin(
                    if k == 10 {
                        BinaryOp::Shl
                    } else {
                        BinaryOp::Shr
                    },
                    a,
                    amt,
                )
            }
            12 => mb.un(UnaryOp::Not, a),
            13 => mb.un(UnaryOp::Neg, a),
            14 => mb.un(
                [UnaryOp::ReduceAnd, UnaryOp::ReduceOr, UnaryOp::ReduceXor][r3 as usize % 3],
                a,
            ),
            15 => {
                let s = mb.slice(pick(r3), r4 % mb.ty(pick(r3)).width, 1);
                let b = like(&mut mb, a, b, true);
                mb.mux(s, a, b)
            }
            16 => {
                let lo = r3 % ta.width;
                mb.slice(a, lo, 1 + r4 % (ta.width - lo))
            }
            17 => {
                let c = fit(&mut mb, pick(r3), r4);
                if r4 % 2 == 0 {
                    mb.concat(&[a, b, c])
                } else {
                    mb.concat(&[a, b])
                }
            }
            18 => mb.resize(a, 1 + r3 % 140),
            19 => {
                let w = 1 + r3 % 130;
                let v =
                    (i128::from(r1) << 64 | i128::from(r2) << 20 | i128::from(r4)) >> (r4 % 100);
                mb.konst(
                    v,
                    Type {
                        width: w,
                        signed: r4 % 2 == 1,
                    },
                )
            }
            _ => mb.cast(a, !ta.signed),
        };
        let name = format!("n{i}");
        let wire = mb.wire(&name, node);
        pool.push(wire);
        names.push(name);
    }
    // One output port, so the module has the shape a builder would give it.
    let last = *pool.last().expect("at least one input");
    mb.output("out", last);
    names.push("out".to_string());
    (single(mb), names)
}

/// A value with the patterns that find bugs: random words, all ones, zero, only the sign
/// bit, small numbers.
fn value(width: u32, pattern: u8, words: [u64; 3]) -> Bits {
    match pattern % 6 {
        0 | 1 => Bits::from_words(&words, width),
        2 => Bits::from_i128(-1, width),
        3 => Bits::zero(width),
        4 => {
            let mut w = [0u64; 3];
            w[((width - 1) / 64) as usize] = 1 << ((width - 1) % 64);
            Bits::from_words(&w, width)
        }
        _ => Bits::from_u64(words[0] % 9, width),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn compiled_matches_reference(
        inputs in prop::collection::vec((1u32..=130, any::<bool>()), 1..5),
        steps in prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()), 1..24),
        rounds in prop::collection::vec(prop::collection::vec((any::<u8>(), any::<[u64; 3]>()), 4), 1..4),
    ) {
        let (design, names) = build(&inputs, &steps);
        let mut sim = Simulator::new(&design).expect("a well-formed design compiles");
        let mut reference = Reference::new(&design);
        for round in &rounds {
            for (i, (w, _)) in inputs.iter().enumerate() {
                let (pattern, words) = round[i];
                let v = value(*w, pattern, words);
                sim.poke_bits(&format!("in{i}"), &v).unwrap();
                reference.poke(&format!("in{i}"), &v).unwrap();
            }
            for name in &names {
                let got = sim.peek_bits(name).unwrap();
                let want = reference.peek(name).unwrap();
                prop_assert_eq!(got, want, "signal {}", name);
            }
        }
    }
}
