//! Integer weights held at their width: two to a byte when every weight fits 4 bits, one byte
//! otherwise, in memory the model owns or in a mapped weight store
//! ([`crate::store`]). A 4-bit model then takes half a byte per weight wherever it is held or
//! read, and the golden model's speed is set by those bytes.
//!
//! Nibble layout: a row is cut into blocks of 32 weights (the last one padded with zeros), and
//! byte `j` of a block's 16 holds weight `j` in its low nibble and weight `j + 16` in its high
//! one, both two's complement. Unpacking a block is then two shifts of the same 16 bytes, which
//! vectorises.

use super::shared::Shared;
use memmap2::Mmap;
use std::borrow::Cow;
use std::sync::Arc;

/// Weights per nibble block.
const BLOCK: usize = 32;

/// How the weights are packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    /// Two weights to a byte (every weight in `-8..8`).
    Nibble,
    /// One `i8` per byte.
    Byte,
}

impl Container {
    /// The narrowest container holding every value.
    fn of(values: &[i8]) -> Self {
        if values.iter().all(|&w| (-8..8).contains(&w)) {
            Container::Nibble
        } else {
            Container::Byte
        }
    }

    /// Bytes one row of `cols` weights takes.
    pub fn row_bytes(self, cols: usize) -> usize {
        match self {
            Container::Nibble => cols.div_ceil(BLOCK) * BLOCK / 2,
            Container::Byte => cols,
        }
    }
}

/// A `rows × cols` matrix of integer weights, row-major, packed (see the module docs).
#[derive(Clone)]
pub struct PackedWeights {
    rows: usize,
    cols: usize,
    container: Container,
    /// Shared by clones: hardware blocks and the ROM images made from them refer to the
    /// model's weights, never copy them.
    bytes: Shared<u8>,
}

impl std::fmt::Debug for PackedWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PackedWeights({}x{}, {:?}, {})",
            self.rows,
            self.cols,
            self.container,
            if self.bytes.is_mapped() {
                "mapped"
            } else {
                "owned"
            }
        )
    }
}

impl PartialEq for PackedWeights {
    /// Equal when they hold the same values, wherever held (packing is canonical: the
    /// narrowest container, zero padding).
    fn eq(&self, o: &Self) -> bool {
        (self.rows, self.cols, self.container) == (o.rows, o.cols, o.container)
            && *self.bytes == *o.bytes
    }
}

impl PackedWeights {
    /// Packs `values` (`rows × cols`, row-major) in the narrowest container that holds them.
    ///
    /// # Panics
    /// If `values` does not hold `rows × cols` weights.
    pub fn new(rows: usize, cols: usize, values: &[i8]) -> Self {
        assert_eq!(
            values.len(),
            rows * cols,
            "PackedWeights: {} values for a {rows}x{cols} matrix",
            values.len()
        );
        let container = Container::of(values);
        let bytes = match container {
            Container::Byte => values.iter().map(|&w| w as u8).collect(),
            Container::Nibble => {
                let mut out = Vec::with_capacity(rows * container.row_bytes(cols));
                for row in values.chunks_exact(cols.max(1)).take(rows) {
                    for block in row.chunks(BLOCK) {
                        let mut b = [0i8; BLOCK];
                        b[..block.len()].copy_from_slice(block);
                        out.extend(
                            (0..BLOCK / 2).map(|j| (b[j] as u8 & 0xf) | ((b[j + 16] as u8) << 4)),
                        );
                    }
                }
                out
            }
        };
        PackedWeights {
            rows,
            cols,
            container,
            bytes: bytes.into(),
        }
    }

