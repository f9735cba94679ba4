//! Operators and conversions on [`Signal`], with the width rules of [`crate::ir::BinaryOp`]:
//! sums and products grow so they are exact, and narrowing is always explicit.

use std::ops;

use super::module::Signal;
use crate::bits::Bits;
use crate::diagnostic::{Code, Loc};
use crate::ir::{BinaryOp, NodeKind, Type, UnaryOp};

/// Something usable as the second operand of an operation on a [`Signal`]: another signal,
/// or an integer constant that takes the signal's signedness and the width its value needs.
pub trait IntoOperand<'a> {
    /// The operand as a signal, with `other` giving the context.
    fn into_operand(self, other: Signal<'a>, loc: Loc) -> Signal<'a>;
}

impl<'a> IntoOperand<'a> for Signal<'a> {
    fn into_operand(self, _: Signal<'a>, _: Loc) -> Signal<'a> {
        self
    }
}

impl<'a> IntoOperand<'a> for i64 {
    fn into_operand(self, other: Signal<'a>, loc: Loc) -> Signal<'a> {
        let m = other.m;
        let signed = other.ty.signed;
        if self < 0 && !signed {
            m.error(
                Code::SignMismatch,
                loc,
                format!(
                    "the constant {self} is negative but `{}` is unsigned; use `.as_signed()` or \
                     a signed signal",
                    m.describe(other.id)
                ),
            );
        }
        let width = min_width(self, signed);
        m.constant_at(
            Bits::from_i128(self.into(), width),
            Type { width, signed },
            loc,
        )
    }
}

/// The fewest bits that hold `value` in the given signedness.
pub fn min_width(value: i64, signed: bool) -> u32 {
    if signed {
        let v = if value < 0 { !value } else { value };
        65 - v.leading_zeros()
    } else {
        (64 - (value as u64).leading_zeros()).max(1)
    }
}

impl<'a> Signal<'a> {
    /// The type of this signal.
    pub fn ty(&self) -> Type {
        self.ty
    }

    /// The width in bits.
    pub fn width(&self) -> u32 {
        self.ty.width
    }

    /// The IR node behind this signal.
    pub fn node(&self) -> crate::ir::NodeId {
        self.id
    }

    fn unary(self, op: UnaryOp, ty: Type, loc: Loc) -> Signal<'a> {
        self.m.signal(NodeKind::Unary(op, self.id), ty, loc)
    }

