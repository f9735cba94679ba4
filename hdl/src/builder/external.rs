//! External modules: vendor primitives (a PLL, a clock buffer, a LUT) used as blocks.
//!
//! A block whose `build` calls [`ModuleBuilder::external`] stands for a module defined
//! outside the design. Its ports are declared as usual; what it builds behind them is its
//! *simulation model*, which the native simulator runs and which Verilator and Icarus read
//! from [`Verilog::models`](crate::verilog::Verilog::models). Synthesis never sees the model:
//! instances print as the vendor's module with their parameters, which the vendor's tools
//! define.
//!
//! ```
//! use hardwire_hdl::prelude::*;
//! use hardwire_hdl::ir::Param;
//! use hardwire_hdl::verilog::Verilog;
//!
//! /// An ECP5 four-input LUT configured as an AND gate.
//! #[derive(Clone, PartialEq)]
//! struct And4;
//!
//! impl Block for And4 {
//!     fn name(&self) -> String {
//!         "lut4_and".into()
//!     }
//!     fn build(&self, m: &ModuleBuilder<'_>) {
//!         m.external("LUT4", &[("INIT", Param::Int(0x8000))]);
//!         let [a, b, c, d] = ["A", "B", "C", "D"].map(|p| m.input(p, Type::BOOL));
//!         m.output("Z", a & b & c & d);
//!     }
//! }
//!
//! let design = Design::build("top", |m| {
//!     let lut = m.instance("u_lut", &And4);
//!     let x = m.input("x", Type::unsigned(4));
//!     for (i, p) in ["A", "B", "C", "D"].iter().enumerate() {
//!         lut.input(p, x.bit(i as u32));
//!     }
//!     m.output("all", lut.output("Z"));
//! })
//! .unwrap();
//! let v = Verilog::from_design(&design);
//! assert!(v.file("top.v").unwrap().contains("LUT4 #(.INIT(32768)) u_lut ("));
//! assert!(v.file("lut4_and.v").is_none(), "the model is not a synthesis source");
//! assert!(v.models[0].1.contains("module LUT4"));
//! ```
//!
//! One model serves every instance of a vendor module, so every block standing for the same
//! vendor module must build the same model whatever its parameters (the `check-externals`
//! pass compares them).

use super::module::ModuleBuilder;
use crate::diagnostic::{Code, Loc};
use crate::ir::{External, Param};

impl<'e> ModuleBuilder<'e> {
    /// Marks the module being built as the external module `module` (a vendor primitive),
    /// instantiated with `params`; what the block builds is its simulation model.
    #[track_caller]
    pub fn external(&self, module: &str, params: &[(&str, Param)]) {
        let loc = Loc::caller();
        let identifier = |s: &str| {
            s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if let Some(bad) = std::iter::once(module)
            .chain(params.iter().map(|p| p.0))
            .find(|s| !identifier(s))
        {
            self.error(
                Code::BadName,
                loc,
                format!("`{bad}` is not a Verilog identifier, so it cannot name an external module or its parameter"),
            );
            return;
        }
        self.data.borrow_mut().module.external = Some(External {
            module: module.to_string(),
            params: params
                .iter()
                .map(|(n, v)| (n.to_string(), v.clone()))
                .collect(),
        });
    }
}
