//! `hardwire quantize`: the accuracy explorer. Quantises a model by a policy, prints the
//! policy, its average bits per weight, each tensor's error (and measured cost, with
//! `--avg-bits`), and the golden model's perplexity and top-1 agreement against f32; with
//! `--report DIR`, also tries a ladder of policies and writes their Pareto table and plot,
//! with the chosen policy as `policy.json` for `--policy` of `rtl`, `sim` and `build`.

use super::engine::{self, Quantized};
use super::ModelArgs;
use clap::Args;
use hardwire::plot::{pareto_front, Point, Scatter};
use hardwire_fpga::output_dir::{OutputDir, Overwrite};
use hardwire_model::accuracy::{score_f32, score_fixed, top1_agreement, Score, SAMPLE_TEXT};
use hardwire_model::fixed::{FixedModel, NumericConfig};
use hardwire_model::quant::{average_bits, QuantPolicy, QuantSpec, QuantizedMatrix};
use hardwire_model::sensitivity::{choose, TensorCost};
use hardwire_model::{LlamaWeights, Reference};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `hardwire quantize`.
#[derive(Args)]
pub struct QuantizeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Text the perplexity and top-1 agreement are measured on (default: the built-in
    /// 313-token sample, never used for calibration).
    #[arg(long)]
    text: Option<String>,
    /// Also try a ladder of policies (every width on each tensor's better grid; with
    /// --avg-bits, the mixed policy at budgets a quarter bit apart) and write the Pareto table
    /// (`pareto.md`), its plot (`pareto.svg`), `report.json` and the chosen `policy.json` to
    /// this directory (written whole or not at all).
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Replace --report's directory even if it holds files that hardwire did not write.
    #[arg(long)]
    force: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// One tensor of the chosen policy.
#[derive(Serialize)]
struct TensorRow {
    name: String,
    bits: u32,
    group_size: Option<usize>,
    affine: bool,
    snr_db: f64,
    rel_err: f64,
    /// Perplexity cost of leaving this tensor at the low width, every other tensor at it
    /// (`--avg-bits` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    cost_at_low: Option<f64>,
}

/// One policy, measured.
#[derive(Serialize, Clone)]
struct Trial {
    name: String,
    /// Mean weight width.
    avg_bits: f64,
    /// Mean bits per weight with the scale and offset multipliers as stored.
    stored_bits: f64,
    perplexity: f64,
    /// Relative to f32: 0.05 is +5%.
    perplexity_vs_f32: f64,
    top1_agreement: f64,
    /// `golden` (the fixed-point golden model) or `f32` (the weights alone, f32 datapath).
    datapath: &'static str,
}

#[derive(Serialize)]
struct Report {
    model: String,
    tokens: usize,
    f32_perplexity: f64,
    policy: QuantPolicy,
    gptq: bool,
    awq: bool,
    chosen: Trial,
    tensors: Vec<TensorRow>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ladder: Vec<Trial>,
}

/// Measures `tensors` against the f32 score: on the golden model, or, for the ladder, with the
/// weights alone in the f32 reference (a fifth of the time; the datapath adds about 0.5% of
/// perplexity, `model/README.md`).
fn trial(
    name: &str,
    w: &LlamaWeights,
    tensors: &[(String, QuantizedMatrix)],
    numerics: NumericConfig,
    tokens: &[u32],
    f32_score: &Score,
    golden: bool,
) -> anyhow::Result<Trial> {
    let score = if golden {
        let m = FixedModel::from_quantized(w, tensors, numerics, tokens.len())?;
        score_fixed(&m, tokens)?
    } else {
        let fq = hardwire_model::quant::fake_quantize(w, tensors);
        score_f32(&Reference::new(&fq), tokens)?
    };
    let (avg_bits, stored_bits) = average_bits(tensors, numerics.mult_bits);
    Ok(Trial {
        name: name.into(),
        avg_bits,
        stored_bits,
        perplexity: score.perplexity,
        perplexity_vs_f32: score.perplexity / f32_score.perplexity - 1.0,
        top1_agreement: top1_agreement(f32_score, &score),
        datapath: if golden { "golden" } else { "f32" },
    })
}

/// The ladder of `--report`: each width on each tensor's better grid, and the mixed policy at
/// budgets a quarter bit apart between its widths.
fn ladder(
    a: &ModelArgs,
    w: &LlamaWeights,
    costs: Option<&[TensorCost]>,
) -> Vec<(String, QuantPolicy)> {
    let group = (a.group_size > 0).then_some(a.group_size);
    let mut out: Vec<(String, QuantPolicy)> = [3, 4, 5, 6, 8]
        .into_iter()
        .map(|b| {
            (
                format!("{b}-bit, better grid per tensor"),
                QuantPolicy::best_grid(w, b, group),
            )
        })
        .collect();
    if let (Some(costs), Some(m)) = (costs, a.mixed) {
        let spec = |bits| QuantSpec {
            bits,
            group_size: group,
            offset: a.offset,
        };
        let mut budget = m.base as f64 + 0.25;
        while budget < m.high as f64 {
            let p = choose(costs, spec(m.base), spec(m.high), budget);
            // A budget past what raising every costly tensor needs gives the same policy.
            if !out.iter().any(|(_, q)| *q == p) {
                out.push((format!("{}/{} at {budget:.2} bits", m.base, m.high), p));
            }
            budget += 0.25;
        }
    }
    out
}

/// Runs the command.
pub fn run(a: &QuantizeArgs) -> anyhow::Result<()> {
    let t = Instant::now();
    // Before any work: a refused output directory is refused at once.
    let out = match &a.report {
        Some(dir) => Some(OutputDir::create(dir, Overwrite::from_force(a.force))?),
        None => None,
    };
    let (w, tok) = engine::load(&a.model)?;
    let numerics = engine::datapath(&a.model)?;
    let mut tokens = tok.encode(a.text.as_deref().unwrap_or(SAMPLE_TEXT))?;
    tokens.truncate(w.config.max_seq);
    anyhow::ensure!(
        tokens.len() >= 2,
        "--text gives {} tokens; at least 2 are needed",
        tokens.len()
    );
    eprintln!("scoring {} tokens with the f32 reference", tokens.len());
    let f32_score = score_f32(&Reference::new(&w), &tokens)?;
    let Quantized {
        policy,
        tensors,
        costs,
        uniform,
    } = engine::quantize(&a.model, &w, &tok)?;
    eprintln!("scoring the policy on the golden model");
    let chosen = trial("chosen", &w, &tensors, numerics, &tokens, &f32_score, true)?;
    let names = hardwire_model::quant::named_matrices(&w);
    let rows: Vec<TensorRow> = names
        .iter()
        .zip(&tensors)
        .map(|((name, m), (_, q))| {
            let r = q.report(name, m);
            TensorRow {
                name: name.clone(),
                bits: q.spec.bits,
                group_size: q.spec.group_size,
                affine: q.spec.offset,
                snr_db: r.snr_db,
                rel_err: r.rel_err,
                cost_at_low: costs.as_ref().and_then(|c| {
                    c.iter()
                        .find(|c| &c.name == name)
                        .map(TensorCost::perplexity_cost)
                }),
            }
        })
        .collect();
    drop(tensors);
    let mut trials = Vec::new();
    if out.is_some() {
        // Each tensor is quantised on its own (GPTQ's Hessians come from the f32 model), so a
        // mixed policy's tensors are those of the two uniform policies the costs were measured
        // on.
        for (name, p) in ladder(&a.model, &w, costs.as_deref()) {
            eprintln!("trying {name}");
            let q = match engine::pick(&w, &p, &uniform) {
                Some(q) => q,
                None => engine::round(&a.model, &w, &tok, &p)?,
            };
            trials.push(trial(&name, &w, &q, numerics, &tokens, &f32_score, false)?);
        }
    }
    let report = Report {
        model: a.model.model.clone(),
        tokens: tokens.len(),
        f32_perplexity: f32_score.perplexity,
        policy,
        gptq: a.model.gptq,
        awq: a.model.awq,
        chosen,
        tensors: rows,
        ladder: trials,
    };
    if let Some(out) = out {
        let write = |name: &str, text: String| -> anyhow::Result<()> {
            let path = out.path().join(name);
            std::fs::write(&path, text)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
        };
        write("policy.json", serde_json::to_string_pretty(&report.policy)?)?;
        write("report.json", serde_json::to_string_pretty(&report)?)?;
        write("pareto.md", pareto_table(&report))?;
        write("pareto.svg", pareto_plot(&report).svg())?;
        let dir = out.commit()?;
        eprintln!(
            "wrote policy.json, report.json, pareto.md and pareto.svg to {}",
            dir.display()
        );
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", summary(&report));
    }
    eprintln!("done in {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}

fn every_trial(r: &Report) -> Vec<&Trial> {
    let mut all: Vec<&Trial> = std::iter::once(&r.chosen).chain(&r.ladder).collect();
    all.sort_by(|a, b| a.avg_bits.total_cmp(&b.avg_bits));
    all
}

fn points(trials: &[&Trial]) -> Vec<Point> {
    trials
        .iter()
        .map(|t| Point {
            x: t.avg_bits,
            y: t.perplexity,
            label: t.name.clone(),
        })
        .collect()
}

/// The tried policies as a Markdown table, Pareto-optimal ones marked.
fn pareto_table(r: &Report) -> String {
    let all = every_trial(r);
    let front = pareto_front(&points(&all));
    let mut s = format!(
        "{} on {} tokens, f32 perplexity {:.3}\n\n| policy | avg bits | stored bits | perplexity | vs f32 | top-1 | datapath | Pareto |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n",
        r.model, r.tokens, r.f32_perplexity
    );
    for (i, t) in all.iter().enumerate() {
        let _ = writeln!(
            s,
            "| {} | {:.2} | {:.2} | {:.3} | {:+.1}% | {:.2}% | {} | {} |",
            t.name,
            t.avg_bits,
            t.stored_bits,
            t.perplexity,
            100.0 * t.perplexity_vs_f32,
            100.0 * t.top1_agreement,
            t.datapath,
            if front.contains(&i) { "yes" } else { "" }
        );
    }
    s
}

fn pareto_plot(r: &Report) -> Scatter {
    let all = every_trial(r);
    Scatter {
        title: format!("{}: perplexity against average weight bits", r.model),
        x_title: "average bits per weight".into(),
        y_title: "perplexity".into(),
        points: points(&all),
        lines: vec![
            (r.f32_perplexity, "f32".into()),
            (r.f32_perplexity * 1.05, "+5%".into()),
            (r.f32_perplexity * 1.15, "+15%".into()),
        ],
        x_lines: Vec::new(),
        maximise_y: false,
    }
}

/// The short human summary: the policy, its bits, its accuracy, the costliest tensors.
fn summary(r: &Report) -> String {
    let c = &r.chosen;
    let mut s = format!(
        "policy: default {:?}, {} overrides{}{}\naverage bits per weight: {:.3} ({:.3} with scales and offsets)\ngolden model on {} tokens: perplexity {:.3} ({:+.1}% vs f32 {:.3}), top-1 agreement {:.2}%\n",
        r.policy.default,
        r.policy.overrides.len(),
        if r.gptq { ", GPTQ" } else { "" },
        if r.awq { ", AWQ" } else { "" },
        c.avg_bits,
        c.stored_bits,
        r.tokens,
        c.perplexity,
        100.0 * c.perplexity_vs_f32,
        r.f32_perplexity,
        100.0 * c.top1_agreement
    );
    let mut worst: Vec<&TensorRow> = r.tensors.iter().collect();
    worst.sort_by(|a, b| a.snr_db.total_cmp(&b.snr_db));
    s.push_str(
        "least accurate tensors (bits, SNR, perplexity cost of leaving it at the low width):\n",
    );
    for t in worst.iter().take(8) {
        let cost = t
            .cost_at_low
            .map_or(String::new(), |c| format!(", {:+.2}%", 100.0 * c));
        let _ = writeln!(
            s,
            "  {} ({} bits, {:.1} dB{cost})",
            t.name, t.bits, t.snr_db
        );
    }
    if !r.ladder.is_empty() {
        s.push('\n');
        s.push_str(&pareto_table(r));
    }
    s
}
