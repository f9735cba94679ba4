//! Attention arithmetic: the scaled score `q·k / sqrt(head_dim)`, softmax (max subtraction, exp
//! in base 2 by table and shift, reciprocal of the sum by table plus a Newton step), and the
//! probability-weighted sum of values.

use super::{round_shift, saturate, Format, Requant};

/// Fractional bits of `log2(e)`.
pub const LOG2E_FRAC: u32 = 14;
/// `round(log2(e) * 2^LOG2E_FRAC)`.
pub const LOG2E_Q: i64 = 23637;
/// Index bits of the exp table (fraction of the base-2 exponent).
pub const EXP_INDEX_BITS: u32 = 8;
/// Fractional bits of the exp values (the largest is about `2^EXP_FRAC`).
pub const EXP_FRAC: u32 = 16;
/// Index bits of the reciprocal table.
pub const RECIP_INDEX_BITS: u32 = 6;
/// Fractional bits of the reciprocal mantissa.
pub const RECIP_FRAC: u32 = 16;
/// Fractional bits of a probability.
pub const PROB_FRAC: u32 = 15;

/// `2^-f` for `f` in `[0, 1)`: entry `i` is `round(2^EXP_FRAC * 2^-((i + 0.5) / 2^EXP_INDEX_BITS))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpTable {
    /// `2^EXP_INDEX_BITS` entries.
    pub entries: Vec<u32>,
}

impl Default for ExpTable {
    fn default() -> Self {
        let n = 1u32 << EXP_INDEX_BITS;
        let entries = (0..n)
            .map(|i| {
                ((EXP_FRAC as f64).exp2() * (-(i as f64 + 0.5) / n as f64).exp2()).round() as u32
            })
            .collect();
        ExpTable { entries }
    }
}

/// `1/m` for `m` in `[1, 2)`: entry `i` is `round(2^RECIP_FRAC / (1 + (i + 0.5) / 2^RECIP_INDEX_BITS))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipTable {
    /// `2^RECIP_INDEX_BITS` entries.
    pub entries: Vec<u32>,
}

impl Default for RecipTable {
    fn default() -> Self {
        let n = 1u32 << RECIP_INDEX_BITS;
        let entries = (0..n)
            .map(|i| {
                ((RECIP_FRAC as f64).exp2() / (1.0 + (i as f64 + 0.5) / n as f64)).round() as u32
            })
            .collect();
        RecipTable { entries }
    }
}

/// `1/v` for `v > 0` as `(mantissa, p)`: `1/v ≈ mantissa * 2^-RECIP_FRAC * 2^-p`.
///
/// Hardware: leading-one detector (`p`), `m = v / 2^p` with `RECIP_FRAC` fractional bits, table
/// seed `y0` from the `RECIP_INDEX_BITS` bits after the leading one, one Newton step
/// `y1 = y0 * (2 - m*y0)`; relative error about 2^-14.
pub fn reciprocal(v: u64, table: &RecipTable) -> (u32, u32) {
    let v = v.max(1);
    let p = 63 - v.leading_zeros();
    let m = if p >= RECIP_FRAC {
        (v >> (p - RECIP_FRAC)) as i64
    } else {
        (v << (RECIP_FRAC - p)) as i64
    };
    let idx = (m >> (RECIP_FRAC - RECIP_INDEX_BITS)) as usize & ((1 << RECIP_INDEX_BITS) - 1);
    let y0 = table.entries[idx] as i64;
    let t = round_shift(m * y0, RECIP_FRAC);
    let y1 = round_shift(y0 * ((2 << RECIP_FRAC) - t), RECIP_FRAC);
    (y1 as u32, p)
}

/// The score scale `1 / sqrt(head_dim)` folded with the product's extra fraction: applied to
/// `q·k` (which has `2 * act.frac` fractional bits) it gives a score in format `act`.
pub fn score_requant(head_dim: usize, act: Format, mult_bits: u32) -> Requant {
    Requant::from_scale(
        (head_dim as f64).sqrt().recip() * (-(act.frac as f64)).exp2(),
        mult_bits,
    )
}

/// `sat(round_shift((q·k) * mult, shift), bits)`: the scaled attention score, for `q` and `k`
/// of at most 24 bits (activations, [`super::NumericConfig::validate`]) and at most
/// [`MAX_HEAD_DIM`] long.
#[inline]
pub fn attention_score(q: &[i32], k: &[i32], scale: Requant, bits: u32) -> i32 {
    debug_assert!(q.len() <= MAX_HEAD_DIM);
    // Products of 24-bit values are below 2^46, so `MAX_HEAD_DIM` of them cannot leave an
    // `i64`: wrapping adds are exact here, and unlike checked ones they vectorise.
    let dot = q
        .iter()
        .zip(k)
        .fold(0i64, |s, (&a, &b)| s.wrapping_add(a as i64 * b as i64));
    scale.apply(dot, bits)
}

/// The longest attention head [`attention_score`] sums exactly (products of 24-bit values).
pub const MAX_HEAD_DIM: usize = 1 << 16;

