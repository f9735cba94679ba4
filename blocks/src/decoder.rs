//! [`DecoderBlock`]: one Llama decoder layer (or several, run one after another on the same
//! hardware) composed from the streaming blocks.

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::clog2;
use hardwire_model::fixed::{FixedMatrix, FixedModel, Format, PackedWeights};

use super::{Attention, FixedWeightMatVec, Replay, ResidualAdd, RmsNorm, SwiGlu, WeightStore};

/// A decoder layer: `h = x + o_proj(attention(rope(qkv(norm(x)))))`,
/// `y = h + down(swiglu(gate_up(norm(h))))`, every stage one streaming block.
///
/// The sub-blocks hold every layer's constants, chosen by the `layer` input, so the layers of a
/// model run one after another on one set of units (weights in ROMs; the KV cache holds every
/// layer). Q, K and V come out of one fused matrix (Q and K rows in rotation-pair order);
/// gate and up out of another, their rows interleaved so [`SwiGlu`] sees each pair on
/// consecutive elements.
///
/// Ports: `layer`, `pos`, stream `x` (the residual stream, `hidden` elements) → stream `y`.
/// Latency: [`DecoderBlock::latency`]`(pos)`, the sum of the stages' latencies: they form one
/// chain in which every stage finishes a fixed number of cycles after its last input.
///
/// When the matrix units have [`WeightStore::Shared`] stores (all four or none), they run on
/// a [`MatrixPool`](super::MatrixPool) outside the block, which [`LlamaCore`](super::LlamaCore)
/// also gives the LM head. The block then has no units of its own but a port to the pool: it
/// sends the running unit's input on stream `mv_x` with its job on `mv_job` (0 to 3: Q/K/V,
/// O, gate/up, down), and takes the pool's output on stream `mv_y` with `mv_y_last`. Down's
/// input is made while gate/up still holds the pool, so a [`Replay`] collects it first, which
/// adds its latency to the chain's.
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderBlock {
    /// Attention RMSNorm.
    pub attn_norm: RmsNorm,
    /// Q, K and V projections, fused.
    pub qkv: FixedWeightMatVec,
    /// RoPE, KV cache, scores, softmax, weighted sum.
    pub attention: Attention,
    /// Output projection.
    pub o_proj: FixedWeightMatVec,
    /// First residual add.
    pub residual_attn: ResidualAdd,
    /// FFN RMSNorm.
    pub ffn_norm: RmsNorm,
    /// Gate and up projections, rows interleaved.
    pub gate_up: FixedWeightMatVec,
    /// SiLU(gate) × up.
    pub swiglu: SwiGlu,
    /// Down projection.
    pub down: FixedWeightMatVec,
    /// Second residual add.
    pub residual_ffn: ResidualAdd,
}

/// Rows of several matrices with the same columns, group size and output width, as one new
/// matrix: `rows` gives each row as (index into `parts`, row of that matrix), in order; per-row
/// multipliers and shifts follow their rows. Weight widths may differ (the widest holds them
/// all); a symmetric matrix stacked with affine ones gets zero offsets.
pub(crate) fn stack_rows(
    parts: &[&FixedMatrix],
    rows: impl IntoIterator<Item = (usize, usize)>,
) -> FixedMatrix {
    let first = parts[0];
    assert!(
        parts.iter().all(|m| m.cols == first.cols
            && m.group_size == first.group_size
            && m.out_bits == first.out_bits),
        "stacked matrices share their columns, groups and output width"
    );
    let affine = parts.iter().any(|m| !m.offset_mults.is_empty());
    let groups = first.groups_per_row();
    let mut out = FixedMatrix {
        rows: 0,
        cols: first.cols,
        group_size: first.group_size,
        weight_bits: parts.iter().map(|m| m.weight_bits).max().unwrap_or(1),
        weights: PackedWeights::new(0, first.cols, &[]),
        mults: Default::default(),
        shifts: Vec::new(),
        out_bits: first.out_bits,
        offset_mults: Default::default(),
    };
    let (mut weights, mut mults, mut offset_mults) = (Vec::new(), Vec::new(), Vec::new());
    for (part, r) in rows {
        let m = parts[part];
        weights.extend_from_slice(&m.weights.row(r));
        mults.extend_from_slice(&m.mults[r * groups..(r + 1) * groups]);
        out.shifts.push(m.shifts[r]);
        if affine {
            if m.offset_mults.is_empty() {
                offset_mults.extend(std::iter::repeat_n(0, groups));
            } else {
                offset_mults.extend_from_slice(&m.offset_mults[r * groups..(r + 1) * groups]);
            }
        }
        out.rows += 1;
    }
    for m in parts {
        m.release();
    }
    out.weights = PackedWeights::new(out.rows, out.cols, &weights);
    (out.mults, out.offset_mults) = (mults.into(), offset_mults.into());
    out
}

