//! Every misuse of the DSL is an error that names the signals involved and the user's own
//! file and line, never a panic.

use hardwire_hdl::prelude::*;
use hardwire_hdl::{Code, HdlError};

/// Asserts one diagnostic with `code`, pointing at this file and `line`, whose message
/// contains each of `names`.
fn expect(result: Result<Design, HdlError>, code: Code, line: u32, names: &[&str]) {
    let err = result.expect_err("the design should be rejected");
    let d = err
        .diagnostics
        .iter()
        .find(|d| d.code == code)
        .unwrap_or_else(|| panic!("no {code:?} among:\n{err}"));
    assert_eq!(d.loc.file, file!(), "{err}");
    assert_eq!(d.loc.line, line, "{err}");
    for n in names {
        assert!(d.message.contains(n), "`{n}` missing from: {}", d.message);
    }
    let shown = err.to_string();
    assert!(shown.contains(&format!("{}:{}:", file!(), line)), "{shown}");
    assert!(shown.contains(code.as_str()), "{shown}");
}

#[test]
fn width_mismatch_on_assignment_names_both_sides() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let a = m.input("a", Type::unsigned(8));
        let y = m.output_wire("y", Type::unsigned(4));
        line = line!() + 1;
        m.assign(y, a);
    });
    expect(
        r,
        Code::WidthMismatch,
        line,
        &["`a`", "UInt<8>", "`y`", "UInt<4>"],
    );
}

#[test]
fn width_mismatch_in_bitwise_operator_names_both_operands() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let a = m.input("a", Type::unsigned(8));
        let b = m.input("b", Type::unsigned(6));
        line = line!() + 1;
        m.output("y", a & b);
    });
    expect(
        r,
        Code::WidthMismatch,
        line,
        &["`a`", "`b`", "UInt<8>", "UInt<6>"],
    );
}

#[test]
fn mixing_signed_and_unsigned_is_rejected() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let a = m.input("a", Type::unsigned(8));
        let b = m.input("b", Type::signed(8));
        line = line!() + 1;
        m.output("y", a + b);
    });
    expect(r, Code::SignMismatch, line, &["`a`", "`b`", "as_signed"]);
}

#[test]
fn driving_an_input_is_rejected() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let a = m.input("a", Type::unsigned(8));
        let b = m.input("b", Type::unsigned(8));
        line = line!() + 1;
        m.assign(a, b);
        m.output("y", a);
    });
    expect(
        r,
        Code::DriveNonWire,
        line,
        &["`a`", "inputs are driven from outside"],
    );
}

#[test]
fn reading_an_undriven_wire_is_rejected() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        line = line!() + 1;
        let w = m.wire("floating", Type::unsigned(8));
        m.output("y", w);
    });
    expect(r, Code::Undriven, line, &["`floating`"]);
}

#[test]
fn driving_a_wire_twice_points_at_both_assignments() {
    let mut first = 0;
    let mut second = 0;
    let r = Design::build("top", |m| {
        let a = m.input("a", Type::unsigned(8));
        let w = m.wire("w", Type::unsigned(8));
        first = line!() + 1;
        m.assign(w, a);
        second = line!() + 1;
        m.assign(w, a);
        m.output("y", w);
    });
    expect(
        r.clone(),
        Code::MultiplyDriven,
        second,
        &["`w`", &format!(":{first}:")],
    );
}

#[test]
fn conditional_only_wire_would_be_a_latch() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let a = m.input("a", Type::unsigned(8));
        let en = m.input("en", Type::BOOL);
        let w = m.wire("w", Type::unsigned(8));
        line = line!() + 1;
        m.assign_when(w, en, a);
        m.output("y", w);
    });
    expect(r, Code::Undriven, line, &["`w`", "latch"]);
}

#[test]
fn combinational_loop_lists_the_signals_on_it() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let a = m.input("a", Type::unsigned(8));
        line = line!() + 1;
        let p = m.wire("p", Type::unsigned(8));
        let q = m.wire("q", Type::unsigned(8));
        m.assign(q, (p ^ a).trunc(8));
        m.assign(p, q);
        m.output("y", q);
    });
    expect(
        r,
        Code::CombLoop,
        line,
        &["p ->", "q", "break it with a register"],
    );
}

