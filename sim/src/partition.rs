//! Activity partitions: the combinational program cut into groups of instructions that are
//! evaluated together or skipped together.
//!
//! A group whose inputs did not change since it last ran would compute what it already
//! holds, so the executor skips it (see [`crate::activity`]). That is ESSENT's low-activity
//! optimisation and GSIM's supernodes; what differs is where the groups come from. Logic
//! that is idle together is, in a generated design, mostly logic of one instance (a matrix
//! unit, a norm, the sequencer of a stage), so the groups start as the design's instances:
//! - instances whose logic feeds each other both ways combinationally (a handshake through
//!   two children) are merged, so the groups can run in one topological order;
//! - groups are ordered topologically, earliest instruction first, so the order stays
//!   close to the compiler's level order and its runs of alike instructions;
//! - a group larger than [`MAX_PART`] instructions is cut into consecutive pieces (never
//!   between two instructions that write one word, such as the steps of a wide concatenation), which
//!   keeps a large mostly-idle instance from running whole for one changed input.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use crate::access::accesses;
use crate::instr::{Instr, Side, Slot};

/// The most instructions in one partition.
pub(crate) const MAX_PART: usize = 256;

const NONE: u32 = u32::MAX;

/// A program cut into partitions, with what the executor needs to skip idle ones.
#[derive(Debug, Clone, Default)]
pub(crate) struct Partitions {
    /// The program reordered so each partition's instructions are contiguous, partitions in
    /// evaluation order.
    pub instrs: Vec<Instr>,
    /// Where each partition's instructions end in `instrs` (the next one starts there).
    pub ends: Vec<u32>,
    /// For every state word, the partitions that read it and do not write it: whom to wake
    /// when it changes.
    pub part_readers: Csr,
    /// For every state word that no partition writes (a register, input, memory read
    /// data), the edge items that read it.
    pub item_readers: Csr,
    /// For every partition, the words it writes that another partition reads: what to
    /// compare after it runs.
    pub outs: Csr,
    /// For every partition, the edge items that read a word it writes. They are marked
    /// whenever it runs, without comparing: an item compares its inputs with what it
    /// holds anyway (a register its next value with its output), so a second comparison
    /// here would only cost time.
    pub fed_items: Csr,
}

/// Lists of numbers by key, in one allocation: `get(k)` is key `k`'s list.
#[derive(Debug, Clone, Default)]
pub(crate) struct Csr {
    start: Vec<u32>,
    values: Vec<u32>,
}

impl Csr {
    /// From `(key, value)` pairs, for keys below `keys`; each list sorted, duplicates
    /// dropped.
    fn new(keys: usize, mut pairs: Vec<(u32, u32)>) -> Self {
        pairs.sort_unstable();
        pairs.dedup();
        let mut start = vec![0u32; keys + 1];
        for &(k, _) in &pairs {
            start[k as usize + 1] += 1;
        }
        for k in 0..keys {
            start[k + 1] += start[k];
        }
        Csr {
            start,
            values: pairs.into_iter().map(|(_, v)| v).collect(),
        }
    }

    /// The list of key `k`.
    #[inline(always)]
    pub(crate) fn get(&self, k: usize) -> &[u32] {
        &self.values[self.start[k] as usize..self.start[k + 1] as usize]
    }

    /// Where key `k`'s list sits among all the values.
    #[inline(always)]
    pub(crate) fn span(&self, k: usize) -> std::ops::Range<usize> {
        self.start[k] as usize..self.start[k + 1] as usize
    }

    /// Every value, key by key.
    pub(crate) fn values(&self) -> &[u32] {
        &self.values
    }

    /// The lists of keys `k .. k + n`, one after another.
    #[inline(always)]
    pub(crate) fn get_range(&self, k: usize, n: usize) -> &[u32] {
        &self.values[self.start[k] as usize..self.start[k + n] as usize]
    }
}

