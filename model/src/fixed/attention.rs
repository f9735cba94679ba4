//! One attention head over the KV cache: [`head`] composes the arithmetic of
//! [`mod@super::softmax`] (scores, softmax, weighted sum), and [`head_fast`] computes the same
//! integers with AVX-512 where the machine has it. A property test holds the two equal.

use super::softmax::{attention_score, softmax, weighted_sum, ExpTable, RecipTable};
use super::{Format, Requant};

/// Where one head reads the cache: positions `0..positions`, each a row of `stride` values of
/// which this head's key (or value) is `offset..offset + head_dim`.
#[derive(Debug, Clone, Copy)]
pub struct CacheView<'a> {
    /// Keys, `stride` per position.
    pub keys: &'a [i32],
    /// Values, laid out as the keys.
    pub values: &'a [i32],
    /// Values per position (every KV head's).
    pub stride: usize,
    /// Where this head's key and value start in a position's row.
    pub offset: usize,
    /// Positions attended to.
    pub positions: usize,
}

/// What turns scores into probabilities: the score scale and softmax's tables.
#[derive(Debug, Clone, Copy)]
pub struct Softmax<'a> {
    /// `1 / sqrt(head_dim)` with the product's extra fraction ([`super::score_requant`]).
    pub scale: Requant,
    /// The exp table.
    pub exp: &'a ExpTable,
    /// The reciprocal table.
    pub recip: &'a RecipTable,
}

/// Head `q`'s output in format `act`: the reference, one function of the contract per step.
pub fn head(q: &[i32], cache: CacheView, s: Softmax, act: Format) -> Vec<i32> {
    let hd = q.len();
    let scores: Vec<i32> = (0..cache.positions)
        .map(|p| {
            let k = &cache.keys[p * cache.stride + cache.offset..][..hd];
            attention_score(q, k, s.scale, act.bits)
        })
        .collect();
    let probs = softmax(&scores, s.exp, s.recip, act.frac);
    weighted_sum(
        &probs,
        cache.values,
        cache.stride,
        cache.offset,
        hd,
        act.bits,
    )
}

/// [`head`], with the scores' dot products and the weighted sum eight 64-bit products per
/// instruction on AVX-512 (head dimensions a multiple of 16); elsewhere [`head`] itself. Both
/// sum the same products exactly in 64 bits (inputs of at most 24 bits), so the order does not
/// change a bit.
pub fn head_fast(q: &[i32], cache: CacheView, s: Softmax, act: Format) -> Vec<i32> {
    #[cfg(target_arch = "x86_64")]
    if q.len().is_multiple_of(16) && std::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F was just detected; the head dimension is whole vectors.
        return unsafe { avx512::head(q, cache, s, act) };
    }
    head(q, cache, s, act)
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::super::softmax::{softmax, PROB_FRAC};
    use super::super::{round_shift, saturate};
    use super::{CacheView, Format, Softmax};
    use std::arch::x86_64::*;

    /// The products of sixteen 32-bit lanes in 64 bits, added to `even` (lanes 0, 2, …) and
    /// `odd` (lanes 1, 3, …).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn mac(even: &mut __m512i, odd: &mut __m512i, a: __m512i, b: __m512i) {
        *even = _mm512_add_epi64(*even, _mm512_mul_epi32(a, b));
        let (a, b) = (_mm512_srli_epi64::<32>(a), _mm512_srli_epi64::<32>(b));
        *odd = _mm512_add_epi64(*odd, _mm512_mul_epi32(a, b));
    }

    /// See [`super::head_fast`]. The caller checked AVX-512F and `q.len() % 16 == 0`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn head<'a>(
        q: &[i32],
        c: CacheView<'a>,
        s: Softmax,
        act: Format,
    ) -> Vec<i32> {
        let hd = q.len();
        let row = |p: usize, from: &'a [i32]| &from[p * c.stride + c.offset..][..hd];
        let qv: Vec<__m512i> = q
            .chunks_exact(16)
            // SAFETY: 16 values.
            .map(|v| unsafe { _mm512_loadu_si512(v.as_ptr().cast()) })
            .collect();
        let scores: Vec<i32> = (0..c.positions)
            .map(|p| {
                let (mut even, mut odd) = (_mm512_setzero_si512(), _mm512_setzero_si512());
                for (qv, k) in qv.iter().zip(row(p, c.keys).chunks_exact(16)) {
                    // SAFETY: 16 values.
                    let kv = unsafe { _mm512_loadu_si512(k.as_ptr().cast()) };
                    mac(&mut even, &mut odd, *qv, kv);
                }
                let dot = _mm512_reduce_add_epi64(_mm512_add_epi64(even, odd));
                s.scale.apply(dot, act.bits)
            })
            .collect();
        let probs = softmax(&scores, s.exp, s.recip, act.frac);
        let mut out = vec![0; hd];
        for (d, out) in (0..hd).step_by(16).zip(out.chunks_exact_mut(16)) {
            let (mut even, mut odd) = (_mm512_setzero_si512(), _mm512_setzero_si512());
            for (p, &prob) in probs.iter().enumerate() {
                // SAFETY: 16 values.
                let v = unsafe { _mm512_loadu_si512(row(p, c.values)[d..].as_ptr().cast()) };
                mac(&mut even, &mut odd, _mm512_set1_epi32(prob), v);
            }
            let mut sums = [[0i64; 8]; 2];
            // SAFETY: eight 64-bit lanes each.
            unsafe {
                _mm512_storeu_si512(sums[0].as_mut_ptr().cast(), even);
                _mm512_storeu_si512(sums[1].as_mut_ptr().cast(), odd);
            }
            for (i, o) in out.iter_mut().enumerate() {
                *o = saturate(round_shift(sums[i % 2][i / 2], PROB_FRAC), act.bits);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::softmax::score_requant;
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The fast head equals the reference for any head dimension, cache layout and
        /// 24-bit inputs, including the extremes.
        #[test]
        fn fast_head_equals_reference(
            hd in prop_oneof![Just(16usize), Just(64), Just(128), Just(48), 1usize..40],
            heads in 1usize..4,
            positions in 1usize..70,
            bits in prop_oneof![Just(24u32), Just(20), 8u32..24],
            seed in any::<u64>(),
        ) {
            let act = Format { bits, frac: bits / 2 };
            let (lo, hi) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
            let mut state = seed | 1;
            let mut draw = || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                match state % 8 {
                    0 => lo as i32,
                    1 => hi as i32,
                    _ => (lo + (state >> 8) as i64 % (hi - lo + 1)) as i32,
                }
            };
            let stride = hd * heads;
            let keys: Vec<i32> = (0..positions * stride).map(|_| draw()).collect();
            let values: Vec<i32> = (0..positions * stride).map(|_| draw()).collect();
            let q: Vec<i32> = (0..hd).map(|_| draw()).collect();
            let (exp, recip) = (ExpTable::default(), RecipTable::default());
            let s = Softmax { scale: score_requant(hd, act, 16), exp: &exp, recip: &recip };
            for h in 0..heads {
                let cache = CacheView { keys: &keys, values: &values, stride, offset: h * hd, positions };
                prop_assert_eq!(head_fast(&q, cache, s, act), head(&q, cache, s, act), "head {}", h);
            }
        }
    }
}
