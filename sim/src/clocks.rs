//! [`Schedule`]: the rising edges of a design's clocks, each at its own period, in time order.
//! The simulator steps through it, and co-simulation hands the same edges to Verilator and
//! Icarus, so both sides see one timeline.

use hardwire_hdl::ir::{Design, Module};

use crate::error::SimError;

/// The period every clock has until it is set: 10 ns.
pub const DEFAULT_PERIOD_PS: u64 = 10_000;

/// Whether more than one clock is an input of `top` (the default domain's only when it is
/// used): then every edge must say which clocks rise.
pub(crate) fn several_clocks(top: &Module) -> bool {
    top.domain_inputs().count() > 1
}

/// The clocks of a design's top module (one per domain) and where each is in time. Every
/// clock starts low at time 0 and rises first one period later.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Schedule {
    names: Vec<String>,
    /// Each clock's input.
    ports: Vec<String>,
    /// Whether the clock is an input of the top (the default domain's only when it is used).
    live: Vec<bool>,
    /// More than one is.
    several: bool,
    period_ps: Vec<u64>,
    next_ps: Vec<u64>,
    time_ps: u64,
}

impl Schedule {
    pub fn for_design(design: &Design) -> Schedule {
        let top = design.top_module();
        let n = top.domains.len();
        let mut live = vec![false; n];
        for d in top.domain_inputs() {
            live[d.0 as usize] = true;
        }
        Schedule {
            names: top.domains.iter().map(|d| d.name.clone()).collect(),
            ports: (0..n as u32)
                .map(|d| top.clock_port(hardwire_hdl::ir::DomainId(d)))
                .collect(),
            several: several_clocks(top),
            live,
            period_ps: vec![DEFAULT_PERIOD_PS; n],
            next_ps: vec![DEFAULT_PERIOD_PS; n],
            time_ps: 0,
        }
    }

    /// Whether more than one clock runs, so edges must say which clocks rise.
    pub fn several(&self) -> bool {
        self.several
    }

    /// Sets a clock's period from its next edge on.
    pub fn set_period(&mut self, name: &str, period_ps: u64) -> Result<(), SimError> {
        let Some(i) = self.names.iter().position(|n| n == name) else {
            return Err(SimError::UnknownSignal(format!(
                "clock domain `{name}` (the design has {})",
                self.names.join(", ")
            )));
        };
        if period_ps == 0 {
            return Err(SimError::BadDesign(format!(
                "the clock of domain `{name}` needs a period above 0 ps"
            )));
        }
        self.period_ps[i] = period_ps;
        self.next_ps[i] = self.next_ps[i].min(self.time_ps + period_ps);
        Ok(())
    }

    /// Moves to the next edge; returns the clocks that rise there, bit `i` for the top's
    /// domain `i` (the default domain's bit alone, for one clock or none).
    #[inline]
    pub fn advance(&mut self) -> u64 {
        if !self.several {
            let i = self.live.iter().position(|l| *l).unwrap_or(0);
            self.time_ps = self.next_ps[i];
            self.next_ps[i] += self.period_ps[i];
            return 1 << i;
        }
        let t = (0..self.names.len())
            .filter(|&i| self.live[i])
            .map(|i| self.next_ps[i])
            .min()
            .unwrap_or(self.time_ps);
        self.time_ps = t;
        let mut rising = 0;
        for i in 0..self.names.len() {
            if self.live[i] && self.next_ps[i] == t {
                rising |= 1 << i;
                self.next_ps[i] += self.period_ps[i];
            }
        }
        rising
    }

    /// The time of the last edge.
    pub fn time_ps(&self) -> u64 {
        self.time_ps
    }

    /// The clocks that run: each one's index, input and period.
    pub fn live(&self) -> impl Iterator<Item = (usize, String, u64)> + '_ {
        (0..self.names.len())
            .filter(|&i| self.live[i])
            .map(|i| (i, self.ports[i].clone(), self.period_ps[i]))
    }
}
