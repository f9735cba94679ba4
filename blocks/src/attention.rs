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
/// 2. per head `h` (kv head `h / (heads / kv_heads)`), `lanes` multipliers compute the
///    scores `attention_score(q_h, k_p, score_scale, act.bits)` for `p` in `0..=pos`, a
///    block of `lanes` elements of the head per cycle, which a [`SoftmaxPipeline`] turns into
///    probabilities;
/// 3. `lanes` more multiply-accumulates compute `weighted_sum(probs, V, kv_dim, offset,
///    head_dim, act.bits)`, a block of `lanes` output elements per `pos + 1` cycles (at
///    least `lanes`), which leave one per cycle through a shift register.
///
/// The q buffer and the caches are banked by `lanes` (element `e` in bank `e % lanes`), so a
/// block is one read of every bank. Head `h + 1`'s scores are computed while head `h`'s
/// weighted sum is, so each head costs about `(pos + 1) · head_dim / lanes` cycles plus the
/// softmax: with `n = pos + 1` and `B = head_dim / lanes` blocks, [`Attention::latency`] is
/// `rope + heads · (n·B + S + 2n + 25) + (B − 1)·max(n, lanes) + n + 6 + lanes` cycles after
/// the last input, `S` the score stages (10, or 11 with lanes to add up).
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
    /// Multiply-accumulate lanes of the score and weighted-sum loops (a power of two dividing
    /// `head_dim`; 1 for one of each): each loop reads `lanes` elements of a head per cycle
    /// from as many banks of the q buffer and the K and V caches.
    pub lanes: usize,
    /// Distinguishes the modules of different uses (a Verilog identifier part).
    pub label: String,
}

impl Attention {
    /// Cycles from the cycle carrying the last `qkv` element to the one carrying the last
    /// `att` element, at position `pos`: RoPE's latency (the first head's scores wait for its
    /// last q and k), then each head's scores and softmax, then the last weighted sum.
    pub fn latency(&self, pos: usize) -> u64 {
        let tail = MAC_STAGES.len() as u64 + self.lanes as u64;
        self.rotary().latency()
            + self.heads as u64 * self.head_period(pos)
            + self.sum_span(pos)
            + tail
    }

    /// Cycles from one head's last probability to the next's: its scores (`head_dim / lanes`
    /// issues per position), their scaling, and the softmax.
    fn head_period(&self, pos: usize) -> u64 {
        let n = pos as u64 + 1;
        let score_stages = (self.mac_stages(true).len() + SCALE_STAGES.len()) as u64;
        n * self.blocks() + score_stages + self.softmax().latency(pos + 1)
    }

    /// Cycles from a head's first weighted-sum issue to its last: `head_dim / lanes` blocks of
    /// `n = pos + 1` issues, each block but the last followed by a wait up to `lanes` cycles
    /// so the output shift register has emitted the block before it.
    fn sum_span(&self, pos: usize) -> u64 {
        let n = pos as u64 + 1;
        (self.blocks() - 1) * n.max(self.lanes as u64) + n
    }

    /// Blocks of `lanes` elements per head.
    fn blocks(&self) -> u64 {
        (self.head_dim / self.lanes.max(1)) as u64
    }

