//! The golden model's kernel for nibble-packed weights on AVX-512 VNNI: the sums
//! [`super::matvec_row`] defines, 64 weights per `vpdpbusd`.
//!
//! `vpdpbusd` multiplies 64 unsigned bytes by 64 signed ones and adds them four to a 32-bit
//! lane. The weights are the unsigned side: a nibble `n` holding `w` is read as `u = w + 8 =
//! n ^ 8`. The inputs are the signed side, split into 7-bit digits `x = Σ_d s_d·2^(7d)` that fit
//! an `i8` (the lower digits in `0..128`, the top one signed): three digits when every input is
//! in `-2^21..2^21`, else four. So per digit one instruction covers 64 weights, and
//!
//! `Σ_g mult_g·Σ_{i∈g} w_i·x_i = Σ_g mult_g·Σ_{i∈g} u_i·x_i + Σ_g S_g·(−8·mult_g)`,
//!
//! where `S_g` is group `g`'s input sum, shared by every row (the affine grid's term
//! `Σ_g S_g·offset_g` uses it too, so both are one dot product per row). Every 32-bit lane is
//! multiplied by its group's multiplier into 64-bit lanes, and a row is reduced once, at its end:
//! no horizontal work per group. Every bound that makes this exact is checked
//! ([`Digits::takes`], the multipliers once per matrix); where one fails the AVX2 kernel runs
//! instead, and a property test holds both to [`super::matvec_row`].

use super::matvec::FixedMatrix;
use super::packed::Container;
use super::{round_shift_i128, saturate};

/// Inputs per block: what one `vpdpbusd` covers.
const BLOCK: usize = 64;

/// An input vector as digits, in the order the weights unpack (see [`Digits::new`]).
pub(super) struct Digits {
    /// Digits per input: 3 or 4.
    count: usize,
    /// Per block of 64 inputs, `count` arrays of 64 digits, lowest digit first.
    bytes: Vec<i8>,
    /// The largest input magnitude.
    max: u64,
}

impl Digits {
    /// `x` as digits, when the machine has AVX-512 VNNI and `x` comes in whole blocks of 64
    /// inputs of at most 24 bits. `(lo, hi)` is [`range`]`(x)`, which the caller has found
    /// already.
    ///
    /// A block's 32 packed bytes unpack into 64 weights in the order low nibbles of bytes
    /// `0..32`, then high nibbles of the same bytes. With nibble blocks of 32 weights (byte `j`
    /// holds weights `j` and `j + 16`) that is weights `0..16`, `32..48`, `16..32`, `48..64`:
    /// the digits are stored in that order so the unpacked bytes meet their inputs.
    pub(super) fn new(x: &[i32], (lo, hi): (i32, i32)) -> Option<Self> {
        debug_assert_eq!((lo, hi), range(x));
        if !has_avx512_vnni() || x.is_empty() || !x.len().is_multiple_of(BLOCK) {
            return None;
        }
        if lo < -(1 << 23) || hi >= 1 << 23 {
            return None;
        }
        let count = if lo >= -(1 << 21) && hi < 1 << 21 {
            3
        } else {
            4
        };
        let mut bytes = vec![0i8; x.len() * count];
        for (block, out) in x
            .chunks_exact(BLOCK)
            .zip(bytes.chunks_exact_mut(BLOCK * count))
        {
            for (d, out) in out.chunks_exact_mut(BLOCK).enumerate() {
                let (shift, top) = (7 * d as u32, d + 1 == count);
                for (&from, out) in QUARTERS.iter().zip(out.chunks_exact_mut(16)) {
                    for (o, &v) in out.iter_mut().zip(&block[from..from + 16]) {
                        let v = v >> shift;
                        *o = if top { v as i8 } else { (v & 0x7f) as i8 };
                    }
                }
            }
        }
        Some(Digits {
            count,
            bytes,
            max: lo.unsigned_abs().max(hi.unsigned_abs()) as u64,
        })
    }

