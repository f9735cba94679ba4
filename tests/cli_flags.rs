//! Every numeric flag is parsed and checked before work starts, by a parser that names the
//! flag; nothing wraps, panics or aborts; a run that succeeds gives the golden model's answer
//! (issue 14, findings 3, 4 and 6).

mod cli;

use cli::{hardwire, Scratch};
use hardwire::model::fixed::{FixedModel, Format, NumericConfig};
use hardwire::model::quant::{QuantPolicy, QuantSpec};
use hardwire::model::{LlamaConfig, LlamaWeights};
use proptest::prelude::*;
use std::path::Path;

fn here() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

#[test]
fn a_huge_max_new_tokens_is_an_error_not_a_capacity_overflow() {
    for n in ["18446744073709551615", "18446744073709551614", "100000"] {
        hardwire(
            here(),
            &[
                "generate",
                "--model",
                "tiny",
                "--prompt",
                "hi",
                "--max-new-tokens",
                n,
            ],
        )
        .refused(&["--max-new-tokens", "max_seq"]);
    }
    hardwire(
        here(),
        &[
            "sim",
            "--model",
            "tiny",
            "--prompt",
            "hi",
            "--max-new-tokens",
            "70000",
        ],
    )
    .refused(&["--max-new-tokens"]);
}

/// The synthetic 8B streams through the fixed-point engine; what would need its f32 weights
/// says so, and names the way that works, before anything is generated.
#[test]
fn the_synthetic_8b_is_refused_where_it_would_need_f32() {
    let gen = |extra: &[&str]| {
        let mut args = vec!["generate", "--model", "llama-3.1-8b", "--prompt", "hi"];
        args.extend_from_slice(extra);
        hardwire(here(), &args)
    };
    gen(&[]).refused(&["llama-3.1-8b", "--numerics fixed"]);
    gen(&["--numerics", "fixed", "--mixed", "3/6"]).refused(&["--mixed", "--weight-bits"]);
    gen(&["--numerics", "fixed", "--layers", "33"]).refused(&["--layers 33"]);
    hardwire(
        here(),
        &["score", "--model", "llama-3.1-8b", "--text", "hi"],
    )
    .refused(&["synthetic", "32 GB"]);
}

#[test]
fn formats_that_would_wrap_are_refused_by_name() {
    for flag in ["--act", "--resid", "--prod"] {
        for value in [
            "20.4294967294",
            "20.4294967295",
            "a.b",
            "20",
            "4294967295.2",
        ] {
            for cmd in ["generate", "score"] {
                let text = if cmd == "score" { "--text" } else { "--prompt" };
                hardwire(
                    here(),
                    &[
                        cmd,
                        "--model",
                        "tiny",
                        "--numerics",
                        "fixed",
                        text,
                        "hi there",
                        flag,
                        value,
                    ],
                )
                .refused(&[flag]);
            }
        }
    }
}

