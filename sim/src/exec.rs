//! The executor: one `match` loop over the combinational program and one over the edge.
//!
//! Invariant for the unchecked indexing below: the compiler allocates every slot an
//! instruction names (and all the words of a multi-word value) inside the state vector before
//! emitting the instruction, and [`crate::access::in_bounds`] verifies this once when a simulator is
//! built, so every index here is in bounds.

use crate::activity::Activity;
use crate::instr::{Instr, Side};
use crate::wide;

/// Sign-extends `x` by the shift `s` (see [`crate::instr`]).
#[inline(always)]
fn ext(x: u64, s: u8) -> u64 {
    ((x << s) as i64 >> s) as u64
}

/// An operand read through a view with a signed second stage (see [`crate::fuse::View`]).
#[inline(always)]
fn view_s(x: u64, v: [u8; 4]) -> u64 {
    let t = ((x << v[0]) as i64 >> v[1]) as u64;
    ((t << v[2]) as i64 >> v[3]) as u64
}

/// An operand read through a view with an unsigned second stage.
#[inline(always)]
fn view_u(x: u64, v: [u8; 4]) -> u64 {
    let t = ((x << v[0]) as i64 >> v[1]) as u64;
    (t << v[2]) >> v[3]
}

#[inline(always)]
fn mask(ms: u8) -> u64 {
    u64::MAX >> ms
}

/// A straight-line program cut into partitions (see [`crate::partition`]), and each
/// partition into runs of the same instruction kind.
///
/// The executor dispatches once per run and then loops over the run with the kind known, so
/// the indirect branch that an interpreter pays per instruction is paid per run; on the
/// regular logic that hardware is made of (a level of an adder tree, a row of constant
/// multipliers) runs are long.
#[derive(Debug, Clone, Default)]
pub(crate) struct Code {
    instrs: Vec<Instr>,
    /// `(start, len)` of each run; every instruction in a run has the same variant, and no
    /// run crosses a partition.
    runs: Vec<(u32, u32)>,
    parts: Vec<Part>,
}

/// One partition of a [`Code`].
#[derive(Debug, Clone, Copy)]
struct Part {
    /// Its instructions, `instrs[start..end]`.
    instrs: (u32, u32),
    /// Its runs, `runs[start..end]`.
    runs: (u32, u32),
    /// Runs average under two instructions: dispatch per instruction instead.
    flat: bool,
}

impl Code {
    /// A program of one partition.
    pub(crate) fn new(instrs: Vec<Instr>) -> Self {
        let ends = [instrs.len() as u32];
        Code::partitioned(instrs, &ends)
    }

    /// A program cut into partitions that end at `ends`.
    pub(crate) fn partitioned(instrs: Vec<Instr>, ends: &[u32]) -> Self {
        let mut runs: Vec<(u32, u32)> = Vec::new();
        let mut parts = Vec::with_capacity(ends.len());
        let mut start = 0;
        for &end in ends {
            let first_run = runs.len() as u32;
            for i in start..end {
                let ins = &instrs[i as usize];
                let in_part = runs.len() as u32 > first_run;
                match runs.last_mut() {
                    Some((s, len))
                        if in_part
                            && std::mem::discriminant(&instrs[*s as usize])
                                == std::mem::discriminant(ins) =>
                    {
                        *len += 1
                    }
                    _ => runs.push((i, 1)),
                }
            }
            let n_runs = runs.len() as u32 - first_run;
            parts.push(Part {
                instrs: (start, end),
                runs: (first_run, runs.len() as u32),
                flat: n_runs * 2 > end - start,
            });
            start = end;
        }
        Code {
            instrs,
            runs,
            parts,
        }
    }

    pub(crate) fn instrs(&self) -> &[Instr] {
        &self.instrs
    }

    /// Number of runs (dispatches per execution).
    pub(crate) fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Number of partitions.
    pub(crate) fn parts(&self) -> usize {
        self.parts.len()
    }

    /// Instructions in partition `p`.
    pub(crate) fn part_len(&self, p: usize) -> usize {
        let (a, b) = self.parts[p].instrs;
        (b - a) as usize
    }
}

/// Runs a whole program once over the state.
pub(crate) fn run_comb(code: &Code, side: &Side, st: &mut [u64]) {
    for p in 0..code.parts.len() {
        run_part(code, p, side, st);
    }
}

/// Runs the partitions of a program that `activity` marks, in order; each one whose
/// outputs changed marks the partitions that read them.
pub(crate) fn run_active(code: &Code, side: &Side, st: &mut [u64], activity: &mut Activity) {
    for p in 0..code.parts.len() {
        if activity.take(p) {
            run_part(code, p, side, st);
            activity.count(code.part_len(p) as u64);
            activity.ran(p, st);
        }
    }
}

