//! The clock edge at run time: staging copies, memory ports and register commits.
//!
//! Like the combinational partitions, the edge costs what changed rather than the design's
//! size: every memory read port, run of one-word registers and multi-word register is an
//! *item* that runs only when [`Activity`] marked it, because a word it reads (its next
//! value, enable or address, or for a read port its memory's contents) changed since it
//! last ran. An item that did not run would have written what its outputs already hold.
//! Staging copies and memory writes are few and always run.

use std::collections::HashMap;

use crate::activity::{Activity, Marks};
use crate::instr::{EdgeOp, Slot, ALWAYS};

#[inline(always)]
fn mask(ms: u8) -> u64 {
    u64::MAX >> ms
}

/// Memory contents: `depth` entries of `words` words each.
#[derive(Debug, Clone)]
pub(crate) struct MemStore {
    pub words: usize,
    pub depth: u64,
    pub data: Vec<u64>,
}

/// A read port: `data = mem[(addr >> alo) & mask(ams)]` when `en` (or [`ALWAYS`]).
#[derive(Debug, Clone, Copy)]
struct Read {
    mem: u32,
    data: Slot,
    addr: Slot,
    en: Slot,
    alo: u8,
    ams: u8,
}

/// A write port: `mem[(addr >> alo) & mask(ams)] = data` when bit `elo` of `en` is set.
#[derive(Debug, Clone, Copy)]
struct Write {
    mem: u32,
    addr: Slot,
    data: Slot,
    en: Slot,
    alo: u8,
    ams: u8,
    elo: u8,
}

/// The clock edge, sorted by kind so the common cases are tight loops: staging copies
/// first, then memory reads and writes (reads first, as the compiler ordered them), then
/// one-word registers, then wide registers. The compiler staged every input that an
/// earlier commit in this order overwrites.
///
/// Items are numbered in that order: reads, then register runs, then wide registers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Edge {
    stage: Vec<(Slot, Slot, u32)>,
    reads: Vec<Read>,
    writes: Vec<Write>,
    /// One-word registers as runs `(q, next, en, n)`: when slot `en` is nonzero, words
    /// `next .. next + n` are copied to `q .. q + n` as if all were read first. The compiler
    /// orders registers so that one reading another's output commits first, so copying in
    /// that order is the same as reading everything first; consecutive registers with
    /// consecutive slots (a shift register, a level of an adder tree) become one copy.
    regs: Vec<(Slot, Slot, Slot, u32)>,
    /// Multi-word registers `(q, next, en, words)`, committed last; `en` may be [`ALWAYS`].
    wide_regs: Vec<(Slot, Slot, Slot, u32)>,
    run: Option<RegRun>,
}

impl Edge {
    /// Sorts `ops` (in the compiler's commit order); `None` if a one-word register names a
    /// slot outside a state of `len` words, which the unchecked copies rely on.
    pub(crate) fn new(ops: &[EdgeOp], len: usize) -> Option<Self> {
        let mut e = Edge::default();
        let ok = |s: Slot| (s as usize) < len;
        for op in ops {
            match *op {
                EdgeOp::Stage { d, a, n } => e.stage.push((d, a, n)),
                EdgeOp::Reg { q, next, en } if ok(q) && ok(next) && ok(en) => {
                    e.push_reg(q, next, en)
                }
                EdgeOp::Reg { .. } => return None,
                EdgeOp::RegWide { q, next, en, n } => e.wide_regs.push((q, next, en, n)),
                EdgeOp::MemRead {
                    mem,
                    data,
                    addr,
                    en,
                    alo,
                    ams,
                } => e.reads.push(Read {
                    mem,
                    data,
                    addr,
                    en,
                    alo,
                    ams,
                }),
                EdgeOp::MemWrite {
                    mem,
                    addr,
                    data,
                    en,
                    alo,
                    ams,
                    elo,
                } => e.writes.push(Write {
                    mem,
                    addr,
                    data,
                    en,
                    alo,
                    ams,
                    elo,
                }),
            }
        }
        e.regs.extend(e.run.take().map(|r| r.normalized()));
        Some(e)
    }

    /// `(register copies, staging copies)` per edge: a measure of the commit's cost.
    pub(crate) fn copies(&self) -> (usize, usize) {
        (self.regs.len() + self.wide_regs.len(), self.stage.len())
    }

    /// Number of items.
    pub(crate) fn items(&self) -> usize {
        self.reads.len() + self.regs.len() + self.wide_regs.len()
    }

    /// The words each item reads. A staging copy stands for the words it copies: a change
    /// to those is what changes the staged value at the next edge.
    pub(crate) fn item_inputs(&self) -> Vec<Vec<Slot>> {
        let mut staged = HashMap::new();
        for &(d, a, n) in &self.stage {
            for i in 0..n {
                staged.insert(d + i, a + i);
            }
        }
        let src = |s: Slot| staged.get(&s).copied().unwrap_or(s);
        let words = |s: Slot, n: u32| (s..s + n).map(src);
        let en = |s: Slot| (s != ALWAYS).then(|| src(s));
        let mut items = Vec::with_capacity(self.items());
        items.extend(
            self.reads
                .iter()
                .map(|r| std::iter::once(src(r.addr)).chain(en(r.en)).collect()),
        );
        for &(_, next, e, n) in self.regs.iter().chain(&self.wide_regs) {
            items.push(words(next, n).chain(en(e)).collect());
        }
        items
    }