    /// Weights `len` bytes at `start` of `map`, packed as `container` (checked to be the size
    /// `rows × cols` takes; the caller read the layout from the store's header).
    pub(crate) fn mapped(
        rows: usize,
        cols: usize,
        container: Container,
        map: Arc<Mmap>,
        start: usize,
    ) -> Option<Self> {
        let len = rows.checked_mul(container.row_bytes(cols))?;
        Some(PackedWeights {
            rows,
            cols,
            container,
            bytes: Shared::mapped(map, start, len)?,
        })
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Number of weights.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How they are packed.
    pub fn container(&self) -> Container {
        self.container
    }

    /// The packed bytes (what a store writes).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether the bytes are read from a mapped store rather than owned.
    pub fn is_mapped(&self) -> bool {
        self.bytes.is_mapped()
    }

    /// Drops the mapped pages of these weights from the process's resident set (they stay in
    /// the page cache, and the next read maps them in again); owned weights are left alone.
    /// See [`super::FixedMatrix::release`].
    pub fn release(&self) {
        self.bytes.release();
    }

    /// Weight `(r, c)`.
    pub fn get(&self, r: usize, c: usize) -> i8 {
        assert!(
            r < self.rows && c < self.cols,
            "weight ({r}, {c}) of {self:?}"
        );
        let row = &self.bytes[r * self.container.row_bytes(self.cols)..];
        match self.container {
            Container::Byte => row[c] as i8,
            Container::Nibble => {
                let (block, j) = (c / BLOCK, c % BLOCK);
                let byte = row[block * BLOCK / 2 + j % 16];
                if j < 16 {
                    ((byte << 4) as i8) >> 4
                } else {
                    (byte as i8) >> 4
                }
            }
        }
    }

    /// Row `r`: borrowed when one byte holds one weight, else unpacked.
    pub fn row(&self, r: usize) -> Cow<'_, [i8]> {
        let mut buf = Vec::new();
        match self.rows_i8(r, 1, &mut buf) {
            Slice::Borrowed(s) => Cow::Borrowed(s),
            Slice::Buffer => Cow::Owned(buf),
        }
    }

    /// Rows `first..first + n`, row-major, unpacked into `buf` unless one byte holds one
    /// weight (then borrowed, and `buf` is left alone).
    pub fn rows_in<'a>(&'a self, first: usize, n: usize, buf: &'a mut Vec<i8>) -> &'a [i8] {
        match self.rows_i8(first, n, buf) {
            Slice::Borrowed(s) => s,
            Slice::Buffer => buf,
        }
    }

    fn rows_i8<'a>(&'a self, first: usize, n: usize, buf: &mut Vec<i8>) -> Slice<'a> {
        assert!(
            first + n <= self.rows,
            "rows {first}..{} of {self:?}",
            first + n
        );
        let rb = self.container.row_bytes(self.cols);
        let bytes = &self.bytes[first * rb..(first + n) * rb];
        match self.container {
            Container::Byte => {
                // SAFETY: `u8` and `i8` have the same size and alignment, and every bit
                // pattern is valid for both.
                Slice::Borrowed(unsafe {
                    std::slice::from_raw_parts(bytes.as_ptr().cast(), bytes.len())
                })
            }
            Container::Nibble => {
                buf.clear();
                buf.resize(n * self.cols, 0);
                for (row, out) in bytes
                    .chunks_exact(rb.max(1))
                    .zip(buf.chunks_exact_mut(self.cols.max(1)))
                {
                    unpack_row(row, out);
                }
                Slice::Buffer
            }
        }
    }

    /// Every weight, row-major.
    pub fn iter(&self) -> impl Iterator<Item = i8> + '_ {
        (0..self.rows).flat_map(move |r| self.row(r).into_owned())
    }

    /// Every weight, row-major, in a vector.
    pub fn to_vec(&self) -> Vec<i8> {
        let mut buf = Vec::new();
        self.rows_in(0, self.rows, &mut buf).to_vec()
    }

    /// Sets weight `i` (row-major) to `w`, widening the container if `w` needs it (and taking
    /// the bytes into memory if they were mapped).
    pub fn set(&mut self, i: usize, w: i8) {
        let mut v = self.to_vec();
        v[i] = w;
        *self = PackedWeights::new(self.rows, self.cols, &v);
    }
}

