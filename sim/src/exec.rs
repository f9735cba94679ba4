//! The executor: one `match` loop over the combinational program and one over the edge.
//!
//! Invariant for the unchecked indexing below: the compiler allocates every slot an
//! instruction names (and all the words of a multi-word value) inside the state vector before
//! emitting the instruction, and [`check_slots`] verifies this once when a simulator is
//! built, so every index here is in bounds.

use crate::instr::{EdgeOp, Instr, Slot, WideOp, ALWAYS};
use crate::wide;

/// Sign-extends `x` by the shift `s` (see [`crate::instr`]).
#[inline(always)]
fn ext(x: u64, s: u8) -> u64 {
    ((x << s) as i64 >> s) as u64
}

#[inline(always)]
fn mask(ms: u8) -> u64 {
    u64::MAX >> ms
}

/// Runs the combinational program once over the state.
#[inline(never)]
pub(crate) fn run_comb(prog: &[Instr], wide_ops: &[WideOp], st: &mut [u64]) {
    macro_rules! r {
        ($s:expr) => {
            // SAFETY: see the module invariant; every slot is below `st.len()`.
            unsafe { *st.get_unchecked($s as usize) }
        };
    }
    macro_rules! w {
        ($s:expr, $v:expr) => {{
            let v = $v;
            // SAFETY: see the module invariant.
            unsafe { *st.get_unchecked_mut($s as usize) = v }
        }};
    }
    for i in prog {
        match *i {
            Instr::Add {
                d,
                a,
                b,
                sa,
                sb,
                ms,
            } => w!(d, ext(r!(a), sa).wrapping_add(ext(r!(b), sb)) & mask(ms)),
            Instr::Sub {
                d,
                a,
                b,
                sa,
                sb,
                ms,
            } => w!(d, ext(r!(a), sa).wrapping_sub(ext(r!(b), sb)) & mask(ms)),
            Instr::Mul {
                d,
                a,
                b,
                sa,
                sb,
                ms,
            } => w!(d, ext(r!(a), sa).wrapping_mul(ext(r!(b), sb)) & mask(ms)),
            Instr::And { d, a, b } => w!(d, r!(a) & r!(b)),
            Instr::Or { d, a, b } => w!(d, r!(a) | r!(b)),
            Instr::Xor { d, a, b } => w!(d, r!(a) ^ r!(b)),
            Instr::Eq { d, a, b, sa, sb } => w!(d, (ext(r!(a), sa) == ext(r!(b), sb)) as u64),
            Instr::Ne { d, a, b, sa, sb } => w!(d, (ext(r!(a), sa) != ext(r!(b), sb)) as u64),
            Instr::LtU { d, a, b } => w!(d, (r!(a) < r!(b)) as u64),
            Instr::LeU { d, a, b } => w!(d, (r!(a) <= r!(b)) as u64),
            Instr::LtS { d, a, b, sa, sb } => {
                w!(d, ((ext(r!(a), sa) as i64) < ext(r!(b), sb) as i64) as u64)
            }
            Instr::LeS { d, a, b, sa, sb } => {
                w!(d, ((ext(r!(a), sa) as i64) <= ext(r!(b), sb) as i64) as u64)
            }
            Instr::Shl { d, a, b, w } => {
                let n = r!(b);
                w!(
                    d,
                    if n >= u64::from(w) {
                        0
                    } else {
                        (r!(a) << n) & mask(64 - w)
                    }
                )
            }
            Instr::ShrU { d, a, b, w } => {
                let n = r!(b);
                w!(d, if n >= u64::from(w) { 0 } else { r!(a) >> n })
            }
            Instr::ShrS { d, a, b, w } => {
                let n = r!(b).min(63);
                w!(d, ((ext(r!(a), 64 - w) as i64 >> n) as u64) & mask(64 - w))
            }
            Instr::ShlC { d, a, sh, ms } => w!(d, (r!(a) << sh) & mask(ms)),
            Instr::ShrCU { d, a, sh } => w!(d, r!(a) >> sh),
            Instr::ShrCS { d, a, sa, sh, ms } => {
                w!(d, ((ext(r!(a), sa) as i64 >> sh) as u64) & mask(ms))
            }
            Instr::Not { d, a, ms } => w!(d, !r!(a) & mask(ms)),
            Instr::Neg { d, a, sa, ms } => w!(d, ext(r!(a), sa).wrapping_neg() & mask(ms)),
            Instr::RedAnd { d, a, ms } => w!(d, (r!(a) == mask(ms)) as u64),
            Instr::RedOr { d, a } => w!(d, (r!(a) != 0) as u64),
            Instr::RedXor { d, a } => w!(d, u64::from(r!(a).count_ones() & 1)),
            Instr::Mux { d, s, a, b } => w!(d, if r!(s) != 0 { r!(a) } else { r!(b) }),
            Instr::Ext { d, a, sa, ms } => w!(d, ext(r!(a), sa) & mask(ms)),
            Instr::Slice { d, a, lo, ms } => w!(d, (r!(a) >> lo) & mask(ms)),
            Instr::Concat2 { d, a, b, sh } => w!(d, (r!(a) << sh) | r!(b)),
            Instr::OrShl { d, a, sh } => w!(d, r!(d) | (r!(a) << sh)),
            Instr::Zero { d } => w!(d, 0),
            Instr::Wide(k) => wide::exec(&wide_ops[k as usize], st),
        }
    }
}

