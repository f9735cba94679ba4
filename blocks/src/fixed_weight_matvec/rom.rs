//! The ROM store: output-stationary multiply-accumulate lanes fed from block-RAM ROMs.
//!
//! A free-running pipeline, one cycle per stage, in which no path holds more than one memory
//! read, multiplier or wide adder:
//! 0. *issue*: a column enters, live from `x` in pass 0 or replayed from the input buffer;
//!    its weight word's and buffer entry's addresses are registered;
//! 1. *read*: the weight word and the buffer entry are read;
//! 2. *arrive*: they come out of their block RAMs;
//! 3. *registered*: both registered (a block RAM's output is slow), then the ROM bank and the
//!    input picked;
//! 4. *operands*: the weight word and the input registered; every lane's weight × x, in
//!    logic for weights of at most [`LOGIC_LIMB_BITS`] bits, otherwise as partial products
//!    (one multiplier block each);
//! 5. *accumulate*: every lane adds its product's partials to its group accumulator; a group
//!    end starts the group-term multipliers' turns, one lane each per cycle, each turn
//!    reading its lane's group multipliers;
//! 6. *group sums*: the multipliers registered; at a group end the lanes' group sums load
//!    each term multiplier's queue, which then moves up one lane per turn;
//! 7. *term*: the partial products of the queue's head × its multiplier (and of the affine
//!    offset's term), one multiplier block each, registered beside the multipliers;
//! 8. *retimed*: registered again, beside the adders;
//! 9. *product*: the partials added up;
//! 10. *row sum*: each term multiplier's ring of row sums adds the term to the turn's row and
//!     turns; in a pass's last group, the sums load the output shift register;
//! 11. *emitted*: the output shift register's head registered, beside the shift ROM's
//!     address;
//! 12. *head*: registered again, beside its row's shift (a block RAM's output is slow);
//! 13. *shifted*: the head shifted right by its row's shift, bar one bit;
//! 14. *rounded*: then rounded (the carry of an adder), then saturated and registered as `y`.
//!
//! A lane's group term comes once per group, so lanes share the term multipliers: each
//! takes the group sums of up to as many lanes as the shortest group has columns, one per
//! cycle, and keeps their row sums in a ring that turns once per group. In a pass's last group
//! its turns yield the finished row sums in the order they leave, a cycle apart, so the
//! output shift register only spaces the multipliers' runs.

use std::ops::Range;
use std::sync::Arc;

use hardwire_hdl::bits::words_for;
use hardwire_hdl::ir::{addr_width, MemImage};
use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::{clog2, element, SplitProduct, LOGIC_LIMB_BITS};
use hardwire_model::fixed::FixedMatrix;

use super::{FixedWeightMatVec, Shape};
use crate::elementwise::{delay, round_off_half, shift_keeping_half};

/// One matrix unit the engine runs (a [`MatrixPool`](crate::MatrixPool) runs several, one
/// vector at a time): its description and its checked shape.
pub(super) struct Job<'b> {
    pub(super) unit: &'b FixedWeightMatVec,
    pub(super) shape: Shape,
}

impl Job<'_> {
    /// Its matrix at `layer` (its only one, for a job with one matrix for all layers).
    fn matrix(&self, layer: usize) -> &FixedMatrix {
        let matrices = &self.unit.matrices;
        &matrices[layer.min(matrices.len() - 1)]
    }
}

/// What the engine's schedule knows of one job.
struct JobPlan {
    rows: usize,
    cols: usize,
    groups: usize,
    passes: usize,
    /// Rows of the last pass that are real (the rest are zero padding, never emitted).
    last_rows: usize,
    /// Idle cycles before each replayed pass so the output shift register keeps up.
    wait: usize,
    out_bits: u32,
    /// Its widest weights: the width of its weight ROM's fields.
    weight_bits: u32,
    /// One matrix per layer, chosen by `layer` (otherwise one matrix whatever the layer).
    layered: bool,
}

/// Sizes and widths of the ROM datapath, shared by every job (the widest job's).
struct Plan {
    lanes: usize,
    jobs: Vec<JobPlan>,
    layers: usize,
    group_size: usize,
    weight_bits: u32,
    /// The widths of the weight ROMs: one per distinct job weight width, narrowest first, so
    /// a pool of narrow and wide units pads no unit to another's width.
    weight_widths: Vec<u32>,
    input_bits: u32,
    out_bits: u32,
    affine: bool,
    /// Group accumulator: `acc_bits`, or fewer when the exact group sum needs fewer.
    acc_w: u32,
    /// Group input sum (affine grids), likewise.
    sum_x_w: u32,
    /// Multipliers and offset multipliers, signed.
    mult_w: u32,
    offset_w: u32,
    /// Row sums: exact for any inputs.
    sum_w: u32,
    /// Shift amounts, clamped to `sum_w` (any larger shift rounds every sum to 0 as well).
    shift_w: u32,
    /// Lanes per group-term multiplier: each works through its lanes' group sums one per
    /// cycle, so it needs as many cycles as lanes between two group ends, at most the
    /// shortest group of any job.
    term_lanes: usize,
    /// Group-term multipliers: `ceil(lanes / term_lanes)`.
    term_units: usize,
}

fn signed_bits(v: i32) -> u32 {
    let v = if v < 0 { !v } else { v };
    33 - v.leading_zeros()
}

