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
use crate::instr::{EdgeOp, MemRead, MemWrite, Slot, ALWAYS};

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

/// The clock edge, sorted by kind so the common cases are tight loops: staging copies
/// first, then memory reads and writes (reads first, as the compiler ordered them), then
/// one-word registers, then wide registers. The compiler staged every input that an
/// earlier commit in this order overwrites.
///
/// Items are numbered in that order: reads, then register runs, then wide registers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Edge {
    stage: Vec<(Slot, Slot, u32)>,
    reads: Vec<MemRead>,
    writes: Vec<MemWrite>,
    /// One-word registers as runs `(q, next, en, n)`: when slot `en` is nonzero, words
    /// `next .. next + n` are copied to `q .. q + n` as if all were read first. The compiler
    /// orders registers so that one reading another's output commits first, so copying in
    /// that order is the same as reading everything first; consecutive registers with
    /// consecutive slots (a shift register, a level of an adder tree) become one copy.
    regs: Vec<(Slot, Slot, Slot, u32)>,
    /// Multi-word registers `(q, next, en, words)`, committed last; `en` may be [`ALWAYS`].
    wide_regs: Vec<(Slot, Slot, Slot, u32)>,
    run: Option<RegRun>,
    /// For each register run, its segments `segs[start..end]`: `(offset, words)` of
    /// consecutive words whose readers are the same (see [`Edge::segment`]).
    reg_segs: Vec<(u32, u32)>,
    segs: Vec<(u32, u32)>,
}

