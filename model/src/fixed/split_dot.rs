//! The golden model's fast matrix–vector kernel: the sums [`super::matvec_row`] defines,
//! computed with 16-bit multiplies. Each input is split as `x = hi·2^12 + lo` with
//! `0 ≤ lo < 2^12`, so a group's `Σ w·x` is `2^12·Σ w·hi + Σ w·lo`, two sums of 16-bit
//! products that AVX2's `vpmaddwd` takes sixteen at a time. Both are exact in 32-bit lanes for
//! groups of up to [`MAX_GROUP`] inputs of up to 24 bits, so the result is the reference's bit
//! for bit (a property test checks it against `matvec_row` on every row).

use super::digit_dot::{self, Digits};
use super::matvec::FixedMatrix;
#[cfg(target_arch = "x86_64")]
use super::packed::Container;
use super::{round_shift_i128, saturate, wrap};
use std::sync::OnceLock;

/// Bits in the low part of a split input.
const LO_BITS: u32 = 12;

/// The longest group the 32-bit lanes hold exactly: a lane adds two products of at most
/// `2^7·2^12` per 16 inputs, so 16384 inputs stay below `2^31`.
pub(super) const MAX_GROUP: usize = 16384;

/// Groups up to this long are summed within the register (eight lanes of at most
/// `2048/16 · 2^20` each add up below 2^31); longer ones lane by lane in 64 bits.
#[cfg(target_arch = "x86_64")]
const SHORT_GROUP: usize = 2048;

/// An input vector prepared for the kernels: each group's wrapped input sum (the affine
/// grid's term, shared by every row), the inputs as digits for the VNNI kernel where the machine
/// has it, and, made on first use, the split halves for the AVX2 kernel.
pub(super) struct SplitInput<'x> {
    x: &'x [i32],
    halves: OnceLock<Halves>,
    group_sums: Vec<i64>,
    /// No group accumulator can wrap: `2^7 · max|x| · group_size < 2^(acc_bits - 1)`.
    no_wrap: bool,
    /// The inputs as 7-bit digits, for the AVX-512 VNNI nibble kernel where the machine has it.
    digits: Option<Digits>,
}

/// The inputs as `x = hi·2^LO_BITS + lo`.
struct Halves {
    hi: Vec<i16>,
    lo: Vec<i16>,
}

impl<'x> SplitInput<'x> {
    /// `None` when an input is wider than 24 bits or the groups are longer than
    /// [`MAX_GROUP`]: the caller then takes the reference path.
    pub(super) fn new(x: &'x [i32], group_size: usize, acc_bits: u32) -> Option<Self> {
        let range = digit_dot::range(x);
        let (lo, hi) = range;
        if group_size == 0 || group_size > MAX_GROUP || lo < -(1 << 23) || hi >= 1 << 23 {
            return None;
        }
        let max = lo.unsigned_abs().max(hi.unsigned_abs()) as u128;
        let no_wrap = (max << 7) * group_size as u128 * 2 < 1u128 << acc_bits;
        Some(SplitInput {
            x,
            halves: OnceLock::new(),
            no_wrap,
            digits: Digits::new(x, range),
            // At most `MAX_GROUP` inputs of 24 bits: the sum cannot leave an `i64`, so
            // wrapping adds are exact (and vectorise).
            group_sums: x
                .chunks(group_size)
                .map(|g| {
                    wrap(
                        g.iter().fold(0i64, |s, &v| s.wrapping_add(v.into())),
                        acc_bits,
                    )
                })
                .collect(),
        })
    }

    fn halves(&self) -> &Halves {
        self.halves.get_or_init(|| Halves {
            hi: self.x.iter().map(|&v| (v >> LO_BITS) as i16).collect(),
            lo: self
                .x
                .iter()
                .map(|&v| (v & ((1 << LO_BITS) - 1)) as i16)
                .collect(),
        })
    }
}

