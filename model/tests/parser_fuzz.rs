//! Property: any mutation of a valid file is rejected or accepted, never a panic.

mod common;

use common::*;
use hardwire_model::bytes::FileBytes;
use hardwire_model::gguf::GgufFile;
use hardwire_model::gguf_model::{config_from_gguf, weights_from_gguf};
use hardwire_model::safetensors::{Dtype, SafeTensorsFile};
use hardwire_model::LlamaWeights;
use proptest::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

fn valid_files() -> &'static (Vec<u8>, Vec<u8>) {
    static FILES: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    FILES.get_or_init(|| {
        let mut w = tiny().reduce_layers(1).unwrap();
        // Keep the fixture small so the mutations hit the headers often.
        w.config.vocab_size = 256;
        (gguf_bytes(&w), safetensors_bytes(&w, Dtype::F16))
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Positions are fractions of the file length; headers sit in the first few percent.
    prop_oneof![
        3 => (0usize..4000, any::<u8>()).prop_map(|(p, v)| Mutation::Set(p, v)),
        1 => (0usize..1_000_000, any::<u8>()).prop_map(|(p, v)| Mutation::Set(p, v)),
        1 => (0usize..1_000_000).prop_map(Mutation::Truncate),
        1 => (0usize..4000, proptest::collection::vec(any::<u8>(), 1..9)).prop_map(|(p, v)| Mutation::Insert(p, v)),
    ]
}

fn mutate(mut b: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
    for m in ms {
        let n = b.len().max(1);
        match m {
            Mutation::Set(p, v) => {
                let i = p % n;
                if i < b.len() {
                    b[i] = *v;
                }
            }
            Mutation::Truncate(p) => b.truncate(p % n),
            Mutation::Insert(p, v) => {
                let i = (p % n).min(b.len());
                b.splice(i..i, v.iter().copied());
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn mutated_gguf_never_panics(ms in proptest::collection::vec(mutation(), 1..4)) {
        let b = mutate(valid_files().0.clone(), &ms);
        if let Ok(f) = GgufFile::parse("fuzz.gguf".into(), FileBytes::Owned(b)) {
            if let Ok(c) = config_from_gguf(&f) {
                // Sizes from a mutated header may be huge: only load configs of plausible size.
                if c.hidden_size * c.vocab_size < 1 << 20 && c.num_hidden_layers < 4 && c.intermediate_size < 4096 {
                    let _ = weights_from_gguf(&f, &c);
                }
            }
        }
    }

    #[test]
    fn mutated_safetensors_never_panics(ms in proptest::collection::vec(mutation(), 1..4)) {
        let b = mutate(valid_files().1.clone(), &ms);
        if let Ok(f) = SafeTensorsFile::parse("fuzz.safetensors".into(), FileBytes::Owned(b)) {
            let mut c = tiny().config.reduce_layers(1).unwrap();
            c.vocab_size = 256;
            let _ = LlamaWeights::assemble(&c, Path::new("fuzz.safetensors"), |n| f.tensor_f32(n));
        }
    }
}