/// Memory contents: `depth` entries of `words` words each.
#[derive(Debug, Clone)]
pub(crate) struct MemStore {
    pub words: usize,
    pub depth: u64,
    pub data: Vec<u64>,
}

/// Runs one clock edge (without reset, which the caller applies afterwards).
#[inline(never)]
pub(crate) fn run_edge(edge: &[EdgeOp], st: &mut [u64], mems: &mut [MemStore]) {
    let on = |st: &[u64], en: Slot| en == ALWAYS || st[en as usize] != 0;
    for op in edge {
        match *op {
            EdgeOp::Stage { d, a, n } => {
                let (d, a, n) = (d as usize, a as usize, n as usize);
                st.copy_within(a..a + n, d);
            }
            EdgeOp::Reg { q, next } => st[q as usize] = st[next as usize],
            EdgeOp::RegEn { q, next, en } => {
                if st[en as usize] != 0 {
                    st[q as usize] = st[next as usize];
                }
            }
            EdgeOp::RegWide { q, next, en, n } => {
                if on(st, en) {
                    let (q, next, n) = (q as usize, next as usize, n as usize);
                    st.copy_within(next..next + n, q);
                }
            }
            EdgeOp::MemRead {
                mem,
                data,
                addr,
                en,
            } => {
                if on(st, en) {
                    let m = &mems[mem as usize];
                    let a = st[addr as usize];
                    let data = data as usize;
                    if a < m.depth {
                        let base = a as usize * m.words;
                        st[data..data + m.words].copy_from_slice(&m.data[base..base + m.words]);
                    } else {
                        st[data..data + m.words].fill(0);
                    }
                }
            }
            EdgeOp::MemWrite {
                mem,
                addr,
                data,
                en,
            } => {
                if st[en as usize] != 0 {
                    let m = &mut mems[mem as usize];
                    let a = st[addr as usize];
                    if a < m.depth {
                        let base = a as usize * m.words;
                        let data = data as usize;
                        m.data[base..base + m.words].copy_from_slice(&st[data..data + m.words]);
                    }
                }
            }
        }
    }
}

/// Checks the invariant the unchecked indexing relies on: every slot an instruction names,
/// with all its words, lies inside a state of `len` words.
pub(crate) fn check_slots(prog: &[Instr], wide_ops: &[WideOp], len: usize) -> bool {
    let ok = |s: Slot| (s as usize) < len;
    prog.iter().all(|i| match *i {
        Instr::Add { d, a, b, .. }
        | Instr::Sub { d, a, b, .. }
        | Instr::Mul { d, a, b, .. }
        | Instr::And { d, a, b }
        | Instr::Or { d, a, b }
        | Instr::Xor { d, a, b }
        | Instr::Eq { d, a, b, .. }
        | Instr::Ne { d, a, b, .. }
        | Instr::LtU { d, a, b }
        | Instr::LeU { d, a, b }
        | Instr::LtS { d, a, b, .. }
        | Instr::LeS { d, a, b, .. }
        | Instr::Shl { d, a, b, .. }
        | Instr::ShrU { d, a, b, .. }
        | Instr::ShrS { d, a, b, .. }
        | Instr::Concat2 { d, a, b, .. } => ok(d) && ok(a) && ok(b),
        Instr::ShlC { d, a, .. }
        | Instr::ShrCU { d, a, .. }
        | Instr::ShrCS { d, a, .. }
        | Instr::Not { d, a, .. }
        | Instr::Neg { d, a, .. }
        | Instr::RedAnd { d, a, .. }
        | Instr::RedOr { d, a }
        | Instr::RedXor { d, a }
        | Instr::Ext { d, a, .. }
        | Instr::Slice { d, a, .. }
        | Instr::OrShl { d, a, .. } => ok(d) && ok(a),
        Instr::Zero { d } => ok(d),
        Instr::Mux { d, s, a, b } => ok(d) && ok(s) && ok(a) && ok(b),
        Instr::Wide(k) => wide_ops
            .get(k as usize)
            .is_some_and(|op| wide::in_bounds(op, len)),
    })
}