/// Outputs `first..first + out.len()` of `m` for the split input `s`: each is
/// [`super::matvec_row`]'s value.
#[inline]
pub(super) fn rows(m: &FixedMatrix, first: usize, out: &mut [i32], s: &SplitInput, acc_bits: u32) {
    if let Some(d) = s.digits.as_ref().filter(|d| d.takes(m, s.no_wrap)) {
        return digit_dot::rows(m, first, out, m.weights.bytes(), d, &s.group_sums);
    }
    // Packed rows are unpacked here, one or two at a time, so they stay in the L1 cache.
    let mut buf = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the feature was just detected.
            return unsafe { rows_avx2(m, first, out, s, acc_bits, &mut buf) };
        }
    }
    for (i, y) in out.iter_mut().enumerate() {
        let row = m.weights.rows_in(first + i, 1, &mut buf);
        *y = row_with(m, first + i, row, s, acc_bits, dot_portable);
    }
}

/// Rows in pairs where [`row_pair_no_wrap_avx2`] applies (the pair shares its input loads and
/// its reductions), else one by one.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn rows_avx2(
    m: &FixedMatrix,
    first: usize,
    out: &mut [i32],
    s: &SplitInput,
    acc_bits: u32,
    buf: &mut Vec<i8>,
) {
    let paired = s.no_wrap
        && m.group_size.is_multiple_of(16)
        && m.group_size <= SHORT_GROUP
        && m.cols.is_multiple_of(m.group_size)
        && m.cols <= MAX_COLS;
    // Two weights to a byte, in blocks of 32 that groups of a multiple of 32 never straddle:
    // the pair kernel unpacks them in the register.
    let nibbles =
        (paired && m.weights.container() == Container::Nibble && m.group_size.is_multiple_of(32))
            .then(|| m.weights.bytes());
    let row_bytes = m.cols / 2;
    let mut i = 0;
    while i < out.len() {
        if let Some(bytes) = nibbles.filter(|_| i + 1 < out.len()) {
            let r = first + i;
            let pair = bytes[r * row_bytes..(r + 2) * row_bytes].split_at(row_bytes);
            // The pair after next, on its way to the cache while this one is summed.
            prefetch(bytes.get((r + 4) * row_bytes..(r + 6) * row_bytes));
            // SAFETY: AVX2 is enabled here; the shape is what the nibble kernel asks for.
            if let Some((a, b)) = unsafe { row_pair_nibble_avx2(m, r, pair, s) } {
                (out[i], out[i + 1]) = (a, b);
                i += 2;
                continue;
            }
        }
        if paired && i + 1 < out.len() {
            let pair = m.weights.rows_in(first + i, 2, buf).split_at(m.cols);
            // SAFETY: AVX2 is enabled here; the shape is what the pair kernel asks for.
            if let Some((a, b)) = unsafe { row_pair_no_wrap_avx2(m, first + i, pair, s) } {
                (out[i], out[i + 1]) = (a, b);
                i += 2;
                continue;
            }
        }
        let row = m.weights.rows_in(first + i, 1, buf);
        out[i] = row_with(m, first + i, row, s, acc_bits, |w, lo, hi| unsafe {
            dot_avx2(w, lo, hi)
        });
        i += 1;
    }
}

/// Brings `bytes` (rows a few ahead of the one being summed) towards the L1 cache.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn prefetch(bytes: Option<&[u8]>) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    for line in bytes.unwrap_or_default().chunks(64) {
        // SAFETY: a prefetch has no effect on memory; the address is in `bytes`.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
    }
}

/// The widest row [`row_pair_no_wrap_avx2`] sums in 64-bit lanes: a group of `G` inputs adds at
/// most `G · 2^19` times a multiplier below `2^24`, so a row of up to `2^20` inputs stays below
/// `2^63`.
#[cfg(target_arch = "x86_64")]
const MAX_COLS: usize = 1 << 20;

