//! The fixed-point golden model: integer in, integer out, with the rounding, saturation and
//! lookup tables the hardware uses. Every hardware unit matches one function here bit for bit
//! and takes its tables from the same code.
//!
//! Conventions shared by all units:
//! - an activation is an `i32` holding a two's-complement value in a [`Format`] (width and
//!   fractional bits; [`NumericConfig`] names the two formats of the decoder);
//! - rounding is "add half, then arithmetic shift right" ([`round_shift`]): round half up;
//! - results written back as activations saturate to their format's width ([`saturate`]);
//! - matrix accumulators wrap at [`NumericConfig::acc_bits`] (two's complement), which makes the
//!   result independent of the order of accumulation; the width must be chosen so real sums
//!   don't wrap (see [`NumericConfig::accumulator_headroom`]).

pub mod attention;
mod digit_dot;
pub mod elementwise;
pub mod matvec;
pub mod model;
pub mod packed;
pub mod rmsnorm;
pub mod rope;
pub mod shared;
pub mod silu;
pub mod softmax;
mod spill;
mod split_dot;
mod team;

pub use elementwise::{argmax, mul, residual_add};
pub use matvec::{embed_lookup, matvec, matvec_row, matvecs, FixedMatrix, Requant};
pub use model::{FixedKvCache, FixedLayer, FixedModel};
pub use packed::{Container, PackedWeights};
pub use rmsnorm::{rms_norm, rsqrt, RmsNormParams, RsqrtTable};
pub use rope::{rope, RopeTables};
pub use shared::Shared;
pub use silu::{silu, SiluTable};
pub use softmax::{
    attention_score, reciprocal, score_requant, softmax, weighted_sum, ExpTable, RecipTable,
};

use serde::{Deserialize, Serialize};

/// A fixed-point format: a two's-complement value of `bits` bits with `frac` fractional bits
/// (real value `x * 2^-frac`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Format {
    /// Total width, sign included.
    pub bits: u32,
    /// Fractional bits.
    pub frac: u32,
}

impl Format {
    /// Real value of one step.
    pub fn step(&self) -> f64 {
        (-(self.frac as f64)).exp2()
    }

    /// `x` in this format (rounded to nearest, saturated).
    pub fn to_fixed(&self, x: f64) -> i32 {
        saturate((x * (self.frac as f64).exp2()).round() as i64, self.bits)
    }

    /// The real value of `x`.
    pub fn to_real(&self, x: i32) -> f64 {
        x as f64 * self.step()
    }

    /// Largest representable real value.
    pub fn max_real(&self) -> f64 {
        self.to_real(((1i64 << (self.bits - 1)) - 1) as i32)
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    /// `BITS.FRAC`, e.g. `20.12`: 20 bits, 12 of them fractional.
    fn from_str(s: &str) -> Result<Self, String> {
        let syntax = || format!("`{s}` is not BITS.FRAC (e.g. 20.12)");
        let (bits, frac) = s.split_once('.').ok_or_else(syntax)?;
        Ok(Format {
            bits: bits.parse().map_err(|_| syntax())?,
            frac: frac.parse().map_err(|_| syntax())?,
        })
    }
}

/// Widths of the datapath.
///
/// Three activation formats: `resid` for the residual stream and everything added to it (the
/// embedding, the attention and FFN output projections), whose magnitudes reach tens of
/// thousands in real models ("massive activations"); `prod` for the SwiGLU product, the down
/// projection's input, which is mostly small but is where those massive values are born; and
/// `act` for everything else (norm outputs, Q/K/V, scores, attention output, gate/up, logits),
/// which stays within a few hundred and wants more fractional bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumericConfig {
    /// Format of ordinary activations; at most 24 bits (a matrix input), at least 4 fractional
    /// bits.
    pub act: Format,
    /// Format of the residual stream; at most 32 bits.
    pub resid: Format,
    /// Format of the SwiGLU product `silu(gate) * up`; at most 24 bits, at most `2 * act.frac`
    /// fractional.
    pub prod: Format,
    /// Width of a matrix-vector accumulator (wraps), at most 48.
    pub acc_bits: u32,
    /// Width of a requantisation multiplier (sign included), 8 to 24.
    pub mult_bits: u32,
}