    /// The stages of a multiply-accumulate loop: [`MAC_STAGES`], with the stages of the
    /// tree summing the lanes' products ([`LANE_SUM_LEVELS`] adder levels each) when `reduce`
    /// and there is more than one lane.
    fn mac_stages(&self, reduce: bool) -> Vec<&'static str> {
        let mut stages = MAC_STAGES.to_vec();
        if reduce {
            let levels = clog2(self.lanes);
            let tree = &LANE_SUM_STAGES[..levels.div_ceil(LANE_SUM_LEVELS) as usize];
            stages.splice(
                MAC_STAGES.len() - 1..MAC_STAGES.len() - 1,
                tree.iter().copied(),
            );
        }
        stages
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
        if self.lanes == 0
            || !self.lanes.is_power_of_two()
            || !self.head_dim.is_multiple_of(self.lanes)
        {
            return Err(format!(
                "{} lanes for heads of {}: use a power of two that divides head_dim",
                self.lanes, self.head_dim
            ));
        }
        // A head's weighted sum, and its outputs' shift register, must be done when the next
        // head's starts: at a position below `lanes` the sum waits for the register.
        if let Some(pos) = (0..self.lanes.min(self.max_seq)).find(|&pos| {
            let (span, period) = (self.sum_span(pos), self.head_period(pos));
            span > period || span + self.lanes as u64 > period + pos as u64 + 1
        }) {
            return Err(format!(
                "{} lanes for heads of {}: at position {pos} a head's weighted sum would \
                 outlast the next head's scores and softmax; use fewer lanes",
                self.lanes, self.head_dim
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
        let lanes = self.lanes;
        let q_buf = Banks::new(m, "q_buf", act, qd, lanes);
        let k_cache = Banks::new(m, "k_cache", act, depth, lanes);
        let v_cache = Banks::new(m, "v_cache", act, depth, lanes);
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
        let blocks = hd / lanes;

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

        // Scores: for each position p, Σ_d q_h[d]·k_p[d], one block of `lanes` products per
        // cycle.
        // The first head's scores start once RoPE has written this step's last q and k: its
        // latency after the last input element, which follows them.
        let rope_done = (1..=self.rotary().latency())
            .fold(go, |d, i| delay(m, &format!("rope_wait{i}"), d, true));
        let s = HeadWalk::new(m, "s", self, aw, rope_done | (sm_done & more_heads));
        let (s_d, s_d_last) = element_index(m, "s_d", s.issue, blocks);
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
        let q = q_buf.read_block(s_qbase.q(), s_d);
        let k = k_cache.read_block(s_row.q(), s_d);
        let dot_bits = 2 * bits + clog2(hd);
        let pairs: Vec<_> = q.into_iter().zip(k).collect();
        let loop_ = Loop::new(s.issue, s_d.eq(0), s_d_last, s_end);
        let dot = self.mac(m, "s", loop_, &pairs, dot_bits, true);
        let score = self.scale_score(m, dot);
        sm.stream_input("x", Source::new(score.last, score.accs[0]));
        sm.input("x_last", score.end);

        // Weighted sum: for each block of `lanes` elements d, Σ_j prob_j·v_j[d], one product
        // per lane per cycle; after each block but the last, a wait (below `lanes` positions)
        // lets the output shift register emit it.
        let w = HeadWalk::new(m, "w", self, aw, sm_done);
        let (w_issue, wait_after) = if lanes > 1 {
            let ty = Type::unsigned(clog2(lanes));
            let wait = m.reg("w_wait", ty).reset(0);
            let ready = wait.q().eq(0);
            wait.next_when(!ready, wait.q().wrapping_sub(1));
            // `lanes - 1 - pos` below position `lanes - 1`, else none.
            let short = (lanes - 1) as i64;
            let pos = pos.resize(pos.width().max(ty.width));
            let left = (m.lit(short, pos.ty()) - pos).resize(ty.width);
            let load = pos.lt(short).mux(left, m.lit(0, ty));
            (w.issue & ready, Some((wait, load)))
        } else {
            (w.issue, None)
        };
        let (w_j, w_j_last) = position_counter(m, "w_j", w_issue, pos);
        let (_, w_end) = element_index(m, "w_d", w_j_last, blocks);
        if let Some((wait, load)) = wait_after {
            wait.next_when(w_j_last & !w_end, load);
        }
        w.finish(w_end);
        let w_bank = m.reg("w_bank", Type::BOOL).reset(0);
        w_bank.next_when(w_end, !w_bank.q());
        // V address: the row of j plus the kv offset plus d.
        let step = lanes as i64;
        let w_col = m.reg("w_col", Type::unsigned(aw));
        w_col.next_when(w_j_last, (w_col.q() + step).resize(aw));
        w_col.next_when(w.start, (layer_base.q() + w.offset()).resize(aw));
        let w_at = m.reg("w_at", Type::unsigned(aw));
        w_at.next_when(w_issue, (w_at.q() + kvd as i64).resize(aw));
        w_at.next_when(w_j_last, (w_col.q() + step).resize(aw));
        w_at.next_when(w.start, (layer_base.q() + w.offset()).resize(aw));
        let p = probs.read(self.bank_address(m, w_bank.q(), w_j));
        let v = v_cache.read(w_at.q());
        let sum_bits = prob_bits + bits + clog2(self.max_seq);
        let pairs: Vec<_> = v.into_iter().map(|v| (p, v)).collect();
        let loop_ = Loop::new(w_issue, w_j.eq(0), w_j_last, w_end);
        let sums = self.mac(m, "w", loop_, &pairs, sum_bits, false);
        let att = (sums.accs.iter())
            .map(|&acc| round_shift(m, acc, PROB_FRAC).saturate(bits))
            .collect();
        m.stream_output("att", serialise(m, "att", sums.last, att));
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
            p.keep_product("prod", dot.accs[0], mult),
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
            accs: vec![p.at(score)],
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

/// A multiply-accumulate loop's result: the sums, valid on the cycle `last` is high, and
/// `end` (the issue's `end` tag, delayed alike).
struct Accumulated<'a> {
    accs: Vec<Signal<'a>>,
    last: Signal<'a>,
    end: Signal<'a>,
}

/// A multiply-accumulate loop's control: operands are read on cycles with `issue`; a sum
/// starts on an issue with `first` and is complete on one with `last`; `end` tags the issue
/// that ends the head.
#[derive(Clone, Copy)]
struct Loop<'a> {
    issue: Signal<'a>,
    first: Signal<'a>,
    last: Signal<'a>,
    end: Signal<'a>,
}

impl<'a> Loop<'a> {
    fn new(issue: Signal<'a>, first: Signal<'a>, last: Signal<'a>, end: Signal<'a>) -> Self {
        Loop {
            issue,
            first,
            last,
            end,
        }
    }
}

/// The stages of a multiply-accumulate loop: the operands arrive from their memories, are
/// registered (the memories' output registers), their partial products, their product, the
/// running sum (with a stage adding the lanes' products before it, for a dot product over
/// lanes; see [`Attention::mac_stages`]).
const MAC_STAGES: [&str; 6] = [
    "operands",
    "registered",
    "partials",
    "retimed",
    "product",
    "sum",
];

/// Adder levels in each stage of the tree summing the lanes' products: two 40-odd-bit carry
/// chains fit a 100 MHz cycle on the ECP5, three do not.
const LANE_SUM_LEVELS: u32 = 2;

/// The names of the tree's stages, enough for 256 lanes.
const LANE_SUM_STAGES: [&str; 4] = ["lanes", "lanes2", "lanes3", "lanes4"];

impl Attention {
    /// `Σ a·b` over the issues from one with `first` to one with `last`, for each `(a, b)`
    /// of `pairs` (memory reads issued on cycles with `issue`, so they arrive a cycle later),
    /// or, when `reduce`, one sum of all their products: operands, partial products, product,
    /// the lanes' total and the sum each registered, so no path holds a memory read and a
    /// multiply or a multiply and an add; the sums are ready `mac_stages(reduce).len()`
    /// cycles after the last issue.
    fn mac<'a>(
        &self,
        m: &'a ModuleBuilder<'a>,
        prefix: &str,
        l: Loop<'a>,
        pairs: &[(Signal<'a>, Signal<'a>)],
        acc_bits: u32,
        reduce: bool,
    ) -> Accumulated<'a> {
        let stages = self.mac_stages(reduce);
        let mut p = m.pipeline(prefix, l.issue, &stages);
        let (first, last, end) = (
            p.flag("first", l.first),
            p.flag("last", l.last),
            p.flag("end", l.end),
        );
        // One lane keeps the names it had before there were lanes.
        let name = |n: &str, i: usize| {
            if pairs.len() == 1 {
                n.to_string()
            } else {
                format!("{n}{i}")
            }
        };
        p.stage("operands");
        let acc_ty = pairs[0].0.ty().with_width(acc_bits);
        let ops: Vec<_> = (pairs.iter().enumerate())
            .map(|(i, &(a, b))| (p.keep(&name("a", i), a), p.keep(&name("b", i), b)))
            .collect();
        p.stage("registered");
        let prods: Vec<_> = (ops.iter().enumerate())
            .map(|(i, &(a, b))| p.keep_product(&name("prod", i), p.at(a), p.at(b)))
            .collect();
        p.stage("partials");
        p.stage("retimed");
        let prods: Vec<_> = (prods.iter().enumerate())
            .map(|(i, prod)| p.keep(&name("prod", i), p.product(prod)))
            .collect();
        p.stage("product");
        // The lanes' products added in a tree, `LANE_SUM_LEVELS` levels a stage; the sums wrap
        // at the accumulator's width, so their order does not matter.
        let mut terms = prods;
        for stage in &stages[MAC_STAGES.len() - 1..stages.len() - 1] {
            let mut level: Vec<_> = terms.iter().map(|&t| p.at(t).resize(acc_bits)).collect();
            for _ in 0..LANE_SUM_LEVELS {
                level = (level.chunks(2))
                    .map(|pair| pair.iter().copied().reduce(|a, b| (a + b).resize(acc_bits)))
                    .map(|sum| sum.expect("chunks are not empty"))
                    .collect();
            }
            terms = (level.iter().enumerate())
                .map(|(i, &sum)| match level.len() {
                    1 => p.keep("lanes_sum", sum),
                    _ => p.keep(&format!("lanes_sum{i}"), sum),
                })
                .collect();
            p.stage(stage);
        }
        let accs = (terms.iter().enumerate())
            .map(|(i, &term)| {
                let acc = m.reg(&format!("{prefix}_{}", name("acc", i)), acc_ty);
                let base = p.at(first).mux(m.lit(0, acc.q().ty()), acc.q());
                acc.next_when(p.valid(), (base + p.at(term)).resize(acc_bits));
                acc.q()
            })
            .collect();
        p.stage("sum");
        let result = Accumulated {
            accs,
            last: p.at(last),
            end: p.at(end),
        };
        p.finish();
        result
    }
}

