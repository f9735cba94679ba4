//! [`Attention`]: grouped-query attention of one decoder step, with the KV cache in RAM.

use hardwire_hdl::builder::min_width;
use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::clog2;
use hardwire_model::fixed::softmax::PROB_FRAC;
use hardwire_model::fixed::{ExpTable, Format, RecipTable, Requant, RopeTables};

use super::elementwise::{content_tag, delay, element_index, format_tag, round_shift};
use super::{RotaryEmbedding, SoftmaxPipeline};

/// The attention of one decoder step, bit-exact with the attention section of
/// `hardwire_model::fixed::FixedModel::step`:
///
/// 1. q and k pass through a [`RotaryEmbedding`] at `pos`; q goes to a buffer, k and v to the
///    KV-cache RAMs at row `layer · max_seq + pos` (`layers · max_seq · kv_dim` words each,
///    word `row · kv_dim + j`);
/// 2. per head `h` (kv head `h / (heads / kv_heads)`), one multiply-accumulate per cycle
///    computes the scores `attention_score(q_h, k_p, score_scale, act.bits)` for `p` in
///    `0..=pos`, which a [`SoftmaxPipeline`] turns into probabilities;
/// 3. a second multiply-accumulate computes `weighted_sum(probs, V, kv_dim, offset, head_dim,
///    act.bits)`, one output element per `pos + 1` cycles.
///
/// Head `h + 1`'s scores are computed while head `h`'s weighted sum is, so each head costs
/// about `(pos + 1) · head_dim` cycles plus the softmax: the whole step takes
/// [`Attention::latency`] `= heads · (n·head_dim + 2n + 35) + n·head_dim + 13` cycles after the
/// last input, `n = pos + 1`.
///
/// Ports: `layer` (unsigned, `max(1, clog2(layers))` bits), `pos` (unsigned,
/// `max(1, clog2(max_seq))` bits), held from the first input element to the last output;
/// stream `qkv` (`qkv_valid`, `qkv`: signed `act.bits`): q (`heads · head_dim`, rotation-pair
/// order per head), k (`kv_heads · head_dim`, pair order), v (`kv_heads · head_dim`, natural
/// order), before RoPE → stream `att` (`att_valid`, `att`: signed `act.bits`),
/// `heads · head_dim` elements in natural order.
/// Throughput: one step at a time; the input may arrive one element per cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Attention {
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (dividing `heads`).
    pub kv_heads: usize,
    /// Elements per head (even).
    pub head_dim: usize,
    /// Positions in the KV cache.
    pub max_seq: usize,
    /// Layers sharing the KV-cache RAMs.
    pub layers: usize,
    /// Format of q, k, v, the scores and the output.
    pub act: Format,
    /// The score scale (golden `score_requant`).
    pub score_scale: Requant,
    /// RoPE tables covering at least `max_seq` positions.
    pub rope: RopeTables,
    /// Softmax exp table.
    pub exp: ExpTable,
    /// Softmax reciprocal table.
    pub recip: RecipTable,
    /// Distinguishes the modules of different uses (a Verilog identifier part).
    pub label: String,
}

impl Attention {
    /// Cycles from the cycle carrying the last `qkv` element to the one carrying the last
    /// `att` element, at position `pos`: RoPE's latency (the first head's scores wait for its
    /// last q and k), then each head's scores and softmax, then the last weighted sum.
    pub fn latency(&self, pos: usize) -> u64 {
        let n = pos as u64 + 1;
        let issue = n * self.head_dim as u64;
        let per_head = issue + SCORE_STAGES + self.softmax().latency(pos + 1);
        self.rotary().latency() + self.heads as u64 * per_head + issue + WSUM_STAGES
    }

    /// Entries of each of the K and V caches: every layer's keys (values) at every position.
    fn kv_cache_depth(&self) -> usize {
        self.layers * self.max_seq * self.kv_dim()
    }

    /// Bits of the K and V caches together.
    pub fn kv_cache_bits(&self) -> u64 {
        2 * self.kv_cache_depth() as u64 * u64::from(self.act.bits)
    }

