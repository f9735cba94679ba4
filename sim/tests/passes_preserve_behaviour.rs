//! The optimisation passes (constant folding, CSD expansion, CSE, dead logic) never change
//! what a design computes: random combinational programs give the same outputs before and
//! after them, in the compiled simulator and in the reference interpreter.

use hardwire_hdl::prelude::*;
use hardwire_sim::{Reference, Simulator};
use proptest::prelude::*;

/// One step of a random program: an operation on earlier values (indices taken modulo the
/// number of values so far).
#[derive(Debug, Clone, PartialEq)]
enum Op {
    Add(usize, usize),
    Sub(usize, usize),
    Mul(usize, usize),
    MulConst(usize, i64),
    AddConst(usize, i64),
    Xor(usize, usize),
    Lt(usize, usize),
    Mux(usize, usize, usize),
    Slice(usize, u32, u32),
    Concat(usize, usize),
    Resize(usize, u32),
    Shr(usize, u32),
    Shl(usize, u32),
    Neg(usize),
    Not(usize),
}

#[derive(Debug, Clone, PartialEq)]
struct Program {
    inputs: Vec<Type>,
    ops: Vec<Op>,
}

impl Block for Program {
    fn name(&self) -> String {
        "program".into()
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        let mut vals: Vec<Signal<'_>> = self
            .inputs
            .iter()
            .enumerate()
            .map(|(i, t)| m.input(&format!("in{i}"), *t))
            .collect();
        for op in &self.ops {
            let v = match *op {
                Op::Add(a, b) => {
                    let (x, y) = (pick(&vals, a), pick(&vals, b));
                    x + same_sign(y, x)
                }
                Op::Sub(a, b) => {
                    let (x, y) = (pick(&vals, a), pick(&vals, b));
                    x - same_sign(y, x)
                }
                Op::Mul(a, b) => {
                    let (x, y) = (
                        pick(&vals, a).trunc(40.min(pick(&vals, a).width())),
                        pick(&vals, b),
                    );
                    x * same_sign(y.trunc(40.min(y.width())), x)
                }
                Op::MulConst(a, c) => {
                    let x = pick(&vals, a);
                    x * if x.ty().signed { c } else { c.abs() }
                }
                Op::AddConst(a, c) => {
                    let x = pick(&vals, a);
                    x + if x.ty().signed { c } else { c.abs() }
                }
                Op::Xor(a, b) => {
                    let (x, y) = (pick(&vals, a), pick(&vals, b));
                    x ^ same_sign(y, x).resize(x.width())
                }
                Op::Lt(a, b) => {
                    let (x, y) = (pick(&vals, a), pick(&vals, b));
                    x.lt(same_sign(y, x))
                }
                Op::Mux(s, a, b) => {
                    let (x, y) = (pick(&vals, a), pick(&vals, b));
                    pick(&vals, s)
                        .bit(0)
                        .mux(x, same_sign(y, x).resize(x.width()))
                }
                Op::Slice(a, lo, w) => {
                    let x = pick(&vals, a);
                    let lo = lo % x.width();
                    let hi = (lo + w).min(x.width() - 1);
                    x.bits(hi, lo)
                }
                Op::Concat(a, b) => pick(&vals, a).concat(pick(&vals, b)),
                Op::Resize(a, w) => pick(&vals, a).resize(w),
                Op::Shr(a, n) => pick(&vals, a) >> n,
                Op::Shl(a, n) => pick(&vals, a) << n,
                Op::Neg(a) => -pick(&vals, a).as_signed(),
                Op::Not(a) => !pick(&vals, a),
            };
            vals.push(tame(v));
        }
        let n = vals.len();
        for (k, v) in vals[n.saturating_sub(4)..].iter().enumerate() {
            m.output(&format!("out{k}"), *v);
        }
    }
}

fn pick<'a>(vals: &[Signal<'a>], i: usize) -> Signal<'a> {
    vals[i % vals.len()]
}

/// Keeps values below 200 bits so products stay reasonable.
fn tame(s: Signal<'_>) -> Signal<'_> {
    if s.width() > 200 {
        s.trunc(200)
    } else {
        s
    }
}

fn same_sign<'a>(y: Signal<'a>, like: Signal<'a>) -> Signal<'a> {
    if like.ty().signed {
        y.as_signed()
    } else {
        y.as_unsigned()
    }
}

fn op() -> impl Strategy<Value = Op> {
    let i = 0usize..64;
    prop_oneof![
        (i.clone(), i.clone()).prop_map(|(a, b)| Op::Add(a, b)),
        (i.clone(), i.clone()).prop_map(|(a, b)| Op::Sub(a, b)),
        (i.clone(), i.clone()).prop_map(|(a, b)| Op::Mul(a, b)),
        (i.clone(), -300i64..300).prop_map(|(a, c)| Op::MulConst(a, c)),
        (i.clone(), -3i64..3).prop_map(|(a, c)| Op::AddConst(a, c)),
        (i.clone(), i.clone()).prop_map(|(a, b)| Op::Xor(a, b)),
        (i.clone(), i.clone()).prop_map(|(a, b)| Op::Lt(a, b)),
        (i.clone(), i.clone(), i.clone()).prop_map(|(s, a, b)| Op::Mux(s, a, b)),
        (i.clone(), 0u32..100, 0u32..80).prop_map(|(a, lo, w)| Op::Slice(a, lo, w)),
        (i.clone(), i.clone()).prop_map(|(a, b)| Op::Concat(a, b)),
        (i.clone(), 1u32..130).prop_map(|(a, w)| Op::Resize(a, w)),
        (i.clone(), 0u32..70).prop_map(|(a, n)| Op::Shr(a, n)),
        (i.clone(), 0u32..70).prop_map(|(a, n)| Op::Shl(a, n)),
        i.clone().prop_map(Op::Neg),
        i.prop_map(Op::Not),
    ]
}

fn program() -> impl Strategy<Value = Program> {
    let ty = (1u32..100, any::<bool>()).prop_map(|(w, s)| Type {
        width: w,
        signed: s,
    });
    (
        prop::collection::vec(ty, 1..4),
        prop::collection::vec(op(), 1..24),
    )
        .prop_map(|(inputs, ops)| Program { inputs, ops })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn optimised_and_unoptimised_designs_agree(p in program(), seed in any::<u64>()) {
        let plain = Design::elaborate_unoptimized(&p).unwrap_or_else(|e| panic!("{e}"));
        let opt = Design::elaborate(&p).unwrap_or_else(|e| panic!("{e}"));
        let mut a = Simulator::new(&plain).unwrap();
        let mut b = Simulator::new(&opt).unwrap();
        let mut r = Reference::new(&opt);
        let mut s = seed;
        for _ in 0..4 {
            for (i, t) in p.inputs.iter().enumerate() {
                let words: Vec<u64> = (0..2).map(|_| { s = s.wrapping_mul(6364136223846793005).wrapping_add(1); s }).collect();
                let v = Bits::from_words(&words, t.width);
                let name = format!("in{i}");
                a.poke_bits(&name, &v).unwrap();
                b.poke_bits(&name, &v).unwrap();
                r.poke(&name, &v).unwrap();
            }
            for port in opt.top_module().outputs() {
                let want = a.peek_bits(&port.name).unwrap();
                prop_assert_eq!(&b.peek_bits(&port.name).unwrap(), &want, "{} compiled", port.name);
                prop_assert_eq!(&r.peek(&port.name).unwrap(), &want, "{} reference", port.name);
            }
        }
    }
}
