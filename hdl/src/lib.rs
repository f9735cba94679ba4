//! # hardwire-hdl
//!
//! An embedded hardware description language in the generator style of kaze and Chisel:
//! Rust code runs to elaborate a module through a [`ModuleBuilder`], so sizes come from
//! ordinary values. The result is a checked [`ir::Design`] that the simulator
//! (`hardwire-sim`) and the Verilog backend ([`verilog`]) both read.

pub mod bits;
pub mod diagnostic;
pub mod ir;

pub use bits::Bits;
pub use diagnostic::{Code, Diagnostic, HdlError, Loc};
pub use ir::{Design, Type};
pub mod builder;
pub mod eval;
pub mod miter;
pub mod passes;
pub mod primitives;
pub mod verilog;

pub use builder::{
    Block, Counter, Fsm, Instance, IntoOperand, Memory, ModuleBuilder, Reg, Signal, Source, States,
    Stream, When,
};

/// Everything needed to describe hardware: `use hardwire_hdl::prelude::*;`.
pub mod prelude {
    pub use crate::bits::Bits;
    pub use crate::builder::{
        Block, ClockDomain, Counter, Fsm, Instance, Memory, ModuleBuilder, Pipeline, Reg, Signal,
        Source, Staged, States, Stream, When,
    };
    pub use crate::ir::{CheckKind, Design, MemStyle, Reset, Type};
}