/// A stacked copy of a streamed model's rows moved off the heap ([`FixedMatrix::spilled`]): at
/// Llama 3.1 8B size the Q/K/V and gate/up copies take 3.4 GB. A model held in memory keeps
/// its copies there, and so does a failed spill (a full temporary directory): the copy is the
/// same, only on the heap.
fn off_heap(m: FixedMatrix, streamed: bool) -> FixedMatrix {
    if streamed {
        m.spilled().unwrap_or(m)
    } else {
        m
    }
}

/// Rows of `heads` heads of `head_dim` in rotation-pair order: `0, h/2, 1, h/2 + 1, …` per head.
pub fn rotation_pair_order(heads: usize, head_dim: usize) -> Vec<usize> {
    let half = head_dim / 2;
    (0..heads)
        .flat_map(|h| (0..half).flat_map(move |i| [h * head_dim + i, h * head_dim + half + i]))
        .collect()
}

impl DecoderBlock {
    /// The decoder of `model`, all its layers on one set of units, each matrix's weights
    /// stored as `store(rows, cols)` says.
    pub fn from_model(
        model: &FixedModel,
        store: impl Fn(usize, usize) -> WeightStore,
    ) -> DecoderBlock {
        let c = &model.config;
        let n = model.numerics;
        let (act, resid, acc) = (n.act, n.resid, n.acc_bits);
        let (hd, heads, kv_heads) = (c.head_dim(), c.num_attention_heads, c.num_key_value_heads);
        let q_order = rotation_pair_order(heads, hd);
        let k_order = rotation_pair_order(kv_heads, hd);
        let inter = c.intermediate_size;
        let ls = &model.layers;
        let streamed = ls.first().is_some_and(|l| l.wq.weights.is_mapped());
        let matvec = |matrices: Vec<FixedMatrix>, input: Format, label: &str| {
            let (rows, cols) = (matrices[0].rows, matrices[0].cols);
            FixedWeightMatVec {
                matrices,
                input_bits: input.bits,
                acc_bits: acc,
                store: store(rows, cols),
                label: label.into(),
            }
        };
        let qkv = ls
            .iter()
            .map(|l| {
                let rows = q_order
                    .iter()
                    .map(|&r| (0, r))
                    .chain(k_order.iter().map(|&r| (1, r)))
                    .chain((0..kv_heads * hd).map(|r| (2, r)));
                off_heap(stack_rows(&[&l.wq, &l.wk, &l.wv], rows), streamed)
            })
            .collect();
        let gate_up = ls
            .iter()
            .map(|l| {
                let interleaved = (0..inter).flat_map(|i| [(0, i), (1, i)]);
                off_heap(stack_rows(&[&l.w_gate, &l.w_up], interleaved), streamed)
            })
            .collect();
        DecoderBlock {
            attn_norm: RmsNorm {
                params: ls.iter().map(|l| l.attn_norm.clone()).collect(),
                input: resid,
                output: act,
                table: model.rsqrt_table.clone(),
                label: "attn_norm".into(),
            },
            qkv: matvec(qkv, act, "qkv"),
            attention: Attention {
                heads,
                kv_heads,
                head_dim: hd,
                max_seq: model.rope.max_seq,
                layers: ls.len(),
                act,
                score_scale: model.score_scale,
                rope: model.rope.clone(),
                exp: model.exp_table.clone(),
                recip: model.recip_table.clone(),
                lanes: 1,
                label: "attn".into(),
            },
            o_proj: matvec(ls.iter().map(|l| l.wo.clone()).collect(), act, "o_proj"),
            residual_attn: ResidualAdd {
                n: c.hidden_size,
                format: resid,
                label: "attn".into(),
            },
            ffn_norm: RmsNorm {
                params: ls.iter().map(|l| l.ffn_norm.clone()).collect(),
                input: resid,
                output: act,
                table: model.rsqrt_table.clone(),
                label: "ffn_norm".into(),
            },
            gate_up: matvec(gate_up, act, "gate_up"),
            swiglu: SwiGlu {
                act,
                out: n.prod,
                table: model.silu_table.clone(),
            },
            down: matvec(
                ls.iter().map(|l| l.w_down.clone()).collect(),
                n.prod,
                "down",
            ),
            residual_ffn: ResidualAdd {
                n: c.hidden_size,
                format: resid,
                label: "ffn".into(),
            },
        }
    }

