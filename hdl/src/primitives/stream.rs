//! Valid/ready streams: the contract both ends keep, as checks, and [`StreamFifo`], a queue
//! that keeps it.
//!
//! # The contract
//! A transfer happens on an edge where `valid` and `ready` are both high. Once the producer
//! raises `valid`, it keeps `valid` high and the payload unchanged until the transfer; the
//! consumer may raise and lower `ready` as it likes, and `ready` may depend on `valid`, but
//! `valid` must not wait for `ready`.

use crate::builder::{Block, ModuleBuilder, Signal, Source, Stream};
use crate::ir::Type;

/// Which end of a stream a module is, for [`stream_contract`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// It drives `valid` and the payload: the contract is its promise (assertions).
    Producer,
    /// It drives `ready`: the contract is what it relies on (assumptions; in simulation,
    /// a producer that breaks it is reported like a failed assertion).
    Consumer,
}

/// Checks the stream contract on `valid`, `ready` and `payload` in the module being built:
/// after an edge where `valid` was high and `ready` low, `valid` is still high and the payload
/// the same. Adds two registers (`<name>_stalled`, `<name>_held`) that only the checks read,
/// and the checks `<name>_valid_held` and `<name>_payload_held`.
#[track_caller]
pub fn stream_contract<'a>(
    m: &'a ModuleBuilder<'a>,
    name: &str,
    end: End,
    valid: Signal<'a>,
    ready: Signal<'a>,
    payload: Signal<'a>,
) {
    let stalled = m.reg(&format!("{name}_stalled"), Type::BOOL).reset(0);
    let held = m.reg(&format!("{name}_held"), payload.ty());
    stalled.next(valid & !ready);
    held.next(payload);
    let check = |what: &str, cond: Signal<'a>| {
        let label = format!("{name}_{what}");
        match end {
            End::Producer => m.assert(&label, cond),
            End::Consumer => m.assume(&label, cond),
        }
    };
    m.when(stalled.q(), || {
        check("valid_held", valid);
        check("payload_held", payload.eq(held.q()));
    });
}

/// A first-in first-out queue of `depth` entries of `ty` between two streams, in registers.
///
/// Ports: the valid/ready streams `in` and `out` of `ty` (`in_valid`, `in`, `in_ready`;
/// `out_valid`, `out`, `out_ready`).
/// Latency: an entry pushed on one edge can leave on the next. Throughput: one entry per
/// cycle in and out at once. `in_ready` is high while the queue has room and does not depend
/// on `out_ready`, so chains of queues have no combinational path through them.
///
/// It assumes the stream contract on its input and asserts it on its output, so formal tools
/// prove it keeps the contract and the simulator reports a producer that breaks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFifo {
    /// The payload type.
    pub ty: Type,
    /// Entries, at least 1.
    pub depth: u32,
}

impl Block for StreamFifo {
    fn name(&self) -> String {
        let s = if self.ty.signed { "s" } else { "u" };
        format!("stream_fifo_{s}{}_d{}", self.ty.width, self.depth)
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        if self.depth == 0 {
            m.bad_parameter("a stream FIFO needs at least 1 entry");
            return;
        }
        let input = m.stream_input("in", Stream::with_ready(self.ty));
        let (in_valid, in_data) = (input.valid, input.payload);
        let out_ready = m.wire("out_taken", Type::BOOL);
        let slots: Vec<_> = (0..self.depth)
            .map(|i| m.reg(&format!("slot{i}"), self.ty))
            .collect();
        let head = m.counter("head", u64::from(self.depth));
        let tail = m.counter("tail", u64::from(self.depth));
        let count = m.counter("count", u64::from(self.depth) + 1);
        let out_valid = count.q().ne(0);
        let in_ready = count.q().ne(i64::from(self.depth));
        let push = in_valid & in_ready;
        let pop = out_valid & out_ready;
        m.when(push, || {
            tail.incr();
            for (i, slot) in slots.iter().enumerate() {
                m.when(tail.q().eq(i as i64), || slot.next(in_data));
            }
        });
        m.when(pop, || head.incr());
        m.when(push & !pop, || count.incr())
            .elsewhen(pop & !push, || {
                count.reg().next(count.q().wrapping_sub(1));
            });
        let out_data = slots
            .iter()
            .enumerate()
            .skip(1)
            .fold(slots[0].q(), |acc, (i, s)| {
                head.q().eq(i as i64).mux(s.q(), acc)
            });
        stream_contract(m, "in", End::Consumer, in_valid, in_ready, in_data);
        stream_contract(m, "out", End::Producer, out_valid, out_ready, out_data);
        // The pointers and the count agree: tail - head = count (mod depth). With this the
        // contract is inductive, so it can be proven for every depth of time, not only
        // bounded.
        let depth = i64::from(self.depth);
        let w = count.q().width() + 1;
        let gap = (tail.q().extend(w) + depth - head.q().extend(w)).trunc(w);
        let apart = gap.ge(depth).mux(gap.wrapping_sub(depth), gap);
        let expected = count.q().eq(depth).mux(0, count.q()).extend(w);
        m.assert("pointers_match_count", apart.eq(expected));
        m.cover("full", !in_ready);
        input.accept(in_ready);
        m.stream_output(
            "out",
            Source {
                valid: out_valid,
                payload: out_data,
                ready: Some(out_ready),
            },
        );
    }
}
