//! The error messages themselves, reviewed as a snapshot: what a user reads for each kind of
//! misuse (code, names, their file and line, and what to do).

use hardwire_hdl::prelude::*;
use hardwire_hdl::HdlError;

/// A register sampling its input.
#[derive(Clone, PartialEq)]
struct Sampler;

impl Block for Sampler {
    fn name(&self) -> String {
        "sampler".into()
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        let r = m.reg("r", Type::BOOL);
        r.next(m.input("d", Type::BOOL));
        m.output("q", r.q());
    }
}

fn message(title: &str, r: Result<Design, HdlError>) -> String {
    let err = r.expect_err(title);
    format!("--- {title}\n{err}\n")
}

#[test]
fn error_messages() {
    let mut out = String::new();
    out += &message(
        "width mismatch at a connection",
        Design::build("top", |m| {
            let s = m.instance("u_sampler", &Sampler);
            s.input("d", m.input("d", Type::unsigned(2)));
            m.output("y", s.output("q"));
        }),
    );
    out += &message(
        "direction mismatch at a connection",
        Design::build("top", |m| {
            let s = m.instance("u_sampler", &Sampler);
            s.input("d", m.input("d", Type::BOOL));
            s.input("q", m.input("q", Type::BOOL));
            m.output("y", s.output("q"));
        }),
    );
    out += &message(
        "an unsynchronised crossing",
        Design::build("top", |m| {
            let fast = m.domain("fast", Reset::SYNC);
            let slow = m.reg("slow_q", Type::BOOL).reset(0);
            slow.next(!slow.q());
            let s = m.in_domain(fast, || m.instance("u_sampler", &Sampler));
            s.input("d", slow.q());
            m.output("y", s.output("q"));
        }),
    );
    out += &message(
        "a latency that does not add up",
        Design::build("top", |m| {
            let v = m.reg("v", Type::BOOL).reset(0);
            v.next(m.input("in_valid", Type::BOOL));
            m.output("out_valid", v.q());
            m.latency("out", "in", 2);
        }),
    );
    out += &message(
        "two drivers in one `when` branch",
        Design::build("top", |m| {
            let a = m.input("a", Type::BOOL);
            let y = m.output_wire("y", Type::BOOL);
            m.assign(y, a);
            m.when(a, || {
                m.assign(y, !a);
                m.assign(y, a);
            });
        }),
    );
    out += &message(
        "a clock read as data",
        Design::build("top", |m| {
            let clk = m.clock(m.sync_domain());
            m.output("y", clk ^ m.input("a", Type::BOOL));
        }),
    );
    insta::assert_snapshot!(out);
}
