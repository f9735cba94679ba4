//! A small library of primitives built with the DSL: arithmetic, the seed of the
//! transformer's fixed-weight multiplier arrays, valid/ready streams, and clock domain
//! crossings. Each is a
//! [`Block`](crate::Block) whose doc comment states its latency and throughput.
//!
//! Vectors travel as flat buses: element `i` of an `n`-element bus of `w`-bit values is bits
//! `i*w .. i*w + w`.

mod adder_tree;
mod async_fifo;
mod const_mul;
mod dot_product;
mod mac;
mod multiplier_block;
mod split_product;
mod stream;
mod synchronizer;

pub use adder_tree::AdderTree;
pub use async_fifo::AsyncFifo;
pub use const_mul::ConstMul;
pub use dot_product::FixedWeightDot;
pub use mac::Mac;
pub use multiplier_block::{registered_product, MultiplierBlock};
pub use split_product::{shift_add_product, Partial, SplitProduct, DSP_BITS, LOGIC_LIMB_BITS};
pub use stream::{stream_contract, End, StreamFifo};
pub use synchronizer::Synchronizer;

use crate::builder::Signal;
use crate::ir::Type;

/// Element `i` of a flat bus of `ty` values.
pub fn element(bus: Signal<'_>, i: u32, ty: Type) -> Signal<'_> {
    let e = bus.bits((i + 1) * ty.width - 1, i * ty.width);
    if ty.signed {
        e.as_signed()
    } else {
        e
    }
}

/// Bits needed to count to `n` states: `ceil(log2(n))`.
pub fn clog2(n: usize) -> u32 {
    usize::BITS - n.saturating_sub(1).leading_zeros()
}
