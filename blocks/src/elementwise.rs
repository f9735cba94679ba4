//! Element-wise streaming blocks: [`SwiGlu`], [`ResidualAdd`] and [`Argmax`], and the
//! fixed-point pieces the streaming blocks share (rounding shifts, element counters).

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::clog2;
use hardwire_model::fixed::silu::{SIGMOID_FRAC, SILU_RANGE, SILU_STEP_BITS};
use hardwire_model::fixed::{Format, SiluTable};

/// `x / 2^s` rounded half up, the golden `round_shift`: `(x + 2^(s-1)) >> s`, narrowed to the
/// bits the quotient needs.
pub(super) fn round_shift<'a>(m: &'a ModuleBuilder<'a>, x: Signal<'a>, s: u32) -> Signal<'a> {
    if s == 0 {
        return x;
    }
    let signed = x.ty().signed;
    let half = m.constant(Bits::from_i128(1i128 << (s - 1), s + 1), signed);
    let keep = (x.width() + 1)
        .saturating_sub(s)
        .max(if signed { 2 } else { 1 });
    ((x + half) >> s).trunc(keep)
}

/// Bits of a signed value holding `v`.
pub(super) fn signed_width(v: i64) -> u32 {
    65 - (if v < 0 { !v } else { v }).leading_zeros()
}

/// Bits of an unsigned value holding `v` (at least one).
pub(super) fn unsigned_width(v: u64) -> u32 {
    (64 - v.leading_zeros()).max(1)
}

/// The first half of `x / 2^s` rounded half up, for a shift known only at run time: the
/// barrel shifter's `2x >> s`, one bit wider than `x`, for a pipeline to register before
/// [`round_off_half`] finishes it. `((2x >> s) + 1) >> 1` equals `(x + 2^(s-1)) >> s` for
/// every `s >= 1` and `x` for `s = 0`, and needs no `2^(s-1)` term.
pub(super) fn shift_keeping_half<'a>(x: Signal<'a>, s: Signal<'a>) -> Signal<'a> {
    (x.extend(x.width() + 1) << 1).shr_by(s)
}

/// The second half of a rounding shift: `(v + 1) >> 1` for `v` from [`shift_keeping_half`],
/// in `x`'s width (a signed quotient always fits it).
pub(super) fn round_off_half(v: Signal<'_>) -> Signal<'_> {
    ((v + 1) >> 1).trunc(v.width() - 1)
}

/// Whether any bit of unsigned `v` is set, and the position of the highest set bit (in
/// `max(1, clog2(width))` bits): a tree of halves, each level one mux deep, over `v`
/// zero-extended to a power-of-two width of at least 2.
pub(super) fn leading_one(v: Signal<'_>) -> (Signal<'_>, Signal<'_>) {
    let w = v.width();
    let padded = w.next_power_of_two().max(2);
    if padded > w {
        return leading_one(v.extend(padded));
    }
    if w == 2 {
        return (v.any(), v.bit(1));
    }
    let (hi_any, hi_pos) = leading_one(v.bits(w - 1, w / 2));
    let (lo_any, lo_pos) = leading_one(v.bits(w / 2 - 1, 0));
    (hi_any | lo_any, hi_any.concat(hi_any.mux(hi_pos, lo_pos)))
}

/// The index of this cycle's element in an `n`-element vector on a stream with `valid`, and
/// whether it is the vector's last element (valid included). The count wraps after the last.
pub(super) fn element_index<'a>(
    m: &'a ModuleBuilder<'a>,
    name: &str,
    valid: Signal<'a>,
    n: usize,
) -> (Signal<'a>, Signal<'a>) {
    let w = clog2(n).max(1);
    let count = m.reg(name, Type::unsigned(w)).reset(0);
    let last = valid & count.q().eq((n - 1) as i64);
    count.next_when(valid, count.q().wrapping_add(1));
    count.next_when(last, m.lit(0, Type::unsigned(w)));
    (count.q(), last)
}

/// `value` registered: one cycle later, into a fresh register `name` (reset to 0 when `reset`).
pub(super) fn delay<'a>(
    m: &'a ModuleBuilder<'a>,
    name: &str,
    value: Signal<'a>,
    reset: bool,
) -> Signal<'a> {
    let r = m.reg(name, value.ty());
    let r = if reset { r.reset(0) } else { r };
    r.next(value);
    r.q()
}

/// A short tag of a table's contents, for module names: FNV-1a of the values.
pub(super) fn content_tag(values: impl IntoIterator<Item = i64>) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for v in values {
        for b in v.to_le_bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    }
    format!("{h:08x}")
}

