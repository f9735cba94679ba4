//! `hardwire rtl --report-only`: the scale report without elaborating or writing anything, as
//! text and as JSON, and the same report inside `report.json` when the RTL is written; a
//! policy file applies to a model read tensor by tensor; every ROM is written as its
//! `$readmemh` file and as a packed binary image holding the same words.

mod cli;

use cli::Scratch;
use serde_json::Value;
use std::path::Path;

fn hardwire(cwd: &Path, args: &[&str]) -> cli::Run {
    let r = cli::hardwire(cwd, args);
    r.ok();
    r
}

#[test]
fn the_scale_report_stands_alone_and_in_report_json() {
    let scratch = Scratch::new("cli-scale");
    let base = [
        "rtl",
        "--model",
        "tiny",
        "--weight-bits",
        "4",
        "--reuse",
        "256",
    ];
    let mut args = base.to_vec();
    args.extend_from_slice(&["--report-only", "--json", "--clock-mhz", "50"]);
    let alone: Value = serde_json::from_str(&hardwire(&scratch.0, &args).stdout).unwrap();
    assert_eq!(alone["clock_mhz"], 50.0);
    assert_eq!(alone["layers"], 2);
    let devices = alone["devices"].as_array().unwrap();
    assert!(devices.iter().any(|d| d["part"]["name"] == "XCVU13P"));
    assert!(
        devices.iter().all(|d| d["devices"] == 1),
        "the tiny model fits any part"
    );
    assert!(alone["hardwired"]["csd_adders"].as_u64().unwrap() > 0);
    // Nothing was written beside it.
    assert_eq!(std::fs::read_dir(&scratch.0).unwrap().count(), 0);

    let text = hardwire(&scratch.0, &[&base[..], &["--report-only"]].concat()).stdout;
    assert!(
        text.contains("hardwired (--reuse 1)") && text.contains("XCVU13P"),
        "{text}"
    );

    // With --out, report.json carries the same scale report (at the default 100 MHz).
    let out = scratch.join("rtl");
    let mut args = base.to_vec();
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    hardwire(&scratch.0, &args);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["scale"]["rom_bits"], alone["rom_bits"]);
    assert_eq!(report["scale"]["clock_mhz"], 100.0);

    cli::hardwire(&scratch.0, &[&args[..], &["--report-only"]].concat())
        .refused(&["--report-only", "--out"]);
}

#[test]
fn every_rom_is_written_as_hex_and_as_a_packed_binary_image() {
    let scratch = Scratch::new("cli-rom-images");
    let out = scratch.join("rtl");
    let args = ["rtl", "--model", "tiny", "--weight-bits", "4", "--offset"];
    hardwire(
        &scratch.0,
        &[&args[..], &["--out", out.to_str().unwrap()]].concat(),
    );
    let mut memories = 0;
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let Some(stem) = name.strip_suffix(".hex") else {
            continue;
        };
        memories += 1;
        let hex = std::fs::read_to_string(&path).unwrap();
        let digits = hex.lines().next().unwrap().len();
        let word_bytes = (digits * 4).div_ceil(8);
        // Each line, most significant digit first, as little-endian bytes.
        let want: Vec<u8> = hex
            .lines()
            .flat_map(|line| {
                assert_eq!(line.len(), digits, "{name}: every word has the same digits");
                let mut bytes: Vec<u8> = line
                    .as_bytes()
                    .rchunks(2)
                    .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
                    .collect();
                bytes.resize(word_bytes, 0);
                bytes
            })
            .collect();
        let bin = std::fs::read(out.join("bin").join(format!("{stem}.bin"))).unwrap();
        assert!(bin == want, "{stem}.bin holds the words of {name}");
    }
    assert!(memories >= 10, "the core's ROMs were written ({memories})");
}
