//! One golden test per optimisation pass: a small module before and after the pass alone, as
//! text (`Module`'s `Display`), reviewed as a snapshot.

use hardwire_hdl::passes::{ConstFold, CsdExpand, Cse, DeadLogic, Pass, StripChecks};
use hardwire_hdl::prelude::*;

/// A block built by a function, so each test states its design in one place.
#[derive(Clone)]
struct Built(&'static str, fn(&ModuleBuilder<'_>));

impl PartialEq for Built {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Block for Built {
    fn name(&self) -> String {
        self.0.into()
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        (self.1)(m)
    }
}

/// The top module before and after `pass`.
fn golden(pass: &dyn Pass, block: Built) -> String {
    let mut design = Design::elaborate_unoptimized(&block).unwrap_or_else(|e| panic!("{e}"));
    let before = design.top_module().to_string();
    pass.run(&mut design).unwrap_or_else(|e| panic!("{e}"));
    let after = design.top_module().to_string();
    format!("before:\n{before}\nafter {}:\n{after}", pass.name())
}

#[test]
fn const_fold() {
    insta::assert_snapshot!(golden(
        &ConstFold,
        Built("fold", |m| {
            let a = m.input("a", Type::unsigned(8));
            let b = m.input("b", Type::unsigned(8));
            let twelve = m.lit(3, Type::unsigned(4)) * m.lit(4, Type::unsigned(4));
            m.output("sum", a + twelve);
            m.output("picked", m.lit(1, Type::BOOL).mux(a, b));
            m.output("plus_zero", a + m.lit(0, Type::unsigned(8)));
        })
    ));
}

#[test]
fn csd_expand() {
    insta::assert_snapshot!(golden(
        &CsdExpand,
        Built("csd", |m| {
            let a = m.input("a", Type::signed(8));
            m.output("times_7", a * m.lit(7, Type::signed(4)));
        })
    ));
}

#[test]
fn cse() {
    insta::assert_snapshot!(golden(
        &Cse,
        Built("cse", |m| {
            let a = m.input("a", Type::unsigned(8));
            let b = m.input("b", Type::unsigned(8));
            m.output("y", (a + b) ^ (a + b));
        })
    ));
}

#[test]
fn dead_logic() {
    insta::assert_snapshot!(golden(
        &DeadLogic,
        Built("dead", |m| {
            let a = m.input("a", Type::unsigned(8));
            let unused = m.reg("unused", Type::unsigned(8)).reset(0);
            unused.next(unused.q().wrapping_add(a));
            let _nobody = a ^ m.lit(0x55, Type::unsigned(8));
            m.output("y", !a);
        })
    ));
}

#[test]
fn strip_checks() {
    insta::assert_snapshot!(golden(
        &StripChecks,
        Built("stripped", |m| {
            let a = m.input("a", Type::unsigned(8));
            m.assert("in_range", a.lt(m.lit(200, Type::unsigned(8))));
            m.output("y", a);
        })
    ));
}
