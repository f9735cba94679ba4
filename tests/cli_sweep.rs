//! `hardwire build --sweep`: the estimator over reuse factors, a table, `sweep.json` and two
//! plots, with the part's capacity deciding which points fit.

mod cli;

use cli::{hardwire, Scratch};

#[test]
fn an_estimate_only_sweep_writes_its_table_and_plots() {
    let dir = Scratch::new("sweep");
    let out = dir.join("sweep");
    let run = hardwire(
        &dir.0,
        &[
            "build",
            "--model",
            "tiny",
            "--sweep",
            "--sweep-reuse",
            "256,8192,2048",
            "--sweep-place",
            "0",
            "--pll-mhz",
            "100",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    run.ok();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("sweep.json")).unwrap()).unwrap();
    let points = report["points"].as_array().unwrap();
    let reuse: Vec<u64> = points
        .iter()
        .map(|p| p["reuse"].as_u64().unwrap())
        .collect();
    assert_eq!(reuse, [256, 2048, 8192], "sorted by reuse");
    let dsps = |p: &serde_json::Value| p["estimate"]["dsps"].as_u64().unwrap();
    let tps = |p: &serde_json::Value| p["tokens_per_second"].as_f64().unwrap();
    // More lanes: more multipliers and more tokens per second.
    assert!(dsps(&points[0]) > dsps(&points[1]) && dsps(&points[1]) > dsps(&points[2]));
    assert!(tps(&points[0]) > tps(&points[1]) && tps(&points[1]) > tps(&points[2]));
    let available = report["available"]["dsps"].as_u64().unwrap();
    for p in points {
        assert_eq!(p["fits"].as_bool().unwrap(), dsps(p) <= available, "{p}");
        assert!(p["placed"].is_null());
    }
    // Reuse 256 needs more multipliers than the ECP5-85F has (the table says so).
    assert!(!points[0]["fits"].as_bool().unwrap());
    let rows = run
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with(char::is_numeric));
    assert_eq!(rows.count(), 3, "{}", run.stdout);
    for plot in ["sweep-luts.svg", "sweep-dsps.svg"] {
        let svg = std::fs::read_to_string(out.join(plot)).unwrap();
        assert_eq!(svg.matches("<circle").count(), 3, "{plot}");
        assert!(svg.contains("in the part"), "{plot}");
    }
}
