//! Simulation speed on the two designs the simulator is held to: a 256-input fixed-weight dot
//! product with random 4-bit weights (CSD shift-and-add groups feeding a pipelined adder
//! tree), and a design built around a 1024-word memory. Prints time to first cycle, the
//! instruction count and steady-state cycles per second.
//!
//! `cargo bench -p hardwire-sim --bench throughput`
//!
//! Under `cargo test` (no `--bench` argument) it is a smoke run: a few cycles of each design,
//! and over them the simulator's outputs must equal the reference interpreter's.

use std::time::Instant;

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::FixedWeightDot;
use hardwire_sim::{Reference, Simulator};

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

/// Sets one random word of the stimulus, as each measured cycle does.
fn next_stimulus(s: &mut u64, stimulus: &mut [u64]) {
    let words = stimulus.len();
    stimulus[(lcg(s) as usize) % words] = lcg(s);
}

/// The smoke run's check: `cycles` cycles of the bench's stimulus on `input` (none for a
/// free-running design), with every output of the simulator equal to the reference
/// interpreter's after every cycle.
fn check_against_reference(name: &str, design: &Design, input: Option<&str>, cycles: u64) {
    let mut sim = Simulator::new(design).expect("the design compiles");
    let mut reference = Reference::new(design);
    sim.reset(2).unwrap();
    reference.poke("rst", &Bits::from_u64(1, 1)).unwrap();
    reference.step();
    reference.step();
    reference.poke("rst", &Bits::from_u64(0, 1)).unwrap();
    let outputs: Vec<String> = design
        .top_module()
        .outputs()
        .map(|p| p.name.clone())
        .collect();
    let width = input.map_or(0, |x| sim.input(x).unwrap().ty().width);
    let mut stimulus = vec![0u64; (width as usize).div_ceil(64).max(1)];
    let mut s = 1u64;
    for cycle in 0..cycles {
        if let Some(x) = input {
            next_stimulus(&mut s, &mut stimulus);
            let b = Bits::from_words(&stimulus, width);
            sim.poke_bits(x, &b).unwrap();
            reference.poke(x, &b).unwrap();
        }
        sim.step();
        reference.step();
        for o in &outputs {
            assert_eq!(
                sim.peek_bits(o).unwrap(),
                reference.peek(o).unwrap(),
                "{name}: output {o} after cycle {cycle}"
            );
        }
    }
    println!("{name}: simulator equals the reference interpreter over {cycles} cycles");
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
        next_stimulus(&mut s, &mut stimulus);
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

/// Cycles of the smoke run, per design: past the dot product's pipeline and a few hundred
/// memory accesses, yet quick in the reference interpreter.
const SMOKE_CYCLES: u64 = 64;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` runs this with no such argument.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let scale: u64 = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let cycles = |full: u64| if smoke { SMOKE_CYCLES } else { full * scale };
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if smoke {
        println!("smoke run ({SMOKE_CYCLES} cycles a design, checked against the reference interpreter); `cargo bench -p hardwire-sim --bench throughput` measures");
    }
    if only.is_empty() || only == "dot256" {
        let t = Instant::now();
        let dot = dot256();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        println!("dot256: elaborated in {ms:.2} ms");
        measure("dot256", &dot, "x", cycles(2_000_000));
        if smoke {
            check_against_reference("dot256", &dot, Some("x"), SMOKE_CYCLES);
        }
    }
    if only == "matvec" {
        let t = Instant::now();
        let design = matvec(64);
        println!(
            "matvec64x256: elaborated in {:.0} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        measure("matvec64x256", &design, "x", cycles(20_000));
    }
    if only.is_empty() || only == "mem_lfsr" {
        let design = mem_lfsr();
        let t0 = Instant::now();
        let mut sim = Simulator::new(&design).expect("the design compiles");
        sim.reset(1).unwrap();
        let first = t0.elapsed();
        let cycles = cycles(20_000_000);
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
        if smoke {
            check_against_reference("mem_lfsr", &design, None, SMOKE_CYCLES);
        }
    }
    if only.is_empty() || only == "mem_ring" {
        let design = mem_ring();
        measure("mem_ring", &design, "x", cycles(20_000_000));
        if smoke {
            check_against_reference("mem_ring", &design, Some("x"), SMOKE_CYCLES);
        }
    }
}
