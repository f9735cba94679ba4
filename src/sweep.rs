//! The design-space sweep behind `--sweep` (`hardwire build` and `fpga_build`): the estimator
//! over a range of reuse factors, then place and route at the fastest points that fit, with
//! a table on stdout, `sweep.json`, and two plots (`sweep-luts.svg`, `sweep-dsps.svg`) of
//! tokens per second against the resource, the part's capacity drawn in.

use std::collections::BTreeMap;
use std::fmt::Write;

use anyhow::Context;
use hardwire_fpga::output_dir::{OutputDir, Overwrite};
use hardwire_fpga::Resources;
use hardwire_model::fixed::FixedModel;
use serde::Serialize;

use crate::blocks::LlamaCore;
use crate::board_flow::{BoardFlow, CyclesPerToken};
use crate::plot::{Point, Scatter};

/// The sweep's flags.
#[derive(clap::Args, Debug, Clone)]
pub struct SweepArgs {
    /// Sweep the reuse factor instead of building one design: estimate every point of
    /// --sweep-reuse, place and route the fastest that fit (--sweep-place of them), and write
    /// a table (sweep.json) and plots (sweep-luts.svg, sweep-dsps.svg) into --out.
    #[arg(long)]
    pub sweep: bool,
    /// Decoder reuse factors the sweep estimates (the LM head's follows each as it would
    /// for a single build).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "512,1024,2048,4096,8192,16384"
    )]
    pub sweep_reuse: Vec<usize>,
    /// How many of the fastest points that fit the sweep places and routes (0: estimates
    /// only).
    #[arg(long, default_value_t = 2)]
    pub sweep_place: usize,
}

/// A placed and routed sweep point.
#[derive(Debug, Clone, Serialize)]
pub struct Placed {
    /// What nextpnr (or Vivado, or yosys) reported as used.
    pub used: Resources,
    /// Fmax, when the flow reports one.
    pub fmax_mhz: Option<f64>,
    /// Whether the clock placed for was met.
    pub timing_met: Option<bool>,
    /// `(estimate - actual) / actual` per resource.
    pub estimate_errors: BTreeMap<String, f64>,
    /// Tokens per second at Fmax, averaged over the cache positions.
    pub tokens_per_second_at_fmax: Option<f64>,
    /// Wall-clock seconds of synthesis, place and route and packing.
    pub seconds: f64,
    /// The point's build, relative to the sweep's output directory.
    pub dir: String,
}

/// One reuse factor of the sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    /// Decoder reuse factor.
    pub reuse: usize,
    /// LM-head reuse factor.
    pub lm_head_reuse: usize,
    /// Weight multiply-accumulate lanes of the core.
    pub weight_multipliers: u64,
    /// The estimator's resources, the board top included.
    pub estimate: Resources,
    /// Whether the estimate fits the part.
    pub fits: bool,
    /// Cycles per token at the first and last cache position, and the bound.
    pub cycles_per_token: CyclesPerToken,
    /// Tokens per second at the clock, averaged over the cache positions (cycles per token
    /// grow linearly with the position).
    pub tokens_per_second: f64,
    /// Place and route, for the points chosen.
    pub placed: Option<Placed>,
}

/// What a sweep found; written as `sweep.json`.
#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    /// The board's id.
    pub board: String,
    /// The part's resources.
    pub available: Resources,
    /// The clock the tokens per second are at, in MHz.
    pub clock_mhz: f64,
    /// What the caller swept, as it describes it.
    pub settings: serde_json::Value,
    /// The points, by reuse factor.
    pub points: Vec<SweepPoint>,
}