/// `values`, ready together on cycles with `load`, out one per cycle in order through a
/// shift register (the first the cycle after `load`): the stream `name`. One value is simply
/// registered. The next `load` must come at least `values.len()` cycles later.
fn serialise<'a>(
    m: &'a ModuleBuilder<'a>,
    name: &str,
    load: Signal<'a>,
    values: Vec<Signal<'a>>,
) -> Source<'a> {
    let ty = values[0].ty();
    if let [value] = values.as_slice() {
        let r = m.reg(&format!("{name}_q"), ty);
        r.next_when(load, *value);
        return Source::new(delay(m, &format!("{name}_valid_q"), load, true), r.q());
    }
    let out: Vec<Reg<'a>> = (0..values.len())
        .map(|i| m.reg(&format!("{name}_q{i}"), ty))
        .collect();
    for (i, r) in out.iter().enumerate() {
        let shifted = out.get(i + 1).map_or(r.q(), |next| next.q());
        r.next(load.mux(values[i], shifted));
    }
    let left_ty = Type::unsigned(clog2(values.len() + 1));
    let left = m.reg(&format!("{name}_left"), left_ty).reset(0);
    let emit = left.q().ne(0);
    left.next_when(emit, left.q().wrapping_sub(1));
    left.next_when(load, m.lit(values.len() as i64, left_ty));
    Source::new(emit, out[0].q())
}

