//! `strip-checks`: removes assertions, assumptions and covers, and the logic only they read,
//! leaving the hardware that synthesis keeps (the Verilog hides checks from it behind
//! `` `ifdef FORMAL ``, and yosys then drops what only they used).

use super::dead_logic::sweep_module;
use super::Pass;
use crate::diagnostic::HdlError;
use crate::ir::{Design, Module};

/// Removes every check and the logic that only checks read.
pub struct StripChecks;

impl Pass for StripChecks {
    fn name(&self) -> &'static str {
        "strip-checks"
    }
    fn description(&self) -> &'static str {
        "remove assertions, assumptions and covers and the logic only they read"
    }
    fn run(&self, design: &mut Design) -> Result<(), HdlError> {
        design.modules.iter_mut().for_each(strip_checks);
        Ok(())
    }
}

/// Removes `m`'s checks and the logic only they read.
pub fn strip_checks(m: &mut Module) {
    if !m.checks.is_empty() {
        m.checks.clear();
        sweep_module(m);
    }
}