/// The name part of a format: `20f12` for 20 bits with 12 fractional.
pub(super) fn format_tag(f: Format) -> String {
    format!("{}f{}", f.bits, f.frac)
}

/// Whether a format's width is one this datapath handles (the golden model's `i32`).
fn format_ok(f: Format) -> bool {
    (2..=32).contains(&f.bits)
}

/// The SwiGLU product `silu(gate) * up` of a stream of (gate, up) pairs, matching the golden
/// model's `mul(&silu(&[g], table, act), &[u], act.frac, out)` bit for bit: the sigmoid
/// interpolated from `table` (held in a ROM as base and slope per step), times the gate,
/// rounded and saturated to `act`; then times the up value, rounded and saturated to `out`.
///
/// Ports: stream `x` (`Type::signed(act.bits)`) of `2n` elements, `gate_0, up_0, gate_1, ...`
/// (gate first); stream `y` (`Type::signed(out.bits)`) of the `n` products. A parity register
/// pairs the elements, so a vector has any even length and the next starts with a gate.
/// Latency: [`SwiGlu::latency`] = 13 cycles from an up element to its product (the gate's
/// table lookup happens when the gate arrives). Throughput: one product per two input
/// elements; the stream may run without gaps.
#[derive(Debug, Clone, PartialEq)]
pub struct SwiGlu {
    /// Format of the gate and up activations, and of the SiLU result.
    pub act: Format,
    /// Format of the product.
    pub out: Format,
    /// The sigmoid table.
    pub table: SiluTable,
}

impl SwiGlu {
    /// From an up value (its gate's sigmoid entry already read): the entry registered, the
    /// slope's partial products, the interpolated sigmoid, it clamped, times the gate
    /// (partial products, their sum), SiLU rounded, times up (partial products, their sum),
    /// rounded. Each multiply registers its partial products twice before anything adds
    /// them, and their sum before it is rounded.
    const STAGES: [&'static str; 13] = [
        "table",
        "slope_partials",
        "slope_retimed",
        "sigmoid",
        "operand",
        "gate_partials",
        "gate_retimed",
        "gate_product",
        "silu",
        "up_partials",
        "up_retimed",
        "up_product",
        "round",
    ];

    /// Cycles from the last input element (an up value) to the last output element.
    pub fn latency(&self) -> u64 {
        Self::STAGES.len() as u64
    }
}

impl Block for SwiGlu {
    fn name(&self) -> String {
        let mut name = format!("swiglu_a{}_o{}", format_tag(self.act), format_tag(self.out));
        if self.table != SiluTable::default() {
            let tag = content_tag(self.table.entries.iter().map(|&e| i64::from(e)));
            name.push_str(&format!("_t{tag}"));
        }
        name
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let (act, out) = (self.act, self.out);
        if !format_ok(act) || !format_ok(out) {
            m.bad_parameter(format!(
                "SwiGlu formats must be 2 to 32 bits wide, but act is {} and out is {} bits",
                act.bits, out.bits
            ));
            return;
        }
        if !(SILU_STEP_BITS..=32).contains(&act.frac) || 2 * act.frac < out.frac {
            m.bad_parameter(format!(
                "SwiGlu needs act.frac from {SILU_STEP_BITS} (the sigmoid table step) to 32 and \
                 2 * act.frac >= out.frac, but act.frac is {} and out.frac {}",
                act.frac, out.frac
            ));
            return;
        }
        let entries = &self.table.entries;
        if entries.len() < 2 || entries.len() > 1 << 20 {
            m.bad_parameter(format!(
                "the SiLU table has {} entries; it needs 2 to 2^20",
                entries.len()
            ));
            return;
        }
        let sub = act.frac - SILU_STEP_BITS;
        let steps = entries.len() - 1;

        let (x_valid, x) = m
            .stream_input("x", Stream::new(Type::signed(act.bits)))
            .parts();
        let second = m.reg("pair_second", Type::BOOL).reset(0);
        second.next_when(x_valid, !second.q());
        let gate = x_valid & !second.q();
        let up = x_valid & second.q();

        // The gate's table lookup, held until its up value arrives: `u = x + 8` in activation
        // units; outside [0, top) the sigmoid is 0 or 1.
        let u = x + (SILU_RANGE << act.frac);
        let top = (steps as i64) << sub;
        let below = u.lt(0);
        let above = u.ge(top);
        let aw = clog2(steps).max(1);
        let index = (u >> sub).as_unsigned().resize(aw);
        let (base_bits, slope_bits) = silu_rom_widths(entries);
        let words: Vec<Bits> = entries
            .windows(2)
            .map(|p| {
                let (t, d) = (i128::from(p[0]), i128::from(p[1]) - i128::from(p[0]));
                let word = (d << base_bits) | (t & ((1i128 << base_bits) - 1));
                Bits::from_i128(word, base_bits + slope_bits)
            })
            .collect();
        let rom = m
            .memory(
                "sigmoid",
                Type::unsigned(base_bits + slope_bits),
                steps as u32,
            )
            .init_bits(words);
        let entry = rom.read_enabled(index, gate);
        let hold = |name: &str, v: Signal<'_>| {
            let r = m.reg(name, v.ty()).enable(gate);
            r.next(v);
            r.q()
        };
        let gate_h = hold("gate", x);
        let below_h = hold("gate_below", below);
        let above_h = hold("gate_above", above);
        let frac_h = (sub > 0).then(|| hold("gate_frac", u.bits(sub - 1, 0)));

