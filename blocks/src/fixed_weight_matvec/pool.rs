//! [`MatrixPool`]: several matrix units on one set of ROM lanes, one vector at a time.

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::clog2;

use super::{rom, FixedWeightMatVec, Shape, WeightStore};

/// Matrix units that take turns on one ROM store: every lane holds its share of every unit's
/// weights (a block of words per unit and layer in one ROM), and the `job` input says which
/// unit the vector in flight belongs to. A decoder's matrices run one after another anyway
/// (each needs the one before), so separate units would each idle while the others work;
/// pooled, every multiplier works on whichever matrix is running, and cycles per token fall
/// to the weights over the lanes.
///
/// Each unit keeps its own shape, weight width, grid, input width and output width, and
/// carries a [`WeightStore::Shared`] store naming the pool's lanes (the same in every unit),
/// so [`FixedWeightMatVec::latency`] is its latency here. Units share the group size and the
/// accumulator width; a unit has one matrix per layer, or one for all layers (an LM head).
///
/// Ports: `layer` (as [`FixedWeightMatVec`]'s, for the most layers of any unit), `job`
/// (unsigned, `ceil(log2(units))` bits: the unit), both held from a vector's first input to
/// its last output; stream `x` ([`MatrixPool::input_bits`] signed: a narrower unit's inputs
/// sign-extended); stream `y` ([`MatrixPool::out_bits`] signed: each unit's outputs saturated
/// to its own width, then sign-extended); `y_last`, high with a vector's last `y` element.
///
/// Anything a unit would not elaborate with, units that disagree on the lanes, the group size
/// or the accumulator width, a unit whose layer count is neither 1 nor the most, fewer than
/// two units, or inputs too wide for the widest weights is a bad parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixPool {
    /// The units; unit `k` is job `k`.
    pub units: Vec<FixedWeightMatVec>,
    /// Distinguishes pools (a Verilog identifier part).
    pub label: String,
}

impl MatrixPool {
    /// The pool's lanes (the first unit's; checked equal in all).
    pub fn lanes(&self) -> usize {
        self.units
            .first()
            .and_then(|u| u.store.lanes())
            .unwrap_or(0)
    }

    /// Width of the `job` input.
    pub fn job_bits(&self) -> u32 {
        clog2(self.units.len()).max(1)
    }

    /// Width of the `x` stream: the widest unit's inputs.
    pub fn input_bits(&self) -> u32 {
        self.units.iter().map(|u| u.input_bits).max().unwrap_or(1)
    }

    /// Width of the `y` stream: the widest unit's outputs.
    pub fn out_bits(&self) -> u32 {
        (self.units.iter())
            .filter_map(|u| u.matrices.first().map(|m| m.out_bits))
            .max()
            .unwrap_or(1)
    }

    /// Cycles from the last `x` element of a vector of job `job` to its last `y` element.
    pub fn latency(&self, job: usize) -> u64 {
        self.units.get(job).map_or(0, FixedWeightMatVec::latency)
    }

    /// Every unit's shape, or a sentence saying what is wrong.
    fn check(&self) -> Result<Vec<Shape>, String> {
        let label = &self.label;
        if self.units.len() < 2 {
            return Err(format!(
                "pool `{label}` has {} unit(s); a pool shares its lanes among at least two \
                 (build a lone unit as a `FixedWeightMatVec`)",
                self.units.len()
            ));
        }
        let shapes = (self.units.iter())
            .map(|u| u.check())
            .collect::<Result<Vec<_>, _>>()?;
        let first = &self.units[0];
        let lanes = self.lanes();
        let layers = shapes.iter().map(|s| s.layers).max().unwrap_or(1);
        for (u, s) in self.units.iter().zip(&shapes) {
            let name = &u.label;
            if u.store != (WeightStore::Shared { lanes }) {
                return Err(format!(
                    "unit `{name}` of pool `{label}` has the store {:?}; every unit needs \
                     `WeightStore::Shared {{ lanes: {lanes} }}`, the first unit's",
                    u.store
                ));
            }
            if s.group_size != shapes[0].group_size || u.acc_bits != first.acc_bits {
                return Err(format!(
                    "unit `{name}` of pool `{label}` has groups of {} and {}-bit accumulators, \
                     unit `{}` {} and {}: the lanes share both",
                    s.group_size, u.acc_bits, first.label, shapes[0].group_size, first.acc_bits
                ));
            }
            if s.layers != 1 && s.layers != layers {
                return Err(format!(
                    "unit `{name}` of pool `{label}` has {} layers; a unit has one matrix per \
                     layer ({layers}) or one for all",
                    s.layers
                ));
            }
        }
        let weight_bits = shapes.iter().map(|s| s.weight_bits).max().unwrap_or(1);
        if self.input_bits() + weight_bits > 32 {
            return Err(format!(
                "pool `{label}` takes {}-bit inputs and {weight_bits}-bit weights; every lane \
                 multiplies at the widest of both, and products must fit 32 bits",
                self.input_bits()
            ));
        }
        Ok(shapes)
    }
}

impl Block for MatrixPool {
    fn name(&self) -> String {
        let units: Vec<&str> = self.units.iter().map(|u| u.label.as_str()).collect();
        format!(
            "pool_{}_{}_shared{}",
            self.label,
            units.join("_"),
            self.lanes()
        )
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        match self.check() {
            Ok(shapes) => {
                let jobs: Vec<rom::Job<'_>> = (self.units.iter().zip(shapes))
                    .map(|(unit, shape)| rom::Job { unit, shape })
                    .collect();
                rom::build(&jobs, self.lanes(), m);
            }
            Err(message) => m.bad_parameter(message),
        }
    }
}
