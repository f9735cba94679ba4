//! Transformer blocks as hardware modules.

mod fixed_weight_matvec;
mod linear;
mod requantize;

pub use fixed_weight_matvec::FixedWeightMatVec;
pub use linear::Linear;
pub use requantize::Requantize;
