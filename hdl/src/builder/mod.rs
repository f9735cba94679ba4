//! The builder through which Rust code elaborates modules.
//!
//! A [`Block`] is a Rust value whose [`Block::build`] describes one module through a
//! [`ModuleBuilder`]; [`Design::elaborate`](crate::Design::elaborate) runs it, elaborates every block it instantiates
//! (once per distinct parameterisation), runs the checks and returns the design or every error
//! found, each pointing at the user's source line.
//!
//! ```
//! use hardwire_hdl::prelude::*;
//!
//! let design = Design::build("counter", |m| {
//!     let en = m.input("en", Type::BOOL);
//!     let count = m.reg("count_q", Type::unsigned(8)).reset(0);
//!     count.next_when(en, count.q().wrapping_add(1));
//!     m.output("count", count.q());
//! })
//! .unwrap();
//! assert_eq!(design.top_module().name, "counter");
//! ```

mod check;
mod counter;
mod domain;
mod elaborate;
mod external;
mod fsm;
mod instance;
pub mod interface;
mod memory;
mod module;
mod ops;
mod pipeline;
mod reg;
mod stream;
mod when;

pub use counter::Counter;
pub use domain::ClockDomain;
pub use elaborate::Block;
pub use fsm::{Fsm, States};
pub use instance::Instance;
pub use memory::Memory;
pub use module::{ModuleBuilder, Signal};
pub use ops::IntoOperand;
pub use pipeline::{Pipeline, Staged, PRODUCT_STAGES};
pub use reg::Reg;
pub use stream::{Source, Stream};
pub use when::When;

pub(crate) use module::describe_node;
pub use ops::min_width;
pub(crate) use ops::result_type as result_type_of;
