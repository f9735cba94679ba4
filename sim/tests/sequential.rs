//! Registers, memories, reset and hierarchy: the compiled simulator against the reference
//! interpreter cycle by cycle, plus the clock-edge semantics spelled out as expected values.

mod common;

use common::Mb;
use hardwire_hdl::ir::{BinaryOp, Design, ModuleId, NodeKind, Type, UnaryOp};
use hardwire_hdl::Bits;
use hardwire_sim::{Reference, SimError, Simulator};
use proptest::prelude::*;

/// A child with an accumulator (reset, enable) and a 70-bit-word memory written and read
/// through ports; the parent instantiates it twice and adds a shift register, a wide
/// register, a memory with two read ports (one enabled) and a counter.
fn design() -> Design {
    let mut c = Mb::new("acc_unit", true);
    let x = c.input("x", Type::signed(12));
    let en = c.input("en", Type::BOOL);
    let (acc, acc_q) = c.reg("acc", Type::signed(20), Some(-5));
    let xe = c.resize(x, 20);
    let sum = c.bin(BinaryOp::Add, acc_q, xe);
    let sum = c.resize(sum, 20);
    let sum = c.wire("sum", sum);
    c.set_next(acc, sum, Some(en));
    let mem = c.mem("buf", Type::unsigned(70), 5, None);
    let addr = c.slice(x, 0, 3);
    let wide = c.resize(acc_q, 70);
    let wide = c.cast(wide, false);
    let shifted = c.konst(3, Type::unsigned(7));
    let wide = c.bin(BinaryOp::Shl, wide, shifted);
    c.write_port(mem, addr, wide, en);
    let rd = c.read_port(mem, addr, None);
    c.output("acc_out", acc_q);
    c.output("rd", rd);
    let child = c.m.clone();

    let mut p = Mb::new("top", true);
    let a = p.input("a", Type::signed(12));
    let b = p.input("b", Type::unsigned(8));
    let go = p.input("go", Type::BOOL);
    let u0 = p.instance("u0", ModuleId(0), &child, &[("x", a), ("en", go)]);
    let ng = p.un(UnaryOp::Not, go);
    let u1 = p.instance("u1", ModuleId(0), &child, &[("x", a), ("en", ng)]);
    let acc0 = p.inst_out(u0, &child, "acc_out");
    let acc1 = p.inst_out(u1, &child, "acc_out");
    let rd1 = p.inst_out(u1, &child, "rd");
    let total = p.bin(BinaryOp::Sub, acc0, acc1);
    p.output("total", total);
    p.output("rd1", rd1);
    // Shift register: each stage's next value is the previous stage's output, so the edge
    // must sample before committing.
    let (s0, q0) = p.reg("s0", Type::unsigned(8), Some(0));
    let (s1, q1) = p.reg("s1", Type::unsigned(8), None);
    let (s2, q2) = p.reg("s2", Type::unsigned(8), Some(1));
    p.set_next(s0, b, None);
    // An enable that is itself a register output, so it too is sampled before the commit.
    let (tog, tog_q) = p.reg("tog", Type::BOOL, Some(0));
    let ntog = p.un(UnaryOp::Not, tog_q);
    p.set_next(tog, ntog, None);
    p.set_next(s1, q0, Some(tog_q));
    p.set_next(s2, q1, Some(q0));
    let q2b = p.slice(q2, 0, 1);
    p.set_next(s2, q1, Some(q2b));
    // Two registers swapping every edge: a cycle that has to be staged.
    let (swa, swa_q) = p.reg("swa", Type::unsigned(8), Some(1));
    let (swb, swb_q) = p.reg("swb", Type::unsigned(8), Some(2));
    p.set_next(swa, swb_q, None);
    p.set_next(swb, swa_q, Some(tog_q));
    // A 100-bit register multiplying itself up.
    let (big, big_q) = p.reg("big", Type::unsigned(100), Some(1));
    let b100 = p.resize(b, 100);
    let prod = p.bin(BinaryOp::Mul, big_q, b100);
    let prod = p.resize(prod, 100);
    let one = p.konst(1, Type::unsigned(100));
    let nz = p.un(UnaryOp::ReduceOr, prod);
    let next = p.mux(nz, prod, one);
    p.set_next(big, next, None);
    p.output("big_out", big_q);
    // A ROM-initialised RAM: written at b % 8 with the counter, read at two addresses; the
    // second port only when go is high; the address can run past the depth (6 words).
    let (cnt, cnt_q) = p.reg("cnt", Type::unsigned(4), Some(0));
    let one4 = p.konst(1, Type::unsigned(4));
    let inc = p.bin(BinaryOp::Add, cnt_q, one4);
    let inc = p.resize(inc, 4);
    p.set_next(cnt, inc, None);
    let init = (0..6).map(|i| Bits::from_u64(100 + i, 16)).collect();
    let ram = p.mem("ram", Type::unsigned(16), 6, Some(init));
    let wa = p.slice(b, 0, 3);
    let cnt16 = p.resize(cnt_q, 16);
    let we = p.slice(b, 7, 1);
    p.write_port(ram, wa, cnt16, we);
    let ra = p.slice(b, 3, 3);
    let r0 = p.read_port(ram, wa, None);
    let r1 = p.read_port(ram, ra, Some(go));
    p.output("r0", r0);
    p.output("r1", r1);
    // Pointer chasing: a memory whose read address and write data are its own read data,
    // which the edge must sample before the read port overwrites it.
    let chase_init = (0..8).map(|i| Bits::from_u64((i * 3 + 1) % 8, 3)).collect();
    let chase = p.mem("chase", Type::unsigned(3), 8, Some(chase_init));
    let chase_rd = p.node(NodeKind::MemRead(chase, 0), Type::unsigned(3));
    p.m.mems[chase.0 as usize]
        .read_ports
        .push(hardwire_hdl::ir::ReadPort {
            addr: chase_rd,
            enable: None,
            domain: hardwire_hdl::ir::DomainId::SYNC,
        });
    let chase_wa = p.slice(b, 0, 3);
    let chase_we = p.slice(b, 6, 1);
    p.write_port(chase, chase_wa, chase_rd, chase_we);
    p.output("chase_rd", chase_rd);
    // A memory addressed by fields of a register: the edge reads them before the counter
    // moves.
    let ring = p.mem("ring", Type::unsigned(8), 8, None);
    let ring_ra = p.slice(cnt_q, 0, 3);
    let ring_wa = p.slice(cnt_q, 1, 3);
    let ring_we = p.slice(cnt_q, 0, 1);
    p.write_port(ring, ring_wa, b, ring_we);
    let ring_rd = p.read_port(ring, ring_ra, None);
    p.output("ring_rd", ring_rd);
    let node = p.node(
        NodeKind::Wire {
            name: "q2_named".into(),
            driver: Some(q2),
        },
        Type::unsigned(8),
    );
    p.output("q2", node);
    Design {
        modules: vec![child, p.m],
        top: ModuleId(1),
    }
}

