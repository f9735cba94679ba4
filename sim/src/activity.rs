//! Which partitions of the combinational program must run before the next edge, and which
//! items of the edge must run at it.
//!
//! A partition is a pure function of the words it reads, and an edge item (see
//! [`crate::commit`]) writes a pure function of them, so either needs to run only when one
//! of them changed since it last ran. Every change marks the readers of the changed word:
//! a register, memory read port or input changing at an edge or a poke, and a partition's
//! output differing from what it last produced (each partition keeps a shadow copy of its
//! outputs to tell). Partitions run in topological order, so a mark set by one is seen by
//! its readers in the same pass; marks set on edge items during an edge are for the next.

use crate::instr::Slot;
use crate::partition::Partitions;

/// How a [`Simulator`](crate::Simulator) chooses the logic it evaluates each cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluation {
    /// Every instruction every cycle, with no bookkeeping: the plain path, and the fastest
    /// when most of the logic changes every cycle (a free-running datapath).
    All,
    /// Only the partitions of the logic, and the register commits and memory reads, whose
    /// inputs changed since they last ran: the fastest when most of the design is idle
    /// (a core whose units take turns).
    Changed,
    /// [`Changed`](Self::Changed), measured over windows of `window` cycles: after a window
    /// in which more than half the logic ran anyway, [`All`](Self::All) for a while, then
    /// `Changed` again.
    Adaptive { window: u32 },
}

impl Default for Evaluation {
    /// Adaptive, in windows of 4096 cycles.
    fn default() -> Self {
        Evaluation::Adaptive { window: 4096 }
    }
}

/// Windows an adaptive policy evaluates everything before it tries skipping again.
const PROBE_WINDOWS: u32 = 16;

/// The most windows between tries at skipping.
const MAX_BACKOFF: u32 = 256;

/// A set of small integers, visited in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Marks(Vec<u64>);

impl Marks {
    fn new(n: usize) -> Self {
        Marks(vec![0; n.div_ceil(64)])
    }

    #[inline(always)]
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    /// Sets `0..n`.
    fn fill(&mut self, n: usize) {
        for (w, word) in self.0.iter_mut().enumerate() {
            let left = n.saturating_sub(w * 64);
            *word = if left >= 64 {
                u64::MAX
            } else {
                (1 << left) - 1
            };
        }
    }

    /// Calls `f` on each member in `lo..hi`, in increasing order, removing it.
    #[inline(always)]
    pub(crate) fn drain(&mut self, lo: usize, hi: usize, mut f: impl FnMut(usize)) {
        if lo >= hi {
            return;
        }
        for w in lo / 64..=(hi - 1) / 64 {
            let base = w * 64;
            let mut m = self.0[w];
            if base < lo {
                m &= u64::MAX << (lo - base);
            }
            if base + 64 > hi {
                m &= u64::MAX >> (base + 64 - hi);
            }
            self.0[w] &= !m;
            while m != 0 {
                f(base + m.trailing_zeros() as usize);
                m &= m - 1;
            }
        }
    }
}

/// The run marks and the tables that set them.
#[derive(Debug, Clone)]
pub(crate) struct Activity {
    /// Whether each partition must run.
    active: Vec<bool>,
    /// Edge items to run at the next edge.
    items: Marks,
    /// The marks the edge in progress drains, empty between edges.
    draining: Marks,
    item_count: usize,
    /// For each memory, the items that read it.
    mem_readers: Vec<Vec<u32>>,
    /// How to choose between skipping and evaluating everything.
    policy: Evaluation,
    /// Whether changes are being tracked and idle logic skipped (else everything runs,
    /// without bookkeeping).
    tracking: bool,
    /// Instructions in a pass over the whole program.
    total: u64,
    /// Cycles and instructions of the current [`Evaluation::Adaptive`] window.
    window_cycles: u32,
    window_evaluated: u64,
    /// Windows left before an adaptive policy that is evaluating everything tries skipping
    /// again.
    probe_in: u32,
    /// Windows to evaluate everything after the next busy window: doubled after each
    /// try at skipping that finds the logic still busy, so a design that is always busy
    /// pays for the tries less and less.
    backoff: u32,
    /// The tables of [`Partitions`] (its program goes to the executor).
    tables: Partitions,
    /// The value of each of the partitions' outputs when its partition last ran.
    shadow: Vec<u64>,
    /// Instructions run so far.
    pub evaluated: u64,
}

impl Activity {
    /// Everything marked, so the first pass and edge run it all.
    pub(crate) fn new(
        tables: Partitions,
        state: &[u64],
        item_count: usize,
        mem_readers: Vec<Vec<u32>>,
        total: u64,
    ) -> Self {
        let mut items = Marks::new(item_count);
        items.fill(item_count);
        Activity {
            active: vec![true; tables.ends.len()],
            items,
            draining: Marks::new(item_count),
            item_count,
            mem_readers,
            policy: Evaluation::default(),
            tracking: true,
            total,
            window_cycles: 0,
            window_evaluated: 0,
            probe_in: 0,
            backoff: PROBE_WINDOWS,
            shadow: tables
                .outs
                .values()
                .iter()
                .map(|s| state[*s as usize])
                .collect(),
            tables,
            evaluated: 0,
        }
    }

