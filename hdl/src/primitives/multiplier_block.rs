//! [`MultiplierBlock`]: one 18 × 18 multiplier block with its product registered inside it.
//!
//! An FPGA's multiplier is a hard block some way from the logic around it. A product
//! registered in logic has two routes in its cycle, to the block and back; registered inside
//! the block (the ECP5 MULT18X18D's output register, the DSP48's P register) it has only the
//! route in. The module this block builds is a plain registered product, which simulators,
//! linters and yosys' `synth_xilinx` (which moves the register into the DSP48) read as it is.
//! yosys' `synth_ecp5` leaves registers outside the MULT18X18D, so the ECP5 flow replaces
//! the module's file with an explicit MULT18X18D that registers its output.
//!
//! ```
//! use hardwire_hdl::prelude::*;
//! use hardwire_hdl::primitives::{registered_product, MultiplierBlock};
//! use hardwire_hdl::verilog::Verilog;
//!
//! let design = Design::build("top", |m| {
//!     let a = m.input("a", Type::signed(12));
//!     let b = m.input("b", Type::signed(9));
//!     m.output("p", registered_product("prod", a, b));
//! })
//! .unwrap();
//! let v = Verilog::from_design(&design);
//! let cell = MultiplierBlock { signed: true }.file_name();
//! assert!(v.file(&cell).unwrap().contains("$signed(a) * $signed(b)"));
//! assert!(v.file("top.v").unwrap().contains("mul18x18_signed prod ("));
//! ```

use super::split_product::DSP_BITS;
use crate::builder::{Block, ModuleBuilder, Signal};

/// A multiplier block: `p` is `a * b` of the previous edge, its operands `DSP_BITS` (18) bits
/// of the block's signedness. Its register has no reset (a multiplier block's output register
/// starts at zero and is never reset in a pipeline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MultiplierBlock {
    /// Two's-complement operands, rather than unsigned.
    pub signed: bool,
}

impl MultiplierBlock {
    /// Both multiplier blocks a design may hold.
    pub const ALL: [MultiplierBlock; 2] = [
        MultiplierBlock { signed: true },
        MultiplierBlock { signed: false },
    ];

    /// The name of the module it builds.
    pub fn module_name(&self) -> &'static str {
        match self.signed {
            true => "mul18x18_signed",
            false => "mul18x18_unsigned",
        }
    }

    /// The name of the module's file in [`Verilog`](crate::verilog::Verilog).
    pub fn file_name(&self) -> String {
        format!("{}.v", self.module_name())
    }
}

impl Block for MultiplierBlock {
    fn name(&self) -> String {
        self.module_name().into()
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let ty = match self.signed {
            true => crate::ir::Type::signed(DSP_BITS),
            false => crate::ir::Type::unsigned(DSP_BITS),
        };
        let (a, b) = (m.input("a", ty), m.input("b", ty));
        let p = m.reg("product", ty.with_width(2 * DSP_BITS));
        p.next(a * b);
        m.output("p", p.q());
    }
}

/// `a * b` one cycle later, from a [`MultiplierBlock`] instance named `name`: operands of
/// the same signedness and at most 18 bits each, the exact product of their widths added.
#[track_caller]
pub fn registered_product<'a>(name: &str, a: Signal<'a>, b: Signal<'a>) -> Signal<'a> {
    let m = a.m;
    let ty = a.ty();
    if ty.signed != b.ty().signed || a.width() > DSP_BITS || b.width() > DSP_BITS {
        m.bad_parameter(format!(
            "`{name}`: a multiplier block takes two operands of the same signedness and at most \
             {DSP_BITS} bits, not {} and {}",
            a.ty(),
            b.ty()
        ));
        return a.extend(a.width() + b.width());
    }
    let u = m.instance(name, &MultiplierBlock { signed: ty.signed });
    u.input("a", a.extend(DSP_BITS));
    u.input("b", b.extend(DSP_BITS));
    let p = u.output("p").bits(a.width() + b.width() - 1, 0);
    match ty.signed {
        true => p.as_signed(),
        false => p,
    }
}