    fn binary(self, op: BinaryOp, rhs: Signal<'a>, loc: Loc) -> Signal<'a> {
        let (a, b) = (self.ty, rhs.ty);
        let m = self.m;
        let shift = matches!(op, BinaryOp::Shl | BinaryOp::Shr);
        if a.signed != b.signed && !shift {
            m.error(
                Code::SignMismatch,
                loc,
                format!(
                    "{op:?} mixes `{}` ({a}) and `{}` ({b}); convert one with `.as_signed()` or \
                     `.as_unsigned()` (after `.resize()` if its value needs the extra bit)",
                    m.describe(self.id),
                    m.describe(rhs.id)
                ),
            );
        }
        let bitwise = matches!(op, BinaryOp::And | BinaryOp::Or | BinaryOp::Xor);
        if bitwise && a.width != b.width {
            m.error(
                Code::WidthMismatch,
                loc,
                format!(
                    "{op:?} needs operands of equal width, but `{}` is {a} and `{}` is {b}; \
                     `.resize()` one of them",
                    m.describe(self.id),
                    m.describe(rhs.id)
                ),
            );
        }
        let ty = result_type(op, a, b);
        m.signal(NodeKind::Binary(op, self.id, rhs.id), ty, loc)
    }

    /// Equality with another signal or a constant; one bit.
    #[track_caller]
    pub fn eq(self, rhs: impl IntoOperand<'a>) -> Signal<'a> {
        let loc = Loc::caller();
        self.binary(BinaryOp::Eq, rhs.into_operand(self, loc), loc)
    }

    /// Inequality; one bit.
    #[track_caller]
    pub fn ne(self, rhs: impl IntoOperand<'a>) -> Signal<'a> {
        let loc = Loc::caller();
        self.binary(BinaryOp::Ne, rhs.into_operand(self, loc), loc)
    }

    /// `self < rhs`, signed or unsigned by the operands; one bit.
    #[track_caller]
    pub fn lt(self, rhs: impl IntoOperand<'a>) -> Signal<'a> {
        let loc = Loc::caller();
        self.binary(BinaryOp::Lt, rhs.into_operand(self, loc), loc)
    }

    /// `self <= rhs`; one bit.
    #[track_caller]
    pub fn le(self, rhs: impl IntoOperand<'a>) -> Signal<'a> {
        let loc = Loc::caller();
        self.binary(BinaryOp::Le, rhs.into_operand(self, loc), loc)
    }

    /// `self > rhs`; one bit.
    #[track_caller]
    pub fn gt(self, rhs: impl IntoOperand<'a>) -> Signal<'a> {
        let loc = Loc::caller();
        let rhs = rhs.into_operand(self, loc);
        rhs.binary(BinaryOp::Lt, self, loc)
    }

    /// `self >= rhs`; one bit.
    #[track_caller]
    pub fn ge(self, rhs: impl IntoOperand<'a>) -> Signal<'a> {
        let loc = Loc::caller();
        let rhs = rhs.into_operand(self, loc);
        rhs.binary(BinaryOp::Le, self, loc)
    }

    /// `self ? a : b` for a one-bit `self`; `a` and `b` must have the same type.
    #[track_caller]
    pub fn mux(self, a: impl IntoOperand<'a>, b: impl IntoOperand<'a>) -> Signal<'a> {
        let loc = Loc::caller();
        let m = self.m;
        m.check_bool("the select of a mux", self, loc);
        let a = a.into_operand(self, loc);
        let b = b.into_operand(a, loc);
        let (a, b) = (widen_const(a, b.ty, loc), widen_const(b, a.ty, loc));
        if a.ty != b.ty {
            m.error(
                Code::WidthMismatch,
                loc,
                format!(
                    "the two sides of a mux differ: `{}` is {} and `{}` is {}; `.resize()` one",
                    m.describe(a.id),
                    a.ty,
                    m.describe(b.id),
                    b.ty
                ),
            );
        }
        m.signal(NodeKind::Mux(self.id, a.id, b.id), a.ty, loc)
    }

    /// Bits `hi` down to `lo` inclusive, as in Verilog's `x[hi:lo]`; unsigned.
    #[track_caller]
    pub fn bits(self, hi: u32, lo: u32) -> Signal<'a> {
        let loc = Loc::caller();
        if hi < lo || hi >= self.ty.width {
            self.m.error(
                Code::BadParameter,
                loc,
                format!(
                    "bits({hi}, {lo}) is out of range for `{}`, which is {}",
                    self.m.describe(self.id),
                    self.ty
                ),
            );
            return self.m.constant_at(Bits::zero(1), Type::BOOL, loc);
        }
        self.m.signal(
            NodeKind::Slice(self.id, lo),
            Type::unsigned(hi - lo + 1),
            loc,
        )
    }

    /// Bit `i`; one unsigned bit.
    #[track_caller]
    pub fn bit(self, i: u32) -> Signal<'a> {
        self.bits(i, i)
    }

    /// Concatenates `low` below `self`; unsigned.
    #[track_caller]
    pub fn concat(self, low: Signal<'a>) -> Signal<'a> {
        let ty = Type::unsigned(self.ty.width + low.ty.width);
        self.m
            .signal(NodeKind::Concat(vec![self.id, low.id]), ty, Loc::caller())
    }

    /// Extends (by this signal's signedness) or truncates to `width`.
    #[track_caller]
    pub fn resize(self, width: u32) -> Signal<'a> {
        self.resize_at(width, Loc::caller())
    }

    pub(super) fn resize_at(self, width: u32, loc: Loc) -> Signal<'a> {
        if width == self.ty.width {
            return self;
        }
        let ty = self
            .m
            .check_width("a resize", self.ty.with_width(width), loc);
        self.m.signal(NodeKind::Resize(self.id), ty, loc)
    }

    /// Keeps the low `width` bits; `width` must not exceed the current width.
    #[track_caller]
    pub fn trunc(self, width: u32) -> Signal<'a> {
        let loc = Loc::caller();
        if width > self.ty.width {
            self.m.error(
                Code::WidthMismatch,
                loc,
                format!(
                    "cannot truncate `{}` ({}) to a wider {width} bits; use `.extend()`",
                    self.m.describe(self.id),
                    self.ty
                ),
            );
        }
        self.resize_at(width, loc)
    }

    /// `self + rhs` at this signal's width, wrapping around on overflow (the hardware's
    /// counters and ring pointers): `count.q().wrapping_add(1)`.
    #[track_caller]
    pub fn wrapping_add(self, rhs: impl IntoOperand<'a>) -> Signal<'a> {
        self.wrapping(BinaryOp::Add, rhs, Loc::caller())
    }

    /// `self - rhs` at this signal's width, wrapping around on underflow.
    #[track_caller]
    pub fn wrapping_sub(self, rhs: impl IntoOperand<'a>) -> Signal<'a> {
        self.wrapping(BinaryOp::Sub, rhs, Loc::caller())
    }

    fn wrapping(self, op: BinaryOp, rhs: impl IntoOperand<'a>, loc: Loc) -> Signal<'a> {
        let rhs = rhs.into_operand(self, loc);
        self.binary(op, rhs, loc).resize_at(self.ty.width, loc)
    }

    /// Extends to `width` by this signal's signedness; `width` must not be narrower.
    #[track_caller]
    pub fn extend(self, width: u32) -> Signal<'a> {
        let loc = Loc::caller();
        if width < self.ty.width {
            self.m.error(
                Code::WidthMismatch,
                loc,
                format!(
                    "cannot extend `{}` ({}) to a narrower {width} bits; use `.trunc()` or \
                     `.saturate()`",
                    self.m.describe(self.id),
                    self.ty
                ),
            );
        }
        self.resize_at(width, loc)
    }

    /// Clamps to the range of a `width`-bit value of the same signedness, then narrows.
    #[track_caller]
    pub fn saturate(self, width: u32) -> Signal<'a> {
        let loc = Loc::caller();
        if width >= self.ty.width {
            return self.resize_at(width, loc);
        }
        let m = self.m;
        let (lo, hi) = if self.ty.signed {
            (
                Bits::from_i128(-(1i128 << (width - 1)), self.ty.width),
                Bits::from_i128((1i128 << (width - 1)) - 1, self.ty.width),
            )
        } else {
            (
                Bits::zero(self.ty.width),
                Bits::from_i128((1i128 << width) - 1, self.ty.width),
            )
        };
        let lo = m.constant_at(lo, self.ty, loc);
        let hi = m.constant_at(hi, self.ty, loc);
        let over = hi.binary(BinaryOp::Lt, self, loc);
        let clamped = if self.ty.signed {
            let under = self.binary(BinaryOp::Lt, lo, loc);
            under.mux(lo, over.mux(hi, self))
        } else {
            over.mux(hi, self)
        };
        clamped.resize_at(width, loc)
    }

    /// The same bits read as signed.
    #[track_caller]
    pub fn as_signed(self) -> Signal<'a> {
        self.cast(true, Loc::caller())
    }

    /// The same bits read as unsigned.
    #[track_caller]
    pub fn as_unsigned(self) -> Signal<'a> {
        self.cast(false, Loc::caller())
    }

    /// Whether the value is a constant: built from literals by slices, resizes, casts and
    /// concatenations only (what the passes fold before synthesis).
    pub(crate) fn is_constant(self) -> bool {
        let data = self.m.data.borrow();
        let mut todo = vec![self.id];
        while let Some(id) = todo.pop() {
            match &data.module.node(id).kind {
                NodeKind::Const(_) => {}
                k @ (NodeKind::Slice(..)
                | NodeKind::Resize(_)
                | NodeKind::Cast(_)
                | NodeKind::Concat(_)) => todo.extend(k.operands()),
                _ => return false,
            }
        }
        true
    }

    fn cast(self, signed: bool, loc: Loc) -> Signal<'a> {
        if self.ty.signed == signed {
            return self;
        }
        self.m.signal(
            NodeKind::Cast(self.id),
            Type {
                width: self.ty.width,
                signed,
            },
            loc,
        )
    }