impl Plan {
    fn new(jobs: &[Job<'_>], lanes: usize) -> Plan {
        let layers = jobs.iter().map(|j| j.shape.layers).max().unwrap_or(1);
        let widest = |f: fn(&FixedMatrix) -> &[i32]| {
            (jobs.iter().flat_map(|j| &j.unit.matrices))
                .map(|m| {
                    let w = f(m).iter().map(|&v| signed_bits(v)).max();
                    m.release(); // a streamed model's pages, one matrix at a time
                    w.unwrap_or(1)
                })
                .max()
                .unwrap_or(1)
        };
        let max = |f: fn(&Job<'_>) -> u32| jobs.iter().map(f).max().unwrap_or(1);
        let (weight_bits, input_bits) = (max(|j| j.shape.weight_bits), max(|j| j.unit.input_bits));
        let affine = jobs.iter().any(|j| j.shape.affine);
        let acc_bits = jobs[0].unit.acc_bits;
        let group_size = jobs[0].shape.group_size;
        let group_log = clog2(group_size);
        let acc_w = acc_bits.min(weight_bits + input_bits + group_log);
        let sum_x_w = acc_bits.min(input_bits + group_log);
        let mult_w = widest(|m| &m.mults);
        let offset_w = if affine {
            widest(|m| &m.offset_mults)
        } else {
            0
        };
        // Each product of two signed values is at most 2^(w-2) in size, so k of them fit
        // w + clog2(k) bits.
        let term_w = (acc_w + mult_w).max(if affine { sum_x_w + offset_w } else { 0 });
        let groups = jobs.iter().map(|j| j.shape.groups).max().unwrap_or(1);
        let sum_w = term_w + clog2(groups * if affine { 2 } else { 1 });
        // Group ends are at least a group apart (a column per cycle at most), and the last
        // group of a row may be short.
        let shortest_group = (jobs.iter().map(|j| &j.shape))
            .map(|s| group_size.min(s.cols - (s.groups - 1) * group_size))
            .min()
            .unwrap_or(1);
        let term_units = lanes.div_ceil(shortest_group.clamp(1, lanes));
        let mut weight_widths: Vec<u32> = jobs.iter().map(|j| j.shape.weight_bits).collect();
        weight_widths.sort_unstable();
        weight_widths.dedup();
        let jobs = jobs
            .iter()
            .map(|j| {
                let s = &j.shape;
                let passes = s.rows.div_ceil(lanes);
                JobPlan {
                    rows: s.rows,
                    cols: s.cols,
                    groups: s.groups,
                    passes,
                    last_rows: s.rows - (passes - 1) * lanes,
                    wait: if passes > 1 {
                        lanes.saturating_sub(s.cols)
                    } else {
                        0
                    },
                    out_bits: s.out_bits,
                    weight_bits: s.weight_bits,
                    layered: s.layers == layers,
                }
            })
            .collect();
        Plan {
            lanes,
            jobs,
            layers,
            group_size,
            weight_bits,
            weight_widths,
            input_bits,
            out_bits: max(|j| j.shape.out_bits),
            affine,
            acc_w,
            sum_x_w,
            mult_w,
            offset_w,
            sum_w,
            shift_w: clog2(sum_w as usize + 1),
            term_lanes: lanes.div_ceil(term_units),
            term_units,
        }
    }

    /// `f` of every job, as `i64`s for [`per_job`].
    fn each(&self, f: impl Fn(&JobPlan) -> usize) -> Vec<i64> {
        self.jobs.iter().map(|j| f(j) as i64).collect()
    }

    /// Whether any job has `f`.
    fn any(&self, f: impl Fn(&JobPlan) -> bool) -> bool {
        self.jobs.iter().any(f)
    }

    /// The largest `f` of any job.
    fn most(&self, f: impl Fn(&JobPlan) -> usize) -> usize {
        self.jobs.iter().map(f).max().unwrap_or(0)
    }

    /// The layout of the weight ROM of `bits`-bit fields: the blocks of its jobs only.
    fn weight_layout(&self, bits: u32) -> Layout {
        Layout::new(self, |j| {
            if j.weight_bits == bits {
                j.passes * j.cols
            } else {
                0
            }
        })
    }

    /// The layout of the multiplier ROM: a word per group and group-term multiplier turn.
    fn mult_layout(&self) -> Layout {
        Layout::new(self, |j| j.passes * j.groups * self.term_lanes)
    }

    /// The multiplier ROM's word width: each term unit's multiplier and offset multiplier.
    fn mult_width(&self) -> u32 {
        self.term_units as u32 * (self.mult_w + self.offset_w)
    }

    /// The running job's weight word from the registered words of the ROMs of
    /// [`Plan::weight_widths`], every lane's field sign-extended to the widest weights.
    fn weight_word<'a>(&self, sel: &Select<'a>, words: &[Signal<'a>]) -> Signal<'a> {
        let widths = &self.weight_widths;
        if let [word] = words {
            return *word;
        }
        let bank = per_job(
            sel,
            &self.each(|j| widths.iter().position(|&b| b == j.weight_bits).unwrap_or(0)),
            Type::unsigned(clog2(widths.len())),
        );
        let field = |l: usize| {
            let last = widths.len() - 1;
            let at = |b: usize| {
                element(words[b], l as u32, Type::signed(widths[b])).resize(self.weight_bits)
            };
            (0..last)
                .rev()
                .fold(at(last), |rest, b| bank.eq(b as i64).mux(at(b), rest))
        };
        let fields: Vec<Signal<'a>> = (0..self.lanes).rev().map(field).collect();
        sel.m.concat(&fields)
    }

    /// The (job, layer) of every block of a ROM in address order: each layer's blocks of the
    /// layered jobs, then one block of each job that has one matrix for all layers.
    fn blocks(&self) -> Vec<(usize, usize)> {
        let layered = (0..self.layers).flat_map(|l| {
            (self.jobs.iter().enumerate())
                .filter(|(_, j)| j.layered)
                .map(move |(k, _)| (k, l))
        });
        let shared = (self.jobs.iter().enumerate())
            .filter(|(_, j)| !j.layered)
            .map(|(k, _)| (k, 0));
        layered.chain(shared).collect()
    }
}

/// Where each job's block starts in a ROM of `words(job)` words per block laid out as
/// [`Plan::blocks`] says: `layer * stride + offsets[job]` for a layered job, `offsets[job]`
/// for the others.
struct Layout {
    stride: usize,
    offsets: Vec<usize>,
    depth: usize,
}

impl Layout {
    fn new(p: &Plan, words: impl Fn(&JobPlan) -> usize) -> Layout {
        let mut offsets = vec![0; p.jobs.len()];
        let mut stride = 0;
        // A job with no words here (its weights are in another ROM) keeps offset 0.
        let present = |j: &JobPlan| words(j) > 0;
        for (k, j) in p
            .jobs
            .iter()
            .enumerate()
            .filter(|(_, j)| j.layered && present(j))
        {
            offsets[k] = stride;
            stride += words(j);
        }
        let mut depth = p.layers * stride;
        for (k, j) in p
            .jobs
            .iter()
            .enumerate()
            .filter(|(_, j)| !j.layered && present(j))
        {
            offsets[k] = depth;
            depth += words(j);
        }
        Layout {
            stride,
            offsets,
            depth,
        }
    }

    /// The address of word `offset` of the selected job's block. With `late`, the block's
    /// start (from `layer` and `job`) comes from a register of that name, a cycle behind
    /// them: for a read at least a cycle after a vector's first input, whose path then holds
    /// one adder instead of their multiplexers and two.
    fn address<'a>(
        &self,
        p: &Plan,
        sel: &Select<'a>,
        offset: Signal<'a>,
        late: Option<&str>,
    ) -> Signal<'a> {
        let width = addr_width(self.depth as u32);
        let m = sel.m;
        let mut start = None;
        if let (Some(layer), true) = (sel.layer, p.layers > 1) {
            let base = (layer.resize(width) * self.stride as i64).trunc(width);
            start = Some(if p.any(|j| !j.layered) {
                let layered = per_job(sel, &p.each(|j| j.layered.into()), Type::BOOL);
                layered.mux(base, m.lit(0, base.ty()))
            } else {
                base
            });
        }
        if self.offsets.iter().any(|&o| o != 0) {
            let offsets: Vec<i64> = self.offsets.iter().map(|&o| o as i64).collect();
            let offset = per_job(sel, &offsets, Type::unsigned(width));
            start = Some(start.map_or(offset, |s| (s + offset).trunc(width)));
        }
        match start {
            None => offset.resize(width),
            Some(start) => {
                let start = late.map_or(start, |name| delay(m, name, start, false));
                (start + offset.resize(width)).trunc(width)
            }
        }
    }
}

/// The engine's `layer` and `job` inputs (absent when there is one layer or one job).
struct Select<'a> {
    m: &'a ModuleBuilder<'a>,
    layer: Option<Signal<'a>>,
    job: Option<Signal<'a>>,
}

