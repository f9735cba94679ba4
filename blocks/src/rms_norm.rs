//! [`RmsNorm`]: RMS normalisation of an element stream, with a pipelined reciprocal square root.

use hardwire_hdl::ir::addr_width;
use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::clog2;
use hardwire_model::fixed::rmsnorm::{GAIN_FRAC, NORM_FRAC, RSQRT_FRAC, RSQRT_INDEX_BITS};
use hardwire_model::fixed::{round_shift as golden_round_shift, Format, RmsNormParams, RsqrtTable};

use super::elementwise::{
    content_tag, delay, element_index, format_tag, leading_one, round_off_half, round_shift,
    shift_keeping_half, signed_width, unsigned_width,
};

/// The left shift that turns `x * y1` into `t` before the rounding right shift by `k`:
/// `shift_signed(p, RSQRT_FRAC + k - NORM_FRAC) = round_shift(p * 2^PRE, k)`.
const PRE: u32 = NORM_FRAC - RSQRT_FRAC;

/// RMSNorm of an element stream, matching the golden model's `rms_norm` bit for bit.
///
/// While `x` arrives it is stored in a buffer RAM and its squares are summed; the layer's
/// `eps` is added; a pipelined unit computes the golden `rsqrt` of the sum (leading-one
/// detector, normalising shift, seed ROM, one Newton step); then the buffer is read back and
/// each element is scaled by the reciprocal root (a shift by `k` in either direction,
/// rounding) and by its gain from a ROM holding every layer's gains, rounded and saturated.
///
/// Ports: input `layer` (unsigned, `max(1, clog2(params.len()))` bits) choosing the
/// parameters, held from a vector's first input element to its last output element; stream
/// `x` (`Type::signed(input.bits)`) of `n = gain.len()` elements; stream `y`
/// (`Type::signed(output.bits)`) of `n` elements. The next vector may start the cycle after
/// the last `y`.
/// Latency: [`RmsNorm::latency`] = `n + 25` cycles from the last `x` to the last `y` (five to
/// finish the sum, the reciprocal root's eleven less the one in which the read-back starts,
/// eleven to scale the first element; the others follow one per cycle). Throughput: one vector per `2n + 25` cycles when `x` has no gaps.
/// The module name holds the label, sizes and formats; the label stands for the gains, as a
/// [`Linear`](super::Linear)'s does for its weights.
#[derive(Debug, Clone, PartialEq)]
pub struct RmsNorm {
    /// The folded gains and epsilon of each layer, all of the same length.
    pub params: Vec<RmsNormParams>,
    /// Format of the input activations.
    pub input: Format,
    /// Format of the outputs.
    pub output: Format,
    /// The reciprocal-square-root seed table.
    pub table: RsqrtTable,
    /// Distinguishes the modules of different gain sets.
    pub label: String,
}

