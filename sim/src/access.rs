//! Which state words each instruction reads and writes: the one description that the
//! bounds check before the unchecked executor and the activity partitioner both use.

use crate::instr::{words, Instr, Side, Slot, WideOp};

/// A run of `words` state words from `slot` that an instruction reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Access {
    pub slot: Slot,
    pub words: u32,
    pub write: bool,
}

/// Calls `f` for every run of words `ins` reads or writes. An instruction that updates its
/// destination in place (`OrShl`, a wide `Insert`) both reads and writes it.
pub(crate) fn accesses(ins: &Instr, side: &Side, mut f: impl FnMut(Access)) {
    let mut r = |slot: Slot, words: u32| {
        f(Access {
            slot,
            words,
            write: false,
        })
    };
    let d = match *ins {
        Instr::Add { d, a, b, .. }
        | Instr::Sub { d, a, b, .. }
        | Instr::AddXS { d, a, b, .. }
        | Instr::AddXU { d, a, b, .. }
        | Instr::SubXS { d, a, b, .. }
        | Instr::SubXU { d, a, b, .. }
        | Instr::Mul { d, a, b, .. }
        | Instr::MulXS { d, a, b, .. }
        | Instr::MulXU { d, a, b, .. }
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
        | Instr::Concat2 { d, a, b, .. }
        | Instr::AndF { d, a, b, .. }
        | Instr::OrF { d, a, b, .. }
        | Instr::XorF { d, a, b, .. }
        | Instr::Concat2F { d, a, b, .. } => {
            r(a, 1);
            r(b, 1);
            (d, 1)
        }
        Instr::Slice2 { d, a, .. } => {
            r(a, 2);
            (d, 1)
        }
        Instr::OrShl { d, a, .. } => {
            r(a, 1);
            r(d, 1);
            (d, 1)
        }
        Instr::ShlC { d, a, .. }
        | Instr::ShrCU { d, a, .. }
        | Instr::ShrCS { d, a, .. }
        | Instr::Not { d, a, .. }
        | Instr::Neg { d, a, .. }
        | Instr::RedAnd { d, a, .. }
        | Instr::RedOr { d, a }
        | Instr::RedXor { d, a }
        | Instr::Ext { d, a, .. }
        | Instr::Slice { d, a, .. } => {
            r(a, 1);
            (d, 1)
        }
        Instr::Zero { d } => (d, 1),
        Instr::Mux { d, s, a, b } => {
            r(s, 1);
            r(a, 1);
            r(b, 1);
            (d, 1)
        }
        Instr::Sum(k) => match side.sums.get(k as usize) {
            Some(op) => {
                for t in &op.terms {
                    r(t.slot, 1);
                }
                (op.d, 1)
            }
            // A dangling index: report a slot no state holds, so a bounds check fails.
            None => (Slot::MAX, 1),
        },
        Instr::Wide(k) => match side.wide.get(k as usize) {
            Some(op) => wide(op, &mut r),
            None => (Slot::MAX, 1),
        },
    };
    f(Access {
        slot: d.0,
        words: d.1,
        write: true,
    });
}

/// The reads of a wide operation (through `r`) and its destination.
fn wide(op: &WideOp, r: &mut impl FnMut(Slot, u32)) -> (Slot, u32) {
    let n = |w: u32| words(w) as u32;
    match *op {
        WideOp::Ext { d, dw, a, aw, .. } | WideOp::Slice { d, dw, a, aw, .. } => {
            r(a, n(aw));
            (d, n(dw))
        }
        WideOp::Insert { d, dw, a, aw, .. } => {
            r(a, n(aw));
            r(d, n(dw));
            (d, n(dw))
        }
        WideOp::Arith { d, a, b, w, .. } | WideOp::Bitwise { d, a, b, w, .. } => {
            r(a, n(w));
            r(b, n(w));
            (d, n(w))
        }
        WideOp::Cmp { d, a, b, w, .. } => {
            r(a, n(w));
            r(b, n(w));
            (d, 1)
        }
        WideOp::Not { d, a, w } | WideOp::Neg { d, a, w } => {
            r(a, n(w));
            (d, n(w))
        }
        WideOp::Reduce { d, a, w, .. } => {
            r(a, n(w));
            (d, 1)
        }
        WideOp::Shl { d, a, amt, w } | WideOp::Shr { d, a, amt, w, .. } => {
            r(a, n(w));
            r(amt, 1);
            (d, n(w))
        }
        WideOp::Clamp { d, a, aw } => {
            r(a, n(aw));
            (d, 1)
        }
        WideOp::Zero { d, w } => (d, n(w)),
        WideOp::Mux { d, s, a, b, w } => {
            r(s, 1);
            r(a, n(w));
            r(b, n(w));
            (d, n(w))
        }
    }
}

/// Whether every word `prog` names lies inside a state of `len` words: the invariant the
/// executor's unchecked indexing relies on.
pub(crate) fn in_bounds(prog: &[Instr], side: &Side, len: usize) -> bool {
    let mut ok = true;
    for ins in prog {
        accesses(ins, side, |a| {
            ok &= (a.slot as usize).saturating_add(a.words as usize) <= len
        });
    }
    ok
}