    /// The RoPE unit: the tables cut to `max_seq` positions.
    pub fn rotary(&self) -> RotaryEmbedding {
        let n = (self.max_seq * self.rope.half)
            .min(self.rope.cos.len())
            .min(self.rope.sin.len());
        RotaryEmbedding {
            tables: RopeTables {
                half: self.rope.half,
                max_seq: self.max_seq.min(self.rope.max_seq),
                cos: self.rope.cos[..n].to_vec(),
                sin: self.rope.sin[..n].to_vec(),
            },
            head_dim: self.head_dim,
            bits: self.act.bits,
            label: self.label.clone(),
        }
    }

    /// The softmax unit.
    pub fn softmax(&self) -> SoftmaxPipeline {
        SoftmaxPipeline {
            max_len: self.max_seq,
            score_bits: self.act.bits,
            score_frac: self.act.frac,
            exp: self.exp.clone(),
            recip: self.recip.clone(),
            label: self.label.clone(),
        }
    }

    fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim
    }

    fn check(&self) -> Result<(), String> {
        if self.heads == 0 || self.kv_heads == 0 || !self.heads.is_multiple_of(self.kv_heads) {
            return Err(format!(
                "{} query heads cannot share {} kv heads: use a positive number of kv heads \
                 that divides the query heads",
                self.heads, self.kv_heads
            ));
        }
        if self.head_dim < 2 || !self.head_dim.is_multiple_of(2) {
            return Err(format!(
                "head_dim {} is not a positive even number",
                self.head_dim
            ));
        }
        if self.max_seq == 0 || self.layers == 0 {
            return Err(format!(
                "a KV cache of {} positions and {} layers holds nothing",
                self.max_seq, self.layers
            ));
        }
        if self.rope.max_seq < self.max_seq {
            return Err(format!(
                "the RoPE tables cover {} positions but the KV cache holds {}",
                self.rope.max_seq, self.max_seq
            ));
        }
        let words = self.layers * self.max_seq * self.kv_dim();
        if words > 1 << 30 {
            return Err(format!("a KV cache of {words} words per RAM is too deep"));
        }
        if !(2..=32).contains(&self.act.bits) || self.act.frac >= self.act.bits {
            return Err(format!(
                "activations of {} bits with {} fractional: use 2 to 32 bits with fewer \
                 fractional bits than that",
                self.act.bits, self.act.frac
            ));
        }
        if self.score_scale.mult < 0 || self.score_scale.shift > 62 {
            return Err(format!(
                "score scale {:?} needs a non-negative multiplier and a shift up to 62",
                self.score_scale
            ));
        }
        Ok(())
    }
}

/// The stages that scale a dot product into a score: the partial products of dot ×
/// multiplier, their sum, and the score rounded and saturated.
const SCALE_STAGES: [&str; 4] = ["partials", "retimed", "product", "score"];
/// Cycles from a score's last multiply-accumulate issue to the softmax seeing it: the
/// [`mac`]'s stages, then the scaling's.
const SCORE_STAGES: u64 = (MAC_STAGES.len() + SCALE_STAGES.len()) as u64;
/// Cycles from an output's last weighted-sum issue to the output: the [`mac`]'s stages, then
/// the rounded output's register.
const WSUM_STAGES: u64 = MAC_STAGES.len() as u64 + 1;

