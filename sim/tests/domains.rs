//! Several clock domains in the native simulator: each clock at its own period, synchronous
//! and asynchronous resets, and an asynchronous FIFO between two clocks whose periods are
//! drawn at random, against a model of the queue.

use std::collections::VecDeque;

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::AsyncFifo;
use hardwire_sim::cosim::{cosimulate, require_tool, Backend, Stimulus};
use hardwire_sim::Simulator;
use proptest::prelude::*;

/// A counter in the default domain and one in `fast` (asynchronous, active-low reset).
fn two_counters() -> Design {
    Design::build("two_counters", |m| {
        let fast = m.domain("fast", Reset::ASYNC.active_low());
        let slow = m.counter("slow_count", 1 << 16);
        slow.incr();
        let fast_q = m.in_domain(fast, || {
            let c = m.counter("fast_count", 1 << 16);
            c.incr();
            c.q()
        });
        m.output("slow", slow.q());
        m.output("fast", fast_q);
    })
    .expect("elaborates")
}

#[test]
fn each_clock_runs_at_its_own_period() {
    let mut sim = Simulator::new(&two_counters()).unwrap();
    assert_eq!(sim.domains(), ["sync", "fast"]);
    sim.set_period("sync", 10_000).unwrap();
    sim.set_period("fast", 4_000).unwrap();
    sim.poke("fast_rst_n", 1).unwrap();
    let mut edges = (0, 0);
    while sim.time_ps() < 200_000 {
        sim.step();
        for d in sim.rose() {
            match d {
                "sync" => edges.0 += 1,
                _ => edges.1 += 1,
            }
        }
    }
    // Edges at 10, 20, ... 200 ns and 4, 8, ... 200 ns; both at 20, 40, ... as one step.
    assert_eq!(edges, (20, 50));
    assert_eq!(sim.cycle(), 20 + 50 - 10);
    assert_eq!(sim.peek("slow").unwrap(), 20);
    assert_eq!(sim.peek("fast").unwrap(), 50);
    assert!(sim.set_period("nope", 1).is_err());
    assert!(sim.set_period("fast", 0).is_err());
}

#[test]
fn resets_act_by_their_kind() {
    let mut sim = Simulator::new(&two_counters()).unwrap();
    sim.poke("fast_rst_n", 1).unwrap();
    sim.run(5);
    assert_eq!(sim.peek("fast").unwrap(), 5);
    // Asynchronous: at once, without an edge, and held while asserted.
    sim.poke("fast_rst_n", 0).unwrap();
    assert_eq!(sim.peek("fast").unwrap(), 0);
    sim.run(3);
    assert_eq!(sim.peek("fast").unwrap(), 0);
    // Synchronous: only at the edge.
    sim.poke("rst", 1).unwrap();
    assert_eq!(sim.peek("slow").unwrap(), 8);
    sim.step();
    assert_eq!(sim.peek("slow").unwrap(), 0);
    // `reset` drives both, by their polarities, then releases both.
    sim.reset(2).unwrap();
    sim.run(4);
    assert_eq!(
        (sim.peek("slow").unwrap(), sim.peek("fast").unwrap()),
        (4, 4)
    );
}

