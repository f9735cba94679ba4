//! Random register networks: registers whose next values are other registers' outputs
//! (chains, swaps, cycles), inputs, or sums of registers, with random widths (1 to 100
//! bits), enables and resets, plus a memory addressed by register fields. The compiled
//! edge (its commit order, block copies and staging) must match the reference cycle by
//! cycle.

mod common;

use common::{single, Mb};
use hardwire_hdl::ir::{BinaryOp, NodeId, Type};
use hardwire_hdl::Bits;
use hardwire_sim::{Reference, Simulator};
use proptest::prelude::*;

/// (width, next kind, source a, source b, enable kind, reset)
type RegSpec = (u32, u8, usize, usize, u8, Option<i64>);

fn build(regs: &[RegSpec], mem_addr_reg: usize) -> hardwire_hdl::Design {
    let mut m = Mb::new("random_state", true);
    let x = m.input("x", Type::unsigned(100));
    let mut qs: Vec<(hardwire_hdl::ir::RegId, NodeId)> = Vec::new();
    for (i, (w, ..)) in regs.iter().enumerate() {
        let reset = regs[i].5.map(i128::from);
        qs.push(m.reg(&format!("r{i}"), Type::unsigned(*w), reset));
    }
    let n = regs.len();
    for (i, &(w, kind, a, b, en, _)) in regs.iter().enumerate() {
        let (qa, qb) = (qs[a % n].1, qs[b % n].1);
        let fit = |m: &mut Mb, v: NodeId| {
            if m.ty(v).width == w {
                v
            } else {
                m.resize(v, w)
            }
        };
        let next = match kind % 4 {
            0 => fit(&mut m, qa),
            1 => fit(&mut m, x),
            2 => {
                let s = m.bin(BinaryOp::Add, qa, qb);
                fit(&mut m, s)
            }
            _ => {
                let one = m.konst(1, Type::unsigned(1));
                let s = m.bin(BinaryOp::Add, qs[i].1, one);
                fit(&mut m, s)
            }
        };
        let enable = match en % 3 {
            0 => None,
            1 => Some(m.slice(qb, 0, 1)),
            _ => {
                let xb = m.slice(x, (a % 100) as u32, 1);
                Some(xb)
            }
        };
        m.set_next(qs[i].0, next, enable);
    }
    let mem = m.mem("mem", Type::unsigned(12), 16, None);
    let q = qs[mem_addr_reg % n].1;
    let qw = m.ty(q).width;
    let addr = if qw >= 4 {
        m.slice(q, 0, 4)
    } else {
        m.resize(q, 4)
    };
    let data = m.resize(qs[0].1, 12);
    let we = m.slice(qs[(mem_addr_reg + 1) % n].1, 0, 1);
    m.write_port(mem, addr, data, we);
    let rd = m.read_port(mem, addr, None);
    m.output("rd", rd);
    single(m)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_register_networks_match_reference(
        regs in prop::collection::vec(
            (1u32..100, any::<u8>(), any::<usize>(), any::<usize>(), any::<u8>(), prop::option::of(any::<i64>())),
            1..14,
        ),
        mem_addr_reg in any::<usize>(),
        stimulus in prop::collection::vec((any::<[u64; 2]>(), 0u8..6), 1..40),
    ) {
        let design = build(&regs, mem_addr_reg);
        let mut sim = Simulator::new(&design).unwrap();
        let mut reference = Reference::new(&design);
        for (cycle, (words, r)) in stimulus.iter().enumerate() {
            let x = Bits::from_words(words, 100);
            let rst = Bits::from_u64(u64::from(*r == 0 || cycle == 0), 1);
            sim.poke_bits("x", &x).unwrap();
            sim.poke_bits("rst", &rst).unwrap();
            reference.poke("x", &x).unwrap();
            reference.poke("rst", &rst).unwrap();
            for i in 0..regs.len() {
                let name = format!("r{i}");
                prop_assert_eq!(sim.peek_bits(&name).unwrap(), reference.peek(&name).unwrap(), "{} at cycle {}", name, cycle);
            }
            prop_assert_eq!(sim.peek_bits("rd").unwrap(), reference.peek("rd").unwrap());
            sim.step();
            reference.step();
        }
    }
}