impl Block for Attention {
    fn name(&self) -> String {
        let t = &self.rope;
        let tables = t.cos.iter().chain(&t.sin).map(|&v| i64::from(v));
        let softmax = self.exp.entries.iter().chain(&self.recip.entries);
        format!(
            "attention_{}_h{}kv{}_d{}_s{}_l{}_a{}_q{}r{}_t{}",
            self.label,
            self.heads,
            self.kv_heads,
            self.head_dim,
            self.max_seq,
            self.layers,
            format_tag(self.act),
            self.score_scale.mult,
            self.score_scale.shift,
            content_tag(tables.chain(softmax.map(|&e| i64::from(e))))
        )
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        if let Err(e) = self.check() {
            m.bad_parameter(format!("Attention `{}`: {e}", self.label));
            return;
        }
        let (hd, bits) = (self.head_dim, self.act.bits);
        let (qd, kvd) = (self.heads * hd, self.kv_dim());
        let softmax = self.softmax();
        let prob_bits = softmax.prob_bits();
        let depth = self.kv_cache_depth();
        let aw = clog2(depth).max(1);
        let pw = clog2(self.max_seq).max(1);

        let layer = m.input("layer", Type::unsigned(clog2(self.layers).max(1)));
        let pos = m.input("pos", Type::unsigned(pw));
        let (qkv_valid, qkv) = m
            .stream_input("qkv", Stream::new(Type::signed(bits)))
            .parts();

        let act = Type::signed(bits);
        let q_buf = m.memory("q_buf", act, qd as u32);
        let k_cache = m.memory("k_cache", act, depth as u32);
        let v_cache = m.memory("v_cache", act, depth as u32);
        // Two banks, so one head's softmax can fill one while the previous head's weighted
        // sum reads the other.
        let probs = m.memory("probs", Type::signed(prob_bits), 2 * self.max_seq as u32);

        // Cache addresses of this step's layer and row; `layer` and `pos` are steady from the
        // first element, and nothing uses these before the second.
        let layer_base = m.reg("layer_base", Type::unsigned(aw));
        layer_base.next((layer * (self.max_seq * kvd) as i64).resize(aw));
        let row_base = m.reg("row_base", Type::unsigned(aw));
        row_base.next(((layer * self.max_seq as i64 + pos) * kvd as i64).resize(aw));

        // Input: q and k through RoPE, v straight to its cache.
        let (in_idx, go) = element_index(m, "in_idx", qkv_valid, qd + 2 * kvd);
        let is_qk = in_idx.lt((qd + kvd) as i64);
        let rope = m.instance("u_rope", &self.rotary());
        rope.input("pos", pos);
        rope.stream_input("x", Source::new(qkv_valid & is_qk, qkv));
        let rope_valid = rope.output("y_valid");
        let rope_y = rope.output("y");
        let (rope_idx, _) = element_index(m, "rope_idx", rope_valid, qd + kvd);
        let rope_is_k = rope_idx.ge(qd as i64);
        let qw = clog2(qd).max(1);
        q_buf.write(rope_idx.resize(qw), rope_y, rope_valid & !rope_is_k);
        let k_at = (row_base.q() + (rope_idx - qd as i64)).resize(aw);
        k_cache.write(k_at, rope_y, rope_valid & rope_is_k);
        let v_at = (row_base.q() + (in_idx - (qd + kvd) as i64)).resize(aw);
        v_cache.write(v_at, qkv, qkv_valid & !is_qk);

        // Softmax output into the probability banks; its last one ends the head's scores.
        let sm = m.instance("u_softmax", &softmax);
        let sm_valid = sm.output("y_valid");
        let (sm_j, sm_done) = position_counter(m, "sm_j", sm_valid, pos);
        let sm_bank = m.reg("sm_bank", Type::BOOL).reset(0);
        sm_bank.next_when(sm_done, !sm_bank.q());
        probs.write(
            self.bank_address(m, sm_bank.q(), sm_j),
            sm.output("y"),
            sm_valid,
        );
        let (sm_head, _) = element_index(m, "sm_head", sm_done, self.heads);
        let more_heads = sm_head.ne((self.heads - 1) as i64);

        // Scores: for each position p, Σ_d q_h[d]·k_p[d], one product per cycle.
        // The first head's scores start once RoPE has written this step's last q and k: its
        // latency after the last input element, which follows them.
        let rope_done = (1..=self.rotary().latency())
            .fold(go, |d, i| delay(m, &format!("rope_wait{i}"), d, true));
        let s = HeadWalk::new(m, "s", self, aw, rope_done | (sm_done & more_heads));
        let (s_d, s_d_last) = element_index(m, "s_d", s.issue, hd);
        let (_, s_end) = position_counter(m, "s_p", s_d_last, pos);
        s.finish(s_end);
        // q address: this head's base plus d; k address: the row of p plus the kv offset plus d.
        let s_qbase = m.reg("s_qbase", Type::unsigned(qw)).reset(0);
        let last_base = ((self.heads - 1) * hd) as i64;
        s_qbase.next_when(
            s_end,
            s_qbase.q().eq(last_base).mux(
                m.lit(0, s_qbase.q().ty()),
                (s_qbase.q() + hd as i64).resize(qw),
            ),
        );
        let s_row = m.reg("s_row", Type::unsigned(aw));
        s_row.next_when(s_d_last, (s_row.q() + kvd as i64).resize(aw));
        s_row.next_when(s.start, (layer_base.q() + s.offset()).resize(aw));
        let q = q_buf.read((s_qbase.q() + s_d).resize(qw));
        let k = k_cache.read((s_row.q() + s_d).resize(aw));
        let dot_bits = 2 * bits + clog2(hd);
        let dot = mac(m, "s", s.issue, s_d.eq(0), s_d_last, s_end, q, k, dot_bits);
        let score = self.scale_score(m, dot);
        sm.stream_input("x", Source::new(score.last, score.acc));
        sm.input("x_last", score.end);

        // Weighted sum: for each d, Σ_j prob_j·v_j[d], one product per cycle.
        let w = HeadWalk::new(m, "w", self, aw, sm_done);
        let (w_j, w_j_last) = position_counter(m, "w_j", w.issue, pos);
        let (_, w_end) = element_index(m, "w_d", w_j_last, hd);
        w.finish(w_end);
        let w_bank = m.reg("w_bank", Type::BOOL).reset(0);
        w_bank.next_when(w_end, !w_bank.q());
        // V address: the row of j plus the kv offset plus d.
        let w_col = m.reg("w_col", Type::unsigned(aw));
        w_col.next_when(w_j_last, (w_col.q() + 1).resize(aw));
        w_col.next_when(w.start, (layer_base.q() + w.offset()).resize(aw));
        let w_at = m.reg("w_at", Type::unsigned(aw));
        w_at.next_when(w.issue, (w_at.q() + kvd as i64).resize(aw));
        w_at.next_when(w_j_last, (w_col.q() + 1).resize(aw));
        w_at.next_when(w.start, (layer_base.q() + w.offset()).resize(aw));
        let p = probs.read(self.bank_address(m, w_bank.q(), w_j));
        let v = v_cache.read(w_at.q());
        let sum_bits = prob_bits + bits + clog2(self.max_seq);
        let sum = mac(m, "w", w.issue, w_j.eq(0), w_j_last, w_end, p, v, sum_bits);
        let att = m.reg("att_q", act);
        att.next_when(sum.last, round_shift(m, sum.acc, PROB_FRAC).saturate(bits));
        m.stream_output(
            "att",
            Source::new(delay(m, "att_valid_q", sum.last, true), att.q()),
        );
    }
}

