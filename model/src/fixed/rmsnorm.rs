//! RMSNorm: sum of squares, reciprocal square root by table plus one Newton step, then two
//! multiplies (by the reciprocal root, then by the gain).
//!
//! The mean's division by `n` is folded into the gain (`gain * sqrt(n)`) and the epsilon
//! (`n * eps`), so the unit needs no divider:
//! `x / sqrt(Σx²/n + eps) * g = x * rsqrt(Σx² + n·eps) * (g·sqrt(n))`.

use super::{round_shift, saturate, shift_signed, Format};

/// Index bits of the reciprocal-square-root table (per exponent parity).
pub const RSQRT_INDEX_BITS: u32 = 6;
/// Fractional bits of the table entries, the Newton step and the returned mantissa.
pub const RSQRT_FRAC: u32 = 16;
/// Fractional bits of the normalised value `x * rsqrt(Σx²)` (magnitude at most 1).
pub const NORM_FRAC: u32 = 20;
/// Fractional bits of the folded gain `g * sqrt(n)`.
pub const GAIN_FRAC: u32 = 12;

/// Seed values of `1/sqrt(u)` for `u` in `[1, 4)`: entry `[odd][i]` is
/// `round(2^RSQRT_FRAC / sqrt((1 + (i + 0.5) / 2^RSQRT_INDEX_BITS) * 2^odd))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsqrtTable {
    /// `2 * 2^RSQRT_INDEX_BITS` entries: even exponents first, then odd.
    pub entries: Vec<u32>,
}

impl Default for RsqrtTable {
    fn default() -> Self {
        let n = 1usize << RSQRT_INDEX_BITS;
        let entries = (0..2 * n)
            .map(|k| {
                let (odd, i) = (k / n, k % n);
                let u = (1.0 + (i as f64 + 0.5) / n as f64) * (1 << odd) as f64;
                ((RSQRT_FRAC as f64).exp2() / u.sqrt()).round() as u32
            })
            .collect();
        RsqrtTable { entries }
    }
}

/// `1/sqrt(v)` for `v > 0` as `(mantissa, k)`: `1/sqrt(v) ≈ mantissa * 2^-RSQRT_FRAC * 2^-k`.
///
/// Hardware: a leading-one detector gives `p`; `e = p` rounded down to even; `u = v / 2^e` in
/// `[1, 4)` with `RSQRT_FRAC` fractional bits (a barrel shift); the table gives `y0` from the
/// parity of `p` and the next `RSQRT_INDEX_BITS` bits; one Newton step
/// `y1 = y0 * (3 - u*y0²) / 2` (three multiplies) gives about 2^-14 relative error; `k = e/2`.
pub fn rsqrt(v: u128, table: &RsqrtTable) -> (u32, u32) {
    let v = v.max(1);
    let p = 127 - v.leading_zeros();
    let e = p & !1;
    let odd = p - e;
    let u = if e >= RSQRT_FRAC {
        (v >> (e - RSQRT_FRAC)) as i64
    } else {
        (v << (RSQRT_FRAC - e)) as i64
    };
    let idx =
        ((u >> odd) >> (RSQRT_FRAC - RSQRT_INDEX_BITS)) as usize & ((1 << RSQRT_INDEX_BITS) - 1);
    let y0 = table.entries[((odd as usize) << RSQRT_INDEX_BITS) | idx] as i64;
    let y2 = round_shift(y0 * y0, RSQRT_FRAC);
    let t = round_shift(u * y2, RSQRT_FRAC);
    let y1 = round_shift(y0 * ((3 << RSQRT_FRAC) - t), RSQRT_FRAC + 1);
    (y1 as u32, e / 2)
}

/// The constants of one RMSNorm unit.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RmsNormParams {
    /// `round(g_i * sqrt(n) * 2^GAIN_FRAC)`.
    pub gain: Vec<i32>,
    /// `max(1, round(n * eps * 2^(2 * input.frac)))`, added to the sum of squares.
    pub eps: u64,
}

impl RmsNormParams {
    /// The folded constants of a gain vector and epsilon, for inputs in format `input`.
    pub fn new(gain: &[f32], eps: f64, input: Format) -> Self {
        let n = gain.len() as f64;
        let gmax = (1i64 << 31) - 1;
        RmsNormParams {
            gain: gain
                .iter()
                .map(|&g| {
                    ((g as f64 * n.sqrt() * (GAIN_FRAC as f64).exp2()).round() as i64)
                        .clamp(-gmax, gmax) as i32
                })
                .collect(),
            eps: ((n * eps * (2.0 * input.frac as f64).exp2()).round() as u64).max(1),
        }
    }
}

/// RMSNorm of activations `x` (in the format `p` was built for), output in format `out`.
///
/// Contract: `(y1, k) = rsqrt(Σx² + eps)`, `t_i = shift(x_i * y1, RSQRT_FRAC + k - NORM_FRAC)`,
/// `out_i = sat(round_shift(t_i * gain_i, NORM_FRAC + GAIN_FRAC - out.frac))`; relative error
/// of the scale about 2^-13, plus a step from each rounding. `Σx²` is exact: 32-bit inputs
/// square to at most 2^62, so 128 bits hold the sum of any vector a machine can hold.
pub fn rms_norm(x: &[i32], p: &RmsNormParams, table: &RsqrtTable, out: Format) -> Vec<i32> {
    let ss = x
        .iter()
        .map(|&v| (i64::from(v) * i64::from(v)) as u128)
        .sum::<u128>()
        + u128::from(p.eps);
    let (y1, k) = rsqrt(ss, table);
    let s1 = RSQRT_FRAC as i32 + k as i32 - NORM_FRAC as i32;
    let s2 = NORM_FRAC + GAIN_FRAC - out.frac;
    x.iter()
        .zip(&p.gain)
        .map(|(&v, &g)| {
            let t = shift_signed(v as i64 * y1 as i64, s1);
            saturate(round_shift(t * g as i64, s2), out.bits)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// rsqrt is within 2^-13 relative of 1/sqrt(v).
        #[test]
        fn rsqrt_relative_error(v in 1u128..(1u128 << 100)) {
            let t = RsqrtTable::default();
            let (m, k) = rsqrt(v, &t);
            let got = m as f64 * (-(RSQRT_FRAC as f64)).exp2() * (-(k as f64)).exp2();
            let ideal = 1.0 / (v as f64).sqrt();
            prop_assert!((got / ideal - 1.0).abs() < 2f64.powi(-13), "v {v}: {got} vs {ideal}");
        }

        /// RMSNorm within 2^-12 relative plus two steps of the f64 ideal.
        #[test]
        fn rms_norm_matches_f64(
            x in proptest::collection::vec(-200_000i32..200_000, 64),
            g in proptest::collection::vec(0.1f32..3.0, 64),
        ) {
            let (input, out) = (Format { bits: 24, frac: 7 }, Format { bits: 20, frac: 12 });
            let p = RmsNormParams::new(&g, 1e-5, input);
            let y = rms_norm(&x, &p, &RsqrtTable::default(), out);
            let xr: Vec<f64> = x.iter().map(|&v| input.to_real(v)).collect();
            let ms = xr.iter().map(|v| v * v).sum::<f64>() / 64.0 + 1e-5;
            for i in 0..64 {
                let ideal = xr[i] / ms.sqrt() * g[i] as f64;
                let got = out.to_real(y[i]);
                prop_assert!((got - ideal).abs() <= ideal.abs() * 2f64.powi(-12) + 2.0 * out.step(), "{i}: {got} vs {ideal}");
            }
        }
    }
}
