//! The Verilog of each primitive at a small size, as reviewed snapshots: a change in the
//! generated RTL shows up as a diff to review like any RTL change.

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::{AdderTree, AsyncFifo, ConstMul, FixedWeightDot, Mac};
use hardwire_hdl::verilog::Verilog;

fn verilog<B: Block>(block: &B) -> String {
    let design = Design::elaborate(block).unwrap_or_else(|e| panic!("{e}"));
    let v = Verilog::from_design(&design);
    let mut text = String::new();
    for (name, body) in &v.files {
        text.push_str(&format!("==> {name} <==\n{body}"));
    }
    for m in &v.memories {
        text.push_str(&format!("==> {} <==\n{}", m.name, m.hex()));
    }
    text
}

#[test]
fn adder_tree_5_signed() {
    insta::assert_snapshot!(verilog(&AdderTree {
        inputs: 5,
        ty: Type::signed(6)
    }));
}

/// Two clock domains: the write side on `write_clk`, the read side on `read_clk`, each
/// pointer crossing through a two-flop synchroniser marked `ASYNC_REG`.
#[test]
fn async_fifo_4x8() {
    insta::assert_snapshot!(verilog(&AsyncFifo {
        ty: Type::unsigned(8),
        depth: 4
    }));
}

#[test]
fn const_mul_unsigned_by_7() {
    insta::assert_snapshot!(verilog(&ConstMul {
        ty: Type::unsigned(8),
        constant: 7
    }));
}

#[test]
fn const_mul_signed_by_minus_12() {
    insta::assert_snapshot!(verilog(&ConstMul {
        ty: Type::signed(8),
        constant: -12
    }));
}

#[test]
fn mac_signed_8x4() {
    insta::assert_snapshot!(verilog(&Mac {
        ty_a: Type::signed(8),
        ty_b: Type::signed(4),
        acc_width: 16
    }));
}

#[test]
fn fixed_weight_dot_4() {
    let dot = FixedWeightDot {
        weights: vec![3, 0, -8, 5],
        weight_bits: 4,
        ty: Type::signed(8),
        label: "row0".into(),
    };
    insta::assert_snapshot!(verilog(&dot));
}

/// A memory with initial contents, a write port and two read ports, one enabled.
#[derive(Clone, PartialEq)]
pub struct RamExample;

impl Block for RamExample {
    fn name(&self) -> String {
        "ram_example".into()
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        let waddr = m.input("waddr", Type::unsigned(3));
        let wdata = m.input("wdata", Type::signed(12));
        let we = m.input("we", Type::BOOL);
        let raddr = m.input("raddr", Type::unsigned(3));
        let re = m.input("re", Type::BOOL);
        let mem = m
            .memory("lut", Type::signed(12), 6)
            .init(&[1, -2, 3, -4, 5, -6])
            .style(MemStyle::Block);
        mem.write(waddr, wdata, we);
        m.output("q0", mem.read(raddr));
        m.output("q1", mem.read_enabled(waddr, re));
    }
}

#[test]
fn ram_with_init_and_two_read_ports() {
    insta::assert_snapshot!(verilog(&RamExample));
}

#[test]
fn output_is_byte_for_byte_deterministic() {
    let dot = FixedWeightDot {
        weights: (0..64).map(|i| (i * 37 % 16) - 8).collect(),
        weight_bits: 4,
        ty: Type::signed(8),
        label: "d".into(),
    };
    let first = verilog(&dot);
    for _ in 0..3 {
        assert_eq!(verilog(&dot), first);
    }
}
