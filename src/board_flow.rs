//! The one flow from a model's core to a board, which `hardwire build` and
//! `examples/fpga_build.rs` both run: elaborate → simulate against the golden model → write
//! and lint the Verilog → estimate → place and route → report.
//!
//! Every step prints a line on stderr; the run writes the Verilog (`rtl/`), the flow's build
//! directory (`<board>/`) and `report.json` into an [`OutputDir`] that the caller commits.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use hardwire_blocks::token_link::{TokenLink, TokenLinkPins};
use hardwire_fpga::estimate::estimate;
use hardwire_fpga::flow::ecp5::Ecp5Flow;
use hardwire_fpga::flow::xilinx::XilinxFlow;
use hardwire_fpga::output_dir::OutputDir;
use hardwire_fpga::toolchain::{Ecp5Toolchain, Provisioning};
use hardwire_fpga::top::{parse_mhz, BoardTop, ClockPlan};
use hardwire_fpga::{Board, BuildReport, Family, Resources};
use hardwire_hdl::ir::Design;
use hardwire_hdl::verilog::Verilog;
use hardwire_model::fixed::FixedModel;
use hardwire_sim::cosim::Recorder;
use serde::Serialize;

use crate::blocks::LlamaCore;
use crate::fit::shrink_advice;
use crate::report::DesignReport;
use crate::token_stream::run_prompt;

/// The flow's settings, as command-line flags (flattened into `hardwire build` and
/// `fpga_build`).
#[derive(clap::Args, Debug, Clone)]
#[command(allow_negative_numbers = true)]
pub struct BoardFlow {
    /// Board: ulx3s (ECP5) or arty_a7_100t (Xilinx 7-series; a yosys estimate without Vivado).
    #[arg(long, default_value = "ulx3s")]
    pub board: String,
    /// Run the design from an ECP5 PLL at this many MHz (default: the board's, 100 MHz on
    /// the ULX3S; none on the Arty, whose oscillator is 100 MHz).
    #[arg(long, value_parser = parse_mhz)]
    pub pll_mhz: Option<f64>,
    /// Run the design from the board's oscillator, without a PLL (25 MHz on the ULX3S).
    #[arg(long, conflicts_with = "pll_mhz")]
    pub board_clock: bool,
    /// Clock to place and route for, in MHz (default: the board clock, or the PLL's).
    #[arg(long, value_parser = parse_mhz)]
    pub freq: Option<f64>,
    /// nextpnr's placement seed.
    #[arg(long, default_value_t = 1)]
    pub placement_seed: u64,
    /// Tokens generated in the native-simulation check against the golden model, after the
    /// prompt (0 skips the check).
    #[arg(long, default_value_t = 4)]
    pub check_tokens: u16,
    /// Stop after the estimate (no synthesis).
    #[arg(long)]
    pub estimate_only: bool,
}

/// The prompt of the simulation check.
pub const CHECK_PROMPT: &[u32] = &[72, 105, 33];

/// Cycles per token.
#[derive(Debug, Clone, Serialize)]
pub struct CyclesPerToken {
    /// At position 0.
    pub pos_0: u64,
    /// At the last position of the KV cache.
    pub pos_last: u64,
    /// Weight MACs per token over weight multipliers: no schedule does better.
    pub bound: u64,
}

impl CyclesPerToken {
    /// `core`'s, from its latency formulas.
    pub fn of(core: &LlamaCore) -> CyclesPerToken {
        CyclesPerToken {
            pos_0: core.cycles_per_token(0),
            pos_last: core.cycles_per_token(core.max_seq() - 1),
            bound: core.cycles_per_token_bound(),
        }
    }

    /// The mean over the cache positions (cycles grow linearly with the position).
    pub fn mean(&self) -> f64 {
        (self.pos_0 + self.pos_last) as f64 / 2.0
    }
}

/// The native-simulation check.
#[derive(Debug, Clone, Serialize)]
pub struct SimulationReport {
    /// The prompt's token ids.
    pub prompt: Vec<u32>,
    /// The tokens the simulated core generated (equal to the golden model's).
    pub tokens: Vec<u32>,
    /// Cycles each token took (equal to `LlamaCore::cycles_per_token`).
    pub cycles_per_token: Vec<u64>,
    /// Cycles of the whole run.
    pub cycles: u64,
    /// Wall time.
    pub seconds: f64,
}