/// Runs the sweep over `args.sweep_reuse` for `model` (`lm_head_reuse` maps a decoder reuse
/// factor to the LM head's; attention has `attention_lanes` lanes throughout), writing into
/// `out`, which the caller commits. Each placed point
/// runs the whole [`BoardFlow`] (simulation check included) into `reuse-<R>/`.
pub fn run(
    args: &SweepArgs,
    flow: &BoardFlow,
    model: &FixedModel,
    lm_head_reuse: impl Fn(usize) -> usize,
    attention_lanes: usize,
    settings: serde_json::Value,
    out: &OutputDir,
) -> anyhow::Result<SweepReport> {
    if args.sweep_reuse.is_empty() || args.sweep_reuse.contains(&0) {
        anyhow::bail!("--sweep-reuse needs reuse factors of at least 1");
    }
    let (board, _) = flow.board()?;
    let clock_mhz = flow.clock_mhz()?;
    let mut reuses = args.sweep_reuse.clone();
    reuses.sort_unstable();
    reuses.dedup();
    let mut points = Vec::new();
    for (i, &reuse) in reuses.iter().enumerate() {
        let lm = lm_head_reuse(reuse);
        eprintln!(
            "[sweep {}/{}] reuse {reuse} (LM head {lm}): the estimate",
            i + 1,
            reuses.len()
        );
        let core = LlamaCore::from_model(model, reuse, lm).with_attention_lanes(attention_lanes);
        let estimate = flow
            .estimate(&core)
            .with_context(|| format!("estimating reuse {reuse}"))?;
        let cycles = CyclesPerToken::of(&core);
        points.push(SweepPoint {
            reuse,
            lm_head_reuse: lm,
            weight_multipliers: core.weight_multipliers(),
            estimate,
            fits: board.part.check_fit(&estimate).is_ok(),
            tokens_per_second: clock_mhz * 1e6 / cycles.mean(),
            cycles_per_token: cycles,
            placed: None,
        });
    }

    let mut fastest: Vec<usize> = (0..points.len()).filter(|&i| points[i].fits).collect();
    fastest.sort_by(|&a, &b| {
        points[b]
            .tokens_per_second
            .total_cmp(&points[a].tokens_per_second)
    });
    fastest.truncate(args.sweep_place);
    for (k, &i) in fastest.iter().enumerate() {
        let p = &points[i];
        eprintln!(
            "[sweep: place and route {}/{}] reuse {} (LM head {})",
            k + 1,
            fastest.len(),
            p.reuse,
            p.lm_head_reuse
        );
        let name = format!("reuse-{}", p.reuse);
        let sub = OutputDir::create(&out.path().join(&name), Overwrite::Force)?;
        let core = LlamaCore::from_model(model, p.reuse, p.lm_head_reuse)
            .with_attention_lanes(attention_lanes);
        let mut point_settings = settings.clone();
        point_settings["reuse"] = p.reuse.into();
        point_settings["lm_head_reuse"] = p.lm_head_reuse.into();
        let report = flow.run(&core, model, point_settings, &sub)?;
        sub.commit()?;
        let Some(fpga) = report.fpga else { continue };
        let mean = p.cycles_per_token.mean();
        points[i].placed = Some(Placed {
            used: fpga.utilisation.used(),
            fmax_mhz: fpga.fmax_mhz,
            timing_met: fpga.timing_met,
            // The flow's own: its estimate is the same design's.
            estimate_errors: report.estimate_errors.unwrap_or_default(),
            tokens_per_second_at_fmax: fpga.fmax_mhz.map(|f| f * 1e6 / mean),
            seconds: fpga.stages.iter().map(|s| s.seconds).sum(),
            dir: name,
        });
    }

    let report = SweepReport {
        board: board.id.to_string(),
        available: board.part.resources,
        clock_mhz,
        settings,
        points,
    };
    let write = |name: &str, text: String| {
        let path = out.path().join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write("sweep.json", serde_json::to_string_pretty(&report)?)?;
    write("sweep-luts.svg", report.plot(Resource::Luts).svg())?;
    write("sweep-dsps.svg", report.plot(Resource::Dsps).svg())?;
    Ok(report)
}

/// The resource on a plot's horizontal axis.
#[derive(Debug, Clone, Copy)]
pub enum Resource {
    Luts,
    Dsps,
}

impl SweepReport {
    /// Tokens per second against a resource: every point's estimate at the clock, every
    /// placed point's actual use at its Fmax, and the part's capacity.
    pub fn plot(&self, r: Resource) -> Scatter {
        let (name, of): (&str, fn(&Resources) -> u64) = match r {
            Resource::Luts => ("LUTs", |x| x.luts),
            Resource::Dsps => ("DSP blocks", |x| x.dsps),
        };
        let mut points: Vec<Point> = (self.points.iter())
            .map(|p| Point {
                x: of(&p.estimate) as f64,
                y: p.tokens_per_second,
                label: format!("R{} est.", p.reuse),
            })
            .collect();
        for p in &self.points {
            if let Some((placed, tps)) =
                (p.placed.as_ref()).and_then(|pl| pl.tokens_per_second_at_fmax.map(|t| (pl, t)))
            {
                points.push(Point {
                    x: of(&placed.used) as f64,
                    y: tps,
                    label: format!("R{} placed", p.reuse),
                });
            }
        }
        Scatter {
            title: format!(
                "{}: tokens/s against {name} (estimates at {} MHz, placed points at Fmax)",
                self.board, self.clock_mhz
            ),
            x_title: name.into(),
            y_title: "tokens per second".into(),
            points,
            lines: Vec::new(),
            x_lines: vec![(of(&self.available) as f64, format!("{name} in the part"))],
            maximise_y: true,
        }
    }

    /// The table: one line per point.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:>7} {:>7} {:>5} {:>7} {:>7} {:>5} {:>4} {:>4} {:>15} {:>8}   placed: {:>7} {:>5} {:>6} {:>8} {:>8} {:>6}",
            "reuse", "LM", "lanes", "LUTs", "FFs", "DSPs", "EBR", "fits", "cycles/token", "tok/s",
            "LUTs", "DSPs", "Fmax", "tok/s", "LUT err", "s"
        );
        for p in &self.points {
            let e = &p.estimate;
            let c = &p.cycles_per_token;
            let _ = write!(
                s,
                "{:>7} {:>7} {:>5} {:>7} {:>7} {:>5} {:>4} {:>4} {:>15} {:>8.0}",
                p.reuse,
                p.lm_head_reuse,
                p.weight_multipliers,
                e.luts,
                e.ffs,
                e.dsps,
                e.bram_blocks,
                if p.fits { "yes" } else { "no" },
                format!("{}-{}", c.pos_0, c.pos_last),
                p.tokens_per_second
            );
            if let Some(pl) = &p.placed {
                let _ = write!(
                    s,
                    "           {:>7} {:>5} {:>6} {:>8} {:>+7.1}% {:>6.0}",
                    pl.used.luts,
                    pl.used.dsps,
                    pl.fmax_mhz.map_or("-".into(), |f| format!("{f:.1}")),
                    pl.tokens_per_second_at_fmax
                        .map_or("-".into(), |t| format!("{t:.0}")),
                    pl.estimate_errors.get("luts").copied().unwrap_or(0.0) * 100.0,
                    pl.seconds
                );
            }
            s.push('\n');
        }
        let _ = writeln!(
            s,
            "tokens/s at {} MHz, averaged over the cache positions; the {} has {}",
            self.clock_mhz, self.board, self.available
        );
        s
    }
}
