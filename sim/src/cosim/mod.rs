//! Co-simulation: the exported Verilog of a design, run under Verilator (or Icarus Verilog
//! for small cases) on the same stimulus as the native simulator, compared output by output
//! on every cycle.
//!
//! Each cycle, in both simulators: the inputs (and the resets) take the stimulus values, the
//! combinational logic settles, every output is sampled, then the clock rises. With several
//! clock domains a cycle is one step of the native simulator, the next edge of any clock at
//! the stimulus's periods, and the harness raises exactly the clocks that rise there. Verilator
//! builds are cached by a hash of everything that goes into them, so a second run of the
//! same design starts at once.

mod harness;
mod icarus;
mod recorder;
mod stimulus;
mod tools;
mod verilator;

use std::path::PathBuf;
use std::time::Duration;

use hardwire_hdl::ir::Design;
use hardwire_hdl::Bits;

pub use recorder::Recorder;
pub use stimulus::{driven_inputs, Stimulus};
pub use tools::{cache_dir, require_tool, tool_available, verilator_lint};
pub use verilator::{VerilatorBench, VerilatorBuild};

use crate::{SimError, Simulator};

/// Which outside simulator runs the Verilog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Verilator, compiled to C++ through a generated harness; built once per design.
    Verilator,
    /// Icarus Verilog, interpreted; slow, for small designs.
    Icarus,
}

impl Backend {
    /// The program that must be on `PATH`.
    pub fn tool(self) -> &'static str {
        match self {
            Backend::Verilator => "verilator",
            Backend::Icarus => "iverilog",
        }
    }
}

/// What went wrong in a co-simulation.
#[derive(Debug, thiserror::Error)]
pub enum CosimError {
    /// The outside simulator disagrees with the native one.
    #[error("{backend:?} and the native simulator disagree at cycle {cycle} on `{signal}`: native {native}, {backend:?} {external}")]
    Mismatch {
        /// Which outside simulator.
        backend: Backend,
        /// The first cycle that differs (0-based, counting the reset cycles of the stimulus).
        cycle: u64,
        /// The output port.
        signal: String,
        /// The native simulator's value.
        native: Bits,
        /// The outside simulator's value, as it printed it.
        external: String,
    },
    /// A tool is not installed.
    #[error("`{tool}` was not found on PATH; {hint}")]
    ToolMissing {
        /// The program name.
        tool: String,
        /// How to get it.
        hint: String,
    },
    /// A tool ran and failed.
    #[error("`{tool}` failed ({status}); the end of its output:\n{log_tail}")]
    ToolFailed {
        /// The command.
        tool: String,
        /// Its exit status.
        status: String,
        /// The last lines it printed.
        log_tail: String,
    },
    /// The outside simulator's output could not be read.
    #[error("could not read {backend:?}'s output: {reason}")]
    BadOutput {
        /// Which outside simulator.
        backend: Backend,
        /// What was wrong.
        reason: String,
    },
    /// The stimulus does not fit the design.
    #[error("bad stimulus: {0}")]
    BadStimulus(String),
    /// The native simulator refused the design or stimulus.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// Files could not be written or read.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl CosimError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CosimError {
        let context = context.into();
        move |source| CosimError::Io { context, source }
    }
}

/// The outcome of a successful co-simulation.
#[derive(Debug, Clone)]
pub struct CosimReport {
    /// Which outside simulator.
    pub backend: Backend,
    /// Cycles compared.
    pub cycles: u64,
    /// Output values compared (cycles × outputs).
    pub values_compared: u64,
    /// Time spent building the outside model (zero when it came from the cache).
    pub build_time: Duration,
    /// Whether the build came from the cache.
    pub cached: bool,
    /// Where the outside model was built.
    pub build_dir: PathBuf,
}

/// Runs `design` under `backend` and under the native simulator with `stimulus`, and
/// compares every output on every cycle.
pub fn cosimulate(
    design: &Design,
    stimulus: &Stimulus,
    backend: Backend,
) -> Result<CosimReport, CosimError> {
    stimulus.check(design)?;
    let native = native_outputs(design, stimulus)?;
    let (external, build) = match backend {
        Backend::Verilator => {
            let build = VerilatorBuild::new(design)?;
            let out = build.run(stimulus)?;
            (out, (build.build_time, build.cached, build.dir.clone()))
        }
        Backend::Icarus => icarus::run(design, stimulus)?,
    };
    let outputs: Vec<_> = design
        .top_module()
        .outputs()
        .map(|p| (p.name.clone(), p.ty.width))
        .collect();
    compare(backend, &outputs, &native, &external, stimulus.compare_from)?;
    Ok(CosimReport {
        backend,
        cycles: native.len() as u64,
        values_compared: (native.len().saturating_sub(stimulus.compare_from) * outputs.len())
            as u64,
        build_time: build.0,
        cached: build.1,
        build_dir: build.2,
    })
}

