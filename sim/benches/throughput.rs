//! Simulation speed on the two designs the simulator is held to: a 256-input fixed-weight dot
//! product with random 4-bit weights (CSD shift-and-add groups feeding a pipelined adder
//! tree), and a design built around a 1024-word memory. Prints time to first cycle, the
//! instruction count and steady-state cycles per second.
//!
//! `cargo bench -p hardwire-sim --bench throughput`

use std::time::Instant;

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::FixedWeightDot;
use hardwire_sim::Simulator;

fn lcg(s: &mut u64) -> u64 {
    *s = s
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *s >> 11
}

/// The benchmark's dot product: 256 signed 8-bit inputs, weights uniform in -8..8.
pub fn dot256() -> Design {
    let mut s = 0x5eed;
    let weights = (0..256).map(|_| (lcg(&mut s) % 16) as i64 - 8).collect();
    let block = FixedWeightDot {
        weights,
        weight_bits: 4,
        ty: Type::signed(8),
        label: "bench".into(),
    };
    Design::elaborate(&block).expect("the dot product elaborates")
}

/// A ring buffer over a 1024 x 32 memory: each cycle writes `x` plus the word read last
/// cycle at a counter address, reads the next address, and accumulates what it reads.
pub fn mem_ring() -> Design {
    Design::build("mem_ring", |m| {
        let x = m.input("x", Type::unsigned(32));
        let ptr = m.reg("ptr", Type::unsigned(10)).reset(0);
        let next_ptr = (ptr.q() + m.lit(1, Type::unsigned(10))).trunc(10);
        ptr.next(next_ptr);
        let mem = m.memory("ring", Type::unsigned(32), 1024);
        let rd = mem.read(next_ptr);
        let data = (x + rd).trunc(32);
        mem.write(ptr.q(), data, m.lit(1, Type::BOOL));
        let acc = m.reg("acc", Type::unsigned(48)).reset(0);
        acc.next((acc.q() + rd.resize(48)).trunc(48));
        m.output("acc_out", acc.q());
    })
    .expect("the ring elaborates")
}

/// A RAM read and written at addresses from a free-running LFSR, with no inputs: the
/// memory design of `native_vs_verilator`, for profiling the native side alone.
pub fn mem_lfsr() -> Design {
    Design::build("mem_lfsr", |m| {
        let r = m.reg("lfsr", Type::unsigned(16)).reset(0xace1);
        let s = r.q();
        let fb = s.bit(0) ^ s.bit(2) ^ s.bit(3) ^ s.bit(5);
        r.next(fb.concat(s.bits(15, 1)));
        let init: Vec<i64> = (0..1024).map(|i| (i * 7919) % 65536).collect();
        let mem = m.memory("ram", Type::unsigned(16), 1024).init(&init);
        let rd = mem.read(s.bits(9, 0));
        mem.write(s.bits(15, 6), (rd + s).trunc(16), s.bit(3));
        let acc = m.reg("acc", Type::unsigned(32)).reset(0);
        acc.next((acc.q() + rd.extend(32)).trunc(32));
        m.output("checksum", acc.q());
    })
    .expect("the memory design elaborates")
}

/// `rows` fixed-weight dot products over one shared 256-element input: a matrix-vector
/// product, for how compile time and speed scale.
#[derive(Clone, PartialEq)]
struct MatVec {
    rows: Vec<FixedWeightDot>,
}

impl Block for MatVec {
    fn name(&self) -> String {
        format!("matvec_{}", self.rows.len())
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        let x = m.input("x", Type::unsigned(256 * 8));
        let valid = m.input("in_valid", Type::BOOL);
        for (i, row) in self.rows.iter().enumerate() {
            let u = m.instance(&format!("u_row{i}"), row);
            u.input("x", x);
            u.input("in_valid", valid);
            m.output(&format!("y{i}"), u.output("y"));
        }
    }
}

pub fn matvec(rows: usize) -> Design {
    let mut s = 0x5eed;
    let rows = (0..rows)
        .map(|r| {
            let weights = (0..256).map(|_| (lcg(&mut s) % 16) as i64 - 8).collect();
            FixedWeightDot {
                weights,
                weight_bits: 4,
                ty: Type::signed(8),
                label: format!("r{r}"),
            }
        })
        .collect();
    Design::elaborate(&MatVec { rows }).expect("the matrix elaborates")
}

fn measure(name: &str, design: &Design, input: &str, cycles: u64) {
    let t0 = Instant::now();
    let mut sim = Simulator::new(design).expect("the design compiles");
    let build = t0.elapsed();
    sim.reset(2).unwrap();
    let x = sim.input(input).unwrap();
    let words = (x.ty().width as usize).div_ceil(64);
    let mut stimulus = vec![0u64; words];
    let mut s = 1u64;
    let t1 = Instant::now();
    for _ in 0..cycles {
        stimulus[(lcg(&mut s) as usize) % words] = lcg(&mut s);
        sim.set_words(x, &stimulus);
        sim.step();
    }
    let run = t1.elapsed();
    if std::env::var_os("BENCH_MIX").is_some() {
        println!("{name} instruction mix: {:?}", sim.instruction_mix());
        println!("{sim:?}");
    }
    println!(
        "{name}: {} instructions/cycle, first cycle after {:.2} ms, {:.2} M cycles/s ({} cycles in {:.2} s)",
        sim.instruction_count(),
        build.as_secs_f64() * 1e3,
        cycles as f64 / run.as_secs_f64() / 1e6,
        cycles,
        run.as_secs_f64()
    );
}

fn main() {
    let scale: u64 = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "dot256" {
        let t = Instant::now();
        let dot = dot256();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        println!("dot256: elaborated in {ms:.2} ms");
        measure("dot256", &dot, "x", 2_000_000 * scale);
    }
    if only == "matvec" {
        let t = Instant::now();
        let design = matvec(64);
        println!(
            "matvec64x256: elaborated in {:.0} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        measure("matvec64x256", &design, "x", 20_000 * scale);
    }
    if only.is_empty() || only == "mem_lfsr" {
        let design = mem_lfsr();
        let t0 = Instant::now();
        let mut sim = Simulator::new(&design).expect("the design compiles");
        sim.reset(1).unwrap();
        let first = t0.elapsed();
        let cycles = 20_000_000 * scale;
        let t1 = Instant::now();
        sim.run(cycles);
        let run = t1.elapsed().as_secs_f64();
        if std::env::var_os("BENCH_MIX").is_some() {
            println!("mem_lfsr instruction mix: {:?}", sim.instruction_mix());
        }
        println!(
            "mem_lfsr: {} instructions/cycle, first cycle after {:.2} ms, {:.2} M cycles/s",
            sim.instruction_count(),
            first.as_secs_f64() * 1e3,
            cycles as f64 / run / 1e6
        );
    }
    if only.is_empty() || only == "mem_ring" {
        measure("mem_ring", &mem_ring(), "x", 20_000_000 * scale);
    }
}
