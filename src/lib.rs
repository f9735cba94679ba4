//! # hardwire
//!
//! Turn a transformer into hardware with its weights baked in. This crate holds the
//! transformer blocks as hardware, built with the DSL of [`hdl`]; the other crates are
//! re-exported here so one dependency brings the whole tool:
//!
//! - [`hdl`]: the embedded hardware description language, checked IR, passes and Verilog;
//! - [`sim`]: the compiled native simulator and Verilator/Icarus co-simulation;
//! - [`model`]: Llama configuration, weight import, the f32 reference and the fixed-point
//!   golden model the hardware matches bit for bit;
//! - [`fpga`]: boards, parts and synthesis flows.

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub mod blocks;
pub mod board_flow;
pub mod fit;
pub mod plot;

pub use hardwire_fpga as fpga;
pub use hardwire_hdl as hdl;
pub use hardwire_model as model;
pub use hardwire_sim as sim;
pub mod report;
pub mod token_stream;