/// Rows `r` and `r + 1` (their weights `rows`), whose group accumulators cannot wrap (so wrapping them is the
/// identity), whose groups are multiples of 16 up to [`SHORT_GROUP`] and whose multipliers are
/// below `2^24` (else `None`): per group, the two rows' four sums are reduced together in the
/// register and multiplied in 64-bit lanes, with no scalar work.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn row_pair_no_wrap_avx2(
    m: &FixedMatrix,
    r: usize,
    (row_a, row_b): (&[i8], &[i8]),
    s: &SplitInput,
) -> Option<(i32, i32)> {
    use std::arch::x86_64::*;
    let h = s.halves();
    // SAFETY (every load below): `i + 16 <= cols`, the length of both rows, `h.lo` and `h.hi`.
    let load = |row: &[i8], i: usize| unsafe {
        _mm256_cvtepi8_epi16(_mm_loadu_si128(row.as_ptr().add(i).cast()))
    };
    // SAFETY: AVX2 is enabled here.
    unsafe {
        row_pair_avx2(m, r, s, 16, |i, acc| {
            let (wa, wb) = (load(row_a, i), load(row_b, i));
            let (lv, hv) = (load16(&h.lo, i), load16(&h.hi, i));
            mac4(acc, [wa, wa, wb, wb], [lv, hv, lv, hv]);
        })
    }
}

/// [`row_pair_no_wrap_avx2`] on nibble-packed rows (see [`super::packed`]) whose groups are
/// multiples of 32: each block of 32 weights is unpacked in the register, never stored.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn row_pair_nibble_avx2(
    m: &FixedMatrix,
    r: usize,
    (row_a, row_b): (&[u8], &[u8]),
    s: &SplitInput,
) -> Option<(i32, i32)> {
    use std::arch::x86_64::*;
    // Block `i / 32`'s 16 bytes as its two halves of 16 weights, each sign-extended to i16:
    // the low nibbles are weights 0..16, the high ones 16..32 (`(n ^ 8) - 8` extends a nibble).
    // SAFETY: `i / 2 + 16 <= cols / 2`, the length of both rows.
    let unpack = |row: &[u8], i: usize| unsafe {
        let v = _mm_loadu_si128(row.as_ptr().add(i / 2).cast());
        let (mask, eight) = (_mm_set1_epi8(0x0f), _mm_set1_epi8(8));
        let sign = |n| _mm_sub_epi8(_mm_xor_si128(n, eight), eight);
        (
            _mm256_cvtepi8_epi16(sign(_mm_and_si128(v, mask))),
            _mm256_cvtepi8_epi16(sign(_mm_and_si128(_mm_srli_epi16::<4>(v), mask))),
        )
    };
    let h = s.halves();
    // SAFETY: AVX2 is enabled here; loads as in `unpack`, and `i + 32 <= cols` for `h`.
    unsafe {
        row_pair_avx2(m, r, s, 32, |i, acc| {
            let ((a0, a1), (b0, b1)) = (unpack(row_a, i), unpack(row_b, i));
            let (l0, h0) = (load16(&h.lo, i), load16(&h.hi, i));
            let (l1, h1) = (load16(&h.lo, i + 16), load16(&h.hi, i + 16));
            mac4(acc, [a0, a0, b0, b0], [l0, h0, l0, h0]);
            mac4(acc, [a1, a1, b1, b1], [l1, h1, l1, h1]);
        })
    }
}

/// Sixteen inputs at `i` (`i + 16 <= v.len()`, which the callers' shapes guarantee).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load16(v: &[i16], i: usize) -> std::arch::x86_64::__m256i {
    debug_assert!(i + 16 <= v.len());
    // SAFETY: as the caller promises.
    unsafe { std::arch::x86_64::_mm256_loadu_si256(v.as_ptr().add(i).cast()) }
}

