//! Every generated module passes `verilator --lint-only -Wall` with no warning, and yosys
//! `check -assert` with no latch: no multiple drivers, no undriven nets, no logic loops.

use std::path::Path;
use std::process::Command;

use hardwire::blocks::{LlamaCore, MultiplierArray};
use hardwire::hdl::ir::Param;
use hardwire::hdl::prelude::*;
use hardwire::hdl::primitives::{AdderTree, AsyncFifo, ConstMul, FixedWeightDot, Mac};
use hardwire::hdl::verilog::Verilog;
use hardwire::sim::cosim::{cache_dir, require_tool, verilator_lint};

fn written(name: &str, design: &Design) -> (Verilog, std::path::PathBuf) {
    let v = Verilog::from_design(design);
    let dir = cache_dir()
        .join("lint")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    v.write_to(&dir).expect("write Verilog");
    (v, dir)
}

fn run(dir: &Path, tool: &str, args: &[String]) -> (bool, String) {
    let out = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("tool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn lint<B: Block>(block: &B) {
    let design = Design::elaborate(block).unwrap_or_else(|e| panic!("{e}"));
    let (v, dir) = written(&block.name(), &design);
    if require_tool("verilator") {
        // Every module on its own, as the top: each must be clean by itself (an external
        // module by its simulation model).
        for m in &design.modules {
            let name = m.external.as_ref().map_or(&m.name, |e| &e.module);
            let out = verilator_lint(&dir, &v, name, &[]);
            assert!(
                out.as_ref().is_ok_and(|text| text.trim().is_empty()),
                "verilator -Wall on `{name}`:\n{}",
                out.unwrap_or_else(|e| e)
            );
        }
    }
    if require_tool("yosys") {
        let script = format!(
            "read_verilog {}; hierarchy -check -top {}; proc; check -assert; select -assert-none t:$dlatch t:$adlatch t:$dlatchsr t:$sr",
            v.simulation_sources().collect::<Vec<_>>().join(" "),
            v.top
        );
        let (ok, text) = run(&dir, "yosys", &["-q".into(), "-p".into(), script]);
        assert!(ok, "yosys check on `{}`:\n{text}", v.top);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[derive(Clone, PartialEq)]
struct MemoryDesign;

impl Block for MemoryDesign {
    fn name(&self) -> String {
        "memory_design".into()
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        let addr = m.input("addr", Type::unsigned(10));
        let data = m.input("data", Type::signed(16));
        let we = m.input("we", Type::BOOL);
        let rom = m
            .memory("coeffs", Type::signed(16), 1024)
            .init(&(0..1024).map(|i| i * 31 - 9000).collect::<Vec<_>>())
            .style(MemStyle::Block);
        let ram = m
            .memory("scratch", Type::signed(16), 600)
            .style(MemStyle::Block);
        ram.write(addr, data, we);
        let a = rom.read(addr);
        let b = ram.read_enabled(addr, !we);
        let acc = m.reg("acc", Type::signed(18)).reset(0);
        acc.next((acc.q() + a + b).trunc(18));
        m.output("acc_out", acc.q());
        m.output("wide", m.concat(&[a, b, acc.q(), a, b]));
    }
}

#[test]
fn primitives_lint_clean() {
    lint(&ConstMul {
        ty: Type::unsigned(8),
        constant: 7,
    });
    lint(&ConstMul {
        ty: Type::signed(12),
        constant: -1365,
    });
    lint(&ConstMul {
        ty: Type::signed(3),
        constant: 0,
    });
    lint(&AdderTree {
        inputs: 7,
        ty: Type::signed(9),
    });
    lint(&AdderTree {
        inputs: 1,
        ty: Type::unsigned(4),
    });
    lint(&Mac {
        ty_a: Type::signed(18),
        ty_b: Type::signed(18),
        acc_width: 48,
    });
    lint(&Mac {
        ty_a: Type::signed(40),
        ty_b: Type::signed(50),
        acc_width: 100,
    });
    lint(&FixedWeightDot {
        weights: vec![1, -1, 0, 7, -8, 3, 2, 0, 5],
        weight_bits: 4,
        ty: Type::signed(8),
        label: "l".into(),
    });
}

/// Bytes from a counter in `fast` (asynchronous, active-low reset) to a register in the
/// default domain through an asynchronous FIFO.
#[derive(Clone, PartialEq)]
struct TwoClocks;

impl Block for TwoClocks {
    fn name(&self) -> String {
        "two_clocks".into()
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        let fast = m.domain("fast", Reset::SYNC);
        let fifo = m.instance(
            "u_fifo",
            &AsyncFifo {
                ty: Type::unsigned(8),
                depth: 16,
            },
        );
        fifo.domain("write", fast).domain("read", m.sync_domain());
        let ticks = m.domain("ticks", Reset::ASYNC.active_low());
        let count = m.in_domain(ticks, || {
            let c = m.counter("ticks_count", 256);
            c.incr();
            c.q()
        });
        m.output("ticks", count);
        m.in_domain(fast, || {
            let c = m.counter("count", 256);
            c.incr();
            fifo.input("in_valid", m.lit(1, Type::BOOL));
            fifo.input("in", c.q());
        });
        fifo.input("out_ready", m.lit(1, Type::BOOL));
        let last = m.reg("last", Type::unsigned(8)).reset(0);
        last.next_when(fifo.output("out_valid"), fifo.output("out"));
        m.output("last_byte", last.q());
        m.output("full", !fifo.output("in_ready"));
    }
}

#[test]
fn clock_domains_lint_clean() {
    lint(&TwoClocks);
}

#[test]
fn memories_lint_clean() {
    lint(&MemoryDesign);
}

#[test]
fn multiplier_array_lints_clean() {
    let weights = vec![vec![1, 0, -3, 4], vec![0, 0, 0, 0], vec![7, 7, -8, 1]];
    lint(&MultiplierArray {
        weights,
        weight_bits: 4,
        ty: Type::signed(8),
        label: "t".into(),
    });
}

/// Every module of the whole core: embedding, RMSNorm, ROM matrix units, attention with its
/// RoPE, softmax and KV cache, SwiGLU, residual adds, LM head, argmax and the sequencer.
#[test]
fn llama_core_lints_clean() {
    use hardwire::model::fixed::{FixedModel, NumericConfig};
    use hardwire::model::quant::{QuantPolicy, QuantSpec};
    use hardwire::model::{LlamaConfig, LlamaWeights};
    let w = LlamaWeights::seeded(&LlamaConfig::tiny(), 0).unwrap();
    let policy = QuantPolicy::uniform(QuantSpec {
        bits: 4,
        group_size: Some(32),
        offset: true,
    });
    let model = FixedModel::new(&w, &policy, NumericConfig::tiny(), 16).unwrap();
    lint(&LlamaCore::from_model(&model, 4096, 4096));
}

/// An ECP5 `LUT4` configured as a four-input AND, as an external module.
#[derive(Clone, PartialEq)]
struct And4;

impl Block for And4 {
    fn name(&self) -> String {
        "lut4_and".into()
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        m.external("LUT4", &[("INIT", Param::Int(0x8000))]);
        let [a, b, c, d] = ["A", "B", "C", "D"].map(|p| m.input(p, Type::BOOL));
        m.output("Z", a & b & c & d);
    }
}

/// Two LUT4s behind a register: whether all of `x`'s low and high nibble bits are set.
#[derive(Clone, PartialEq)]
struct Luts;

impl Block for Luts {
    fn name(&self) -> String {
        "luts".into()
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        let x = m.input("x", Type::unsigned(8));
        let mut outs = Vec::new();
        for (k, base) in [(0u32, "u_low"), (4, "u_high")] {
            let lut = m.instance(base, &And4);
            for (i, p) in ["A", "B", "C", "D"].iter().enumerate() {
                lut.input(p, x.bit(k + i as u32));
            }
            outs.push(lut.output("Z"));
        }
        let q = m.reg("q", Type::unsigned(2)).reset(0);
        q.next(m.concat(&[outs[1], outs[0]]));
        m.output("all", q.q());
    }
}

/// An external module is simulated (natively and under Verilator) by its model, lints clean
/// with it, and synthesizes to the vendor's cell with its parameters.
#[test]
fn an_external_primitive_is_simulated_by_its_model_and_synthesized_as_the_vendors() {
    lint(&Luts);
    let design = Design::elaborate(&Luts).unwrap_or_else(|e| panic!("{e}"));
    let mut sim = hardwire::sim::Simulator::new(&design).unwrap();
    for x in [0x00u64, 0x0f, 0xf0, 0xff, 0x7f] {
        sim.poke("x", x).unwrap();
        sim.step();
        let expected = u64::from(x & 0x0f == 0x0f) | (u64::from(x & 0xf0 == 0xf0) << 1);
        assert_eq!(sim.peek("all").unwrap(), expected, "x = {x:#x}");
    }
    let stimulus = hardwire::sim::cosim::Stimulus::random(&design, 200, 2, 5);
    if require_tool("verilator") {
        hardwire::sim::cosim::cosimulate(
            &design,
            &stimulus,
            hardwire::sim::cosim::Backend::Verilator,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    if require_tool("yosys") {
        let (v, dir) = written("luts", &design);
        assert!(v.file("lut4_and.v").is_none() && v.models.len() == 1);
        let sources = v.sources().collect::<Vec<_>>().join(" ");
        // synth_ecp5 knows LUT4 as a cell (the model is not read): both instances stay.
        let script = format!(
            "read_verilog {sources}; synth_ecp5 -top {}; select -assert-count 2 t:LUT4",
            v.top
        );
        let (ok, text) = run(&dir, "yosys", &["-q".into(), "-p".into(), script]);
        assert!(ok, "synth_ecp5 with the vendor's LUT4:\n{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Memories are written in the form yosys maps to block RAM: DP16KD on ECP5, RAMB18/36 on
/// Xilinx 7-series, including a depth that is not a power of two.
#[test]
fn memories_map_to_block_ram() {
    if !require_tool("yosys") {
        return;
    }
    let design = Design::elaborate(&MemoryDesign).unwrap_or_else(|e| panic!("{e}"));
    let (v, dir) = written("bram", &design);
    let sources = v.sources().collect::<Vec<_>>().join(" ");
    for (synth, cells) in [
        ("synth_ecp5", "t:DP16KD"),
        ("synth_xilinx -family xc7 -flatten", "t:RAMB18E1 t:RAMB36E1"),
    ] {
        let script = format!(
            "read_verilog {sources}; {synth} -top {}; select -assert-min 2 {cells}",
            v.top
        );
        let (ok, text) = run(&dir, "yosys", &["-q".into(), "-p".into(), script]);
        assert!(
            ok,
            "{synth} did not map both memories to block RAM:\n{text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
