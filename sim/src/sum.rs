//! Multi-term sums: a small adder tree (two constant-multiplier outputs and the adder that
//! sums them, say) computed as one instruction that adds up to four shifted, signed terms.
//!
//! Folding an inner add, truncation or shift into its reader is only exact when that inner
//! step did not wrap, so a range analysis goes first: every narrow node gets a conservative
//! interval of the integer values it can take, and a step is folded only when the interval
//! fits the type it is computed and read in.

use hardwire_hdl::ir::{BinaryOp, Type};

use crate::flatten::{Flat, FlatId, FlatKind};
use crate::fuse::{forward_slice, narrow_addsub, view};

/// Smallest and largest value a node can take.
pub(crate) type Range = (i128, i128);

/// Most terms in one [`crate::instr::SumOp`].
pub(crate) const MAX_TERMS: usize = 4;

/// Every value of a narrow type.
fn type_range(ty: Type) -> Range {
    let w = ty.width.min(64);
    if ty.signed {
        (-(1i128 << (w - 1)), (1i128 << (w - 1)) - 1)
    } else {
        (0, (1i128 << w) - 1)
    }
}

fn fits(r: Range, ty: Type) -> bool {
    let t = type_range(ty);
    ty.width <= 64 && t.0 <= r.0 && r.1 <= t.1
}

/// For every narrow node, the range of its value; for an add, subtract, shift or resize,
/// `None` when it may wrap, so that its value is not the plain integer result. Filled in
/// topological `order`.
pub(crate) fn ranges(flat: &Flat, rep: &[FlatId], order: &[FlatId]) -> Vec<Option<Range>> {
    let mut r: Vec<Option<Range>> = flat
        .nodes
        .iter()
        .map(|n| (n.ty.width <= 64).then(|| type_range(n.ty)))
        .collect();
    for &n in order {
        let node = &flat.nodes[n as usize];
        let ty = node.ty;
        // An operand as its reader sees it.
        let read = |r: &Vec<Option<Range>>, o: FlatId| {
            let t = flat.nodes[o as usize].ty;
            match r[rep[o as usize] as usize] {
                Some(v) if fits(v, t) => v,
                _ => type_range(t),
            }
        };
        let narrow = |o: &FlatId| flat.nodes[*o as usize].ty.width <= 64;
        let v = match &node.kind {
            _ if ty.width > 64 => continue,
            FlatKind::Const(b) => {
                let x = if ty.signed {
                    b.to_i128()
                } else {
                    b.to_u128() as i128
                };
                (x, x)
            }
            FlatKind::Binary(op @ (BinaryOp::Add | BinaryOp::Sub), a, b)
                if narrow(a) && narrow(b) =>
            {
                let (ra, rb) = (read(&r, *a), read(&r, *b));
                if *op == BinaryOp::Add {
                    (ra.0 + rb.0, ra.1 + rb.1)
                } else {
                    (ra.0 - rb.1, ra.1 - rb.0)
                }
            }
            FlatKind::Binary(BinaryOp::Shl, m, amt) if narrow(m) => {
                match const_amount(flat, rep, *amt) {
                    Some(k) => {
                        // Checked, so the analysis itself can never wrap.
                        let rm = read(&r, *m);
                        match (rm.0.checked_mul(1 << k), rm.1.checked_mul(1 << k)) {
                            (Some(lo), Some(hi)) => (lo, hi),
                            _ => {
                                r[n as usize] = None;
                                continue;
                            }
                        }
                    }
                    None => {
                        r[n as usize] = None;
                        continue;
                    }
                }
            }
            FlatKind::Resize(m) if narrow(m) => read(&r, *m),
            FlatKind::Binary(BinaryOp::Add | BinaryOp::Sub | BinaryOp::Shl, ..)
            | FlatKind::Resize(_) => {
                r[n as usize] = None;
                continue;
            }
            _ => continue,
        };
        r[n as usize] = fits(v, ty).then_some(v);
    }
    r
}

