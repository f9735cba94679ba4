//! Formal checks through SymbiYosys (installed on first use like the other YoWASP tools):
//! bounded proofs of the UART's framing and of a byte's round trip through both UARTs, a
//! cover trace, a wrong claim caught with its name and a counterexample, the stream contract
//! of a FIFO by induction, and the optimisation passes shown to keep blocks' behaviour
//! (optimised against unoptimised, as a miter).

use std::path::PathBuf;

use hardwire::blocks::uart::{UartRx, UartTx};
use hardwire::blocks::{FixedWeightMatVec, WeightStore};
use hardwire::fpga::formal::{require_formal_tools, FormalTask, Mode, Status};
use hardwire::hdl::prelude::*;
use hardwire::model::fixed::{FixedMatrix, PackedWeights};

/// A scratch directory for one run, removed first so a rerun starts clean.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("formal")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    dir
}

/// Cycles per bit in the UART proofs: 3 (a clock of 3 Hz at 1 baud) keeps a frame at 30
/// cycles and is not a power of two, so the bit counter's wrap is exercised.
const PERIOD: u64 = 3;

/// The transmitter with a black-box specification of 8N1 framing around it: from the edge
/// where a byte is accepted, the line carries the start bit, the byte least significant bit
/// first and the stop bit, each for exactly `PERIOD` cycles, `ready` stays low meanwhile, and
/// the line idles high. `wrong_stop` claims a low stop bit instead, which must fail.
#[derive(Clone, PartialEq)]
struct FramingSpec {
    wrong_stop: bool,
}

impl Block for FramingSpec {
    fn name(&self) -> String {
        format!(
            "framing_spec{}",
            if self.wrong_stop { "_wrong" } else { "" }
        )
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let data = m.input("data", Type::unsigned(8));
        let valid = m.input("valid", Type::BOOL);
        let tx = m.instance(
            "u_tx",
            &UartTx {
                clock_hz: PERIOD,
                baud: 1,
            },
        );
        tx.input("data", data);
        tx.input("valid", valid);
        let (ready, line) = (tx.output("ready"), tx.output("tx"));

        let active = m.reg("active", Type::BOOL).reset(0);
        let byte = m.reg("accepted", Type::unsigned(8)).reset(0);
        let phase = m.counter("phase", PERIOD);
        let index = m.counter("index", 10);
        let one = m.lit(1, Type::BOOL);
        let stop = if self.wrong_stop { !one } else { one };
        m.when(valid & ready, || {
            active.next(one);
            byte.next(data);
        })
        .elsewhen(active.q(), || {
            phase.incr();
            m.when(phase.is_last(), || {
                index.incr();
                m.when(index.is_last(), || active.next(!one));
            });
        });
        let frame = stop.concat(byte.q()).concat(!one);
        let expected = frame.shr_by(index.q()).bit(0);
        m.when(active.q(), || {
            m.assert("frame_bits", line.eq(expected));
            m.assert("busy_while_sending", !ready);
        })
        .otherwise(|| {
            m.assert("idle_high", line);
            m.assert("ready_when_idle", ready);
        });
        m.cover(
            "frame_sent",
            active.q() & index.is_last() & phase.is_last() & byte.q().eq(0xa5),
        );
        m.output("line", line);
    }
}

#[test]
fn the_uart_transmitter_frames_every_byte() {
    let Some(tools) = require_formal_tools() else {
        return;
    };
    let design = Design::elaborate(&FramingSpec { wrong_stop: false }).unwrap();
    // Depth 40: a whole frame (30 cycles) from any start within the first ten.
    let report = FormalTask::new(Mode::Bmc, 40)
        .run(&design, &scratch("framing_bmc"), &tools)
        .unwrap();
    assert!(report.passed(), "{}", report.summary());
    let report = FormalTask::new(Mode::Cover, 40)
        .run(&design, &scratch("framing_cover"), &tools)
        .unwrap();
    assert!(report.passed(), "{}", report.summary());
    assert!(!report.traces.is_empty(), "{}", report.summary());
}

#[test]
fn a_wrong_claim_fails_with_its_name_and_a_counterexample() {
    let Some(tools) = require_formal_tools() else {
        return;
    };
    let design = Design::elaborate(&FramingSpec { wrong_stop: true }).unwrap();
    let dir = scratch("framing_wrong");
    let report = FormalTask::new(Mode::Bmc, 40)
        .run(&design, &dir, &tools)
        .unwrap();
    assert_eq!(report.status, Status::Fail, "{}", report.summary());
    assert_eq!(report.failed, ["frame_bits"], "{}", report.summary());
    let trace = report.traces.first().expect("a counterexample trace");
    assert!(dir.join(trace).is_file(), "{}", trace.display());
    assert!(dir.join("report.json").is_file());
}

/// A byte through the transmitter and the receiver: whatever is received is the byte sent.
#[derive(Clone, PartialEq)]
struct Loopback;

