//! `csd-expand`: a product with a constant becomes shifts and adds of the other operand, one
//! per nonzero digit of the constant's canonical signed-digit form. This is how a fixed
//! weight is hardwired: a zero weight vanishes, a power of two is a bare shift, and no digit
//! pattern needs more than `ceil((w + 1) / 2)` terms.

use super::Pass;
use crate::bits::Bits;
use crate::diagnostic::{HdlError, Loc};
use crate::ir::{BinaryOp, Design, Module, NodeId, NodeKind, Type};

/// Expands constant multiplications into canonical-signed-digit shift-and-add trees.
pub struct CsdExpand;

impl Pass for CsdExpand {
    fn name(&self) -> &'static str {
        "csd-expand"
    }
    fn description(&self) -> &'static str {
        "turn products with a constant into canonical-signed-digit shift-and-add trees"
    }
    fn run(&self, design: &mut Design) -> Result<(), HdlError> {
        design.modules.iter_mut().for_each(expand_module);
        Ok(())
    }
}

/// The canonical signed-digit form of `value`: `(position, digit)` pairs with digits ±1,
/// no two adjacent positions nonzero, least significant first. Their weighted sum is `value`.
///
/// ```
/// use hardwire_hdl::passes::csd_digits;
/// assert_eq!(csd_digits(7), vec![(0, -1), (3, 1)]); // 7 = 8 - 1
/// assert_eq!(csd_digits(0), vec![]);
/// ```
pub fn csd_digits(value: i128) -> Vec<(u32, i8)> {
    let mut digits = Vec::new();
    let mut x = value;
    let mut pos = 0;
    while x != 0 {
        if x & 1 != 0 {
            let d: i8 = if x & 3 == 1 { 1 } else { -1 };
            digits.push((pos, d));
            x -= i128::from(d);
        }
        x >>= 1;
        pos += 1;
    }
    digits
}

fn expand_module(m: &mut Module) {
    for i in 0..m.nodes.len() {
        let NodeKind::Binary(BinaryOp::Mul, a, b) = m.nodes[i].kind else {
            continue;
        };
        let konst = |n: NodeId| match &m.node(n).kind {
            NodeKind::Const(v) => Some((v.clone(), m.node(n).ty)),
            _ => None,
        };
        let (x, (c, cty)) = match (konst(a), konst(b)) {
            (_, Some(c)) => (a, c),
            (Some(c), None) => (b, c),
            (None, None) => continue,
        };
        // Wider than 127 bits the value cannot be read as i128; such a product stays a product.
        if cty.width > 127 {
            continue;
        }
        let value = if cty.signed {
            c.to_i128()
        } else {
            c.to_u128() as i128
        };
        let (ty, loc) = (m.nodes[i].ty, m.nodes[i].loc);
        m.nodes[i].kind = shift_add(m, x, &csd_digits(value), ty, loc);
    }
}

/// Builds `sum(digit * (x << pos))` at the product's width and returns the kind of its root.
fn shift_add(m: &mut Module, x: NodeId, digits: &[(u32, i8)], ty: Type, loc: Loc) -> NodeKind {
    if digits.is_empty() {
        return NodeKind::Const(Bits::zero(ty.width));
    }
    let wide = if m.node(x).ty.width == ty.width {
        x
    } else {
        m.push_node(NodeKind::Resize(x), ty, loc)
    };
    let mut terms: Vec<(NodeKind, bool)> = digits
        .iter()
        .map(|&(pos, d)| {
            let kind = if pos == 0 {
                NodeKind::Resize(wide)
            } else {
                let w = 32 - pos.leading_zeros();
                let amount = m.push_node(
                    NodeKind::Const(Bits::from_u64(pos.into(), w)),
                    Type::unsigned(w),
                    loc,
                );
                NodeKind::Binary(BinaryOp::Shl, wide, amount)
            };
            (kind, d < 0)
        })
        .collect();
    // Pair terms level by level: a balanced tree has logarithmic depth.
    while terms.len() > 1 || terms[0].1 {
        if terms.len() == 1 {
            let zero = NodeKind::Const(Bits::zero(ty.width));
            terms.insert(0, (zero, false));
        }
        let mut next = Vec::with_capacity(terms.len().div_ceil(2));
        let mut it = std::mem::take(&mut terms).into_iter();
        while let Some(p) = it.next() {
            let Some(q) = it.next() else {
                next.push(p);
                break;
            };
            let (pn, qn) = (p.1, q.1);
            let pid = m.push_node(p.0, ty, loc);
            let qid = m.push_node(q.0, ty, loc);
            let (op, l, r, negative) = match (pn, qn) {
                (false, false) => (BinaryOp::Add, pid, qid, false),
                (false, true) => (BinaryOp::Sub, pid, qid, false),
                (true, false) => (BinaryOp::Sub, qid, pid, false),
                (true, true) => (BinaryOp::Add, pid, qid, true),
            };
            let sum = m.push_node(NodeKind::Binary(op, l, r), ty.with_width(ty.width + 1), loc);
            next.push((NodeKind::Resize(sum), negative));
        }
        terms = next;
    }
    terms.pop().expect("one term remains").0
}

#[cfg(test)]
mod tests {
    use super::csd_digits;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn digits_sum_to_the_value_and_are_never_adjacent(v in -(1i128 << 40)..(1i128 << 40)) {
            let d = csd_digits(v);
            let sum: i128 = d.iter().map(|&(p, s)| i128::from(s) << p).sum();
            prop_assert_eq!(sum, v);
            prop_assert!(d.windows(2).all(|w| w[1].0 > w[0].0 + 1));
        }
    }
}
