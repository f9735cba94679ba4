//! Native simulator vs Verilator on the same designs, for the same number of cycles:
//! a 256-input fixed-weight dot product with random 4-bit weights, and a design built
//! around a memory. Prints cycles/s for both, their ratio, Verilator's build time and the
//! native time to first cycle.
//!
//! `cargo bench -p hardwire-sim --bench native_vs_verilator [-- CYCLES]`
//!
//! Each design is wrapped in a top with no inputs whose stimulus comes from an LFSR in the
//! design itself, so both simulators run the same free-running circuit with no I/O.

use std::time::Instant;

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::FixedWeightDot;
use hardwire_sim::cosim::VerilatorBuild;
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

fn bench<B: Block>(block: &B, cycles: u64) {
    let design = Design::elaborate(block).unwrap_or_else(|e| panic!("{e}"));
    // Native: time to first cycle is compilation plus the first (reset) cycle. Both
    // simulators then run the same `cycles` edges in all, the first one in reset.
    let start = Instant::now();
    let mut sim = Simulator::new(&design).expect("the design simulates");
    sim.reset(1).expect("clocked");
    let first = start.elapsed();
    let start = Instant::now();
    sim.run(cycles - 1);
    let native_s = start.elapsed().as_secs_f64();
    let native_sum = sim.peek("checksum").expect("checksum output");

    let build = VerilatorBuild::new(&design);
    let (verilator, build_time) = match build {
        Ok(b) => match b.bench(cycles) {
            Ok(r) => (Some(r), b.build_time),
            Err(e) => panic!("{e}"),
        },
        Err(e) => {
            println!("{}: Verilator unavailable: {e}", block.name());
            (None, Default::default())
        }
    };
    let native_rate = (cycles - 1) as f64 / native_s;
    println!("{}", block.name());
    println!(
        "  instructions per cycle (native): {}",
        sim.instruction_count()
    );
    println!(
        "  native:    {:>12.0} cycles/s   time to first cycle {:>8.3} ms",
        native_rate,
        first.as_secs_f64() * 1e3
    );
    if let Some(v) = verilator {
        let rate = cycles as f64 / v.seconds;
        let cached = if build_time.is_zero() {
            " (cached; delete the cache to time a build)"
        } else {
            ""
        };
        println!(
            "  verilator: {:>12.0} cycles/s   build {:>8.3} s{cached}",
            rate,
            build_time.as_secs_f64()
        );
        println!("  native / verilator speed: {:.2}", native_rate / rate);
        let native_hex = format!("{native_sum:x}");
        assert_eq!(
            v.outputs,
            vec![native_hex],
            "both simulators end with the same checksum"
        );
        println!("  checksums agree after {cycles} cycles");
    }
}

fn main() {
    let cycles: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    let dot = FixedWeightDot {
        weights: random_weights(256, 42),
        weight_bits: 4,
        ty: Type::signed(8),
        label: "bench".into(),
    };
    bench(&DotBench { dot }, cycles);
    bench(&MemBench, cycles * 10);
}