/// The slowest register-to-register path nextpnr found.
#[derive(Debug, Clone, Serialize)]
pub struct CriticalPath {
    /// Its first cell.
    pub from: String,
    /// Its last cell.
    pub to: String,
    /// Its delay.
    pub ns: f64,
}

/// What a run of the flow found; written as `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct BoardReport {
    /// The board's id.
    pub board: String,
    /// What the caller built (model and knobs), as it describes it.
    pub settings: serde_json::Value,
    /// The board top's module name.
    pub design: String,
    /// Elaborating the core.
    pub elaboration_seconds: f64,
    /// Cycles per token, predicted (and checked in simulation when there is a check).
    pub cycles_per_token: CyclesPerToken,
    /// The native-simulation check, when run.
    pub simulation: Option<SimulationReport>,
    /// Verilator's lint of the board's Verilog: passed, FAILED or skipped.
    pub verilator_lint: String,
    /// yosys' `check -assert` of it: passed, FAILED or skipped.
    pub yosys_check: String,
    /// The resources predicted from the IR.
    pub estimate: Resources,
    /// `(estimate - actual) / actual` per resource, after place and route.
    pub estimate_errors: Option<BTreeMap<String, f64>>,
    /// The FPGA flow's report (none with `--estimate-only`).
    pub fpga: Option<BuildReport>,
    /// The slowest path (ECP5 builds).
    pub critical_path: Option<CriticalPath>,
    /// Tokens per second at the first and last position: at the clock placed for, and at
    /// Fmax.
    pub tokens_per_second_at_clock: Option<[f64; 2]>,
    /// The same at Fmax.
    pub tokens_per_second_at_fmax: Option<[f64; 2]>,
    /// The core block by block.
    pub design_report: DesignReport,
    /// Wall time of the run.
    pub seconds: f64,
}

