//! A rust-hdl design instantiates a hardwire block, simulates it in rust-hdl's simulator
//! (the block's behaviour delegated to hardwire's native simulator), and generates Verilog
//! that yosys accepts.

use hardwire_hdl::prelude::{Design, Type};
use hardwire_rusthdl::HardwireBlock;
use rust_hdl::prelude::*;

/// A running total of 8-bit samples, written in hardwire.
fn accumulator() -> Design {
    Design::build("hw_accumulator", |m| {
        let x = m.input("x", Type::unsigned(8));
        let scale = m.input("scale", Type::unsigned(2));
        let total = m.reg("total", Type::unsigned(16)).reset(0);
        total.next((total.q() + (x.extend(16) << 0).shl_by(scale).trunc(16)).trunc(16));
        m.output("sum", total.q());
        m.output("odd", x.bit(0));
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

#[derive(LogicBlock)]
struct Host {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub sample: Signal<In, Bits<8>>,
    pub sum: Signal<Out, Bits<16>>,
    pub odd: Signal<Out, Bit>,
    hw: HardwireBlock<10, 17>,
}

impl Logic for Host {
    #[hdl_gen]
    fn update(&mut self) {
        self.hw.clock.next = self.clock.val();
        self.hw.reset.next = self.reset.val();
        // inputs: x in bits 0..8, scale (fixed at 1, so each sample counts twice) in 8..10.
        self.hw.bus_in.next = bit_cast::<10, 8>(self.sample.val()) | bits::<10>(256);
        self.sum.next = self.hw.bus_out.val().get_bits::<16>(0);
        self.odd.next = self.hw.bus_out.val().get_bit(16);
    }
}

fn host() -> Host {
    Host {
        clock: Default::default(),
        reset: Default::default(),
        sample: Default::default(),
        sum: Default::default(),
        odd: Default::default(),
        hw: HardwireBlock::new(accumulator()).expect("ports add up to 10 in, 17 out"),
    }
}

#[test]
fn shape_mismatch_is_a_clear_error() {
    let err = HardwireBlock::<8, 17>::new(accumulator())
        .err()
        .expect("inputs are 10 bits");
    assert!(err.to_string().contains("HardwireBlock<10, 17>"), "{err}");
}

#[test]
fn rust_hdl_simulates_the_hardwire_block() {
    let mut sim = Simulation::new();
    sim.add_clock(5, |x: &mut Box<Host>| x.clock.next = !x.clock.val());
    sim.add_testbench(move |mut sim: Sim<Host>| {
        let mut x = sim.init()?;
        x.reset.next = true;
        wait_clock_cycle!(sim, clock, x);
        x.reset.next = false;
        wait_clock_cycle!(sim, clock, x);
        sim_assert_eq!(sim, x.sum.val(), bits::<16>(0), x);
        let mut expected = 0u64;
        for s in [3u64, 10, 255, 1, 128] {
            x.sample.next = s.into();
            wait_clock_cycle!(sim, clock, x);
            expected += 2 * s;
            sim_assert_eq!(sim, x.sum.val(), bits::<16>(expected), x);
            sim_assert_eq!(sim, x.odd.val(), (s & 1) == 1, x);
        }
        sim.done(x)
    });
    sim.run(Box::new(host()), 10_000)
        .expect("the testbench's checks pass");
}

#[test]
fn generated_verilog_passes_yosys() {
    if !hardwire_sim::cosim::require_tool("yosys") {
        return;
    }
    let mut uut = host();
    uut.connect_all();
    let verilog = generate_verilog(&uut);
    assert!(verilog.contains("hw_accumulator hardwire_top"), "{verilog}");
    let dir = hardwire_sim::cosim::cache_dir().join("rusthdl-yosys");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("top.v"), &verilog).unwrap();
    let out = std::process::Command::new("yosys")
        .args([
            "-q",
            "-p",
            "read_verilog top.v; hierarchy -check -top top; proc; check -assert; synth -top top",
        ])
        .current_dir(&dir)
        .output()
        .expect("yosys runs");
    assert!(
        out.status.success(),
        "{}{}\n{verilog}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