#[derive(Clone, PartialEq)]
struct PassThrough;

impl Block for PassThrough {
    fn name(&self) -> String {
        "pass_through".into()
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        let x = m.input("x", Type::unsigned(4));
        m.output("y", x);
    }
}

#[test]
fn combinational_loop_through_an_instance_is_found() {
    let r = Design::build("top", |m| {
        let w = m.wire("w", Type::unsigned(4));
        let u = m.instance("u", &PassThrough);
        u.input("x", w);
        m.assign(w, u.output("y"));
        m.output("y", w);
    });
    let err = r.expect_err("loop through an instance");
    assert!(err.has(Code::CombLoop), "{err}");
    assert!(err.to_string().contains('w'), "{err}");
}

#[test]
fn unconnected_instance_input_names_port_and_instance() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        line = line!() + 1;
        let u = m.instance("u_pass", &PassThrough);
        m.output("y", u.output("y"));
    });
    expect(
        r,
        Code::Unconnected,
        line,
        &["`x`", "`u_pass`", "`pass_through`"],
    );
}

#[test]
fn unknown_port_lists_the_real_ones() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let a = m.input("a", Type::unsigned(4));
        let u = m.instance("u", &PassThrough);
        u.input("x", a);
        line = line!() + 1;
        m.output("y", u.output("z"));
    });
    expect(r, Code::UnknownPort, line, &["`z`", "y"]);
}

#[test]
fn bad_and_duplicate_names_are_rejected() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        line = line!() + 1;
        let a = m.input("module", Type::unsigned(4));
        m.output("y", a);
    });
    expect(r, Code::BadName, line, &["`module`"]);
    let r = Design::build("top", |m| {
        let a = m.input("a", Type::unsigned(4));
        line = line!() + 1;
        m.output("a", a);
    });
    expect(r, Code::BadName, line, &["`a`", "twice"]);
}

#[test]
fn register_without_next_value_is_reported() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        line = line!() + 1;
        let r = m.reg("stuck", Type::unsigned(4));
        m.output("y", r.q());
    });
    expect(r, Code::Undriven, line, &["`stuck`", "next"]);
}

#[derive(Clone, PartialEq)]
struct Named(u32);

impl Block for Named {
    fn name(&self) -> String {
        "same_name".into()
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        let x = m.input("x", Type::unsigned(self.0));
        m.output("y", x);
    }
}

#[test]
fn two_parameterisations_with_one_name_clash() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let a = m.input("a", Type::unsigned(4));
        let u = m.instance("u0", &Named(4));
        u.input("x", a);
        line = line!() + 1;
        let v = m.instance("u1", &Named(5));
        m.output("y", u.output("y"));
        let _ = v;
    });
    expect(
        r,
        Code::ModuleNameClash,
        line,
        &["`same_name`", "Block::name"],
    );
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let r = Design::build("top", |m| {
        let a = m.input("a", Type::unsigned(8));
        let b = m.input("b", Type::signed(3));
        m.output("y", a + b);
        m.output("z", a & a.trunc(2));
    });
    let err = r.expect_err("two mistakes");
    assert!(
        err.has(Code::SignMismatch) && err.has(Code::WidthMismatch),
        "{err}"
    );
    assert!(err.to_string().ends_with("2 errors"), "{err}");
}

#[test]
fn a_check_on_a_wide_condition_is_rejected() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let a = m.input("a", Type::unsigned(4));
        line = line!() + 1;
        m.assert("a_set", a);
        m.output("y", a);
    });
    expect(r, Code::WidthMismatch, line, &["a_set", "`a`", "UInt<4>"]);
}

#[test]
fn a_when_on_a_wide_condition_is_rejected() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let a = m.input("a", Type::unsigned(4));
        let q = m.reg("q", Type::unsigned(4)).reset(0);
        line = line!() + 1;
        m.when(a, || q.next(a));
        m.output("y", q.q());
    });
    expect(r, Code::WidthMismatch, line, &["when", "`a`"]);
}

