//! Streams as ports: a payload with a `valid` beside it and, optionally, a `ready` flowing
//! back, declared and connected as one thing instead of two or three strings.
//!
//! As ports named `x`, a stream is `x_valid` and `x` (the payload) in its direction and
//! `x_ready` against it. A [`Source`] is a stream inside the module being built that data
//! comes from: an input stream of the module, or an output stream of an instance; it goes to
//! an output stream of the module ([`ModuleBuilder::stream_output`]) or an input stream of an
//! instance ([`Instance::stream_input`]), which check the payload type and that both sides
//! agree on `ready`.
//!
//! ```
//! use hardwire_hdl::prelude::*;
//! use hardwire_hdl::primitives::StreamFifo;
//!
//! let design = Design::build("buffered", |m| {
//!     let x = m.stream_input("x", Stream::with_ready(Type::unsigned(8)));
//!     let fifo = m.instance("u_fifo", &StreamFifo { ty: Type::unsigned(8), depth: 4 });
//!     fifo.stream_input("in", x);
//!     m.stream_output("y", fifo.stream_output("out"));
//! })
//! .unwrap();
//! let names: Vec<_> = design.top_module().ports.iter().map(|p| p.name.as_str()).collect();
//! assert_eq!(names, ["x_valid", "x", "x_ready", "y_valid", "y", "y_ready"]);
//! ```

use super::instance::Instance;
use super::module::{ModuleBuilder, Signal};
use crate::diagnostic::{Code, Loc};
use crate::ir::{Direction, Latency, Type};

/// The shape of a stream: its payload type and whether the consumer can hold it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stream {
    /// The payload's type.
    pub payload: Type,
    /// Whether the stream has a `ready` (valid/ready handshake) or the consumer must take
    /// every valid payload (an element stream).
    pub ready: bool,
}

impl Stream {
    /// A stream whose consumer takes every payload it is offered (`valid` only).
    pub const fn new(payload: Type) -> Stream {
        Stream {
            payload,
            ready: false,
        }
    }

    /// A valid/ready stream: a payload moves on an edge where both are high.
    pub const fn with_ready(payload: Type) -> Stream {
        Stream {
            payload,
            ready: true,
        }
    }
}

/// A stream that data comes from, inside the module being built.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// High on cycles that offer a payload.
    pub valid: Signal<'a>,
    /// The payload.
    pub payload: Signal<'a>,
    /// For a valid/ready stream: the wire that carries the consumer's `ready` back, driven by
    /// whatever this source is connected to (or by [`Source::accept`]).
    pub ready: Option<Signal<'a>>,
}

impl<'a> Source<'a> {
    /// A stream without `ready` from signals of the module.
    pub fn new(valid: Signal<'a>, payload: Signal<'a>) -> Source<'a> {
        Source {
            valid,
            payload,
            ready: None,
        }
    }

    /// `(valid, payload)`, for a block that works on the two signals.
    pub fn parts(&self) -> (Signal<'a>, Signal<'a>) {
        (self.valid, self.payload)
    }

    /// The stream's shape.
    pub fn shape(&self) -> Stream {
        Stream {
            payload: self.payload.ty(),
            ready: self.ready.is_some(),
        }
    }

    /// Consumes the stream here: drives its `ready` with `ready` (a stream without one is
    /// an error, since its producer cannot wait).
    #[track_caller]
    pub fn accept(&self, ready: Signal<'a>) {
        let loc = Loc::caller();
        match self.ready {
            Some(wire) => self.valid.m.assign_at(wire, ready, None, loc),
            None => self.valid.m.error(
                Code::UnknownPort,
                loc,
                format!(
                    "the stream with payload `{}` has no `ready`: its consumer must take every \
                     payload, so it cannot be given one",
                    self.valid.m.describe(self.payload.id)
                ),
            ),
        }
    }

    /// High on an edge that moves a payload: `valid`, and `ready` when the stream has one.
    pub fn fires(&self) -> Signal<'a> {
        match self.ready {
            Some(r) => self.valid & r,
            None => self.valid,
        }
    }
}