impl BoardFlow {
    /// Runs the flow on `core` (whose golden model is `model`), writing into `out` (which
    /// the caller commits). Stops with an error, before any synthesis, when simulation
    /// disagrees with the golden model or the estimate does not fit the board.
    pub fn run(
        &self,
        core: &LlamaCore,
        model: &FixedModel,
        settings: serde_json::Value,
        out: &OutputDir,
    ) -> anyhow::Result<BoardReport> {
        let t0 = Instant::now();
        let (board, plan) = self.board()?;
        let steps = if self.estimate_only { 4 } else { 5 };
        let step = |k: usize, what: &str| eprintln!("[{k}/{steps}] {what}");

        step(1, "elaborating the core");
        let t = Instant::now();
        let design = Design::elaborate(core)
            .map_err(|e| anyhow!("{e}"))
            .context("the generated core did not elaborate")?;
        let elaboration_seconds = t.elapsed().as_secs_f64();
        let cycles = CyclesPerToken::of(core);

        let simulation = if self.check_tokens == 0 {
            step(2, "native simulation: skipped (--check-tokens 0)");
            None
        } else {
            step(
                2,
                &format!(
                    "native simulation: a {}-token prompt and {} generated tokens against the \
                     golden model",
                    CHECK_PROMPT.len(),
                    self.check_tokens
                ),
            );
            Some(self.simulate(core, model, &design)?)
        };

        step(
            3,
            "the core on the board's pins behind the serial token protocol: Verilog, lint",
        );
        let on_board = self.on_board(core, &board, plan)?;
        let verilog = Verilog::from_design(&on_board);
        let rtl = out.path().join("rtl");
        verilog.write_to(&rtl).context("writing the Verilog")?;
        let (lint, yosys) = outside_checks(&verilog, &rtl);
        if lint == Check::Failed || yosys == Check::Failed {
            bail!(
                "an outside tool rejected the Verilog; its log is in {}",
                rtl.display()
            );
        }

        step(4, "the estimate before synthesis");
        let predicted = estimate(&on_board, &board.part);
        eprintln!(
            "      {predicted} (the {} has {})",
            board.part.name, board.part.resources
        );
        if let Err(e) = board.part.check_fit(&predicted) {
            bail!(
                "by the estimate, {e}\n{}",
                shrink_advice(&predicted, &board.part.resources)
            );
        }
        let mut report = BoardReport {
            board: board.id.to_string(),
            settings,
            design: verilog.top.clone(),
            elaboration_seconds,
            cycles_per_token: cycles,
            simulation,
            verilator_lint: lint.as_str().into(),
            yosys_check: yosys.as_str().into(),
            estimate: predicted,
            estimate_errors: None,
            fpga: None,
            critical_path: None,
            tokens_per_second_at_clock: None,
            tokens_per_second_at_fmax: None,
            design_report: DesignReport::new(core, &design, 0),
            seconds: 0.0,
        };
        if !self.estimate_only {
            step(
                5,
                &format!("synthesis, place and route for the {}", board.name),
            );
            let provisioning = Provisioning::from_env();
            let dir = out.path().join(board.id);
            let mut flow: BuildReport = match board.part.family {
                Family::Ecp5 => {
                    let tools = Ecp5Toolchain::find(&provisioning)?;
                    eprintln!("      using {}", tools.source);
                    let mut flow = Ecp5Flow::new(&board);
                    flow.seed = self.placement_seed;
                    if let Some(mhz) = self.pll(&board) {
                        flow = flow.with_pll(mhz);
                    }
                    if let Some(f) = self.freq {
                        flow.target_mhz = f;
                    }
                    flow.run(&verilog, &dir, &tools)?
                }
                Family::Xilinx7 => {
                    let mut flow = XilinxFlow::new(&board);
                    if let Some(f) = self.freq {
                        flow.target_mhz = f;
                    }
                    flow.run(&verilog, &dir, &provisioning)?
                }
            };
            report.critical_path = critical_path(&dir);
            // The build moves with the output directory when the caller commits it.
            flow.dir = out.target().join(board.id);
            let actual = flow.utilisation.used();
            report.estimate_errors = Some(
                [
                    ("luts", predicted.luts, actual.luts),
                    ("ffs", predicted.ffs, actual.ffs),
                    ("dsps", predicted.dsps, actual.dsps),
                    ("bram_blocks", predicted.bram_blocks, actual.bram_blocks),
                ]
                .into_iter()
                .map(|(k, p, a)| (k.to_string(), relative_error(p, a)))
                .collect(),
            );
            let per_s = |mhz: f64| {
                [
                    mhz * 1e6 / report.cycles_per_token.pos_0 as f64,
                    mhz * 1e6 / report.cycles_per_token.pos_last as f64,
                ]
            };
            report.tokens_per_second_at_clock = Some(per_s(flow.target_mhz));
            report.tokens_per_second_at_fmax = flow.fmax_mhz.map(per_s);
            report.fpga = Some(flow);
        }
        report.seconds = t0.elapsed().as_secs_f64();
        let path = out.path().join("report.json");
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(report)
    }

    /// The board and its clock.
    pub fn board(&self) -> anyhow::Result<(Board, ClockPlan)> {
        let board = Board::by_id(&self.board).with_context(|| {
            format!(
                "unknown board `{}`; known boards: {}",
                self.board,
                Board::ids().join(", ")
            )
        })?;
        let plan = ClockPlan::for_board(&board, self.pll(&board)).context("--pll-mhz")?;
        Ok((board, plan))
    }

    /// The PLL the design runs from on `board`: `--pll-mhz`, or none with `--board-clock`,
    /// or the board's default.
    fn pll(&self, board: &Board) -> Option<f64> {
        match (self.pll_mhz, self.board_clock) {
            (Some(mhz), _) => Some(mhz),
            (None, true) => None,
            (None, false) => board.default_pll_mhz,
        }
    }

    /// The clock the design runs at, in MHz: `--freq`, or the PLL's, or the board's.
    pub fn clock_mhz(&self) -> anyhow::Result<f64> {
        let (board, plan) = self.board()?;
        Ok(self.freq.unwrap_or(plan.clock_hz(&board) as f64 / 1e6))
    }