/// Softmax of scores with `score_frac` fractional bits, as probabilities with `PROB_FRAC`
/// fractional bits.
///
/// Contract, per element: `d = s - max` (≤ 0); `z = round_shift(-d * LOG2E_Q, LOG2E_FRAC)` is
/// `-d * log2(e)` with `score_frac` fractional bits; `e = exp_table[frac(z) top bits] >> int(z)`
/// (zero past 31); `(y, p) = reciprocal(Σe)`; `prob = round_shift(e * y, RECIP_FRAC + p - PROB_FRAC)`.
/// Each probability is within about 2^-8 relative (the exp table step) plus 2^-PROB_FRAC.
pub fn softmax(scores: &[i32], exp: &ExpTable, recip: &RecipTable, score_frac: u32) -> Vec<i32> {
    let m = scores.iter().copied().max().unwrap_or(0) as i64;
    let f = score_frac;
    let e: Vec<u64> = scores
        .iter()
        .map(|&s| {
            let z = round_shift((m - s as i64) * LOG2E_Q, LOG2E_FRAC);
            let int = z >> f;
            let frac = z & ((1 << f) - 1);
            let idx = if f >= EXP_INDEX_BITS {
                frac >> (f - EXP_INDEX_BITS)
            } else {
                frac << (EXP_INDEX_BITS - f)
            };
            if int >= 32 {
                0
            } else {
                (exp.entries[idx as usize] >> int) as u64
            }
        })
        .collect();
    let (y, p) = reciprocal(e.iter().sum(), recip);
    let sh = RECIP_FRAC + p - PROB_FRAC;
    e.iter()
        .map(|&x| round_shift(x as i64 * y as i64, sh) as i32)
        .collect()
}

/// `sat(round_shift(Σ_j prob_j * v_j[d], PROB_FRAC), bits)` for each `d`: the attention output
/// of one head from its probabilities and the values `v_j` (rows of `head_dim` at
/// `values[j * stride + offset ..]`), in the values' format. Probabilities are at most
/// `2^PROB_FRAC` and values 24 bits, so each product is below 2^39 and fewer than 2^24
/// positions cannot leave an `i64`.
#[inline]
pub fn weighted_sum(
    probs: &[i32],
    values: &[i32],
    stride: usize,
    offset: usize,
    head_dim: usize,
    bits: u32,
) -> Vec<i32> {
    // Sixteen outputs at a time, their sums held in registers across the positions.
    const LANES: usize = 16;
    let mut out = Vec::with_capacity(head_dim);
    for d in (0..head_dim).step_by(LANES) {
        let n = LANES.min(head_dim - d);
        let mut acc = [0i64; LANES];
        for (j, &p) in probs.iter().enumerate() {
            let v = &values[j * stride + offset + d..][..n];
            for (a, &x) in acc.iter_mut().zip(v) {
                // Exact (see above); wrapping so that it vectorises.
                *a = a.wrapping_add(p as i64 * x as i64);
            }
        }
        out.extend(
            acc[..n]
                .iter()
                .map(|&a| saturate(round_shift(a, PROB_FRAC), bits)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn log2e_constant() {
        assert_eq!(
            LOG2E_Q,
            (std::f64::consts::LOG2_E * (LOG2E_FRAC as f64).exp2()).round() as i64
        );
    }

    proptest! {
        #[test]
        fn reciprocal_relative_error(v in 1u64..(1u64 << 50)) {
            let (y, p) = reciprocal(v, &RecipTable::default());
            let got = y as f64 * (-(RECIP_FRAC as f64)).exp2() * (-(p as f64)).exp2();
            prop_assert!((got * v as f64 - 1.0).abs() < 2f64.powi(-13));
        }

        /// Each probability within 2^-7 relative + 2^-14 absolute of the f64 softmax.
        #[test]
        fn softmax_matches_f64(s in proptest::collection::vec(-20_000i32..20_000, 1..50)) {
            let cfg = Format { bits: 20, frac: 12 };
            let p = softmax(&s, &ExpTable::default(), &RecipTable::default(), cfg.frac);
            let xr: Vec<f64> = s.iter().map(|&v| cfg.to_real(v)).collect();
            let m = xr.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = xr.iter().map(|v| (v - m).exp()).sum();
            for (i, &pi) in p.iter().enumerate() {
                let ideal = (xr[i] - m).exp() / z;
                let got = pi as f64 * (-(PROB_FRAC as f64)).exp2();
                prop_assert!((got - ideal).abs() <= ideal * 2f64.powi(-7) + 2f64.powi(-14), "{i}: {got} vs {ideal}");
            }
        }

        /// The weighted sum is within half a step of the f64 sum of the same probabilities.
        #[test]
        fn weighted_sum_matches_f64(
            p in proptest::collection::vec(0i32..(1 << PROB_FRAC), 1..20),
            v in proptest::collection::vec(-300_000i32..300_000, 20 * 8),
        ) {
            let fmt = Format { bits: 20, frac: 12 };
            let n = p.len();
            // Values of head 1 (offset 4) in rows of stride 8.
            let out = weighted_sum(&p, &v[..n * 8], 8, 4, 4, fmt.bits);
            for d in 0..4 {
                let ideal: f64 = (0..n)
                    .map(|j| p[j] as f64 * (-(PROB_FRAC as f64)).exp2() * v[j * 8 + 4 + d] as f64)
                    .sum();
                let clamped = ideal.clamp(-(1 << 19) as f64, ((1 << 19) - 1) as f64);
                prop_assert!((out[d] as f64 - clamped).abs() <= 0.5 + 1e-9, "{d}: {} vs {ideal}", out[d]);
            }
        }

        #[test]
        fn attention_score_matches_f64(q in proptest::collection::vec(-5000i32..5000, 64), k in proptest::collection::vec(-5000i32..5000, 64)) {
            let cfg = Format { bits: 20, frac: 12 };
            let s = attention_score(&q, &k, score_requant(64, cfg, 16), cfg.bits);
            let ideal: f64 = q.iter().zip(&k).map(|(&a, &b)| cfg.to_real(a) * cfg.to_real(b)).sum::<f64>() / 8.0;
            prop_assert!((cfg.to_real(s) - ideal).abs() <= cfg.step() / 2.0 + ideal.abs() * 2f64.powi(-14));
        }
    }
}
