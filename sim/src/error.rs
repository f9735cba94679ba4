//! What can go wrong when building or driving a simulation.

/// An error from the simulator: a design it cannot simulate, or a testbench mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// `poke`, `peek` or a handle lookup named a signal the design does not have.
    #[error("no signal named `{0}` in the design; names are ports, registers and wires, with instance paths such as `u_child.acc`")]
    UnknownSignal(String),
    /// `poke` or `input` named a signal that is not a top-level input.
    #[error("`{0}` is not an input of the top module, so it cannot be poked; poke the top-level input that drives it")]
    NotAnInput(String),
    /// A poked value does not fit the port.
    #[error("the value {value} does not fit `{name}`, which is {width} bits {}", if *signed { "signed" } else { "unsigned" })]
    ValueTooWide {
        /// The port.
        name: String,
        /// Its width.
        width: u32,
        /// Its signedness.
        signed: bool,
        /// The value as the user wrote it.
        value: String,
    },
    /// `peek` of a signal wider than the integer asked for.
    #[error("`{name}` is {width} bits, too wide for this peek; use `peek_bits`")]
    TooWideForPeek {
        /// The signal.
        name: String,
        /// Its width.
        width: u32,
    },
    /// `reset` was called on a design without the implicit clock and reset.
    #[error("the top module has no registers or memories, so it has no `rst` to hold high")]
    NotClocked,
    /// `run_until` reached its cycle limit before the condition held.
    #[error("the condition did not hold within {0} cycles")]
    Timeout(u64),
    /// No memory with this name.
    #[error("no memory named `{0}` in the design")]
    UnknownMemory(String),
    /// A memory address at or past the depth.
    #[error("address {addr} is past the end of memory `{name}` ({depth} words)")]
    AddressOutOfRange {
        /// The memory.
        name: String,
        /// The address asked for.
        addr: u64,
        /// Its depth.
        depth: u32,
    },
    /// A wire, register or instance input without a driver (the hdl checks reject these).
    #[error("`{0}` is never driven; drive it before simulating")]
    Undriven(String),
    /// A combinational loop (the hdl checks reject these); the signals on it, by name.
    #[error("combinational loop through {}", .0.join(" -> "))]
    CombLoop(Vec<String>),
    /// The design is malformed in a way the hdl checks should have caught.
    #[error("malformed design: {0}")]
    BadDesign(String),
    /// An assertion or assumption of the design did not hold (the first one seen).
    #[error("{kind} `{name}` failed at cycle {cycle} (written at {loc})")]
    CheckFailed {
        /// `assert` or `assume`.
        kind: &'static str,
        /// Its hierarchical name (`u_child.in_range`).
        name: String,
        /// The edge before which it was sampled low.
        cycle: u64,
        /// Where the user wrote it.
        loc: String,
    },
    /// Writing the waveform failed.
    #[error("waveform output failed: {0}")]
    Io(String),
}

impl From<std::io::Error> for SimError {
    fn from(e: std::io::Error) -> Self {
        SimError::Io(e.to_string())
    }
}
