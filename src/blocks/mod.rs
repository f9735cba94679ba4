//! Transformer blocks as hardware modules.

mod fixed_weight_matvec;

pub use fixed_weight_matvec::FixedWeightMatVec;