    /// True when every bit is set.
    #[track_caller]
    pub fn all(self) -> Signal<'a> {
        self.unary(UnaryOp::ReduceAnd, Type::BOOL, Loc::caller())
    }

    /// True when any bit is set.
    #[track_caller]
    pub fn any(self) -> Signal<'a> {
        self.unary(UnaryOp::ReduceOr, Type::BOOL, Loc::caller())
    }

    /// XOR of all bits.
    #[track_caller]
    pub fn parity(self) -> Signal<'a> {
        self.unary(UnaryOp::ReduceXor, Type::BOOL, Loc::caller())
    }

    /// Shift left by a signal amount, keeping the width.
    #[track_caller]
    pub fn shl_by(self, amount: Signal<'a>) -> Signal<'a> {
        self.binary(BinaryOp::Shl, amount.as_unsigned(), Loc::caller())
    }

    /// Shift right by a signal amount (arithmetic when signed), keeping the width.
    #[track_caller]
    pub fn shr_by(self, amount: Signal<'a>) -> Signal<'a> {
        self.binary(BinaryOp::Shr, amount.as_unsigned(), Loc::caller())
    }

    fn shift_const(self, op: BinaryOp, amount: u32, loc: Loc) -> Signal<'a> {
        if amount == 0 {
            return self;
        }
        let w = min_width(amount.into(), false);
        let amt = self
            .m
            .constant_at(Bits::from_u64(amount.into(), w), Type::unsigned(w), loc);
        self.binary(op, amt, loc)
    }
}

