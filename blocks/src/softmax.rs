//! [`SoftmaxPipeline`]: softmax over a stream of scores of varying length.

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::clog2;
use hardwire_model::fixed::softmax::{
    EXP_INDEX_BITS, LOG2E_FRAC, LOG2E_Q, PROB_FRAC, RECIP_FRAC, RECIP_INDEX_BITS,
};
use hardwire_model::fixed::{reciprocal, ExpTable, RecipTable};

use super::elementwise::{
    content_tag, delay, leading_one, round_off_half, round_shift, shift_keeping_half,
    unsigned_width,
};

/// Softmax matching `hardwire_model::fixed::softmax` bit for bit, in three passes over a
/// buffer of `max_len` words:
///
/// 1. *input*: each score is stored while a running maximum is kept;
/// 2. *exp*: each score is read back, `z = round_shift((max - s)·LOG2E_Q, LOG2E_FRAC)` picks
///    an exp-table entry (the top `EXP_INDEX_BITS` bits of its fraction) shifted right by its
///    integer part (zero from 32 on); the result `e` overwrites the score and joins the sum;
/// 3. *reciprocal* of the sum, as golden `reciprocal`: leading-one position `p`, the mantissa
///    `m` normalised to `[1, 2)`, a table seed `y0` and one Newton step `y`;
/// 4. *scale*: each `e` is read back and `round_shift(e·y, RECIP_FRAC + p - PROB_FRAC)`
///    (a variable shift) is sent out.
///
/// Ports: stream `x` (`x_valid`, `x`: signed `score_bits`, with `score_frac` fractional
/// bits) and `x_last`, high with the last score of a vector (1 to `max_len` scores) → stream
/// `y` (`y_valid`, `y`: signed [`SoftmaxPipeline::prob_bits`], `PROB_FRAC` fractional bits),
/// the same number of probabilities in the same order.
/// Latency: [`SoftmaxPipeline::latency`] `= 2·len + 25` cycles for a vector of `len` scores.
/// Throughput: one vector at a time; scores may arrive one per cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftmaxPipeline {
    /// Most scores in a vector (the buffer depth).
    pub max_len: usize,
    /// Width of a score (signed), 2 to 32.
    pub score_bits: u32,
    /// Fractional bits of a score, below `score_bits`.
    pub score_frac: u32,
    /// `2^-f` table (`2^EXP_INDEX_BITS` entries).
    pub exp: ExpTable,
    /// Reciprocal seed table (`2^RECIP_INDEX_BITS` entries, each below `2^20`).
    pub recip: RecipTable,
    /// Distinguishes the modules of different uses (a Verilog identifier part).
    pub label: String,
}

/// The mantissa `m` of the reciprocal: `RECIP_FRAC` fractional bits and the leading one.
const MANT_BITS: u32 = RECIP_FRAC + 1;

/// The scale pass shifts `e·y` right by `p + SCALE_SHIFT`; a positive constant, so the
/// shift always rounds.
const SCALE_SHIFT: u32 = RECIP_FRAC - PROB_FRAC;
const _: () = assert!(SCALE_SHIFT >= 1);

impl SoftmaxPipeline {
    /// The exp pass: the score read back, registered (off the buffer's read path), its
    /// distance below the maximum, that times log2(e) as partial products, their sum, the
    /// table read, its entry registered (off the block RAM's slow output), then the
    /// exponential.
    const EXP_STAGES: [&'static str; 8] = [
        "score",
        "difference",
        "partials",
        "retimed",
        "product",
        "index",
        "entry",
        "exp",
    ];
    /// The reciprocal of the sum: its leading one, the mantissa, the seed read and registered,
    /// `m·y0` as partial products then rounded, `2 - t`, and the Newton step's partial products
    /// then rounded.
    const RECIP_STAGES: [&'static str; 11] = [
        "lead",
        "mantissa",
        "seed",
        "registered",
        "partials",
        "retimed",
        "product",
        "difference",
        "step_partials",
        "step_retimed",
        "step",
    ];
    /// The scale pass: the exponential read back, registered, times the reciprocal (partial
    /// products, their sum), shifted, rounded.
    const SCALE_STAGES: [&'static str; 7] = [
        "read", "operand", "partials", "retimed", "product", "shift", "round",
    ];