        // The interpolated sigmoid `T[i] + round((T[i+1] - T[i]) * r / 2^sub)`.
        let mut p = m.pipeline("glu", up, &Self::STAGES);
        // The table's word registered (its output register), off the interpolation's path.
        let entry = p.keep("entry", entry);
        let (below, above) = (p.keep("below", below_h), p.keep("above", above_h));
        let (gate, up) = (p.keep("gate", gate_h), p.keep("up", x));
        let frac = frac_h.map(|r| p.keep("frac", r));
        p.stage("table");
        let entry = p.at(entry);
        let base = entry.bits(base_bits - 1, 0).as_signed();
        let slope = entry
            .bits(base_bits + slope_bits - 1, base_bits)
            .as_signed();
        let slope_r =
            frac.map(|r| p.keep_product("slope_r", slope, p.at(r).extend(sub + 1).as_signed()));
        let base = p.keep("base", base);
        p.stage("slope_partials");
        p.stage("slope_retimed");
        let base = p.at(base);
        let interp = match slope_r {
            Some(slope_r) => base + round_shift(m, p.product(&slope_r), sub),
            None => base,
        };
        let interp = p.keep("interp", interp);

        // gate * sigmoid.
        p.stage("sigmoid");
        let interp = p.at(interp);
        let sw = interp.width().max(SIGMOID_FRAC + 2);
        let one = m.lit(1 << SIGMOID_FRAC, Type::signed(sw));
        let sig = p.at(below).mux(
            m.lit(0, Type::signed(sw)),
            p.at(above).mux(one, interp.extend(sw)),
        );
        // Registered: the clamp's muxes stay out of the multiplier's cycle.
        let sig = p.keep("sig", sig);
        p.stage("operand");
        let prod = p.keep_product("silu_prod", p.at(gate), p.at(sig));

        // SiLU rounded and saturated to `act`, times up, rounded and saturated to `out`.
        p.stage("gate_partials");
        p.stage("gate_retimed");
        let prod = p.keep("silu_prod", p.product(&prod));
        p.stage("gate_product");
        let silu = round_shift(m, p.at(prod), SIGMOID_FRAC).saturate(act.bits);
        let silu = p.keep("silu", silu);
        p.stage("silu");
        let prod = p.keep_product("glu_prod", p.at(silu), p.at(up));
        p.stage("up_partials");
        p.stage("up_retimed");
        let prod = p.keep("glu_prod", p.product(&prod));
        p.stage("up_product");
        let y = round_shift(m, p.at(prod), 2 * act.frac - out.frac).saturate(out.bits);
        let y = p.keep("y", y);
        p.stage("round");
        m.stream_output("y", p.source(p.at(y)));
        p.finish();
    }
}

/// Widths of a sigmoid ROM word's base value `T[i]` and slope `T[i+1] - T[i]` (signed).
fn silu_rom_widths(entries: &[i32]) -> (u32, u32) {
    let base = entries[..entries.len() - 1]
        .iter()
        .map(|&t| signed_width(i64::from(t)))
        .max()
        .unwrap_or(1);
    let slope = entries
        .windows(2)
        .map(|p| signed_width(i64::from(p[1]) - i64::from(p[0])))
        .max()
        .unwrap_or(1);
    (base.max(2), slope.max(2))
}

