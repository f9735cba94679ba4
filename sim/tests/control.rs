//! Control in the DSL — `when`/`elsewhen`/`otherwise`, counters, state machines — and the
//! design's own checks, simulated: against a software model of the same statements, and
//! in the waveform.

mod common;

use common::Shared;
use hardwire_hdl::prelude::*;
use hardwire_hdl::verilog::Verilog;
use hardwire_sim::{Evaluation, SimError, Simulator};
use proptest::prelude::*;

/// One register, one wire, one RAM and three checks, all driven from inside nested scopes.
fn scoped_design() -> Design {
    Design::build("scoped", |m| {
        let [a, b, c, d] = ["a", "b", "c", "d"].map(|n| m.input(n, Type::BOOL));
        let x = m.input("x", Type::unsigned(8));
        let r = m.reg("r", Type::unsigned(8)).reset(3);
        let w = m.wire("w", Type::unsigned(8));
        let ram = m.memory("ram", Type::unsigned(8), 4);
        m.assign(w, x);
        r.next(r.q().wrapping_add(1));
        m.when(a, || {
            r.next(x);
            m.assign(w, !x);
            m.when(b, || {
                r.next(x ^ 0x55);
                m.assert("x_nonzero", x.ne(0));
            });
        })
        .elsewhen(c, || {
            r.next(r.q().wrapping_sub(1));
            ram.write(x.bits(1, 0), x, d);
            m.cover("c_and_d", d);
        })
        .otherwise(|| m.when(d, || r.next(m.lit(0, Type::unsigned(8)))));
        m.output("ram_word", ram.read(x.bits(1, 0)));
        m.output("q", r.q());
        m.output("w_out", w);
    })
    .expect("elaborates")
}

/// The same statements in Rust.
#[derive(Default)]
struct Model {
    r: u8,
    ram: [u8; 4],
    covered: u64,
    first_failure: Option<u64>,
}