/// `acc[k] += Σ pairs of w[k] · x[k]` (`vpmaddwd`), the four accumulators of a row pair.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn mac4(
    acc: &mut [std::arch::x86_64::__m256i; 4],
    w: [std::arch::x86_64::__m256i; 4],
    x: [std::arch::x86_64::__m256i; 4],
) {
    use std::arch::x86_64::*;
    for k in 0..4 {
        acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(w[k], x[k]));
    }
}

/// The pair kernels' frame: `step` accumulates the inputs `i..i + width` of both rows into
/// the four accumulators (lo a, hi a, lo b, hi b); per group they are reduced together in the
/// register and multiplied in 64-bit lanes, and the rows are finished as [`row_with`] does.
/// `None` when a multiplier is `2^24` or more.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn row_pair_avx2(
    m: &FixedMatrix,
    r: usize,
    s: &SplitInput,
    width: usize,
    mut step: impl FnMut(usize, &mut [std::arch::x86_64::__m256i; 4]),
) -> Option<(i32, i32)> {
    use std::arch::x86_64::*;
    let groups = m.groups_per_row();
    let mults = &m.mults[r * groups..(r + 2) * groups];
    if mults.iter().any(|m| m.unsigned_abs() >= 1 << 24) {
        return None;
    }
    let (mut sum_lo, mut sum_hi) = (_mm_setzero_si128(), _mm_setzero_si128()); // [a, b] each
    for g in 0..groups {
        let mut acc = [_mm256_setzero_si256(); 4];
        for i in (g * m.group_size..(g + 1) * m.group_size).step_by(width) {
            step(i, &mut acc);
        }
        let quads = _mm256_hadd_epi32(
            _mm256_hadd_epi32(acc[0], acc[1]),
            _mm256_hadd_epi32(acc[2], acc[3]),
        );
        // lo a, hi a, lo b, hi b
        let v = _mm_add_epi32(
            _mm256_castsi256_si128(quads),
            _mm256_extracti128_si256::<1>(quads),
        );
        let mv = _mm_set_epi32(mults[groups + g], mults[groups + g], mults[g], mults[g]);
        sum_lo = _mm_add_epi64(sum_lo, _mm_mul_epi32(v, mv));
        sum_hi = _mm_add_epi64(sum_hi, _mm_mul_epi32(_mm_srli_epi64::<32>(v), mv));
    }
    let lane = |v: __m128i, i: usize| -> i128 {
        let mut a = [0i64; 2];
        // SAFETY: `a` is 16 bytes.
        unsafe { _mm_storeu_si128(a.as_mut_ptr().cast(), v) };
        a[i] as i128
    };
    let finish = |k: usize| {
        let row = r + k;
        let mut sum = (lane(sum_hi, k) << LO_BITS) + lane(sum_lo, k);
        if let Some(o) = m.offset_mults.get(row * groups..(row + 1) * groups) {
            sum += s
                .group_sums
                .iter()
                .zip(o)
                .map(|(&x, &o)| x as i128 * o as i128)
                .sum::<i128>();
        }
        saturate(round_shift_i128(sum, m.shifts[row]) as i64, m.out_bits)
    };
    Some((finish(0), finish(1)))
}

/// Row `r`'s requantised sum (its weights `row`), with `dot` giving a group's
/// `(Σ w·lo, Σ w·hi)`.
#[inline(always)]
fn row_with(
    m: &FixedMatrix,
    r: usize,
    row: &[i8],
    s: &SplitInput,
    acc_bits: u32,
    dot: impl Fn(&[i8], &[i16], &[i16]) -> (i64, i64),
) -> i32 {
    let (groups, h) = (m.groups_per_row(), s.halves());
    let mults = &m.mults[r * groups..(r + 1) * groups];
    let offsets = m.offset_mults.get(r * groups..(r + 1) * groups);
    let mut sum: i128 = 0;
    for (g, &mult) in mults.iter().enumerate() {
        let (a, b) = (g * m.group_size, ((g + 1) * m.group_size).min(m.cols));
        let (lo, hi) = dot(&row[a..b], &h.lo[a..b], &h.hi[a..b]);
        let acc = wrap((hi << LO_BITS) + lo, acc_bits);
        sum += acc as i128 * mult as i128;
        if let Some(o) = offsets {
            sum += s.group_sums[g] as i128 * o[g] as i128;
        }
    }
    saturate(round_shift_i128(sum, m.shifts[r]) as i64, m.out_bits)
}

