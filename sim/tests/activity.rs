//! Skipping idle logic never changes what the simulator computes: random hierarchical
//! designs (registers narrow and wide, enables, a memory per instance, combinational paths
//! through several instances and back) driven by random stretches of idle cycles, busy
//! cycles, single toggling inputs, resets and memory pokes give the same values with
//! skipping (throughout, or switching to evaluating everything and back every few cycles)
//! as with every instruction evaluated every cycle, and as the reference interpreter.

use hardwire_hdl::prelude::*;
use hardwire_sim::{Evaluation, Reference, Simulator};
use proptest::prelude::*;

/// An operation on earlier values (indices modulo the values so far).
#[derive(Debug, Clone, PartialEq)]
enum Op {
    Add(usize, usize),
    Mul(usize, usize),
    Xor(usize, usize),
    Mux(usize, usize, usize),
    Slice(usize, u32, u32),
    Concat(usize, usize),
    Lt(usize, usize),
    Not(usize),
}

impl Op {
    fn apply<'a>(&self, vals: &[Signal<'a>]) -> Signal<'a> {
        let pick = |i: usize| vals[i % vals.len()];
        let v = match *self {
            Op::Add(a, b) => pick(a) + pick(b),
            Op::Mul(a, b) => {
                pick(a).trunc(40.min(pick(a).width())) * pick(b).trunc(24.min(pick(b).width()))
            }
            Op::Xor(a, b) => pick(a) ^ pick(b).resize(pick(a).width()),
            Op::Mux(s, a, b) => pick(s).bit(0).mux(pick(a), pick(b).resize(pick(a).width())),
            Op::Slice(a, lo, w) => {
                let x = pick(a);
                let lo = lo % x.width();
                x.bits((lo + w).min(x.width() - 1), lo)
            }
            Op::Concat(a, b) => pick(a).concat(pick(b)),
            Op::Lt(a, b) => pick(a).lt(pick(b)),
            Op::Not(a) => !pick(a),
        };
        if v.width() > 160 {
            v.trunc(160)
        } else {
            v
        }
    }
}

/// One instance: `c` is a function of input `a` alone (so a later instance's `c` can feed
/// this one's `b` without a combinational loop), registers take any value.
#[derive(Debug, Clone, PartialEq)]
struct Unit {
    /// Its place in the net, which names the module (each unit is different hardware).
    id: usize,
    comb: Vec<Op>,
    /// Per register: width, the op computing its next value, and its enable (0 none,
    /// 1 `go`, 2 a bit of `b`).
    regs: Vec<(u32, Op, u8)>,
}

const A_BITS: u32 = 70;

impl Block for Unit {
    fn name(&self) -> String {
        format!("unit{}", self.id)
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let a = m.input("a", Type::unsigned(A_BITS));
        let b = m.input("b", Type::unsigned(16));
        let go = m.input("go", Type::BOOL);
        let mut vals = vec![a];
        for op in &self.comb {
            vals.push(op.apply(&vals));
        }
        let c = vals.last().unwrap().resize(A_BITS);
        m.output("c", c);

        let regs: Vec<_> = self
            .regs
            .iter()
            .enumerate()
            .map(|(i, (w, ..))| m.reg(&format!("r{i}"), Type::unsigned(*w)).reset(i as i64))
            .collect();
        let mem = m.memory("mem", Type::unsigned(12), 8);
        let rd = mem.read_enabled(b.bits(2, 0), b.bit(3));
        let mut vals = vec![a, b, go, c, rd];
        vals.extend(regs.iter().map(|r| r.q()));
        for (r, (w, op, en)) in regs.iter().zip(&self.regs) {
            let next = op.apply(&vals).resize(*w);
            match en % 3 {
                0 => r.next(next),
                1 => r.next_when(go, next),
                _ => r.next_when(b.bit(5), next),
            }
        }
        let q0 = regs[0].q();
        mem.write(
            q0.resize(3),
            regs[regs.len() - 1].q().resize(12),
            go & b.bit(0),
        );
        m.output("q", q0);
        m.output("rd", rd);
    }
}

/// Units in a row: each one's `a` is the previous one's `c`, and its `b` mixes the next
/// one's `c` into the top input `y`.
#[derive(Debug, Clone, PartialEq)]
struct Net {
    units: Vec<Unit>,
}

