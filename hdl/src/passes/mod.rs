//! Passes over a [`Design`], one per file, each with a name and a one-line description.
//!
//! The checks run on every elaborated design; the optimisations run by default in
//! [`Design::elaborate`] and can be run selectively with [`run`].

mod check_clocks;
mod check_comb_loops;
mod check_crossings;
mod check_drivers;
mod check_externals;
mod check_latency;
mod check_widths;
mod const_fold;
mod csd_expand;
mod cse;
mod dead_logic;
mod strip_checks;

pub use check_clocks::CheckClocks;
pub use check_comb_loops::{comb_inputs_of_outputs, CheckCombLoops};
pub use check_crossings::CheckCrossings;
pub use check_drivers::CheckDrivers;
pub use check_externals::CheckExternals;
pub use check_latency::CheckLatency;
pub use check_widths::CheckWidths;
pub use const_fold::ConstFold;
pub use csd_expand::{csd_digits, CsdExpand};
pub use cse::Cse;
pub use dead_logic::DeadLogic;
pub use strip_checks::{strip_checks, StripChecks};

use crate::diagnostic::HdlError;
use crate::ir::Design;

/// A transformation or check of a whole design.
pub trait Pass {
    /// A short name, usable on a command line (`const-fold`).
    fn name(&self) -> &'static str;
    /// One line saying what the pass does.
    fn description(&self) -> &'static str;
    /// Runs the pass, changing the design in place or reporting what is wrong with it.
    fn run(&self, design: &mut Design) -> Result<(), HdlError>;
}

/// The checks every design must pass, in order.
pub fn checks() -> Vec<Box<dyn Pass>> {
    vec![
        Box::new(CheckWidths),
        Box::new(CheckDrivers),
        Box::new(CheckClocks),
        Box::new(CheckCombLoops),
        Box::new(CheckCrossings),
        Box::new(CheckExternals),
        Box::new(CheckLatency),
    ]
}

/// The default optimisations, in order.
pub fn optimisations() -> Vec<Box<dyn Pass>> {
    vec![
        Box::new(ConstFold),
        Box::new(CsdExpand),
        Box::new(ConstFold),
        Box::new(Cse),
        Box::new(DeadLogic),
    ]
}

/// Every pass, for listing and for selecting by name.
pub fn all() -> Vec<Box<dyn Pass>> {
    let mut v = checks();
    v.extend([
        Box::new(ConstFold) as Box<dyn Pass>,
        Box::new(CsdExpand),
        Box::new(Cse),
        Box::new(DeadLogic),
        Box::new(StripChecks),
    ]);
    v
}

/// Runs `passes` in order, stopping at the first that fails.
pub fn run(design: &mut Design, passes: &[Box<dyn Pass>]) -> Result<(), HdlError> {
    for p in passes {
        p.run(design)?;
    }
    Ok(())
}
