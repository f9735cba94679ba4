//! The GGUF block decoders against an independent implementation: llama.cpp's gguf Python
//! package (`gguf.quants.dequantize`, installed by `scripts/gguf-venv.sh`) dequantises the same
//! generated blocks (every byte random but the f16 scales, which are finite), and every value
//! must agree exactly. Without the package the test says so and passes, except under `CI=true`,
//! where it fails.

use hardwire_model::gguf::{dequantize, GgmlType};
use hardwire_model::weights::SplitMix64;
use std::path::PathBuf;
use std::process::Command;

/// The gguf venv's python, when the package is installed.
fn gguf_python() -> Option<PathBuf> {
    let py = hardwire_model::fixtures::cache_dir()?.join("gguf-venv/bin/python3");
    let ok = Command::new(&py)
        .args(["-c", "import gguf"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    let msg = "the gguf Python package is not installed; run scripts/gguf-venv.sh";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("note: skipping: {msg}");
    None
}

/// `blocks` random blocks of `ty`, with the f16 fields at `f16_at` set to finite scales.
fn blocks(ty: GgmlType, blocks: usize, f16_at: &[usize], seed: u64) -> Vec<u8> {
    let (_, size) = ty.block();
    let mut rng = SplitMix64(seed);
    let mut raw: Vec<u8> = (0..blocks * size as usize)
        .map(|_| rng.next_u64() as u8)
        .collect();
    for b in raw.chunks_exact_mut(size as usize) {
        for &at in f16_at {
            // Scales between about 2^-12 and 2^2, either sign.
            let v = rng.symmetric() * 4.0 * (-((rng.next_u64() % 12) as f32)).exp2();
            b[at..at + 2].copy_from_slice(&half::f16::from_f32(v).to_le_bytes());
        }
    }
    raw
}

#[test]
fn block_decoders_agree_with_the_gguf_package() {
    let Some(py) = gguf_python() else { return };
    let dir = std::env::temp_dir().join(format!("hardwire-kquants-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        ("Q4_K", GgmlType::Q4K, vec![0, 2]),
        ("Q6_K", GgmlType::Q6K, vec![208]),
        ("Q4_0", GgmlType::Q4_0, vec![0]),
        ("Q4_1", GgmlType::Q4_1, vec![0, 2]),
        ("Q8_0", GgmlType::Q8_0, vec![0]),
    ];
    for (i, (name, ty, f16_at)) in cases.iter().enumerate() {
        let n_blocks = 64;
        let raw = blocks(*ty, n_blocks, f16_at, 11 + i as u64);
        let (input, output) = (
            dir.join(format!("{name}.raw")),
            dir.join(format!("{name}.f32")),
        );
        std::fs::write(&input, &raw).unwrap();
        let script = "import sys, numpy as np\n\
                      from gguf import GGMLQuantizationType as T\n\
                      from gguf.quants import dequantize\n\
                      raw = np.fromfile(sys.argv[2], dtype=np.uint8)\n\
                      dequantize(raw, T[sys.argv[1]]).astype(np.float32).tofile(sys.argv[3])\n";
        let out = Command::new(&py)
            .args(["-c", script, name])
            .arg(&input)
            .arg(&output)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs: Vec<f32> = std::fs::read(&output)
            .unwrap()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let n = n_blocks * ty.block().0 as usize;
        let ours = dequantize(*ty, &raw, n);
        assert_eq!((ours.len(), theirs.len()), (n, n), "{name}");
        for (k, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert!(
                a.to_bits() == b.to_bits(),
                "{name}: element {k} (block {}): hardwire {a}, gguf {b}",
                k / ty.block().0 as usize
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