/// One block: 16 bytes into 32 weights, the low nibbles first. x86-64 always has SSE2, which
/// does it in eight instructions (mask, shift, and a sign extension by `(n ^ 8) - 8`);
/// elsewhere the loop below.
#[inline(always)]
fn unpack_block(b: &[u8; 16], out: &mut [i8; 32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86-64; the loads and stores are unaligned ones of exactly
        // the 16 and 32 bytes the references hold.
        unsafe {
            let v = _mm_loadu_si128(b.as_ptr().cast());
            let (mask, eight) = (_mm_set1_epi8(0x0f), _mm_set1_epi8(8));
            let sign = |n| _mm_sub_epi8(_mm_xor_si128(n, eight), eight);
            let lo = sign(_mm_and_si128(v, mask));
            let hi = sign(_mm_and_si128(_mm_srli_epi16::<4>(v), mask));
            _mm_storeu_si128(out.as_mut_ptr().cast(), lo);
            _mm_storeu_si128(out.as_mut_ptr().add(16).cast(), hi);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    for j in 0..16 {
        out[j] = ((b[j] << 4) as i8) >> 4;
        out[j + 16] = (b[j] as i8) >> 4;
    }
}

/// What [`PackedWeights::rows_i8`] produced.
enum Slice<'a> {
    Borrowed(&'a [i8]),
    Buffer,
}

/// One nibble-packed row into its `out.len()` weights.
#[inline]
fn unpack_row(row: &[u8], out: &mut [i8]) {
    let mut blocks = out.chunks_exact_mut(BLOCK);
    for (o, b) in (&mut blocks).zip(row.chunks_exact(BLOCK / 2)) {
        unpack_block(
            b.try_into().expect("16 bytes"),
            o.try_into().expect("32 weights"),
        );
    }
    let tail = blocks.into_remainder();
    if !tail.is_empty() {
        let b = &row[row.len() - BLOCK / 2..];
        for (j, w) in tail.iter_mut().enumerate() {
            *w = if j < 16 {
                ((b[j] << 4) as i8) >> 4
            } else {
                (b[j - 16] as i8) >> 4
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Packing keeps every value, in the container the values need, and every way of
        /// reading agrees.
        #[test]
        fn packing_round_trips(
            (rows, cols, v) in (0usize..5, 0usize..100).prop_flat_map(|(r, c)| {
                (Just(r), Just(c), proptest::collection::vec(
                    prop_oneof![-8i8..8, any::<i8>()], r * c))
            })
        ) {
            let p = PackedWeights::new(rows, cols, &v);
            prop_assert_eq!(p.to_vec(), v.clone());
            prop_assert!(p.iter().eq(v.iter().copied()));
            let want = if v.iter().all(|w| (-8..8).contains(w)) { Container::Nibble } else { Container::Byte };
            prop_assert_eq!(p.container(), want);
            prop_assert_eq!(p.bytes().len(), rows * want.row_bytes(cols));
            for r in 0..rows {
                prop_assert_eq!(&*p.row(r), &v[r * cols..(r + 1) * cols]);
            }
        }
    }

    #[test]
    fn set_widens_the_container_when_the_value_needs_it() {
        let mut p = PackedWeights::new(2, 40, &[3; 80]);
        assert_eq!(p.container(), Container::Nibble);
        assert_eq!(p.bytes().len(), 2 * 32);
        p.set(41, -8);
        assert_eq!((p.container(), p.get(1, 1)), (Container::Nibble, -8));
        p.set(5, 9);
        assert_eq!(
            (p.container(), p.get(0, 5), p.get(1, 1)),
            (Container::Byte, 9, -8)
        );
        // Narrowing back is canonical: the same values pack to the same bytes.
        p.set(5, 3);
        assert_eq!(
            p,
            PackedWeights::new(2, 40, &[&[3; 41][..], &[-8], &[3; 38]].concat())
        );
    }
}