impl Attention {
    /// Address of probability `j` in bank `bank`.
    fn bank_address<'a>(
        &self,
        m: &'a ModuleBuilder<'a>,
        bank: Signal<'a>,
        j: Signal<'a>,
    ) -> Signal<'a> {
        let w = clog2(2 * self.max_seq).max(1);
        let base = bank.mux(
            m.lit(self.max_seq as i64, Type::unsigned(w)),
            m.lit(0, Type::unsigned(w)),
        );
        (base + j).resize(w)
    }

    /// `sat(round_shift(dot · mult, shift), act.bits)` (golden `Requant::apply`) through
    /// [`SCALE_STAGES`], valid as `dot.last` and tagged `dot.end`, both delayed alike.
    fn scale_score<'a>(&self, m: &'a ModuleBuilder<'a>, dot: Accumulated<'a>) -> Accumulated<'a> {
        let Requant { mult, shift } = self.score_scale;
        let mut p = m.pipeline("scale", dot.last, &SCALE_STAGES);
        let mult = m.lit(mult.into(), Type::signed(min_width(mult.into(), true)));
        let (prod, end) = (
            p.keep_product("prod", dot.acc, mult),
            p.flag("end", dot.end),
        );
        p.stage("partials");
        p.stage("retimed");
        let prod = p.keep("prod", p.product(&prod));
        p.stage("product");
        let score = round_shift(m, p.at(prod), shift).saturate(self.act.bits);
        let score = p.keep("score", score);
        p.stage("score");
        let scaled = Accumulated {
            acc: p.at(score),
            last: p.valid(),
            end: p.at(end),
        };
        p.finish();
        scaled
    }
}

/// Which head a multiply-accumulate loop is on: busy (`issue`) from the cycle after `start`
/// until the cycle given to [`HeadWalk::finish`], which also steps the kv-head offset to the
/// next head's (wrapping after the last head, ready for the next step).
struct HeadWalk<'a> {
    m: &'a ModuleBuilder<'a>,
    start: Signal<'a>,
    issue: Signal<'a>,
    busy: Reg<'a>,
    in_group: Reg<'a>,
    offset: Reg<'a>,
    group: usize,
    last_offset: usize,
    head_dim: usize,
}

