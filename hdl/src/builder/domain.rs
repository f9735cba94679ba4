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

use super::module::{ModuleBuilder, Signal};
use crate::diagnostic::{Code, Loc};
use crate::ir::{Domain, DomainId, Drive, NodeKind, Reset, Type};

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
        if self.refuse_twice(name, loc) {
            return ClockDomain { id: DomainId::SYNC };
        }
        ClockDomain {
            id: self.add_domain(Domain::with_ports(name, reset), loc),
        }
    }

    /// Declares the clock input `name` (a board's `clk_25mhz`, a PLL's `clkin`) as the
    /// clock domain `name`, without reset. Registers put in it get no reset either; hand its
    /// clock on with [`ModuleBuilder::clock`] or clock a child by it with
    /// [`Instance::domain`](super::Instance::domain).
    #[track_caller]
    pub fn clock_input(&self, name: &str) -> ClockDomain {
        let loc = Loc::caller();
        if self.refuse_twice(name, loc) {
            return ClockDomain { id: DomainId::SYNC };
        }
        let domain = Domain {
            name: name.to_string(),
            reset: Reset::NONE,
            drive: Drive::Ports {
                clock: name.to_string(),
                reset: None,
            },
        };
        ClockDomain {
            id: self.add_domain(domain, loc),
        }
    }

    /// Declares the clock domain `name` clocked by `clock`, a clock carried here from
    /// [`ModuleBuilder::clock`] through wires and ports (a PLL's output, say). The module
    /// gets the wire `<name>_clk`, and with a reset the wire `<name>_rst` (`<name>_rst_n`
    /// when active low) for [`ModuleBuilder::drive_reset`] to drive.
    ///
    /// In the native simulator the domain steps on the edges of the clock it is carried
    /// from: a PLL's model passes its input through, so a design behind a PLL runs at the
    /// board clock's edges there, and its real frequency is a matter for place and route.
    #[track_caller]
    pub fn local_domain(&self, name: &str, clock: Signal<'_>, reset: Reset) -> ClockDomain {
        let loc = Loc::caller();
        if self.refuse_twice(name, loc) {
            return ClockDomain { id: DomainId::SYNC };
        }
        if clock.ty != Type::BOOL {
            self.error(
                Code::ClockAsData,
                loc,
                format!(
                    "the clock of domain `{name}` is `{}` ({}), not a one-bit clock",
                    self.describe(clock.id),
                    clock.ty
                ),
            );
            return ClockDomain { id: DomainId::SYNC };
        }
        let clk = self.wire_at(&format!("{name}_clk"), Type::BOOL, loc);
        self.assign_at(clk, clock, None, loc);
        let rst = Domain::reset_name(name, reset).map(|r| self.wire_at(&r, Type::BOOL, loc).id);
        let domain = Domain {
            name: name.to_string(),
            reset,
            drive: Drive::Local {
                clock: clk.id,
                reset: rst,
            },
        };
        let mut d = self.data.borrow_mut();
        d.module.domains.push(domain);
        ClockDomain {
            id: DomainId(d.module.domains.len() as u32 - 1),
        }
    }

    /// Drives the reset of `domain`, declared with [`ModuleBuilder::local_domain`], with
    /// `value` (asserted high, or low for an active-low reset), sampled like a reset input.
    #[track_caller]
    pub fn drive_reset(&self, domain: ClockDomain, value: Signal<'_>) {
        let loc = Loc::caller();
        let wire = match self.data.borrow().module.domain(domain.id).drive {
            Drive::Local { reset, .. } => reset,
            Drive::Ports { .. } => None,
        };
        match wire {
            Some(w) => self.assign_at(
                Signal {
                    m: self,
                    id: w,
                    ty: Type::BOOL,
                },
                value,
                None,
                loc,
            ),
            None => {
                let name = self.data.borrow().module.domain(domain.id).name.clone();
                self.error(
                    Code::BadParameter,
                    loc,
                    format!(
                        "domain `{name}` has no reset to drive here: only a domain made by \
                         `local_domain` with a reset has one (others reset from their inputs)"
                    ),
                );
            }
        }
    }

    /// The clock of `domain` as a one-bit value: for a child's clock input, an output, or
    /// [`ModuleBuilder::local_domain`]. It is not data: logic may not read it
    /// (`check-clocks`).
    #[track_caller]
    pub fn clock(&self, domain: ClockDomain) -> Signal<'_> {
        if domain.id == DomainId::SYNC {
            self.data.borrow_mut().module.clocked = true;
        }
        self.signal(NodeKind::Clock(domain.id), Type::BOOL, Loc::caller())
    }

    /// Makes the default domain's registers reset-less: the module gets `clk` but no `rst`,
    /// and can be clocked by any domain of its parent. For blocks that must not be reset,
    /// such as a reset synchroniser. Call it before anything uses the domain.
    #[track_caller]
    pub fn reset_less(&self) {
        let mut d = self.data.borrow_mut();
        // Anything made in the default domain has made the module clocked.
        if d.module.clocked {
            drop(d);
            self.error(
                Code::BadParameter,
                Loc::caller(),
                "`reset_less` comes before anything uses the default domain: registers, \
                 memory ports, checks and instances made before it were made with a reset"
                    .into(),
            );
            return;
        }
        let sync = &mut d.module.domains[0];
        sync.reset = Reset::NONE;
        sync.drive = Drive::Ports {
            clock: "clk".into(),
            reset: None,
        };
    }

    fn refuse_twice(&self, name: &str, loc: Loc) -> bool {
        if name == "sync" || self.find_domain(name).is_some() {
            self.error(
                Code::BadName,
                loc,
                format!(
                    "the clock domain `{name}` is declared twice (`sync` is the default \
                     domain's name); give it another name"
                ),
            );
            return true;
        }
        false
    }

    pub(super) fn add_domain(&self, domain: Domain, loc: Loc) -> DomainId {
        if let Drive::Ports { clock, reset } = &domain.drive {
            self.claim_name(clock, "a clock input", loc);
            if let Some(rst) = reset {
                self.claim_name(rst, "a reset input", loc);
            }
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
