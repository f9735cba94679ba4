//! Replays every input the fuzzers ever crashed on (`model/tests/fuzz_regressions/TARGET/`,
//! filled by `scripts/fuzz.sh`) and the generated seeds through the same entry points the fuzz
//! targets call: each must come back as `Ok` or `Err`, never a panic.

use hardwire_model::fuzz_entry::{self, TARGETS};
use std::path::Path;

#[test]
fn seeds_load_cleanly() {
    // The seeds are valid files: a parser change that rejects them would leave the fuzzers
    // mutating only errors.
    for (target, name, bytes) in fuzz_entry::seeds().unwrap() {
        let r = fuzz_entry::run(target, &bytes).expect("a known target");
        assert!(
            r.is_ok(),
            "seed {target}/{name} is rejected: {}",
            r.unwrap_err()
        );
    }
}

#[test]
fn every_regression_input_is_an_error_or_ok_never_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut replayed = 0;
    for target in TARGETS {
        let dir = root.join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.file_name().is_some_and(|n| n == ".gitkeep") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| fuzz_entry::run(target, &bytes));
            assert!(outcome.is_ok(), "{} panics", path.display());
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} fuzz regression inputs");
}

#[test]
fn unknown_target_is_none() {
    assert!(fuzz_entry::run("no_such_target", b"").is_none());
}
