//! The digest of the CLI code that turns flags into a quantisation policy, for the weight
//! store's key (see `build/source_digest.rs`).

include!("build/source_digest.rs");

fn main() {
    emit_source_digest("HARDWIRE_CLI_SOURCE", &["src/cli"], "Cargo.lock");
}