impl Block for Loopback {
    fn name(&self) -> String {
        "loopback".into()
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let data = m.input("data", Type::unsigned(8));
        let valid = m.input("valid", Type::BOOL);
        // The receiver needs 4 cycles per bit.
        let (clock_hz, baud) = (4, 1);
        let tx = m.instance("u_tx", &UartTx { clock_hz, baud });
        let rx = m.instance("u_rx", &UartRx { clock_hz, baud });
        tx.input("data", data);
        tx.input("valid", valid);
        rx.input("rx", tx.output("tx"));
        // The receiver reports a byte a few cycles after its stop bit, when the transmitter
        // may have accepted the next: keep the last two bytes sent and how many are on their
        // way.
        let newer = m.reg("newer", Type::unsigned(8)).reset(0);
        let older = m.reg("older", Type::unsigned(8)).reset(0);
        let pending = m.reg("pending", Type::unsigned(2)).reset(0);
        let (accept, got) = (valid & tx.output("ready"), rx.output("valid"));
        m.when(accept, || {
            older.next(newer.q());
            newer.next(data);
        });
        m.when(accept & !got, || pending.next(pending.q().wrapping_add(1)))
            .elsewhen(got & !accept, || pending.next(pending.q().wrapping_sub(1)));
        let expected = pending.q().eq(2).mux(older.q(), newer.q());
        m.when(got, || {
            m.assert("no_byte_from_nowhere", pending.q().ne(0));
            m.assert("received_what_was_sent", rx.output("data").eq(expected));
        });
        m.assert("at_most_two_in_flight", pending.q().lt(3));
        m.cover("byte_received", rx.output("valid"));
        m.output("received", rx.output("data"));
    }
}

#[test]
fn a_byte_comes_back_through_both_uarts() {
    let Some(tools) = require_formal_tools() else {
        return;
    };
    let design = Design::elaborate(&Loopback).unwrap();
    // A frame is 40 cycles, plus two synchroniser stages and the receiver's output register.
    let report = FormalTask::new(Mode::Bmc, 50)
        .run(&design, &scratch("loopback_bmc"), &tools)
        .unwrap();
    assert!(report.passed(), "{}", report.summary());
    let report = FormalTask::new(Mode::Cover, 50)
        .run(&design, &scratch("loopback_cover"), &tools)
        .unwrap();
    assert!(report.passed(), "{}", report.summary());
}

/// `block` optimised (constant folding, CSD expansion, CSE, dead logic) against the same
/// block unoptimised: equal outputs on every input sequence for `depth` cycles.
fn passes_keep_behaviour<B: Block>(block: &B, depth: u32) {
    let Some(tools) = require_formal_tools() else {
        return;
    };
    let optimised = Design::elaborate(block).unwrap();
    let reference = Design::elaborate_unoptimized(block).unwrap();
    let miter = optimised.miter(&reference).unwrap();
    let report = FormalTask::new(Mode::Bmc, depth)
        .run(&miter, &scratch(&format!("miter_{}", block.name())), &tools)
        .unwrap();
    assert!(report.passed(), "{}", report.summary());
}

#[test]
fn the_optimisation_passes_keep_the_uarts_behaviour() {
    passes_keep_behaviour(
        &UartTx {
            clock_hz: PERIOD,
            baud: 1,
        },
        36,
    );
    passes_keep_behaviour(
        &UartRx {
            clock_hz: 4,
            baud: 1,
        },
        48,
    );
}

/// Constant folding and CSD expansion turn a hardwired matrix unit's constant products into
/// shifts and adds: the unit computes the same outputs on every input sequence.
#[test]
fn the_optimisation_passes_keep_a_hardwired_matrix_unit() {
    let matrix = FixedMatrix {
        rows: 2,
        cols: 2,
        group_size: 2,
        weight_bits: 4,
        weights: PackedWeights::new(2, 2, &[-8, 3, 7, -1]),
        mults: vec![12_345, 677].into(),
        shifts: vec![9, 4],
        out_bits: 10,
        offset_mults: vec![-2_048, 301].into(),
    };
    let unit = FixedWeightMatVec {
        matrices: vec![matrix],
        input_bits: 6,
        acc_bits: 16,
        store: WeightStore::Hardwired,
        label: "miter".into(),
    };
    // Long enough for a vector in and both outputs out.
    let depth = unit.latency() as u32 + 6;
    assert!(depth > 8, "latency {}", unit.latency());
    passes_keep_behaviour(&unit, depth);
}

#[test]
fn a_miter_of_different_designs_fails() {
    let Some(tools) = require_formal_tools() else {
        return;
    };
    let three = Design::elaborate(&UartTx {
        clock_hz: 3,
        baud: 1,
    })
    .unwrap();
    let four = Design::elaborate(&UartTx {
        clock_hz: 4,
        baud: 1,
    })
    .unwrap();
    let miter = three.miter(&four).unwrap();
    let report = FormalTask::new(Mode::Bmc, 12)
        .run(&miter, &scratch("miter_differs"), &tools)
        .unwrap();
    assert_eq!(report.status, Status::Fail, "{}", report.summary());
    assert!(
        report.failed.iter().any(|f| f.starts_with("same_")),
        "{}",
        report.summary()
    );
}

#[test]
fn a_stream_fifo_keeps_the_stream_contract_for_ever() {
    let Some(tools) = require_formal_tools() else {
        return;
    };
    let fifo = Design::elaborate(&hardwire::hdl::primitives::StreamFifo {
        ty: Type::unsigned(4),
        depth: 3,
    })
    .unwrap();
    for (mode, depth) in [(Mode::Bmc, 12), (Mode::Prove, 4), (Mode::Cover, 8)] {
        let report = FormalTask::new(mode, depth)
            .run(&fifo, &scratch(&format!("fifo_{mode}")), &tools)
            .unwrap();
        assert!(report.passed(), "{}", report.summary());
    }
}