    /// Whether the kernel computes `m`'s rows for these inputs exactly: nibble weights in whole
    /// blocks, groups of 32 or of a multiple of 64 that divide the row, multipliers and offsets
    /// below 2^24, and sums that stay in their lanes. Two neighbouring lanes add `2·L` products
    /// (`L = max(4, group/16)` per lane) of `u < 16` and partial digit sums below `max + 2^22`
    /// (below 2^31); a group's input sum fits 32 bits; and a row's total, at most
    /// `cols·max·(15·2^24 + 2^28)`, fits 64 bits. `no_wrap` says no group accumulator wraps,
    /// so wrapping is the identity.
    pub(super) fn takes(&self, m: &FixedMatrix, no_wrap: bool) -> bool {
        let (gs, cols, max) = (m.group_size, m.cols as u128, self.max as u128);
        let pair = 2 * (gs / 16).max(4) as u128;
        no_wrap
            && m.weights.container() == Container::Nibble
            && self.bytes.len() == m.cols * self.count
            && (gs == 32 || gs.is_multiple_of(BLOCK))
            && m.cols.is_multiple_of(gs)
            && pair * 15 * (max + (1 << 22)) < 1 << 31
            && gs as u128 * max < 1 << 31
            && cols * max < 1 << 34
            && m.mults.largest_magnitude() < 1 << 24
            && m.offset_mults.largest_magnitude() < 1 << 24
    }
}

/// Where each quarter of a block's unpacked bytes takes its 16 inputs (see [`Digits::new`]).
const QUARTERS: [usize; 4] = [0, 32, 16, 48];

/// The smallest and the largest of `x` (two passes that vectorise).
pub(super) fn range(x: &[i32]) -> (i32, i32) {
    let lo = x.iter().copied().min().unwrap_or(0);
    (lo, x.iter().copied().max().unwrap_or(0))
}

fn has_avx512_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Outputs `first..first + out.len()` of `m` (whose packed bytes are `bytes`) for inputs `d`
/// with group sums `group_sums`, each [`super::matvec_row`]'s value. The caller checked
/// [`Digits::takes`].
pub(super) fn rows(
    m: &FixedMatrix,
    first: usize,
    out: &mut [i32],
    bytes: &[u8],
    d: &Digits,
    group_sums: &[i64],
) {
    debug_assert!(bytes.len() >= (first + out.len()) * (m.cols / 2));
    debug_assert_eq!(group_sums.len(), m.groups_per_row());
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `Digits::new` found AVX-512 VNNI (and F, BW, VL); `takes` checked the shapes
        // the loads rely on.
        unsafe {
            match d.count {
                3 => rows_avx512::<3>(m, first, out, bytes, d, group_sums),
                _ => rows_avx512::<4>(m, first, out, bytes, d, group_sums),
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (m, first, out, bytes, d, group_sums);
        unreachable!("`Digits::new` finds no VNNI here");
    }
}

/// The longest rows summed two at a time. Pairs share their inputs' digits and measured a few
/// percent faster on SmolLM2's rows (576 and 1536 inputs). They were 10% slower on the 8B's
/// (4096 and 14336), where two rows and the inputs' digits outgrow the L1 cache.
const PAIR_MAX_COLS: usize = 2048;

/// How far ahead of the rows being summed their successors are prefetched. Four rows ahead
/// (1.1 KB of SmolLM2's shortest rows) left the kernel waiting; about 2–4 KB measured 3% faster.
const PREFETCH_BYTES: usize = 4096;

/// [`rows`] with `D` digits per input: rows two at a time where they are short, else one by
/// one, each rounded and saturated as it is summed.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn rows_avx512<const D: usize>(
    m: &FixedMatrix,
    first: usize,
    out: &mut [i32],
    bytes: &[u8],
    d: &Digits,
    group_sums: &[i64],
) {
    let (groups, row_bytes, n) = (m.groups_per_row(), m.cols / 2, out.len());
    let finish = |r: usize, sum: i64| -> i32 {
        saturate(round_shift_i128(sum.into(), m.shifts[r]) as i64, m.out_bits)
    };
    let offset_mults = (!m.offset_mults.is_empty()).then_some(&m.offset_mults[..]);
    let mut i = 0;
    // Plain indexing below rather than closures: these run once or twice per row, and calls
    // the compiler left out of line cost a tenth of the time.
    while i < n {
        let r = first + i;
        let (a, b, c) = (r * groups, (r + 1) * groups, (r + 2) * groups);
        // Rows about `PREFETCH_BYTES` ahead, on their way to the cache while these are summed.
        let step = if i + 1 < n && m.cols <= PAIR_MAX_COLS {
            2
        } else {
            1
        };
        let ahead = r + (PREFETCH_BYTES / row_bytes).max(1);
        super::split_dot::prefetch(bytes.get(ahead * row_bytes..(ahead + step) * row_bytes));
        if step == 2 {
            // SAFETY: as for `rows`.
            let [y0, y1] = unsafe {
                sums::<D, 2>(
                    m.group_size,
                    [&bytes[r * row_bytes..], &bytes[(r + 1) * row_bytes..]],
                    d,
                    [&m.mults[a..b], &m.mults[b..c]],
                    [
                        offset_mults.map(|o| &o[a..b]),
                        offset_mults.map(|o| &o[b..c]),
                    ],
                    group_sums,
                )
            };
            out[i] = finish(r, y0);
            out[i + 1] = finish(r + 1, y1);
            i += 2;
        } else {
            // SAFETY: as for `rows`.
            let [y] = unsafe {
                sums::<D, 1>(
                    m.group_size,
                    [&bytes[r * row_bytes..]],
                    d,
                    [&m.mults[a..b]],
                    [offset_mults.map(|o| &o[a..b])],
                    group_sums,
                )
            };
            out[i] = finish(r, y);
            i += 1;
        }
    }
}

