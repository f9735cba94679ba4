//! Interfaces: a group of ports declared once as a Rust type and used from both sides.
//!
//! [`interface!`](crate::interface) makes a struct with one [`Signal`](super::Signal) per
//! member. The module that *provides* the interface declares its ports with `provide`
//! (`input` members become inputs it reads, `output` members outputs it drives with
//! [`assign`](super::ModuleBuilder::assign)); a parent sees the same struct flipped through
//! `of(&instance)`: the instance's `input` members are wires the parent drives (connected
//! for it), its `output` members the instance's outputs. The member names and directions are
//! said once; the types come from the provider's parameters, and on the flipped side from
//! the instance, so nothing is restated. Connecting checks each member's direction and type
//! with the usual diagnostics.
//!
//! ```
//! use hardwire_hdl::prelude::*;
//!
//! hardwire_hdl::interface! {
//!     /// A request and its answer.
//!     pub struct Lookup(bits: u32) {
//!         input key: Type::unsigned(bits),
//!         output value: Type::unsigned(2 * bits),
//!     }
//! }
//!
//! #[derive(Clone, PartialEq)]
//! struct Square;
//!
//! impl Block for Square {
//!     fn name(&self) -> String {
//!         "square".into()
//!     }
//!     fn build(&self, m: &ModuleBuilder<'_>) {
//!         let io = Lookup::provide(m, 8);
//!         m.assign(io.value, io.key * io.key);
//!     }
//! }
//!
//! let design = Design::build("top", |m| {
//!     let io = Lookup::of(&m.instance("u_square", &Square));
//!     m.assign(io.key, m.input("x", Type::unsigned(8)));
//!     m.output("y", io.value);
//! })
//! .unwrap();
//! # assert_eq!(Lookup::members(8).len(), 2);
//! ```

/// Declares an interface: a struct of signals with `provide`, `of` and `members`. See the
/// [module docs](crate::builder) and `hardwire_hdl::builder::interface`.
#[macro_export]
macro_rules! interface {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident ( $($param:ident : $pty:ty),* $(,)? ) {
            $( $(#[$fmeta:meta])* $dir:ident $field:ident : $ty:expr ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug)]
        $vis struct $name<'a> {
            $( $(#[$fmeta])* pub $field: $crate::Signal<'a>, )*
        }

        #[allow(dead_code)]
        impl<'a> $name<'a> {
            /// Each member: its name, its direction as the provider sees it, its type.
            pub fn members($($param: $pty),*) -> ::std::vec::Vec<(&'static str, $crate::ir::Direction, $crate::ir::Type)> {
                ::std::vec![ $( (stringify!($field), $crate::interface!(@dir $dir), $ty) ),* ]
            }

            /// Declares the interface's ports on the module being built, as its provider:
            /// `input` members are inputs, `output` members outputs to drive with `assign`.
            #[track_caller]
            pub fn provide(m: &'a $crate::ModuleBuilder<'a>, $($param: $pty),*) -> Self {
                $name { $( $field: $crate::interface!(@provide m, $dir, stringify!($field), $ty) ),* }
            }

            /// The interface of `instance`, which provides it, as its parent sees it:
            /// `input` members are wires to drive with `assign`, `output` members the
            /// instance's outputs.
            #[track_caller]
            pub fn of(instance: &$crate::Instance<'a>) -> Self {
                $name { $( $field: $crate::interface!(@of instance, $dir, stringify!($field)) ),* }
            }
        }
    };
    (@dir input) => { $crate::ir::Direction::Input };
    (@dir output) => { $crate::ir::Direction::Output };
    (@provide $m:ident, input, $n:expr, $ty:expr) => { $m.input($n, $ty) };
    (@provide $m:ident, output, $n:expr, $ty:expr) => { $m.output_wire($n, $ty) };
    (@of $inst:ident, input, $n:expr) => { $inst.driven_input($n) };
    (@of $inst:ident, output, $n:expr) => { $inst.output($n) };
}
