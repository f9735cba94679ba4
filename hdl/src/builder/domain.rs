//! Clock domains: registers, memory ports and checks clocked by other clocks than `clk`.
//!
//! ```
//! use hardwire_hdl::prelude::*;
//!
//! let design = Design::build("two_clocks", |m| {
//!     let fast = m.domain("fast", Reset::ASYNC.active_low());
//!     let slow_count = m.counter("slow_count", 256);
//!     slow_count.incr();
//!     let fast_count = m.in_domain(fast, || {
//!         let c = m.counter("fast_count", 256);
//!         c.incr();
//!         c.q()
//!     });
//!     m.output("slow", slow_count.q());
//!     m.output("fast", fast_count);
//! })
//! .unwrap();
//! // Inputs: clk, rst (the default domain), fast_clk, fast_rst_n.
//! # let top = design.top_module();
//! # assert_eq!(top.clock_port(top.regs[1].domain), "fast_clk");
//! ```
//!
//! An instance made inside [`ModuleBuilder::in_domain`] has its default domain clocked by
//! that domain; a child's other domains connect to the parent's of the same name (which
//! the parent gets as inputs if it has none). A register that reads another domain's
//! signal except through a synchroniser is reported by the crossing check.

use super::module::ModuleBuilder;
use crate::diagnostic::{Code, Loc};
use crate::ir::{Domain, DomainId, Reset};

/// A clock domain of the module being built, from [`ModuleBuilder::domain`] or
/// [`ModuleBuilder::sync_domain`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockDomain {
    pub(super) id: DomainId,
}

impl ClockDomain {
    /// The domain's id in its module.
    pub fn id(&self) -> DomainId {
        self.id
    }
}

impl<'e> ModuleBuilder<'e> {
    /// Declares the clock domain `name` with `reset`; the module gets the inputs
    /// `<name>_clk` and (by the reset) `<name>_rst` or `<name>_rst_n`.
    #[track_caller]
    pub fn domain(&self, name: &str, reset: Reset) -> ClockDomain {
        let loc = Loc::caller();
        if name == "sync" || self.find_domain(name).is_some() {
            self.error(
                Code::BadName,
                loc,
                format!(
                    "the clock domain `{name}` is declared twice (`sync` is the default \
                     domain's name); give it another name"
                ),
            );
            return ClockDomain { id: DomainId::SYNC };
        }
        ClockDomain {
            id: self.add_domain(
                Domain {
                    name: name.to_string(),
                    reset,
                },
                loc,
            ),
        }
    }

    pub(super) fn add_domain(&self, domain: Domain, loc: Loc) -> DomainId {
        let mut probe = crate::ir::Module::empty("", false);
        probe.domains.push(domain.clone());
        let last = DomainId(1);
        self.claim_name(&probe.clock_port(last), "a clock input", loc);
        if let Some(rst) = probe.reset_port(last) {
            self.claim_name(&rst, "a reset input", loc);
        }
        let mut d = self.data.borrow_mut();
        d.module.domains.push(domain);
        DomainId(d.module.domains.len() as u32 - 1)
    }

    pub(super) fn find_domain(&self, name: &str) -> Option<DomainId> {
        let d = self.data.borrow();
        let i = d.module.domains.iter().position(|x| x.name == name)?;
        Some(DomainId(i as u32))
    }

    /// The default domain (`clk`, `rst`).
    pub fn sync_domain(&self) -> ClockDomain {
        ClockDomain { id: DomainId::SYNC }
    }

    /// Runs `body` with `domain` as the domain of every register, memory port, check and
    /// instance (its default domain) made in it.
    pub fn in_domain<R>(&self, domain: ClockDomain, body: impl FnOnce() -> R) -> R {
        self.data.borrow_mut().domains.push(domain.id);
        let r = body();
        self.data.borrow_mut().domains.pop();
        r
    }

    /// The domain state made now belongs to; the module gets `clk` and `rst` when it is
    /// the default one.
    pub(super) fn use_domain(&self) -> DomainId {
        let mut d = self.data.borrow_mut();
        let id = d.domains.last().copied().unwrap_or(DomainId::SYNC);
        if id == DomainId::SYNC {
            d.module.clocked = true;
        }
        id
    }
}
