//! State machines over a Rust enum: the state register is encoded by the enum's order, and
//! its values carry the variants' names into waveforms and the Verilog.
//!
//! ```
//! use hardwire_hdl::prelude::*;
//!
//! #[derive(Clone, Copy, Debug, PartialEq)]
//! enum Light { Red, Green, Yellow }
//! impl States for Light {
//!     const ALL: &'static [Self] = &[Light::Red, Light::Green, Light::Yellow];
//! }
//!
//! let design = Design::build("light", |m| {
//!     let go = m.input("go", Type::BOOL);
//!     let fsm = m.fsm("light", Light::Red);
//!     m.when(fsm.is(Light::Red) & go, || fsm.goto(Light::Green));
//!     m.when(fsm.is(Light::Green), || fsm.goto(Light::Yellow));
//!     m.when(fsm.is(Light::Yellow), || fsm.goto(Light::Red));
//!     m.output("red", fsm.is(Light::Red));
//! })
//! .unwrap();
//! assert_eq!(design.top_module().regs[0].labels, ["Red", "Green", "Yellow"]);
//! ```

use std::fmt::Debug;
use std::marker::PhantomData;

use super::module::{ModuleBuilder, Signal};
use super::reg::Reg;
use crate::diagnostic::{Code, Loc};
use crate::ir::Type;

/// The states of a state machine: a fieldless enum listing its variants in [`States::ALL`].
/// The state register holds a variant's index there; its `Debug` text names it.
pub trait States: Copy + PartialEq + Debug + 'static {
    /// Every state, in encoding order (the first is 0).
    const ALL: &'static [Self];
}

/// A state machine's state register. Compare with [`Fsm::is`]; move with [`Fsm::goto`],
/// inside a `when` scope for a conditional transition. It holds its state otherwise.
pub struct Fsm<'a, S: States> {
    reg: Reg<'a>,
    _states: PhantomData<S>,
}

impl<'e> ModuleBuilder<'e> {
    /// A state machine over `S`, in `initial` after reset.
    #[track_caller]
    pub fn fsm<S: States>(&self, name: &str, initial: S) -> Fsm<'_, S> {
        let loc = Loc::caller();
        let n = S::ALL.len() as u64;
        if n == 0 {
            self.error(
                Code::BadParameter,
                loc,
                format!("state machine `{name}` has no states: list them in `States::ALL`"),
            );
        }
        let width = (64 - n.saturating_sub(1).leading_zeros()).max(1);
        let reg = self.reg_at(name, Type::unsigned(width), loc);
        let labels: Vec<String> = S::ALL.iter().map(|s| format!("{s:?}")).collect();
        for (i, l) in labels.iter().enumerate() {
            if labels[..i].contains(l) {
                self.error(
                    Code::BadParameter,
                    loc,
                    format!("state machine `{name}` lists state `{l}` twice in `States::ALL`"),
                );
            }
        }
        self.data.borrow_mut().module.regs[reg.id().0 as usize].labels = labels;
        let fsm = Fsm {
            reg,
            _states: PhantomData,
        };
        let reset = fsm.index(initial, loc);
        fsm.reg.reset(reset as i64);
        fsm
    }
}

impl<'a, S: States> Fsm<'a, S> {
    fn index(&self, state: S, loc: Loc) -> u64 {
        match S::ALL.iter().position(|s| *s == state) {
            Some(i) => i as u64,
            None => {
                self.reg.q().m.error(
                    Code::BadParameter,
                    loc,
                    format!("state `{state:?}` is not listed in `States::ALL`"),
                );
                0
            }
        }
    }

    /// The state register's bits.
    pub fn q(&self) -> Signal<'a> {
        self.reg.q()
    }

    /// High while the machine is in `state`.
    #[track_caller]
    pub fn is(&self, state: S) -> Signal<'a> {
        let i = self.index(state, Loc::caller());
        self.reg.q().eq(i as i64)
    }

    /// Moves to `state` on this edge (where the enclosing `when` scopes hold).
    #[track_caller]
    pub fn goto(&self, state: S) {
        let loc = Loc::caller();
        let i = self.index(state, loc);
        let q = self.reg.q();
        self.reg.next(q.m.lit(i as i64, q.ty()));
    }
}