#[test]
fn fractions_frequencies_and_widths_out_of_range_are_refused_by_name() {
    let base = [
        "generate",
        "--model",
        "tiny",
        "--numerics",
        "fixed",
        "--prompt",
        "hi",
    ];
    for (flag, value) in [
        ("--mixed-fraction", "NaN"),
        ("--mixed-fraction", "-1"),
        ("--mixed-fraction", "inf"),
        ("--mixed", "3/9"),
        ("--mixed", "6/3"),
        ("--weight-bits", "4294967298"),
        ("--acc-bits", "4294967295"),
        ("--group-size", "18446744073709551615"),
        ("--layers", "0"),
        ("--layers", "3"),
        // Without --mixed, and out of the widths' range.
        ("--avg-bits", "4.0"),
        ("--avg-bits", "NaN"),
        ("--policy", "/nonexistent/policy.json"),
    ] {
        let mut args = base.to_vec();
        args.extend([flag, value]);
        hardwire(here(), &args).refused(&[flag]);
    }
    // Out of any clock's range, refused by the flag's parser; in range for a flag but out of
    // range for the part, refused by the board's check: both name the flag.
    let scratch = Scratch::new("flags-pll");
    let out = scratch.join("b");
    for (mhz, why) in [
        ("1e9", "not a clock frequency"),
        ("NaN", "not a clock frequency"),
        ("500", "400 MHz"),
    ] {
        hardwire(
            here(),
            &[
                "build",
                "--model",
                "tiny",
                "--estimate-only",
                "--pll-mhz",
                mhz,
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .refused(&["--pll-mhz", why]);
    }
}

/// On the ULX3S the core runs from a 100 MHz PLL unless `--board-clock` asks for the 25 MHz
/// oscillator; asking for both is refused.
#[test]
fn the_ulx3s_runs_from_a_pll_by_default_and_from_its_oscillator_on_request() {
    let scratch = Scratch::new("flags-clock");
    let out = scratch.join("b");
    let build = |extra: &[&str]| {
        let mut args = vec![
            "build",
            "--model",
            "tiny",
            "--reuse",
            "8192",
            "--check-tokens",
            "0",
            "--estimate-only",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        hardwire(here(), &args)
    };
    let top = || std::fs::read_to_string(out.join("rtl/ulx3s_top.v")).unwrap();
    build(&[]).ok();
    assert!(top().contains("ecp5_pll"), "no PLL by default");
    build(&["--board-clock"]).ok();
    assert!(!top().contains("ecp5_pll"), "a PLL with --board-clock");
    build(&["--board-clock", "--pll-mhz", "50"]).refused(&["--board-clock"]);
}

#[test]
fn a_reuse_that_would_wrap_times_the_layers_keeps_the_lm_head_in_rom() {
    let dir = Scratch::new("flags-reuse");
    hardwire(
        &dir.0,
        &[
            "rtl",
            "--model",
            "tiny",
            "--reuse",
            "9223372036854775808",
            "--out",
            "out",
            "--json",
        ],
    )
    .ok();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("out/report.json")).unwrap()).unwrap();
    // `reuse * layers` once wrapped to 0, which made the LM head fully hardwired (0 lanes). It
    // runs on ROM lanes: the pool it shares with the decoder's units, one lane per unit.
    let head = report["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["path"] == "lm_head")
        .unwrap();
    assert_eq!(head["lanes"], 5, "{head}");
    hardwire(
        &dir.0,
        &["rtl", "--model", "tiny", "--reuse", "0", "--out", "x"],
    )
    .refused(&["--reuse"]);
}

#[test]
fn sim_and_score_read_the_same_token_files() {
    let dir = Scratch::new("flags-tokens");
    for (name, text) in [("a.json", "[72, 105, 33]"), ("b.txt", "72 105,\n33\n")] {
        std::fs::write(dir.join(name), text).unwrap();
        let file = dir.join(name);
        let file = file.to_str().unwrap();
        hardwire(&dir.0, &["score", "--model", "tiny", "--tokens", file]).ok();
        hardwire(
            &dir.0,
            &[
                "sim",
                "--model",
                "tiny",
                "--reuse",
                "4096",
                "--tokens",
                file,
                "--max-new-tokens",
                "1",
            ],
        )
        .ok();
    }
    std::fs::write(dir.join("bad.json"), "[72, -1]").unwrap();
    let bad = dir.join("bad.json");
    for cmd in ["score", "sim"] {
        hardwire(
            &dir.0,
            &[cmd, "--model", "tiny", "--tokens", bad.to_str().unwrap()],
        )
        .refused(&["--tokens", "bad.json"]);
    }
}

/// A flag's value: usually a sensible one, else an extreme or wrapping one.
fn value(sensible: impl Strategy<Value = String> + 'static) -> BoxedStrategy<String> {
    let extreme = prop::sample::select(vec![
        "0",
        "1",
        "-1",
        "4294967295",
        "4294967296",
        "4294967294",
        "18446744073709551615",
        "18446744073709551616",
        "9223372036854775808",
        "NaN",
        "inf",
        "1e999",
        "",
        "0x10",
        "20.4294967294",
        "4294967295.4294967295",
    ])
    .prop_map(str::to_string);
    prop_oneof![3 => sensible, 1 => extreme].boxed()
}

/// The flags of a `generate` run, and the value of each.
fn flag_sets() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    let choices: Vec<(&'static str, BoxedStrategy<String>)> = vec![
        (
            "--weight-bits",
            value((1u32..=9).prop_map(|b| b.to_string())),
        ),
        (
            "--group-size",
            value(
                prop::sample::select(vec!["0", "16", "32", "48", "64", "1000"])
                    .prop_map(String::from),
            ),
        ),
        (
            "--act",
            value((6u32..=26, 0u32..=24).prop_map(|(b, f)| format!("{b}.{f}"))),
        ),
        (
            "--resid",
            value((6u32..=26, 0u32..=24).prop_map(|(b, f)| format!("{b}.{f}"))),
        ),
        (
            "--prod",
            value((6u32..=26, 0u32..=24).prop_map(|(b, f)| format!("{b}.{f}"))),
        ),
        (
            "--acc-bits",
            value((14u32..=50).prop_map(|b| b.to_string())),
        ),
        (
            "--max-new-tokens",
            value((0usize..=80).prop_map(|n| n.to_string())),
        ),
        ("--layers", value((0usize..=3).prop_map(|n| n.to_string()))),
        ("--seed", value((0u64..4).prop_map(|n| n.to_string()))),
        (
            "--mixed",
            value((2u32..=8, 2u32..=8).prop_map(|(a, b)| format!("{a}/{b}"))),
        ),
        (
            "--mixed-fraction",
            value((0u32..=4).prop_map(|q| format!("{}", q as f64 / 4.0))),
        ),
    ];
    let n = choices.len();
    (
        proptest::collection::vec(any::<bool>(), n),
        choices
            .into_iter()
            .map(|(f, s)| s.prop_map(move |v| (f, v)))
            .collect::<Vec<_>>(),
    )
        .prop_map(|(on, all)| {
            all.into_iter()
                .zip(on)
                .filter(|(_, keep)| *keep)
                .map(|(fv, _)| fv)
                .collect()
        })
}

/// What the golden model generates for these flags, computed without the CLI; `None` when
/// the flags do not make a valid run (the CLI must then refuse them).
fn golden(flags: &[(&str, String)], prompt: &[u32]) -> Option<Vec<u32>> {
    let get = |name: &str| {
        flags
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, v)| v.as_str())
    };
    let num = |name: &str, default: u64| -> Option<u64> {
        get(name).map_or(Some(default), |v| v.parse().ok())
    };
    let format = |name: &str, default: Format| -> Option<Format> {
        get(name).map_or(Some(default), |v| v.parse().ok())
    };
    let config = LlamaConfig::tiny();
    let layers = num("--layers", config.num_hidden_layers as u64)?;
    if layers == 0 || layers > config.num_hidden_layers as u64 {
        return None;
    }
    let weights = LlamaWeights::seeded(&config, num("--seed", 0)?)
        .ok()?
        .reduce_layers(layers as usize)
        .ok()?;
    let bits = u32::try_from(num("--weight-bits", 8)?).ok()?;
    let group = num("--group-size", 32)?;
    if group > 1 << 20 {
        return None;
    }
    let spec = |bits: u32| QuantSpec {
        bits,
        group_size: (group > 0).then_some(group as usize),
        offset: false,
    };
    let ok_bits = |b: u32| (2..=8).contains(&b);
    let fraction: f64 = get("--mixed-fraction").map_or(Some(0.25), |v| v.parse().ok())?;
    if !(0.0..=1.0).contains(&fraction) {
        return None;
    }
    let policy = match get("--mixed") {
        Some(m) => {
            let (lo, hi) = m.split_once('/')?;
            let (lo, hi): (u32, u32) = (lo.parse().ok()?, hi.parse().ok()?);
            if !ok_bits(lo) || !ok_bits(hi) || hi <= lo || !ok_bits(bits) {
                return None;
            }
            QuantPolicy::mixed_by_sensitivity(&weights, spec(lo), spec(hi), fraction)
        }
        None if ok_bits(bits) => QuantPolicy::uniform(spec(bits)),
        None => return None,
    };
    let mut n = NumericConfig::tiny();
    n.act = format("--act", n.act)?;
    n.resid = format("--resid", n.resid)?;
    n.prod = format("--prod", n.prod)?;
    n.acc_bits = u32::try_from(num("--acc-bits", u64::from(n.acc_bits))?).ok()?;
    n.validate().ok()?;
    let new = num("--max-new-tokens", 32)?;
    let max_seq = (prompt.len() as u64).checked_add(new)?.checked_add(1)?;
    if max_seq > weights.config.max_seq as u64 {
        return None;
    }
    let model = FixedModel::new(&weights, &policy, n, max_seq as usize).ok()?;
    if new == 0 {
        return Some(Vec::new());
    }
    model.generate_greedy(prompt, new as usize, None).ok()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn numeric_flags_give_the_golden_answer_or_an_error_naming_a_flag(flags in flag_sets()) {
        let mut args = vec![
            "generate", "--model", "tiny", "--numerics", "fixed", "--prompt", "hi",
            "--ignore-eos", "--json",
        ];
        for (f, v) in &flags {
            args.extend([*f, v.as_str()]);
        }
        let run = hardwire(here(), &args);
        let expected = golden(&flags, &[104, 105]);
        match run.code {
            Some(0) => {
                let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
                let ids: Vec<u32> = serde_json::from_value(report["generated_ids"].clone()).unwrap();
                prop_assert_eq!(Some(ids), expected, "{:?}", flags);
            }
            Some(1 | 2) => {
                prop_assert!(expected.is_none(), "refused a valid run {:?}: {}", flags, run.stderr);
                prop_assert!(
                    flags.iter().any(|(f, _)| run.stderr.contains(f)),
                    "the error names none of the flags {:?}: {}", flags, run.stderr
                );
            }
            other => prop_assert!(false, "{:?} ended with {:?}: {}", flags, other, run.stderr),
        }
    }
}