/// `values[job]` as a `ty` signal: a constant when every job has the same value, otherwise a
/// multiplexer on the `job` input (held for the whole vector).
fn per_job<'a>(sel: &Select<'a>, values: &[i64], ty: Type) -> Signal<'a> {
    let m = sel.m;
    let first = values[0];
    match sel.job {
        Some(job) if values.iter().any(|&v| v != first) => {
            let (last, rest) = values.split_last().expect("one value per job");
            (rest.iter().enumerate().rev()).fold(m.lit(*last, ty), |acc, (k, &v)| {
                job.eq(k as i64).mux(m.lit(v, ty), acc)
            })
        }
        _ => m.lit(first, ty),
    }
}

/// `counter == values[job]`, against a constant when every job has the same value.
fn is_at<'a>(sel: &Select<'a>, counter: Signal<'a>, values: &[i64]) -> Signal<'a> {
    if values.iter().all(|&v| v == values[0]) {
        counter.eq(values[0])
    } else {
        counter.eq(per_job(sel, values, counter.ty()))
    }
}

/// Fixed-width words packed from little fields, built in one flat buffer.
struct Words {
    width: u32,
    per_word: usize,
    buf: Vec<u64>,
}

impl Words {
    fn new(count: usize, width: u32) -> Words {
        let per_word = words_for(width);
        Words {
            width,
            per_word,
            buf: vec![0; count * per_word],
        }
    }

    /// Puts the low `bits` bits of `value` at bit `at` of word `word`.
    fn put(&mut self, word: usize, at: usize, bits: u32, value: i64) {
        let v = (value as u64) & (u64::MAX >> (64 - bits));
        let i = word * self.per_word + at / 64;
        let sh = at % 64;
        self.buf[i] |= v << sh;
        if sh + bits as usize > 64 {
            self.buf[i + 1] |= v >> (64 - sh);
        }
    }
}

/// Which of the two lane ROMs a [`LaneImage`] makes.
#[derive(Clone, Copy)]
enum LaneRom {
    /// Word `pass * cols + col` of a block holds lane `l`'s weight (row `pass * lanes + l`,
    /// zero past the last row) in bits `l * bits ..`, `bits` the widest matrix's: a narrower
    /// matrix's weights are sign-extended into their fields.
    Weights { bits: u32 },
    /// Word `(pass * groups + group) * turns + k` of a block holds, for each group-term
    /// multiplier `u` of `units`, the group multiplier of lane `u * turns + k` in bits
    /// `u * mult_w ..` and, for an affine grid, its offset multiplier in bits
    /// `units * mult_w + u * offset_w ..` (a symmetric matrix among affine ones keeps zeros
    /// there: no offset term).
    Mults {
        mult_w: u32,
        offset_w: u32,
        turns: usize,
        units: usize,
    },
}

/// One block of a lane ROM: a matrix and its job's geometry.
struct Placed {
    job: usize,
    matrix: FixedMatrix,
    rows: usize,
    cols: usize,
    groups: usize,
    passes: usize,
}

/// The contents of a lane ROM, made one pass (`lanes` rows) at a time from the matrices, which
/// share the model's packed weights: the design refers to them instead of holding the words.
struct LaneImage {
    blocks: Arc<Vec<Placed>>,
    rom: LaneRom,
    lanes: usize,
    /// The words of the whole ROM this image holds: all of them, or one bank's.
    window: Range<usize>,
}