#[test]
fn a_check_named_like_a_signal_is_rejected() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let a = m.input("a", Type::BOOL);
        line = line!() + 1;
        m.cover("a", a);
        m.output("y", a);
    });
    expect(r, Code::BadName, line, &["`a`", "twice"]);
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    On,
    Off,
    Lost,
}

impl States for Phase {
    const ALL: &'static [Self] = &[Phase::On, Phase::Off];
}

#[test]
fn a_state_missing_from_its_list_is_rejected() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let fsm = m.fsm("phase", Phase::On);
        fsm.goto(Phase::Off);
        line = line!() + 1;
        m.output("lost", fsm.is(Phase::Lost));
    });
    expect(r, Code::BadParameter, line, &["Lost", "States::ALL"]);
}

#[test]
fn a_counter_modulo_zero_is_rejected() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        line = line!() + 1;
        let c = m.counter("c", 0);
        c.incr();
        m.output("q", c.q());
    });
    expect(r, Code::BadParameter, line, &["`c`", "modulo 0"]);
}

#[test]
fn a_miter_of_designs_with_different_ports_is_refused() {
    let a = Design::build("a", |m| {
        let x = m.input("x", Type::unsigned(4));
        m.output("y", x);
    })
    .unwrap();
    let b = Design::build("b", |m| {
        let x = m.input("x", Type::unsigned(5));
        m.output("y", x);
    })
    .unwrap();
    let err = a.miter(&b).unwrap_err();
    assert!(err.has(Code::UnknownPort), "{err}");
    let shown = err.to_string();
    for part in ["`a` and `b`", "in x: UInt<4>", "in x: UInt<5>"] {
        assert!(shown.contains(part), "`{part}` missing from: {shown}");
    }
    assert!(a.miter(&a).is_ok());
}

/// A design that feeds input stream `x` of shape `stream` into a FIFO of unsigned bytes,
/// with `line` set to the line of the connection.
fn fifo_fed_by(stream: Stream, line: &mut u32) -> Result<Design, HdlError> {
    use hardwire_hdl::primitives::StreamFifo;
    Design::build("top", |m| {
        let x = m.stream_input("x", stream);
        let fifo = m.instance(
            "u_fifo",
            &StreamFifo {
                ty: Type::unsigned(8),
                depth: 2,
            },
        );
        *line = line!() + 1;
        fifo.stream_input("in", x);
        m.stream_output("y", fifo.stream_output("out"));
    })
}

#[test]
fn a_stream_without_ready_cannot_feed_one_that_has_it() {
    let mut line = 0;
    let r = fifo_fed_by(Stream::new(Type::unsigned(8)), &mut line);
    expect(
        r,
        Code::UnknownPort,
        line,
        &["`in`", "stream_fifo_u8_d2", "no `ready`"],
    );
}

#[test]
fn a_stream_of_the_wrong_payload_is_rejected() {
    let mut line = 0;
    let r = fifo_fed_by(Stream::with_ready(Type::signed(8)), &mut line);
    expect(
        r,
        Code::WidthMismatch,
        line,
        &["`in`", "UInt<8>", "SInt<8>"],
    );
}

#[test]
fn a_stream_source_nobody_consumes_leaves_its_ready_undriven() {
    let r = Design::build("top", |m| {
        let x = m.stream_input("x", Stream::with_ready(Type::unsigned(8)));
        m.output("y", x.payload);
    });
    let err = r.unwrap_err();
    assert!(err.has(Code::Undriven), "{err}");
    assert!(err.to_string().contains("x_ready"), "{err}");
}

/// A two-stage pipeline over inputs `a` and `b`; `body` builds its stages.
fn pipelined(
    body: impl for<'a> FnOnce(&'a ModuleBuilder<'a>, Pipeline<'a>, Signal<'a>, Signal<'a>),
) -> Result<Design, HdlError> {
    Design::build("top", |m| {
        let valid = m.input("in_valid", Type::BOOL);
        let a = m.input("a", Type::unsigned(8));
        let b = m.input("b", Type::unsigned(8));
        body(m, m.pipeline("p", valid, &["first", "second"]), a, b);
    })
}

