//! Fixed-width bit vectors: the values of constants, reset values and memory contents.

use std::fmt;

/// A bit vector of a fixed width, stored little-endian in 64-bit words.
///
/// Bits above `width` are always zero, so two `Bits` of the same width compare equal exactly
/// when their values do. Signedness is not part of a `Bits`: it belongs to the [`Type`] of
/// whatever holds it, and [`Bits::to_i128`] / [`Bits::from_i128`] read and write two's
/// complement.
///
/// ```
/// use hardwire_hdl::Bits;
/// let b = Bits::from_i128(-3, 4);
/// assert_eq!(b.to_u64(), 0b1101);
/// assert_eq!(b.to_i128(), -3);
/// ```
///
/// [`Type`]: crate::Type
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Bits {
    width: u32,
    words: Vec<u64>,
}

/// Number of 64-bit words needed for `width` bits (at least one, so zero-width never occurs
/// in storage).
pub fn words_for(width: u32) -> usize {
    (width as usize).div_ceil(64).max(1)
}

/// The mask of the valid bits in the top word of a `width`-bit value.
pub fn top_mask(width: u32) -> u64 {
    match width % 64 {
        0 => u64::MAX,
        r => (1u64 << r) - 1,
    }
}

impl Bits {
    /// All zeros.
    pub fn zero(width: u32) -> Self {
        Bits {
            width,
            words: vec![0; words_for(width)],
        }
    }

    /// The low `width` bits of `value`.
    pub fn from_u64(value: u64, width: u32) -> Self {
        let mut b = Bits::zero(width);
        b.words[0] = value;
        b.mask();
        b
    }

    /// The two's-complement encoding of `value` in `width` bits (wrapping if it does not fit).
    pub fn from_i128(value: i128, width: u32) -> Self {
        let mut b = Bits::zero(width);
        let lo = value as u64;
        let hi = (value >> 64) as u64;
        let fill = if value < 0 { u64::MAX } else { 0 };
        for (i, w) in b.words.iter_mut().enumerate() {
            *w = match i {
                0 => lo,
                1 => hi,
                _ => fill,
            };
        }
        b.mask();
        b
    }

    /// Builds from little-endian words; extra bits are masked off.
    pub fn from_words(words: &[u64], width: u32) -> Self {
        let mut b = Bits::zero(width);
        for (dst, src) in b.words.iter_mut().zip(words) {
            *dst = *src;
        }
        b.mask();
        b
    }

    fn mask(&mut self) {
        let n = self.words.len();
        self.words[n - 1] &= top_mask(self.width);
        if self.width == 0 {
            self.words[0] = 0;
        }
    }

    /// The width in bits.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// The little-endian 64-bit words (at least one).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// The low 64 bits.
    pub fn to_u64(&self) -> u64 {
        self.words[0]
    }

    /// The value read as unsigned, if it fits in 128 bits.
    pub fn to_u128(&self) -> u128 {
        let hi = self.words.get(1).copied().unwrap_or(0);
        (u128::from(hi) << 64) | u128::from(self.words[0])
    }

    /// The value read as two's complement, truncated to 128 bits for wider vectors.
    pub fn to_i128(&self) -> i128 {
        if self.width == 0 {
            return 0;
        }
        let raw = self.to_u128();
        if self.width >= 128 {
            return raw as i128;
        }
        let shift = 128 - self.width;
        ((raw << shift) as i128) >> shift
    }

    /// Bit `i` (false beyond the width).
    pub fn bit(&self, i: u32) -> bool {
        i < self.width && (self.words[(i / 64) as usize] >> (i % 64)) & 1 == 1
    }

    /// True when every bit is zero.
    pub fn is_zero(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    /// Zero- or sign-extends, or truncates, to `width`.
    pub fn resize(&self, width: u32, signed: bool) -> Bits {
        let mut out = Bits::zero(width);
        let negative = signed && self.width > 0 && self.bit(self.width - 1);
        for i in 0..width {
            let v = if i < self.width {
                self.bit(i)
            } else {
                negative
            };
            if v {
                out.words[(i / 64) as usize] |= 1 << (i % 64);
            }
        }
        out
    }

    /// Hexadecimal digits, most significant first, exactly `ceil(width / 4)` of them: the
    /// form `$readmemh` reads and Verilog literals use.
    pub fn to_hex(&self) -> String {
        let digits = (self.width as usize).div_ceil(4).max(1);
        let mut s = String::with_capacity(digits);
        for d in (0..digits).rev() {
            let bit = d * 4;
            let word = self.words.get(bit / 64).copied().unwrap_or(0);
            let mut nibble = (word >> (bit % 64)) & 0xf;
            if bit % 64 > 60 {
                if let Some(next) = self.words.get(bit / 64 + 1) {
                    nibble |= (next << (64 - bit % 64)) & 0xf;
                }
            }
            s.push(char::from_digit(nibble as u32, 16).expect("nibble is below 16"));
        }
        s
    }
}

impl fmt::Debug for Bits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}'h{}", self.width, self.to_hex())
    }
}

impl fmt::Display for Bits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_values_round_trip_through_twos_complement() {
        for w in [1u32, 4, 63, 64, 65, 128, 130] {
            let b = Bits::from_i128(-1, w);
            assert_eq!(b.to_i128(), -1, "width {w}");
            assert!(b.bit(w - 1));
        }
        assert_eq!(Bits::from_i128(-3, 70).resize(4, true).to_u64(), 0b1101);
    }

    #[test]
    fn hex_covers_every_digit_across_word_boundaries() {
        let b = Bits::from_words(&[0xfedc_ba98_7654_3210, 0xa], 68);
        assert_eq!(b.to_hex(), "afedcba9876543210");
        assert_eq!(Bits::from_u64(5, 3).to_hex(), "5");
        assert_eq!(Bits::from_u64(0x1f, 5).to_hex(), "1f");
    }

    #[test]
    fn sign_extension_fills_new_words() {
        let b = Bits::from_u64(0b10, 2).resize(130, true);
        assert_eq!(b.words(), &[u64::MAX - 1, u64::MAX, 0b11]);
        assert_eq!(
            Bits::from_u64(0b10, 2).resize(130, false).words(),
            &[2, 0, 0]
        );
    }
}