    /// The resources the estimator predicts for `core` on the board behind the token link,
    /// without writing or building anything.
    pub fn estimate(&self, core: &LlamaCore) -> anyhow::Result<Resources> {
        let (board, plan) = self.board()?;
        Ok(estimate(&self.on_board(core, &board, plan)?, &board.part))
    }

    /// `core` behind the serial token link on the board's pins, elaborated.
    fn on_board(&self, core: &LlamaCore, board: &Board, plan: ClockPlan) -> anyhow::Result<Design> {
        let link = TokenLink::new(core.clone(), core.token_bits(), plan.clock_hz(board));
        let pins = TokenLinkPins {
            link,
            leds: board.pins.leds.1,
        };
        Design::elaborate(&BoardTop {
            board: board.clone(),
            plan,
            block: pins,
        })
        .map_err(|e| anyhow!("{e}"))
    }

    /// Runs the check prompt through the elaborated core and the golden model: the same
    /// tokens, each in the cycles `LlamaCore::cycles_per_token` predicts.
    fn simulate(
        &self,
        core: &LlamaCore,
        model: &FixedModel,
        design: &Design,
    ) -> anyhow::Result<SimulationReport> {
        let t = Instant::now();
        let needed = CHECK_PROMPT.len() + usize::from(self.check_tokens) - 1;
        if needed > core.max_seq() {
            bail!(
                "--check-tokens {} after a {}-token prompt needs a KV cache of {needed} \
                 positions; this core has {}",
                self.check_tokens,
                CHECK_PROMPT.len(),
                core.max_seq()
            );
        }
        let golden = model.generate_greedy(CHECK_PROMPT, self.check_tokens.into(), None)?;
        let worst = core
            .cycles_per_token(0)
            .max(core.cycles_per_token(core.max_seq() - 1));
        let mut bench = Recorder::new(design, 2)?.recording(false);
        let run = run_prompt(
            &mut bench,
            CHECK_PROMPT,
            self.check_tokens,
            4 * worst,
            |_| {},
        )?;
        bench.checks()?;
        if run.tokens != golden {
            bail!(
                "the simulated core generated {:?} but the golden model {:?}",
                run.tokens,
                golden
            );
        }
        let measured = run.cycles_per_token();
        if let Some((pos, &c)) = measured
            .iter()
            .enumerate()
            .find(|&(p, &c)| c != core.cycles_per_token(p))
        {
            bail!(
                "the token at position {pos} took {c} cycles; LlamaCore::cycles_per_token says {}",
                core.cycles_per_token(pos)
            );
        }
        Ok(SimulationReport {
            prompt: CHECK_PROMPT.to_vec(),
            tokens: run.tokens,
            cycles_per_token: measured,
            cycles: run.cycles,
            seconds: t.elapsed().as_secs_f64(),
        })
    }
}

impl BoardReport {
    /// The human summary: simulation, outside checks, the flow's figures, cycles and tokens
    /// per second, the critical path and the estimator's error.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        if let Some(sim) = &self.simulation {
            s.push_str(&format!(
                "native simulation: {} generated tokens equal the golden model's, each in the \
                 predicted cycles ({} cycles, {:.1} s)\n",
                sim.tokens.len(),
                sim.cycles,
                sim.seconds
            ));
        }
        s.push_str(&format!(
            "verilator lint: {}   yosys check: {}\n",
            self.verilator_lint, self.yosys_check
        ));
        match &self.fpga {
            Some(flow) => s.push_str(&flow.summary()),
            None => s.push_str(&format!("  estimate    {}\n", self.estimate)),
        }
        let c = &self.cycles_per_token;
        s.push_str(&format!(
            "  cycles/token {} at position 0, {} at the last position (bound {})\n",
            c.pos_0, c.pos_last, c.bound
        ));
        if let (Some([f0, fl]), Some([c0, cl])) = (
            self.tokens_per_second_at_fmax,
            self.tokens_per_second_at_clock,
        ) {
            s.push_str(&format!(
                "  tokens/s    {fl:.0}–{f0:.0} at Fmax, {cl:.0}–{c0:.0} at the clock placed for\n"
            ));
        }
        if let Some(p) = &self.critical_path {
            s.push_str(&format!(
                "  critical path {:.1} ns: {} -> {}\n",
                p.ns, p.from, p.to
            ));
        }
        if let (Some(errors), Some(flow)) = (&self.estimate_errors, &self.fpga) {
            let used = flow.utilisation.used();
            let line: Vec<String> = [
                ("luts", self.estimate.luts, used.luts),
                ("ffs", self.estimate.ffs, used.ffs),
                ("dsps", self.estimate.dsps, used.dsps),
                ("bram_blocks", self.estimate.bram_blocks, used.bram_blocks),
            ]
            .iter()
            .map(|(k, p, a)| format!("{k} {p} vs {a} ({:+.1}%)", 100.0 * errors[*k]))
            .collect();
            s.push_str(&format!(
                "  estimate vs {}: {}\n",
                flow.flow,
                line.join(", ")
            ));
        }
        s
    }

    /// Whether the FPGA flow ran and missed timing.
    pub fn timing_missed(&self) -> bool {
        self.fpga.as_ref().and_then(|f| f.timing_met) == Some(false)
    }
}

