//! Native simulator vs Verilator on the same designs, for the same number of cycles:
//! a 256-input fixed-weight dot product with random 4-bit weights, and a design built
//! around a memory. Prints cycles/s for both, their ratio, Verilator's build time and the
//! native time to first cycle.
//!
//! `cargo bench -p hardwire-sim --bench native_vs_verilator [-- CYCLES]`
//!
//! Under `cargo test` (no `--bench` argument) it is a smoke run: a 32-input dot product and
//! the memory design, a few thousand cycles once each, with the same checksum check.
//!
//! Each design is wrapped in a top with no inputs whose stimulus comes from an LFSR in the
//! design itself, so both simulators run the same free-running circuit with no I/O.

use std::time::Instant;

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::FixedWeightDot;
use hardwire_sim::cosim::{require_tool, VerilatorBuild};
use hardwire_sim::Simulator;

/// A 16-bit Fibonacci LFSR (taps 16, 14, 13, 11); `lfsr.q()` is its state.
fn lfsr<'a>(m: &'a ModuleBuilder<'a>, name: &str) -> Reg<'a> {
    let r = m.reg(name, Type::unsigned(16)).reset(0xace1);
    let s = r.q();
    let fb = s.bit(0) ^ s.bit(2) ^ s.bit(3) ^ s.bit(5);
    r.next(fb.concat(s.bits(15, 1)));
    r
}

/// Feeds a dot product from a chain of byte registers filled by an LFSR; accumulates its
/// output so nothing is dead.
#[derive(Clone, PartialEq)]
struct DotBench {
    dot: FixedWeightDot,
}

impl Block for DotBench {
    fn name(&self) -> String {
        "dot_bench".into()
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        let n = self.dot.weights.len();
        let src = lfsr(m, "lfsr");
        let mut prev = src.q().bits(7, 0);
        let mut lanes = Vec::with_capacity(n);
        for i in 0..n {
            let r = m.reg(&format!("x{i}"), Type::unsigned(8));
            r.next(prev);
            prev = r.q();
            lanes.push(r.q());
        }
        lanes.reverse();
        let u = m.instance("u_dot", &self.dot);
        u.input("x", m.concat(&lanes));
        u.input("in_valid", m.lit(1, Type::BOOL));
        let y = u.output("y");
        let acc = m.reg("acc", Type::signed(32)).reset(0);
        acc.next((acc.q() + y.extend(32)).trunc(32));
        m.output("checksum", acc.q());
    }
}

/// A memory design: a 1024 x 16 RAM read and written at LFSR addresses, its read data
/// accumulated.
#[derive(Clone, PartialEq)]
struct MemBench;

impl Block for MemBench {
    fn name(&self) -> String {
        "mem_bench".into()
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        let a = lfsr(m, "lfsr_a");
        let init: Vec<i64> = (0..1024).map(|i| (i * 7919) % 65536).collect();
        let mem = m.memory("ram", Type::unsigned(16), 1024).init(&init);
        let rd = mem.read(a.q().bits(9, 0));
        let waddr = a.q().bits(15, 6);
        mem.write(waddr, (rd + a.q()).trunc(16), a.q().bit(3));
        let acc = m.reg("acc", Type::unsigned(32)).reset(0);
        acc.next((acc.q() + rd.extend(32)).trunc(32));
        m.output("checksum", acc.q());
    }
}

fn random_weights(n: usize, seed: u64) -> Vec<i64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) % 16) as i64 - 8
        })
        .collect()
}

/// Runs of each simulator per design; the medians are reported, since the machines this runs
/// on are shared and one run can be off by a factor of two.
const RUNS: usize = 5;

/// The smoke run's cycles and dot-product inputs: small enough that both Verilator builds
/// take a few seconds.
const SMOKE_CYCLES: u64 = 2_000;
const SMOKE_INPUTS: usize = 32;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench<B: Block>(block: &B, cycles: u64, runs: usize) {
    let design = Design::elaborate(block).unwrap_or_else(|e| panic!("{e}"));
    // Missing Verilator: a note outside CI and a failure in CI, as in the tests.
    let build = require_tool("verilator")
        .then(|| VerilatorBuild::new(&design).unwrap_or_else(|e| panic!("{e}")));
    let (mut native, mut verilator, mut first) = (Vec::new(), Vec::new(), Vec::new());
    // The ratio is taken within a run, where both simulators share the machine's load.
    let mut ratio = Vec::new();
    let (mut instructions, mut evaluated) = (0, 0.0);
    for _ in 0..runs {
        // Native: time to first cycle is compilation plus the first (reset) cycle. Both
        // simulators then run the same `cycles` edges in all, the first one in reset.
        let start = Instant::now();
        let mut sim = Simulator::new(&design).expect("the design simulates");
        sim.reset(1).expect("clocked");
        first.push(start.elapsed().as_secs_f64());
        let before = sim.instructions_evaluated();
        let start = Instant::now();
        sim.run(cycles - 1);
        native.push((cycles - 1) as f64 / start.elapsed().as_secs_f64());
        instructions = sim.instruction_count();
        evaluated = (sim.instructions_evaluated() - before) as f64 / (cycles - 1) as f64;
        let native_sum = sim.peek("checksum").expect("checksum output");
        if let Some(b) = &build {
            let v = b.bench(cycles).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                v.outputs,
                vec![format!("{native_sum:x}")],
                "both simulators end with the same checksum"
            );
            verilator.push(cycles as f64 / v.seconds);
            ratio.push(native[native.len() - 1] / verilator[verilator.len() - 1]);
        }
    }
    let native_rate = median(native);
    let agree = if build.is_some() {
        "checksums agree"
    } else {
        "native only"
    };
    println!(
        "{}  ({cycles} cycles, median of {runs} runs, {agree})",
        block.name()
    );
    println!("  instructions per cycle (native): {evaluated:.1} evaluated of {instructions}");
    println!(
        "  native:    {:>12.0} cycles/s   time to first cycle {:>8.3} ms",
        native_rate,
        median(first) * 1e3
    );
    if let Some(b) = build {
        let rate = median(verilator);
        let cached = if b.cached {
            " (cached; delete ~/.cache/hardwire/verilator to time a build)"
        } else {
            ""
        };
        println!(
            "  verilator: {:>12.0} cycles/s   build {:>8.3} s{cached}",
            rate,
            b.build_time.as_secs_f64()
        );
        println!(
            "  native / verilator speed: {:.2} (median of the runs' ratios)",
            median(ratio)
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` runs this with no such argument.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let (cycles, inputs, runs) = if smoke {
        println!("smoke run ({SMOKE_CYCLES} cycles, {SMOKE_INPUTS}-input dot product, one run); `cargo bench -p hardwire-sim --bench native_vs_verilator` measures");
        (SMOKE_CYCLES, SMOKE_INPUTS, 1)
    } else {
        let cycles = std::env::args()
            .skip(1)
            .find_map(|a| a.parse().ok())
            .unwrap_or(200_000);
        (cycles, 256, RUNS)
    };
    let dot = FixedWeightDot {
        weights: random_weights(inputs, 42),
        weight_bits: 4,
        ty: Type::signed(8),
        label: "bench".into(),
    };
    bench(&DotBench { dot }, cycles, runs);
    bench(&MemBench, cycles * 10, runs);
}