impl Default for NumericConfig {
    /// `act` 20 bits with 12 fractional (±256, step 1/4096); `resid` 28 bits with 11
    /// fractional (±65536, step 1/2048: SmolLM2-135M's residual stream reaches about 25000 at
    /// the first token, while most of its elements stay within a few units); `prod` 24 bits
    /// with 9 fractional (±16384, step 1/512); 40-bit accumulators; 16-bit multipliers.
    fn default() -> Self {
        NumericConfig {
            act: Format { bits: 20, frac: 12 },
            resid: Format { bits: 28, frac: 11 },
            prod: Format { bits: 24, frac: 9 },
            acc_bits: 40,
            mult_bits: 16,
        }
    }
}

impl NumericConfig {
    /// For the `tiny` preset's seeded weights, whose residual stream stays within ±8: the
    /// residual format trades range for fractional bits (20 bits, 14 fractional).
    pub fn tiny() -> Self {
        NumericConfig {
            resid: Format { bits: 20, frac: 14 },
            prod: Format { bits: 20, frac: 14 },
            ..Self::default()
        }
    }

    /// Widths a matrix input (`act`, `prod`) may have: the golden kernels' products of 8-bit
    /// weights fit 31 bits.
    pub const FORMAT_BITS: std::ops::RangeInclusive<u32> = 8..=24;
    /// Widths the residual stream may have (it is added and normalised, never multiplied by a
    /// weight).
    pub const RESID_BITS: std::ops::RangeInclusive<u32> = 8..=32;
    /// Fewest fractional bits of `act` (the SiLU table's step).
    pub const MIN_ACT_FRAC: u32 = 4;
    /// Widths the accumulator may have.
    pub const ACC_BITS: std::ops::RangeInclusive<u32> = 16..=48;
    /// Widths a requantisation multiplier may have.
    pub const MULT_BITS: std::ops::RangeInclusive<u32> = 8..=24;

    /// Checks `f` as the format of `name` (`act`, `resid` or `prod`): its width is in
    /// [`Self::FORMAT_BITS`] ([`Self::RESID_BITS`] for `resid`) and it keeps at least 2 integer
    /// bits (and, for `act`, at least [`Self::MIN_ACT_FRAC`] fractional bits).
    pub fn check_format(name: &str, f: Format) -> Result<(), String> {
        let mut bad = Vec::new();
        let widths = if name == "resid" {
            Self::RESID_BITS
        } else {
            Self::FORMAT_BITS
        };
        if !widths.contains(&f.bits) {
            bad.push(format!(
                "{name}.bits {} is outside {}..={}",
                f.bits,
                widths.start(),
                widths.end()
            ));
        }
        // In u64: `frac + 2` must not wrap for a frac near u32::MAX.
        if u64::from(f.frac) + 2 > u64::from(f.bits) {
            bad.push(format!(
                "{name}.frac {} leaves fewer than 2 integer bits of {}",
                f.frac, f.bits
            ));
        }
        if name == "act" && f.frac < Self::MIN_ACT_FRAC {
            bad.push(format!(
                "act.frac {} is below {} (the SiLU table step)",
                f.frac,
                Self::MIN_ACT_FRAC
            ));
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad.join("; "))
        }
    }

    /// Checks the widths against the limits documented on each field.
    pub fn validate(&self) -> Result<(), String> {
        let mut bad = Vec::new();
        for (name, f) in [
            ("act", self.act),
            ("resid", self.resid),
            ("prod", self.prod),
        ] {
            if let Err(e) = Self::check_format(name, f) {
                bad.push(e);
            }
        }
        // The SwiGLU product `act * act` has 2 * act.frac fractional bits and is shifted right
        // into `prod` (`elementwise::mul`); a shift to the left is not part of the contract.
        if 2 * u64::from(self.act.frac) < u64::from(self.prod.frac) {
            bad.push(format!(
                "prod.frac {} is more than twice act.frac {} (the SwiGLU product has \
                 2 * act.frac fractional bits)",
                self.prod.frac, self.act.frac
            ));
        }
        for (name, bits, range) in [
            ("acc_bits", self.acc_bits, Self::ACC_BITS),
            ("mult_bits", self.mult_bits, Self::MULT_BITS),
        ] {
            if !range.contains(&bits) {
                bad.push(format!(
                    "{name} {bits} is outside {}..={}",
                    range.start(),
                    range.end()
                ));
            }
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad.join("; "))
        }
    }

    /// Bits the accumulator has beyond the worst-case sum of `cols` products of full-scale
    /// `input` values and `weight_bits` weights (negative: a worst-case input could wrap).
    pub fn accumulator_headroom(&self, input: Format, cols: usize, weight_bits: u32) -> i64 {
        let need = (input.bits - 1) as i64
            + (weight_bits - 1) as i64
            + (cols.max(1) as f64).log2().ceil() as i64
            + 1;
        self.acc_bits as i64 - need
    }
}

