//! [`SplitProduct`]: a wide product as partial products that each fit one 18×18 multiplier,
//! so that a pipeline can register them before adding them up.
//!
//! An FPGA's multiplier blocks take 18-bit operands (the ECP5's MULT18X18D, the DSP48's 25×18
//! port included). Synthesis maps a wider product to several of them and adds their outputs
//! in logic, in the same cycle: on the ECP5 a 28×28 product is a multiplier's delay plus two
//! adders of some 50 bits, too long for 100 MHz. Kept split, each partial product is one
//! multiplier into a register, and the sum is a stage of its own.

use super::multiplier_block::registered_product;
use crate::builder::Signal;
use crate::ir::Type;

/// Operand width of one multiplier block.
pub const DSP_BITS: u32 = 18;

/// One partial product: `value << shift` is its share of the product.
#[derive(Debug, Clone, Copy)]
pub struct Partial<T> {
    pub value: T,
    pub shift: u32,
}

/// `a * b` as partial products (operands of the same signedness). A signed operand is cut
/// into 17-bit unsigned limbs, zero-extended to 18 signed bits, under a signed top limb of
/// at most 18 bits; an unsigned one into 18-bit limbs. Operands of at most 18 bits are one
/// limb, so a product that fits one multiplier is one partial.
///
/// `T` is what holds a partial: a [`Signal`] when made, a pipeline's
/// [`Staged`](crate::builder::Staged) when kept for a later stage ([`SplitProduct::map`]).
#[derive(Debug, Clone)]
pub struct SplitProduct<T> {
    parts: Vec<Partial<T>>,
    /// The exact product's type: the operands' signedness, their widths added.
    ty: Type,
}

/// `(limb, shift)` pairs whose weighted sum is `s`.
fn limbs(s: Signal<'_>) -> Vec<(Signal<'_>, u32)> {
    let signed = s.ty().signed;
    let low = if signed { DSP_BITS - 1 } else { DSP_BITS };
    let mut out = Vec::new();
    let mut at = 0;
    while s.width() - at > DSP_BITS {
        let limb = s.bits(at + low - 1, at);
        out.push((
            if signed {
                limb.extend(DSP_BITS).as_signed()
            } else {
                limb
            },
            at,
        ));
        at += low;
    }
    let top = if at == 0 {
        s
    } else {
        s.bits(s.width() - 1, at)
    };
    out.push((if signed { top.as_signed() } else { top }, at));
    out
}

/// Limbs of at most this many bits multiply in logic ([`shift_add_product`]: a few adders)
/// rather than in a multiplier block: the 3-bit top limb of a 20-bit operand would otherwise
/// take a whole block, so a 20 × 20 product would take four instead of one.
pub const LOGIC_LIMB_BITS: u32 = 4;

/// A limb pair whose product is made in logic ([`shift_add_product`]) rather than in a
/// multiplier block, as `(narrow, wide)`: one of at most [`LOGIC_LIMB_BITS`] bits.
fn in_logic<'a>(x: Signal<'a>, y: Signal<'a>) -> Option<(Signal<'a>, Signal<'a>)> {
    if x.width() <= LOGIC_LIMB_BITS && x.width() <= y.width() {
        Some((x, y))
    } else if y.width() <= LOGIC_LIMB_BITS {
        Some((y, x))
    } else {
        None
    }
}