#[test]
fn a_pipeline_value_read_in_another_stage_is_rejected() {
    let mut line = 0;
    let r = pipelined(|m, mut p, a, b| {
        let a = p.keep("a", a);
        p.stage("first");
        let a1 = p.at(a);
        p.stage("second");
        line = line!() + 1;
        let sum = p.keep("sum", a1 + b);
        m.output("y", p.at(sum));
        p.finish();
    });
    expect(
        r,
        Code::StageMismatch,
        line,
        &["`sum`", "stage 2", "`p_first_a` of stage 1", "`at`"],
    );
}

#[test]
fn a_split_product_read_one_stage_after_it_was_kept_is_rejected() {
    let mut line = 0;
    let r = pipelined(|m, mut p, a, b| {
        let ab = p.keep_product("ab", a, b);
        p.stage("first");
        line = line!() + 1;
        m.output("y", p.product(&ab));
        p.stage("second");
        p.finish();
    });
    expect(
        r,
        Code::StageMismatch,
        line,
        &["`ab`", "`p`", "1 stage(s)", "registered twice"],
    );
}

#[test]
fn a_pipeline_stage_out_of_order_is_rejected() {
    let mut line = 0;
    let r = pipelined(|_, mut p, _, _| {
        line = line!() + 1;
        p.stage("second");
    });
    expect(r, Code::StageMismatch, line, &["`second`", "`first`"]);
}

#[test]
fn a_pipeline_with_a_stage_never_built_is_rejected() {
    let mut line = 0;
    let r = pipelined(|m, mut p, a, _| {
        p.stage("first");
        m.output("y", a);
        line = line!() + 1;
        p.finish();
    });
    expect(
        r,
        Code::StageMismatch,
        line,
        &["2 stages", "with 1", "`second`"],
    );
}

#[test]
fn a_pipeline_stage_past_the_declared_ones_is_rejected() {
    let mut line = 0;
    let r = pipelined(|_, mut p, _, _| {
        p.stage("first");
        p.stage("second");
        line = line!() + 1;
        p.stage("third");
    });
    expect(r, Code::StageMismatch, line, &["`third`", "latency"]);
}

#[test]
fn a_memory_read_is_not_readable_before_its_data_arrives() {
    let mut line = 0;
    let r = pipelined(|m, p, a, _| {
        let mem = m.memory("table", Type::unsigned(8), 256).init(&[0; 256]);
        let x = p.read("x", &mem, a);
        line = line!() + 1;
        m.output("y", p.at(x));
    });
    expect(
        r,
        Code::StageMismatch,
        line,
        &["`x`", "stage 1", "stage(\"first\")"],
    );
}

#[test]
fn a_value_of_another_pipeline_is_rejected() {
    let mut line = 0;
    let r = pipelined(|m, p, a, _| {
        let x = p.keep("x", a);
        let other = m.pipeline("q", m.lit(1, Type::BOOL), &[]);
        line = line!() + 1;
        m.output("y", other.at(x));
    });
    expect(r, Code::StageMismatch, line, &["another pipeline", "`q`"]);
}

#[test]
fn a_register_sampling_another_clock_domain_is_reported() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let fast = m.domain("fast", Reset::SYNC);
        let slow = m.reg("slow_q", Type::BOOL).reset(0);
        slow.next(!slow.q());
        m.in_domain(fast, || {
            line = line!() + 1;
            let sampled = m.reg("sampled", Type::BOOL);
            sampled.next(slow.q());
            m.output("y", sampled.q());
        });
    });
    expect(
        r,
        Code::UnsyncedCrossing,
        line,
        &["`sampled`", "`fast`", "`sync`", "Synchronizer"],
    );
}

/// A block whose register samples its input in its default domain.
#[derive(Clone, PartialEq)]
struct Sampler;