/// `x / 2^s` rounded half up (`(x + 2^(s-1)) >> s`); `s = 0` returns `x`.
///
/// Computed as `(x >> s) + bit s-1 of x`, which is the same number for every `x` and cannot
/// overflow (for `s ≥ 1`, `x >> s` is at most `i64::MAX >> 1`): no overflow check is needed, so
/// loops of it vectorise.
#[inline]
pub fn round_shift(x: i64, s: u32) -> i64 {
    if s == 0 {
        x
    } else {
        (x >> s).wrapping_add((x >> (s - 1)) & 1)
    }
}

/// [`round_shift`] for 128-bit intermediates.
#[inline]
pub fn round_shift_i128(x: i128, s: u32) -> i128 {
    if s == 0 {
        x
    } else {
        (x >> s).wrapping_add((x >> (s - 1)) & 1)
    }
}

/// `x * 2^-s` for a signed shift: rounded right shift when `s > 0`, left shift otherwise.
#[inline]
pub fn shift_signed(x: i64, s: i32) -> i64 {
    if s >= 0 {
        round_shift(x, s as u32)
    } else {
        x << (-s) as u32
    }
}

/// Clamps `x` to a signed `bits`-wide value.
#[inline]
pub fn saturate(x: i64, bits: u32) -> i32 {
    let hi = (1i64 << (bits - 1)) - 1;
    x.clamp(-hi - 1, hi) as i32
}

/// Wraps `x` to a signed `bits`-wide two's-complement value (what a `bits`-wide adder does).
#[inline]
pub fn wrap(x: i64, bits: u32) -> i64 {
    let sh = 64 - bits;
    (x << sh) >> sh
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Rounding by the shifted bit is `(x + 2^(s-1)) >> s` computed without overflow.
        #[test]
        fn round_shift_adds_half_then_shifts(x: i64, s in 0u32..64) {
            let wide = |x: i128| if s == 0 { x } else { (x + (1i128 << (s - 1))) >> s };
            proptest::prop_assert_eq!(round_shift(x, s) as i128, wide(x as i128));
            proptest::prop_assert_eq!(round_shift_i128(x as i128, s), wide(x as i128));
            for x in [i64::MAX, i64::MIN, x | 1 << 62] {
                proptest::prop_assert_eq!(round_shift(x, s) as i128, wide(x as i128));
            }
        }
    }

    #[test]
    fn rounding_and_saturation() {
        assert_eq!(round_shift(5, 1), 3); // 2.5 -> 3
        assert_eq!(round_shift(-5, 1), -2); // -2.5 -> -2 (half up)
        assert_eq!(round_shift(-6, 2), -1); // -1.5 -> -1
        assert_eq!(shift_signed(3, -2), 12);
        assert_eq!(saturate(1 << 20, 16), 32767);
        assert_eq!(saturate(-(1 << 20), 16), -32768);
        assert_eq!(wrap(128, 8), -128);
        assert_eq!(wrap(-129, 8), 127);
        NumericConfig::default().validate().unwrap();
        let wide = NumericConfig {
            act: Format { bits: 30, frac: 12 },
            ..Default::default()
        };
        assert!(wide.validate().unwrap_err().contains("act.bits 30"));
    }

    #[test]
    fn formats_parse_and_a_huge_frac_does_not_wrap_past_the_check() {
        assert_eq!("20.12".parse::<Format>(), Ok(Format { bits: 20, frac: 12 }));
        for bad in ["20", "a.b", "20.", "-1.3", "20.4294967296"] {
            let e = bad.parse::<Format>().unwrap_err();
            assert!(e.contains("BITS.FRAC"), "{bad}: {e}");
        }
        // `frac + 2` in u32 wraps to 0 for this frac, which once let it through.
        let f: Format = "20.4294967294".parse().unwrap();
        let e = NumericConfig::check_format("resid", f).unwrap_err();
        assert!(e.contains("fewer than 2 integer bits"), "{e}");
        let e = NumericConfig::check_format("act", Format { bits: 20, frac: 2 }).unwrap_err();
        assert!(e.contains("SiLU"), "{e}");
        // Found by the CLI's flag property test: act 8.4 with prod 20.14 made the SwiGLU
        // product's shift negative (a panic in debug builds, garbage in release).
        let narrow = NumericConfig {
            act: Format { bits: 8, frac: 4 },
            ..NumericConfig::tiny()
        };
        assert!(narrow.validate().unwrap_err().contains("twice act.frac"));
    }
}