#[inline(always)]
fn dot_portable(w: &[i8], lo: &[i16], hi: &[i16]) -> (i64, i64) {
    w.iter()
        .zip(lo.iter().zip(hi))
        .fold((0, 0), |(a, b), (&w, (&l, &h))| {
            (a + (w as i64 * l as i64), b + (w as i64 * h as i64))
        })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn dot_avx2(w: &[i8], lo: &[i16], hi: &[i16]) -> (i64, i64) {
    use std::arch::x86_64::*;
    let n = w.len() / 16 * 16;
    let (mut acc_lo, mut acc_hi) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    for i in (0..n).step_by(16) {
        // SAFETY: `i + 16 <= n <= len` for all three slices (the caller passes equal lengths).
        unsafe {
            let wv = _mm256_cvtepi8_epi16(_mm_loadu_si128(w.as_ptr().add(i).cast()));
            let lv = _mm256_loadu_si256(lo.as_ptr().add(i).cast());
            let hv = _mm256_loadu_si256(hi.as_ptr().add(i).cast());
            acc_lo = _mm256_add_epi32(acc_lo, _mm256_madd_epi16(wv, lv));
            acc_hi = _mm256_add_epi32(acc_hi, _mm256_madd_epi16(wv, hv));
        }
    }
    let (tl, th) = dot_portable(&w[n..], &lo[n..], &hi[n..]);
    let (l, h) = if n <= SHORT_GROUP {
        // Pairwise adds within the register: each lane holds at most `n/16` sums of two
        // products below 2^19, so the eight lanes' total stays below 2^31.
        let pairs = _mm256_hadd_epi32(acc_lo, acc_hi); // lo01 lo23 hi01 hi23 | lo45 lo67 hi45 hi67
        let quads = _mm256_hadd_epi32(pairs, pairs); // lo0123 hi0123 .. | lo4567 hi4567 ..
        let v = _mm_add_epi32(
            _mm256_castsi256_si128(quads),
            _mm256_extracti128_si256::<1>(quads),
        );
        (
            _mm_cvtsi128_si32(v) as i64,
            _mm_extract_epi32::<1>(v) as i64,
        )
    } else {
        let lanes = |v: __m256i| -> i64 {
            let mut a = [0i32; 8];
            // SAFETY: `a` is 32 bytes.
            unsafe { _mm256_storeu_si256(a.as_mut_ptr().cast(), v) };
            a.iter().map(|&x| x as i64).sum()
        };
        (lanes(acc_lo), lanes(acc_hi))
    };
    (l + tl, h + th)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::matvec::matvec_row;
    use crate::fixed::packed::PackedWeights;
    use proptest::prelude::*;

    /// `n` multipliers (or offsets) below 2^24, which every kernel takes, or a mix with any
    /// `i32` and the extremes (a matrix with a large one takes the AVX2 kernel or the
    /// reference).
    fn multipliers(n: usize) -> impl Strategy<Value = Vec<i32>> {
        prop_oneof![
            proptest::collection::vec(-(1i32 << 24) + 1..1 << 24, n),
            proptest::collection::vec(
                prop_oneof![
                    -32767i32..32767,
                    any::<i32>(),
                    Just(i32::MAX),
                    Just(-i32::MAX)
                ],
                n
            ),
        ]
    }

    /// Any shape, or (`nibbles`) one the nibble pair kernel takes: weights of at most 4 bits
    /// (packed two to a byte) in groups of a multiple of 32 that divide the row.
    fn matrix(nibbles: bool) -> impl Strategy<Value = FixedMatrix> {
        let shape = if nibbles {
            (2usize..6, 1usize..5, 1usize..5, 2u32..=4)
                .prop_map(|(rows, per_row, k, bits)| (rows, 32 * k * per_row, 32 * k, bits))
                .boxed()
        } else {
            (
                1usize..6,
                prop_oneof![
                    1usize..80,
                    (1usize..6).prop_map(|k| 48 * k),
                    2040usize..2200
                ],
                prop_oneof![
                    1usize..40,
                    (1usize..4).prop_map(|k| 16 * k),
                    2040usize..2100
                ],
                2u32..=8,
            )
                .boxed()
        };
        (shape, any::<bool>())
            .prop_map(|((rows, cols, group, bits), affine)| (rows, cols, group, bits, affine))
            .prop_flat_map(|(rows, cols, group, bits, affine)| {
                let groups = cols.div_ceil(group);
                let q = 1i16 << (bits - 1);
                (
                    proptest::collection::vec((-q..q).prop_map(|w| w as i8), rows * cols),
                    multipliers(rows * groups),
                    proptest::collection::vec(0u32..40, rows),
                    multipliers(if affine { rows * groups } else { 0 }),
                )
                    .prop_map(move |(weights, mults, shifts, offset_mults)| {
                        FixedMatrix {
                            rows,
                            cols,
                            group_size: group,
                            weight_bits: bits,
                            weights: PackedWeights::new(rows, cols, &weights),
                            mults: mults.into(),
                            shifts,
                            out_bits: 24,
                            offset_mults: offset_mults.into(),
                        }
                    })
            })
    }

    proptest! {
        /// The split kernel (AVX-512 VNNI or AVX2 where the machine has it, and the portable
        /// loop) equals the reference on every row, for inputs across the whole 24-bit range
        /// or all within 22 bits (three digits for the VNNI kernel, else four), and
        /// accumulators narrow enough to wrap.
        #[test]
        fn split_kernel_equals_matvec_row(
            (m, x) in any::<bool>().prop_flat_map(matrix).prop_flat_map(|m| {
                let c = m.cols;
                (Just(m), prop_oneof![
                    proptest::collection::vec(prop_oneof![
                        -(1i32 << 23)..(1 << 23), -4096i32..4096, Just(-(1i32 << 23)),
                        Just((1 << 23) - 1)
                    ], c),
                    proptest::collection::vec(prop_oneof![
                        -(1i32 << 21)..(1 << 21), Just(-(1i32 << 21)), Just((1 << 21) - 1)
                    ], c),
                ])
            }),
            acc_bits in prop_oneof![Just(40u32), 12u32..40],
        ) {
            let s = SplitInput::new(&x, m.group_size, acc_bits).unwrap();
            let mut all = vec![0; m.rows];
            rows(&m, 0, &mut all, &s, acc_bits);
            for r in 0..m.rows {
                let want = matvec_row(&m, r, &x, acc_bits);
                prop_assert_eq!(all[r], want, "row {} of all", r);
                let mut one = [0];
                rows(&m, r, &mut one, &s, acc_bits);
                prop_assert_eq!(one[0], want, "row {} alone", r);
                prop_assert_eq!(row_with(&m, r, &m.weights.row(r), &s, acc_bits, dot_portable), want, "row {} (portable)", r);
            }
        }
    }

    #[test]
    fn inputs_beyond_24_bits_take_the_reference_path() {
        assert!(SplitInput::new(&[1 << 23], 32, 40).is_none());
        assert!(SplitInput::new(&[-(1 << 23)], 32, 40).is_some());
        assert!(SplitInput::new(&[0; 4], MAX_GROUP + 1, 40).is_none());
    }
}