impl LaneImage {
    /// The blocks of every job's matrices in [`Plan::blocks`] order.
    fn blocks(jobs: &[Job<'_>], p: &Plan) -> Arc<Vec<Placed>> {
        let placed = p.blocks().into_iter().map(|(k, layer)| {
            let j = &p.jobs[k];
            Placed {
                job: k,
                matrix: jobs[k].matrix(layer).clone(),
                rows: j.rows,
                cols: j.cols,
                groups: j.groups,
                passes: j.passes,
            }
        });
        Arc::new(placed.collect())
    }

    /// The image of words `window` of the ROM of `blocks`.
    fn shared(
        blocks: &Arc<Vec<Placed>>,
        p: &Plan,
        rom: LaneRom,
        window: Range<usize>,
    ) -> Arc<dyn MemImage> {
        Arc::new(LaneImage {
            blocks: blocks.clone(),
            rom,
            lanes: p.lanes,
            window,
        })
    }

    /// The blocks of the jobs whose weights are `bits` wide.
    fn of_width(blocks: &Arc<Vec<Placed>>, p: &Plan, bits: u32) -> Arc<Vec<Placed>> {
        if p.jobs.iter().all(|j| j.weight_bits == bits) {
            return blocks.clone();
        }
        let kept = blocks.iter().filter(|b| p.jobs[b.job].weight_bits == bits);
        Arc::new(
            kept.map(|b| Placed {
                matrix: b.matrix.clone(),
                ..*b
            })
            .collect(),
        )
    }

    /// Words per pass of a block: columns, or a multiplier's turns per group.
    fn per_pass(&self, b: &Placed) -> usize {
        match self.rom {
            LaneRom::Weights { .. } => b.cols,
            LaneRom::Mults { turns, .. } => b.groups * turns,
        }
    }

    /// The words of one pass of one block.
    fn pass(&self, b: &Placed, pass: usize) -> Words {
        let mat = &b.matrix;
        let per_pass = self.per_pass(b);
        let mut words = Words::new(per_pass, self.width());
        let rows = pass * self.lanes..((pass + 1) * self.lanes).min(b.rows);
        for (lane, r) in rows.enumerate() {
            match self.rom {
                LaneRom::Weights { bits } => {
                    for (c, &w) in mat.weights.row(r).iter().enumerate() {
                        words.put(c, lane * bits as usize, bits, w.into());
                    }
                }
                LaneRom::Mults {
                    mult_w,
                    offset_w,
                    turns,
                    units,
                } => {
                    let (unit, turn) = (lane / turns, lane % turns);
                    let at = unit * mult_w as usize;
                    let offsets_at = units * mult_w as usize;
                    for g in 0..b.groups {
                        let (i, word) = (r * b.groups + g, g * turns + turn);
                        words.put(word, at, mult_w, mat.mults[i].into());
                        if let Some(&offset) = mat.offset_mults.get(i) {
                            let at = offsets_at + unit * offset_w as usize;
                            words.put(word, at, offset_w, offset.into());
                        }
                    }
                }
            }
        }
        words
    }
}

impl MemImage for LaneImage {
    fn depth(&self) -> u32 {
        self.window.len() as u32
    }

    fn width(&self) -> u32 {
        match self.rom {
            LaneRom::Weights { bits } => self.lanes as u32 * bits,
            LaneRom::Mults {
                mult_w,
                offset_w,
                units,
                ..
            } => units as u32 * (mult_w + offset_w),
        }
    }

    fn visit(&self, f: &mut dyn FnMut(&Bits) -> bool) {
        let Range { start, end } = self.window;
        // The address of the block's or pass's first word; only the passes with words in the
        // window are made.
        let mut at = 0;
        for b in self.blocks.iter() {
            let per_pass = self.per_pass(b);
            if at >= end {
                break;
            }
            if at + b.passes * per_pass > start {
                for pass in 0..b.passes {
                    let first = at + pass * per_pass;
                    if first >= end || first + per_pass <= start {
                        continue;
                    }
                    let words = self.pass(b, pass);
                    for (i, w) in words.buf.chunks(words.per_word).enumerate() {
                        let inside = (start..end).contains(&(first + i));
                        if inside && !f(&Bits::from_words(w, words.width)) {
                            return;
                        }
                    }
                }
                b.matrix.release();
            }
            at += b.passes * per_pass;
        }
    }
}

/// A counter register of `width` bits, reset to 0: `+1` when `step`, back to 0 when `step`
/// and `wrap`. Returns its value and the value it takes on the next edge.
fn counter<'a>(
    m: &'a ModuleBuilder<'a>,
    name: &str,
    width: u32,
    step: Signal<'a>,
    wrap: Signal<'a>,
) -> (Signal<'a>, Signal<'a>) {
    let ty = Type::unsigned(width);
    let r = m.reg(name, ty).reset(0);
    let next = step.mux(wrap.mux(m.lit(0, ty), r.q().wrapping_add(1)), r.q());
    r.next(next);
    (r.q(), next)
}

/// Cycles from a pass's last input to its first output: the inputs registered, the
/// addresses registered, the memories' words, registered, the operands, the products, the
/// accumulation, the group's sums and multipliers registered, the group term's partial
/// products (registered twice), the group term, the row sum that loads the output shift
/// register, the head registered twice (beside the shift ROM's address, then beside its
/// shift), the shifted output, the rounded one and the saturated one.
pub(super) const STAGES: u64 = 16;

/// See [`FixedWeightMatVec::ROM_BANK_DEPTH`].
pub(super) const BANK_DEPTH: usize = 2048;

/// A weight ROM's read: each bank's word and, when it has several banks, the bank the
/// address chose.
struct BankedRead<'a> {
    words: Vec<Signal<'a>>,
    bank: Option<Signal<'a>>,
}

