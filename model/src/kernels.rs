//! f32 kernels of the reference model: the dot product (vectorised, with AVX2/FMA when the CPU
//! has it) and a matrix product split over threads by rows.

use crate::weights::Matrix;
use rayon::prelude::*;

/// `a · b` over the common length.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the features were just detected.
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_portable(a, b)
}

/// Sixteen independent accumulators so the compiler can keep two or more vector registers busy.
#[inline(always)]
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 16];
    let ca = a.chunks_exact(16);
    let cb = b.chunks_exact(16);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..16 {
            acc[j] = x[j].mul_add_fast(y[j], acc[j]);
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    let mut s = 0.0;
    for v in acc.chunks_exact(4) {
        s += (v[0] + v[1]) + (v[2] + v[3]);
    }
    s + tail
}

trait MulAddFast {
    fn mul_add_fast(self, b: f32, c: f32) -> f32;
}

impl MulAddFast for f32 {
    /// `self * b + c`, left to the compiler (fused where the target has FMA).
    #[inline(always)]
    fn mul_add_fast(self, b: f32, c: f32) -> f32 {
        self * b + c
    }
}

/// Rows per parallel task: large enough that scheduling costs little against the memory traffic.
const ROWS_PER_TASK: usize = 64;

/// `out[t][r] = w.row(r) · xs[t]` for `t` in `0..xs.len() / w.cols`, rows split over threads.
pub fn matmul(w: &Matrix, xs: &[f32], out: &mut [f32]) {
    let t_count = xs.len() / w.cols;
    debug_assert_eq!(out.len(), t_count * w.rows);
    if t_count == 1 {
        out.par_chunks_mut(ROWS_PER_TASK)
            .enumerate()
            .for_each(|(chunk, o)| {
                let r0 = chunk * ROWS_PER_TASK;
                for (i, y) in o.iter_mut().enumerate() {
                    *y = dot(w.row(r0 + i), xs);
                }
            });
        return;
    }
    // Several positions: each weight row is read once for all of them, into a rows x T buffer.
    let mut tmp = vec![0.0f32; w.rows * t_count];
    tmp.par_chunks_mut(ROWS_PER_TASK * t_count)
        .enumerate()
        .for_each(|(chunk, o)| {
            let r0 = chunk * ROWS_PER_TASK;
            for (i, ys) in o.chunks_exact_mut(t_count).enumerate() {
                let row = w.row(r0 + i);
                for (t, y) in ys.iter_mut().enumerate() {
                    *y = dot(row, &xs[t * w.cols..(t + 1) * w.cols]);
                }
            }
        });
    for r in 0..w.rows {
        for t in 0..t_count {
            out[t * w.rows + r] = tmp[r * t_count + t];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.25).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
    }

    #[test]
    fn matmul_batches_match_single() {
        let w = Matrix {
            rows: 130,
            cols: 7,
            data: (0..910).map(|i| (i % 13) as f32 - 6.0).collect(),
        };
        let xs: Vec<f32> = (0..21).map(|i| i as f32 * 0.1).collect();
        let mut out = vec![0.0; 3 * 130];
        matmul(&w, &xs, &mut out);
        for t in 0..3 {
            let mut one = vec![0.0; 130];
            matmul(&w, &xs[t * 7..(t + 1) * 7], &mut one);
            assert_eq!(&out[t * 130..(t + 1) * 130], &one[..]);
        }
    }
}
