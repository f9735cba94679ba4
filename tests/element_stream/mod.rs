//! A reactive testbench for blocks that pass element streams (see `hardwire::blocks`): it
//! sends elements with gaps, collects every valid output element with its cycle, and records
//! the run so that [`StreamBench::cosimulate`] replays it under Verilator.

#![allow(dead_code)]

use hardwire::hdl::prelude::*;
use hardwire::sim::cosim::{cosimulate, Backend, Recorder};
use hardwire::sim::SignalId;

/// Cycles held in reset before the first input.
const RESET_CYCLES: usize = 2;

/// A native simulation of one design, driven cycle by cycle.
pub struct StreamBench {
    rec: Recorder,
    cycle: u64,
    streams: Vec<(SignalId, SignalId)>,
    /// Per output stream (in the order given to [`StreamBench::new`]): each valid element's
    /// cycle and value.
    pub seen: Vec<Vec<(u64, i64)>>,
}

impl StreamBench {
    /// A bench of `design` out of reset, watching the output streams named by their
    /// `(valid, data)` ports. Cycle 0 is the first after reset.
    pub fn new(design: &Design, outputs: &[(&str, &str)]) -> Self {
        let rec = Recorder::new(design, RESET_CYCLES).unwrap_or_else(|e| panic!("{e}"));
        let streams = outputs
            .iter()
            .map(|(v, d)| (rec.signal(v).unwrap(), rec.signal(d).unwrap()))
            .collect();
        StreamBench {
            rec,
            cycle: 0,
            streams,
            seen: vec![Vec::new(); outputs.len()],
        }
    }

    /// The current cycle.
    pub fn cycle(&self) -> u64 {
        self.cycle
    }

    /// Sets input `name` from this cycle on.
    pub fn set(&mut self, name: &str, value: i64) {
        self.rec.set(name, value).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Samples the outputs and advances one clock edge.
    pub fn step(&mut self) {
        for (i, &(valid, data)) in self.streams.iter().enumerate() {
            if self.rec.read(valid) != 0 {
                let v = self.rec.read(data);
                self.seen[i].push((self.cycle, v));
            }
        }
        self.rec.step();
        self.cycle += 1;
    }

    /// `cycles` edges with the inputs as they are.
    pub fn idle(&mut self, cycles: usize) {
        for _ in 0..cycles {
            self.step();
        }
    }

    /// After `gap` idle cycles, one element `value` on `data` with `valid` high for one cycle;
    /// returns the cycle that carried it.
    pub fn send(&mut self, valid: &str, data: &str, gap: usize, value: i64) -> u64 {
        self.idle(gap);
        self.set(valid, 1);
        self.set(data, value);
        let c = self.cycle;
        self.step();
        self.set(valid, 0);
        c
    }

    /// Steps until output stream `stream` has produced `count` elements in all; panics after
    /// `limit` cycles without.
    pub fn wait_for(&mut self, stream: usize, count: usize, limit: u64) {
        let start = self.cycle;
        while self.seen[stream].len() < count {
            assert!(
                self.cycle - start < limit,
                "only {} of {count} outputs after {limit} cycles",
                self.seen[stream].len()
            );
            self.step();
        }
    }

    /// Replays everything driven so far under Verilator and compares every output on every
    /// cycle with the native simulation.
    pub fn cosimulate(&self, design: &Design) {
        cosimulate(design, &self.rec.stimulus(), Backend::Verilator)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