impl<'a> BankedRead<'a> {
    /// The read word as stage 4 sees it: each bank's word registered in stage 3 (the bank,
    /// from its registered address, in stages 2 and 3), then the chosen bank's picked.
    fn registered(&self, m: &'a ModuleBuilder<'a>, suffix: &str) -> Signal<'a> {
        let Some(bank) = self.bank else {
            return delay(m, &format!("read_word{suffix}"), self.words[0], false);
        };
        let bank = delayed(m, &format!("bank{suffix}"), bank, &["op", "read"]);
        let words: Vec<Signal<'a>> = (self.words.iter().enumerate())
            .map(|(k, &w)| delay(m, &format!("read_word{suffix}_b{k}"), w, false))
            .collect();
        let (last, rest) = words.split_last().expect("a bank at least");
        (rest.iter().enumerate().rev()).fold(*last, |acc, (k, &w)| bank.eq(k as i64).mux(w, acc))
    }
}

/// `d` through one register per stage in `stages`, named `<stage>_<name>`.
fn delayed<'a>(m: &'a ModuleBuilder<'a>, name: &str, d: Signal<'a>, stages: &[&str]) -> Signal<'a> {
    stages
        .iter()
        .fold(d, |d, s| delay(m, &format!("{s}_{name}"), d, false))
}