/// Cuts `instrs` (in topological order, instruction `i` computing logic of instance
/// `inst[i]`) into partitions over a state of `len` words, where the edge's items read
/// `edge_inputs`.
pub(crate) fn partition(
    instrs: &[Instr],
    inst: &[u32],
    side: &Side,
    edge_inputs: &[Vec<Slot>],
    len: usize,
) -> Partitions {
    debug_assert_eq!(instrs.len(), inst.len());
    // Groups: one per instance, numbered densely.
    let mut dense = HashMap::new();
    let group: Vec<u32> = inst
        .iter()
        .map(|i| {
            let next = dense.len() as u32;
            *dense.entry(*i).or_insert(next)
        })
        .collect();
    let groups = dense.len();

    let writer = writers(instrs, side, len);
    // Group edges: writer's group -> reader's group.
    let mut edges = Vec::new();
    for (i, ins) in instrs.iter().enumerate() {
        reads(ins, side, |w| {
            let j = writer[w as usize];
            if j != NONE && group[j as usize] != group[i] {
                edges.push((group[j as usize], group[i]));
            }
        });
    }
    edges.sort_unstable();
    edges.dedup();

    // Merge groups on a cycle, then order the merged groups topologically, earliest first.
    let comp = strongly_connected(groups, &edges);
    let comps = comp.iter().max().map_or(0, |m| *m as usize + 1);
    let mut first = vec![u32::MAX; comps];
    for (i, g) in group.iter().enumerate().rev() {
        first[comp[*g as usize] as usize] = i as u32;
    }
    let mut succ = vec![Vec::new(); comps];
    let mut indegree = vec![0u32; comps];
    let mut comp_edges: Vec<(u32, u32)> = edges
        .iter()
        .map(|&(a, b)| (comp[a as usize], comp[b as usize]))
        .filter(|(a, b)| a != b)
        .collect();
    comp_edges.sort_unstable();
    comp_edges.dedup();
    for &(a, b) in &comp_edges {
        succ[a as usize].push(b);
        indegree[b as usize] += 1;
    }
    let mut ready: BinaryHeap<Reverse<(u32, u32)>> = (0..comps as u32)
        .filter(|c| indegree[*c as usize] == 0)
        .map(|c| Reverse((first[c as usize], c)))
        .collect();
    let mut rank = vec![0u32; comps];
    let mut next_rank = 0;
    while let Some(Reverse((_, c))) = ready.pop() {
        rank[c as usize] = next_rank;
        next_rank += 1;
        for &s in &succ[c as usize] {
            indegree[s as usize] -= 1;
            if indegree[s as usize] == 0 {
                ready.push(Reverse((first[s as usize], s)));
            }
        }
    }
    debug_assert_eq!(next_rank as usize, comps, "the condensation is acyclic");

    // Instructions by merged group in rank order, each group's in program order (a stable
    // sort), cut into pieces of about MAX_PART. A piece never ends between two instructions
    // that write one word (a wide concatenation built in steps): the word's readers and the
    // register commits that take it are woken by the partition of its writer, so every
    // writer of a word must sit in that one partition.
    let mut order: Vec<u32> = (0..instrs.len() as u32).collect();
    order.sort_by_key(|&i| rank[comp[group[i as usize] as usize] as usize]);
    let mut last_write = vec![0u32; len];
    for (k, &i) in order.iter().enumerate() {
        written(&instrs[i as usize], side, |w| {
            last_write[w as usize] = k as u32
        });
    }
    let mut part_of = vec![0u32; instrs.len()];
    let mut ends = Vec::new();
    let mut prev_rank = None;
    let mut size = 0;
    // The last position that must share the current piece.
    let mut reach = 0u32;
    for (k, &i) in order.iter().enumerate() {
        let r = rank[comp[group[i as usize] as usize] as usize];
        if prev_rank != Some(r) || (size >= MAX_PART && k as u32 > reach) {
            if k > 0 {
                ends.push(k as u32);
            }
            prev_rank = Some(r);
            size = 0;
        }
        written(&instrs[i as usize], side, |w| {
            reach = reach.max(last_write[w as usize]);
        });
        size += 1;
        part_of[i as usize] = ends.len() as u32;
    }
    if !order.is_empty() {
        ends.push(order.len() as u32);
    }
    let mut start = 0;
    for &end in &ends {
        batch_by_kind(&mut order[start as usize..end as usize], instrs, side, len);
        start = end;
    }

    // Who reads what across partitions, and which items each partition feeds.
    let parts = ends.len();
    let mut part_readers: Vec<(u32, u32)> = Vec::new();
    for (i, ins) in instrs.iter().enumerate() {
        let p = part_of[i];
        reads(ins, side, |w| {
            let j = writer[w as usize];
            if j == NONE || part_of[j as usize] != p {
                part_readers.push((w, p));
            }
        });
    }
    let (mut item_readers, mut fed_items) = (Vec::new(), Vec::new());
    for (k, words) in edge_inputs.iter().enumerate() {
        for &w in words {
            match writer[w as usize] {
                NONE => item_readers.push((w, k as u32)),
                j => fed_items.push((part_of[j as usize], k as u32)),
            }
        }
    }
    let part_readers = Csr::new(len, part_readers);
    let mut outs = Vec::new();
    for (w, &j) in writer.iter().enumerate() {
        if j != NONE && !part_readers.get(w).is_empty() {
            outs.push((part_of[j as usize], w as Slot));
        }
    }
    Partitions {
        instrs: order.iter().map(|&i| instrs[i as usize]).collect(),
        ends,
        part_readers,
        item_readers: Csr::new(len, item_readers),
        outs: Csr::new(parts, outs),
        fed_items: Csr::new(parts, fed_items),
    }
}