impl Block for Sampler {
    fn name(&self) -> String {
        "sampler".into()
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        let d = m.input("d", Type::BOOL);
        let r = m.reg("r", Type::BOOL);
        r.next(d);
        m.output("q", r.q());
    }
}

#[test]
fn a_crossing_through_the_hierarchy_is_reported_with_its_path() {
    let r = Design::build("top", |m| {
        let fast = m.domain("fast", Reset::SYNC);
        let slow = m.reg("slow_q", Type::BOOL).reset(0);
        slow.next(!slow.q());
        let s = m.in_domain(fast, || m.instance("u_sampler", &Sampler));
        s.input("d", slow.q());
        m.output("y", s.output("q"));
    });
    let err = r.expect_err("the crossing is found");
    assert!(err.has(Code::UnsyncedCrossing), "{err}");
    assert!(err.to_string().contains("`u_sampler.r`"), "{err}");
}

#[test]
fn a_synchronised_crossing_is_accepted() {
    Design::build("top", |m| {
        let fast = m.domain("fast", Reset::SYNC);
        let slow = m.reg("slow_q", Type::BOOL).reset(0);
        slow.next(!slow.q());
        let sync = hardwire_hdl::primitives::Synchronizer {
            width: 1,
            stages: 2,
        };
        let s = m.in_domain(fast, || m.instance("u_sync", &sync));
        s.input("d", slow.q());
        m.output("y", s.output("q"));
    })
    .expect("a synchroniser is the way across");
}

#[test]
fn a_clock_domain_declared_twice_is_rejected() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        m.domain("fast", Reset::SYNC);
        line = line!() + 1;
        m.domain("fast", Reset::ASYNC);
    });
    expect(r, Code::BadName, line, &["`fast`", "twice"]);
}

#[test]
fn an_instance_cannot_change_how_its_registers_reset() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let fast = m.domain("fast", Reset::ASYNC.active_low());
        line = line!() + 1;
        let s = m.in_domain(fast, || m.instance("u_sampler", &Sampler));
        s.input("d", m.lit(0, Type::BOOL));
        m.output("y", s.output("q"));
    });
    expect(r, Code::BadParameter, line, &["`u_sampler`", "`fast`"]);
}

hardwire_hdl::interface! {
    /// A request and its answer.
    struct Lookup(bits: u32) {
        input key: Type::unsigned(bits),
        output value: Type::unsigned(bits),
    }
}

/// A block with `key` as an output and no `value`: it does not provide `Lookup`.
#[derive(Clone, PartialEq)]
struct NotALookup;

impl Block for NotALookup {
    fn name(&self) -> String {
        "not_a_lookup".into()
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        m.output("key", m.lit(0, Type::unsigned(4)));
        m.output("answer", m.lit(0, Type::unsigned(4)));
    }
}

#[test]
fn an_interface_of_an_instance_without_its_members_is_rejected() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let u = m.instance("u", &NotALookup);
        line = line!() + 1;
        let io = Lookup::of(&u);
        m.assign(io.key, m.lit(1, io.key.ty()));
    });
    let err = r.expect_err("the instance lacks the interface");
    let at_line: Vec<_> = err
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::UnknownPort && d.loc.line == line)
        .map(|d| d.message.clone())
        .collect();
    assert!(
        at_line
            .iter()
            .any(|m| m.contains("`key` of module `not_a_lookup` is an output")),
        "{err}"
    );
    assert!(
        at_line
            .iter()
            .any(|m| m.contains("no output `value`") && m.contains("answer")),
        "{err}"
    );
}

/// A vendor buffer whose simulation model is a delay of `cycles` registers.
#[derive(Clone, PartialEq)]
struct Buffer {
    cycles: u32,
}

impl Block for Buffer {
    fn name(&self) -> String {
        format!("buffer_{}", self.cycles)
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        m.external(
            "VENDOR_BUF",
            &[("DELAY", hardwire_hdl::ir::Param::Int(self.cycles.into()))],
        );
        let mut x = m.input("I", Type::BOOL);
        for i in 0..self.cycles {
            let r = m.reg(&format!("d{i}"), Type::BOOL);
            r.next(x);
            x = r.q();
        }
        m.output("O", x);
    }
}