/// A FIFO of `depth` bytes from domain `fast` to domain `slow` of the top.
fn fifo_between(depth: u32) -> Design {
    Design::build("cdc", |m| {
        let fast = m.domain("fast", Reset::SYNC);
        let slow = m.domain("slow", Reset::SYNC);
        let fifo = m.instance(
            "u_fifo",
            &AsyncFifo {
                ty: Type::unsigned(8),
                depth,
            },
        );
        fifo.domain("write", fast).domain("read", slow);
        fifo.input("in_valid", m.input("in_valid", Type::BOOL));
        fifo.input("in", m.input("in", Type::unsigned(8)));
        fifo.input("out_ready", m.input("out_ready", Type::BOOL));
        m.output("in_ready", fifo.output("in_ready"));
        let valid = fifo.output("out_valid");
        m.output("out_valid", valid);
        // Zero while invalid: the entries are a RAM, unknown until written under Icarus.
        m.output(
            "out",
            valid.mux(fifo.output("out"), m.lit(0, Type::unsigned(8))),
        );
    })
    .expect("elaborates")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever the two clocks' periods and the traffic, what leaves is what entered, in
    /// order, nothing is lost or repeated, and the queue never holds more than its depth.
    #[test]
    fn an_async_fifo_is_a_queue_between_any_two_clocks(
        depth in prop::sample::select(vec![2u32, 4, 8]),
        periods in (1_000u64..20_000, 1_000u64..20_000),
        traffic in prop::collection::vec((any::<bool>(), any::<u8>(), any::<bool>()), 50..300),
    ) {
        let mut sim = Simulator::new(&fifo_between(depth)).unwrap();
        sim.set_period("fast", periods.0).unwrap();
        sim.set_period("slow", periods.1).unwrap();
        sim.reset(4).unwrap();
        let mut model = VecDeque::new();
        let (mut pushed, mut popped) = (0u32, 0u32);
        for &(valid, byte, ready) in &traffic {
            sim.poke("in_valid", valid.into()).unwrap();
            sim.poke("in", byte.into()).unwrap();
            sim.poke("out_ready", ready.into()).unwrap();
            let in_ready = sim.peek("in_ready").unwrap() == 1;
            let out_valid = sim.peek("out_valid").unwrap() == 1;
            let out = sim.peek("out").unwrap();
            sim.step();
            let rose = sim.rose();
            if rose.contains(&"slow") && out_valid && ready {
                prop_assert_eq!(Some(out as u8), model.pop_front(), "pop {}", popped);
                popped += 1;
            }
            if rose.contains(&"fast") && valid && in_ready {
                model.push_back(byte);
                pushed += 1;
            }
            prop_assert!(model.len() <= depth as usize);
        }
        // Drained (over enough read edges), everything comes out.
        sim.poke("in_valid", 0).unwrap();
        sim.poke("out_ready", 1).unwrap();
        let mut read_edges = 0;
        while read_edges < 2 * depth + 8 {
            let (out_valid, out) = (sim.peek("out_valid").unwrap() == 1, sim.peek("out").unwrap());
            sim.step();
            if sim.rose().contains(&"slow") {
                read_edges += 1;
                if out_valid {
                    prop_assert_eq!(Some(out as u8), model.pop_front());
                    popped += 1;
                }
            }
        }
        prop_assert!(model.is_empty(), "{} entries never came out", model.len());
        prop_assert_eq!(pushed, popped);
    }
}

