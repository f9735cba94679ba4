//! The DSL tour of README: a valid/ready filter run by a state machine (with an assertion
//! SymbiYosys proves), and two clock domains joined by an asynchronous FIFO. Each design is
//! simulated natively, co-simulated under Verilator, and snapshotted; README shows the code
//! between the `tour:` markers, and a test keeps the two the same.

use std::collections::VecDeque;

use hardwire::fpga::formal::{require_formal_tools, FormalTask, Mode};
use hardwire::hdl::verilog::Verilog;
use hardwire::sim::cosim::{cosimulate, require_tool, Backend, Stimulus};
use hardwire::sim::Simulator;

// tour:filter
use hardwire::hdl::prelude::*;
use hardwire::hdl::primitives::{stream_contract, End};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Slot {
    Empty,
    Full,
}

impl States for Slot {
    const ALL: &'static [Self] = &[Slot::Empty, Slot::Full];
}

/// Passes the even bytes of a valid/ready stream on, holding one at a time.
fn even_filter() -> Design {
    Design::build("even_filter", |m| {
        let x = m.stream_input("x", Stream::with_ready(Type::unsigned(8)));
        let y_ready = m.wire("y_taken", Type::BOOL);
        let slot = m.fsm("slot", Slot::Empty);
        let held = m.reg("held", Type::unsigned(8)).reset(0);
        x.accept(slot.is(Slot::Empty));
        m.when(slot.is(Slot::Empty), || {
            m.when(x.valid & !x.payload.bit(0), || {
                held.next(x.payload);
                slot.goto(Slot::Full);
            });
        })
        .otherwise(|| m.when(y_ready, || slot.goto(Slot::Empty)));
        let full = slot.is(Slot::Full);
        m.assert("holds_only_even", !full | !held.q().bit(0));
        stream_contract(m, "y", End::Producer, full, y_ready, held.q());
        let y = Source {
            valid: full,
            payload: held.q(),
            ready: Some(y_ready),
        };
        m.stream_output("y", y);
    })
    .unwrap()
}
// tour:end

// tour:clocks
use hardwire::hdl::prelude::{Design, Reset, Stream, Type};
use hardwire::hdl::primitives::AsyncFifo;

/// Bytes written on the clock `write` come out on the clock `read`.
fn across_clocks() -> Design {
    Design::build("across_clocks", |m| {
        let write = m.domain("write", Reset::SYNC);
        let read = m.domain("read", Reset::SYNC);
        let fifo = m.instance(
            "u_fifo",
            &AsyncFifo {
                ty: Type::unsigned(8),
                depth: 4,
            },
        );
        fifo.domain("write", write).domain("read", read);
        fifo.stream_input(
            "in",
            m.stream_input("x", Stream::with_ready(Type::unsigned(8))),
        );
        m.stream_output("y", fifo.stream_output("out"));
    })
    .unwrap()
}
// tour:end

/// Feeds `bytes` into `x` whenever it is ready, takes `y` when `take` says, and returns
/// what came out; a transfer happens on an edge of its stream's clock (`x` on `write`, `y` on
/// `read`).
fn run(
    sim: &mut Simulator,
    bytes: &[u64],
    take: impl Fn(u64) -> bool,
    [write, read]: [&str; 2],
    cycles: u64,
) -> Vec<u64> {
    let mut queue: VecDeque<u64> = bytes.iter().copied().collect();
    let mut out = Vec::new();
    for cycle in 0..cycles {
        let offer = queue.front().copied();
        sim.poke("x_valid", u64::from(offer.is_some())).unwrap();
        sim.poke("x", offer.unwrap_or(0)).unwrap();
        sim.poke("y_ready", u64::from(take(cycle))).unwrap();
        let pushes = offer.is_some() && sim.peek("x_ready").unwrap() == 1;
        let pops = take(cycle) && sim.peek("y_valid").unwrap() == 1;
        let y = sim.peek("y").unwrap();
        sim.step();
        sim.checks().unwrap();
        let rose = sim.rose();
        if pushes && rose.contains(&write) {
            queue.pop_front();
        }
        if pops && rose.contains(&read) {
            out.push(y);
        }
    }
    out
}

#[test]
fn the_filter_passes_the_even_bytes_in_order() {
    let bytes = [4, 7, 10, 11, 13, 200, 0, 255, 8];
    let mut sim = Simulator::new(&even_filter()).unwrap();
    sim.reset(1).unwrap();
    // The consumer takes on two cycles out of three.
    let out = run(&mut sim, &bytes, |c| c % 3 != 0, ["sync", "sync"], 60);
    assert_eq!(out, [4, 10, 200, 0, 8]);
}

#[test]
fn the_fifo_carries_bytes_between_unrelated_clocks() {
    let bytes: Vec<u64> = (1..=20).collect();
    let mut sim = Simulator::new(&across_clocks()).unwrap();
    sim.set_period("write", 3_000).unwrap();
    sim.set_period("read", 7_000).unwrap();
    sim.reset(4).unwrap();
    let out = run(&mut sim, &bytes, |_| true, ["write", "read"], 400);
    assert_eq!(out, bytes);
}

#[test]
fn the_tour_matches_verilator() {
    if !require_tool("verilator") {
        return;
    }
    for (design, periods) in [
        (even_filter(), vec![]),
        (
            across_clocks(),
            vec![("write".to_string(), 3_000), ("read".to_string(), 7_000)],
        ),
    ] {
        let mut stimulus = Stimulus::random(&design, 300, 6, 21);
        stimulus.periods = periods;
        cosimulate(&design, &stimulus, Backend::Verilator).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn the_filter_s_assertion_and_stream_contract_are_proven() {
    let Some(tools) = require_formal_tools() else {
        return;
    };
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tour_prove");
    let _ = std::fs::remove_dir_all(&dir);
    let report = FormalTask::new(Mode::Prove, 4)
        .run(&even_filter(), &dir, &tools)
        .unwrap();
    assert!(report.passed(), "{}", report.summary());
}

#[test]
fn tour_filter_verilog() {
    insta::assert_snapshot!(Verilog::from_design(&even_filter()).single_file());
}

#[test]
fn tour_clocks_verilog() {
    let v = Verilog::from_design(&across_clocks());
    insta::assert_snapshot!(v.listing(|name| name == "across_clocks.v"));
}

/// README shows the tour's code as it is here.
#[test]
fn the_readme_shows_the_tour_as_tested() {
    let readme = include_str!("../README.md");
    let source = include_str!("tour.rs");
    let mut shown = 0;
    // Spelt in two pieces, so that this line is not a marker itself.
    for part in source.split(concat!("// tour", ":")).skip(1) {
        let Some(code) = part.split_once('\n').map(|(_, rest)| rest) else {
            continue;
        };
        if part.starts_with("end") {
            continue;
        }
        assert!(
            readme.contains(code.trim_end()),
            "README's tour differs from tests/tour.rs:\n{code}"
        );
        shown += 1;
    }
    assert_eq!(shown, 2);
}