/// Builds the engine for `jobs` on `lanes` lanes. With several jobs (a pool) it has a `job`
/// input choosing the matrix unit, held from a vector's first input to its last output, and a
/// `y_last` output flagging the vector's last element.
pub(super) fn build<'a>(jobs: &[Job<'_>], lanes: usize, m: &'a ModuleBuilder<'a>) {
    let p = Plan::new(jobs, lanes);
    let in_ty = Type::signed(p.input_bits);
    // The inputs registered first: they come from far (in a core, the job select and the
    // decoder's multiplexers), so no path holds that route and the job's multiplexers.
    let layer_in = m.input("layer", Type::unsigned(clog2(p.layers).max(1)));
    let layer_in = delay(m, "in_layer", layer_in, false);
    let job = (jobs.len() > 1).then(|| {
        let job = m.input("job", Type::unsigned(clog2(jobs.len())));
        delay(m, "in_job", job, false)
    });
    let (x_valid, x) = m.stream_input("x", Stream::new(in_ty)).parts();
    let (x_valid, x) = (
        delay(m, "in_valid", x_valid, true),
        delay(m, "in_x", x, false),
    );
    let sel = Select {
        m,
        layer: (p.layers > 1).then_some(layer_in),
        job,
    };
    let one = m.lit(1, Type::BOOL);
    let many_passes = p.any(|j| j.passes > 1);

    // Stage 0: which column of which pass enters now.
    let max_cols = p.most(|j| j.cols);
    let col_w = addr_width(max_cols as u32);
    let col_reg = m.reg("col", Type::unsigned(col_w)).reset(0);
    let col = col_reg.q();
    let last_col = is_at(&sel, col, &p.each(|j| j.cols - 1));
    let (issue, replay, last_pass) = if many_passes {
        let replay = m.reg("replay", Type::BOOL).reset(0);
        let pass = m
            .reg(
                "pass",
                Type::unsigned(addr_width(p.most(|j| j.passes) as u32)),
            )
            .reset(0);
        let last_pass = is_at(&sel, pass.q(), &p.each(|j| j.passes - 1));
        let max_wait = p.most(|j| j.wait);
        let wait_ty = Type::unsigned(clog2(max_wait + 1));
        let wait = (max_wait > 0).then(|| m.reg("pass_wait", wait_ty).reset(0));
        let ready = wait.map_or(one, |w| w.q().eq(0));
        let issue = replay.q().mux(ready, x_valid);
        let pass_end = issue & last_col;
        if let Some(wait) = wait {
            wait.next_when(!ready, wait.q().wrapping_sub(1));
            let load = per_job(&sel, &p.each(|j| j.wait), wait_ty);
            wait.next_when(pass_end & !last_pass, load);
        }
        replay.next_when(pass_end, !last_pass);
        let pass_ty = pass.q().ty();
        pass.next_when(
            pass_end,
            last_pass.mux(m.lit(0, pass_ty), pass.q().wrapping_add(1)),
        );
        (issue, Some(replay.q()), last_pass)
    } else {
        (x_valid, None, one)
    };
    col_reg.next_when(issue, last_col.mux(m.lit(0, col.ty()), col.wrapping_add(1)));
    let gs = p.group_size;
    let (first_in_group, last_in_group) = if gs == 1 {
        (one, one)
    } else if p.jobs.iter().all(|j| gs >= j.cols) {
        (col.eq(0), last_col)
    } else {
        let ty = Type::unsigned(addr_width(gs as u32));
        let gcol = m.reg("group_col", ty).reset(0);
        let last = gcol.q().eq(gs as i64 - 1) | last_col;
        gcol.next_when(issue, last.mux(m.lit(0, ty), gcol.q().wrapping_add(1)));
        (gcol.q().eq(0), last)
    };
    let first_group = if p.any(|j| j.groups > 1) {
        col.lt(gs as i64)
    } else {
        one
    };
    let woff = if many_passes {
        let w = addr_width(p.most(|j| j.passes * j.cols) as u32);
        counter(m, "weight_col", w, issue, last_col & last_pass).0
    } else {
        col
    };
    // Both ROMs' images share one list of the matrices (which share the model's weights and
    // multipliers).
    let blocks = LaneImage::blocks(jobs, &p);
    // Stage 0 ends with the reads' addresses registered, so no path holds the job's and
    // layer's multiplexers, the address adders and a memory.
    let read = delay(m, "addr_valid", issue, true);
    let widths = &p.weight_widths;
    // Each weight ROM's name suffix: its width, when there are several.
    let suffix = |bits: u32| match widths.len() {
        1 => String::new(),
        _ => format!("_w{bits}"),
    };
    let reads: Vec<BankedRead<'a>> = (widths.iter())
        .map(|&bits| {
            let layout = p.weight_layout(bits);
            let image = LaneImage::of_width(&blocks, &p, bits);
            let address = layout.address(&p, &sel, woff, None);
            let address = delay(m, &format!("addr_weights{}", suffix(bits)), address, false);
            let bank = |name: String, window: Range<usize>, address: Signal<'a>| {
                let depth = window.len() as u32;
                m.memory(&name, Type::unsigned(p.lanes as u32 * bits), depth)
                    .style(MemStyle::Block)
                    .init_image(LaneImage::shared(
                        &image,
                        &p,
                        LaneRom::Weights { bits },
                        window,
                    ))
                    .read_enabled(address, read)
            };
            let name = format!("weights{}", suffix(bits));
            if layout.depth <= BANK_DEPTH {
                return BankedRead {
                    words: vec![bank(name, 0..layout.depth, address)],
                    bank: None,
                };
            }
            let words = (0..layout.depth.div_ceil(BANK_DEPTH))
                .map(|k| {
                    let start = k * BANK_DEPTH;
                    let window = start..(start + BANK_DEPTH).min(layout.depth);
                    let low = address.bits(addr_width(window.len() as u32) - 1, 0);
                    bank(format!("{name}_b{k}"), window, low)
                })
                .collect();
            let top = addr_width(layout.depth as u32) - 1;
            BankedRead {
                words,
                bank: Some(address.bits(top, addr_width(BANK_DEPTH as u32))),
            }
        })
        .collect();
    let buffered = replay.map(|replay| {
        let buffer = m
            .memory("x_buffer", in_ty, max_cols as u32)
            .style(MemStyle::Block);
        buffer.write(col, x, issue & !replay);
        buffer.read(delay(m, "addr_col", col, false))
    });
    let x_live = delay(m, "x_live", delay(m, "addr_x", x, false), false);

    // Stage 1: the reads: the weights word from its ROM, the input live or from the replay
    // buffer.
    let replay = replay.map(|replay| delay(m, "addr_replay", replay, false));

    // Stage 2: they arrive.
    let v0 = delay(m, "op_valid", read, true);
    let replay = replay.map(|replay| delay(m, "op_replay", replay, false));

    // Stage 3: the memories' words registered (a block RAM's output is slow), then the input
    // picked, live or from the replay buffer.
    let v0 = delay(m, "read_valid", v0, true);
    let words: Vec<Signal<'a>> = (reads.iter().zip(widths))
        .map(|(read, &bits)| read.registered(m, &suffix(bits)))
        .collect();
    let x_live = delay(m, "read_live", x_live, false);
    let x0 = match (buffered, replay) {
        (Some(from_buffer), Some(replay)) => {
            let replay = delay(m, "read_replay", replay, false);
            replay.mux(delay(m, "read_buffered", from_buffer, false), x_live)
        }
        _ => x_live,
    };
    // A tag of the issue as seen in stage 5.
    let tags =
        |name: &str, d: Signal<'a>| delayed(m, name, d, &["addr", "op", "read", "mac", "prod"]);

    // Stage 4: the operands registered, so no path holds a memory read and a multiply; each
    // lane multiplies its weight by the input.
    let v1 = delay(m, "mac_valid", v0, true);
    let (word, x1) = (
        delay(m, "mac_word", p.weight_word(&sel, &words), false),
        delay(m, "mac_x", x0, false),
    );
    let w_ty = Type::signed(p.weight_bits);
    // Partial products registered twice: inside the multiplier block, then beside the adder
    // that sums them, so no wire between the two sits in a multiplier's cycle.
    let retimed = |name: String, a: Signal<'a>, b: Signal<'a>| {
        SplitProduct::registered(&name, a, b)
            .map(|i, part| delay(m, &format!("{name}_q{i}"), part, false))
    };
    let products: Vec<SplitProduct<Signal<'a>>> = (0..p.lanes)
        .map(|l| {
            let w = element(word, l as u32, w_ty);
            let name = format!("prod{l}");
            // A weight narrow enough for a limb in logic ([`LOGIC_LIMB_BITS`]) is one
            // shift-add product with the whole input, rather than one per input limb: a lane
            // then needs only its group term's multiplier blocks.
            if p.weight_bits <= LOGIC_LIMB_BITS {
                SplitProduct::in_logic(w, x1)
                    .map(|i, part| delay(m, &format!("{name}_p{i}"), part, false))
            } else {
                SplitProduct::registered(&name, w, x1)
            }
        })
        .collect();

    // Stage 5: the products' partials registered, so no path holds a multiply and an add;
    // each lane adds them to its group accumulator.
    let v1 = delay(m, "prod_valid", v1, true);
    let x1 = delay(m, "prod_x", x1, false);
    let fig1 = tags("first_in_group", first_in_group);
    let lig1 = tags("last_in_group", last_in_group);
    let fg1 = tags("first_group", first_group);
    let lc1 = tags("last_col", last_col);
    let lp1 = if many_passes {
        tags("last_pass", last_pass)
    } else {
        one
    };
    let cleared = |r: Reg<'a>, first: Signal<'a>| first.mux(m.lit(0, r.q().ty()), r.q());
    let accs: Vec<Signal<'a>> = (products.iter().enumerate())
        .map(|(l, product)| {
            let acc = m.reg(&format!("acc{l}"), Type::signed(p.acc_w)).enable(v1);
            acc.next((cleared(acc, fig1) + product.sum()).trunc(p.acc_w));
            acc.q()
        })
        .collect();
    let sum_x = p.affine.then(|| {
        let sx = m.reg("sum_x", Type::signed(p.sum_x_w)).enable(v1);
        sx.next((cleared(sx, fig1) + x1).trunc(p.sum_x_w));
        sx.q()
    });
    // A group end starts the group-term multipliers' turns: each reads its lanes' group
    // multipliers one per cycle, `term_lanes` reads from the group end on.
    let group_end = v1 & lig1;
    let turns = p.term_lanes;
    let (reading, last_read) = if turns == 1 {
        (group_end, group_end)
    } else {
        let ty = Type::unsigned(clog2(turns));
        let reads = m.reg("term_reads", ty).reset(0);
        let more = reads.q().ne(0);
        reads.next(group_end.mux(
            m.lit(turns as i64 - 1, ty),
            more.mux(reads.q().wrapping_sub(1), reads.q()),
        ));
        (group_end | more, more & reads.q().eq(1))
    };
    // The group end's tags, held through its turns.
    let held = |name: &str, tag: Signal<'a>| {
        if turns == 1 {
            return tag;
        }
        let r = m.reg(name, Type::BOOL).reset(0);
        r.next_when(group_end, tag);
        group_end.mux(tag, r.q())
    };
    let matrix_end = held("turn_matrix_end", lc1 & lp1);
    let mult_layout = p.mult_layout();
    let most_words = p.most(|j| j.passes * j.groups * turns);
    // The counter's next value: the ROM's address is registered whole, so no path holds its
    // adder, the block select of a ROM deeper than one block and the route to that block.
    let next_moff = if most_words == 1 {
        m.lit(0, Type::BOOL)
    } else {
        let w = addr_width(most_words as u32);
        counter(m, "mult_word", w, reading, last_read & matrix_end).1
    };
    let mults = m
        .memory(
            "mults",
            Type::unsigned(p.mult_width()),
            mult_layout.depth as u32,
        )
        .style(MemStyle::Block)
        .init_image(LaneImage::shared(
            &blocks,
            &p,
            LaneRom::Mults {
                mult_w: p.mult_w,
                offset_w: p.offset_w,
                turns,
                units: p.term_units,
            },
            0..mult_layout.depth,
        ));
    let next_maddr = mult_layout.address(&p, &sel, next_moff, None);
    let maddr = delay(m, "mults_address", next_maddr, false);
    let mword = mults.read_enabled(maddr, reading);
    // The tags of a turn: its group is a row's first, or a pass's last.
    let first_group = held("turn_first_group", fg1);
    let last_group = held("turn_last_group", lc1);

    // Stage 6: the group sums, the input sum and the multipliers' word registered (the ROM's
    // output register), so no path holds a ROM read and a multiply. Each multiplier's lanes'
    // sums wait in a shift register, its head the sum of its lane whose turn is next.
    let s2 = delay(m, "sum_valid", reading, true);
    let g2 = delay(m, "sum_load", group_end, false);
    let mword = delay(m, "sum_mults", mword, false);
    let waiting: Vec<Signal<'a>> = (0..p.term_units)
        .map(|u| {
            let lanes = u * turns..((u + 1) * turns).min(p.lanes);
            let ty = Type::signed(p.acc_w);
            let mut next = m.lit(0, ty);
            for l in lanes.rev() {
                let r = m.reg(&format!("sum_acc{l}"), ty);
                r.next(g2.mux(accs[l], next));
                next = r.q();
            }
            next
        })
        .collect();
    let sum_x = sum_x.map(|sx| {
        let r = m.reg("sum_x_q", Type::signed(p.sum_x_w)).enable(g2);
        r.next(sx);
        r.q()
    });

    // Stages 7 and 8: the partial products (one multiplier block each) of each lane's group
    // sum times its multiplier, and of the affine offset's term, registered twice.
    let s3 = delay(m, "term_valid", s2, true);
    let s3 = delay(m, "retimed_valid", s3, true);
    let mult_ty = Type::signed(p.mult_w);
    let terms: Vec<(SplitProduct<Signal<'a>>, Option<SplitProduct<Signal<'a>>>)> =
        (waiting.iter().enumerate())
            .map(|(u, &acc)| {
                let offset = sum_x.map(|sx| {
                    let lo = p.term_units as u32 * p.mult_w + u as u32 * p.offset_w;
                    let offset = mword.bits(lo + p.offset_w - 1, lo).as_signed();
                    retimed(format!("offset{u}"), sx, offset)
                });
                let mult = element(mword, u as u32, mult_ty);
                (retimed(format!("term{u}"), acc, mult), offset)
            })
            .collect();

    // Stage 9: each lane's term, the partials added up, registered before stage 10 adds it.
    let s4 = delay(m, "product_valid", s3, true);
    let terms: Vec<Signal<'a>> = (terms.iter().enumerate())
        .map(|(u, (scaled, offset))| {
            let term = match offset {
                Some(offset) => scaled.sum() + offset.sum(),
                None => scaled.sum(),
            };
            delay(m, &format!("product{u}"), term, false)
        })
        .collect();

    // Stage 10: the row sums, in a ring per multiplier that turns once per group; in a pass's
    // last group, each multiplier's sums load the output shift register at its first lane.
    let s4 = delay(m, "row_valid", s4, true);
    // A turn's tag of stage 5 as seen in stage 10.
    let tag = |name: &str, d: Signal<'a>| {
        delayed(m, name, d, &["sum", "term", "retimed", "product", "row"])
    };
    let first_group = tag("first_group", first_group);
    let loading = s4 & tag("last_group", last_group);
    let pass_end = loading & tag("first_turn", group_end);
    let lp4 = if many_passes {
        tag("last_pass", lp1)
    } else {
        one
    };
    let sum_ty = Type::signed(p.sum_w);
    let sums: Vec<Signal<'a>> = (terms.iter().enumerate())
        .map(|(u, &term)| {
            if !p.any(|j| j.groups > 1) {
                return term.resize(p.sum_w);
            }
            let ring: Vec<Reg<'a>> = (0..turns)
                .map(|k| {
                    m.reg(&format!("row_sum{}", u * turns + k), sum_ty)
                        .enable(s4)
                })
                .collect();
            let sum = (cleared(ring[0], first_group) + term).trunc(p.sum_w);
            for k in 0..turns {
                ring[k].next(ring.get(k + 1).map_or(sum, |r| r.q()));
            }
            sum
        })
        .collect();
    // Shifts every cycle: multiplier `u`'s lane `u * term_lanes + k` loads position
    // `u * term_lanes` on its turn `k`, so it reaches the head `u * term_lanes + k` cycles
    // after the pass end, exactly when it is emitted.
    let length = (p.term_units - 1) * turns + 1;
    let out: Vec<Reg<'a>> = (0..length)
        .map(|i| m.reg(&format!("out{i}"), sum_ty))
        .collect();
    for i in 0..length {
        let next = match (out.get(i + 1), i % turns) {
            (None, _) => sums[i / turns],
            (Some(next), 0) => loading.mux(sums[i / turns], next.q()),
            (Some(next), _) => next.q(),
        };
        out[i].next(next);
    }
    let left_ty = Type::unsigned(clog2(p.lanes + 1));
    let left = m.reg("left", left_ty).reset(0);
    let emit = left.q().ne(0);
    left.next_when(emit, left.q().wrapping_sub(1));
    let full = m.lit(p.lanes as i64, left_ty);
    let last_rows = per_job(&sel, &p.each(|j| j.last_rows), left_ty);
    left.next_when(pass_end, lp4.mux(last_rows, full));

    // Output: the head registered beside the shift ROM's address, then beside its row's
    // shift; then shifted right by it but one bit, registered; then rounded (the bit left),
    // registered; then saturated to the job's width.
    let shift = row_shift(jobs, &p, &sel, emit);
    let head = delayed(m, "head", out[0].q(), &["emitted", "aligned"]);
    let head_valid = delay(m, "emitted_valid", emit, true);
    let head_valid = delay(m, "aligned_valid", head_valid, true);
    let shifted = delay(m, "shifted", shift_keeping_half(head, shift), false);
    let shifted_valid = delay(m, "shifted_valid", head_valid, true);
    let rounded = delay(m, "rounded", round_off_half(shifted), false);
    let rounded_valid = delay(m, "rounded_valid", shifted_valid, true);
    let y = (m.reg("y_q", Type::signed(p.out_bits)).reset(0)).enable(rounded_valid);
    let saturate = |k: usize| rounded.saturate(p.jobs[k].out_bits).resize(p.out_bits);
    let saturated = match sel.job {
        Some(job) if p.any(|j| j.out_bits != p.out_bits) => {
            let last = p.jobs.len() - 1;
            (0..last).rev().fold(saturate(last), |rest, k| {
                job.eq(k as i64).mux(saturate(k), rest)
            })
        }
        _ => saturate(0),
    };
    y.next(saturated);
    let y_valid = delay(m, "y_valid_q", rounded_valid, true);
    m.stream_output("y", Source::new(y_valid, y.q()));
    if jobs.len() > 1 {
        // The vector's last element: the last row of the last pass.
        let final_pass = m.reg("final_pass", Type::BOOL).reset(0);
        final_pass.next_when(pass_end, lp4);
        let last = emit & left.q().eq(1) & final_pass.q();
        let last = delay(m, "emitted_last", last, true);
        let last = delay(m, "aligned_last", last, true);
        let last = delay(m, "shifted_last", last, true);
        let last = delay(m, "rounded_last", last, true);
        m.output("y_last", delay(m, "y_last_q", last, true));
    }
}

