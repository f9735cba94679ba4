//! The digest of the CLI code that turns flags into a quantisation policy, for the weight
//! store's key (see `build/source_digest.rs`).

include!("build/source_digest.rs");

fn main() {
    // The flags (`ModelArgs`, their parsers) and how they become a policy and a datapath.
    let shaping = [
        "src/cli/mod.rs",
        "src/cli/flags.rs",
        "src/cli/engine.rs",
        "src/cli/model_source.rs",
    ];
    emit_source_digest("HARDWIRE_CLI_SOURCE", &shaping, "Cargo.lock");
}
