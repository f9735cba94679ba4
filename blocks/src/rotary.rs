//! [`RotaryEmbedding`]: RoPE on an element stream in rotation-pair order, cos/sin from ROMs.

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::clog2;
use hardwire_model::fixed::rope::ROPE_FRAC;
use hardwire_model::fixed::RopeTables;

use super::elementwise::{content_tag, signed_width};

/// Rotates the heads of a vector by their position, matching `hardwire_model::fixed::rope` bit
/// for bit: for each pair `(a, b)` (model elements `i` and `i + head_dim / 2` of a head)
/// `a' = sat(round_shift(a·cos - b·sin, ROPE_FRAC))` and
/// `b' = sat(round_shift(b·cos + a·sin, ROPE_FRAC))`, with `cos` and `sin` the tables' entries at
/// `(pos, i)`, read from two ROMs of `max_seq · head_dim / 2` words.
///
/// Ports: `pos` (unsigned, `max(1, clog2(tables.max_seq))` bits); stream `x`
/// (`x_valid`, `x`: signed `bits`) in rotation-pair order, a whole number of heads per vector
/// → stream `y` (`y_valid`, `y`: signed `bits`) in the same order.
/// Latency: 6 cycles ([`RotaryEmbedding::latency`]). Throughput: one element per cycle, with
/// two products: `a'` is computed when `b` arrives and `b'` on the cycle after, which a
/// pair's two input cycles leave free; the operands, the partial products and the rotated
/// value are registered.
#[derive(Debug, Clone, PartialEq)]
pub struct RotaryEmbedding {
    /// The cos/sin tables; `tables.half` must be `head_dim / 2`.
    pub tables: RopeTables,
    /// Elements per head (even).
    pub head_dim: usize,
    /// Width of the elements (signed), 2 to 32.
    pub bits: u32,
    /// Distinguishes the modules of different uses (a Verilog identifier part).
    pub label: String,
}

impl RotaryEmbedding {
    /// Cycles from the cycle carrying the last input element to the one carrying the last
    /// output element.
    pub fn latency(&self) -> u64 {
        // `b'` starts the cycle after `b` arrives.
        1 + STAGES.len() as u64
    }

    /// Width of the `pos` input.
    pub fn pos_bits(&self) -> u32 {
        clog2(self.tables.max_seq).max(1)
    }

    fn check(&self) -> Result<(), String> {
        let t = &self.tables;
        let half = self.head_dim / 2;
        if self.head_dim < 2 || !self.head_dim.is_multiple_of(2) {
            return Err(format!(
                "head_dim {} is not a positive even number: RoPE rotates pairs",
                self.head_dim
            ));
        }
        if t.half != half || t.max_seq == 0 {
            return Err(format!(
                "the RoPE tables cover {} pairs for {} positions, but a head of {} elements has \
                 {half} pairs; build the tables for this head size and at least one position",
                t.half, t.max_seq, self.head_dim
            ));
        }
        if t.cos.len() != t.max_seq * half || t.sin.len() != t.max_seq * half {
            return Err(format!(
                "the RoPE tables should hold {} cos and sin entries ({} positions × {half} \
                 pairs) but hold {} and {}",
                t.max_seq * half,
                t.max_seq,
                t.cos.len(),
                t.sin.len()
            ));
        }
        if t.max_seq * half > u32::MAX as usize {
            return Err(format!(
                "RoPE tables of {} entries do not fit a memory",
                t.max_seq * half
            ));
        }
        if !(2..=32).contains(&self.bits) {
            return Err(format!(
                "element width {} is outside 2..=32 bits",
                self.bits
            ));
        }
        Ok(())
    }
}

