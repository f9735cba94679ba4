//! Element-wise units: saturating residual add, fixed-point multiply (the SwiGLU product) and
//! argmax. Each is one cycle of combinational logic per element.

use super::{round_shift, saturate, Format};

/// Residual add: `sat(a + b)` element by element.
///
/// Contract: exact sum, saturated to `out.bits` (both inputs in `out`'s format).
pub fn residual_add(a: &[i32], b: &[i32], out: Format) -> Vec<i32> {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| saturate(x as i64 + y as i64, out.bits))
        .collect()
}

/// Product of two activations with `in_frac` fractional bits each, in format `out`:
/// `sat(round_shift(a * b, 2 * in_frac - out.frac))` element by element.
///
/// Contract: error at most half a step of `out` plus saturation. Needs `2 * in_frac >= out.frac`.
pub fn mul(a: &[i32], b: &[i32], in_frac: u32, out: Format) -> Vec<i32> {
    let sh = 2 * in_frac - out.frac;
    a.iter()
        .zip(b)
        .map(|(&x, &y)| saturate(round_shift(x as i64 * y as i64, sh), out.bits))
        .collect()
}

/// Index of the largest value; the lowest index wins a tie (a comparator tree that keeps the
/// left operand on equality).
pub fn argmax(x: &[i32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn mul_is_within_half_a_step(a in -20000i32..20000, b in -20000i32..20000) {
            let (act, out) = (Format { bits: 20, frac: 12 }, Format { bits: 24, frac: 7 });
            let got = out.to_real(mul(&[a], &[b], act.frac, out)[0]);
            let ideal = act.to_real(a) * act.to_real(b);
            let clamped = ideal.clamp(-out.max_real() - out.step(), out.max_real());
            prop_assert!((got - clamped).abs() <= out.step() / 2.0 + 1e-12);
        }

        #[test]
        fn residual_add_is_exact_or_saturated(a in -600000i32..600000, b in -600000i32..600000) {
            let f = Format { bits: 20, frac: 10 };
            let got = residual_add(&[a], &[b], f)[0] as i64;
            prop_assert_eq!(got, (a as i64 + b as i64).clamp(-(1 << 19), (1 << 19) - 1));
        }

        #[test]
        fn argmax_finds_first_maximum(v in proptest::collection::vec(-5i32..5, 1..40)) {
            let i = argmax(&v);
            let m = *v.iter().max().unwrap();
            prop_assert_eq!(v[i], m);
            prop_assert!(v[..i].iter().all(|&x| x < m));
        }
    }
}