const WATCH: &[&str] = &[
    "ring_rd",
    "chase_rd",
    "total",
    "rd1",
    "tog",
    "s0",
    "s1",
    "s2",
    "q2",
    "q2_named",
    "big",
    "big_out",
    "cnt",
    "r0",
    "r1",
    "u0.acc",
    "u0.sum",
    "u0.x",
    "u1.en",
    "u1.acc_out",
    "u0.rd",
    "u1.rd",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn registers_memories_and_hierarchy_match_reference(
        drive in prop::collection::vec((any::<i16>(), any::<u8>(), any::<bool>(), 0u8..8), 1..120),
    ) {
        let d = design();
        let mut sim = Simulator::new(&d).unwrap();
        let mut reference = Reference::new(&d);
        for (cycle, &(a, b, go, rst)) in drive.iter().enumerate() {
            let a = i64::from(a) >> 4;
            let rst = rst == 0 || cycle == 0;
            sim.poke_i64("a", a).unwrap();
            sim.poke("b", u64::from(b)).unwrap();
            sim.poke("go", go as u64).unwrap();
            sim.poke("rst", rst as u64).unwrap();
            reference.poke("a", &Bits::from_i128(a.into(), 12)).unwrap();
            reference.poke("b", &Bits::from_u64(b.into(), 8)).unwrap();
            reference.poke("go", &Bits::from_u64(go as u64, 1)).unwrap();
            reference.poke("rst", &Bits::from_u64(rst as u64, 1)).unwrap();
            for name in WATCH {
                prop_assert_eq!(sim.peek_bits(name).unwrap(), reference.peek(name).unwrap(), "{} at cycle {}", name, cycle);
            }
            for addr in 0..6 {
                prop_assert_eq!(sim.peek_mem("ram", addr).unwrap(), reference.peek_mem("ram", addr).unwrap());
            }
            for addr in 0..8 {
                prop_assert_eq!(sim.peek_mem("chase", addr).unwrap(), reference.peek_mem("chase", addr).unwrap());
                prop_assert_eq!(sim.peek_mem("ring", addr).unwrap(), reference.peek_mem("ring", addr).unwrap());
            }
            for addr in 0..5 {
                prop_assert_eq!(sim.peek_mem("u1.buf", addr).unwrap(), reference.peek_mem("u1.buf", addr).unwrap());
            }
            sim.step();
            reference.step();
        }
    }
}