/// Reorders one partition's instructions (in a topological order) so that instructions of
/// one kind sit together as far as their dependencies allow, which makes the executor's
/// runs longer and its dispatches fewer (see [`crate::exec`]): a greedy list schedule that
/// keeps taking ready instructions of the kind it is on, then moves to the kind with the
/// most ready. Dependencies are every read after a write, write after write and write after
/// read of a word, so a word written in steps (a concatenation) keeps its order.
fn batch_by_kind(part: &mut [u32], instrs: &[Instr], side: &Side, len: usize) {
    use std::collections::BTreeSet;
    let n = part.len();
    // Per word: the last writer so far and the readers since, as local indices.
    let mut last_write: HashMap<Slot, usize> = HashMap::new();
    let mut reads_since: HashMap<Slot, Vec<usize>> = HashMap::new();
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indegree = vec![0usize; n];
    for (i, &g) in part.iter().enumerate() {
        let mut deps = Vec::new();
        accesses(&instrs[g as usize], side, |a| {
            for w in a.slot..(a.slot + a.words).min(len as Slot) {
                deps.extend(last_write.get(&w).copied());
                if a.write {
                    deps.extend(reads_since.remove(&w).unwrap_or_default());
                }
            }
        });
        accesses(&instrs[g as usize], side, |a| {
            for w in a.slot..(a.slot + a.words).min(len as Slot) {
                if a.write {
                    last_write.insert(w, i);
                } else {
                    reads_since.entry(w).or_default().push(i);
                }
            }
        });
        deps.sort_unstable();
        deps.dedup();
        for d in deps.into_iter().filter(|d| *d != i) {
            succ[d].push(i);
            indegree[i] += 1;
        }
    }
    let kind = |i: usize| std::mem::discriminant(&instrs[part[i] as usize]);
    let mut ready: HashMap<_, BTreeSet<usize>> = HashMap::new();
    for i in (0..n).filter(|i| indegree[*i] == 0) {
        ready.entry(kind(i)).or_default().insert(i);
    }
    let mut out = Vec::with_capacity(n);
    let mut cur = None;
    while out.len() < n {
        let k = match cur.filter(|k| ready.get(k).is_some_and(|r| !r.is_empty())) {
            Some(k) => k,
            None => {
                let (k, _) = ready
                    .iter()
                    .filter(|(_, r)| !r.is_empty())
                    .max_by_key(|(_, r)| (r.len(), Reverse(*r.first().expect("not empty"))))
                    .expect("a topological order exists");
                *k
            }
        };
        cur = Some(k);
        let i = ready
            .get_mut(&k)
            .and_then(|r| r.pop_first())
            .expect("chosen above");
        out.push(part[i]);
        for &s in &succ[i] {
            indegree[s] -= 1;
            if indegree[s] == 0 {
                ready.entry(kind(s)).or_default().insert(s);
            }
        }
    }
    part.copy_from_slice(&out);
}