    /// Sets the policy; the next pass and edge run everything.
    pub(crate) fn set_policy(&mut self, policy: Evaluation) {
        self.policy = policy;
        self.tracking = policy != Evaluation::All;
        self.window_cycles = 0;
        self.window_evaluated = 0;
        self.wake_all();
    }

    /// Whether idle logic is being skipped now.
    #[inline(always)]
    pub(crate) fn tracking(&self) -> bool {
        self.tracking
    }

    /// Counts `n` instructions run while tracking.
    #[inline(always)]
    pub(crate) fn count(&mut self, n: u64) {
        self.evaluated += n;
        self.window_evaluated += n;
    }

    /// Counts a pass over the whole program, made while not tracking.
    #[inline(always)]
    pub(crate) fn ran_all(&mut self) {
        self.evaluated += self.total;
    }

    /// After each edge: an adaptive policy that ends a window decides how to go on. A
    /// window in which more than half of the logic ran anyway is followed by windows of
    /// evaluating everything ([`PROBE_WINDOWS`], doubling up to [`MAX_BACKOFF`] while the
    /// logic stays busy), then skipping is tried again.
    #[inline(always)]
    pub(crate) fn end_cycle(&mut self) {
        let Evaluation::Adaptive { window } = self.policy else {
            return;
        };
        self.window_cycles += 1;
        if self.window_cycles < window.max(1) {
            return;
        }
        if self.tracking {
            if self.window_evaluated * 2 > self.total * u64::from(self.window_cycles) {
                self.tracking = false;
                self.probe_in = self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            } else {
                self.backoff = PROBE_WINDOWS;
            }
        } else {
            self.probe_in -= 1;
            if self.probe_in == 0 {
                self.tracking = true;
                self.wake_all();
            }
        }
        self.window_cycles = 0;
        self.window_evaluated = 0;
    }

    /// Marks every partition and edge item.
    pub(crate) fn wake_all(&mut self) {
        self.active.fill(true);
        self.items.fill(self.item_count);
    }

    /// Marks the readers of `words` words from `slot`, which changed at an edge or a poke.
    #[inline(always)]
    pub(crate) fn wake(&mut self, slot: Slot, words: usize) {
        let s = slot as usize;
        for &p in self.tables.part_readers.get_range(s, words) {
            self.active[p as usize] = true;
        }
        for &k in self.tables.item_readers.get_range(s, words) {
            self.items.set(k as usize);
        }
    }

    /// Whether words `a` and `b` are read by the same partitions and items.
    pub(crate) fn same_readers(&self, a: Slot, b: Slot) -> bool {
        let t = &self.tables;
        t.part_readers.get(a as usize) == t.part_readers.get(b as usize)
            && t.item_readers.get(a as usize) == t.item_readers.get(b as usize)
    }

    /// Marks the read ports of memory `mem`, whose contents changed.
    pub(crate) fn wake_mem(&mut self, mem: u32) {
        for &k in &self.mem_readers[mem as usize] {
            self.items.set(k as usize);
        }
    }

    /// The edge items to run now (all of them without skipping); marks set from here on
    /// are for the next edge. Hand the marks back with [`end_edge`](Self::end_edge).
    pub(crate) fn begin_edge(&mut self) -> Marks {
        let mut now = std::mem::take(&mut self.draining);
        std::mem::swap(&mut now, &mut self.items);
        now
    }

    /// Takes back the drained marks of [`begin_edge`](Self::begin_edge).
    pub(crate) fn end_edge(&mut self, drained: Marks) {
        debug_assert!(
            drained.0.iter().all(|w| *w == 0),
            "an edge drains every mark"
        );
        self.draining = drained;
    }

    /// Whether partition `p` must run now; clears its mark.
    #[inline]
    pub(crate) fn take(&mut self, p: usize) -> bool {
        std::mem::replace(&mut self.active[p], false)
    }

    /// After partition `p` ran: marks the items it feeds, and the partitions reading each
    /// output that changed.
    #[inline]
    pub(crate) fn ran(&mut self, p: usize, st: &[u64]) {
        for &k in self.tables.fed_items.get(p) {
            self.items.set(k as usize);
        }
        for k in self.tables.outs.span(p) {
            let s = self.tables.outs.values()[k];
            let v = st[s as usize];
            if v != self.shadow[k] {
                self.shadow[k] = v;
                for &q in self.tables.part_readers.get(s as usize) {
                    self.active[q as usize] = true;
                }
            }
        }
    }
}