/// The saturating residual add `y = sat(x + d)` of two streams, matching the golden
/// `residual_add` bit for bit. `x` is stored in a buffer RAM as it arrives; each `d` element
/// reads its partner back.
///
/// Ports: stream `x` (`n` elements), then stream `d` (`n` elements, starting only after the
/// last `x`); stream `y`; all `Type::signed(format.bits)`. The next vector's `x` may start
/// the cycle after the last `y`.
/// Latency: [`ResidualAdd::latency`] = 2 cycles from the last `d` to the last `y` (buffer
/// read, add and saturate). Throughput: one element per cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct ResidualAdd {
    /// Elements per vector.
    pub n: usize,
    /// Format of both inputs and the sum.
    pub format: Format,
    /// Distinguishes the modules of different residual adds.
    pub label: String,
}

impl ResidualAdd {
    /// The partner `x` read back, then the saturated sum.
    const STAGES: [&'static str; 2] = ["read", "sum"];

    /// Cycles from the last `d` element to the last `y` element.
    pub fn latency(&self) -> u64 {
        Self::STAGES.len() as u64
    }
}

impl Block for ResidualAdd {
    fn name(&self) -> String {
        format!(
            "residual_add_{}_{}x{}",
            self.label,
            self.n,
            format_tag(self.format)
        )
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        if self.n == 0 || self.n > u32::MAX as usize || !format_ok(self.format) {
            m.bad_parameter(format!(
                "ResidualAdd `{}` needs n >= 1 and a 2- to 32-bit format, but n is {} and the \
                 format {} bits",
                self.label, self.n, self.format.bits
            ));
            return;
        }
        let ty = Type::signed(self.format.bits);
        let (x_valid, x) = m.stream_input("x", Stream::new(ty)).parts();
        let (d_valid, d) = m.stream_input("d", Stream::new(ty)).parts();
        let buffer = m.memory("x_buffer", ty, self.n as u32);
        let (x_index, _) = element_index(m, "x_index", x_valid, self.n);
        buffer.write(x_index, x, x_valid);
        let (d_index, _) = element_index(m, "d_index", d_valid, self.n);
        let mut p = m.pipeline("out", d_valid, &Self::STAGES);
        let (x, d) = (p.read("x", &buffer, d_index), p.keep("d", d));
        p.stage("read");
        let y = p.keep("y", (p.at(x) + p.at(d)).saturate(self.format.bits));
        p.stage("sum");
        m.stream_output("y", p.source(p.at(y)));
        p.finish();
    }
}

/// The index of the largest element of a stream of `n` signed logits, the first one on a tie,
/// matching the golden `argmax`: one comparator keeps the running maximum.
///
/// Ports: stream `x` (`Type::signed(bits)`, `n` elements); outputs `index_valid` (a one-cycle
/// pulse) and `index` (unsigned, `max(1, clog2(n))` bits, held until the next vector's).
/// Latency: [`Argmax::latency`] = 2 cycles from the last element to `index_valid`: the input is
/// registered first, so the comparator's path starts beside it rather than wherever the
/// stream comes from.
/// Throughput: one element per cycle; the next vector may follow at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Argmax {
    /// Elements per vector.
    pub n: usize,
    /// Width of each logit.
    pub bits: u32,
}

impl Argmax {
    /// Cycles from the last input element to `index_valid`.
    pub fn latency(&self) -> u64 {
        2
    }
}

impl Block for Argmax {
    fn name(&self) -> String {
        format!("argmax_{}xs{}", self.n, self.bits)
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        if self.n == 0 || self.n > u32::MAX as usize || self.bits == 0 {
            m.bad_parameter(format!(
                "Argmax needs n >= 1 and bits >= 1, but n is {} and bits {}",
                self.n, self.bits
            ));
            return;
        }
        let (x_valid, x) = m
            .stream_input("x", Stream::new(Type::signed(self.bits)))
            .parts();
        let x_valid = delay(m, "x_valid_q", x_valid, true);
        let x = delay(m, "x_q", x, false);
        let (i, last) = element_index(m, "x_index", x_valid, self.n);
        let best = m.reg("best", x.ty());
        let best_index = m.reg("best_index", i.ty());
        // Strictly greater: on a tie the earlier element stays.
        let take = x_valid & (i.eq(0) | x.gt(best.q()));
        best.next_when(take, x);
        best_index.next_when(take, i);
        let index = m.reg("index_q", i.ty()).reset(0);
        index.next_when(last, take.mux(i, best_index.q()));
        let valid = delay(m, "index_valid_q", last, true);
        m.stream_output("index", Source::new(valid, index.q()));
    }
}