fn const_amount(flat: &Flat, rep: &[FlatId], amt: FlatId) -> Option<u32> {
    match &flat.nodes[rep[amt as usize] as usize].kind {
        FlatKind::Const(k) if k.words()[1..].iter().all(|x| *x == 0) && k.to_u64() < 64 => {
            Some(k.to_u64() as u32)
        }
        _ => None,
    }
}

/// One term of a sum: `±(((word << p1) as i64 >> p2) << k)`, the word being word `word` of
/// `base`'s slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Term {
    pub base: FlatId,
    pub word: u32,
    pub p1: u8,
    pub p2: u8,
    pub k: u8,
    pub neg: bool,
}

struct Expander<'a> {
    flat: &'a Flat<'a>,
    rep: &'a [FlatId],
    ranges: &'a [Option<Range>],
    out: Vec<Term>,
}

impl Expander<'_> {
    /// Appends the terms of `node` read as `ty`, shifted by `k` and negated if `neg`; false
    /// when they would be more than [`MAX_TERMS`].
    fn expand(&mut self, node: FlatId, ty: Type, k: u32, neg: bool) -> bool {
        let (flat, rep) = (self.flat, self.rep);
        let r = rep[node as usize];
        let n = &flat.nodes[r as usize];
        // The whole of one part of a concatenation is that part's bits.
        if let FlatKind::Slice(src, lo) = &n.kind {
            let (src, lo) = forward_slice(flat, rep, *src, *lo, n.ty.width);
            if lo == 0 && flat.nodes[src as usize].ty.width == n.ty.width {
                return self.expand(src, ty, k, neg);
            }
        }
        // Folding a step is exact when it did not wrap and its reader sees its value.
        let exact = ty.width <= 64 && matches!(self.ranges[r as usize], Some(v) if fits(v, ty));
        if exact {
            match &n.kind {
                FlatKind::Binary(op @ (BinaryOp::Add | BinaryOp::Sub), ..) => {
                    if let Some((_, a, b)) = narrow_addsub(flat, rep, r) {
                        let (ta, tb) = (flat.nodes[a as usize].ty, flat.nodes[b as usize].ty);
                        return self.expand(a, ta, k, neg)
                            && self.expand(b, tb, k, neg ^ (*op == BinaryOp::Sub));
                    }
                }
                FlatKind::Resize(m) => {
                    let mt = flat.nodes[*m as usize].ty;
                    return self.expand(*m, mt, k, neg);
                }
                FlatKind::Binary(BinaryOp::Shl, m, amt) => {
                    let mt = flat.nodes[*m as usize].ty;
                    if let Some(k2) = const_amount(flat, rep, *amt) {
                        if k + k2 < 64 {
                            return self.expand(*m, mt, k + k2, neg);
                        }
                    }
                }
                _ => {}
            }
        }
        // A leaf: a first-stage view of it, or the value itself.
        let v = view(flat, rep, node, ty);
        let (base, word, p1, p2) = if ty.width <= 64 && v.stages[2] == 0 && v.stages[3] == 0 {
            (v.base, v.word, v.stages[0], v.stages[1])
        } else {
            let s = if ty.signed {
                (64 - ty.width.min(64)) as u8
            } else {
                0
            };
            (node, 0, s, s)
        };
        if self.out.len() == MAX_TERMS {
            return false;
        }
        self.out.push(Term {
            base,
            word,
            p1,
            p2,
            k: k as u8,
            neg,
        });
        true
    }
}

/// The terms of the narrow add or subtract `s`, when they are three or four: then one
/// multi-term instruction replaces the adders below it.
pub(crate) fn sum_terms(
    flat: &Flat,
    rep: &[FlatId],
    ranges: &[Option<Range>],
    s: FlatId,
) -> Option<Vec<Term>> {
    let (op, a, b) = narrow_addsub(flat, rep, s)?;
    let (ta, tb) = (flat.nodes[a as usize].ty, flat.nodes[b as usize].ty);
    let mut e = Expander {
        flat,
        rep,
        ranges,
        out: Vec::new(),
    };
    let ok = e.expand(a, ta, 0, false) && e.expand(b, tb, 0, op == BinaryOp::Sub);
    (ok && e.out.len() > 2).then_some(e.out)
}
