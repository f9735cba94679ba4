//! # hardwire-rusthdl
//!
//! A hardwire design used as a [rust-hdl](https://crates.io/crates/rust-hdl) block.
//!
//! rust-hdl sizes its signals with const generics, while hardwire elaborates sizes at run
//! time, so the bridge is a block with one input bus and one output bus:
//! [`HardwireBlock<I, O>`]'s `bus_in` carries the hardwire top's inputs concatenated (the
//! first declared input in the low bits) and `bus_out` its outputs the same way. Its Verilog is
//! the hardwire design, instantiated inside the wrapper rust-hdl generates; its behaviour in
//! rust-hdl's simulator is hardwire's native simulator, stepped on each rising edge of
//! `clock` with the inputs present at the edge (as a rust-hdl `DFF` samples `d`).
//!
//! ```no_run
//! use hardwire_hdl::prelude::*;
//! use hardwire_rusthdl::HardwireBlock;
//!
//! let design = Design::build("acc", |m| {
//!     let x = m.input("x", Type::unsigned(8));
//!     let acc = m.reg("total", Type::unsigned(16)).reset(0);
//!     acc.next((acc.q() + x.extend(16)).trunc(16));
//!     m.output("sum", acc.q());
//! })
//! .unwrap();
//! let block = HardwireBlock::<8, 16>::new(design).unwrap();
//! ```

use hardwire_hdl::ir::{Design, Direction};
use hardwire_hdl::verilog::Verilog as HwVerilog;
use hardwire_hdl::Bits as HwBits;
use hardwire_sim::{InputId, SignalId, Simulator};
use rust_hdl::prelude::*;

/// Why a design cannot become a rust-hdl block of the requested shape.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The design's ports do not add up to the bus widths.
    #[error("the design's {what} add up to {actual} bits but the block was declared with {declared}: declare HardwireBlock<{inputs}, {outputs}>")]
    Width {
        /// `inputs` or `outputs`.
        what: &'static str,
        /// Sum of the port widths.
        actual: usize,
        /// The const generic given.
        declared: usize,
        /// The input width to declare.
        inputs: usize,
        /// The output width to declare.
        outputs: usize,
    },
    /// The native simulator refused the design.
    #[error(transparent)]
    Sim(#[from] hardwire_sim::SimError),
}

/// One port's place on a bus.
struct Lane<H> {
    handle: H,
    offset: usize,
    width: u32,
}

/// An input is driven by name: the simulator's handles set at most 64 bits.
type InputLane = Lane<String>;

/// A hardwire design as a rust-hdl block; see the crate documentation.
pub struct HardwireBlock<const I: usize, const O: usize> {
    /// The clock; the design's registers load on its rising edge.
    pub clock: Signal<In, Clock>,
    /// Synchronous, active-high reset (the design's `rst`).
    pub reset: Signal<In, Bit>,
    /// The design's inputs, concatenated, first declared in the low bits.
    pub bus_in: Signal<In, Bits<I>>,
    /// The design's outputs, concatenated, first declared in the low bits.
    pub bus_out: Signal<Out, Bits<O>>,
    sim: Simulator,
    inputs: Vec<InputLane>,
    outputs: Vec<Lane<SignalId>>,
    rst: Option<InputId>,
    clock_was_high: bool,
    verilog: HwVerilog,
    port_map: Vec<(String, Direction, usize, u32)>,
}

impl<const I: usize, const O: usize> HardwireBlock<I, O> {
    /// Wraps `design`, checking that its inputs and outputs fill `I` and `O` bits exactly.
    pub fn new(design: Design) -> Result<Self, BridgeError> {
        let top = design.top_module();
        let width = |dir| {
            top.ports
                .iter()
                .filter(|p| p.dir == dir)
                .map(|p| p.ty.width as usize)
                .sum::<usize>()
        };
        let (wi, wo) = (width(Direction::Input), width(Direction::Output));
        for (what, actual, declared) in [("inputs", wi, I), ("outputs", wo, O)] {
            if actual != declared {
                return Err(BridgeError::Width {
                    what,
                    actual,
                    declared,
                    inputs: wi,
                    outputs: wo,
                });
            }
        }
        let sim = Simulator::new(&design)?;
        let mut port_map = Vec::new();
        let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
        let (mut in_off, mut out_off) = (0, 0);
        for p in &top.ports {
            match p.dir {
                Direction::Input => {
                    sim.input(&p.name)?;
                    inputs.push(Lane {
                        handle: p.name.clone(),
                        offset: in_off,
                        width: p.ty.width,
                    });
                    port_map.push((p.name.clone(), p.dir, in_off, p.ty.width));
                    in_off += p.ty.width as usize;
                }
                Direction::Output => {
                    outputs.push(Lane {
                        handle: sim.signal(&p.name)?,
                        offset: out_off,
                        width: p.ty.width,
                    });
                    port_map.push((p.name.clone(), p.dir, out_off, p.ty.width));
                    out_off += p.ty.width as usize;
                }
            }
        }
        let rst = if top.clocked {
            Some(sim.input("rst")?)
        } else {
            None
        };
        Ok(HardwireBlock {
            clock: Default::default(),
            reset: Default::default(),
            bus_in: Default::default(),
            bus_out: Default::default(),
            sim,
            inputs,
            outputs,
            rst,
            clock_was_high: false,
            verilog: HwVerilog::from_design(&design),
            port_map,
        })
    }