impl Block for Net {
    fn name(&self) -> String {
        "net".into()
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let x = m.input("x", Type::unsigned(A_BITS));
        let y = m.input("y", Type::unsigned(16));
        let go = m.input("go", Type::BOOL);
        let us: Vec<_> = self
            .units
            .iter()
            .enumerate()
            .map(|(i, u)| m.instance(&format!("u{i}"), u))
            .collect();
        for (i, u) in us.iter().enumerate() {
            u.input("a", if i == 0 { x } else { us[i - 1].output("c") });
            let b = match us.get(i + 1) {
                Some(next) => next.output("c").resize(16) ^ y,
                None => y,
            };
            u.input("b", b);
            let g = if i == 0 {
                go
            } else {
                go ^ us[i - 1].output("q").bit(0)
            };
            u.input("go", g);
            m.output(&format!("c{i}"), u.output("c"));
            m.output(&format!("q{i}"), u.output("q"));
            m.output(&format!("rd{i}"), u.output("rd"));
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    let i = 0usize..16;
    prop_oneof![
        (i.clone(), i.clone()).prop_map(|(a, b)| Op::Add(a, b)),
        (i.clone(), i.clone()).prop_map(|(a, b)| Op::Mul(a, b)),
        (i.clone(), i.clone()).prop_map(|(a, b)| Op::Xor(a, b)),
        (i.clone(), i.clone(), i.clone()).prop_map(|(s, a, b)| Op::Mux(s, a, b)),
        (i.clone(), 0u32..100, 0u32..70).prop_map(|(a, lo, w)| Op::Slice(a, lo, w)),
        (i.clone(), i.clone()).prop_map(|(a, b)| Op::Concat(a, b)),
        (i.clone(), i.clone()).prop_map(|(a, b)| Op::Lt(a, b)),
        i.prop_map(Op::Not),
    ]
}

fn net() -> impl Strategy<Value = Net> {
    let unit = (
        prop::collection::vec(op(), 1..6),
        prop::collection::vec((1u32..130, op(), 0u8..3), 1..6),
    )
        .prop_map(|(comb, regs)| Unit { id: 0, comb, regs });
    prop::collection::vec(unit, 1..5).prop_map(|mut units| {
        for (i, u) in units.iter_mut().enumerate() {
            u.id = i;
        }
        Net { units }
    })
}

/// A stretch of cycles: how long, what changes, and a seed for the values.
#[derive(Debug, Clone)]
struct Phase {
    len: u8,
    kind: u8,
    seed: u64,
}

fn phase() -> impl Strategy<Value = Phase> {
    (1u8..12, 0u8..6, any::<u64>()).prop_map(|(len, kind, seed)| Phase { len, kind, seed })
}

fn lcg(s: &mut u64) -> u64 {
    *s = s
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *s >> 11
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn skipping_idle_logic_equals_evaluating_everything(
        n in net(),
        phases in prop::collection::vec(phase(), 1..12),
        adaptive in prop::option::of(1u32..6),
    ) {
        let design = Design::elaborate(&n).unwrap_or_else(|e| panic!("{e}"));
        let mut skip = Simulator::new(&design).unwrap();
        // Skipping throughout, or switching between skipping and evaluating everything
        // every few cycles.
        skip.set_evaluation(match adaptive {
            Some(window) => Evaluation::Adaptive { window },
            None => Evaluation::Changed,
        });
        let mut full = Simulator::new(&design).unwrap();
        full.set_evaluation(Evaluation::All);
        let mut reference = Reference::new(&design);
        let signals = skip.signal_names();
        let outputs: Vec<String> = design.top_module().outputs().map(|p| p.name.clone()).collect();
        let mut cycle = 0;
        for ph in &phases {
            let mut s = ph.seed;
            for _ in 0..ph.len {
                let mut poke = |name: &str, v: Bits| {
                    skip.poke_bits(name, &v).unwrap();
                    full.poke_bits(name, &v).unwrap();
                    reference.poke(name, &v).unwrap();
                };
                let rst = cycle == 0 || (ph.kind == 4 && lcg(&mut s).is_multiple_of(3));
                poke("rst", Bits::from_u64(u64::from(rst), 1));
                match ph.kind {
                    // Everything changes.
                    1 => {
                        poke("x", Bits::from_words(&[lcg(&mut s), lcg(&mut s)], A_BITS));
                        poke("y", Bits::from_u64(lcg(&mut s) & 0xffff, 16));
                        poke("go", Bits::from_u64(lcg(&mut s) & 1, 1));
                    }
                    2 => poke("y", Bits::from_u64(lcg(&mut s) & 0xffff, 16)),
                    3 => poke("go", Bits::from_u64(lcg(&mut s) & 1, 1)),
                    5 => {
                        let u = lcg(&mut s) as usize % n.units.len();
                        let (addr, v) = (lcg(&mut s) % 8, Bits::from_u64(lcg(&mut s) & 0xfff, 12));
                        let name = format!("u{u}.mem");
                        skip.poke_mem(&name, addr, &v).unwrap();
                        full.poke_mem(&name, addr, &v).unwrap();
                        reference.poke_mem(&name, addr, &v).unwrap();
                    }
                    // Idle: nothing changes from outside.
                    _ => {}
                }
                for name in &outputs {
                    let want = full.peek_bits(name).unwrap();
                    prop_assert_eq!(&skip.peek_bits(name).unwrap(), &want, "{} at cycle {}", name, cycle);
                    prop_assert_eq!(&reference.peek(name).unwrap(), &want, "{} at cycle {} (reference)", name, cycle);
                }
                skip.step();
                full.step();
                reference.step();
                cycle += 1;
            }
            for name in &signals {
                prop_assert_eq!(skip.peek_bits(name).unwrap(), full.peek_bits(name).unwrap(), "{} after cycle {}", name, cycle);
            }
            for u in 0..n.units.len() {
                for addr in 0..8 {
                    let name = format!("u{u}.mem");
                    prop_assert_eq!(skip.peek_mem(&name, addr).unwrap(), full.peek_mem(&name, addr).unwrap());
                }
            }
        }
    }
}

/// The skipping does skip: with one of two counters enabled, about half the logic runs.
#[test]
fn an_idle_instance_costs_nothing() {
    #[derive(Clone, PartialEq)]
    struct Counter;
    impl Block for Counter {
        fn name(&self) -> String {
            "counter".into()
        }
        fn build(&self, m: &ModuleBuilder<'_>) {
            let en = m.input("en", Type::BOOL);
            let r = m.reg("n", Type::unsigned(32)).reset(0);
            // n <- n * n + 3n + 1: nonzero every cycle, and a few instructions to skip.
            let sq = (r.q() * r.q()).trunc(32);
            r.next_when(en, (sq + r.q() * 3 + 1).trunc(32));
            m.output("count", r.q());
        }
    }
    let design = Design::build("two", |m| {
        let busy = m.input("busy", Type::BOOL);
        let idle = m.input("idle", Type::BOOL);
        for (name, en) in [("u_busy", busy), ("u_idle", idle)] {
            let u = m.instance(name, &Counter);
            u.input("en", en);
            m.output(&format!("{name}_n"), u.output("count"));
        }
    })
    .unwrap();
    let mut sim = Simulator::new(&design).unwrap();
    sim.set_evaluation(Evaluation::Changed);
    sim.reset(1).unwrap();
    sim.poke("busy", 1).unwrap();
    sim.run(10);
    let before = sim.instructions_evaluated();
    sim.run(100);
    let per_cycle = (sim.instructions_evaluated() - before) as f64 / 100.0;
    let all = sim.instruction_count() as f64;
    assert!(
        per_cycle <= 0.6 * all,
        "{per_cycle} of {all} instructions per cycle with one counter idle"
    );
    assert!(per_cycle > 0.0);
    // Both stop: nothing runs.
    sim.poke("busy", 0).unwrap();
    sim.run(2);
    let before = sim.instructions_evaluated();
    sim.run(100);
    assert_eq!(sim.instructions_evaluated(), before);
    assert_ne!(sim.peek("u_busy_n").unwrap(), 0);
}

/// An adaptive simulator that goes from evaluating everything back to skipping must not
/// lose what changed meanwhile: a busy counter keeps the windows busy (so the simulator
/// switches every few cycles), while values ripple through a pipeline of instances that
/// were idle when it switched.
#[test]
fn switching_between_skipping_and_evaluating_everything_loses_nothing() {
    #[derive(Clone, PartialEq)]
    struct Stage;
    impl Block for Stage {
        fn name(&self) -> String {
            "stage".into()
        }
        fn build(&self, m: &ModuleBuilder<'_>) {
            let x = m.input("x", Type::unsigned(16));
            let r = m.reg("r", Type::unsigned(16)).reset(0);
            r.next((x * 3 + 1).trunc(16));
            m.output("y", r.q());
        }
    }
    #[derive(Clone, PartialEq)]
    struct Busy;
    impl Block for Busy {
        fn name(&self) -> String {
            "busy".into()
        }
        fn build(&self, m: &ModuleBuilder<'_>) {
            let r = m.reg("n", Type::unsigned(32)).reset(1);
            let mut v = r.q();
            for k in 0..12 {
                v = (v * (2 * k + 3) + r.q()).trunc(32);
            }
            r.next(v);
            m.output("count", r.q());
        }
    }
    let design = Design::build("ripple", |m| {
        let x = m.input("x", Type::unsigned(16));
        let busy = m.instance("u_busy", &Busy);
        m.output("n", busy.output("count"));
        let mut v = x;
        for i in 0..6 {
            let s = m.instance(&format!("u{i}"), &Stage);
            s.input("x", v);
            v = s.output("y");
        }
        m.output("y", v);
    })
    .unwrap();
    for window in 1..4 {
        let mut adaptive = Simulator::new(&design).unwrap();
        adaptive.set_evaluation(Evaluation::Adaptive { window });
        let mut all = Simulator::new(&design).unwrap();
        all.set_evaluation(Evaluation::All);
        for sim in [&mut adaptive, &mut all] {
            sim.reset(1).unwrap();
        }
        for cycle in 0..200u64 {
            // A new value every 9 cycles, so the pipeline goes idle in between.
            if cycle % 9 == 0 {
                for sim in [&mut adaptive, &mut all] {
                    sim.poke("x", cycle & 0xffff).unwrap();
                }
            }
            for sim in [&mut adaptive, &mut all] {
                sim.step();
            }
            for name in ["y", "u0.r", "u3.r", "n"] {
                assert_eq!(
                    adaptive.peek(name).unwrap(),
                    all.peek(name).unwrap(),
                    "{name} after cycle {cycle}, window {window}"
                );
            }
        }
    }
}

/// A register loaded from a concatenation wider than a partition: the concatenation is
/// built in steps, and a change in the inputs of only some of its parts must still reach
/// the register (it once did not when the steps fell into two partitions: the register was
/// woken only by the partition of the last step).
#[test]
fn a_concatenation_wider_than_a_partition_wakes_its_register() {
    const FIELDS: usize = 400;
    let design = Design::build("wide_concat", |m| {
        let lo = m.input("lo", Type::unsigned(16));
        let hi = m.input("hi", Type::unsigned(16));
        // Field k: a few bits of `lo` (low fields) or `hi` (high fields), each through an
        // instruction of its own.
        let fields: Vec<Signal<'_>> = (0..FIELDS)
            .rev()
            .map(|k| {
                let src = if k < FIELDS / 2 { lo } else { hi };
                let b = (k % 13) as u32;
                (src.bits(b + 3, b) ^ (k % 16) as i64).trunc(4)
            })
            .collect();
        let r = m.reg("word", Type::unsigned(4 * FIELDS as u32));
        r.next(m.concat(&fields));
        for k in [0, FIELDS / 2 - 1, FIELDS / 2, FIELDS - 1] {
            let at = 4 * k as u32;
            m.output(&format!("f{k}"), r.q().bits(at + 3, at));
        }
    })
    .unwrap();
    let outputs: Vec<String> = [0, FIELDS / 2 - 1, FIELDS / 2, FIELDS - 1]
        .iter()
        .map(|k| format!("f{k}"))
        .collect();
    let mut all = Simulator::new(&design).unwrap();
    all.set_evaluation(Evaluation::All);
    let mut skipping = Simulator::new(&design).unwrap();
    skipping.set_evaluation(Evaluation::Changed);
    // Change `lo` alone, then `hi` alone, then both, then neither.
    for (cycle, (lo, hi)) in [
        (1, 0),
        (1, 0),
        (1, 7),
        (1, 7),
        (9, 7),
        (9, 100),
        (3, 5),
        (3, 5),
    ]
    .into_iter()
    .enumerate()
    {
        for sim in [&mut all, &mut skipping] {
            sim.poke("lo", lo).unwrap();
            sim.poke("hi", hi).unwrap();
            sim.run(1);
        }
        for name in &outputs {
            assert_eq!(
                skipping.peek(name).unwrap(),
                all.peek(name).unwrap(),
                "{name} after cycle {cycle}"
            );
        }
    }
}