/// Every row's shift (of every block, in address order), clamped to the row sum's width: the
/// shift ROM's contents, or `Err(shift)` when all are one shift (a constant, no ROM).
fn shift_table(jobs: &[Job<'_>], p: &Plan) -> Result<Vec<i64>, u32> {
    let all: Vec<i64> = (p.blocks().into_iter())
        .flat_map(|(k, layer)| {
            (jobs[k].matrix(layer).shifts.iter()).map(|&v| i64::from(v.min(p.sum_w)))
        })
        .collect();
    match all.first() {
        Some(&one) if all.iter().all(|&v| v == one) => Err(one as u32),
        _ => Ok(all),
    }
}

/// Bits of the ROMs [`build`] makes (weights, multipliers, and the shifts unless they are one
/// constant), computed without building them: the same plan sizes both.
pub(super) fn rom_bits(jobs: &[Job<'_>], lanes: usize) -> u64 {
    let p = Plan::new(jobs, lanes);
    let words = |depth: usize, width: u32| depth as u64 * u64::from(width);
    (p.weight_widths.iter())
        .map(|&bits| words(p.weight_layout(bits).depth, p.lanes as u32 * bits))
        .sum::<u64>()
        + words(p.mult_layout().depth, p.mult_width())
        + shift_table(jobs, &p).map_or(0, |t| words(t.len(), p.shift_w))
}

/// The shift of the row that was at the head of the output shift register two cycles ago
/// (the `aligned_head` register's): a constant when every row of every block has the same
/// one, otherwise a ROM read from a registered address, the row's after the emission,
/// registered.
fn row_shift<'a>(jobs: &[Job<'_>], p: &Plan, sel: &Select<'a>, emit: Signal<'a>) -> Signal<'a> {
    let m = sel.m;
    let all = match shift_table(jobs, p) {
        Ok(all) => all,
        Err(one) => return m.lit(one.into(), Type::unsigned(p.shift_w)),
    };
    let ty = Type::unsigned(addr_width(p.most(|j| j.rows) as u32));
    let row = m.reg("out_row", ty).reset(0);
    let wrapped =
        is_at(sel, row.q(), &p.each(|j| j.rows - 1)).mux(m.lit(0, ty), row.q().wrapping_add(1));
    let next = emit.mux(wrapped, row.q());
    row.next(next);
    let layout = Layout::new(p, |j| j.rows);
    let rom = m
        .memory("shifts", Type::unsigned(p.shift_w), layout.depth as u32)
        .style(MemStyle::Block)
        .init(&all);
    // The address registered, so no path holds the job's multiplexers, the row compare, the
    // address adder and the block RAM's address (or its range check) at once.
    let address = delay(
        m,
        "shift_address",
        layout.address(p, sel, next, Some("shifts_start")),
        false,
    );
    delay(m, "head_shift", rom.read(address), false)
}