impl RmsNorm {
    /// The sum of squares: the input registered (off the path from the memory that streams
    /// it), the square's partial products, the square, the running sum (the last one with eps
    /// added).
    const SUM_STAGES: [&'static str; 5] = ["input", "partials", "retimed", "square", "sum"];

    /// The stages that scale an element read back from the buffer: the read, registered,
    /// times the reciprocal root (partial products, then their sum), shifted by `k` (the
    /// shifter, then the rounding), times the
    /// gain (likewise), rounded and saturated.
    const SCALE_STAGES: [&'static str; 11] = [
        "read",
        "operands",
        "partials",
        "retimed",
        "scale",
        "shift",
        "normalise",
        "gain_partials",
        "gain_retimed",
        "gain",
        "round",
    ];

    /// Cycles from the last input element to the last output element, `n + 25`: the sum's
    /// stages, the reciprocal root's, less the one in which the read-back overlaps it,
    /// the scale stages' for the first element, one per further element.
    pub fn latency(&self) -> u64 {
        let n = self.params.first().map_or(0, |p| p.gain.len() as u64);
        Self::SUM_STAGES.len() as u64
            + (Rsqrt::LATENCY - 1)
            + Self::SCALE_STAGES.len() as u64
            + n.saturating_sub(1)
    }

    /// Every reason the block cannot be built, as one sentence.
    fn check(&self) -> Result<SeedAnalysis, String> {
        let n = self.params.first().map_or(0, |p| p.gain.len());
        if n == 0 || self.params.iter().any(|p| p.gain.len() != n) {
            return Err(format!(
                "RmsNorm `{}` needs at least one layer, and every layer's gains of one \
                 non-zero length",
                self.label
            ));
        }
        for (what, f) in [("input", self.input), ("output", self.output)] {
            if !(2..=32).contains(&f.bits) {
                return Err(format!(
                    "RmsNorm `{}` has a {}-bit {what} format; use 2 to 32 bits",
                    self.label, f.bits
                ));
            }
        }
        if self.output.frac > NORM_FRAC + GAIN_FRAC {
            return Err(format!(
                "RmsNorm `{}`'s output has {} fractional bits; at most {} are available",
                self.label,
                self.output.frac,
                NORM_FRAC + GAIN_FRAC
            ));
        }
        analyse(&self.table)
    }

    fn max_eps(&self) -> u64 {
        self.params.iter().map(|p| p.eps).max().unwrap_or(0)
    }
}

/// Bits of the largest possible `Σx² + eps`: at most 128, since inputs have at most 32 bits
/// and `n` fits a `usize`.
fn sum_bits(n: usize, input_bits: u32, max_eps: u64) -> u32 {
    let max = (n as u128) << (2 * (input_bits - 1));
    128 - (max + u128::from(max_eps)).leading_zeros()
}

impl Block for RmsNorm {
    fn name(&self) -> String {
        let n = self.params.first().map_or(0, |p| p.gain.len());
        let mut name = format!(
            "rms_norm_{}_{}x{}_i{}_o{}",
            self.label,
            self.params.len(),
            n,
            format_tag(self.input),
            format_tag(self.output)
        );
        if self.table != RsqrtTable::default() {
            name.push_str(&format!("_t{}", table_tag(&self.table)));
        }
        name
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let seeds = match self.check() {
            Ok(s) => s,
            Err(e) => {
                m.bad_parameter(e);
                return;
            }
        };
        let (layers, n) = (self.params.len(), self.params[0].gain.len());
        let (ib, ob) = (self.input.bits, self.output.bits);
        let layer = m.input("layer", Type::unsigned(clog2(layers).max(1)));
        let (x_valid, x) = m.stream_input("x", Stream::new(Type::signed(ib))).parts();

        // Sum of squares, storing x for the second pass.
        let buffer = m.memory("x_buffer", x.ty(), n as u32);
        let (in_index, in_last) = element_index(m, "in_index", x_valid, n);
        buffer.write(in_index, x, x_valid);
        let mut p = m.pipeline("in", x_valid, &Self::SUM_STAGES);
        let (x, last) = (p.keep("x", x), p.flag("last", in_last));
        p.stage("input");
        let x = p.at(x);
        let square = p.keep_product("square", x, x);
        p.stage("partials");
        p.stage("retimed");
        let square = p.keep("square", p.product(&square).as_unsigned().trunc(2 * ib - 1));
        p.stage("square");
        let (square, square_last) = (p.at(square), p.at(last));
        let acc_bits = sum_bits(n, ib, 0);
        let acc = m.reg("sum_sq", Type::unsigned(acc_bits)).reset(0);
        let sum = acc.q() + square;
        acc.next_when(p.valid(), sum.trunc(acc_bits));
        acc.next_when(square_last, m.lit(0, Type::unsigned(acc_bits)));
        let eps_bits = unsigned_width(self.max_eps());
        let eps_of = |p: &RmsNormParams| m.constant(Bits::from_u64(p.eps, eps_bits), false);
        let mut eps = eps_of(&self.params[0]);
        for (l, p) in self.params.iter().enumerate().skip(1) {
            if p.eps != self.params[0].eps {
                eps = layer.eq(l as i64).mux(eps_of(p), eps);
            }
        }
        let ss_bits = sum_bits(n, ib, self.max_eps());
        let ss = m
            .reg("sum_sq_eps", Type::unsigned(ss_bits))
            .enable(square_last);
        ss.next((sum + eps).trunc(ss_bits));
        p.stage("sum");
        let ss_valid = p.at(last);
        p.finish();

        let rsqrt = Rsqrt {
            width: ss_bits,
            table: self.table.clone(),
        };
        let unit = m.instance("u_rsqrt", &rsqrt);
        unit.input("v", ss.q());
        unit.input("v_valid", ss_valid);
        let scale = unit.output("scale");
        let k = unit.output("k");

        // Read x back from one cycle before the scale is ready (the RAM read takes that cycle).
        let mut start = ss_valid;
        for i in 1..Rsqrt::LATENCY {
            start = delay(m, &format!("start_d{i}"), start, true);
        }
        let reading = m.reg("reading", Type::BOOL).reset(0);
        let issue = start | reading.q();
        let (out_index, out_last) = element_index(m, "out_index", issue, n);
        reading.next(issue & !out_last);
        let gains: Vec<i64> = self
            .params
            .iter()
            .flat_map(|p| p.gain.iter().map(|&g| i64::from(g)))
            .collect();
        let gain_bits = gains.iter().map(|&g| signed_width(g)).max().unwrap_or(2);
        let gain_rom = m
            .memory("gain", Type::signed(gain_bits), (layers * n) as u32)
            .init(&gains);
        let gain_addr = if layers == 1 {
            out_index
        } else {
            (layer * n as i64 + out_index).resize(addr_width((layers * n) as u32))
        };
        let mut p = m.pipeline("out", issue, &Self::SCALE_STAGES);
        let (x, gain) = (
            p.read("x", &buffer, out_index),
            p.read("gain", &gain_rom, gain_addr),
        );
        p.stage("read");
        let (x, gain) = (p.keep("x_q", p.at(x)), p.keep("gain_q", p.at(gain)));
        p.stage("operands");
        let scale_s = scale.extend(scale.width() + 1).as_signed();
        let prod = p.keep_product("prod", p.at(x), scale_s);
        p.stage("partials");
        p.stage("retimed");
        let prod = p.keep("prod", p.product(&prod));
        // Shifted by k, rounding, to `NORM_FRAC` fractional bits; `t_bits` holds it whatever
        // the input (|x| <= sqrt(Σx² + eps)).
        p.stage("scale");
        let prod = p.at(prod);
        let shifted = shift_keeping_half(prod.extend(prod.width() + PRE) << PRE, k);
        let shifted = p.keep("shifted", shifted);
        p.stage("shift");
        let t = round_off_half(p.at(shifted));
        let t = p.keep("t", t.trunc(seeds.t_bits.min(t.width())));
        p.stage("normalise");
        let prod = p.keep_product("gain_prod", p.at(t), p.at(gain));
        p.stage("gain_partials");
        p.stage("gain_retimed");
        let prod = p.keep("gain_prod", p.product(&prod));
        p.stage("gain");
        let s2 = NORM_FRAC + GAIN_FRAC - self.output.frac;
        let y = p.keep("y", round_shift(m, p.at(prod), s2).saturate(ob));
        p.stage("round");
        m.stream_output("y", p.source(p.at(y)));
        p.finish();
    }
}

fn table_tag(t: &RsqrtTable) -> String {
    content_tag(t.entries.iter().map(|&e| i64::from(e)))
}

/// What a seed table implies for the datapath.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SeedAnalysis {
    /// Width of a table entry.
    seed_bits: u32,
    /// Width of the Newton step's result `y1` (never negative).
    scale_bits: u32,
    /// Width of a signed normalised value `t` for any input.
    t_bits: u32,
}

