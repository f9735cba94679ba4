//! Properties of the arithmetic primitives, checked on their native simulation: the
//! hardware computes exactly the integer function it stands for.

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::{
    shift_add_product, AdderTree, ConstMul, FixedWeightDot, Mac, MultiplierBlock, DSP_BITS,
};
use hardwire_sim::Simulator;
use proptest::prelude::*;

fn sim<B: Block>(block: &B) -> Simulator {
    let design = Design::elaborate(block).unwrap_or_else(|e| panic!("{e}"));
    Simulator::new(&design).expect("primitives simulate")
}

/// Packs signed or unsigned elements into a flat bus of `width`-bit fields.
fn bus(values: &[i64], width: u32) -> Bits {
    let total = values.len() as u32 * width;
    let mut words = vec![0u64; (total as usize).div_ceil(64)];
    for (i, v) in values.iter().enumerate() {
        let field = Bits::from_i128((*v).into(), width);
        for b in 0..width {
            if field.bit(b) {
                let j = i as u32 * width + b;
                words[(j / 64) as usize] |= 1 << (j % 64);
            }
        }
    }
    Bits::from_words(&words, total)
}

fn range(width: u32, signed: bool) -> std::ops::Range<i64> {
    if signed {
        -(1i64 << (width - 1))..(1i64 << (width - 1))
    } else {
        0..(1i64 << width)
    }
}

/// Operand pairs for a `wa`-bit by `wb`-bit product: the four extremes, then sixteen pairs
/// spread over the ranges by `seed`.
fn operand_pairs(wa: u32, wb: u32, signed: bool, seed: u64) -> Vec<(i64, i64)> {
    let (ra, rb) = (range(wa, signed), range(wb, signed));
    let mut pairs = vec![
        (ra.start, rb.start),
        (ra.start, rb.end - 1),
        (ra.end - 1, rb.start),
        (ra.end - 1, rb.end - 1),
    ];
    let pick = |r: &std::ops::Range<i64>, v: u64| r.start + (v % (r.end - r.start) as u64) as i64;
    let mut x = seed | 1;
    for _ in 0..16 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pairs.push((pick(&ra, x), pick(&rb, x >> 32)));
    }
    pairs
}