#[test]
fn an_external_module_whose_model_depends_on_its_parameters_is_rejected() {
    let r = Design::build("top", |m| {
        let a = m.instance("u_a", &Buffer { cycles: 0 });
        let b = m.instance("u_b", &Buffer { cycles: 1 });
        a.input("I", m.input("x", Type::BOOL));
        b.input("I", a.output("O"));
        m.output("y", b.output("O"));
    });
    let err = r.expect_err("one model serves every VENDOR_BUF");
    assert!(err.has(Code::BadParameter), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("`VENDOR_BUF`") && text.contains("buffer_0"),
        "{text}"
    );
}

#[test]
fn an_external_module_needs_a_verilog_name() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        line = line!() + 1;
        m.external("not a name", &[]);
    });
    expect(r, Code::BadName, line, &["`not a name`"]);
}

#[test]
fn a_memory_read_in_the_last_stage_read_at_once_is_rejected_not_a_panic() {
    let mut line = 0;
    let r = pipelined(|m, mut p, a, _| {
        let mem = m.memory("table", Type::unsigned(8), 256).init(&[0; 256]);
        p.stage("first");
        p.stage("second");
        let x = p.read("x", &mem, a);
        line = line!() + 1;
        m.output("y", p.at(x));
    });
    expect(r, Code::StageMismatch, line, &["`x`", "stage 3", "extra"]);
}

#[test]
fn a_clock_read_as_data_is_rejected() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let clk = m.clock(m.sync_domain());
        let a = m.input("a", Type::BOOL);
        line = line!() + 1;
        m.output("y", clk & a);
    });
    expect(r, Code::ClockAsData, line, &["`clk`", "read as data"]);
}

#[test]
fn a_domain_clocked_by_logic_is_rejected() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let a = m.input("a", Type::BOOL);
        line = line!() + 1;
        let core = m.local_domain("core", !a, Reset::NONE);
        let q = m.in_domain(core, || {
            let r = m.reg("r", Type::BOOL).reset(0);
            r.next(!r.q());
            r.q()
        });
        m.output("y", q);
    });
    expect(r, Code::ClockAsData, line, &["`core`", "not a clock"]);
}

#[test]
fn a_clock_enters_a_child_as_a_domain_not_an_input() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        line = line!() + 1;
        let clk = m.clock(m.sync_domain());
        let s = m.instance("u_sampler", &Sampler);
        s.input("d", clk);
        m.output("y", s.output("q"));
    });
    expect(
        r,
        Code::ClockAsData,
        line,
        &["`d`", "`u_sampler`", "clock_input"],
    );
}

#[test]
fn only_a_local_domain_has_a_reset_to_drive() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let fast = m.domain("fast", Reset::SYNC);
        line = line!() + 1;
        m.drive_reset(fast, m.input("a", Type::BOOL));
    });
    expect(r, Code::BadParameter, line, &["`fast`", "local_domain"]);
}

/// `in_valid` through `stages` registers to `out_valid`, declared `declared` cycles.
#[derive(Clone, PartialEq)]
struct Delay {
    stages: u64,
    declared: u64,
}

impl Block for Delay {
    fn name(&self) -> String {
        format!("delay_{}_{}", self.stages, self.declared)
    }
    fn build(&self, m: &ModuleBuilder<'_>) {
        let mut v = m.input("in_valid", Type::BOOL);
        for i in 0..self.stages {
            let r = m.reg(&format!("v{i}"), Type::BOOL).reset(0);
            r.next(v);
            v = r.q();
        }
        m.output("out_valid", v);
        m.latency("out", "in", self.declared);
    }
}