    /// Cycles from the cycle carrying the last score of a vector of `len` scores to the one
    /// carrying its last probability, `2 len + 10`: `len` exp-pass reads from the next cycle,
    /// the exp and reciprocal stages, then `len` scale-pass reads (the first overlapping the
    /// reciprocal's last stage) and the scale stages.
    pub fn latency(&self, len: usize) -> u64 {
        let stages = |s: &[&str]| s.len() as u64;
        let len = len as u64;
        len + stages(&Self::EXP_STAGES)
            + stages(&Self::RECIP_STAGES)
            + len.saturating_sub(1)
            + stages(&Self::SCALE_STAGES)
    }

    /// Width of the (signed, non-negative) probabilities: one more than the widest
    /// reciprocal, which bounds them because `e ≤ Σe < 2^(p+1)`.
    pub fn prob_bits(&self) -> u32 {
        self.recip_bits() + 1
    }

    /// Widest reciprocal `y` over every normalised mantissa, as golden `reciprocal` computes
    /// it.
    fn recip_bits(&self) -> u32 {
        if self.recip.entries.len() != 1 << RECIP_INDEX_BITS {
            return 1;
        }
        let top = (1u64 << RECIP_FRAC..1u64 << MANT_BITS)
            .map(|m| reciprocal(m, &self.recip).0)
            .max()
            .unwrap_or(0);
        unsigned_width(top.into())
    }

    fn exp_bits(&self) -> u32 {
        unsigned_width(self.exp.entries.iter().copied().max().unwrap_or(0).into())
    }

    fn check(&self) -> Result<(), String> {
        if self.max_len == 0 || self.max_len > 1 << 24 {
            return Err(format!("max_len {} is outside 1..=2^24", self.max_len));
        }
        if !(2..=32).contains(&self.score_bits) || self.score_frac >= self.score_bits {
            return Err(format!(
                "scores of {} bits with {} fractional: use 2 to 32 bits with fewer fractional \
                 bits than that",
                self.score_bits, self.score_frac
            ));
        }
        if self.exp.entries.len() != 1 << EXP_INDEX_BITS {
            return Err(format!(
                "the exp table has {} entries; it needs 2^{EXP_INDEX_BITS}",
                self.exp.entries.len()
            ));
        }
        if self.recip.entries.len() != 1 << RECIP_INDEX_BITS {
            return Err(format!(
                "the reciprocal table has {} entries; it needs 2^{RECIP_INDEX_BITS}",
                self.recip.entries.len()
            ));
        }
        if let Some(big) = self.recip.entries.iter().find(|&&e| e >= 1 << 20) {
            return Err(format!(
                "reciprocal table entry {big} is not below 2^20 (a seed for 1/m, m in [1, 2), \
                 has {RECIP_FRAC} fractional bits)"
            ));
        }
        Ok(())
    }
}

