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
//! Compiling takes about a millisecond for a thousand-node design, so the first cycle runs
//! long before a Verilator build would finish.
//!
//! What makes the pass short:
//! - idle logic is skipped: the program is cut into partitions, one per instance (merged
//!   where instances feed each other both ways, cut where large), and a partition runs only
//!   when a word it reads changed since it last ran; the edge's register commits and
//!   memory reads likewise run only when their inputs changed. A core whose units take
//!   turns pays for the unit that is busy. Where most logic changes every cycle anyway,
//!   the bookkeeping costs more than it saves, so by default the simulator measures and
//!   falls back to evaluating everything while that lasts ([`Evaluation`]);
//! - only the logic that registers and memories read runs at all; logic that is only
//!   peeked or traced runs when someone looks;
//! - small operations are folded into the instructions that read them (a field of a bus,
//!   a sign extension, a shift by a constant, a truncated sum become operand shifts of one
//!   fused add or multiply), and buses packed then unpacked again cost nothing;
//! - alike instructions are grouped by level and executed in runs, one dispatch per run;
//! - registers commit readers first, so pipelines and shift registers are block copies.
//!
//! [`Reference`] is the slow, obviously correct interpreter of the same semantics, working
//! on [`hardwire_hdl::Bits`] node by node; the property tests hold the two equal.
//!
//! ```
//! use hardwire_hdl::prelude::*;
//! use hardwire_sim::Simulator;
//!
//! // An accumulator: acc <= acc + x while en is high.
//! let design = Design::build("acc", |m| {
//!     let x = m.input("x", Type::signed(8));
//!     let en = m.input("en", Type::BOOL);
//!     let acc = m.reg("acc", Type::signed(16)).reset(0);
//!     acc.next_when(en, (acc.q() + x.extend(16)).trunc(16));
//!     m.output("sum", acc.q());
//! })?;
//!
//! let mut sim = Simulator::new(&design)?;
//! sim.reset(1)?;
//! sim.poke_i64("x", -3)?;
//! sim.poke("en", 1)?;
//! sim.run(4);
//! assert_eq!(sim.peek_i64("sum")?, -12);
//!
//! // Handles skip the name lookup in hot loops.
//! let (x, sum) = (sim.input("x")?, sim.signal("sum")?);
//! sim.set(x, 5);
//! sim.step();
//! assert_eq!(sim.get(sum), (-7i64 as u64) & 0xffff);
//! let cycles = sim.run_until(|s| s.peek_i64("sum").unwrap() >= 0, 10)?;
//! assert_eq!(cycles, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod access;
mod activity;
mod clocks;
mod commit;
mod compile;
pub mod cosim;
mod error;
mod exec;
mod flatten;
mod fuse;
mod instr;
mod partition;
pub mod reference;
mod sum;
mod testbench;
pub mod vcd;
mod wide;

pub use activity::Evaluation;
pub use clocks::DEFAULT_PERIOD_PS;
pub use error::SimError;
pub use reference::Reference;
pub use testbench::{InputId, SignalId, Simulator};
