//! Registers: state in the module's implicit clock domain.

use super::module::{Assign, ModuleBuilder, Signal};
use crate::bits::Bits;
use crate::diagnostic::{Code, Loc};
use crate::ir::{NodeKind, Reg as IrReg, RegId, Type};

/// A register being built. Read it with [`Reg::q`]; give it a next value with [`Reg::next`]
/// and [`Reg::next_when`] (later calls take priority; where none applies it holds its value).
/// Inside [`ModuleBuilder::when`] both apply only where the scope's condition holds.
#[derive(Clone, Copy)]
pub struct Reg<'a> {
    m: &'a ModuleBuilder<'a>,
    id: RegId,
    q: Signal<'a>,
}

impl<'e> ModuleBuilder<'e> {
    /// Declares a register without reset.
    #[track_caller]
    pub fn reg(&self, name: &str, ty: Type) -> Reg<'_> {
        self.reg_at(name, ty, Loc::caller())
    }

    pub(super) fn reg_at(&self, name: &str, ty: Type, loc: Loc) -> Reg<'_> {
        self.claim_name(name, "a register", loc);
        let ty = self.check_width(&format!("register `{name}`"), ty, loc);
        let domain = self.use_domain();
        let id = {
            let mut d = self.data.borrow_mut();
            let id = RegId(d.module.regs.len() as u32);
            d.module.regs.push(IrReg {
                name: name.to_string(),
                ty,
                reset: None,
                next: None,
                enable: None,
                domain,
                synchronizer: false,
                labels: Vec::new(),
                loc,
            });
            id
        };
        let q = self.signal(NodeKind::RegQ(id), ty, loc);
        self.data.borrow_mut().reg_assigns.push((q.id, Vec::new()));
        Reg { m: self, id, q }
    }
}

impl<'a> Reg<'a> {
    /// The register's current value.
    pub fn q(&self) -> Signal<'a> {
        self.q
    }

    /// Sets the value loaded while `rst` is high (wrapping to the width).
    #[track_caller]
    pub fn reset(self, value: i64) -> Self {
        let ty = self.q.ty;
        self.reset_bits(Bits::from_i128(value.into(), ty.width))
    }

    /// Sets the reset value from bits of the register's width.
    #[track_caller]
    pub fn reset_bits(self, value: Bits) -> Self {
        let loc = Loc::caller();
        let ty = self.q.ty;
        if value.width() != ty.width {
            self.m.error(
                Code::WidthMismatch,
                loc,
                format!(
                    "the reset value of `{}` has {} bits but the register is {ty}",
                    self.name(),
                    value.width()
                ),
            );
            return self;
        }
        self.m.data.borrow_mut().module.regs[self.id.0 as usize].reset = Some(value);
        self
    }

    /// Marks the register as the first stage of a synchroniser: it samples a signal of
    /// another clock domain on purpose, so the crossing check accepts it, and the Verilog
    /// tells synthesis (`ASYNC_REG`) to place the stages together. Prefer
    /// [`Synchronizer`](crate::primitives::Synchronizer), which is built this way.
    pub fn synchronizer(self) -> Self {
        self.m.data.borrow_mut().module.regs[self.id.0 as usize].synchronizer = true;
        self
    }

    /// Loads only on edges where `en` is high (in addition to any conditions of `next_when`).
    #[track_caller]
    pub fn enable(self, en: Signal<'a>) -> Self {
        let loc = Loc::caller();
        self.m
            .check_bool(&format!("the enable of `{}`", self.name()), en, loc);
        self.m.data.borrow_mut().module.regs[self.id.0 as usize].enable = Some(en.id);
        self
    }

    /// Loads `value` on every (enabled) edge, unless a later `next_when` applies.
    #[track_caller]
    pub fn next(&self, value: Signal<'a>) {
        self.push(None, value, Loc::caller());
    }

    /// Loads `value` on edges where `cond` is high; later calls take priority.
    #[track_caller]
    pub fn next_when(&self, cond: Signal<'a>, value: Signal<'a>) {
        let loc = Loc::caller();
        self.m
            .check_bool(&format!("the condition for `{}`", self.name()), cond, loc);
        self.push(Some(cond.id), value, loc);
    }

    pub(super) fn id(&self) -> RegId {
        self.id
    }

    fn name(&self) -> String {
        self.m.data.borrow().module.regs[self.id.0 as usize]
            .name
            .clone()
    }

    fn push(&self, cond: Option<crate::ir::NodeId>, value: Signal<'a>, loc: Loc) {
        let cond = self.m.guarded(cond, loc);
        let ty = self.q.ty;
        if value.ty != ty {
            self.m.error(
                Code::WidthMismatch,
                loc,
                format!(
                    "the next value of register `{}` ({ty}) is `{}` ({}); convert it with \
                     `.trunc()`, `.resize()` or `.saturate()`",
                    self.name(),
                    self.m.describe(value.id),
                    value.ty
                ),
            );
            return;
        }
        self.m.data.borrow_mut().reg_assigns[self.id.0 as usize]
            .1
            .push(Assign {
                cond,
                value: value.id,
                loc,
            });
    }
}