impl<'a> SplitProduct<Signal<'a>> {
    /// The partial products of `a * b`: one multiplier block each, or a few adders for one
    /// with a limb of at most [`LOGIC_LIMB_BITS`] bits.
    #[track_caller]
    pub fn new(a: Signal<'a>, b: Signal<'a>) -> SplitProduct<Signal<'a>> {
        Self::of_limbs(a, b, |_, x, y| match in_logic(x, y) {
            Some((narrow, wide)) => shift_add_product(narrow, wide),
            None => x * y,
        })
    }

    /// The partial products of `a * b` as [`SplitProduct::new`] makes them, one cycle later:
    /// each registered inside its multiplier block ([`registered_product`]), or after its
    /// adders for one made in logic. A product with a constant is made in logic by the
    /// `csd-expand` pass, so it takes no multiplier block. Partial `i` is the instance or
    /// register `<name>_p<i>`.
    #[track_caller]
    pub fn registered(name: &str, a: Signal<'a>, b: Signal<'a>) -> SplitProduct<Signal<'a>> {
        let constant = a.is_constant() || b.is_constant();
        Self::of_limbs(a, b, |i, x, y| {
            let name = format!("{name}_p{i}");
            let product = match in_logic(x, y) {
                Some((narrow, wide)) => shift_add_product(narrow, wide),
                None if constant => x * y,
                None => return registered_product(&name, x, y),
            };
            let r = a.m.reg(&name, product.ty());
            r.next(product);
            r.q()
        })
    }

    /// The partials `product(i, x, y)` of each limb pair of `a` and `b`.
    fn of_limbs(
        a: Signal<'a>,
        b: Signal<'a>,
        mut product: impl FnMut(usize, Signal<'a>, Signal<'a>) -> Signal<'a>,
    ) -> SplitProduct<Signal<'a>> {
        let ty = a.ty().with_width(a.width() + b.width());
        let (la, lb) = (limbs(a), limbs(b));
        let mut parts = Vec::with_capacity(la.len() * lb.len());
        for &(x, sx) in &la {
            for &(y, sy) in &lb {
                parts.push(Partial {
                    value: product(parts.len(), x, y),
                    shift: sx + sy,
                });
            }
        }
        SplitProduct { parts, ty }
    }

    /// `a * b` as one partial computed in logic ([`shift_add_product`]), for a narrow `a`:
    /// no multiplier block.
    #[track_caller]
    pub fn in_logic(a: Signal<'a>, b: Signal<'a>) -> SplitProduct<Signal<'a>> {
        let value = shift_add_product(a, b);
        SplitProduct {
            parts: vec![Partial { value, shift: 0 }],
            ty: value.ty(),
        }
    }

    /// The product: the partials added, pairwise, at the product's width (exact, since the
    /// product fits it).
    #[track_caller]
    pub fn sum(&self) -> Signal<'a> {
        let w = self.ty.width;
        let level: Vec<Signal<'a>> = self
            .parts
            .iter()
            .map(|p| p.value.extend(w) << p.shift)
            .collect();
        let sum = add_pairwise(level);
        if self.ty.signed {
            sum.as_signed()
        } else {
            sum.as_unsigned()
        }
    }
}

impl<T> SplitProduct<T> {
    /// The same partials, each held by `f(i, value)` instead (for instance kept in a pipeline).
    pub fn map<U>(self, mut f: impl FnMut(usize, T) -> U) -> SplitProduct<U> {
        SplitProduct {
            parts: (self.parts.into_iter().enumerate())
                .map(|(i, p)| Partial {
                    value: f(i, p.value),
                    shift: p.shift,
                })
                .collect(),
            ty: self.ty,
        }
    }

    /// The partial products, one multiplier block each.
    pub fn parts(&self) -> &[Partial<T>] {
        &self.parts
    }

    /// The type of the whole product.
    pub fn ty(&self) -> Type {
        self.ty
    }
}

/// `a * b` in logic rather than a multiplier block: one term `b << i` per bit of the narrow
/// `a` (subtracted for a signed `a`'s sign bit), added pairwise. The exact product, of
/// `a`'s signedness and the widths added; for a 4-bit `a` three adders, which on an FPGA cost
/// less than the multiplier block (or two, for a `b` wider than 18 bits) synthesis would
/// otherwise spend. Operands of the same signedness.
#[track_caller]
pub fn shift_add_product<'a>(a: Signal<'a>, b: Signal<'a>) -> Signal<'a> {
    let ty = a.ty().with_width(a.width() + b.width());
    let w = ty.width;
    let wide = b.extend(w);
    let terms: Vec<Signal<'a>> = (0..a.width())
        .map(|i| {
            let shifted = wide << i;
            let term = if ty.signed && i == a.width() - 1 {
                (-shifted).resize(w)
            } else {
                shifted
            };
            a.bit(i).mux(term, 0)
        })
        .collect();
    add_pairwise(terms)
}

/// The sum of `terms` (of one width, at least one), added in pairs level by level, wrapping
/// at their width.
fn add_pairwise(mut terms: Vec<Signal<'_>>) -> Signal<'_> {
    while terms.len() > 1 {
        terms = terms
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => a.wrapping_add(*b),
                [a] => *a,
                _ => unreachable!("chunks of two"),
            })
            .collect();
    }
    terms[0]
}
