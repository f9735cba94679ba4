//! The weight store through the real `hardwire` binary: the first run quantises and stores the
//! golden model, later runs (of any command with the same model flags) read it back, a damaged
//! store is rebuilt, and `HARDWIRE_WEIGHT_STORE_GB=0` turns the store off. The tokens never
//! change.

mod cli;

use cli::{Run, Scratch};
use std::path::Path;

/// `hardwire args…` with its cache in `cache`, insisting on success.
fn run(cache: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut c = cli::command(Path::new(env!("CARGO_TARGET_TMPDIR")), args);
    c.env("HARDWIRE_CACHE_DIR", cache);
    for (k, v) in env {
        c.env(k, v);
    }
    let r: Run = c.output().expect("running hardwire").into();
    r.ok();
    r
}

const MODEL: [&str; 8] = [
    "--model",
    "tiny",
    "--numerics",
    "fixed",
    "--weight-bits",
    "4",
    "--offset",
    "--prompt",
];

fn generate(cache: &Path, env: &[(&str, &str)]) -> Run {
    let mut args = vec!["generate"];
    args.extend_from_slice(&MODEL);
    args.extend_from_slice(&["hi", "--max-new-tokens", "6", "--ignore-eos", "--json"]);
    run(cache, env, &args)
}

/// The store files in the cache, and whether any partial file is left.
fn stores(cache: &Path) -> Vec<String> {
    match std::fs::read_dir(cache.join("weights")) {
        Ok(d) => d
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn the_golden_model_is_stored_once_and_read_back_by_every_command() {
    let scratch = Scratch::new("cli-store");
    let cache = scratch.join("cache");
    let first = generate(&cache, &[]);
    assert!(
        first.stderr.contains("stored the quantised model"),
        "{}",
        first.stderr
    );
    let files = stores(&cache);
    assert!(
        files.len() == 1 && files[0].ends_with(".hwstore"),
        "{files:?}"
    );
    let second = generate(&cache, &[]);
    assert!(
        second
            .stderr
            .contains("read the quantised model from the weight store"),
        "{}",
        second.stderr
    );
    let ids = |r: &Run| {
        let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
        v["generated_ids"].clone()
    };
    assert_eq!(ids(&first), ids(&second));

    // `sim` with the same model flags reads the same store, and its core matches.
    let mut args = vec!["sim"];
    args.extend_from_slice(&MODEL);
    args.extend_from_slice(&["hi", "--max-new-tokens", "6", "--json"]);
    let sim = run(&cache, &[], &args);
    assert!(
        sim.stderr
            .contains("read the quantised model from the weight store"),
        "{}",
        sim.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&sim.stdout).expect("JSON");
    assert_eq!(report["matches_golden"], true, "{report:#}");
    assert_eq!(report["generated_ids"], ids(&first));

    // A damaged store is rebuilt, with the same tokens.
    let path = cache.join("weights").join(&files[0]);
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let third = generate(&cache, &[]);
    assert!(
        third.stderr.contains("stored the quantised model"),
        "{}",
        third.stderr
    );
    assert_eq!(ids(&third), ids(&first));
    assert_eq!(stores(&cache), files, "no partial file is left");

    // Turned off, nothing is read or written.
    let other = scratch.join("off");
    let off = generate(&other, &[("HARDWIRE_WEIGHT_STORE_GB", "0")]);
    assert!(!off.stderr.contains("weight store"), "{}", off.stderr);
    assert_eq!(ids(&off), ids(&first));
    assert!(stores(&other).is_empty());
}

/// A full disk (here a file-size limit, which fails writes the same way): the store is not
/// written and says why, leaving no partial file; `rtl` stops with an error naming the file
/// it could not write, and `--out` does not appear (only `DIR.partial`, kept for reading).
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_an_error_and_leaves_nothing_that_looks_complete() {
    let scratch = Scratch::new("cli-store-full");
    let (cache, out) = (scratch.join("cache"), scratch.join("out"));
    // `ulimit -f 16`: no file beyond 16 KiB; SIGXFSZ ignored, so writes fail with EFBIG.
    let script = format!(
        "trap '' XFSZ; ulimit -f 16; exec {} rtl --model tiny --weight-bits 4 --out {}",
        env!("CARGO_BIN_EXE_hardwire"),
        out.display()
    );
    let r: Run = std::process::Command::new("bash")
        .args(["-c", &script])
        .env("HARDWIRE_CACHE_DIR", &cache)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("bash")
        .into();
    r.refused(&["writing", "out.partial", ".v"]);
    assert!(
        r.stderr.contains("it was not stored") && r.stderr.contains("File too large"),
        "{}",
        r.stderr
    );
    assert!(stores(&cache).is_empty(), "{:?}", stores(&cache));
    assert!(!out.exists());
}
