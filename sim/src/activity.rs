//! Which partitions of the combinational program must run before the next edge.
//!
//! A partition is a pure function of the words it reads, so it needs to run only when one
//! of them changed since it last ran. Every change marks the partitions that read the
//! changed word: a register, memory read port or input changing at an edge or a poke, and
//! a partition's output differing from what it last produced (each partition keeps a
//! shadow copy of its outputs to tell). Partitions run in topological order, so a mark
//! set by one is seen by its readers in the same pass.

use crate::instr::Slot;
use crate::partition::Partitions;

/// The run marks and the tables that set them.
#[derive(Debug, Clone)]
pub(crate) struct Activity {
    /// Whether each partition must run.
    active: Vec<bool>,
    /// Mark every partition before every pass: evaluation without skipping, the reference
    /// the skipping is tested against.
    full: bool,
    reader_start: Vec<u32>,
    readers: Vec<u32>,
    out_start: Vec<u32>,
    outs: Vec<Slot>,
    /// The value of each of `outs` when its partition last ran.
    shadow: Vec<u64>,
    /// Instructions run so far.
    pub evaluated: u64,
}

impl Activity {
    /// Every partition marked, so the first pass runs them all.
    pub(crate) fn new(p: &Partitions, state: &[u64]) -> Self {
        Activity {
            active: vec![true; p.ends.len()],
            full: false,
            reader_start: p.reader_start.clone(),
            readers: p.readers.clone(),
            out_start: p.out_start.clone(),
            outs: p.outs.clone(),
            shadow: p.outs.iter().map(|s| state[*s as usize]).collect(),
            evaluated: 0,
        }
    }

    /// Turns skipping off (`full`) or on; either way the next pass runs everything.
    pub(crate) fn set_full(&mut self, full: bool) {
        self.full = full;
        self.wake_all();
    }

    /// Marks every partition.
    pub(crate) fn wake_all(&mut self) {
        self.active.fill(true);
    }

    /// Marks the partitions that read `words` words from `slot`.
    #[inline]
    pub(crate) fn wake(&mut self, slot: Slot, words: usize) {
        let s = slot as usize;
        let (a, b) = (self.reader_start[s], self.reader_start[s + words]);
        for &p in &self.readers[a as usize..b as usize] {
            self.active[p as usize] = true;
        }
    }

    /// Whether partition `p` must run now; clears its mark.
    #[inline]
    pub(crate) fn take(&mut self, p: usize) -> bool {
        self.full || std::mem::replace(&mut self.active[p], false)
    }

    /// After partition `p` ran: marks the readers of each output that changed.
    #[inline]
    pub(crate) fn compare_outputs(&mut self, p: usize, st: &[u64]) {
        let (a, b) = (self.out_start[p] as usize, self.out_start[p + 1] as usize);
        for k in a..b {
            let s = self.outs[k];
            let v = st[s as usize];
            if v != self.shadow[k] {
                self.shadow[k] = v;
                self.wake(s, 1);
            }
        }
    }
}
