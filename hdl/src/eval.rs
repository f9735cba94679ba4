//! Evaluation of single IR operations on constant [`Bits`]: the obvious, slow reference
//! semantics used by constant folding and as the oracle that faster evaluators are tested
//! against.

use crate::bits::{words_for, Bits};
use crate::ir::{BinaryOp, Type, UnaryOp};

fn extend(v: &Bits, from: Type, width: u32) -> Vec<u64> {
    v.resize(width, from.signed).words().to_vec()
}

fn add_words(a: &[u64], b: &[u64], invert_b: bool, carry_in: bool) -> Vec<u64> {
    let mut carry = u64::from(carry_in);
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let y = if invert_b { !y } else { y };
            let (s1, c1) = x.overflowing_add(y);
            let (s2, c2) = s1.overflowing_add(carry);
            carry = u64::from(c1) + u64::from(c2);
            s2
        })
        .collect()
}

fn mul_words(a: &[u64], b: &[u64]) -> Vec<u64> {
    let n = a.len();
    let mut out = vec![0u64; n];
    for i in 0..n {
        let mut carry: u128 = 0;
        for j in 0..n - i {
            let cur = u128::from(out[i + j]) + u128::from(a[i]) * u128::from(b[j]) + carry;
            out[i + j] = cur as u64;
            carry = cur >> 64;
        }
    }
    out
}

fn shift_amount(b: &Bits) -> u64 {
    if b.words()[1..].iter().any(|w| *w != 0) {
        u64::MAX
    } else {
        b.to_u64()
    }
}

/// `v` shifted left by `n` bits within `width`.
pub fn shl(v: &Bits, n: u64, width: u32) -> Bits {
    let mut out = Bits::zero(width);
    if n < u64::from(width) {
        let mut words = vec![0u64; words_for(width)];
        for i in 0..(width - n as u32) {
            if v.bit(i) {
                let j = i + n as u32;
                words[(j / 64) as usize] |= 1 << (j % 64);
            }
        }
        out = Bits::from_words(&words, width);
    }
    out
}

/// `v` shifted right by `n` bits, filling with the sign bit when `signed`.
pub fn shr(v: &Bits, n: u64, signed: bool) -> Bits {
    let width = v.width();
    let fill = signed && v.bit(width - 1);
    let mut words = vec![0u64; words_for(width)];
    for i in 0..width {
        let src = u64::from(i) + n;
        let bit = if src < u64::from(width) {
            v.bit(src as u32)
        } else {
            fill
        };
        if bit {
            words[(i / 64) as usize] |= 1 << (i % 64);
        }
    }
    Bits::from_words(&words, width)
}

fn less(a: &[u64], b: &[u64], width: u32, signed: bool) -> Option<std::cmp::Ordering> {
    let key = |w: &[u64]| {
        let mut w = w.to_vec();
        if signed {
            let top = (width - 1) as usize;
            w[top / 64] ^= 1 << (top % 64);
        }
        w
    };
    let (a, b) = (key(a), key(b));
    Some(a.iter().rev().cmp(b.iter().rev()))
}

/// Evaluates a unary operation; `out` is the result type.
pub fn unary(op: UnaryOp, ta: Type, a: &Bits, out: Type) -> Bits {
    match op {
        UnaryOp::Not => {
            let w: Vec<u64> = a.words().iter().map(|w| !w).collect();
            Bits::from_words(&w, out.width)
        }
        UnaryOp::Neg => {
            let zero = vec![0u64; words_for(out.width)];
            Bits::from_words(
                &add_words(&zero, &extend(a, ta, out.width), true, true),
                out.width,
            )
        }
        UnaryOp::ReduceAnd => Bits::from_u64(u64::from((0..ta.width).all(|i| a.bit(i))), 1),
        UnaryOp::ReduceOr => Bits::from_u64(u64::from(!a.is_zero()), 1),
        UnaryOp::ReduceXor => {
            let ones: u32 = a.words().iter().map(|w| w.count_ones()).sum();
            Bits::from_u64(u64::from(ones % 2), 1)
        }
    }
}

