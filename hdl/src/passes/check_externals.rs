//! `check-externals`: every block standing for the same external module (vendor primitive)
//! builds the same simulation model, since one model serves all its instances.

use super::Pass;
use crate::diagnostic::{Code, Diagnostic, HdlError};
use crate::ir::{Design, Module};

/// Reports two modules that stand for the same external module with different models.
pub struct CheckExternals;

impl Pass for CheckExternals {
    fn name(&self) -> &'static str {
        "check-externals"
    }
    fn description(&self) -> &'static str {
        "the simulation model of an external module is the same for all its parameters"
    }
    fn run(&self, design: &mut Design) -> Result<(), HdlError> {
        // The model without what may differ between parameterisations.
        let model = |m: &Module| {
            let mut m = m.clone();
            m.name.clear();
            if let Some(e) = &mut m.external {
                e.params.clear();
            }
            m
        };
        let mut diagnostics = Vec::new();
        let externals: Vec<&Module> = design
            .modules
            .iter()
            .filter(|m| m.external.is_some())
            .collect();
        for (i, a) in externals.iter().enumerate() {
            let vendor = &a.external.as_ref().expect("filtered").module;
            let first = externals[..i]
                .iter()
                .find(|b| b.external.as_ref().is_some_and(|e| e.module == *vendor));
            if let Some(b) = first {
                if model(a) != model(b) {
                    diagnostics.push(Diagnostic {
                        code: Code::BadParameter,
                        message: format!(
                            "`{}` and `{}` both stand for the external module `{vendor}` but \
                             build different simulation models; one model serves every \
                             instance, so it must not depend on the parameters",
                            b.name, a.name
                        ),
                        module: a.name.clone(),
                        loc: a.nodes.first().map_or_else(crate::Loc::caller, |n| n.loc),
                    });
                }
            }
        }
        HdlError::check(diagnostics)
    }
}