/// The (last) instruction writing each state word, or [`NONE`].
fn writers(instrs: &[Instr], side: &Side, len: usize) -> Vec<u32> {
    let mut writer = vec![NONE; len];
    for (i, ins) in instrs.iter().enumerate() {
        written(ins, side, |w| writer[w as usize] = i as u32);
    }
    writer
}

/// Calls `f` for every word `ins` writes.
fn written(ins: &Instr, side: &Side, mut f: impl FnMut(Slot)) {
    accesses(ins, side, |a| {
        if a.write {
            (a.slot..a.slot + a.words).for_each(&mut f);
        }
    });
}

/// Calls `f` for every word `ins` reads.
fn reads(ins: &Instr, side: &Side, mut f: impl FnMut(Slot)) {
    accesses(ins, side, |a| {
        if !a.write {
            (a.slot..a.slot + a.words).for_each(&mut f);
        }
    });
}

/// The strongly connected component of each of `n` nodes (Tarjan's algorithm, iterative).
fn strongly_connected(n: usize, edges: &[(u32, u32)]) -> Vec<u32> {
    // Adjacency from the sorted edge list.
    let mut start = vec![0usize; n + 1];
    for &(a, _) in edges {
        start[a as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }

    let mut index = vec![NONE; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut comp = vec![NONE; n];
    let mut comps = 0;
    let mut counter = 0;
    // Call stack of (node, next successor position).
    let mut calls: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if index[root] != NONE {
            continue;
        }
        calls.push((root, start[root]));
        index[root] = counter;
        low[root] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut pos)) = calls.last_mut() {
            if *pos < start[v + 1] {
                let w = edges[*pos].1 as usize;
                *pos += 1;
                if index[w] == NONE {
                    index[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, start[w]));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp[w] = comps;
                    if w == v {
                        break;
                    }
                }
                comps += 1;
            }
        }
    }
    comp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_share_a_component_and_chains_do_not() {
        // 0 -> 1 -> 2 -> 0, 2 -> 3, 4 alone.
        let comp = strongly_connected(5, &[(0, 1), (1, 2), (2, 0), (2, 3)]);
        assert_eq!(comp[0], comp[1]);
        assert_eq!(comp[1], comp[2]);
        assert_ne!(comp[2], comp[3]);
        assert_ne!(comp[3], comp[4]);
        assert_ne!(comp[0], comp[4]);
    }

    /// Two instances feeding each other through a third end up in one partition, in an
    /// order where every word is written before a later partition reads it.
    #[test]
    fn partitions_run_in_topological_order() {
        // Slots 0..2 are inputs; 10.. computed.
        let add = |d, a, b| Instr::Add {
            d,
            a,
            b,
            sa: 0,
            sb: 0,
            ms: 0,
        };
        let prog = vec![
            add(10, 0, 1),   // inst 1
            add(11, 10, 2),  // inst 2
            add(12, 11, 0),  // inst 1: 1 -> 2 -> 1, a cycle between instances
            add(13, 12, 12), // inst 3
            add(14, 0, 0),   // inst 4, independent
        ];
        let inst = [1, 2, 1, 3, 4];
        let p = partition(&prog, &inst, &Side::default(), &[vec![13], vec![2]], 16);
        assert_eq!(p.ends, vec![3, 4, 5]);
        assert_eq!(&p.instrs[..3], &prog[..3]);
        // Slot 12 is read by the partition of instance 3; slot 0 by the first and last.
        let readers = |s: usize| p.part_readers.get(s);
        assert_eq!(readers(12), &[1]);
        assert_eq!(readers(0), &[0, 2]);
        assert_eq!(readers(10), &[] as &[u32]);
        assert_eq!(p.outs.get(0), &[12]);
        assert_eq!(p.outs.get(1), &[] as &[u32]);
        // Slot 13, written by the second partition, is read by the first edge item; input
        // slot 2 by the second.
        assert_eq!(p.fed_items.get(1), &[0]);
        assert_eq!(p.item_readers.get(13), &[] as &[u32]);
        assert_eq!(p.item_readers.get(2), &[1]);
    }
}