impl Model {
    fn edge(&mut self, cycle: u64, rst: bool, [a, b, c, d]: [bool; 4], x: u8) {
        if rst {
            self.r = 3;
        } else {
            if a && b && x == 0 && self.first_failure.is_none() {
                self.first_failure = Some(cycle);
            }
            self.covered += u64::from(!a && c && d);
            self.r = if a {
                if b {
                    x ^ 0x55
                } else {
                    x
                }
            } else if c {
                self.r.wrapping_sub(1)
            } else if d {
                0
            } else {
                self.r.wrapping_add(1)
            };
        }
        if !a && c && d {
            self.ram[usize::from(x & 3)] = x;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn when_scopes_do_what_the_nested_ifs_say(
        drive in prop::collection::vec((any::<[bool; 4]>(), prop_oneof![Just(0u8), any::<u8>()], 0u8..10), 1..80),
        skip in any::<bool>(),
    ) {
        let design = scoped_design();
        let mut sim = Simulator::new(&design).unwrap();
        if !skip {
            sim.set_evaluation(Evaluation::All);
        }
        let mut model = Model::default();
        for (cycle, &(abcd, x, rst)) in drive.iter().enumerate() {
            let rst = rst == 0 || cycle == 0;
            for (name, v) in ["a", "b", "c", "d"].iter().zip(abcd) {
                sim.poke(name, u64::from(v)).unwrap();
            }
            sim.poke("x", x.into()).unwrap();
            sim.poke("rst", rst.into()).unwrap();
            let w = if abcd[0] { !x } else { x };
            prop_assert_eq!(sim.peek("w_out").unwrap(), u64::from(w));
            prop_assert_eq!(sim.peek("q").unwrap(), u64::from(model.r), "cycle {}", cycle);
            sim.step();
            model.edge(cycle as u64, rst, abcd, x);
        }
        for addr in 0..4 {
            prop_assert_eq!(sim.peek_mem("ram", addr).unwrap().to_u64(), u64::from(model.ram[addr as usize]));
        }
        prop_assert_eq!(sim.covers(), vec![("c_and_d".to_string(), model.covered)]);
        match (sim.checks(), model.first_failure) {
            (Ok(()), None) => {}
            (Err(SimError::CheckFailed { kind, name, cycle, loc }), Some(expected)) => {
                prop_assert_eq!((kind, name.as_str(), cycle), ("assert", "x_nonzero", expected));
                prop_assert!(loc.contains("control.rs"), "{}", loc);
            }
            (got, expected) => prop_assert!(false, "simulator {:?}, model {:?}", got, expected),
        }
    }
}

/// A pipeline `depth` stages deep: `a²` from a ROM read, plus `b`, in stage 1; a `tag` flag
/// and the sum carried to the last stage by the pipeline alone.
fn squares_pipeline(depth: usize) -> Design {
    let names: Vec<String> = (1..=depth).map(|k| format!("s{k}")).collect();
    let stages: Vec<&str> = names.iter().map(String::as_str).collect();
    Design::build("squares", |m| {
        let valid = m.input("in_valid", Type::BOOL);
        let (a, b) = (
            m.input("a", Type::unsigned(8)),
            m.input("b", Type::unsigned(8)),
        );
        let tag = m.input("tag", Type::BOOL);
        let squares: Vec<i64> = (0..256).map(|i| i * i).collect();
        let rom = m.memory("square", Type::unsigned(16), 256).init(&squares);
        let mut p = m.pipeline("p", valid, &stages);
        let (square, b, tag) = (
            p.read("square", &rom, a),
            p.keep("b", b),
            p.flag("tag", tag),
        );
        p.stage("s1");
        let sum = p.keep("sum", (p.at(square) + p.at(b)).trunc(16));
        for name in &stages[1..] {
            p.stage(name);
        }
        m.stream_output("y", p.source(p.at(sum)));
        m.output("tag_out", p.at(tag));
        assert_eq!(p.finish(), depth as u64);
    })
    .expect("elaborates")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Whatever its depth, the pipeline's output is its input's function `depth` cycles on,
    /// its valid and flags the inputs' `depth` cycles on.
    #[test]
    fn a_pipeline_delays_every_value_by_its_depth(
        depth in 1usize..6,
        drive in prop::collection::vec((any::<bool>(), any::<u8>(), any::<u8>(), any::<bool>()), 1..60),
    ) {
        let mut sim = Simulator::new(&squares_pipeline(depth)).unwrap();
        sim.reset(1).unwrap();
        for (cycle, &(valid, a, b, tag)) in drive.iter().enumerate() {
            for (name, v) in [("in_valid", u64::from(valid)), ("a", a.into()), ("b", b.into()), ("tag", tag.into())] {
                sim.poke(name, v).unwrap();
            }
            let (out_valid, y, tag_out) = (sim.peek("y_valid").unwrap(), sim.peek("y").unwrap(), sim.peek("tag_out").unwrap());
            match cycle.checked_sub(depth).map(|t| drive[t]) {
                None => prop_assert_eq!((out_valid, tag_out), (0, 0), "cycle {}", cycle),
                Some((valid, a, b, tag)) => {
                    prop_assert_eq!(out_valid, u64::from(valid), "cycle {}", cycle);
                    prop_assert_eq!(tag_out, u64::from(valid && tag), "cycle {}", cycle);
                    if valid {
                        let expected = (u64::from(a) * u64::from(a) + u64::from(b)) & 0xffff;
                        prop_assert_eq!(y, expected, "cycle {}", cycle);
                    }
                }
            }
            sim.step();
        }
    }
}

#[test]
fn run_until_stops_at_a_failed_assertion() {
    let design = Design::build("limit", |m| {
        let count = m.counter("count", 16);
        count.incr();
        m.assert("below_ten", count.q().lt(10));
        m.output("q", count.q());
    })
    .unwrap();
    let mut sim = Simulator::new(&design).unwrap();
    sim.reset(1).unwrap();
    let err = sim.run_until(|_| false, 100).unwrap_err();
    let SimError::CheckFailed { name, cycle, .. } = &err else {
        panic!("{err}")
    };
    // Out of reset at cycle 1 with count 0; count is 10 before the edge of cycle 11.
    assert_eq!((name.as_str(), *cycle), ("below_ten", 11));
    assert!(
        err.to_string()
            .contains("assert `below_ten` failed at cycle 11"),
        "{err}"
    );
}

#[test]
fn counters_wrap_at_their_modulus() {
    for modulus in [1u64, 2, 7, 8, 10] {
        let design = Design::build("count", |m| {
            let en = m.input("en", Type::BOOL);
            let c = m.counter("c", modulus);
            m.when(en, || c.incr());
            m.output("q", c.q());
            m.output("last", c.is_last());
        })
        .unwrap();
        let mut sim = Simulator::new(&design).unwrap();
        sim.reset(1).unwrap();
        let mut expected = 0;
        for i in 0..40u64 {
            let en = i % 3 != 0;
            sim.poke("en", en.into()).unwrap();
            assert_eq!(sim.peek("q").unwrap(), expected, "modulus {modulus}");
            assert_eq!(
                sim.peek("last").unwrap(),
                u64::from(expected == modulus - 1)
            );
            sim.step();
            if en {
                expected = (expected + 1) % modulus;
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Light {
    Red,
    Green,
    Yellow,
}

impl States for Light {
    const ALL: &'static [Self] = &[Light::Red, Light::Green, Light::Yellow];
}

fn traffic_light() -> Design {
    Design::build("light", |m| {
        let go = m.input("go", Type::BOOL);
        let light = m.fsm("light", Light::Red);
        m.when(light.is(Light::Red), || {
            m.when(go, || light.goto(Light::Green))
        })
        .elsewhen(light.is(Light::Green), || light.goto(Light::Yellow))
        .otherwise(|| light.goto(Light::Red));
        m.output("red", light.is(Light::Red));
    })
    .unwrap()
}

#[test]
fn a_state_machine_shows_its_states_by_name() {
    let design = traffic_light();
    let out = Shared::default();
    {
        let mut sim = Simulator::new(&design).unwrap();
        sim.trace_vcd(out.clone()).unwrap();
        sim.reset(1).unwrap();
        let mut seen = Vec::new();
        for go in [0, 1, 0, 0, 0] {
            sim.poke("go", go).unwrap();
            seen.push(sim.peek("light").unwrap());
            sim.step();
        }
        assert_eq!(seen, [0, 0, 1, 2, 0]);
        sim.flush_vcd().unwrap();
    }
    let vcd = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let var = vcd
        .lines()
        .find(|l| l.starts_with("$var string") && l.contains(" light "))
        .unwrap_or_else(|| panic!("no string variable for the state:\n{vcd}"));
    let id = var.split_whitespace().nth(3).unwrap();
    let states: Vec<&str> = vcd
        .lines()
        .filter_map(|l| l.strip_suffix(&format!(" {id}"))?.strip_prefix('s'))
        .collect();
    assert_eq!(states, ["Red", "Green", "Yellow", "Red"], "{vcd}");
    let verilog = Verilog::from_design(&design);
    assert!(
        verilog
            .single_file()
            .contains("// light: 0 Red, 1 Green, 2 Yellow"),
        "{}",
        verilog.single_file()
    );
}

/// A producer that keeps the stream contract (it may hold `valid` low, but once high it waits
/// for `ready` with the same word) and a consumer that takes when it likes.
#[test]
fn a_stream_fifo_is_a_queue_and_reports_a_producer_that_breaks_the_contract() {
    use hardwire_hdl::primitives::StreamFifo;
    let design = Design::elaborate(&StreamFifo {
        ty: Type::unsigned(8),
        depth: 3,
    })
    .unwrap();
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(
            &prop::collection::vec((any::<bool>(), any::<bool>(), any::<u8>()), 1..200),
            |steps| {
                let mut sim = Simulator::new(&design).unwrap();
                sim.reset(1).unwrap();
                let mut queue = std::collections::VecDeque::new();
                let mut offer: Option<u8> = None;
                for (want, take, word) in steps {
                    if offer.is_none() && want {
                        offer = Some(word);
                    }
                    sim.poke("in_valid", offer.is_some().into()).unwrap();
                    sim.poke("in", offer.unwrap_or(0).into()).unwrap();
                    sim.poke("out_ready", take.into()).unwrap();
                    prop_assert_eq!(sim.peek("out_valid").unwrap() == 1, !queue.is_empty());
                    if let Some(front) = queue.front() {
                        prop_assert_eq!(sim.peek("out").unwrap(), u64::from(*front));
                    }
                    let room = queue.len() < 3;
                    prop_assert_eq!(sim.peek("in_ready").unwrap() == 1, room);
                    if take {
                        queue.pop_front();
                    }
                    if let (Some(w), true) = (offer, room) {
                        queue.push_back(w);
                        offer = None;
                    }
                    sim.step();
                }
                prop_assert_eq!(sim.checks(), Ok(()));
                Ok(())
            },
        )
        .unwrap();

    // Offered while full, then withdrawn: the FIFO's assumption names the broken promise.
    let mut sim = Simulator::new(&design).unwrap();
    sim.reset(1).unwrap();
    sim.poke("out_ready", 0).unwrap();
    sim.poke("in_valid", 1).unwrap();
    sim.run(4);
    sim.poke("in_valid", 0).unwrap();
    sim.step();
    let err = sim.checks().unwrap_err();
    assert!(
        err.to_string()
            .contains("assume `in_valid_held` failed at cycle 5"),
        "{err}"
    );
}
