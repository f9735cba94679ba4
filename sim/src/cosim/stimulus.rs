//! [`Stimulus`]: the values of a design's inputs on each cycle.

use hardwire_hdl::ir::Design;
use hardwire_hdl::Bits;

use super::CosimError;
use crate::clocks::Schedule;

/// The inputs of a design's top module on each cycle: its reset inputs first (`rst` when
/// the top is clocked, then the other domains' in order), then the input ports in
/// declaration order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stimulus {
    /// One row per cycle.
    pub cycles: Vec<Vec<Bits>>,
    /// Outputs are compared from this cycle on. Before it, registers may still hold no value
    /// at all in a four-state simulator (Icarus's `x`), where the native simulator has zero.
    pub compare_from: usize,
    /// Clock periods by domain name, in picoseconds; the others run at
    /// [`DEFAULT_PERIOD_PS`](crate::DEFAULT_PERIOD_PS). A cycle is one step of the native
    /// simulator: the next rising edge of any clock.
    pub periods: Vec<(String, u64)>,
}

/// The reset inputs of the top, in row order, each with whether it is asserted low.
pub(crate) fn reset_inputs(design: &Design) -> Vec<(String, bool)> {
    let top = design.top_module();
    top.domain_inputs()
        .filter_map(|d| Some((top.reset_port(d)?, top.domain(d).reset.active_low)))
        .collect()
}

/// Names of the inputs a stimulus drives, in row order.
pub fn driven_inputs(design: &Design) -> Vec<String> {
    let mut names: Vec<String> = reset_inputs(design).into_iter().map(|r| r.0).collect();
    names.extend(design.top_module().inputs().map(|p| p.name.clone()));
    names
}

/// Widths of the inputs a stimulus drives, in row order.
pub fn driven_widths(design: &Design) -> Vec<u32> {
    let mut widths = vec![1; reset_inputs(design).len()];
    widths.extend(design.top_module().inputs().map(|p| p.ty.width));
    widths
}

impl Stimulus {
    /// Random inputs for `cycles` cycles from a seed, with every reset asserted for the
    /// first `reset_cycles` and released after, compared from the end of reset on.
    /// Deterministic for a given seed.
    pub fn random(design: &Design, cycles: usize, reset_cycles: usize, seed: u64) -> Stimulus {
        let widths = driven_widths(design);
        let resets = reset_inputs(design);
        let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            // splitmix64: small, fast and good enough for test vectors.
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let rows = (0..cycles)
            .map(|c| {
                widths
                    .iter()
                    .enumerate()
                    .map(|(i, &w)| {
                        if let Some((_, low)) = resets.get(i) {
                            return Bits::from_u64(u64::from((c < reset_cycles) != *low), 1);
                        }
                        let words: Vec<u64> =
                            (0..(w as usize).div_ceil(64)).map(|_| next()).collect();
                        Bits::from_words(&words, w)
                    })
                    .collect()
            })
            .collect();
        Stimulus {
            cycles: rows,
            compare_from: reset_cycles,
            periods: Vec::new(),
        }
    }

    /// `schedule` (a design's clocks at their default periods) with this stimulus's periods.
    pub(crate) fn timed(&self, mut schedule: Schedule) -> Result<Schedule, CosimError> {
        for (name, ps) in &self.periods {
            schedule.set_period(name, *ps)?;
        }
        Ok(schedule)
    }

    /// Checks every row has one value of the right width per driven input.
    pub fn check(&self, design: &Design) -> Result<(), CosimError> {
        let names = driven_inputs(design);
        let widths = driven_widths(design);
        for (c, row) in self.cycles.iter().enumerate() {
            if row.len() != widths.len() {
                return Err(CosimError::BadStimulus(format!(
                    "cycle {c} has {} values but the design has {} inputs ({})",
                    row.len(),
                    widths.len(),
                    names.join(", ")
                )));
            }
            for ((v, w), n) in row.iter().zip(&widths).zip(&names) {
                if v.width() != *w {
                    return Err(CosimError::BadStimulus(format!(
                        "cycle {c}: `{n}` is {w} bits but its value has {}",
                        v.width()
                    )));
                }
            }
        }
        Ok(())
    }

    /// The stimulus as text: the cycle count, then per cycle (when the design has several
    /// clocks, first the clocks that rise at its end, bit `i` for the top's domain `i`, in
    /// hex) every value as space-separated little-endian 64-bit hex words, one value per
    /// line. Both harnesses read this.
    pub fn to_text(&self, design: &Design) -> Result<String, CosimError> {
        self.text(Schedule::for_design(design))
    }

    pub(crate) fn text(&self, clocks: Schedule) -> Result<String, CosimError> {
        let mut schedule = self.timed(clocks)?;
        let several = schedule.several();
        let mut s = format!("{}\n", self.cycles.len());
        for row in &self.cycles {
            if several {
                s.push_str(&format!("{:x}\n", schedule.advance()));
            }
            for v in row {
                let words: Vec<String> = v.words().iter().map(|w| format!("{w:x}")).collect();
                s.push_str(&words.join(" "));
                s.push('\n');
            }
        }
        Ok(s)
    }
}
