//! Errors that point at the user's code: every misuse of the DSL is recorded with the names
//! involved and the Rust source location where the user wrote it.

use std::fmt;
use std::panic::Location;

/// A place in the user's Rust source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Loc {
    /// Source file as the compiler names it.
    pub file: &'static str,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl Loc {
    /// The location of the caller of the `#[track_caller]` function that calls this.
    #[track_caller]
    pub fn caller() -> Self {
        Location::caller().into()
    }
}

impl From<&'static Location<'static>> for Loc {
    fn from(l: &'static Location<'static>) -> Self {
        Loc {
            file: l.file(),
            line: l.line(),
            column: l.column(),
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Stable codes for each kind of problem, so tools and tests can match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// Operand or assignment widths disagree.
    WidthMismatch,
    /// Signed and unsigned operands mixed without a cast.
    SignMismatch,
    /// An input port (or other value that is not a wire) was assigned.
    DriveNonWire,
    /// A wire, output or register next value was never driven.
    Undriven,
    /// A wire was driven twice.
    MultiplyDriven,
    /// A combinational loop.
    CombLoop,
    /// An instance input left unconnected.
    Unconnected,
    /// A name that is not a valid, unique Verilog identifier.
    BadName,
    /// A parameter out of its allowed range (zero width, shift past width, ...).
    BadParameter,
    /// A port name that the instantiated module does not have, or used the wrong way.
    UnknownPort,
    /// Two different parameterisations of a block produced the same module name.
    ModuleNameClash,
    /// A pipeline value read in another stage than its own, or stages built other than as
    /// declared.
    StageMismatch,
    /// A register or memory port samples another clock domain's signal without a
    /// synchroniser.
    UnsyncedCrossing,
    /// A clock read as data, or a domain clocked by something that is not a clock.
    ClockAsData,
    /// A declared stream latency that the structure does not have.
    LatencyMismatch,
}

impl Code {
    /// The short, stable code printed in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::WidthMismatch => "E001",
            Code::SignMismatch => "E002",
            Code::DriveNonWire => "E003",
            Code::Undriven => "E004",
            Code::MultiplyDriven => "E005",
            Code::CombLoop => "E006",
            Code::Unconnected => "E007",
            Code::BadName => "E008",
            Code::BadParameter => "E009",
            Code::UnknownPort => "E010",
            Code::ModuleNameClash => "E011",
            Code::StageMismatch => "E012",
            Code::UnsyncedCrossing => "E013",
            Code::ClockAsData => "E014",
            Code::LatencyMismatch => "E015",
        }
    }
}

/// One problem in a design.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What kind of problem.
    pub code: Code,
    /// A whole sentence naming the signals involved and what to do.
    pub message: String,
    /// The module it was found in.
    pub module: String,
    /// Where the user wrote the offending code.
    pub loc: Loc,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "error[{}]: {}\n  --> {} (in module `{}`)",
            self.code.as_str(),
            self.message,
            self.loc,
            self.module
        )
    }
}

/// The error returned when a design does not elaborate or check: every problem found, in
/// the order the user's code created them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct HdlError {
    /// The problems, at least one.
    pub diagnostics: Vec<Diagnostic>,
}

impl HdlError {
    /// `Ok` when there are no diagnostics, otherwise the error holding them all.
    pub fn check(diagnostics: Vec<Diagnostic>) -> Result<(), HdlError> {
        if diagnostics.is_empty() {
            Ok(())
        } else {
            Err(HdlError { diagnostics })
        }
    }

    /// True if some diagnostic has this code.
    pub fn has(&self, code: Code) -> bool {
        self.diagnostics.iter().any(|d| d.code == code)
    }
}

impl fmt::Display for HdlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.diagnostics.len();
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        if n > 1 {
            write!(f, "\n{n} errors")?;
        }
        Ok(())
    }
}