    /// Layers held.
    pub fn layers(&self) -> usize {
        self.attention.layers
    }

    /// Width of the `layer` input.
    pub fn layer_bits(&self) -> u32 {
        clog2(self.layers()).max(1)
    }

    /// Width of the `pos` input.
    pub fn pos_bits(&self) -> u32 {
        clog2(self.attention.max_seq).max(1)
    }

    /// Elements of the residual stream.
    pub fn hidden(&self) -> usize {
        self.residual_attn.n
    }

    /// Cycles from the last `x` element to the last `y` element at position `pos`.
    pub fn latency(&self, pos: usize) -> u64 {
        self.attn_norm.latency()
            + self.qkv.latency()
            + self.attention.latency(pos)
            + self.o_proj.latency()
            + self.residual_attn.latency()
            + self.ffn_norm.latency()
            + self.gate_up.latency()
            + self.swiglu.latency()
            + self
                .shared_lanes()
                .map_or(0, |_| self.down_replay().latency())
            + self.down.latency()
            + self.residual_ffn.latency()
    }

    /// The matrix units, named.
    pub fn matvecs(&self) -> [(&'static str, &FixedWeightMatVec); 4] {
        [
            ("qkv", &self.qkv),
            ("o_proj", &self.o_proj),
            ("gate_up", &self.gate_up),
            ("down", &self.down),
        ]
    }
}

impl Block for DecoderBlock {
    fn name(&self) -> String {
        format!(
            "decoder_{}l_{}x{}{}",
            self.layers(),
            self.hidden(),
            self.gate_up.matrices.first().map_or(0, |m| m.rows / 2),
            if self.shared_lanes().is_some() {
                "_pooled"
            } else {
                ""
            }
        )
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let units = self.matvecs();
        let shared = units.iter().filter(|(_, u)| u.store.shared()).count();
        if shared != 0 && shared != units.len() {
            m.bad_parameter(format!(
                "{shared} of the decoder's {} matrix units have shared stores: either all run \
                 on the core's pool or none does",
                units.len()
            ));
            return;
        }
        let resid = self.residual_attn.format.bits;
        let layer = m.input("layer", Type::unsigned(self.layer_bits()));
        let pos = m.input("pos", Type::unsigned(self.pos_bits()));
        let x = m.stream_input("x", Stream::new(Type::signed(resid)));
        let attn_norm = m.instance("u_attn_norm", &self.attn_norm);
        attn_norm.input("layer", layer);
        attn_norm.stream_input("x", x);
        let res_attn = m.instance("u_residual_attn", &self.residual_attn);
        res_attn.stream_input("x", x);
        let attention = m.instance("u_attention", &self.attention);
        attention.input("layer", layer);
        attention.input("pos", pos);
        let ffn_norm = m.instance("u_ffn_norm", &self.ffn_norm);
        ffn_norm.input("layer", layer);
        ffn_norm.stream_input("x", res_attn.stream_output("y"));
        let res_ffn = m.instance("u_residual_ffn", &self.residual_ffn);
        res_ffn.stream_input("x", res_attn.stream_output("y"));
        let swiglu = m.instance("u_swiglu", &self.swiglu);
        let ins = [
            attn_norm.stream_output("y"),
            attention.stream_output("att"),
            ffn_norm.stream_output("y"),
            swiglu.stream_output("y"),
        ];
        let [qkv, o_proj, gate_up, down] = if shared == 0 {
            self.own_units(m, layer, ins)
        } else {
            self.pooled_units(m, ins)
        };
        attention.stream_input("qkv", qkv);
        res_attn.stream_input("d", o_proj);
        swiglu.stream_input("x", gate_up);
        res_ffn.stream_input("d", down);
        m.stream_output("y", res_ffn.stream_output("y"));
    }
}

impl DecoderBlock {
    /// The matrix units as instances of their own: each input stream in, each output out.
    fn own_units<'a>(
        &self,
        m: &'a ModuleBuilder<'a>,
        layer: Signal<'a>,
        ins: [Source<'a>; 4],
    ) -> [Source<'a>; 4] {
        let mut outs = self
            .matvecs()
            .into_iter()
            .zip(ins)
            .map(|((name, unit), x)| {
                let i = m.instance(&format!("u_{name}"), unit);
                i.input("layer", layer);
                i.stream_input("x", x);
                i.stream_output("y")
            });
        std::array::from_fn(|_| outs.next().expect("four units"))
    }

