//! Llama configuration, weight import, the f32 reference and the fixed-point golden model.
//!
//! The fixed-point functions in [`fixed`] are the numeric contract of the hardware: every unit
//! the generator builds takes its tables from them and must match them bit for bit.

// Index loops read best in tests that compare arrays element by element.
#![cfg_attr(test, allow(clippy::needless_range_loop))]
#![warn(missing_docs)]

pub mod accuracy;
pub mod awq;
pub mod bytes;
pub mod config;
pub mod error;
pub mod fixed;
pub mod fixtures;
// Shared by the fuzz targets and the regression replay test; not part of the API.
#[doc(hidden)]
pub mod fuzz_entry;
pub mod gguf;
pub mod gguf_model;
pub mod gguf_value;
pub mod gptq;
pub mod kernels;
pub mod memory;
pub mod quant;
pub mod reference;
pub mod safetensors;
pub mod safetensors_index;
pub mod sensitivity;
pub mod sizes;
pub mod store;
pub mod tensor_source;
pub mod tokenizer;
pub mod weights;

pub use config::{LlamaConfig, RopeScaling};
pub use error::{ModelError, Result};
pub use gguf::GgufFile;
pub use reference::{KvCache, Reference};
pub use tokenizer::Tokenizer;
pub use weights::{LayerWeights, LlamaWeights, Matrix};