/// Evaluates a binary operation; `out` is the result type.
pub fn binary(op: BinaryOp, ta: Type, a: &Bits, tb: Type, b: &Bits, out: Type) -> Bits {
    let w = out.width;
    let cmp_width = ta.width.max(tb.width);
    let flag = |v: bool| Bits::from_u64(u64::from(v), 1);
    let ord = || {
        less(
            &extend(a, ta, cmp_width),
            &extend(b, tb, cmp_width),
            cmp_width,
            ta.signed,
        )
    };
    match op {
        BinaryOp::Add => Bits::from_words(
            &add_words(&extend(a, ta, w), &extend(b, tb, w), false, false),
            w,
        ),
        BinaryOp::Sub => Bits::from_words(
            &add_words(&extend(a, ta, w), &extend(b, tb, w), true, true),
            w,
        ),
        BinaryOp::Mul => Bits::from_words(&mul_words(&extend(a, ta, w), &extend(b, tb, w)), w),
        BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => {
            let (x, y) = (extend(a, ta, w), extend(b, tb, w));
            let r: Vec<u64> = x
                .iter()
                .zip(&y)
                .map(|(x, y)| match op {
                    BinaryOp::And => x & y,
                    BinaryOp::Or => x | y,
                    _ => x ^ y,
                })
                .collect();
            Bits::from_words(&r, w)
        }
        BinaryOp::Eq => flag(ord() == Some(std::cmp::Ordering::Equal)),
        BinaryOp::Ne => flag(ord() != Some(std::cmp::Ordering::Equal)),
        BinaryOp::Lt => flag(ord() == Some(std::cmp::Ordering::Less)),
        BinaryOp::Le => flag(ord() != Some(std::cmp::Ordering::Greater)),
        BinaryOp::Shl => shl(a, shift_amount(b), w),
        BinaryOp::Shr => shr(a, shift_amount(b), ta.signed),
    }
}

/// Bits `lo .. lo + width` of `a`.
pub fn slice(a: &Bits, lo: u32, width: u32) -> Bits {
    shr(a, lo.into(), false).resize(width, false)
}

/// Concatenation, most significant part first.
pub fn concat(parts: &[&Bits]) -> Bits {
    let width: u32 = parts.iter().map(|p| p.width()).sum();
    let mut acc = Bits::zero(width);
    let mut words = acc.words().to_vec();
    let mut pos = 0;
    for p in parts.iter().rev() {
        for i in 0..p.width() {
            if p.bit(i) {
                let j = pos + i;
                words[(j / 64) as usize] |= 1 << (j % 64);
            }
        }
        pos += p.width();
    }
    acc = Bits::from_words(&words, width);
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(w: u32) -> Type {
        Type::signed(w)
    }

    #[test]
    fn signed_arithmetic_matches_integers() {
        let a = Bits::from_i128(-5, 4);
        let b = Bits::from_i128(3, 3);
        assert_eq!(
            binary(BinaryOp::Add, s(4), &a, s(3), &b, s(5)).to_i128(),
            -2
        );
        assert_eq!(
            binary(BinaryOp::Mul, s(4), &a, s(3), &b, s(7)).to_i128(),
            -15
        );
        assert_eq!(
            binary(BinaryOp::Lt, s(4), &a, s(3), &b, Type::BOOL).to_u64(),
            1
        );
        assert_eq!(
            unary(UnaryOp::Neg, s(4), &Bits::from_i128(-8, 4), s(5)).to_i128(),
            8
        );
        assert_eq!(shr(&a, 1, true).to_i128(), -3);
    }

    proptest! {
        #[test]
        fn wide_products_match_i128(x in any::<i64>(), y in any::<i64>()) {
            let (a, b) = (Bits::from_i128(x.into(), 64), Bits::from_i128(y.into(), 64));
            let p = binary(BinaryOp::Mul, s(64), &a, s(64), &b, s(128));
            prop_assert_eq!(p.to_i128(), i128::from(x) * i128::from(y));
            let d = binary(BinaryOp::Sub, s(64), &a, s(64), &b, s(65));
            prop_assert_eq!(d.to_i128(), i128::from(x) - i128::from(y));
        }

        #[test]
        fn concat_then_slice_round_trips(x in any::<u64>(), y in any::<u64>(), wx in 1u32..64, wy in 1u32..64) {
            let (a, b) = (Bits::from_u64(x, wx), Bits::from_u64(y, wy));
            let c = concat(&[&a, &b]);
            prop_assert_eq!(slice(&c, 0, wy), b);
            prop_assert_eq!(slice(&c, wy, wx), a);
        }
    }
}
