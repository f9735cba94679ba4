//! A matrix moved off the heap: its packed weights and multipliers written to an unlinked
//! temporary file and read back through a map, like a stored model's. The hardware stacks the
//! rows of several matrices into one (Q, K and V; gate and up), and at Llama 3.1 8B size those
//! copies would hold 3.4 GB on the heap; spilled, they are page cache, and a pass that reads
//! them (a ROM image) gives their pages back with `release`.

use super::matvec::FixedMatrix;
use super::packed::PackedWeights;
use super::shared::Shared;
use crate::store::Writer;
use memmap2::Mmap;
use std::sync::Arc;

impl FixedMatrix {
    /// The same matrix with its weights and multipliers in an unlinked temporary file (see the
    /// module docs), written as the weight store writes its sections. Errors are the file's (a
    /// full disk): the caller may keep `self`.
    pub fn spilled(&self) -> std::io::Result<FixedMatrix> {
        let mut w = Writer::new(tempfile::tempfile()?);
        let weights = w.section(self.weights.bytes())?;
        let mults = w.words(&self.mults)?;
        let offsets = w.words(&self.offset_mults)?;
        let file = w.into_file()?;
        // SAFETY: the file is unlinked and this process's alone; nothing writes it after this.
        let map = Arc::new(unsafe { Mmap::map(&file) }?);
        let lost = || std::io::Error::other("the spilled matrix does not read back");
        let words_at =
            |at: u64, n: usize| Shared::mapped(map.clone(), at as usize, n).ok_or_else(lost);
        Ok(FixedMatrix {
            weights: PackedWeights::mapped(
                self.rows,
                self.cols,
                self.weights.container(),
                map.clone(),
                weights.at as usize,
            )
            .ok_or_else(lost)?,
            mults: words_at(mults.at, self.mults.len())?,
            offset_mults: words_at(offsets.at, self.offset_mults.len())?,
            shifts: self.shifts.clone(),
            ..*self
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spilled_matrix_is_the_same_matrix_read_through_a_map() {
        for offsets in [vec![], vec![-3, 5, 7, -9]] {
            let m = FixedMatrix {
                rows: 2,
                cols: 70,
                group_size: 35,
                weight_bits: 4,
                weights: PackedWeights::new(
                    2,
                    70,
                    &(0..140).map(|i| (i % 16 - 8) as i8).collect::<Vec<_>>(),
                ),
                mults: vec![1, -2, 3, i32::MIN].into(),
                shifts: vec![4, 9],
                out_bits: 20,
                offset_mults: offsets.into(),
            };
            let s = m.spilled().unwrap();
            assert_eq!(s, m);
            assert!(s.weights.is_mapped() && s.mults.is_mapped());
            s.weights.release();
            s.mults.release();
            assert_eq!(s, m, "released pages read back");
        }
    }
}
