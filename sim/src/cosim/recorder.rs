//! [`Recorder`]: a native testbench that remembers what it drove, so the same run can be
//! replayed under Verilator with [`cosimulate`](super::cosimulate).

use hardwire_hdl::ir::Design;
use hardwire_hdl::Bits;

use super::stimulus::{driven_inputs, driven_widths, reset_inputs};
use super::Stimulus;
use crate::{InputId, SignalId, SimError, Simulator};

/// Drives a [`Simulator`] cycle by cycle and records every input row: a reactive testbench
/// (one that waits for `ready`, counts `valid` outputs, ...) written once, whose
/// [`Recorder::stimulus`] replays the identical run in an outside simulator.
///
/// Inputs keep their value until set again, as in the native simulator.
pub struct Recorder {
    sim: Simulator,
    inputs: Vec<InputId>,
    names: Vec<String>,
    row: Vec<Bits>,
    rows: Vec<Vec<Bits>>,
    reset_cycles: usize,
    periods: Vec<(String, u64)>,
    record: bool,
    cycle: usize,
}

impl Recorder {
    /// A simulator of `design` held in reset for `reset_cycles` cycles (recorded), with every
    /// input zero.
    pub fn new(design: &Design, reset_cycles: usize) -> Result<Self, SimError> {
        let sim = Simulator::new(design)?;
        let names = driven_inputs(design);
        let inputs = names
            .iter()
            .map(|n| sim.input(n))
            .collect::<Result<Vec<_>, _>>()?;
        let row = driven_widths(design)
            .into_iter()
            .map(|w| Bits::from_u64(0, w))
            .collect();
        let mut r = Recorder {
            sim,
            inputs,
            names,
            row,
            rows: Vec::new(),
            reset_cycles,
            periods: Vec::new(),
            record: true,
            cycle: 0,
        };
        let resets = reset_inputs(design);
        if !resets.is_empty() {
            for asserted in [true, false] {
                for (name, low) in &resets {
                    r.set(name, i64::from(asserted != *low))?;
                }
                if asserted {
                    for _ in 0..reset_cycles {
                        r.step();
                    }
                }
            }
        }
        Ok(r)
    }

    /// The design's first failed assertion or assumption so far, if any
    /// ([`Simulator::checks`]).
    pub fn checks(&self) -> Result<(), SimError> {
        self.sim.checks()
    }

    fn index(&self, name: &str) -> Result<usize, SimError> {
        self.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| SimError::UnknownSignal(name.to_string()))
    }

    /// Sets input `name` to `value` (two's complement, truncated to the port's width) from
    /// this cycle on.
    pub fn set(&mut self, name: &str, value: i64) -> Result<(), SimError> {
        let i = self.index(name)?;
        let bits = Bits::from_i128(i128::from(value), self.row[i].width());
        self.set_bits_at(i, bits);
        Ok(())
    }

    /// Sets a wide input from a bit vector of its width.
    pub fn set_bits(&mut self, name: &str, value: &Bits) -> Result<(), SimError> {
        let i = self.index(name)?;
        self.set_bits_at(i, value.clone());
        Ok(())
    }

    fn set_bits_at(&mut self, i: usize, bits: Bits) {
        let words: Vec<u64> = (0..bits.width().div_ceil(64))
            .map(|w| {
                (0..64.min(bits.width() - w * 64))
                    .filter(|&b| bits.bit(w * 64 + b))
                    .fold(0u64, |acc, b| acc | 1 << b)
            })
            .collect();
        self.sim.set_words(self.inputs[i], &words);
        self.row[i] = bits;
    }

    /// The value of output or signal `name` this cycle, sign-extended if it is signed.
    pub fn get(&mut self, name: &str) -> Result<i64, SimError> {
        self.sim.peek_i64(name)
    }

    /// A handle for reading `name` quickly every cycle (see [`Recorder::read`]).
    pub fn signal(&self, name: &str) -> Result<SignalId, SimError> {
        self.sim.signal(name)
    }

    /// The value of a signal by handle, sign-extended if it is signed.
    pub fn read(&mut self, signal: SignalId) -> i64 {
        self.sim.get_i64(signal)
    }

    /// Stops (or resumes) recording, for long runs nobody will replay; recorded rows stay.
    /// Sets the period of a clock domain's clock, in the simulation and for the replay
    /// (set it before stepping, so both see the same edges).
    pub fn set_period(&mut self, domain: &str, period_ps: u64) -> Result<(), SimError> {
        self.sim.set_period(domain, period_ps)?;
        self.periods.push((domain.to_string(), period_ps));
        Ok(())
    }

    pub fn recording(mut self, on: bool) -> Self {
        self.record = on;
        self
    }

    /// Records this cycle's inputs and advances one clock edge.
    pub fn step(&mut self) {
        if self.record {
            self.rows.push(self.row.clone());
        }
        self.cycle += 1;
        self.sim.step();
    }

    /// The simulator (for memories, VCD tracing, instruction counts).
    pub fn sim(&mut self) -> &mut Simulator {
        &mut self.sim
    }

    /// Cycles run so far, reset included.
    pub fn cycles(&self) -> usize {
        self.cycle
    }

    /// Everything driven so far, compared from the end of reset on.
    pub fn stimulus(&self) -> Stimulus {
        Stimulus {
            cycles: self.rows.clone(),
            compare_from: self.reset_cycles,
            periods: self.periods.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hardwire_hdl::prelude::*;

    #[test]
    fn records_what_it_drives() {
        let design = Design::build("acc", |m| {
            let x = m.input("x", Type::signed(8));
            let r = m.reg("r", Type::signed(12)).reset(0);
            r.next((r.q() + x).trunc(12).as_signed());
            m.output("y", r.q());
        })
        .unwrap();
        let mut t = Recorder::new(&design, 2).unwrap();
        for v in [3, -5, 7] {
            t.set("x", v).unwrap();
            t.step();
        }
        assert_eq!(t.get("y").unwrap(), 5);
        let s = t.stimulus();
        assert_eq!(s.cycles.len(), 5);
        assert_eq!(s.compare_from, 2);
        assert_eq!(s.cycles[3][1].to_i128(), -5);
    }
}