    /// For each of `mems` memories, the items that read it.
    pub(crate) fn mem_readers(&self, mems: usize) -> Vec<Vec<u32>> {
        let mut out = vec![Vec::new(); mems];
        for (k, r) in self.reads.iter().enumerate() {
            out[r.mem as usize].push(k as u32);
        }
        out
    }

    fn push_reg(&mut self, q: Slot, next: Slot, en: Slot) {
        if let Some(run) = &mut self.run {
            let step = |a: Slot, b: Slot| i64::from(b) - i64::from(a);
            let (dq, dn) = (step(run.last_q, q), step(run.last_next, next));
            if run.en == en && dq == dn && dq.abs() == 1 && (run.n == 1 || dq == run.dir) {
                run.dir = dq;
                run.last_q = q;
                run.last_next = next;
                run.n += 1;
                return;
            }
            let done = self.run.take().expect("checked above").normalized();
            self.regs.push(done);
        }
        self.run = Some(RegRun {
            first_q: q,
            first_next: next,
            last_q: q,
            last_next: next,
            en,
            n: 1,
            dir: 0,
        });
    }
}

/// A run of registers being collected by [`Edge::new`].
#[derive(Debug, Clone)]
struct RegRun {
    first_q: Slot,
    first_next: Slot,
    last_q: Slot,
    last_next: Slot,
    en: Slot,
    n: u32,
    dir: i64,
}

impl RegRun {
    /// `(q, next, en, n)` from the lowest slots up.
    fn normalized(&self) -> (Slot, Slot, Slot, u32) {
        (
            self.first_q.min(self.last_q),
            self.first_next.min(self.last_next),
            self.en,
            self.n,
        )
    }
}

/// Copies `n` words from `next` to `q` (the ranges may overlap: a shift register) unless
/// they are equal already, marking the readers of each word that changes (`per_word`) or
/// of all `n` if any does.
#[inline(always)]
fn commit(
    st: &mut [u64],
    q: usize,
    next: usize,
    n: usize,
    per_word: bool,
    activity: &mut Activity,
) {
    let mut changed = false;
    for i in 0..n {
        if st[q + i] != st[next + i] {
            changed = true;
            if per_word {
                activity.wake((q + i) as Slot, 1);
            }
        }
    }
    if changed {
        st.copy_within(next..next + n, q);
        if !per_word {
            activity.wake(q as Slot, n);
        }
    }
}

/// Runs one clock edge (without reset, which the caller applies afterwards): every marked
/// item, and marks for the combinational partitions and the next edge what changed.
#[inline(never)]
pub(crate) fn run_edge(
    edge: &Edge,
    st: &mut [u64],
    mems: &mut [MemStore],
    activity: &mut Activity,
) {
    for &(d, a, n) in &edge.stage {
        let (d, a, n) = (d as usize, a as usize, n as usize);
        st.copy_within(a..a + n, d);
    }
    let mut todo: Marks = activity.begin_edge();
    let on = |st: &[u64], en: Slot| en == ALWAYS || st[en as usize] != 0;
    let (reads, regs) = (edge.reads.len(), edge.regs.len());
    todo.drain(0, reads, |k| {
        let r = edge.reads[k];
        if !on(st, r.en) {
            return;
        }
        let m = &mems[r.mem as usize];
        let a = (st[r.addr as usize] >> r.alo) & mask(r.ams);
        let data = r.data as usize;
        let changed = if m.words == 1 {
            let v = m.data.get(a as usize).copied().unwrap_or(0);
            std::mem::replace(&mut st[data], v) != v
        } else {
            let old = &mut st[data..data + m.words];
            let new = if a < m.depth {
                let base = a as usize * m.words;
                &m.data[base..base + m.words]
            } else {
                &[][..]
            };
            let mut changed = false;
            for (i, w) in old.iter_mut().enumerate() {
                let v = new.get(i).copied().unwrap_or(0);
                changed |= *w != v;
                *w = v;
            }
            changed
        };
        if changed {
            activity.wake(r.data, m.words);
        }
    });
    for w in &edge.writes {
        if (st[w.en as usize] >> w.elo) & 1 == 0 {
            continue;
        }
        let m = &mut mems[w.mem as usize];
        let a = (st[w.addr as usize] >> w.alo) & mask(w.ams);
        if a >= m.depth {
            continue;
        }
        let (base, data) = (a as usize * m.words, w.data as usize);
        let (old, new) = (&mut m.data[base..base + m.words], &st[data..data + m.words]);
        if old != new {
            old.copy_from_slice(new);
            activity.wake_mem(w.mem);
        }
    }
    todo.drain(reads, reads + regs, |k| {
        let (q, next, en, n) = edge.regs[k - reads];
        if n == 1 {
            // SAFETY: `Edge::new` checked the three slots against the state's length.
            unsafe {
                if *st.get_unchecked(en as usize) != 0 {
                    let v = *st.get_unchecked(next as usize);
                    let old = st.get_unchecked_mut(q as usize);
                    if *old != v {
                        *old = v;
                        activity.wake(q, 1);
                    }
                }
            }
        } else if st[en as usize] != 0 {
            // A run of registers: each word is a register of its own.
            commit(st, q as usize, next as usize, n as usize, true, activity);
        }
    });
    todo.drain(reads + regs, edge.items(), |k| {
        let (q, next, en, n) = edge.wide_regs[k - reads - regs];
        if on(st, en) {
            commit(st, q as usize, next as usize, n as usize, false, activity);
        }
    });
    activity.end_edge(todo);
}
