//! Every primitive, exported to Verilog and run under Verilator for 10,000 random cycles (and
//! under Icarus for a shorter run), matches the native simulator on every output of every
//! cycle.

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::{AdderTree, ConstMul, FixedWeightDot, Mac};
use hardwire_sim::cosim::{cosimulate, require_tool, Backend, Stimulus};

const CYCLES: usize = 10_000;

fn check<B: Block>(block: &B, backend: Backend, cycles: usize) {
    if !require_tool(backend.tool()) {
        return;
    }
    let design = Design::elaborate(block).unwrap_or_else(|e| panic!("{e}"));
    let stimulus = Stimulus::random(&design, cycles, 8, 0x5eed);
    let report =
        cosimulate(&design, &stimulus, backend).unwrap_or_else(|e| panic!("{}: {e}", block.name()));
    assert_eq!(report.cycles, cycles as u64);
    assert!(report.values_compared >= (cycles - 8) as u64);
}

fn lcg_weights(n: usize, bits: u32, seed: u64) -> Vec<i64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let span = 1i64 << bits;
            ((s >> 33) as i64).rem_euclid(span) - span / 2
        })
        .collect()
}

#[test]
fn const_mul_under_verilator() {
    for (ty, c) in [
        (Type::unsigned(8), 7),
        (Type::signed(8), -12),
        (Type::signed(13), 0x5a5),
        (Type::unsigned(5), 0),
    ] {
        check(&ConstMul { ty, constant: c }, Backend::Verilator, CYCLES);
    }
}

#[test]
fn adder_tree_under_verilator() {
    check(
        &AdderTree {
            inputs: 5,
            ty: Type::signed(6),
        },
        Backend::Verilator,
        CYCLES,
    );
    check(
        &AdderTree {
            inputs: 16,
            ty: Type::unsigned(12),
        },
        Backend::Verilator,
        CYCLES,
    );
}

#[test]
fn mac_under_verilator() {
    check(
        &Mac {
            ty_a: Type::signed(8),
            ty_b: Type::signed(4),
            acc_width: 20,
        },
        Backend::Verilator,
        CYCLES,
    );
    check(
        &Mac {
            ty_a: Type::unsigned(16),
            ty_b: Type::unsigned(16),
            acc_width: 40,
        },
        Backend::Verilator,
        CYCLES,
    );
}

#[test]
fn fixed_weight_dot_under_verilator() {
    let dot = FixedWeightDot {
        weights: lcg_weights(32, 4, 1),
        weight_bits: 4,
        ty: Type::signed(8),
        label: "r".into(),
    };
    check(&dot, Backend::Verilator, CYCLES);
}

/// Widths past 64 bits take the wide paths of both simulators.
#[test]
fn wide_datapath_under_verilator() {
    check(
        &Mac {
            ty_a: Type::signed(40),
            ty_b: Type::signed(50),
            acc_width: 100,
        },
        Backend::Verilator,
        CYCLES,
    );
    check(
        &AdderTree {
            inputs: 3,
            ty: Type::signed(70),
        },
        Backend::Verilator,
        CYCLES,
    );
}

#[test]
fn small_primitives_under_icarus() {
    check(
        &ConstMul {
            ty: Type::signed(8),
            constant: -12,
        },
        Backend::Icarus,
        2_000,
    );
    check(
        &Mac {
            ty_a: Type::signed(8),
            ty_b: Type::signed(4),
            acc_width: 20,
        },
        Backend::Icarus,
        2_000,
    );
    check(
        &AdderTree {
            inputs: 5,
            ty: Type::signed(6),
        },
        Backend::Icarus,
        2_000,
    );
}

/// Reads one instance output through two handles: both must be the same net in Verilog.
#[derive(Clone, PartialEq)]
struct ReadTwice;

impl Block for ReadTwice {
    fn name(&self) -> String {
        "read_twice".into()
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        let x = m.input("x", Type::signed(8));
        let u = m.instance(
            "u_mul",
            &ConstMul {
                ty: Type::signed(8),
                constant: 5,
            },
        );
        u.input("x", x);
        let a = u.output("y");
        let b = u.output("y");
        m.output("sum", a + b);
        m.output("diff", (a - b).trunc(4));
    }
}

#[test]
fn an_output_read_twice_is_one_net() {
    check(&ReadTwice, Backend::Verilator, 1_000);
}
