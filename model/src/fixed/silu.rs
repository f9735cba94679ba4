//! SiLU `x * sigmoid(x)` with the sigmoid from a table, linearly interpolated, on `[-8, 8)`.

use super::{round_shift, saturate, Format};

/// Fractional bits of the sigmoid values.
pub const SIGMOID_FRAC: u32 = 15;
/// log2 of the table entries per unit of `x` (step 1/16).
pub const SILU_STEP_BITS: u32 = 4;
/// The table covers `x` in `[-SILU_RANGE, SILU_RANGE)`; outside, the sigmoid is taken as 0 or 1.
pub const SILU_RANGE: i64 = 8;

/// `round(2^SIGMOID_FRAC * sigmoid(-8 + i / 16))` for `i` in `0..=256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiluTable {
    /// `2 * SILU_RANGE * 2^SILU_STEP_BITS + 1` entries.
    pub entries: Vec<i32>,
}

impl Default for SiluTable {
    fn default() -> Self {
        let n = (2 * SILU_RANGE) << SILU_STEP_BITS;
        let entries = (0..=n)
            .map(|i| {
                let x = -(SILU_RANGE as f64) + i as f64 / (1 << SILU_STEP_BITS) as f64;
                ((SIGMOID_FRAC as f64).exp2() / (1.0 + (-x).exp())).round() as i32
            })
            .collect();
        SiluTable { entries }
    }
}

/// SiLU of each activation in format `fmt` (output in the same format).
///
/// Contract: `u = x + 8` in activation units; outside `[0, 16)` the sigmoid is 0 or
/// `2^SIGMOID_FRAC`; inside, `i = u >> (frac - 4)`, `r` the remaining bits, and
/// `sig = T[i] + round_shift((T[i+1] - T[i]) * r, frac - 4)`; then
/// `sat(round_shift(x * sig, SIGMOID_FRAC))`. Error at most `|x| * 2^-12 + 0.003` (the latter at
/// the range ends) plus half a step. Needs `frac >= 4`.
pub fn silu(x: &[i32], t: &SiluTable, fmt: Format) -> Vec<i32> {
    let f = fmt.frac;
    let sub = f - SILU_STEP_BITS;
    let offset = SILU_RANGE << f;
    let top = (t.entries.len() as i64 - 1) << sub;
    x.iter()
        .map(|&v| {
            let u = v as i64 + offset;
            let sig = if u < 0 {
                0
            } else if u >= top {
                1i64 << SIGMOID_FRAC
            } else {
                let i = (u >> sub) as usize;
                let r = u & ((1 << sub) - 1);
                let (a, b) = (t.entries[i] as i64, t.entries[i + 1] as i64);
                a + round_shift((b - a) * r, sub)
            };
            saturate(round_shift(v as i64 * sig, SIGMOID_FRAC), fmt.bits)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn silu_matches_f64(x in -300_000i32..300_000) {
            let cfg = Format { bits: 20, frac: 12 };
            let y = silu(&[x], &SiluTable::default(), cfg)[0];
            let xr = cfg.to_real(x);
            let ideal = xr / (1.0 + (-xr).exp());
            prop_assert!((cfg.to_real(y) - ideal).abs() <= xr.abs() * 2f64.powi(-12) + 0.003 + cfg.step(), "{xr}: {} vs {ideal}", cfg.to_real(y));
        }
    }
}