/// The golden Newton step `y1` for a normalised `u` and seed `y0`.
fn newton(u: i64, y0: i64) -> i64 {
    let y2 = golden_round_shift(y0 * y0, RSQRT_FRAC);
    let t = golden_round_shift(u * y2, RSQRT_FRAC);
    golden_round_shift(y0 * ((3 << RSQRT_FRAC) - t), RSQRT_FRAC + 1)
}

/// Checks a seed table and bounds the values it leads to. Entry `(odd, i)` is used for the
/// `u` in `[2^(F+odd) + i * 2^(F-I+odd), 2^(F+odd) + (i+1) * 2^(F-I+odd))`, and `y1` falls as
/// `u` rises, so its ends bound `y1`. `|x| <= sqrt(v) < sqrt((u+1) * 2^(2k-F))` bounds
/// `t = x * y1 * 2^(NORM_FRAC - F - k)` by `sqrt(u+1) * y1 * 2^(NORM_FRAC - 3F/2)`, plus a
/// half from rounding.
fn analyse(table: &RsqrtTable) -> Result<SeedAnalysis, String> {
    let per_parity = 1usize << RSQRT_INDEX_BITS;
    if table.entries.len() != 2 * per_parity {
        return Err(format!(
            "the rsqrt seed table has {} entries; it needs {}",
            table.entries.len(),
            2 * per_parity
        ));
    }
    if let Some(e) = table.entries.iter().find(|&&e| e >= 1 << 20) {
        return Err(format!(
            "the rsqrt seed entry {e} is not below 2^20; entries approximate 2^{RSQRT_FRAC} / \
             sqrt(u) for u in [1, 4)"
        ));
    }
    let mut scale_max = 0i64;
    let mut t_max = 0f64;
    for (k, &seed) in table.entries.iter().enumerate() {
        let (odd, i) = ((k / per_parity) as u32, (k % per_parity) as i64);
        let step = 1i64 << (RSQRT_FRAC - RSQRT_INDEX_BITS + odd);
        let u_lo = (1i64 << (RSQRT_FRAC + odd)) + i * step;
        let u_hi = u_lo + step - 1;
        let (y_hi, y_lo) = (newton(u_lo, seed.into()), newton(u_hi, seed.into()));
        if y_lo < 0 {
            return Err(format!(
                "the rsqrt seed entry {k} ({seed}) makes the Newton step negative for \
                 u = {u_hi} / 2^{RSQRT_FRAC}; entries approximate 2^{RSQRT_FRAC} / sqrt(u)"
            ));
        }
        scale_max = scale_max.max(y_hi);
        let bound = ((u_hi + 1) as f64).sqrt()
            * y_hi as f64
            * (f64::from(NORM_FRAC) - 1.5 * f64::from(RSQRT_FRAC)).exp2();
        t_max = t_max.max(bound);
    }
    let seed_max = table.entries.iter().copied().max().unwrap_or(0);
    Ok(SeedAnalysis {
        seed_bits: unsigned_width(seed_max.into()),
        scale_bits: unsigned_width(scale_max as u64),
        t_bits: signed_width(t_max.ceil() as i64 + 2),
    })
}