    /// The matrix units on the core's pool: the unit that runs now is job `mv_job` (0 to 3:
    /// Q/K/V, O, gate/up, down), its input goes out on `mv_x`, and the pool's output comes
    /// back on `mv_y` and `mv_y_last`, which moves the job on. Down's input arrives while
    /// gate/up still runs, so it is collected and replayed once whole.
    fn pooled_units<'a>(&self, m: &'a ModuleBuilder<'a>, ins: [Source<'a>; 4]) -> [Source<'a>; 4] {
        let units = self.matvecs();
        let job = m.reg("job", Type::unsigned(2)).reset(0);
        let y = m.stream_input("mv_y", Stream::new(Type::signed(self.pool_out_bits())));
        let y_last = m.input("mv_y_last", Type::BOOL);
        let (y_valid, y) = y.parts();
        job.next_when(y_valid & y_last, job.q().wrapping_add(1));
        let [qkv_x, o_x, gate_up_x, down_x] = ins;
        let replay = m.instance("u_down_x", &self.down_replay());
        replay.stream_input("x", down_x);
        let ins = [qkv_x, o_x, gate_up_x, replay.stream_output("y")];
        let is = |k: usize| job.q().eq(k as i64);
        let in_ty = Type::signed(self.pool_input_bits());
        let (v0, d0) = ins[0].parts();
        let (valid, data) = (1..4).fold((v0, d0.resize(in_ty.width)), |(valid, data), k| {
            let (v, d) = ins[k].parts();
            (is(k).mux(v, valid), is(k).mux(d.resize(in_ty.width), data))
        });
        m.output("mv_job", job.q());
        m.stream_output("mv_x", Source::new(valid, data));
        std::array::from_fn(|k| Source::new(y_valid & is(k), y.resize(units[k].1.out_bits())))
    }

    /// The buffer that holds down's input until gate/up is done with the pool.
    fn down_replay(&self) -> Replay {
        Replay {
            n: self.down.matrices.first().map_or(1, |m| m.cols),
            bits: self.down.input_bits,
            label: "down_x".into(),
        }
    }

    /// The lanes of the core's pool the matrix units run on, when they do.
    pub fn shared_lanes(&self) -> Option<usize> {
        match self.qkv.store {
            WeightStore::Shared { lanes } => Some(lanes),
            _ => None,
        }
    }

    /// Width of `mv_x` (pooled units): the widest unit input.
    pub fn pool_input_bits(&self) -> u32 {
        (self.matvecs().iter())
            .map(|(_, u)| u.input_bits)
            .max()
            .unwrap_or(1)
    }

    /// Width of `mv_y` (pooled units): the widest unit output.
    pub fn pool_out_bits(&self) -> u32 {
        (self.matvecs().iter())
            .map(|(_, u)| u.out_bits())
            .max()
            .unwrap_or(1)
    }
}