/// The native simulator's outputs for each cycle of `stimulus`, sampled before each edge;
/// an error if one of the design's assertions failed on the way.
pub fn native_outputs(design: &Design, stimulus: &Stimulus) -> Result<Vec<Vec<Bits>>, CosimError> {
    let mut sim = Simulator::new(design)?;
    for (name, ps) in &stimulus.periods {
        sim.set_period(name, *ps)?;
    }
    let top = design.top_module();
    let inputs = stimulus::driven_inputs(design);
    let outputs: Vec<_> = top
        .outputs()
        .map(|p| sim.signal(&p.name))
        .collect::<Result<_, _>>()?;
    let mut result = Vec::with_capacity(stimulus.cycles.len());
    for values in &stimulus.cycles {
        for (name, v) in inputs.iter().zip(values) {
            sim.poke_bits(name, v)?;
        }
        result.push(outputs.iter().map(|o| sim.get_bits(*o)).collect());
        sim.step();
    }
    sim.checks()?;
    Ok(result)
}

/// Checks every output of every cycle from `from` on; the first difference is the error.
fn compare(
    backend: Backend,
    outputs: &[(String, u32)],
    native: &[Vec<Bits>],
    external: &[Vec<String>],
    from: usize,
) -> Result<(), CosimError> {
    if external.len() != native.len() {
        return Err(CosimError::BadOutput {
            backend,
            reason: format!(
                "{} cycles of output for {} cycles of stimulus",
                external.len(),
                native.len()
            ),
        });
    }
    for (cycle, (ext, nat)) in external.iter().zip(native).enumerate().skip(from) {
        if ext.len() != outputs.len() {
            return Err(CosimError::BadOutput {
                backend,
                reason: format!(
                    "cycle {cycle} has {} values for {} outputs",
                    ext.len(),
                    outputs.len()
                ),
            });
        }
        for ((name, width), (e, n)) in outputs.iter().zip(ext.iter().zip(nat)) {
            if parse_hex(e, *width).as_ref() != Some(n) {
                return Err(CosimError::Mismatch {
                    backend,
                    cycle: cycle as u64,
                    signal: name.clone(),
                    native: n.clone(),
                    external: e.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Reads a hexadecimal value printed by an outside simulator (`None` for `x` or `z` bits).
fn parse_hex(text: &str, width: u32) -> Option<Bits> {
    let mut words = vec![0u64; (width as usize).div_ceil(64).max(1)];
    for (i, c) in text.trim().chars().rev().enumerate() {
        let d = u64::from(c.to_digit(16)?);
        let bit = i * 4;
        if bit / 64 < words.len() {
            words[bit / 64] |= d << (bit % 64);
        }
    }
    Some(Bits::from_words(&words, width))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_mismatch_names_cycle_signal_and_both_values() {
        let outputs = vec![("a".to_string(), 8), ("b".to_string(), 4)];
        let native = vec![vec![Bits::from_u64(1, 8), Bits::from_u64(2, 4)]; 3];
        let mut external = vec![vec!["01".to_string(), "2".to_string()]; 3];
        assert!(compare(Backend::Verilator, &outputs, &native, &external, 0).is_ok());
        external[2][1] = "3".into();
        external[1][1] = "x".into();
        let err = compare(Backend::Icarus, &outputs, &native, &external, 0).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("cycle 1")
                && text.contains("`b`")
                && text.contains("4'h2")
                && text.contains(" x"),
            "{text}"
        );
        // Cycles before `from` are not compared.
        let err = compare(Backend::Icarus, &outputs, &native, &external, 2).unwrap_err();
        assert!(err.to_string().contains("cycle 2"), "{err}");
    }

    #[test]
    fn wide_hex_parses_across_words() {
        let b = parse_hex("1ffffffffffffffff", 70).unwrap();
        assert_eq!(b.words(), &[u64::MAX, 1]);
        assert_eq!(parse_hex("zz", 8), None);
    }
}