#[test]
fn shift_register_samples_before_commit_and_reset_loads_reset_values() {
    let mut sim = Simulator::new(&design()).unwrap();
    sim.reset(1).unwrap();
    assert_eq!(sim.peek("s0").unwrap(), 0);
    assert_eq!(sim.peek("s2").unwrap(), 1);
    assert_eq!(sim.peek_i64("u0.acc").unwrap(), -5);
    assert_eq!(sim.peek_bits("big").unwrap(), Bits::from_u64(1, 100));
    let b = sim.input("b").unwrap();
    for v in [7u64, 9, 11] {
        sim.set(b, v);
        sim.step();
    }
    // s0 holds the last b; s1 loads s0's old value only on the edge where `tog` was high
    // (the second after reset), so it holds 7.
    assert_eq!(sim.peek("s0").unwrap(), 11);
    assert_eq!(sim.peek("s1").unwrap(), 7);
    assert_eq!(sim.cycle(), 4);
    let (acc, big) = (sim.signal("u0.acc").unwrap(), sim.signal("big").unwrap());
    assert_eq!(sim.get_i64(acc), sim.peek_i64("u0.acc").unwrap());
    let want = sim.peek_bits("big").unwrap();
    assert_eq!(sim.get_words(big), want.words());
}

#[test]
fn memory_reads_are_registered_and_read_first() {
    let mut sim = Simulator::new(&design()).unwrap();
    sim.reset(1).unwrap();
    sim.step(); // the counter goes 0 -> 1
                // Write 0b1000_0010: write enable, address 2; read port 0 reads address 2 too.
    sim.poke("b", 0b1000_0010).unwrap();
    assert_eq!(
        sim.peek("r0").unwrap(),
        100,
        "read data is registered: still address 0, read at the last edge"
    );
    sim.step();
    assert_eq!(
        sim.peek("r0").unwrap(),
        102,
        "read-first: the edge that writes reads the old word"
    );
    assert_eq!(
        sim.peek_mem("ram", 2).unwrap().to_u64(),
        1,
        "the counter was 1 at that edge"
    );
    sim.poke("b", 0b0000_0010).unwrap();
    sim.step();
    assert_eq!(sim.peek("r0").unwrap(), 1);
    // Address 7 is past the 6-word depth: reads zero, writes are dropped.
    sim.poke("b", 0b1000_0111).unwrap();
    sim.step();
    assert_eq!(sim.peek("r0").unwrap(), 0);
}

