//! # hardwire-sim
//!
//! A compiled, cycle-based simulator of [`hardwire_hdl::ir::Design`]s, with a testbench API
//! and VCD waveforms.
//!
//! [`Simulator::new`] flattens the hierarchy, resolves wires, casts and ports to the nodes
//! that compute them, puts the combinational logic in one topological order, and compiles it
//! to a flat list of fixed-operand instructions over one `Vec<u64>` of state (one word per
//! value up to 64 bits, `ceil(w / 64)` above). A cycle is one pass over that list plus the
//! register and memory commits: no name lookup, dynamic dispatch or allocation per signal.
//!
//! [`Reference`] is the slow, obviously correct interpreter of the same semantics, working
//! on [`hardwire_hdl::Bits`] node by node; the tests hold the two equal.
//!
//! ```ignore
//! use hardwire_sim::Simulator;
//! let mut sim = Simulator::new(&design)?;
//! sim.reset(1)?;
//! sim.poke("x", 5)?;
//! sim.step();
//! let y = sim.peek("y")?;
//! let acc = sim.peek_bits("u_child.acc")?;
//! ```

mod compile;
pub mod cosim;
mod error;
mod exec;
mod flatten;
mod fuse;
mod instr;
pub mod reference;
mod testbench;
pub mod vcd;
mod wide;

pub use error::SimError;
pub use reference::Reference;
pub use testbench::{InputId, SignalId, Simulator};