/// The worst register-to-register path in nextpnr's report (the block that limits Fmax).
fn critical_path(build_dir: &Path) -> Option<CriticalPath> {
    let text = std::fs::read_to_string(build_dir.join("nextpnr-report.json")).ok()?;
    let report: serde_json::Value = serde_json::from_str(&text).ok()?;
    let clocked = |end: &serde_json::Value| end.as_str().is_some_and(|s| s.starts_with("posedge"));
    report["critical_paths"]
        .as_array()?
        .iter()
        .filter(|p| clocked(&p["from"]) && clocked(&p["to"]))
        .filter_map(|p| {
            let steps = p["path"].as_array()?;
            let cell = |v: &serde_json::Value| v["cell"].as_str().map(str::to_string);
            Some(CriticalPath {
                from: cell(&steps.first()?["from"])?,
                to: cell(&steps.last()?["to"])?,
                ns: steps.iter().filter_map(|s| s["delay"].as_f64()).sum(),
            })
        })
        .max_by(|a, b| a.ns.total_cmp(&b.ns))
}

/// `(estimate - actual) / actual`.
fn relative_error(estimate: u64, actual: u64) -> f64 {
    (estimate as f64 - actual as f64) / (actual.max(1) as f64)
}

/// An outside tool's verdict on the Verilog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Passed,
    Failed,
    NotInstalled,
}

impl Check {
    fn as_str(self) -> &'static str {
        match self {
            Check::Passed => "passed",
            Check::Failed => "FAILED",
            Check::NotInstalled => "skipped (not installed)",
        }
    }
}

/// Verilator's lint and yosys' `check -assert` of the Verilog in `rtl`, each logged there.
fn outside_checks(verilog: &Verilog, rtl: &Path) -> (Check, Check) {
    // With the models of external modules (a PLL's), which the flow's tools provide.
    let sources: Vec<String> = verilog.simulation_sources().map(str::to_string).collect();
    let mut lint: Vec<String> = ["--lint-only", "-Wall", "--top-module", &verilog.top]
        .iter()
        .map(|s| s.to_string())
        .collect();
    lint.extend(sources.iter().cloned());
    let script = format!(
        "read_verilog {}; hierarchy -check -top {}; proc; check -assert",
        sources.join(" "),
        verilog.top
    );
    (
        run_tool(rtl, "verilator", &lint),
        run_tool(rtl, "yosys", &["-q".into(), "-p".into(), script]),
    )
}

/// Runs a tool in `dir`, keeping its output in `dir/<tool>.log`.
fn run_tool(dir: &Path, tool: &str, args: &[String]) -> Check {
    match Command::new(tool).args(args).current_dir(dir).output() {
        Err(_) => Check::NotInstalled,
        Ok(out) => {
            let mut log = out.stdout;
            log.extend(out.stderr);
            let _ = std::fs::write(dir.join(format!("{tool}.log")), log);
            if out.status.success() {
                Check::Passed
            } else {
                Check::Failed
            }
        }
    }
}
