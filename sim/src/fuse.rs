//! Peephole fusion: small operations folded into the instruction that reads them, so the
//! shapes that constant-multiplier expansion produces (a field of an input bus, sign-extended,
//! shifted by a constant, added or subtracted, truncated) cost one instruction instead of five.
//!
//! The folded operations are still compiled on their own when something else needs them
//! (a register, or a peek of their name); the compiler only drops what nothing reads.

use hardwire_hdl::ir::{BinaryOp, Type};

use crate::flatten::{Flat, FlatId, FlatKind};
use crate::sum::{sum_terms, Range};

/// How an instruction reads an operand through folded operations, as two shift stages on
/// the word at `base`'s slot plus `word`:
/// `t = ((x << s[0]) as i64 >> s[1])`, then `(t << s[2]) >> s[3]`, the second shift
/// arithmetic for a signed reader and logical for an unsigned one. The result is the
/// operand's value extended to 64 bits, as a plain instruction's `ext` would give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct View {
    pub base: FlatId,
    pub word: u32,
    pub stages: [u8; 4],
}

impl View {
    /// Reading `node` of type `ty` as it is.
    fn plain(node: FlatId, ty: Type) -> View {
        let s = if ty.signed { (64 - ty.width) as u8 } else { 0 };
        View {
            base: node,
            word: 0,
            stages: [s, s, 0, 0],
        }
    }

    /// Whether this reads `node` itself with a plain sign extension.
    pub fn is_plain(&self, node: FlatId) -> bool {
        self.base == node
            && self.word == 0
            && self.stages[0] == self.stages[1]
            && self.stages[2] == 0
    }
}

/// Where the bits of `src[lo .. lo + w]` come from: a slice of a concatenation (or of a
/// slice) reads the part it falls in, so buses packed and unpacked again cost nothing.
pub(crate) fn forward_slice(
    flat: &Flat,
    rep: &[FlatId],
    mut src: FlatId,
    mut lo: u32,
    w: u32,
) -> (FlatId, u32) {
    loop {
        match &flat.nodes[rep[src as usize] as usize].kind {
            FlatKind::Slice(inner, lo2) => {
                src = *inner;
                lo += lo2;
            }
            FlatKind::Concat(parts) => {
                let mut off = 0;
                let mut found = None;
                for p in parts.iter().rev() {
                    let pw = flat.nodes[*p as usize].ty.width;
                    if off <= lo && lo + w <= off + pw {
                        found = Some((*p, lo - off));
                    }
                    off += pw;
                }
                match found {
                    Some((p, l)) => {
                        src = p;
                        lo = l;
                    }
                    None => return (src, lo),
                }
            }
            _ => return (src, lo),
        }
    }
}

/// How a narrow adder reads operand `node` of type `ty`: through a signed field of one word,
/// a value-preserving extension, a shift by a constant, or plainly.
pub(crate) fn view(flat: &Flat, rep: &[FlatId], node: FlatId, ty: Type) -> View {
    let w = ty.width;
    if w > 64 {
        return View::plain(node, ty);
    }
    match &flat.nodes[rep[node as usize] as usize].kind {
        FlatKind::Slice(src, lo) if ty.signed => {
            let (src, lo) = forward_slice(flat, rep, *src, *lo, w);
            let st = flat.nodes[src as usize].ty;
            if lo == 0 && st.width == w {
                // The whole of a part: read the part itself (with this reader's sign).
                return view(flat, rep, src, ty);
            }
            let (word, bit) = (lo / 64, lo % 64);
            if lo + w <= st.width && bit + w <= 64 {
                return View {
                    base: src,
                    word,
                    stages: [(64 - bit - w) as u8, (64 - w) as u8, 0, 0],
                };
            }
        }
        FlatKind::Resize(m) => {
            let mt = flat.nodes[*m as usize].ty;
            if mt.width <= w && mt.signed == ty.signed {
                return view(flat, rep, *m, mt);
            }
        }
        FlatKind::Binary(BinaryOp::Shl, m, amt) => {
            if let FlatKind::Const(k) = &flat.nodes[rep[*amt as usize] as usize].kind {
                let mt = flat.nodes[*m as usize].ty;
                let k = if k.words()[1..].iter().any(|x| *x != 0) {
                    u64::MAX
                } else {
                    k.to_u64()
                };
                if k < u64::from(w) && mt.width == w {
                    let mut inner = view(flat, rep, *m, mt);
                    if inner.stages[2] != 0 || inner.stages[3] != 0 {
                        inner = View::plain(*m, mt);
                    }
                    let [s0, s1, ..] = inner.stages;
                    return View {
                        stages: [s0, s1, (k as u32 + 64 - w) as u8, (64 - w) as u8],
                        ..inner
                    };
                }
            }
        }
        _ => {}
    }
    View::plain(node, ty)
}

/// Where a narrow value sits when it is a field of one word of another: `node` (`w` bits)
/// is bits `lo .. lo + w` of word `word` of `base`. Instructions that take a field shift
/// and mask it themselves, so the slice costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    pub base: FlatId,
    pub word: u32,
    pub lo: u8,
}