impl Block for SoftmaxPipeline {
    fn name(&self) -> String {
        let words = self.exp.entries.iter().chain(&self.recip.entries);
        format!(
            "softmax_{}_n{}_s{}f{}_t{}",
            self.label,
            self.max_len,
            self.score_bits,
            self.score_frac,
            content_tag(words.map(|&e| i64::from(e)))
        )
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        if let Err(e) = self.check() {
            m.bad_parameter(format!("SoftmaxPipeline `{}`: {e}", self.label));
            return;
        }
        let (sb, f) = (self.score_bits, self.score_frac);
        let ew = self.exp_bits();
        let yb = self.recip_bits();
        let sum_bits = ew + clog2(self.max_len);
        let iw = clog2(self.max_len).max(1);
        let wb = sb.max(ew);
        let pw = clog2(sum_bits as usize).max(1);

        let (x_valid, x) = m.stream_input("x", Stream::new(Type::signed(sb))).parts();
        let x_last = m.input("x_last", Type::BOOL);
        let buf = m.memory("buffer", Type::unsigned(wb), self.max_len as u32);
        let exp_rom = m
            .memory("exp_rom", Type::unsigned(ew), 1 << EXP_INDEX_BITS)
            .init(&words(&self.exp.entries));
        let rb = unsigned_width(self.recip.entries.iter().copied().max().unwrap_or(0).into());
        let recip_rom = m
            .memory("recip_rom", Type::unsigned(rb), 1 << RECIP_INDEX_BITS)
            .init(&words(&self.recip.entries));

        // Input pass: store the scores, keep the maximum and the index of the last.
        let wi = m.reg("wi", Type::unsigned(iw)).reset(0);
        let n_last = m.reg("n_last", Type::unsigned(iw));
        let max = m.reg("max_q", x.ty());
        wi.next_when(
            x_valid,
            x_last.mux(m.lit(0, wi.q().ty()), wi.q().wrapping_add(1)),
        );
        max.next_when(x_valid & (wi.q().eq(0) | x.gt(max.q())), x);
        let start_exp = x_valid & x_last;
        n_last.next_when(start_exp, wi.q());

        // One reader for both later passes: `ri` walks the buffer while `reading`.
        let reading = m.reg("reading", Type::BOOL).reset(0);
        let scaling = m.reg("scaling", Type::BOOL).reset(0);
        let ri = m.reg("ri", Type::unsigned(iw)).reset(0);
        let last_issue = reading.q() & ri.q().eq(n_last.q());
        let issue_exp = reading.q() & !scaling.q();
        let issue_scale = reading.q() & scaling.q();
        let rd = buf.read(ri.q());

        // Exp pass: the score comes back, its table index and shift, then `e` replaces it and
        // joins the sum.
        let mut exp = m.pipeline("exp", issue_exp, &Self::EXP_STAGES);
        let (addr, exp_last) = (exp.keep("addr", ri.q()), exp.flag("last", last_issue));
        exp.stage("score");
        let score = exp.keep("score", rd.bits(sb - 1, 0).as_signed());
        exp.stage("difference");
        let d = exp.keep("d", (max.q() - exp.at(score)).as_unsigned().trunc(sb));
        let log2e = m.lit(LOG2E_Q, Type::unsigned(unsigned_width(LOG2E_Q as u64)));
        exp.stage("partials");
        let d_log2e = exp.keep_product("d_log2e", exp.at(d), log2e);
        exp.stage("retimed");
        exp.stage("product");
        let z = (exp.product(&d_log2e) + (1i64 << (LOG2E_FRAC - 1))) >> LOG2E_FRAC;
        let z = exp.keep("z", z);
        exp.stage("index");
        let z = exp.at(z);
        let int = z >> f;
        let idx = if f == 0 {
            m.lit(0, Type::unsigned(EXP_INDEX_BITS))
        } else if f >= EXP_INDEX_BITS {
            z.bits(f - 1, f - EXP_INDEX_BITS)
        } else {
            z.bits(f - 1, 0)
                .concat(m.lit(0, Type::unsigned(EXP_INDEX_BITS - f)))
        };
        let entry = exp.read("entry", &exp_rom, idx);
        let (big, sh) = (exp.keep("big", int.ge(32)), exp.keep("sh", int.bits(4, 0)));
        exp.stage("entry");
        let entry = exp.keep("entry_q", exp.at(entry));
        exp.stage("exp");
        let entry = exp.at(entry);
        let e = exp
            .at(big)
            .mux(m.lit(0, entry.ty()), entry.shr_by(exp.at(sh)));
        let sum = m.reg("sum", Type::unsigned(sum_bits));
        sum.next_when(exp.valid(), (sum.q() + e).trunc(sum_bits));
        sum.next_when(start_exp, m.lit(0, sum.q().ty()));
        buf.write(
            exp.valid().mux(exp.at(addr), wi.q()),
            exp.valid().mux(e.extend(wb), x.as_unsigned().extend(wb)),
            exp.valid() | x_valid,
        );
        let sum_done = exp.at(exp_last);
        exp.finish();

        // The reciprocal of the sum: the leading one `p` of the sum (1 when the sum is 0),
        // held with the result `y` until the next vector, ...
        let mut recip = m.pipeline("recip", sum_done, &Self::RECIP_STAGES);
        recip.stage("lead");
        let v = sum.q().eq(0).mux(m.lit(1, sum.q().ty()), sum.q());
        let (_, lead) = leading_one(v);
        let p = m.reg("p_q", lead.ty());
        p.next_when(recip.valid(), lead);
        let wide = sum_bits.max(MANT_BITS);
        let amount_ty = Type::unsigned(pw.max(clog2(wide as usize)) + 1);
        let amount = recip.keep("amount", m.lit((wide - 1).into(), amount_ty) - lead);
        let v = recip.keep("v", v);

        // ... the mantissa, leading one at bit RECIP_FRAC, whose next bits address the seed
        // table, ...
        recip.stage("mantissa");
        let normal = recip.at(v).extend(wide).shl_by(recip.at(amount));
        let mant = recip.keep("mant", normal.bits(wide - 1, wide - MANT_BITS));
        recip.stage("seed");
        let index = recip
            .at(mant)
            .bits(RECIP_FRAC - 1, RECIP_FRAC - RECIP_INDEX_BITS);
        let y0 = recip.read("y0", &recip_rom, index);
        recip.stage("registered");
        let y0 = recip.keep("y0_q", recip.at(y0));

        // ... t = round_shift(m·y0, RECIP_FRAC), ...
        recip.stage("partials");
        let my0 = recip.keep_product("m_y0", recip.at(mant), recip.at(y0));
        recip.stage("retimed");
        recip.stage("product");
        let t = recip.keep("t", round_shift(m, recip.product(&my0), RECIP_FRAC));
        recip.stage("difference");
        let two = m.lit(2 << RECIP_FRAC, Type::signed(RECIP_FRAC + 3));
        let t = recip.at(t);
        let d = recip.keep("d", two - t.extend(t.width() + 1).as_signed());

        // ... and y = round_shift(y0·(2 - t), RECIP_FRAC), kept to `yb` bits as golden keeps
        // it to 32.
        recip.stage("step_partials");
        let y0s = recip.at(y0).extend(rb + 1).as_signed();
        let step = recip.keep_product("step", y0s, recip.at(d));
        recip.stage("step_retimed");
        // (the scale pass starts reading here, so its first `e` meets `y`)
        let scale_start = recip.valid();
        recip.stage("step");
        let y1 = round_shift(m, recip.product(&step), RECIP_FRAC);
        let y = m.reg("y_q", Type::unsigned(yb));
        y.next_when(recip.valid(), y1.resize(yb).as_unsigned());
        recip.finish();

        reading.next_when(last_issue, m.lit(0, Type::BOOL));
        reading.next_when(start_exp | scale_start, m.lit(1, Type::BOOL));
        scaling.next_when(start_exp, m.lit(0, Type::BOOL));
        scaling.next_when(scale_start, m.lit(1, Type::BOOL));
        ri.next_when(reading.q(), ri.q().wrapping_add(1));
        ri.next_when(start_exp | scale_start, m.lit(0, ri.q().ty()));

        // Scale pass: e·y, then round_shift(e·y, p + RECIP_FRAC - PROB_FRAC), a variable shift.
        let mut scale = m.pipeline("scale", issue_scale, &Self::SCALE_STAGES);
        scale.stage("read");
        let e = scale.keep("e", rd.bits(ew - 1, 0));
        scale.stage("operand");
        // `y` copied beside the multiplier: the first `e` reaches it two cycles after `y` is
        // set, so the copy is in time, and the path from the reciprocal's rounding to the
        // multiplier block gets a register of its own.
        let y_operand = delay(m, "scale_y", y.q(), false);
        let prod = scale.keep_product("prod", scale.at(e), y_operand);
        scale.stage("partials");
        scale.stage("retimed");
        let prod = scale.keep("prod", scale.product(&prod));
        scale.stage("product");
        let shifted = shift_keeping_half(scale.at(prod), p.q() + i64::from(SCALE_SHIFT));
        let shifted = scale.keep("shifted", shifted);
        scale.stage("shift");
        let rounded = round_off_half(scale.at(shifted));
        let prob = rounded.bits(yb - 1, 0).extend(yb + 1).as_signed();
        let prob = scale.keep("prob", prob);
        scale.stage("round");
        m.stream_output("y", scale.source(scale.at(prob)));
        scale.finish();
    }
}

fn words(entries: &[u32]) -> Vec<i64> {
    entries.iter().map(|&e| i64::from(e)).collect()
}