#[test]
fn a_latency_the_registers_do_not_have_is_rejected() {
    Design::elaborate(&Delay {
        stages: 3,
        declared: 3,
    })
    .expect("three registers, three cycles");
    let r = Design::elaborate(&Delay {
        stages: 2,
        declared: 3,
    });
    let err = r.expect_err("declared 3, built 2");
    assert!(err.has(Code::LatencyMismatch), "{err}");
    assert!(
        err.to_string()
            .contains("every path between their valids has 2 cycles"),
        "{err}"
    );
}

#[test]
fn a_composite_latency_comes_from_its_parts() {
    let mut line = 0;
    let mut seen = None;
    let r = Design::build("top", |m| {
        let u = m.instance(
            "u_delay",
            &Delay {
                stages: 2,
                declared: 2,
            },
        );
        seen = u.latency("out");
        u.input("in_valid", m.input("in_valid", Type::BOOL));
        let r = m.reg("last", Type::BOOL).reset(0);
        r.next(u.output("out_valid"));
        m.output("out_valid", r.q());
        line = line!() + 1;
        m.latency("out", "in", 4);
    });
    assert_eq!(seen, Some(("in".to_string(), 2)));
    expect(
        r,
        Code::LatencyMismatch,
        line,
        &["`out`", "4 cycles", "has 3 cycles"],
    );
}

#[test]
fn paths_of_different_lengths_have_no_latency() {
    let r = Design::build("top", |m| {
        let v = m.input("in_valid", Type::BOOL);
        let a = m.reg("a", Type::BOOL).reset(0);
        a.next(v);
        let b = m.reg("b", Type::BOOL).reset(0);
        b.next(a.q());
        m.output("out_valid", a.q() | b.q());
        m.latency("out", "in", 1);
    });
    let err = r.expect_err("one path of 1, one of 2");
    assert!(err.to_string().contains("have 1, 2 cycles"), "{err}");
}

#[test]
fn a_sequencer_has_no_structural_latency() {
    let r = Design::build("top", |m| {
        let v = m.input("in_valid", Type::BOOL);
        let count = m.reg("count", Type::unsigned(2)).reset(0);
        count.next_when(v, count.q().wrapping_add(1));
        m.output("out_valid", count.q().eq(3));
        m.latency("out", "in", 3);
    });
    let err = r.expect_err("a counter decides");
    assert!(
        err.to_string().contains("register loop at `count`"),
        "{err}"
    );
}

#[test]
fn two_drivers_in_one_when_branch_are_rejected() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let (a, b) = (m.input("a", Type::BOOL), m.input("b", Type::BOOL));
        let y = m.output_wire("y", Type::BOOL);
        m.assign(y, a);
        m.when(a, || {
            m.assign(y, b);
            line = line!() + 1;
            m.assign(y, !b);
        });
    });
    expect(
        r,
        Code::MultiplyDriven,
        line,
        &["`y`", "same `when` branch"],
    );
}

#[test]
fn an_output_connected_as_an_input_is_rejected() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let s = m.instance("u_sampler", &Sampler);
        s.input("d", m.input("d", Type::BOOL));
        line = line!() + 1;
        s.input("q", m.lit(0, Type::BOOL));
        m.output("y", s.output("q"));
    });
    expect(
        r,
        Code::UnknownPort,
        line,
        &["`q`", "an output", "`sampler`"],
    );
}

#[test]
fn reset_less_after_the_default_domain_is_used_is_rejected() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let r = m.reg("r", Type::BOOL).reset(1);
        r.next(!r.q());
        line = line!() + 1;
        m.reset_less();
        m.output("y", r.q());
    });
    expect(r, Code::BadParameter, line, &["`reset_less`", "before"]);
}

#[test]
fn a_multiplier_block_wider_than_18_bits_is_rejected() {
    let mut line = 0;
    let r = Design::build("top", |m| {
        let a = m.input("a", Type::signed(19));
        let b = m.input("b", Type::signed(8));
        line = line!() + 1;
        let p = hardwire_hdl::primitives::registered_product("wide", a, b);
        m.output("p", p);
    });
    expect(
        r,
        Code::BadParameter,
        line,
        &["`wide`", "SInt<19>", "18 bits"],
    );
}