/// `node` as a field of a word, if it is a slice that stays inside one.
pub(crate) fn field(flat: &Flat, rep: &[FlatId], node: FlatId) -> Option<Field> {
    let n = &flat.nodes[rep[node as usize] as usize];
    let w = n.ty.width;
    match n.kind {
        FlatKind::Slice(src, lo) => {
            let (src, lo) = forward_slice(flat, rep, src, lo, w);
            let sw = flat.nodes[src as usize].ty.width;
            (lo + w <= sw && lo % 64 + w <= 64).then_some(Field {
                base: src,
                word: lo / 64,
                lo: (lo % 64) as u8,
            })
        }
        _ => None,
    }
}

/// `node` as a field, or as the whole of itself.
pub(crate) fn field_or_self(flat: &Flat, rep: &[FlatId], node: FlatId) -> Field {
    field(flat, rep, node).unwrap_or(Field {
        base: node,
        word: 0,
        lo: 0,
    })
}

/// The operands of `n` when it is a narrow bitwise operation or two-part concatenation that
/// reads at least one of them as a field.
pub(crate) fn field_operands(flat: &Flat, rep: &[FlatId], n: FlatId) -> Option<[FlatId; 2]> {
    let node = &flat.nodes[rep[n as usize] as usize];
    let w = node.ty.width;
    let ops = match &node.kind {
        FlatKind::Binary(BinaryOp::And | BinaryOp::Or | BinaryOp::Xor, a, b)
            if w <= 64
                && flat.nodes[*a as usize].ty.width == w
                && flat.nodes[*b as usize].ty.width == w =>
        {
            [*a, *b]
        }
        FlatKind::Concat(parts) if w <= 64 && parts.len() == 2 => [parts[0], parts[1]],
        _ => return None,
    };
    ops.iter()
        .any(|o| field(flat, rep, *o).is_some())
        .then_some(ops)
}

/// `(op, a, b)` when `n` is an add or subtract the fused instructions can compute: every
/// width at most 64.
pub(crate) fn narrow_addsub(
    flat: &Flat,
    rep: &[FlatId],
    n: FlatId,
) -> Option<(BinaryOp, FlatId, FlatId)> {
    let node = &flat.nodes[rep[n as usize] as usize];
    match node.kind {
        FlatKind::Binary(op @ (BinaryOp::Add | BinaryOp::Sub), a, b)
            if node.ty.width <= 64
                && flat.nodes[a as usize].ty.width <= 64
                && flat.nodes[b as usize].ty.width <= 64 =>
        {
            Some((op, a, b))
        }
        _ => None,
    }
}

/// `(a, b)` when `n` is a multiply the fused instructions can compute: every width at
/// most 64, operands of one signedness.
pub(crate) fn narrow_mul(flat: &Flat, rep: &[FlatId], n: FlatId) -> Option<(FlatId, FlatId)> {
    let node = &flat.nodes[rep[n as usize] as usize];
    match node.kind {
        FlatKind::Binary(BinaryOp::Mul, a, b) => {
            let (ta, tb) = (flat.nodes[a as usize].ty, flat.nodes[b as usize].ty);
            (node.ty.width <= 64 && ta.width <= 64 && tb.width <= 64 && ta.signed == tb.signed)
                .then_some((a, b))
        }
        _ => None,
    }
}

/// The add or subtract that `n` truncates, when `n` is a narrowing resize of one: the sum
/// is then computed at the narrow width directly.
pub(crate) fn truncated_addsub(flat: &Flat, rep: &[FlatId], n: FlatId) -> Option<FlatId> {
    let node = &flat.nodes[n as usize];
    match node.kind {
        FlatKind::Resize(s) if node.ty.width < flat.nodes[s as usize].ty.width => {
            narrow_addsub(flat, rep, s).map(|_| s)
        }
        _ => None,
    }
}

/// The nodes `n`'s instructions read once folding is applied (a superset of nothing the
/// plain operands would not reach, so the topological order stays valid).
pub(crate) fn deps(
    flat: &Flat,
    rep: &[FlatId],
    ranges: &[Option<Range>],
    n: FlatId,
    out: &mut Vec<FlatId>,
) {
    out.clear();
    let node = &flat.nodes[n as usize];
    let addsub = truncated_addsub(flat, rep, n).or_else(|| narrow_addsub(flat, rep, n).map(|_| n));
    if let Some(s) = addsub {
        if let Some(terms) = sum_terms(flat, rep, ranges, s) {
            out.extend(terms.iter().map(|t| t.base));
            return;
        }
        let (_, a, b) = narrow_addsub(flat, rep, s).expect("checked above");
        for o in [a, b] {
            out.push(view(flat, rep, o, flat.nodes[o as usize].ty).base);
        }
        return;
    }
    if let Some((a, b)) = narrow_mul(flat, rep, n) {
        for o in [a, b] {
            out.push(view(flat, rep, o, flat.nodes[o as usize].ty).base);
        }
        return;
    }
    if let Some(ops) = field_operands(flat, rep, n) {
        out.extend(ops.iter().map(|o| field_or_self(flat, rep, *o).base));
        return;
    }
    match &node.kind {
        FlatKind::Slice(src, lo) => out.push(forward_slice(flat, rep, *src, *lo, node.ty.width).0),
        FlatKind::Input | FlatKind::Const(_) | FlatKind::RegQ | FlatKind::MemRead => {}
        FlatKind::Alias(a) | FlatKind::Unary(_, a) | FlatKind::Resize(a) => out.push(*a),
        FlatKind::Binary(_, a, b) => out.extend([*a, *b]),
        FlatKind::Mux(s, a, b) => out.extend([*s, *a, *b]),
        FlatKind::Concat(parts) => out.extend_from_slice(parts),
    }
}