    fn drive_inputs(&mut self) {
        let bus = self.bus_in.val();
        for lane in &self.inputs {
            let mut words = vec![0u64; (lane.width as usize).div_ceil(64)];
            for b in 0..lane.width as usize {
                if bus.get_bit(lane.offset + b) {
                    words[b / 64] |= 1 << (b % 64);
                }
            }
            self.sim
                .poke_bits(&lane.handle, &HwBits::from_words(&words, lane.width))
                .expect("the port was checked when the block was made");
        }
        if let Some(rst) = self.rst {
            self.sim.set(rst, u64::from(self.reset.val()));
        }
    }

    fn read_outputs(&mut self) -> Bits<O> {
        let mut bus = Bits::<O>::default();
        for lane in &self.outputs {
            let v = self.sim.get_bits(lane.handle);
            for b in 0..lane.width {
                if v.bit(b) {
                    bus = bus.replace_bit(lane.offset + b as usize, true);
                }
            }
        }
        bus
    }
}

impl<const I: usize, const O: usize> Logic for HardwireBlock<I, O> {
    fn update(&mut self) {
        self.drive_inputs();
        let high = self.clock.val().clk;
        if high && !self.clock_was_high {
            self.sim.step();
        }
        self.clock_was_high = high;
        self.bus_out.next = self.read_outputs();
    }

    fn connect(&mut self) {
        self.bus_out.connect();
    }

    fn hdl(&self) -> rust_hdl::core::ast::Verilog {
        let mut code = String::new();
        let mut conns = Vec::new();
        if self.rst.is_some() {
            conns.push("        .clk(clock)".to_string());
            conns.push("        .rst(reset)".to_string());
        }
        for (name, dir, offset, width) in &self.port_map {
            let bus = if *dir == Direction::Input {
                "bus_in"
            } else {
                "bus_out"
            };
            let range = if *width == 1 {
                format!("{offset}")
            } else {
                format!("{}:{offset}", offset + *width as usize - 1)
            };
            conns.push(format!("        .{name}({bus}[{range}])"));
        }
        code.push_str(&format!(
            "{} hardwire_top (\n{}\n);\n",
            self.verilog.top,
            conns.join(",\n")
        ));
        if self.rst.is_none() {
            code.push_str("wire _unused_clock_reset = &{1'b0, clock, reset, 1'b0};\n");
        }
        rust_hdl::core::ast::Verilog::Wrapper(Wrapper {
            code,
            cores: self.verilog.single_file(),
        })
    }
}

impl<const I: usize, const O: usize> Block for HardwireBlock<I, O> {
    fn connect_all(&mut self) {
        self.connect();
        self.clock.connect_all();
        self.reset.connect_all();
        self.bus_in.connect_all();
        self.bus_out.connect_all();
    }

    fn update_all(&mut self) {
        self.update();
        self.clock.update_all();
        self.reset.update_all();
        self.bus_in.update_all();
        self.bus_out.update_all();
    }

    fn has_changed(&self) -> bool {
        self.clock.has_changed()
            || self.reset.has_changed()
            || self.bus_in.has_changed()
            || self.bus_out.has_changed()
    }

    fn accept(&self, name: &str, probe: &mut dyn Probe) {
        probe.visit_start_scope(name, self);
        self.clock.accept("clock", probe);
        self.reset.accept("reset", probe);
        self.bus_in.accept("bus_in", probe);
        self.bus_out.accept("bus_out", probe);
        probe.visit_end_scope(name, self);
    }
}
