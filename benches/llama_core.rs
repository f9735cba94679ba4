//! `LlamaCore` on the `tiny` preset (4-bit weights): simulated cycles per second in the native
//! simulator and under Verilator on the same Verilog, and cycles per token next to the bound
//! the multipliers set.
//!
//! `cargo bench --bench llama_core [-- CYCLES]`
//!
//! Verilator runs twice on the same Verilog: built single-threaded and with `--threads 2`.
//! The three run in interleaved rounds, and the medians are reported, with the ratio to each
//! Verilator build taken within a round. Under `cargo test` (no `--bench` argument) it is a
//! smoke run instead: enough cycles for a few tokens, natively and under single-threaded
//! Verilator, whose checksums must agree and show that a token came out.
//!
//! The core sits in a free-running top that sends it a one-token prompt and takes every
//! generated token, so both simulators run the same circuit with no I/O; a checksum of the
//! tokens shows they computed the same thing.

use std::time::Instant;

use hardwire::blocks::{LlamaCore, TokenIo};
use hardwire::hdl::prelude::*;
use hardwire::model::fixed::{FixedModel, NumericConfig};
use hardwire::model::quant::{QuantPolicy, QuantSpec};
use hardwire::model::{LlamaConfig, LlamaWeights};
use hardwire::report::DesignReport;
use hardwire::sim::cosim::{require_tool, VerilatorBuild};
use hardwire::sim::Simulator;

/// The core, restarted at position 0 with token 1 after every 32 generated tokens; a checksum
/// of everything it generates.
#[derive(Clone, PartialEq)]
struct FreeRunning {
    core: LlamaCore,
}

impl Block for FreeRunning {
    fn name(&self) -> String {
        "core_bench".into()
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let io = TokenIo::of(&m.instance("u_core", &self.core));
        for (input, value) in [
            (io.start, 1),
            (io.in_valid, 1),
            (io.in_token, 1),
            (io.in_last, 1),
            (io.max_new, 32),
            (io.out_ready, 1),
        ] {
            m.assign(input, m.lit(value, input.ty()));
        }
        let sum = m.reg("sum", Type::unsigned(32)).reset(0);
        let mixed = ((sum.q().bits(30, 0).concat(m.lit(0, Type::BOOL))) ^ io.out_token.resize(32))
            .trunc(32);
        sum.next_when(io.out_valid, mixed);
        m.output("checksum", sum.q());
    }
}

/// Verilator's thread counts, one column each.
const VERILATOR_THREADS: [usize; 2] = [1, 2];

/// Interleaved rounds of every simulator; the medians are reported, since the machines this
/// runs on are shared and one run can be off by a factor of two.
const ROUNDS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Instructions per cycle without skipping.
fn sim_instructions(design: &Design) -> usize {
    Simulator::new(design).unwrap().instruction_count()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` runs this with no such argument.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let w = LlamaWeights::seeded(&LlamaConfig::tiny(), 0).unwrap();
    let policy = QuantPolicy::uniform(QuantSpec {
        bits: 4,
        group_size: Some(32),
        offset: false,
    });
    let model = FixedModel::new(&w, &policy, NumericConfig::tiny(), 64).unwrap();
    let core = LlamaCore::from_model(&model, 1024, 2048);
    let design = Design::elaborate(&FreeRunning { core: core.clone() }).unwrap();
    let core_design = Design::elaborate(&core).unwrap();
    // Three tokens' worth: the first comes out after about one token's cycles.
    let smoke_cycles = 3 * core.cycles_per_token(0);
    let cycles: u64 = if smoke {
        println!("smoke run ({smoke_cycles} cycles, single-threaded Verilator only); `cargo bench --bench llama_core` measures");
        smoke_cycles
    } else {
        println!("{}", DesignReport::new(&core, &core_design, 0));
        std::env::args()
            .skip(1)
            .find_map(|a| a.parse().ok())
            .unwrap_or(2_000_000)
    };

    // Missing Verilator: a note outside CI and a failure in CI, as in the tests.
    let threads = if smoke {
        &VERILATOR_THREADS[..1]
    } else {
        &VERILATOR_THREADS[..]
    };
    let builds: Vec<(usize, VerilatorBuild)> = if require_tool("verilator") {
        threads
            .iter()
            .map(|&n| (n, VerilatorBuild::with_threads(&design, n).unwrap()))
            .collect()
    } else {
        Vec::new()
    };
    let rounds = if smoke { 1 } else { ROUNDS };
    // Interleaved rounds: native, then each Verilator build, on the same cycles; the
    // ratio is taken per round (neighbours in time share the machine's load), then the
    // median over rounds.
    let mut native = Vec::new();
    let mut first = Vec::new();
    let mut verilator = vec![Vec::new(); builds.len()];
    let mut ratio = vec![Vec::new(); builds.len()];
    let (mut evaluated, mut native_sum) = (0.0, 0);
    for _ in 0..rounds {
        let t = Instant::now();
        let mut sim = Simulator::new(&design).unwrap();
        sim.reset(2).unwrap();
        first.push(t.elapsed().as_secs_f64());
        let before = sim.instructions_evaluated();
        let t = Instant::now();
        sim.run(cycles);
        let rate = cycles as f64 / t.elapsed().as_secs_f64();
        native.push(rate);
        evaluated = (sim.instructions_evaluated() - before) as f64 / cycles as f64;
        native_sum = sim.peek("checksum").unwrap();
        if smoke {
            assert_ne!(
                native_sum, 0,
                "the core generated no token in {cycles} cycles"
            );
        }
        for (k, (n, build)) in builds.iter().enumerate() {
            let v = build.bench(cycles).unwrap();
            let sum = u64::from_str_radix(v.outputs[0].trim(), 16).unwrap_or(u64::MAX);
            assert_eq!(
                native_sum, sum,
                "native and Verilator ({n} threads) checksums differ after {cycles} cycles"
            );
            let v_rate = cycles as f64 / v.seconds;
            verilator[k].push(v_rate);
            ratio[k].push(rate / v_rate);
        }
    }
    println!(
        "{cycles} cycles, median of {rounds} interleaved rounds; checksum {native_sum:08x}, equal in all"
    );
    println!(
        "  native:              {:>6.2} M cycles/s ({evaluated:.0} of {} instructions evaluated per cycle; first cycle after {:.1} ms)",
        median(native) / 1e6,
        sim_instructions(&design),
        median(first) * 1e3,
    );
    for (k, (n, build)) in builds.iter().enumerate() {
        println!(
            "  Verilator, {n} thread{}: {:>6.2} M cycles/s (build {:.1} s{}); native/Verilator {:.2}",
            if *n == 1 { " " } else { "s" },
            median(verilator[k].clone()) / 1e6,
            build.build_time.as_secs_f64(),
            if build.cached { ", cached" } else { "" },
            median(ratio[k].clone()),
        );
    }
    if smoke {
        return;
    }
    for pos in [0, 31] {
        println!(
            "cycles per token at position {pos}: {} (bound {}: {:.2}x)",
            core.cycles_per_token(pos),
            core.cycles_per_token_bound(),
            core.cycles_per_token(pos) as f64 / core.cycles_per_token_bound() as f64
        );
    }
}