/// The result type of a binary operation, per the rules documented on [`BinaryOp`].
pub fn result_type(op: BinaryOp, a: Type, b: Type) -> Type {
    match op {
        BinaryOp::Add | BinaryOp::Sub => a.with_width(a.width.max(b.width) + 1),
        BinaryOp::Mul => a.with_width(a.width + b.width),
        BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => a.with_width(a.width.max(b.width)),
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le => Type::BOOL,
        BinaryOp::Shl | BinaryOp::Shr => a,
    }
}

/// Integer constants in a mux adopt the other side's type, so `sel.mux(x, 0)` works.
fn widen_const<'a>(s: Signal<'a>, ty: Type, loc: Loc) -> Signal<'a> {
    let m = s.m;
    let value = match &m.data.borrow().module.node(s.id).kind {
        NodeKind::Const(v) if s.ty.signed == ty.signed && s.ty.width < ty.width => {
            v.resize(ty.width, ty.signed)
        }
        _ => return s,
    };
    m.constant_at(value, ty, loc)
}

macro_rules! binary_operator {
    ($trait:ident, $method:ident, $op:expr) => {
        impl<'a, R: IntoOperand<'a>> ops::$trait<R> for Signal<'a> {
            type Output = Signal<'a>;
            #[track_caller]
            fn $method(self, rhs: R) -> Signal<'a> {
                let loc = Loc::caller();
                let rhs = rhs.into_operand(self, loc);
                let rhs = if matches!($op, BinaryOp::And | BinaryOp::Or | BinaryOp::Xor) {
                    widen_const(rhs, self.ty, loc)
                } else {
                    rhs
                };
                self.binary($op, rhs, loc)
            }
        }
    };
}

binary_operator!(Add, add, BinaryOp::Add);
binary_operator!(Sub, sub, BinaryOp::Sub);
binary_operator!(Mul, mul, BinaryOp::Mul);
binary_operator!(BitAnd, bitand, BinaryOp::And);
binary_operator!(BitOr, bitor, BinaryOp::Or);
binary_operator!(BitXor, bitxor, BinaryOp::Xor);

impl<'a> ops::Shl<u32> for Signal<'a> {
    type Output = Signal<'a>;
    /// Shift left by a constant, keeping the width.
    #[track_caller]
    fn shl(self, amount: u32) -> Signal<'a> {
        self.shift_const(BinaryOp::Shl, amount, Loc::caller())
    }
}

impl<'a> ops::Shr<u32> for Signal<'a> {
    type Output = Signal<'a>;
    /// Shift right by a constant (arithmetic when signed), keeping the width.
    #[track_caller]
    fn shr(self, amount: u32) -> Signal<'a> {
        self.shift_const(BinaryOp::Shr, amount, Loc::caller())
    }
}

impl<'a> ops::Not for Signal<'a> {
    type Output = Signal<'a>;
    #[track_caller]
    fn not(self) -> Signal<'a> {
        self.unary(UnaryOp::Not, self.ty, Loc::caller())
    }
}

impl<'a> ops::Neg for Signal<'a> {
    type Output = Signal<'a>;
    /// Negation of a signed value, one bit wider so that negating the minimum is exact.
    #[track_caller]
    fn neg(self) -> Signal<'a> {
        let loc = Loc::caller();
        if !self.ty.signed {
            self.m.error(
                Code::SignMismatch,
                loc,
                format!(
                    "cannot negate unsigned `{}`; `.as_signed()` it after extending by a bit",
                    self.m.describe(self.id)
                ),
            );
        }
        self.unary(UnaryOp::Neg, self.ty.with_width(self.ty.width + 1), loc)
    }
}

#[cfg(test)]
mod tests {
    use super::min_width;

    #[test]
    fn min_width_fits_the_value() {
        assert_eq!(min_width(0, false), 1);
        assert_eq!(min_width(1, false), 1);
        assert_eq!(min_width(255, false), 8);
        assert_eq!(min_width(0, true), 1);
        assert_eq!(min_width(-1, true), 1);
        assert_eq!(min_width(1, true), 2);
        assert_eq!(min_width(-128, true), 8);
        assert_eq!(min_width(127, true), 8);
    }
}