impl<'a> HeadWalk<'a> {
    fn new(
        m: &'a ModuleBuilder<'a>,
        prefix: &str,
        att: &Attention,
        addr_bits: u32,
        start: Signal<'a>,
    ) -> Self {
        let busy = m.reg(&format!("{prefix}_busy"), Type::BOOL).reset(0);
        let offset = m
            .reg(&format!("{prefix}_offset"), Type::unsigned(addr_bits))
            .reset(0);
        let group = att.heads / att.kv_heads;
        let in_group = m
            .reg(
                &format!("{prefix}_in_group"),
                Type::unsigned(clog2(group).max(1)),
            )
            .reset(0);
        HeadWalk {
            m,
            start,
            issue: busy.q(),
            busy,
            in_group,
            offset,
            group,
            last_offset: (att.kv_heads - 1) * att.head_dim,
            head_dim: att.head_dim,
        }
    }

    /// The current head's offset in a cache row: its kv head times `head_dim`.
    fn offset(&self) -> Signal<'a> {
        self.offset.q()
    }

    fn finish(&self, end: Signal<'a>) {
        let m = self.m;
        self.busy.next_when(end, m.lit(0, Type::BOOL));
        self.busy.next_when(self.start, m.lit(1, Type::BOOL));
        let g = self.in_group.q();
        let group_done = g.eq((self.group - 1) as i64);
        self.in_group.next_when(
            end,
            group_done.mux(m.lit(0, g.ty()), (g + 1).resize(g.width())),
        );
        let off = self.offset.q();
        let next_off = off.eq(self.last_offset as i64).mux(
            m.lit(0, off.ty()),
            (off + self.head_dim as i64).resize(off.width()),
        );
        self.offset.next_when(end & group_done, next_off);
    }
}

/// A multiply-accumulate loop's result: the sum, valid on the cycle `last` is high, and
/// `end` (the issue's `end` tag, delayed alike).
struct Accumulated<'a> {
    acc: Signal<'a>,
    last: Signal<'a>,
    end: Signal<'a>,
}

/// The stages of [`mac`]: the operands arrive from their memories, are registered (the
/// memories' output registers), their partial products, their product, the running sum.
const MAC_STAGES: [&str; 6] = [
    "operands",
    "registered",
    "partials",
    "retimed",
    "product",
    "sum",
];

/// `Σ a·b` over the issues from one with `first` to one with `last`, where the operands are
/// memory reads issued on cycles with `issue` (so they arrive a cycle later): operands, partial
/// products, product and sum, each registered, so no path holds a memory read and a multiply
/// or a multiply and an add; the sum is ready
/// `MAC_STAGES.len()` cycles after the last issue.
#[allow(clippy::too_many_arguments)]
fn mac<'a>(
    m: &'a ModuleBuilder<'a>,
    prefix: &str,
    issue: Signal<'a>,
    first: Signal<'a>,
    last: Signal<'a>,
    end: Signal<'a>,
    a: Signal<'a>,
    b: Signal<'a>,
    acc_bits: u32,
) -> Accumulated<'a> {
    let mut p = m.pipeline(prefix, issue, &MAC_STAGES);
    let (first, last, end) = (
        p.flag("first", first),
        p.flag("last", last),
        p.flag("end", end),
    );
    p.stage("operands");
    let acc_ty = a.ty().with_width(acc_bits);
    let (a, b) = (p.keep("a", a), p.keep("b", b));
    p.stage("registered");
    let prod = p.keep_product("prod", p.at(a), p.at(b));
    p.stage("partials");
    p.stage("retimed");
    let prod = p.keep("prod", p.product(&prod));
    p.stage("product");
    let acc = m.reg(&format!("{prefix}_acc"), acc_ty);
    let base = p.at(first).mux(m.lit(0, acc.q().ty()), acc.q());
    acc.next_when(p.valid(), (base + p.at(prod)).resize(acc_bits));
    p.stage("sum");
    let result = Accumulated {
        acc: acc.q(),
        last: p.at(last),
        end: p.at(end),
    };
    p.finish();
    result
}

/// A counter over the positions `0..=pos`: the count and whether this step is the last.
fn position_counter<'a>(
    m: &'a ModuleBuilder<'a>,
    name: &str,
    step: Signal<'a>,
    pos: Signal<'a>,
) -> (Signal<'a>, Signal<'a>) {
    let c = m.reg(name, pos.ty()).reset(0);
    let last = step & c.q().eq(pos);
    c.next_when(step, (c.q() + 1).resize(pos.width()));
    c.next_when(last, m.lit(0, c.q().ty()));
    (c.q(), last)
}