/// `R` rows' exact sums before their shifts: `Σ_g mult_g·Σ w·x + offset_g·S_g` (module docs),
/// with `D` digits per input, `rows` starting at each row's packed bytes (at least `cols / 2`
/// of them), for multipliers and offsets below `2^24` ([`Digits::takes`]).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn sums<const D: usize, const R: usize>(
    group_size: usize,
    rows: [&[u8]; R],
    d: &Digits,
    mults: [&[i32]; R],
    offsets: [Option<&[i32]>; R],
    group_sums: &[i64],
) -> [i64; R] {
    use std::arch::x86_64::*;
    let (eight, nibble) = (_mm512_set1_epi8(8), _mm512_set1_epi8(0x0f));
    // The block's 32 bytes in both halves, the upper half shifted to its high nibbles.
    let shift = _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4);
    // Block `b`'s digits, shared by the rows. SAFETY: digit arrays `(b·D + k)·64..` of
    // `d.bytes` (`cols·D` bytes).
    let digits = |b: usize| -> [__m512i; D] {
        std::array::from_fn(|k| unsafe {
            _mm512_loadu_si512(d.bytes.as_ptr().add((b * D + k) * 64).cast())
        })
    };
    // acc[k] += Σ u·s_k over block `b` of a row. SAFETY: the block is bytes `32b..32b + 32`
    // of the row (`cols / 2` bytes, where `rows` start).
    let dot = |row: &[u8], b: usize, s: &[__m512i; D], acc: &mut [__m512i; D]| unsafe {
        let packed = _mm256_loadu_si256(row.as_ptr().add(32 * b).cast());
        let halves = _mm512_srlv_epi64(_mm512_broadcast_i64x4(packed), shift);
        // (n ^ 8) & 0x0f: the unsigned weight `w + 8`.
        let u = _mm512_ternarylogic_epi32::<0x28>(halves, eight, nibble);
        for (a, s) in acc.iter_mut().zip(s) {
            *a = _mm512_dpbusd_epi32(*a, u, *s);
        }
    };
    // Σ_k acc_k·2^(7k) per lane.
    let combine = |acc: [__m512i; D]| {
        let mut t = acc[D - 1];
        for a in acc[..D - 1].iter().rev() {
            t = _mm512_add_epi32(_mm512_slli_epi32::<7>(t), *a);
        }
        t
    };
    // total += (even lane + odd lane)·mult in 64 bits: a 64-bit lane's two 32-bit lanes share
    // their group, and their sum still fits 32 bits (`Digits::takes`).
    let mac = |total: __m512i, t: __m512i, mv: __m512i| {
        let pairs = _mm512_add_epi32(t, _mm512_srli_epi64::<32>(t));
        _mm512_add_epi64(total, _mm512_mul_epi32(pairs, mv))
    };
    let mut total = [_mm512_setzero_si512(); R];
    let (groups, blocks) = (mults[0].len(), mults[0].len() * group_size / BLOCK);
    if group_size == 32 {
        // A block holds groups 2b (lanes 0–3 and 8–11) and 2b + 1 (lanes 4–7 and 12–15):
        // each 64-bit lane takes its group's multiplier in its low half.
        let spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1);
        for b in 0..blocks {
            let s = digits(b);
            for k in 0..R {
                let mut acc = [_mm512_setzero_si512(); D];
                dot(rows[k], b, &s, &mut acc);
                // SAFETY: groups `2b` and `2b + 1` are in `mults` (`2·blocks` of them).
                let pair = unsafe { _mm_loadl_epi64(mults[k].as_ptr().add(2 * b).cast()) };
                let mv = _mm512_permutexvar_epi32(spread, _mm512_castsi128_si512(pair));
                total[k] = mac(total[k], combine(acc), mv);
            }
        }
    } else {
        let per = group_size / BLOCK;
        for (g, first) in (0..blocks).step_by(per).enumerate() {
            let mut acc = [[_mm512_setzero_si512(); D]; R];
            for b in first..first + per {
                let s = digits(b);
                for k in 0..R {
                    dot(rows[k], b, &s, &mut acc[k]);
                }
            }
            for k in 0..R {
                let mv = _mm512_set1_epi64(mults[k][g].into());
                total[k] = mac(total[k], combine(acc[k]), mv);
            }
        }
    }
    // Σ_g S_g·(offset_g − 8·mult_g), eight groups at a time.
    for g in (0..groups).step_by(8) {
        let mask = (0xffu32 >> (8 - (groups - g).min(8))) as __mmask8;
        // SAFETY: masked loads read only groups `g..` that exist.
        unsafe {
            let sv = _mm512_maskz_loadu_epi64(mask, group_sums.as_ptr().add(g));
            for k in 0..R {
                let mv = _mm256_maskz_loadu_epi32(mask, mults[k].as_ptr().add(g));
                let ov = match offsets[k] {
                    Some(o) => _mm256_maskz_loadu_epi32(mask, o.as_ptr().add(g)),
                    None => _mm256_setzero_si256(),
                };
                let c = _mm512_cvtepi32_epi64(_mm256_sub_epi32(ov, _mm256_slli_epi32::<3>(mv)));
                total[k] = _mm512_add_epi64(total[k], _mm512_mul_epi32(sv, c));
            }
        }
    }
    total.map(|t| _mm512_reduce_add_epi64(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_rebuild_every_input_in_unpacking_order() {
        let Some(_) = Digits::new(&[0; 64], (0, 0)) else {
            return; // no AVX-512 VNNI here: the kernel is never taken
        };
        for (x, count) in [
            ((0..128).map(|i| (i - 64) * 32_001).collect::<Vec<i32>>(), 3),
            ((0..64).map(|i| (i - 32) * 262_143).collect(), 4),
            (vec![-(1 << 23); 64], 4),
            (vec![-(1 << 21); 64], 3),
            (vec![(1 << 21) - 1; 64], 3),
            (vec![1 << 21; 64], 4),
        ] {
            let d = Digits::new(&x, range(&x)).unwrap();
            assert_eq!(d.count, count);
            for (b, block) in x.chunks(64).enumerate() {
                for k in 0..64 {
                    let v: i64 = (0..count)
                        .map(|j| (d.bytes[(b * count + j) * 64 + k] as i64) << (7 * j))
                        .sum();
                    assert_eq!(
                        v,
                        block[QUARTERS[k / 16] + k % 16] as i64,
                        "block {b}, byte {k}"
                    );
                }
            }
        }
        assert!(Digits::new(&[1 << 23; 64], (1 << 23, 1 << 23)).is_none());
        assert!(Digits::new(&[0; 32], (0, 0)).is_none());
    }
}
