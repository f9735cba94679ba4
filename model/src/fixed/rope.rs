//! Rotary position embedding from cos/sin tables (llama3 frequency scaling included when the
//! configuration has it): per pair, four multiplies and two adds.

use super::{round_shift, saturate};
use crate::config::LlamaConfig;

/// Fractional bits of the cos/sin table entries.
pub const ROPE_FRAC: u32 = 14;

/// `cos` and `sin` of `pos * inv_freq[i]` for every position below `max_seq`, as
/// `round(2^ROPE_FRAC * cos)`; row-major `[pos][i]`, `i < head_dim / 2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RopeTables {
    /// Pairs per head (`head_dim / 2`).
    pub half: usize,
    /// Positions covered.
    pub max_seq: usize,
    /// Cosines.
    pub cos: Vec<i32>,
    /// Sines.
    pub sin: Vec<i32>,
}

impl RopeTables {
    /// Tables for `config` (its head size and RoPE frequencies) up to `max_seq` positions.
    pub fn new(config: &LlamaConfig, max_seq: usize) -> Self {
        let inv = config.rope_inv_freq();
        let half = inv.len();
        let q = (ROPE_FRAC as f64).exp2();
        let (mut cos, mut sin) = (
            Vec::with_capacity(max_seq * half),
            Vec::with_capacity(max_seq * half),
        );
        for p in 0..max_seq {
            for f in &inv {
                let (s, c) = (p as f64 * f).sin_cos();
                cos.push((c * q).round() as i32);
                sin.push((s * q).round() as i32);
            }
        }
        RopeTables {
            half,
            max_seq,
            cos,
            sin,
        }
    }
}

/// Rotates one head in place (Hugging Face half-split pairs `(x[i], x[i + half])`):
/// `x[i] = sat(round_shift(a*c - b*s, ROPE_FRAC))`, `x[i+half] = sat(round_shift(b*c + a*s, ROPE_FRAC))`.
///
/// Contract: within 2^-13 relative of the exact rotation (table rounding) plus half a step;
/// results saturate to `bits`.
pub fn rope(x: &mut [i32], pos: usize, t: &RopeTables, bits: u32) {
    let row = pos * t.half;
    for i in 0..t.half {
        let (c, s) = (t.cos[row + i] as i64, t.sin[row + i] as i64);
        let (a, b) = (x[i] as i64, x[i + t.half] as i64);
        x[i] = saturate(round_shift(a * c - b * s, ROPE_FRAC), bits);
        x[i + t.half] = saturate(round_shift(b * c + a * s, ROPE_FRAC), bits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn rope_matches_f64_rotation(x in proptest::collection::vec(-100_000i32..100_000, 16), pos in 0usize..64) {
            let cfg = crate::fixed::Format { bits: 20, frac: 12 };
            let config = LlamaConfig::tiny();
            let t = RopeTables::new(&config, 64);
            let inv = config.rope_inv_freq();
            let mut y = x.clone();
            rope(&mut y, pos, &t, cfg.bits);
            for i in 0..8 {
                let (s, c) = (pos as f64 * inv[i]).sin_cos();
                let (a, b) = (cfg.to_real(x[i]), cfg.to_real(x[i + 8]));
                let bound = (a.abs() + b.abs()) * 2f64.powi(-(ROPE_FRAC as i32)) + cfg.step() / 2.0 + 1e-9;
                prop_assert!((cfg.to_real(y[i]) - (a * c - b * s)).abs() <= bound);
                prop_assert!((cfg.to_real(y[i + 8]) - (b * c + a * s)).abs() <= bound);
            }
        }
    }
}
