//! Hardware blocks written in the DSL of `hardwire-hdl`: a Llama transformer's blocks with
//! their weights baked in, and the serial link, token protocol and reset synchroniser that put
//! a core on a board.
//!
//! # Element streams
//! Blocks pass vectors as *element streams*: a stream named `x` is the port pair `x_valid`
//! (1 bit) and `x` (one signed element). A vector is sent as consecutive valid elements in
//! index order, at most one per cycle, with gaps allowed; there is no backpressure. A block
//! takes one vector at a time: it accepts the next vector's first element from the cycle after
//! it emitted the current vector's last element. Control inputs (`layer`, `pos`) are held from
//! the first input element of a vector to its last output element.
//!
//! Every block documents its *latency*: the cycles from the cycle carrying its last input
//! element to the cycle carrying its last output element. It does not depend on how the input
//! arrived, so latencies along a chain add up to the chain's latency.
//!
//! Q and K travel in *rotation-pair order*: within each head, element `2i` of the stream is
//! the model's element `i` and element `2i + 1` is element `i + head_dim / 2`, so RoPE sees the
//! two halves of a pair on consecutive elements and needs no buffer. The attention score is a
//! sum over the head, so it is the same in either order.

mod attention;
mod board_harness;
mod decoder;
mod elementwise;
mod embedding;
mod fixed_weight_matvec;
mod linear;
mod llama_core;
mod multiplier_array;
mod replay;
mod requantize;
mod reset_sync;
mod rms_norm;
mod rotary;
mod softmax;
pub mod token_link;
pub mod uart;

pub use attention::*;
pub use board_harness::{BoardHarness, ANSWER_DELAY};
pub use decoder::{rotation_pair_order, DecoderBlock};
pub use elementwise::*;
pub use embedding::*;
pub use fixed_weight_matvec::*;
pub use linear::Linear;
pub use llama_core::{LlamaCore, TokenIo, MAX_NEW_BITS};
pub use multiplier_array::MultiplierArray;
pub use replay::Replay;
pub use requantize::Requantize;
pub use reset_sync::ResetSync;
pub use rms_norm::*;
pub use rotary::*;
pub use softmax::*;
pub use token_link::TokenLink;