#[test]
fn run_until_counts_cycles_and_times_out() {
    let mut sim = Simulator::new(&design()).unwrap();
    sim.reset(1).unwrap();
    let taken = sim.run_until(|s| s.peek("cnt").unwrap() == 5, 100).unwrap();
    assert_eq!(taken, 5);
    assert_eq!(
        sim.run_until(|s| s.peek("cnt").unwrap() == 99, 20),
        Err(SimError::Timeout(20))
    );
}

#[test]
fn user_mistakes_are_errors() {
    let mut sim = Simulator::new(&design()).unwrap();
    assert!(matches!(
        sim.poke("nope", 1),
        Err(SimError::UnknownSignal(_))
    ));
    assert!(matches!(
        sim.peek("u9.acc"),
        Err(SimError::UnknownSignal(_))
    ));
    assert!(matches!(sim.poke("total", 1), Err(SimError::NotAnInput(_))));
    assert!(matches!(sim.poke("u0.x", 1), Err(SimError::NotAnInput(_))));
    assert!(matches!(
        sim.poke("b", 256),
        Err(SimError::ValueTooWide { width: 8, .. })
    ));
    assert!(matches!(
        sim.poke_i64("a", 2048),
        Err(SimError::ValueTooWide { .. })
    ));
    assert!(matches!(
        sim.poke_i64("a", -2049),
        Err(SimError::ValueTooWide { .. })
    ));
    sim.poke_i64("a", -2048).unwrap();
    assert_eq!(sim.peek_i64("a").unwrap(), -2048);
    assert_eq!(sim.peek("a").unwrap(), 0x800);
    assert!(matches!(
        sim.poke_i64("b", -1),
        Err(SimError::ValueTooWide { .. })
    ));
    assert!(matches!(
        sim.peek("big"),
        Err(SimError::TooWideForPeek { width: 100, .. })
    ));
    assert!(matches!(
        sim.peek_mem("ram", 6),
        Err(SimError::AddressOutOfRange { .. })
    ));
    assert!(matches!(
        sim.peek_mem("rom", 0),
        Err(SimError::UnknownMemory(_))
    ));
}

#[test]
fn combinational_loops_and_undriven_wires_are_errors_not_panics() {
    let mut m = Mb::new("looped", false);
    let x = m.input("x", Type::unsigned(4));
    let w = m.node(
        NodeKind::Wire {
            name: "w".into(),
            driver: None,
        },
        Type::unsigned(4),
    );
    let y = m.bin(BinaryOp::Xor, x, w);
    let y = m.wire("y", y);
    m.m.nodes[w.0 as usize].kind = NodeKind::Wire {
        name: "w".into(),
        driver: Some(y),
    };
    m.output("out", y);
    let err = Simulator::new(&common::single(m)).unwrap_err();
    match &err {
        SimError::CombLoop(names) => assert!(
            names.iter().any(|n| n.contains("`w`") && n.contains("`y`")),
            "{err}"
        ),
        other => panic!("expected a loop, got {other}"),
    }

    let mut m = Mb::new("undriven", false);
    m.node(
        NodeKind::Wire {
            name: "floating".into(),
            driver: None,
        },
        Type::unsigned(4),
    );
    assert_eq!(
        Simulator::new(&common::single(m)).unwrap_err(),
        SimError::Undriven("floating".into())
    );
}

#[test]
fn reset_needs_a_clocked_top() {
    let mut m = Mb::new("comb", false);
    let x = m.input("x", Type::unsigned(4));
    m.output("y", x);
    let mut sim = Simulator::new(&common::single(m)).unwrap();
    assert_eq!(sim.reset(1), Err(SimError::NotClocked));
    assert!(matches!(
        sim.poke("rst", 1),
        Err(SimError::UnknownSignal(_))
    ));
}

#[test]
fn a_simulator_can_move_to_another_thread() {
    fn assert_send<T: Send>(_: &T) {}
    let sim = Simulator::new(&design()).unwrap();
    assert_send(&sim);
    let handle = std::thread::spawn(move || {
        let mut sim = sim;
        sim.reset(1).unwrap();
        sim.run(3);
        sim.peek("cnt").unwrap()
    });
    assert_eq!(handle.join().unwrap(), 3);
}
