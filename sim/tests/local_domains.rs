//! Clock domains driven inside the design: a clock carried from a clock input through a
//! PLL's simulation model, a reset from a synchroniser or from logic, natively and against
//! Verilator and Icarus.

use hardwire_hdl::ir::Param;
use hardwire_hdl::prelude::*;
use hardwire_sim::cosim::{cosimulate, require_tool, Backend, Stimulus};
use hardwire_sim::Simulator;

/// A vendor PLL as the board tops use one: the model passes the input clock through and
/// reports lock at once.
#[derive(Clone, PartialEq)]
struct Pll;

impl Block for Pll {
    fn name(&self) -> String {
        "test_pll".into()
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        m.external("TEST_PLL", &[("MHZ", Param::Int(100))]);
        let clkin = m.clock_input("clkin");
        m.output("clkout", m.clock(clkin));
        m.output("locked", m.lit(1, Type::BOOL));
    }
}

/// Two reset-less flip-flops: `rst_out` is `rst_in` two edges late, and asserted from power-up.
#[derive(Clone, PartialEq)]
struct Sync2;

impl Block for Sync2 {
    fn name(&self) -> String {
        "sync2".into()
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        m.reset_less();
        let released = !m.input("rst_in", Type::BOOL);
        let a = m.reg("a", Type::BOOL).reset(0);
        let b = m.reg("b", Type::BOOL).reset(0);
        a.next(released);
        b.next(a.q());
        m.output("rst_out", !b.q());
    }
}

/// A board-style top: the clock input `board_clk`, a PLL, and a counter in the PLL's domain
/// reset through `Sync2` while the button (`press == 0`, one value in eight) is down.
fn behind_a_pll() -> Design {
    Design::build("behind_pll", |m| {
        let board = m.clock_input("board_clk");
        let pll = m.instance("u_pll", &Pll);
        pll.domain("clkin", board);
        let core = m.local_domain("core", pll.output("clkout"), Reset::SYNC);
        let button = m.input("press", Type::unsigned(3)).eq(0);
        let sync = m.in_domain(core, || m.instance("u_sync", &Sync2));
        sync.input("rst_in", button | !pll.output("locked"));
        m.drive_reset(core, sync.output("rst_out"));
        let count = m.in_domain(core, || {
            let c = m.counter("counter", 256);
            c.incr();
            c.q()
        });
        m.output("count", count);
    })
    .expect("elaborates")
}

/// A counter in a domain on the default clock whose asynchronous, active-low reset is
/// computed from two inputs.
fn computed_async_reset() -> Design {
    Design::build("computed_reset", |m| {
        let fast = m.local_domain("fast", m.clock(m.sync_domain()), Reset::ASYNC.active_low());
        let a = m.input("a", Type::unsigned(2));
        m.drive_reset(fast, a.ne(0));
        let count = m.in_domain(fast, || {
            let c = m.counter("counter", 256);
            c.incr();
            c.q()
        });
        m.output("count", count);
    })
    .expect("elaborates")
}

#[test]
fn a_domain_behind_a_pll_steps_with_its_input_clock_and_resets_through_its_synchroniser() {
    let design = behind_a_pll();
    let top = design.top_module();
    assert!(!top.clocked, "no `clk`: the clock input is `board_clk`");
    let v = hardwire_hdl::verilog::Verilog::from_design(&design);
    let text = v.file("behind_pll.v").unwrap();
    assert!(text.contains("input  wire board_clk"), "{text}");
    assert!(text.contains("assign core_clk = u_pll_clkout;"), "{text}");
    assert!(text.contains("always @(posedge core_clk)"), "{text}");
    assert!(text.contains("TEST_PLL #(.MHZ(100)) u_pll"), "{text}");

    let mut sim = Simulator::new(&design).unwrap();
    assert_eq!(sim.domains(), ["sync", "board_clk", "core"]);
    sim.poke("press", 1).unwrap();
    let mut seen = Vec::new();
    for cycle in 0..10 {
        // Pressed for two edges from edge 6.
        sim.poke("press", if (6..8).contains(&cycle) { 0 } else { 1 })
            .unwrap();
        sim.step();
        seen.push(sim.peek_i64("count").unwrap());
    }
    // Power-up: the synchroniser holds reset for two edges, so the counter starts at the
    // third. The press reaches the counter's reset two edges late and holds it for two.
    assert_eq!(seen, [0, 0, 1, 2, 3, 4, 5, 6, 0, 0]);
    assert!(
        sim.set_period("core", 1_000).is_err(),
        "its period is board_clk's"
    );
}

#[test]
fn a_computed_asynchronous_reset_acts_at_once() {
    let mut sim = Simulator::new(&computed_async_reset()).unwrap();
    sim.poke("a", 1).unwrap();
    sim.run(5);
    assert_eq!(sim.peek("count").unwrap(), 5);
    sim.poke("a", 0).unwrap();
    assert_eq!(sim.peek("count").unwrap(), 0, "without waiting for an edge");
    sim.run(2);
    assert_eq!(sim.peek("count").unwrap(), 0);
    sim.poke("a", 2).unwrap();
    sim.run(3);
    assert_eq!(sim.peek("count").unwrap(), 3);
}

/// The same random button presses (and reset inputs) under Verilator and Icarus: the
/// counters agree on every edge.
#[test]
fn local_domains_cosimulate_under_verilator_and_icarus() {
    for design in [behind_a_pll(), computed_async_reset()] {
        let stimulus = Stimulus::random(&design, 300, 4, 5);
        for backend in [Backend::Verilator, Backend::Icarus] {
            if !require_tool(backend.tool()) {
                continue;
            }
            let report = cosimulate(&design, &stimulus, backend)
                .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
            assert_eq!(report.values_compared, 300 - 4, "{report:?}");
        }
    }
}