/// (width, signed, constant, inputs) for a CSD multiplier.
fn const_mul_case() -> impl Strategy<Value = (u32, bool, i64, Vec<i64>)> {
    (2u32..=16, any::<bool>()).prop_flat_map(|(w, signed)| {
        let c = if signed {
            -(1i64 << 15)..(1i64 << 15)
        } else {
            0..(1i64 << 16)
        };
        (
            Just(w),
            Just(signed),
            c,
            prop::collection::vec(range(w, signed), 1..16),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn csd_constant_multiplier_equals_the_product((w, signed, c, xs) in const_mul_case()) {
        let ty = if signed { Type::signed(w) } else { Type::unsigned(w) };
        let mut s = sim(&ConstMul { ty, constant: c });
        for x in xs {
            s.poke_bits("x", &Bits::from_i128(x.into(), w)).unwrap();
            let y = s.peek_bits("y").unwrap();
            let got = if signed { y.to_i128() } else { y.to_u128() as i128 };
            prop_assert_eq!(got, i128::from(x) * i128::from(c), "x={} c={} w={} signed={}", x, c, w, signed);
        }
    }

    #[test]
    fn adder_tree_equals_the_sum(
        (n, w, signed, rows) in (1usize..20, 2u32..=12, any::<bool>()).prop_flat_map(|(n, w, signed)| {
            (Just(n), Just(w), Just(signed), prop::collection::vec(prop::collection::vec(range(w, signed), n), 1..6))
        })
    ) {
        let ty = if signed { Type::signed(w) } else { Type::unsigned(w) };
        let tree = AdderTree { inputs: n, ty };
        let latency = tree.latency() as usize;
        let mut s = sim(&tree);
        if latency > 0 {
            s.reset(1).unwrap();
        }
        let mut seen = Vec::new();
        for c in 0..rows.len() + latency {
            let row = rows.get(c).cloned().unwrap_or_else(|| vec![0; n]);
            s.poke_bits("x", &bus(&row, w)).unwrap();
            s.poke("in_valid", u64::from(c < rows.len())).unwrap();
            if c >= latency {
                let sum = s.peek_bits("sum").unwrap();
                prop_assert_eq!(s.peek("out_valid").unwrap(), u64::from(c - latency < rows.len()));
                seen.push(if signed { sum.to_i128() } else { sum.to_u128() as i128 });
            }
            s.step();
        }
        let want: Vec<i128> = rows.iter().map(|r| r.iter().map(|v| i128::from(*v)).sum()).collect();
        prop_assert_eq!(seen, want);
    }

    #[test]
    fn fixed_weight_dot_equals_the_integer_dot_product(
        (weights, rows) in (1usize..40).prop_flat_map(|n| {
            (prop::collection::vec(-8i64..8, n), prop::collection::vec(prop::collection::vec(-128i64..128, n), 1..5))
        })
    ) {
        let dot = FixedWeightDot { weights: weights.clone(), weight_bits: 4, ty: Type::signed(8), label: "p".into() };
        let latency = dot.latency() as usize;
        let mut s = sim(&dot);
        if latency > 0 {
            s.reset(1).unwrap();
        }
        let mut seen = Vec::new();
        for c in 0..rows.len() + latency {
            let row = rows.get(c).cloned().unwrap_or_else(|| vec![0; weights.len()]);
            s.poke_bits("x", &bus(&row, 8)).unwrap();
            s.poke("in_valid", 1).unwrap();
            if c >= latency {
                seen.push(s.peek_bits("y").unwrap().to_i128());
            }
            s.step();
        }
        let want: Vec<i128> = rows.iter().map(|r| r.iter().zip(&weights).map(|(x, w)| i128::from(x * w)).sum()).collect();
        prop_assert_eq!(seen, want);
    }

    #[test]
    fn mac_accumulates_products(pairs in prop::collection::vec((-128i64..128, -8i64..8, any::<bool>()), 1..50)) {
        let mut s = sim(&Mac { ty_a: Type::signed(8), ty_b: Type::signed(4), acc_width: 20 });
        s.reset(1).unwrap();
        let mut acc: i64 = 0;
        s.poke("clear", 0).unwrap();
        for (a, b, en) in pairs {
            s.poke_i64("a", a).unwrap();
            s.poke_i64("b", b).unwrap();
            s.poke("en", u64::from(en)).unwrap();
            s.step();
            if en {
                acc += a * b;
            }
            prop_assert_eq!(s.peek_i64("acc").unwrap(), acc);
        }
    }

    #[test]
    fn split_product_equals_the_product(
        (wa, wb, signed) in (1u32..=31, 1u32..=31, any::<bool>()),
        seed in any::<u64>(),
    ) {
        // Three stages: the partial products registered twice, then their sum.
        let ty = |w| if signed { Type::signed(w) } else { Type::unsigned(w) };
        let design = Design::build("split", |m| {
            let (a, b) = (m.input("a", ty(wa)), m.input("b", ty(wb)));
            let mut p = m.pipeline("p", m.lit(1, Type::BOOL), &["partials", "retimed", "product"]);
            let product = p.keep_product("ab", a, b);
            p.stage("partials");
            p.stage("retimed");
            let sum = p.keep("sum", p.product(&product));
            p.stage("product");
            m.output("y", p.at(sum));
            p.finish();
            let dsps = (wa.max(2) - 1).div_ceil(DSP_BITS - 1) * (wb.max(2) - 1).div_ceil(DSP_BITS - 1);
            assert!(product.parts().len() as u32 <= dsps.max(1), "{} parts", product.parts().len());
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let mut s = Simulator::new(&design).unwrap();
        for (a, b) in operand_pairs(wa, wb, signed, seed) {
            s.poke_i64("a", a).unwrap();
            s.poke_i64("b", b).unwrap();
            s.run(3);
            let want = Bits::from_i128(i128::from(a) * i128::from(b), wa + wb);
            prop_assert_eq!(s.peek_bits("y").unwrap(), want, "{} * {}", a, b);
        }
    }

    #[test]
    fn shift_add_product_equals_the_product(
        (wa, wb, signed) in (1u32..=8, 1u32..=31, any::<bool>()),
        seed in any::<u64>(),
    ) {
        let ty = |w| if signed { Type::signed(w) } else { Type::unsigned(w) };
        let design = Design::build("shift_add", |m| {
            let (a, b) = (m.input("a", ty(wa)), m.input("b", ty(wb)));
            m.output("y", shift_add_product(a, b));
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let mut s = Simulator::new(&design).unwrap();
        for (a, b) in operand_pairs(wa, wb, signed, seed) {
            s.poke_i64("a", a).unwrap();
            s.poke_i64("b", b).unwrap();
            s.step();
            let want = Bits::from_i128(i128::from(a) * i128::from(b), wa + wb);
            prop_assert_eq!(s.peek_bits("y").unwrap(), want, "{} * {}", a, b);
        }
    }
}

/// A product kept by a pipeline is one multiplier block per partial, unless an operand is a
/// constant: `csd-expand` turns that product into shifts and adds, so it takes no block.
#[test]
fn a_product_with_a_constant_takes_no_multiplier_block() {
    let blocks = |constant: bool| {
        let design = Design::build("k", |m| {
            let a = m.input("a", Type::signed(16));
            let b = match constant {
                true => m.lit(-12345, Type::signed(16)),
                false => m.input("b", Type::signed(16)),
            };
            let mut p = m.pipeline("p", m.lit(1, Type::BOOL), &["partials", "retimed"]);
            let product = p.keep_product("ab", a, b);
            p.stage("partials");
            p.stage("retimed");
            m.output("y", p.product(&product));
            p.finish();
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let block = MultiplierBlock { signed: true }.module_name();
        let module = design.modules.iter().position(|m| m.name == block);
        (design.modules.iter())
            .flat_map(|m| &m.instances)
            .filter(|i| Some(i.module.0 as usize) == module)
            .count()
    };
    assert_eq!(blocks(false), 1);
    assert_eq!(blocks(true), 0);
}