/// The golden `rsqrt` of `v` as a pipeline: `v = max(v, 1)`; stage 1 finds the leading one `p`
/// (a tree of or-reductions); stage 2 normalises `u = v * 2^(RSQRT_FRAC - e)` (`e = p` rounded
/// down to even, a barrel shift); stage 3 addresses the seed ROM with `p`'s parity and `u`'s
/// top bits; stage 4 registers the seed `y0` and its rounded square `y2`, which the ROM holds
/// beside it; stages 5 to 10 are the Newton step's two multiplies, each as partial products
/// registered twice and then their rounded sum, the last with `3 - t` registered before it.
///
/// Ports: `v` (unsigned, `width` bits), `v_valid`; `scale` (`y1`, unsigned) and `k` (`e / 2`),
/// loaded when the result of a valid `v` is ready and held until the next.
/// Latency: [`Rsqrt::LATENCY`] cycles. Throughput: one value per cycle.
#[derive(Debug, Clone, PartialEq)]
struct Rsqrt {
    /// Width of `v`, 2 to 128.
    width: u32,
    /// The seed table (checked by [`analyse`]).
    table: RsqrtTable,
}

impl Rsqrt {
    /// The pipeline's stages; the held result is loaded one cycle after the last.
    const STAGES: [&'static str; 10] = [
        "lead",
        "shifted",
        "normalise",
        "seed",
        "product_partials",
        "product_retimed",
        "product",
        "step",
        "step_partials",
        "step_retimed",
    ];
    const LATENCY: u64 = Self::STAGES.len() as u64 + 1;
}