impl<'e> ModuleBuilder<'e> {
    /// Declares an input stream `name` of shape `stream`: inputs `<name>_valid` and `<name>`,
    /// and for a valid/ready stream the output `<name>_ready`, which whatever consumes the
    /// returned source drives.
    #[track_caller]
    pub fn stream_input(&self, name: &str, stream: Stream) -> Source<'_> {
        let loc = Loc::caller();
        let valid = self.input_at(&format!("{name}_valid"), Type::BOOL, loc);
        let payload = self.input_at(name, stream.payload, loc);
        let ready = stream
            .ready
            .then(|| self.output_wire_at(&format!("{name}_ready"), Type::BOOL, loc));
        Source {
            valid,
            payload,
            ready,
        }
    }

    /// Declares an output stream `name` carrying `source`: outputs `<name>_valid` and
    /// `<name>`, and for a valid/ready source the input `<name>_ready`, which drives its
    /// `ready`.
    #[track_caller]
    pub fn stream_output<'a>(&'a self, name: &str, source: Source<'a>) {
        let loc = Loc::caller();
        self.output_at(&format!("{name}_valid"), source.valid, loc);
        self.output_at(name, source.payload, loc);
        if let Some(wire) = source.ready {
            let ready = self.input_at(&format!("{name}_ready"), Type::BOOL, loc);
            self.assign_at(wire, ready, None, loc);
        }
    }

    /// Declares that every transfer on the input stream `from` comes out of the output
    /// stream `to` exactly `cycles` edges later (streams by name: `<name>_valid` carries the
    /// transfer). The `check-latency` pass derives the same number from the structure, the
    /// registers on every path from one valid to the other and the latencies the children
    /// declare, and rejects a declaration that disagrees (E015); a parent reads it with
    /// [`Instance::latency`].
    #[track_caller]
    pub fn latency(&self, to: &str, from: &str, cycles: u64) {
        let loc = Loc::caller();
        self.data.borrow_mut().module.latencies.push(Latency {
            to: to.to_string(),
            from: from.to_string(),
            cycles,
            loc,
        });
    }
}

impl<'a> Instance<'a> {
    /// Connects `source` to the child's input stream `name`: its `<name>_valid` and `<name>`
    /// inputs, and its `<name>_ready` output back to the source. The payload types must be
    /// equal and both sides must agree on whether there is a `ready`.
    #[track_caller]
    pub fn stream_input(&self, name: &str, source: Source<'a>) -> &Self {
        let loc = Loc::caller();
        self.input_at(&format!("{name}_valid"), source.valid, loc);
        self.input_at(name, source.payload, loc);
        let ready = format!("{name}_ready");
        match (source.ready, self.has_port(&ready, Direction::Output)) {
            (Some(wire), true) => {
                let r = self.output_at(&ready, loc);
                self.m.assign_at(wire, r, None, loc);
            }
            (None, false) => {}
            (has, _) => self.stream_mismatch(name, has.is_some(), loc),
        }
        self
    }

    /// The child's output stream `name`: its `<name>_valid` and `<name>` outputs, and, when
    /// it has a `<name>_ready` input, a wire `<instance>_<name>_ready` connected to it for
    /// the consumer to drive.
    #[track_caller]
    pub fn stream_output(&self, name: &str) -> Source<'a> {
        let loc = Loc::caller();
        let valid = self.output_at(&format!("{name}_valid"), loc);
        let payload = self.output_at(name, loc);
        let ready_port = format!("{name}_ready");
        let ready = self.has_port(&ready_port, Direction::Input).then(|| {
            let wire = self
                .m
                .wire_at(&format!("{}_{ready_port}", self.name()), Type::BOOL, loc);
            self.input_at(&ready_port, wire, loc);
            wire
        });
        Source {
            valid,
            payload,
            ready,
        }
    }

    fn stream_mismatch(&self, name: &str, source_has_ready: bool, loc: Loc) {
        let (has, lacks) = if source_has_ready {
            ("the source has a `ready`", "input stream has none")
        } else {
            ("the source has no `ready`", "input stream has one")
        };
        self.m.error(
            Code::UnknownPort,
            loc,
            format!(
                "cannot connect to stream `{name}` of `{}`: {has} but the {lacks}",
                self.module_name()
            ),
        );
    }
}
