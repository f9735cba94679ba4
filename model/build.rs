//! The quantiser's source digest for the weight store's key (see `build/source_digest.rs`).

include!("../build/source_digest.rs");

fn main() {
    emit_source_digest("HARDWIRE_MODEL_SOURCE", &["src"], "../Cargo.lock");
}