impl Block for Rsqrt {
    fn name(&self) -> String {
        let mut name = format!("rsqrt_u{}", self.width);
        if self.table != RsqrtTable::default() {
            name.push_str(&format!("_t{}", table_tag(&self.table)));
        }
        name
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let seeds = match analyse(&self.table) {
            Ok(s) if (2..=128).contains(&self.width) => s,
            Ok(_) => {
                m.bad_parameter(format!("rsqrt takes 2 to 128 bits, not {}", self.width));
                return;
            }
            Err(e) => {
                m.bad_parameter(e);
                return;
            }
        };
        let w = self.width;
        let v = m.input("v", Type::unsigned(w));
        let v_valid = m.input("v_valid", Type::BOOL);

        let mut p = m.pipeline("rsqrt", v_valid, &Self::STAGES);
        let v = v | v.eq(0).extend(w);
        let (_, lead) = leading_one(v);
        let (v, lead) = (p.keep("v", v), p.keep("lead", lead));

        // u = v * 2^(F - e) in [2^F, 2^(F+2)), and the seed address.
        p.stage("lead");
        let lead = p.at(lead);
        let e = (lead >> 1) << 1;
        let odd = lead.bit(0);
        let zeros = m.lit(0, Type::unsigned(RSQRT_FRAC));
        let u = m
            .concat(&[p.at(v), zeros])
            .shr_by(e)
            .bits(RSQRT_FRAC + 1, 0);
        let (u, odd, k) = (p.keep("u", u), p.keep("odd", odd), p.keep("k", lead >> 1));

        // The seed table's address from the registered `u`.
        p.stage("shifted");
        let (u_q, odd) = (p.at(u), p.at(odd));
        let lo = RSQRT_FRAC - RSQRT_INDEX_BITS;
        let index = odd.mux(u_q.bits(RSQRT_FRAC, lo + 1), u_q.bits(RSQRT_FRAC - 1, lo));
        // Each entry holds the seed y0 and its rounded square y2 = y0² (a function of the
        // entry alone, so the table holds it rather than a multiplier computing it).
        let squares: Vec<i64> = (self.table.entries.iter())
            .map(|&e| golden_round_shift(i64::from(e) * i64::from(e), RSQRT_FRAC))
            .collect();
        let y2_bits = unsigned_width(squares.iter().copied().max().unwrap_or(0) as u64);
        let sb = seeds.seed_bits;
        let words: Vec<i64> = (self.table.entries.iter().zip(&squares))
            .map(|(&y0, &y2)| (y2 << sb) | i64::from(y0))
            .collect();
        let rom = m
            .memory("seed", Type::unsigned(sb + y2_bits), words.len() as u32)
            .init(&words);
        let word = p.read("seed", &rom, odd.concat(index));

        // t = u * y2, y1 = y0 * (3 - t) / 2, each rounded.
        // The entry registered as read (the ROM's output register), off the product's path.
        p.stage("normalise");
        let word = p.at(word);
        let y0 = p.keep("y0", word.bits(sb - 1, 0));
        let y2 = p.keep("y2", word.bits(sb + y2_bits - 1, sb));
        p.stage("seed");
        let t = p.keep_product("t", p.at(u), p.at(y2));
        p.stage("product_partials");
        p.stage("product_retimed");
        let t = p.keep("t", round_shift(m, p.product(&t), RSQRT_FRAC));
        p.stage("product");
        let t = p.at(t);
        let three = m.lit(3 << RSQRT_FRAC, Type::signed(RSQRT_FRAC + 3));
        let d = p.keep("d", three - t.extend(t.width() + 1).as_signed());
        p.stage("step");
        let y0 = p.at(y0);
        let y1 = p.keep_product("y1", y0.extend(y0.width() + 1).as_signed(), p.at(d));
        p.stage("step_partials");
        p.stage("step_retimed");
        let y1 = round_shift(m, p.product(&y1), RSQRT_FRAC + 1);
        // The last step loads the held result.
        let valid = p.valid();
        let k = p.at(k);
        p.finish();
        let scale = m
            .reg("scale_q", Type::unsigned(seeds.scale_bits))
            .enable(valid);
        scale.next(y1.resize(seeds.scale_bits).as_unsigned());
        let k_q = m.reg("k_q", k.ty()).enable(valid);
        k_q.next(k);
        m.output("scale", scale.q());
        m.output("k", k_q.q());
    }
}