#[test]
fn an_async_fifo_fills_to_its_depth_and_no_further() {
    let mut sim = Simulator::new(&fifo_between(4)).unwrap();
    sim.set_period("fast", 3_000).unwrap();
    sim.set_period("slow", 7_000).unwrap();
    sim.reset(4).unwrap();
    sim.poke("in_valid", 1).unwrap();
    let mut accepted = 0;
    for i in 0..60 {
        sim.poke("in", i).unwrap();
        let ready = sim.peek("in_ready").unwrap() == 1;
        sim.step();
        if ready && sim.rose().contains(&"fast") {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 4);
}

/// The same random traffic, at two unrelated periods, under Verilator and Icarus: each edge
/// of each clock where the native simulator has it, the outputs equal on every step.
#[test]
fn several_clocks_cosimulate_under_verilator_and_icarus() {
    for design in [fifo_between(4), two_counters()] {
        // Reset long enough for every synchroniser stage to hold a known value under Icarus.
        let mut stimulus = Stimulus::random(&design, 400, 12, 11);
        let names = Simulator::new(&design).unwrap().domains();
        stimulus.periods = names
            .iter()
            .zip([3_000, 7_000, 5_000])
            .map(|(n, p)| (n.clone(), p))
            .collect();
        for backend in [Backend::Verilator, Backend::Icarus] {
            if !require_tool(backend.tool()) {
                continue;
            }
            let report = cosimulate(&design, &stimulus, backend)
                .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
            let outputs = design.top_module().outputs().count() as u64;
            assert_eq!(report.values_compared, (400 - 12) * outputs, "{report:?}");
        }
    }
}

/// A pipeline belongs to the domain it was made in, even where its values are read later,
/// outside that domain's `in_domain`.
#[test]
fn a_pipeline_stays_in_its_clock_domain() {
    let design = Design::build("piped", |m| {
        let fast = m.domain("fast", Reset::SYNC);
        let x = m.input("x", Type::unsigned(8));
        let valid = m.input("x_valid", Type::BOOL);
        let (mut p, x) = m.in_domain(fast, || {
            let p = m.pipeline("p", valid, &["one", "two"]);
            let x = p.keep("x", x);
            (p, x)
        });
        p.stage("one");
        p.stage("two");
        m.stream_output("y", p.source(p.at(x)));
        p.finish();
    })
    .expect("one domain, no crossing");
    let top = design.top_module();
    assert_eq!(top.regs.len(), 4);
    assert!(top.regs.iter().all(|r| top.domain(r.domain).name == "fast"));
    assert!(!top.clocked, "nothing is left in the default domain");
}

/// A child's named domain connected to the parent's default one gives the parent its `clk`,
/// though nothing else of the parent is clocked.
#[test]
fn a_child_domain_on_the_default_clock_clocks_the_parent() {
    let design = Design::build("wrapper", |m| {
        let fast = m.domain("fast", Reset::SYNC);
        let fifo = m.instance(
            "u_fifo",
            &AsyncFifo {
                ty: Type::unsigned(8),
                depth: 2,
            },
        );
        fifo.domain("write", fast).domain("read", m.sync_domain());
        fifo.input("in_valid", m.input("in_valid", Type::BOOL));
        fifo.input("in", m.input("in", Type::unsigned(8)));
        fifo.input("out_ready", m.input("out_ready", Type::BOOL));
        m.output("out_valid", fifo.output("out_valid"));
    })
    .expect("elaborates");
    assert!(design.top_module().clocked);
    let mut stimulus = Stimulus::random(&design, 100, 6, 3);
    stimulus.periods = vec![("fast".into(), 4_000)];
    if require_tool("verilator") {
        cosimulate(&design, &stimulus, Backend::Verilator).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// With several clocks the waveform is in picoseconds and shows each clock at its own
/// edges, with the updates each causes.
#[test]
fn a_waveform_shows_each_clock_at_its_own_period() {
    let mut sim = Simulator::new(&two_counters()).unwrap();
    sim.set_period("sync", 10_000).unwrap();
    sim.set_period("fast", 4_000).unwrap();
    let path = std::env::temp_dir().join(format!("two_clocks_{}.vcd", std::process::id()));
    sim.trace_vcd(std::fs::File::create(&path).unwrap())
        .unwrap();
    sim.poke("fast_rst_n", 1).unwrap();
    while sim.time_ps() < 20_000 {
        sim.step();
    }
    sim.flush_vcd().unwrap();
    let vcd = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert!(vcd.contains("$timescale 1ps $end"), "{vcd}");
    assert!(vcd.contains("$var wire 1 ! clk $end"), "{vcd}");
    assert!(vcd.contains("$var wire 1 \" fast_clk $end"), "{vcd}");
    // fast rises at 4, 8, 12, 16 and 20 ns, falling 2 ns later; clk at 10 and 20 ns.
    let times: Vec<&str> = vcd.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(
        times,
        [
            "#0", "#4000", "#6000", "#8000", "#10000", "#12000", "#14000", "#15000", "#16000",
            "#18000", "#20000"
        ]
    );
    let at = |t: &str| {
        vcd.split(&format!("{t}\n"))
            .nth(1)
            .and_then(|rest| rest.split('#').next())
            .unwrap_or("")
            .to_string()
    };
    assert!(at("#10000").contains("1!"), "clk rises at 10 ns");
    assert!(at("#15000").contains("0!"), "and falls at 15 ns");
    assert!(at("#4000").contains("1\""), "fast_clk rises at 4 ns");
}