/// The banks of a memory of `depth` elements read `lanes` at a time: element `e` is word
/// `e / lanes` of bank `e % lanes`. One lane is one plain memory.
struct Banks<'a> {
    banks: Vec<Memory<'a>>,
    /// Bits of an element address, of a bank's word address, and of the bank.
    addr_bits: u32,
    word_bits: u32,
    lane_bits: u32,
}

impl<'a> Banks<'a> {
    fn new(m: &'a ModuleBuilder<'a>, name: &str, ty: Type, depth: usize, lanes: usize) -> Self {
        let words = depth / lanes;
        let banks = (0..lanes)
            .map(|i| {
                let name = if lanes == 1 {
                    name.to_string()
                } else {
                    format!("{name}{i}")
                };
                m.memory(&name, ty, words as u32)
            })
            .collect();
        Banks {
            banks,
            addr_bits: clog2(depth).max(1),
            word_bits: clog2(words).max(1),
            lane_bits: clog2(lanes),
        }
    }

    /// Writes `data` at element `at` when `enable`.
    fn write(&self, at: Signal<'a>, data: Signal<'a>, enable: Signal<'a>) {
        if let [bank] = self.banks.as_slice() {
            return bank.write(at, data, enable);
        }
        let (lane, word) = self.split(at);
        for (i, bank) in self.banks.iter().enumerate() {
            bank.write(word, data, enable & lane.eq(i as i64));
        }
    }

    /// Reads block `block` after element `base` (a multiple of the lanes): elements
    /// `base + block * lanes ..`, one per bank.
    fn read_block(&self, base: Signal<'a>, block: Signal<'a>) -> Vec<Signal<'a>> {
        if let [bank] = self.banks.as_slice() {
            return vec![bank.read((base + block).resize(self.addr_bits))];
        }
        let (_, word) = self.split(base);
        let at = (word + block).resize(self.word_bits);
        self.banks.iter().map(|bank| bank.read(at)).collect()
    }

    /// Reads the `lanes` elements from element `at` (a multiple of the lanes).
    fn read(&self, at: Signal<'a>) -> Vec<Signal<'a>> {
        if let [bank] = self.banks.as_slice() {
            return vec![bank.read(at)];
        }
        let (_, word) = self.split(at);
        self.banks.iter().map(|bank| bank.read(word)).collect()
    }

    /// An element address as (bank, word in the bank).
    fn split(&self, at: Signal<'a>) -> (Signal<'a>, Signal<'a>) {
        let at = at.resize(self.addr_bits.max(self.lane_bits + 1));
        let lane = at.bits(self.lane_bits - 1, 0);
        let word = at
            .bits(at.width() - 1, self.lane_bits)
            .resize(self.word_bits);
        (lane, word)
    }
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