impl Block for RotaryEmbedding {
    fn name(&self) -> String {
        let t = &self.tables;
        let words = t.cos.iter().chain(&t.sin).map(|&v| i64::from(v));
        format!(
            "rotary_{}_hd{}_s{}_b{}_t{}",
            self.label,
            self.head_dim,
            t.max_seq,
            self.bits,
            content_tag(words)
        )
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        if let Err(e) = self.check() {
            m.bad_parameter(format!("RotaryEmbedding `{}`: {e}", self.label));
            return;
        }
        let t = &self.tables;
        let half = t.half;
        let depth = (t.max_seq * half) as u32;
        let pos = m.input("pos", Type::unsigned(self.pos_bits()));
        let (x_valid, x) = m
            .stream_input("x", Stream::new(Type::signed(self.bits)))
            .parts();

        let entry = Type::signed(
            t.cos
                .iter()
                .chain(&t.sin)
                .map(|&v| signed_width(v.into()))
                .max()
                .unwrap_or(1)
                .max(2),
        );
        let words = |v: &[i32]| v.iter().map(|&w| i64::from(w)).collect::<Vec<_>>();
        let cos_rom = m.memory("cos_rom", entry, depth).init(&words(&t.cos));
        let sin_rom = m.memory("sin_rom", entry, depth).init(&words(&t.sin));

        // `odd`: the next element is the second of its pair. `pair`: the pair's index within
        // its head, which wraps with the head because a vector is whole heads.
        let odd = m.reg("odd", Type::BOOL).reset(0);
        let pair_bits = clog2(half).max(1);
        let pair = m.reg("pair", Type::unsigned(pair_bits)).reset(0);
        let take_a = x_valid & !odd.q();
        let take_b = x_valid & odd.q();
        odd.next_when(x_valid, !odd.q());
        let next_pair = pair
            .q()
            .eq((half - 1) as i64)
            .mux(m.lit(0, pair.q().ty()), pair.q().wrapping_add(1));
        pair.next_when(take_b, next_pair);

        // The address is steady from the pair's first element (and `pos` from the vector's),
        // so the entries are ready when `b` arrives and still there on the cycle after.
        let addr_bits = clog2(depth as usize).max(1);
        let addr = (pos * half as i64 + pair.q()).resize(addr_bits);
        let c = cos_rom.read(addr);
        let s = sin_rom.read(addr);

        let a = m.reg("a_q", x.ty());
        a.next_when(take_a, x);
        let b = m.reg("b_q", x.ty());
        b.next_when(take_b, x);
        // High on the cycle after `b` arrived: the cycle that computes `b'`.
        let second = m.reg("second", Type::BOOL).reset(0);
        second.next(take_b);

        // The operands (the ROMs' entries among them), the partial products, then the
        // rotated value are registered before it is rounded and saturated: no path holds a
        // memory read and a multiply, or a multiply and the adds after it.
        let sel = second.q();
        let mut p = m.pipeline("rot", take_b | sel, &STAGES);
        let (u1, u2) = (
            p.keep("u1", sel.mux(b.q(), a.q())),
            p.keep("u2", sel.mux(a.q(), x)),
        );
        let (c, s) = (p.keep("cos", c), p.keep("sin", s));
        let plus = p.keep("plus", sel);
        p.stage("operands");
        let p1 = p.keep_product("p1", p.at(u1), p.at(c));
        let p2 = p.keep_product("p2", p.at(u2), p.at(s));
        p.stage("partials");
        p.stage("retimed");
        let (p1, p2) = (p.product(&p1), p.product(&p2));
        let r = p.keep("r", p.at(plus).mux(p1 + p2, p1 - p2));
        p.stage("product");
        let rounded = (p.at(r) + (1i64 << (ROPE_FRAC - 1))) >> ROPE_FRAC;
        let y = p.keep("y", rounded.saturate(self.bits));
        p.stage("y");
        m.stream_output("y", p.source(p.at(y)));
        p.finish();
    }
}

/// The stages after a pair's element arrives (or the cycle after, for `b'`).
const STAGES: [&str; 5] = ["operands", "partials", "retimed", "product", "y"];