impl Edge {
    /// Sorts `ops` (in the compiler's commit order) for memories of `(words, depth)`;
    /// `None` if an op names a slot outside a state of `len` words or a missing memory,
    /// which the unchecked accesses rely on.
    pub(crate) fn new(ops: &[EdgeOp], len: usize, mems: &[(usize, u64)]) -> Option<Self> {
        let mut e = Edge::default();
        let ok = |s: Slot| (s as usize) < len;
        let fits = |s: Slot, n: usize| (s as usize).saturating_add(n) <= len;
        let port = |mem: u32, data: Slot, addr: Slot, en: Slot| {
            let &(words, _) = mems.get(mem as usize)?;
            (fits(data, words) && ok(addr) && (en == ALWAYS || ok(en))).then_some(())
        };
        for op in ops {
            match *op {
                EdgeOp::Stage { d, a, n } => e.stage.push((d, a, n)),
                EdgeOp::Reg { q, next, en } if ok(q) && ok(next) && ok(en) => {
                    e.push_reg(q, next, en)
                }
                EdgeOp::Reg { .. } => return None,
                EdgeOp::RegWide { q, next, en, n } => {
                    let n_ = n as usize;
                    (fits(q, n_) && fits(next, n_) && (en == ALWAYS || ok(en))).then_some(())?;
                    e.wide_regs.push((q, next, en, n))
                }
                EdgeOp::MemRead(r) => {
                    port(r.mem, r.data, r.addr, r.en)?;
                    let (words, depth) = mems[r.mem as usize];
                    let direct = words == 1 && mask(r.ams) < depth;
                    e.reads.push(MemRead { direct, ..r })
                }
                EdgeOp::MemWrite(w) => {
                    port(w.mem, w.data, w.addr, w.en)?;
                    let (words, depth) = mems[w.mem as usize];
                    let direct = words == 1 && mask(w.ams) < depth;
                    e.writes.push(MemWrite { direct, ..w })
                }
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

    /// Cuts every register run into segments of consecutive registers that `same_readers`
    /// says are read by the same partitions and items. A shift register feeding one
    /// datapath is one segment, so a commit that changes it marks its readers once; two
    /// unrelated counters that happen to sit side by side stay two, so one that is idle
    /// does not wake the other's logic.
    pub(crate) fn segment(&mut self, same_readers: impl Fn(Slot, Slot) -> bool) {
        self.reg_segs.clear();
        self.segs.clear();
        for &(q, _, _, n) in &self.regs {
            let start = self.segs.len() as u32;
            let mut off = 0;
            while off < n {
                let mut len = 1;
                while off + len < n && same_readers(q + off, q + off + len) {
                    len += 1;
                }
                self.segs.push((off, len));
                off += len;
            }
            self.reg_segs.push((start, self.segs.len() as u32));
        }
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

/// Copies `n` words from `from` to `to`, as if all were read first (the ranges may
/// overlap); one word without a call into the C library's `memmove`.
#[inline(always)]
fn copy(st: &mut [u64], from: usize, to: usize, n: usize) {
    if n == 1 {
        st[to] = st[from];
    } else {
        st.copy_within(from..from + n, to);
    }
}

/// Whether words `a .. a + n` and `b .. b + n` differ; a loop, not a call into the C
/// library's `memcmp`, for the few words a register has.
#[inline(always)]
fn differ(st: &[u64], a: usize, b: usize, n: usize) -> bool {
    (0..n).any(|i| st[a + i] != st[b + i])
}

/// Memory read port `r`; with `TRACK`, marks the readers of its data if it changed.
#[inline(always)]
fn read<const TRACK: bool>(
    r: &MemRead,
    st: &mut [u64],
    mems: &[MemStore],
    activity: &mut Activity,
) {
    if r.en != ALWAYS && st[r.en as usize] == 0 {
        return;
    }
    if r.direct {
        // SAFETY: `Edge::new` checked the memory index and the slots against the state's
        // length, and that every masked address is inside the memory.
        unsafe {
            let m = mems.get_unchecked(r.mem as usize);
            let a = (*st.get_unchecked(r.addr as usize) >> r.alo) & mask(r.ams);
            let v = *m.data.get_unchecked(a as usize);
            let old = st.get_unchecked_mut(r.data as usize);
            if *old != v {
                *old = v;
                if TRACK {
                    activity.wake(r.data, 1);
                }
            }
        }
        return;
    }
    let m = &mems[r.mem as usize];
    let a = (st[r.addr as usize] >> r.alo) & mask(r.ams);
    let data = r.data as usize;
    if m.words == 1 {
        let v = m.data.get(a as usize).copied().unwrap_or(0);
        if std::mem::replace(&mut st[data], v) != v && TRACK {
            activity.wake(r.data, 1);
        }
        return;
    }
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
    if changed && TRACK {
        activity.wake(r.data, m.words);
    }
}

/// Memory write port `w`; with `TRACK`, a write that changes the contents marks the
/// memory's read ports for the next edge.
#[inline(always)]
fn write<const TRACK: bool>(
    w: &MemWrite,
    st: &[u64],
    mems: &mut [MemStore],
    activity: &mut Activity,
) {
    if (st[w.en as usize] >> w.elo) & 1 == 0 {
        return;
    }
    if w.direct {
        // SAFETY: as in `read`, checked by `Edge::new`.
        unsafe {
            let m = mems.get_unchecked_mut(w.mem as usize);
            let a = (*st.get_unchecked(w.addr as usize) >> w.alo) & mask(w.ams);
            let v = *st.get_unchecked(w.data as usize);
            if std::mem::replace(m.data.get_unchecked_mut(a as usize), v) != v && TRACK {
                activity.wake_mem(w.mem);
            }
        }
        return;
    }
    let m = &mut mems[w.mem as usize];
    let a = (st[w.addr as usize] >> w.alo) & mask(w.ams);
    if a >= m.depth {
        return;
    }
    let (base, data) = (a as usize * m.words, w.data as usize);
    if m.words == 1 {
        let v = st[data];
        if std::mem::replace(&mut m.data[base], v) != v && TRACK {
            activity.wake_mem(w.mem);
        }
        return;
    }
    let (old, new) = (&mut m.data[base..base + m.words], &st[data..data + m.words]);
    if !TRACK {
        old.copy_from_slice(new);
    } else if old != new {
        old.copy_from_slice(new);
        activity.wake_mem(w.mem);
    }
}

/// One-word register run `k`. A run's registers are compared in segments of words with
/// the same readers (see [`Edge::segment`]), and a segment that changed marks them once.
#[inline(always)]
fn reg<const TRACK: bool>(edge: &Edge, k: usize, st: &mut [u64], activity: &mut Activity) {
    let (q, next, en, n) = edge.regs[k];
    if n == 1 {
        // SAFETY: `Edge::new` checked the three slots against the state's length.
        unsafe {
            let on = *st.get_unchecked(en as usize) != 0;
            let (v, old) = (
                *st.get_unchecked(next as usize),
                *st.get_unchecked(q as usize),
            );
            if !TRACK {
                // A select, not a branch: enables follow the data.
                *st.get_unchecked_mut(q as usize) = if on { v } else { old };
            } else if on && old != v {
                *st.get_unchecked_mut(q as usize) = v;
                activity.wake(q, 1);
            }
        }
        return;
    }
    if st[en as usize] == 0 {
        return;
    }
    let (q, next, n) = (q as usize, next as usize, n as usize);
    // The ranges may overlap (a shift register): compare everything before the copy.
    if TRACK {
        let (s0, s1) = edge.reg_segs[k];
        let mut changed = false;
        for &(off, len) in &edge.segs[s0 as usize..s1 as usize] {
            let (off, len) = (off as usize, len as usize);
            if differ(st, q + off, next + off, len) {
                changed = true;
                activity.wake((q + off) as Slot, 1);
            }
        }
        if changed {
            copy(st, next, q, n);
        }
    } else {
        copy(st, next, q, n);
    }
}

/// Multi-word register `k` (numbered among the wide ones).
#[inline(always)]
fn wide<const TRACK: bool>(edge: &Edge, k: usize, st: &mut [u64], activity: &mut Activity) {
    let (q, next, en, n) = edge.wide_regs[k];
    if en != ALWAYS && st[en as usize] == 0 {
        return;
    }
    let (q, next, n) = (q as usize, next as usize, n as usize);
    if !TRACK {
        copy(st, next, q, n);
    } else if differ(st, q, next, n) {
        copy(st, next, q, n);
        activity.wake(q as Slot, n);
    }
}

/// Runs one clock edge (without reset, which the caller applies afterwards). With `TRACK`,
/// only the items marked run, and what changes marks its readers (the combinational
/// partitions now, the items for the next edge); without, everything commits.
#[inline(never)]
pub(crate) fn run_edge<const TRACK: bool>(
    edge: &Edge,
    st: &mut [u64],
    mems: &mut [MemStore],
    activity: &mut Activity,
) {
    for &(d, a, n) in &edge.stage {
        copy(st, a as usize, d as usize, n as usize);
    }
    let (reads, regs) = (edge.reads.len(), edge.regs.len());
    if !TRACK {
        for r in &edge.reads {
            read::<false>(r, st, mems, activity);
        }
        for w in &edge.writes {
            write::<false>(w, st, mems, activity);
        }
        for k in 0..regs {
            reg::<false>(edge, k, st, activity);
        }
        for k in 0..edge.wide_regs.len() {
            wide::<false>(edge, k, st, activity);
        }
        return;
    }
    let mut todo: Marks = activity.begin_edge();
    todo.drain(0, reads, |k| {
        read::<true>(&edge.reads[k], st, mems, activity)
    });
    for w in &edge.writes {
        write::<true>(w, st, mems, activity);
    }
    todo.drain(reads, reads + regs, |k| {
        reg::<true>(edge, k - reads, st, activity)
    });
    todo.drain(reads + regs, edge.items(), |k| {
        wide::<true>(edge, k - reads - regs, st, activity)
    });
    activity.end_edge(todo);
}
