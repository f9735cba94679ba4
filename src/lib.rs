//! # hardwire
//!
//! Turn a transformer into hardware with its weights baked in. This crate holds the command
//! line and the flows that join the others, which are re-exported here so one dependency
//! brings the whole tool:
//!
//! - [`hdl`]: the embedded hardware description language, checked IR, passes and Verilog;
//! - [`blocks`]: the transformer's blocks as hardware, and the UART, token link and reset
//!   synchroniser that put a core on a board;
//! - [`sim`]: the compiled native simulator and Verilator/Icarus co-simulation;
//! - [`model`]: Llama configuration, weight import, the f32 reference and the fixed-point
//!   golden model the hardware matches bit for bit;
//! - [`fpga`]: boards, parts and synthesis flows.

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub mod board_flow;
pub mod fit;
pub mod plot;

pub use hardwire_blocks as blocks;
pub use hardwire_fpga as fpga;
pub use hardwire_hdl as hdl;
pub use hardwire_model as model;
pub use hardwire_sim as sim;
pub mod report;
pub mod scale;
pub mod sweep;
pub mod token_stream;
