//! Fuzz target `safetensors`: arbitrary bytes through `hardwire_model::fuzz_entry::safetensors`; an error is
//! fine, a panic or an abort is a finding.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = hardwire_model::fuzz_entry::safetensors(data);
});
