//! The hardwired store: the stream collected into registers, one
//! [`Linear`](crate::Linear) per layer, the chosen layer's rows serialised.

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::element;

use super::{FixedWeightMatVec, Shape};

pub(super) fn build(b: &FixedWeightMatVec, s: Shape, m: &ModuleBuilder<'_>) {
    let layer = m.input("layer", Type::unsigned(s.layer_bits()));
    let (x_valid, x) = m
        .stream_input("x", Stream::new(Type::signed(b.input_bits)))
        .parts();
    let in_ty = Type::signed(b.input_bits);
    let out_ty = Type::signed(s.out_bits);

    // Collect: a shift register, so element c ends in register c after the last element.
    let xs: Vec<Reg<'_>> = (0..s.cols)
        .map(|c| m.reg(&format!("x{c}"), in_ty).enable(x_valid))
        .collect();
    for c in 0..s.cols {
        xs[c].next(if c + 1 == s.cols { x } else { xs[c + 1].q() });
    }
    let col_ty = Type::unsigned(hardwire_hdl::ir::addr_width(s.cols as u32));
    let col = m.reg("col", col_ty).reset(0);
    let last = col.q().eq(s.cols as i64 - 1);
    col.next_when(x_valid, last.mux(m.lit(0, col_ty), col.q().wrapping_add(1)));
    let full = m.reg("full", Type::BOOL).reset(0);
    full.next(x_valid & last);
    let bus = m.concat(
        &xs.iter()
            .rev()
            .map(|r| r.q().as_unsigned())
            .collect::<Vec<_>>(),
    );

    // Every layer sees the same held vector; the slowest one says when all are done.
    let mut ys = Vec::with_capacity(s.layers);
    let mut done = (0, full.q());
    for n in 0..s.layers {
        let linear = b.linear(n);
        let u = m.instance(&format!("u_layer{n}"), &linear);
        u.input("x", bus);
        u.input("in_valid", full.q());
        ys.push(u.output("y"));
        let latency = u.latency("out").map_or(0, |l| l.1);
        if n == 0 || latency > done.0 {
            done = (latency, u.output("out_valid"));
        }
    }
    let y_bus = select(layer, &ys);

    // Serialise: load all rows, then shift one out per cycle.
    let left_ty = Type::unsigned(hardwire_hdl::primitives::clog2(s.rows + 1).max(1));
    let left = m.reg("left", left_ty).reset(0);
    let emit = left.q().ne(0);
    left.next_when(emit, left.q().wrapping_sub(1));
    left.next_when(done.1, m.lit(s.rows as i64, left_ty));
    // Shifting only while emitting keeps `y` defined from reset on (the head is reset and
    // takes nothing that was never loaded).
    let sr: Vec<Reg<'_>> = (0..s.rows)
        .map(|r| m.reg(&format!("out{r}"), out_ty).enable(emit | done.1))
        .collect();
    for r in 0..s.rows {
        let loaded = element(y_bus, r as u32, out_ty);
        match sr.get(r + 1) {
            Some(next) => sr[r].next(done.1.mux(loaded, next.q())),
            None => sr[r].next_when(done.1, loaded),
        }
    }
    m.stream_output("y", Source::new(emit, sr[0].reset(0).q()));
}

/// `buses[layer]` by a tree of 2-way muxes on the bits of `layer`.
fn select<'a>(layer: Signal<'a>, buses: &[Signal<'a>]) -> Signal<'a> {
    let mut level: Vec<Signal<'a>> = buses.to_vec();
    let mut bit = 0;
    while level.len() > 1 {
        let sel = layer.bit(bit);
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [lo, hi] => sel.mux(*hi, *lo),
                [only] => *only,
                _ => unreachable!("chunks of two"),
            })
            .collect();
        bit += 1;
    }
    level[0]
}