/// Runs partition `p` of a program once over the state.
#[inline(never)]
#[allow(unused_variables)]
fn run_part(code: &Code, p: usize, side: &Side, st: &mut [u64]) {
    let part = code.parts[p];
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
    // In run mode: matches a run's first instruction, then loops over the run with that
    // arm's pattern. In flat mode (short runs, where the extra loop costs more than it
    // saves): one match per instruction.
    macro_rules! dispatch {
        ($code:expr; $( $pat:pat => $body:expr ),* $(,)?) => {
            if part.flat {
                for ins in &$code.instrs[part.instrs.0 as usize..part.instrs.1 as usize] {
                    match *ins {
                        $( $pat => $body, )*
                    }
                }
            } else {
                for &(start, len) in &$code.runs[part.runs.0 as usize..part.runs.1 as usize] {
                    let block = &$code.instrs[start as usize..(start + len) as usize];
                    match block[0] {
                        $( $pat => {
                            for ins in block {
                                match *ins {
                                    $pat => $body,
                                    // SAFETY: `Code::new` puts only instructions of one
                                    // variant in a run, and this arm's pattern matched the
                                    // run's first one.
                                    _ => unsafe { std::hint::unreachable_unchecked() },
                                }
                            }
                        } )*
                    }
                }
            }
        };
    }
    dispatch! { code;
            Instr::Add { d, a, b, sa, sb, ms } => w!(d, ext(r!(a), sa).wrapping_add(ext(r!(b), sb)) & mask(ms)),
            Instr::Sub { d, a, b, sa, sb, ms } => w!(d, ext(r!(a), sa).wrapping_sub(ext(r!(b), sb)) & mask(ms)),
            Instr::Mul { d, a, b, sa, sb, ms } => w!(d, ext(r!(a), sa).wrapping_mul(ext(r!(b), sb)) & mask(ms)),
            Instr::AddXS { d, a, b, va, vb, ms } => w!(d, view_s(r!(a), va).wrapping_add(view_s(r!(b), vb)) & mask(ms)),
            Instr::AddXU { d, a, b, va, vb, ms } => w!(d, view_u(r!(a), va).wrapping_add(view_u(r!(b), vb)) & mask(ms)),
            Instr::SubXS { d, a, b, va, vb, ms } => w!(d, view_s(r!(a), va).wrapping_sub(view_s(r!(b), vb)) & mask(ms)),
            Instr::SubXU { d, a, b, va, vb, ms } => w!(d, view_u(r!(a), va).wrapping_sub(view_u(r!(b), vb)) & mask(ms)),
            Instr::MulXS { d, a, b, va, vb, ms } => w!(d, view_s(r!(a), va).wrapping_mul(view_s(r!(b), vb)) & mask(ms)),
            Instr::MulXU { d, a, b, va, vb, ms } => w!(d, view_u(r!(a), va).wrapping_mul(view_u(r!(b), vb)) & mask(ms)),
            Instr::AndF { d, a, b, la, lb, ms } => w!(d, ((r!(a) >> la) & (r!(b) >> lb)) & mask(ms)),
            Instr::OrF { d, a, b, la, lb, ms } => w!(d, ((r!(a) >> la) | (r!(b) >> lb)) & mask(ms)),
            Instr::XorF { d, a, b, la, lb, ms } => w!(d, ((r!(a) >> la) ^ (r!(b) >> lb)) & mask(ms)),
            Instr::Concat2F { d, a, b, la, lb, sh, ma, mb } => {
                w!(d, (((r!(a) >> la) & mask(ma)) << sh) | ((r!(b) >> lb) & mask(mb)))
            },
            Instr::And { d, a, b } => w!(d, r!(a) & r!(b)),
            Instr::Or { d, a, b } => w!(d, r!(a) | r!(b)),
            Instr::Xor { d, a, b } => w!(d, r!(a) ^ r!(b)),
            Instr::Eq { d, a, b, sa, sb } => w!(d, (ext(r!(a), sa) == ext(r!(b), sb)) as u64),
            Instr::Ne { d, a, b, sa, sb } => w!(d, (ext(r!(a), sa) != ext(r!(b), sb)) as u64),
            Instr::LtU { d, a, b } => w!(d, (r!(a) < r!(b)) as u64),
            Instr::LeU { d, a, b } => w!(d, (r!(a) <= r!(b)) as u64),
            Instr::LtS { d, a, b, sa, sb } => w!(d, ((ext(r!(a), sa) as i64) < ext(r!(b), sb) as i64) as u64),
            Instr::LeS { d, a, b, sa, sb } => w!(d, ((ext(r!(a), sa) as i64) <= ext(r!(b), sb) as i64) as u64),
            Instr::Shl { d, a, b, w } => {
                let n = r!(b);
                w!(d, if n >= u64::from(w) { 0 } else { (r!(a) << n) & mask(64 - w) })
            },
            Instr::ShrU { d, a, b, w } => {
                let n = r!(b);
                w!(d, if n >= u64::from(w) { 0 } else { r!(a) >> n })
            },
            Instr::ShrS { d, a, b, w } => {
                let n = r!(b).min(63);
                w!(d, ((ext(r!(a), 64 - w) as i64 >> n) as u64) & mask(64 - w))
            },
            Instr::ShlC { d, a, sh, ms } => w!(d, (r!(a) << sh) & mask(ms)),
            Instr::ShrCU { d, a, sh } => w!(d, r!(a) >> sh),
            Instr::ShrCS { d, a, sa, sh, ms } => w!(d, ((ext(r!(a), sa) as i64 >> sh) as u64) & mask(ms)),
            Instr::Not { d, a, ms } => w!(d, !r!(a) & mask(ms)),
            Instr::Neg { d, a, sa, ms } => w!(d, ext(r!(a), sa).wrapping_neg() & mask(ms)),
            Instr::RedAnd { d, a, ms } => w!(d, (r!(a) == mask(ms)) as u64),
            Instr::RedOr { d, a } => w!(d, (r!(a) != 0) as u64),
            Instr::RedXor { d, a } => w!(d, u64::from(r!(a).count_ones() & 1)),
            Instr::Mux { d, s, a, b } => w!(d, if r!(s) != 0 { r!(a) } else { r!(b) }),
            Instr::Ext { d, a, sa, ms } => w!(d, ext(r!(a), sa) & mask(ms)),
            Instr::Slice { d, a, lo, ms } => w!(d, (r!(a) >> lo) & mask(ms)),
            Instr::Slice2 { d, a, lo, ms } => w!(d, ((r!(a) >> lo) | (r!(a + 1) << (64 - lo))) & mask(ms)),
            Instr::Concat2 { d, a, b, sh } => w!(d, (r!(a) << sh) | r!(b)),
            Instr::OrShl { d, a, sh } => w!(d, r!(d) | (r!(a) << sh)),
            Instr::Zero { d } => w!(d, 0),
            Instr::Wide(k) => wide::exec(&side.wide[k as usize], st),
            Instr::Sum(k) => {
                let op = &side.sums[k as usize];
                let mut acc = 0u64;
                for t in &op.terms {
                    let v = ((((r!(t.slot) << t.p1) as i64) >> t.p2) as u64) << t.k;
                    let m = 0u64.wrapping_sub(u64::from(t.neg));
                    acc = acc.wrapping_add((v ^ m).wrapping_sub(m));
                }
                w!(op.d, acc & mask(op.ms))
            },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::in_bounds;

    /// The run executor and the per-instruction executor agree, whatever the grouping.
    #[test]
    fn run_and_flat_dispatch_compute_the_same() {
        let prog = vec![
            Instr::Add {
                d: 4,
                a: 0,
                b: 1,
                sa: 56,
                sb: 56,
                ms: 55,
            },
            Instr::Add {
                d: 5,
                a: 1,
                b: 2,
                sa: 0,
                sb: 0,
                ms: 0,
            },
            Instr::Xor { d: 6, a: 4, b: 5 },
            Instr::Xor { d: 7, a: 6, b: 3 },
            Instr::Xor { d: 8, a: 7, b: 0 },
            Instr::ShlC {
                d: 9,
                a: 8,
                sh: 3,
                ms: 40,
            },
            Instr::Sub {
                d: 10,
                a: 9,
                b: 4,
                sa: 0,
                sb: 0,
                ms: 30,
            },
            Instr::Sub {
                d: 11,
                a: 10,
                b: 9,
                sa: 0,
                sb: 0,
                ms: 30,
            },
        ];
        let side = Side::default();
        let init = [0xf3u64, 0x7f, u64::MAX, 0x1234_5678_9abc_def0];
        let mut results = Vec::new();
        for flat in [false, true] {
            let mut code = Code::new(prog.clone());
            code.parts[0].flat = flat;
            assert!(in_bounds(&code.instrs, &side, 12));
            let mut st = vec![0u64; 12];
            st[..4].copy_from_slice(&init);
            run_comb(&code, &side, &mut st);
            results.push(st);
        }
        assert_eq!(results[0], results[1]);
        // Spot-check the first add: 8-bit signed 0xf3 (-13) + 0x7f (127) = 114, masked to 9 bits.
        assert_eq!(results[0][4], 114);
        assert_eq!(Code::new(prog).runs(), 4);
    }
}
